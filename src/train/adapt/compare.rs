//! Several methods side by side: the list `--compare` names, the label-free pick among the runs
//! (`--select` across methods), and the comparison record of the metrics file.
//!
//! The pick reads each run's selected epoch's label-free score (computed on target *training*
//! images without labels); target-test accuracy is only reported.

use super::{ensv, ensv_hard, safe, Method, Select};
use crate::error::{Error, Result};
use crate::train::RunSummary;

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

/// Each run's score under `select`: its selected epoch's (IM for `safe`, the order in which the
/// rule proposes challengers); for the EnsV family, the agreement
/// of its selected model with the ensemble of every run's selected model (the candidates:
/// hard votes for `ensv` and `safe`, mean probabilities for `ensv-soft`).
pub fn scores(runs: &[RunSummary], select: Select) -> Vec<Option<f64>> {
    if select == Select::Safe {
        // The rule's proposal order.
        return runs.iter().map(|r| r.selected.im).collect();
    }
    if !select.pools() {
        return runs.iter().map(|r| select.score(&r.selected)).collect();
    }
    let classes = runs.first().map_or(0, |r| r.classes);
    let probs: Vec<&[f32]> = runs.iter().map(|r| r.selected_probs.as_slice()).collect();
    let agreement = match select {
        Select::EnsvSoft => ensv::agreement(&probs, classes),
        _ => ensv_hard::agreement(&probs, classes),
    };
    agreement
        .into_iter()
        .map(|s| Some(s).filter(|s| s.is_finite()))
        .collect()
}

/// The safety rule's decision over the runs (source-only is the baseline): each run's
/// selected model, which under `--select safe` is its last epoch.
pub fn safe_decision(runs: &[RunSummary]) -> safe::Decision {
    let classes = runs.first().map_or(0, |r| r.classes);
    let candidates: Vec<safe::Candidate> = runs
        .iter()
        .map(|r| safe::Candidate {
            method: &r.method,
            probs: &r.selected_probs,
            im: r.selected.im.unwrap_or(f64::NEG_INFINITY),
        })
        .collect();
    let baseline = runs
        .iter()
        .position(|r| r.method == Method::SOURCE_ONLY.name())
        .unwrap_or(0);
    let base = runs.get(baseline).map(|r| &r.selected);
    safe::decide(
        &candidates,
        classes,
        baseline,
        base.and_then(|s| s.source_confidence),
        base.and_then(|s| s.domain_shift),
    )
}

/// Index of the run `select` picks: the highest score (see [`scores`]); with `safe`, the
/// safety rule ([`safe`]); with `last` (no label-free criterion), the last run. Ties keep the
/// earlier run.
pub fn pick(runs: &[RunSummary], select: Select) -> usize {
    if select == Select::Safe {
        return safe_decision(runs).picked;
    }
    let scores: Vec<f64> = scores(runs, select)
        .into_iter()
        .map(|s| s.unwrap_or(f64::NAN))
        .collect();
    ensv::best(&scores).unwrap_or(runs.len().saturating_sub(1))
}

/// The `"type": "comparison"` object: every run's numbers and the pick.
pub fn record(runs: &[RunSummary], select: Select, picked: usize, seed: u64) -> serde_json::Value {
    let scores = scores(runs, select);
    let methods: Vec<serde_json::Value> = runs
        .iter()
        .zip(&scores)
        .map(|(r, score)| {
            serde_json::json!({
                "method": r.method,
                "target_acc": r.target_test_acc,
                "target_acc_last": r.last.target_acc,
                "selected_epoch": r.selected.epoch,
                "score": score,
                "entropy": r.selected.entropy,
                "im": r.selected.im,
                "snd": r.selected.snd,
                "mixval": r.selected.mixval,
                "dev": r.selected.dev,
                "ensv_epochs": r.selected.ensv,
                "source_test_acc": r.source_test_acc,
                "pad_after": r.pad_after.map(|p| p.pad),
                "seconds": r.seconds,
            })
        })
        .collect();
    let why = (select == Select::Safe).then(|| safe_decision(runs).why);
    let selected = runs.get(picked).map(|r| {
        serde_json::json!({
            "validator": select.name(),
            "method": r.method,
            "epoch": r.selected.epoch,
            "target_acc": r.target_test_acc,
            "why": why,
        })
    });
    serde_json::json!({"type": "comparison", "seed": seed, "methods": methods, "selected": selected})
}
