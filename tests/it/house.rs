//! The house rule that no two files of `src/` need each other, directly or around a loop
//! (docs/architecture.md): a file's references to other files are read from its `use` lines
//! and its inline `crate::…` / `super::…` / `self::…` paths, resolved to the deepest module file they
//! name; a reference to an enclosing module's `mod.rs` (or `lib.rs`) is a reference to the
//! namespace, not an edge. Any strongly connected group of two or more files fails the test,
//! named with the references that tie it.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["train", "adapt", "step"]`) of every `.rs` file under `src`, and back.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            // main.rs is its own crate root; keep it apart from lib.rs.
            if rel == Path::new("main.rs") {
                parts.push("<main>".into());
            }
            out.insert(parts, p);
        }
    }
    out
}

/// Every path a file names: `use` trees (braces expanded) and inline `crate::`/`super::`/`self::`
/// paths, as absolute module paths (`self` and `super` resolved against `here`, the module
/// the file is).
fn references(text: &str, here: &[String]) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    // `use` statements (a line that starts with `use` or `pub… use`), braces expanded.
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let t = line.trim_start();
        let vis = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "];
        if let Some(v) = vis.iter().find(|v| t.starts_with(**v)) {
            let start = offset + (line.len() - t.len()) + v.len();
            let end = code[start..].find(';').map_or(code.len(), |e| start + e);
            expand(&code[start..end], &mut paths);
        }
        offset += line.len();
    }
    // Inline paths.
    let bytes = code.as_bytes();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = code[from..].find(root) {
            let start = from + k;
            from = start + root.len();
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            paths.push(code[start..end].trim_end_matches(':').to_string());
        }
    }
    paths
        .into_iter()
        .filter_map(|p| absolute(&p, here))
        .collect()
}

/// Expands a `use` tree (`a::{b, c::{d}}`) into whole paths.
fn expand(tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => out.push(tree.split(" as ").next().unwrap_or("").trim().to_string()),
        Some(open) => {
            let prefix = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let (mut depth, mut last) = (0, 0);
            let mut items = Vec::new();
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[last..i]);
                        last = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[last..]);
            for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
                let item = if item == "self" { "" } else { item };
                expand(&format!("{prefix}{item}"), out);
            }
        }
    }
}

/// `p` as an absolute module path from the crate root, or `None` for other crates.
fn absolute(p: &str, here: &[String]) -> Option<Vec<String>> {
    let mut parts = p.split("::").filter(|s| !s.is_empty());
    let mut base: Vec<String> = match parts.next()? {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => here[..here.len().checked_sub(1)?].to_vec(),
        // A plain `use name::…` in edition 2021 is another crate or a child module.
        first => {
            let mut v = here.to_vec();
            v.push(first.to_string());
            v
        }
    };
    for part in parts {
        if part == "super" {
            base.pop();
        } else {
            base.push(part.to_string());
        }
    }
    Some(base)
}

/// Edges between files: `from` names something in `to`.
fn edges(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mods = modules(src);
    let mut out: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (here, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        // `self`/`super` of a mod.rs is the folder; of `a.rs` it is `a`, whose parent is the
        // folder. Both cases: the module path `here`.
        let here: Vec<String> = here.iter().filter(|p| *p != "<main>").cloned().collect();
        for path in references(&text, &here) {
            // The deepest module file the path names.
            let target = (0..=path.len())
                .rev()
                .find_map(|n| mods.get(&path[..n]).map(|f| (n, f)));
            let Some((n, to)) = target else { continue };
            // A reference to an enclosing module (its mod.rs or lib.rs) is the namespace.
            if to == file || (n <= here.len() && path[..n] == here[..n]) {
                continue;
            }
            out.entry(file.clone()).or_default().insert(to.clone());
        }
    }
    out
}

/// Strongly connected groups of two or more files (Tarjan).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_two_files_of_src_need_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let e = edges(&src);
    let found = circles(&e);
    let show = |g: &Vec<PathBuf>| {
        let names: Vec<String> = g
            .iter()
            .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
            .collect();
        names.join(" <-> ")
    };
    assert!(
        found.is_empty(),
        "import circles among src/ files (give the shared piece a file below both):\n{}",
        found.iter().map(show).collect::<Vec<_>>().join("\n")
    );
    // The reader sees the edges it should: a sample of known imports.
    let has = |from: &str, to: &str| {
        e.get(&src.join(from))
            .is_some_and(|s| s.contains(&src.join(to)))
    };
    assert!(has("train/adapt/step.rs", "train/adapt/accumulators.rs"));
    assert!(has("data/folder.rs", "data/dataset.rs"));
    assert!(has("ops/conv2d/texture.rs", "ops/conv2d/pack.rs"));
}

/// The kernel generator (a crate of its own, `wgsl-gen/`) is held to the same rule.
#[test]
fn no_two_files_of_the_kernel_generator_need_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("wgsl-gen/src");
    let e = edges(&src);
    let found = circles(&e);
    assert!(
        found.is_empty(),
        "import circles in wgsl-gen/src: {found:?}"
    );
    let has = |from: &str, to: &str| {
        e.get(&src.join(from))
            .is_some_and(|s| s.contains(&src.join(to)))
    };
    assert!(
        has("conv2d_tex.rs", "conv2d_tex_fwd.rs"),
        "the reader sees its imports"
    );
}

#[test]
fn the_circle_check_finds_a_circle() {
    // A made-up crate: a.rs uses b (a `use` group), b.rs calls back into a inline; c.rs uses
    // its parent's namespace only.
    let dir = std::env::temp_dir().join(format!("dak-house-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("m")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod m;\n").unwrap();
    std::fs::write(
        src.join("m/mod.rs"),
        "mod a;\nmod b;\nmod c;\npub use a::A;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("m/a.rs"),
        "use super::{b::{self, B}, c};\npub struct A;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("m/b.rs"),
        "pub struct B;\nfn f() { let _ = crate::m::a::A; }\n",
    )
    .unwrap();
    std::fs::write(src.join("m/c.rs"), "use super::A; // the namespace\n").unwrap();
    let found = circles(&edges(&src));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(found.len(), 1, "{found:?}");
    let names: Vec<String> = found[0]
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.rs", "b.rs"]);
}

/// The layers of docs/architecture.md, top first; files of one layer may use the layers below.
const LAYERS: &[&[&str]] = &[
    &["cli", "main.rs"],
    &["bench"],
    &["train", "export"],
    &["models"],
    &["data"],
    &["nn", "optim"],
    &["autograd"],
    &["ops", "kernels"],
    &["tensor.rs"],
    &["gpu"],
];

#[test]
fn no_file_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = |p: &Path| {
        let top = p
            .strip_prefix(&src)
            .ok()?
            .iter()
            .next()?
            .to_string_lossy()
            .into_owned();
        LAYERS.iter().position(|l| l.contains(&top.as_str()))
    };
    let mut upward = Vec::new();
    for (from, tos) in edges(&src) {
        for to in tos {
            if let (Some(a), Some(b)) = (rank(&from), rank(&to)) {
                if b < a {
                    upward.push(format!(
                        "{} -> {}",
                        from.strip_prefix(&src).unwrap().display(),
                        to.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "files using a layer above their own:\n{}",
        upward.join("\n")
    );
}

/// Every file under `dir` (recursively) with one of `extensions`.
fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The engine (ops, tape, GPU, kernels and their generator) names no adaptation method: an op
/// is named after what it computes, so a new method adds a loss module, not engine files.
#[test]
fn the_engine_names_no_method() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let methods: Vec<String> = dak::train::adapt::Method::names()
        .iter()
        .flat_map(|n| n.split('+'))
        .map(str::to_lowercase)
        .chain(["shot", "tent"].map(String::from))
        .collect();
    let engine = [
        "src/ops",
        "src/autograd",
        "src/gpu",
        "shaders",
        "wgsl-gen/src",
    ];
    let mut found = Vec::new();
    for dir in engine {
        for p in files_under(&root.join(dir), &["rs", "wgsl"]) {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let text = std::fs::read_to_string(&p).unwrap().to_lowercase();
            let words: BTreeSet<&str> = text
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .chain(rel.split(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
                .collect();
            for m in methods.iter().filter(|m| m.as_str() != "source-only") {
                if words.contains(m.as_str()) {
                    found.push(format!("{rel}: `{m}`"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "engine files naming a method (name the op after what it computes):\n{}",
        found.join("\n")
    );
}

/// Inside the crate, names come from the module that defines them (`crate::error::Result`,
/// `crate::tensor::Tensor`), never through `lib.rs`'s re-exports, which are for users: a file
/// reaching up to the crate root for them ties every layer to the top of the house.
#[test]
fn src_imports_names_from_their_modules_not_the_crate_root() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexported = ["Error", "Result", "Tensor", "DType", "Gpu"];
    let mut found = Vec::new();
    for p in files_under(&src, &["rs"]) {
        let rel = p.strip_prefix(&src).unwrap().display().to_string();
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let root_items = code
                .split("crate::{")
                .skip(1)
                .flat_map(|g| g.split('}').next().unwrap_or("").split(','))
                .map(str::trim)
                .chain(code.split("crate::").skip(1).map(|r| {
                    r.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap_or("")
                }));
            if let Some(name) = root_items.into_iter().find(|n| reexported.contains(n)) {
                found.push(format!("src/{rel}:{}: crate::{name}", i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "names taken from the crate root (use the defining module):\n{}",
        found.join("\n")
    );
}
