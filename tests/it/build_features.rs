//! `cargo run --release --example NAME` must reuse the crates `cargo build --release` built:
//! cargo unifies features over dev-dependencies for examples and tests, so a dev-dependency
//! that turns on a feature of a shared crate (tract-onnx: `bytes/std`, `num-traits/i128`)
//! rebuilds that crate and everything above it (~70 crates). Cargo.toml pins those features in
//! the normal dependencies; this test fails when a dependency change adds another.
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Features of every crate in the graph over `edges` (`name version` -> features).
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--prefix", "none", "-e", edges])
        .args(["-f", "{p} {f}", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 2 || words[1].starts_with('(') {
            continue;
        }
        let set = map.entry(format!("{} {}", words[0], words[1])).or_default();
        for w in &words[2..] {
            if !w.starts_with('(') {
                set.extend(w.split(',').filter(|f| !f.is_empty()).map(String::from));
            }
        }
    }
    map
}

#[test]
fn dev_dependencies_add_no_feature_to_a_crate_of_the_release_build() {
    let release = features("normal,build");
    let with_dev = features("normal,build,dev");
    assert!(release.contains_key(&format!("dak v{}", env!("CARGO_PKG_VERSION"))));
    let mut changed = Vec::new();
    for (krate, feats) in &release {
        if let Some(dev) = with_dev.get(krate) {
            if dev != feats {
                let added: Vec<&String> = dev.difference(feats).collect();
                changed.push(format!("{krate}: {added:?}"));
            }
        }
    }
    assert!(
        changed.is_empty(),
        "dev-dependencies turn on features of release crates, so examples rebuild them; pin \
         these in Cargo.toml's [dependencies]: {changed:?}"
    );
}
