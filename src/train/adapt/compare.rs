//! Several methods side by side: the list `--compare` names, the label-free pick among the runs
//! (`--select` across methods), and the comparison record of the metrics file.
//!
//! The pick reads each run's selected epoch's label-free score (computed on target *training*
//! images without labels); target-test accuracy is only reported.

use super::{Method, Select};
use crate::train::RunSummary;
use crate::{Error, Result};

/// The methods of a `--compare LIST` (comma-separated), each once, source-only first: it is
/// always a candidate, so a pair where adaptation hurts can end on the baseline.
pub fn parse_list(list: &str) -> Result<Vec<Method>> {
    let mut methods = vec![Method::SOURCE_ONLY];
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(Error::input(format!(
                "--compare `{list}`: empty method name; give a comma-separated list of: {}",
                Method::names().join(", ")
            )));
        }
        let m = Method::parse(name, "--compare")?;
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    Ok(methods)
}

/// Index of the run `select` picks: the highest score of a run's selected epoch; with `last`
/// (no label-free criterion), the last run. Ties keep the earlier run.
pub fn pick(runs: &[RunSummary], select: Select) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in runs.iter().enumerate() {
        if let Some(s) = select.score(&r.selected) {
            if best.is_none_or(|b| s > b.1) {
                best = Some((i, s));
            }
        }
    }
    best.map_or(runs.len().saturating_sub(1), |b| b.0)
}

/// The `"type": "comparison"` object: every run's numbers and the pick.
pub fn record(runs: &[RunSummary], select: Select, picked: usize, seed: u64) -> serde_json::Value {
    let methods: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method,
                "target_acc": r.target_test_acc,
                "target_acc_last": r.last.target_acc,
                "selected_epoch": r.selected.epoch,
                "score": select.score(&r.selected),
                "entropy": r.selected.entropy,
                "im": r.selected.im,
                "snd": r.selected.snd,
                "source_test_acc": r.source_test_acc,
                "pad_after": r.pad_after.map(|p| p.pad),
                "seconds": r.seconds,
            })
        })
        .collect();
    let selected = runs.get(picked).map(|r| {
        serde_json::json!({
            "validator": select.name(),
            "method": r.method,
            "epoch": r.selected.epoch,
            "target_acc": r.target_test_acc,
        })
    });
    serde_json::json!({"type": "comparison", "seed": seed, "methods": methods, "selected": selected})
}
