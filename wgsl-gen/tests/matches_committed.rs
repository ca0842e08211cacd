//! Every generated kernel equals the committed file under ../shaders byte for byte, and the
//! generators write exactly the committed files that carry the generator marker.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use dak_wgsl_gen::{generated, GENERATED_MARKER};

fn shaders_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shaders")
}

/// Paths (relative to shaders/, '/'-separated) of the .wgsl files under `dir`.
fn wgsl_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wgsl_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            let rel = path.strip_prefix(root).unwrap();
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
}

#[test]
fn generated_files_match_committed() {
    let root = shaders_dir();
    let mut failures = Vec::new();
    for g in generated() {
        let committed = fs::read_to_string(root.join(&g.path))
            .unwrap_or_else(|e| panic!("{}: cannot read committed file: {e}", g.path));
        if committed == g.source {
            continue;
        }
        let (mut a, mut b) = (committed.split('\n'), g.source.split('\n'));
        let mut line = 1;
        loop {
            match (a.next(), b.next()) {
                (Some(x), Some(y)) if x == y => line += 1,
                (x, y) => {
                    failures.push(format!(
                        "{} ({}: {}): first difference at line {line}\n  committed: {:?}\n  generated: {:?}",
                        g.path, g.family, g.row, x, y
                    ));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} file(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn generated_set_equals_marked_files() {
    let root = shaders_dir();
    let gens = generated();
    let paths: Vec<&str> = gens.iter().map(|g| g.path.as_str()).collect();
    let set: BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(set.len(), paths.len(), "duplicate generated paths");

    let mut files = Vec::new();
    wgsl_files(&root, &root, &mut files);
    let marked: BTreeSet<&str> = files
        .iter()
        .filter(|p| {
            fs::read_to_string(root.join(p))
                .unwrap()
                .contains(GENERATED_MARKER)
        })
        .map(|p| p.as_str())
        .collect();
    let missing: Vec<_> = marked.difference(&set).collect();
    let extra: Vec<_> = set.difference(&marked).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "marked but not generated: {missing:?}; generated but not marked: {extra:?}"
    );
    assert_eq!(set.len(), 46);
}
