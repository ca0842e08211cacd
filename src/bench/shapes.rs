//! `--shapes`: a named set (`tiny`, `vgg16-32`, `vgg16-224`, `digits`, `default`, ...) or a
//! JSON file of shapes for any of the ops:
//!
//! ```json
//! {
//!   "matmul": [{"label": "fc", "m": 32, "n": 100, "k": 768, "trans_a": false, "trans_b": true}],
//!   "conv2d": [{"label": "c1", "n": 8, "ci": 3, "hw": 32, "co": 64, "k": 3, "stride": 1, "pad": 1}],
//!   "pool":   [{"label": "p1", "n": 8, "c": 64, "hw": 32, "k": 2, "stride": 2}]
//! }
//! ```
//!
//! (`"k": 0` in `pool` means global average pooling.) An op absent from the file has no cases.

use super::{batch_norm, conv2d, matmul, pool};
use crate::error::{Error, Result};
use std::path::Path;

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    matmul: Vec<MatmulShape>,
    #[serde(default)]
    conv2d: Vec<ConvShape>,
    #[serde(default)]
    pool: Vec<PoolShape>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MatmulShape {
    label: Option<String>,
    m: usize,
    n: usize,
    k: usize,
    #[serde(default)]
    trans_a: bool,
    #[serde(default)]
    trans_b: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvShape {
    label: Option<String>,
    n: usize,
    ci: usize,
    hw: usize,
    co: usize,
    k: usize,
    #[serde(default = "one")]
    stride: usize,
    #[serde(default)]
    pad: usize,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolShape {
    label: Option<String>,
    n: usize,
    c: usize,
    hw: usize,
    k: usize,
    #[serde(default)]
    stride: usize,
}

fn one() -> usize {
    1
}

/// Whether `--shapes` names a file rather than a built-in set.
pub fn is_file(name: &str) -> bool {
    name.ends_with(".json") || Path::new(name).is_file()
}

fn load(path: &str) -> Result<File> {
    let p = Path::new(path);
    let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{path}: not a shapes file ({e}); expected {{\"matmul\": [...], \"conv2d\": [...], \"pool\": [...]}}"
        ))
    })
}

/// Case labels live as long as the process (the built-in sets are `'static` too).
fn label(l: Option<String>, fallback: String) -> &'static str {
    Box::leak(l.unwrap_or(fallback).into_boxed_str())
}

fn unknown(name: &str, op: &str, sets: &str) -> Error {
    Error::input(format!(
        "--shapes {name}: unknown for {op}; use {sets} or a FILE.json"
    ))
}

/// GEMM cases of `--shapes name`, at `batch` when given.
pub fn matmul(name: &str, batch: Option<usize>) -> Result<Vec<matmul::Case>> {
    let cases = if is_file(name) {
        load(name)?
            .matmul
            .into_iter()
            .map(|s| matmul::Case {
                label: label(s.label, format!("{}x{}x{}", s.m, s.n, s.k)),
                gemm: crate::ops::matmul::Gemm {
                    m: s.m,
                    n: s.n,
                    k: s.k,
                    trans_a: s.trans_a,
                    trans_b: s.trans_b,
                    relu: false,
                },
                batch: matmul::Batch::None,
            })
            .collect()
    } else {
        matmul::cases(name).ok_or_else(|| unknown(name, "matmul", matmul::SHAPE_SETS))?
    };
    Ok(match batch {
        Some(b) => cases.into_iter().map(|c| c.with_batch(b)).collect(),
        None => cases,
    })
}

/// Convolution cases of `--shapes name`, at `batch` when given.
pub fn conv2d(name: &str, batch: Option<usize>) -> Result<Vec<conv2d::Case>> {
    let cases = if is_file(name) {
        load(name)?
            .conv2d
            .into_iter()
            .map(|s| conv2d::Case {
                label: label(
                    s.label,
                    format!("{}x{}x{}x{} -> {}", s.n, s.ci, s.hw, s.hw, s.co),
                ),
                n: s.n,
                ci: s.ci,
                hw: s.hw,
                co: s.co,
                k: s.k,
                stride: s.stride,
                pad: s.pad,
            })
            .collect()
    } else {
        conv2d::cases(name).ok_or_else(|| unknown(name, "conv2d", conv2d::SHAPE_SETS))?
    };
    Ok(match batch {
        Some(b) => cases.into_iter().map(|c| c.with_batch(b)).collect(),
        None => cases,
    })
}

/// Pooling cases of `--shapes name`, at `batch` when given.
pub fn pool(name: &str, batch: Option<usize>) -> Result<Vec<pool::Case>> {
    let cases = if is_file(name) {
        load(name)?
            .pool
            .into_iter()
            .map(|s| pool::Case {
                label: label(s.label, format!("{}x{}x{}x{}", s.n, s.c, s.hw, s.hw)),
                n: s.n,
                c: s.c,
                hw: s.hw,
                k: s.k,
                stride: if s.stride == 0 { s.k } else { s.stride },
            })
            .collect()
    } else {
        pool::cases(name).ok_or_else(|| unknown(name, "pool", pool::SHAPE_SETS))?
    };
    Ok(match batch {
        Some(b) => cases.into_iter().map(|c| c.with_batch(b)).collect(),
        None => cases,
    })
}

/// The batch-norm cases of a named set (`dak bench batch_norm`), at `batch` when given.
pub fn batch_norm(name: &str, batch: Option<usize>) -> Result<Vec<batch_norm::Case>> {
    let cases = batch_norm::cases(name).ok_or_else(|| {
        Error::input(format!(
            "--shapes {name}: unknown for batch_norm; use {}",
            batch_norm::SHAPE_SETS
        ))
    })?;
    Ok(match batch {
        Some(b) => cases.into_iter().map(|c| c.with_batch(b)).collect(),
        None => cases,
    })
}
