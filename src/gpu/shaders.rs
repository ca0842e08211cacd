//! WGSL sources: compiled into the binary from `shaders/`, or read at run time from
//! `DAK_SHADER_DIR` (same relative file names) so kernels can be edited without a rebuild.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::path::PathBuf;

// `BUILTIN` and `GENERATED`: made by build.rs from the shader tree and the generator's tables.
include!(concat!(env!("OUT_DIR"), "/builtin_shaders.rs"));

/// Directory that overrides the built-in shaders, if the user set one.
pub fn override_dir() -> Option<PathBuf> {
    std::env::var_os("DAK_SHADER_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The override directory (if one is set) and the built-in files it replaces, sorted. A
/// `.wgsl` file there that matches no built-in shader is an error: a misspelt name would
/// otherwise leave the built-in shader in use and a check of it "pass".
pub fn overrides() -> Result<Option<(PathBuf, Vec<String>)>> {
    let Some(dir) = override_dir() else {
        return Ok(None);
    };
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "DAK_SHADER_DIR {}: not a directory; point it at a copy of shaders/ or unset it",
            dir.display()
        )));
    }
    let mut found = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                let rel = path.strip_prefix(&dir).unwrap_or(&path);
                let name: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect();
                found.push(name.join("/"));
            }
        }
    }
    found.sort();
    if let Some(bad) = found.iter().find(|f| !BUILTIN.iter().any(|(b, _)| b == f)) {
        return Err(Error::input(format!(
            "shader override {}: `{bad}` matches no built-in shader (misspelt?); use the names `dak kernels list` shows, e.g. matmul/naive.wgsl",
            dir.display()
        )));
    }
    Ok(Some((dir, found)))
}

/// The generated shader files that kernel `id` launches (from the generator's tables).
pub fn generated_for(id: &str) -> impl Iterator<Item = &'static str> + '_ {
    GENERATED
        .iter()
        .filter(move |(_, ids)| ids.contains(&id))
        .map(|(path, _)| *path)
}

/// Source of shader `file` (e.g. `"matmul/naive.wgsl"`).
pub fn source(file: &str) -> Result<Cow<'static, str>> {
    if let Some(dir) = override_dir() {
        let path = dir.join(file);
        if path.exists() {
            return std::fs::read_to_string(&path)
                .map(Cow::Owned)
                .map_err(|e| Error::io(&path, e));
        }
    }
    BUILTIN
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, src)| Cow::Borrowed(*src))
        .ok_or_else(|| Error::runtime(format!("unknown shader file `{file}` (not built in)")))
}
