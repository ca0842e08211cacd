//! The built-in shader set: every hand-written `.wgsl` under `shaders/` plus the kernels
//! `wgsl-gen` generates (unrolled register-blocked families, one table row each), written to
//! `OUT_DIR/shaders/` and listed in `OUT_DIR/builtin_shaders.rs`, which `src/gpu/shaders.rs`
//! includes. One list, made from the tree and the generator's tables: nothing to keep by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let shaders = root.join("shaders");
    println!("cargo:rerun-if-changed=shaders");
    // path relative to shaders/ -> file to include
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    collect(&shaders, &shaders, &mut files);
    // generated path -> the registry ids that launch it
    let mut launched_by = String::from(
        "/// Every generated shader file with the registry ids that launch it (from wgsl-gen's\n\
         /// tables; made by build.rs).\n\
         pub const GENERATED: &[(&str, &[&str])] = &[\n",
    );
    for g in dak_wgsl_gen::generated() {
        launched_by += &format!("    ({:?}, &{:?}),\n", g.path, g.kernels);
        let path = out.join("shaders").join(&g.path);
        if let Some(hand) = files.get(&g.path) {
            panic!(
                "shaders/{} is hand-written but wgsl-gen also generates it ({} {}); delete one",
                g.path,
                g.family,
                hand.display()
            );
        }
        std::fs::create_dir_all(path.parent().expect("a file in a folder")).expect("OUT_DIR");
        // Rewrite only on change, so an unchanged kernel does not rebuild the crate.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(g.source.as_str()) {
            std::fs::write(&path, &g.source).expect("write a generated shader to OUT_DIR");
        }
        files.insert(g.path, path);
    }
    let mut list = String::from(
        "/// Every built-in shader file, relative to `shaders/`, with its source (hand-written\n\
         /// files from `shaders/`, generated ones from `wgsl-gen`; made by build.rs).\n\
         pub const BUILTIN: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &files {
        list += &format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        );
    }
    list += "];\n";
    list += &launched_by;
    list += "];\n";
    std::fs::write(out.join("builtin_shaders.rs"), list).expect("write builtin_shaders.rs");
}

/// Every `.wgsl` file under `dir`, by its path relative to `root` ('/'-separated).
fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable shaders/ tree").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            let rel: Vec<String> = path
                .strip_prefix(root)
                .expect("under root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.insert(rel.join("/"), path);
        }
    }
}
