//! `dak bench --compare A.json B.json`: per-kernel ratios between two saved runs.

use crate::error::{Error, Result};
use std::path::Path;

/// One kernel and shape present in both runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ratio {
    /// Kernel id.
    pub kernel: String,
    /// Shape label.
    pub shape: String,
    /// Throughput in run A (GFLOP/s).
    pub gflops_a: f64,
    /// Throughput in run B (GFLOP/s).
    pub gflops_b: f64,
    /// B's throughput over A's (above 1: B is faster).
    pub ratio: f64,
    /// B is more than `threshold` slower than A.
    pub regression: bool,
}

fn rows(path: &Path) -> Result<Vec<(String, String, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}: not JSON from `dak bench --json` ({e})",
            path.display()
        ))
    })?;
    let list = value
        .get("rows")
        .and_then(|r| r.as_array())
        .ok_or_else(|| {
            Error::input(format!(
                "{}: no `rows` array; write it with `dak bench --json FILE`",
                path.display()
            ))
        })?;
    list.iter()
        // FAILED / ERROR rows (no timing) have nothing to compare.
        .filter(|r| {
            r.get("status")
                .and_then(|s| s.as_str())
                .is_none_or(|s| s == "ok")
        })
        .map(|r| {
            let field = |k: &str| r.get(k).cloned();
            match (
                field("kernel"),
                field("shape"),
                field("gflops").and_then(|g| g.as_f64()),
            ) {
                (
                    Some(serde_json::Value::String(k)),
                    Some(serde_json::Value::String(s)),
                    Some(g),
                ) => Ok((k, s, g)),
                _ => Err(Error::input(format!(
                    "{}: a row lacks kernel, shape or gflops",
                    path.display()
                ))),
            }
        })
        .collect()
}

/// Ratios for every (kernel, shape) in both files; `threshold` 0.1 flags >10% slowdowns.
pub fn compare(a: &Path, b: &Path, threshold: f64) -> Result<Vec<Ratio>> {
    let ra = rows(a)?;
    let rb = rows(b)?;
    let mut out = Vec::new();
    for (kernel, shape, ga) in &ra {
        if let Some((_, _, gb)) = rb.iter().find(|(k, s, _)| k == kernel && s == shape) {
            let ratio = if *ga > 0.0 { gb / ga } else { f64::NAN };
            out.push(Ratio {
                kernel: kernel.clone(),
                shape: shape.clone(),
                gflops_a: *ga,
                gflops_b: *gb,
                ratio,
                regression: ratio < 1.0 - threshold,
            });
        }
    }
    if out.is_empty() {
        return Err(Error::input(format!(
            "{} and {} have no kernel and shape in common",
            a.display(),
            b.display()
        )));
    }
    Ok(out)
}
