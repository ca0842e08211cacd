//! Re-scoring saved candidates (`dak select DIR`): every epoch's model of every method that
//! `dak adapt --candidates DIR` kept is scored by the code the run used ([`score_candidate`] on
//! the same seeded score sets; or its scores are read back from the file the run kept beside
//! it), then each validator picks an epoch per method and a method across them exactly as a
//! live run would. No training, and no target label is read: target-test accuracy is
//! computed only to be reported beside the picks.

use std::path::Path;

use super::candidates::{CachedScores, CandidateIndex};
use super::fit::score_sets;
use super::scores::{accuracy, score_candidate};
use super::{compare, ensv, AdaptConfig, Select};
use crate::data::AdaptData;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::Dann;
use crate::train::{EpochLogs, RunSummary};

/// One candidate as re-scored: its validator inputs in an [`EpochLogs`] (the same fields a live
/// run fills) and its score-set probabilities.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The candidate's scores; `target_acc` is for reporting only.
    pub logs: EpochLogs,
    /// Probabilities on the target score set (EnsV's input).
    pub probs: Vec<f32>,
    /// The model file, relative to the candidates folder.
    pub file: std::path::PathBuf,
}

/// A validator's pick.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pick {
    /// The validator's name.
    pub validator: String,
    /// The method picked.
    pub method: String,
    /// Its epoch (counted from 1).
    pub epoch: usize,
    /// The picked candidate's target-test accuracy (reporting only).
    pub target_acc: Option<f64>,
    /// The safety rule's reason (`safe` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Every candidate of a candidates folder, scored.
pub struct Rescored {
    /// The index read from the folder.
    pub index: CandidateIndex,
    /// Per run (in the index's order), its candidates in epoch order.
    pub runs: Vec<Vec<Scored>>,
    /// Classes of the models.
    pub classes: usize,
}

/// The configuration a run's scoring used, from its index.
pub fn config_of(index: &CandidateIndex, workers: usize) -> AdaptConfig {
    AdaptConfig {
        seed: index.seed,
        score_samples: index.score_samples,
        source_val_split: index.source_val_split,
        skip_bad: index.skip_bad,
        workers,
        ..AdaptConfig::default()
    }
}

/// Loads and scores every candidate of `index` (files under `root`) on `data`. With
/// `use_cache`, a candidate whose run kept its scores (`epoch-NNN.scores.json` of this build's
/// scoring version) is not loaded: its scores are read back; one without them is measured and
/// its scores are written beside it. `gpu` is called only when something must be measured.
pub fn rescore(
    gpu: &dyn Fn() -> Result<Gpu>,
    index: CandidateIndex,
    root: &Path,
    data: &AdaptData,
    workers: usize,
    use_cache: bool,
) -> Result<Rescored> {
    let config = config_of(&index, workers);
    let (train, source_val) = match super::source_split(&config, data)? {
        Some((train, val)) => (
            AdaptData {
                source: train,
                ..data.clone()
            },
            Some(val),
        ),
        None => (data.clone(), None),
    };
    let sets = score_sets(&train, source_val.as_ref(), &config).ok_or_else(|| {
        Error::input("dak select: the run has no target images to score candidates on")
    })?;
    let mut device: Option<Gpu> = None;
    let mut runs = Vec::new();
    for run in &index.runs {
        let mut scored = Vec::new();
        let epochs = run.candidates.len();
        for (i, c) in run.candidates.iter().enumerate() {
            let path = root.join(&c.file);
            // The safety rule reads source-only's last model's confidence on held-out source
            // images and its domain shift, which files from before they were kept lack:
            // measure that one again.
            let needs_confidence = run.method == super::Method::SOURCE_ONLY.name()
                && i + 1 == epochs
                && sets.dev.is_some();
            let cached = use_cache
                .then(|| CachedScores::read(&path))
                .flatten()
                .filter(|c| {
                    !needs_confidence || (c.source_confidence.is_some() && c.domain_shift.is_some())
                });
            let cached = match cached {
                Some(c) => c,
                None => {
                    if device.is_none() {
                        device = Some(gpu()?);
                    }
                    let gpu = device.as_ref().expect("opened above");
                    let m = measure(gpu, &path, data, &sets, source_val.as_ref(), &config)?;
                    // Measured on the run's own sets: keep it for the next look (best effort:
                    // a read-only folder of candidates is still scored).
                    if use_cache {
                        let _ = m.write(&path);
                    }
                    m
                }
            };
            let logs = scored_logs(&run.method, c.epoch, epochs, &cached);
            scored.push(Scored {
                logs,
                probs: cached.probs,
                file: c.file.clone(),
            });
        }
        // The EnsV family: each epoch against the ensemble of the run's epochs.
        let pool = ensv::EpochPool::from_probs(
            data.classes().len(),
            scored.iter().map(|s| s.probs.clone()).collect(),
        );
        for (s, (h, soft)) in scored
            .iter_mut()
            .zip(pool.hard_scores().into_iter().zip(pool.soft_scores()))
        {
            s.logs.ensv = Some(h);
            s.logs.ensv_soft = Some(soft);
        }
        runs.push(scored);
    }
    Ok(Rescored {
        index,
        runs,
        classes: data.classes().len(),
    })
}

/// Loads the candidate at `path` and measures what a run measures of an epoch.
fn measure(
    gpu: &Gpu,
    path: &Path,
    data: &AdaptData,
    sets: &super::scores::ScoreSets,
    source_val: Option<&crate::data::Dataset>,
    config: &AdaptConfig,
) -> Result<CachedScores> {
    let model = Dann::load(gpu, path)?;
    crate::data::folder::check_same_classes(
        &path.display().to_string(),
        &model.classes,
        &format!("source {}", data.source.name()),
        data.source.classes(),
    )?;
    let s = score_candidate(&model, sets, config)?;
    let target_acc = match &data.target_eval {
        Some(ds) => accuracy(&model, ds, config)?,
        None => None,
    };
    let source_val_acc = match source_val {
        Some(ds) => accuracy(&model, ds, config)?,
        None => None,
    };
    Ok(CachedScores {
        scoring: super::candidates::SCORING,
        entropy: s.entropy,
        im: s.im,
        snd: s.snd,
        mixval: s.mixval,
        dev: s.dev,
        source_val_acc,
        target_acc,
        source_confidence: s.source_confidence,
        domain_shift: s.domain_shift,
        probs: s.probs,
    })
}

/// The logs of a re-scored candidate: its validator inputs, nothing of training.
fn scored_logs(method: &str, epoch: usize, epochs: usize, s: &CachedScores) -> EpochLogs {
    EpochLogs {
        method: method.into(),
        epoch,
        epochs,
        steps: 0,
        progress: epoch as f64 / epochs.max(1) as f64,
        lr: 0.0,
        lambda: None,
        train_loss: 0.0,
        train_acc: 0.0,
        val_loss: None,
        val_acc: s.source_val_acc,
        domain_loss: None,
        adapt_loss: None,
        domain_acc: None,
        target_acc: s.target_acc,
        entropy: Some(s.entropy),
        im: Some(s.im),
        snd: Some(s.snd),
        ensv: None,
        ensv_soft: None,
        mixval: s.mixval,
        pixel_kappa: None,
        dev: s.dev,
        source_confidence: s.source_confidence,
        domain_shift: s.domain_shift,
        seconds: 0.0,
        images_per_s: 0.0,
        feature_cache: false,
        score_probs: None,
    }
}

/// The epoch `select` picks among a run's epochs: the best score, ties to the earlier epoch;
/// the last epoch for `last` or when no epoch has a score (as a live run picks).
pub fn pick_epoch(epochs: &[Scored], select: Select) -> usize {
    let scores: Vec<f64> = epochs
        .iter()
        .map(|s| select.score(&s.logs).unwrap_or(f64::NAN))
        .collect();
    ensv::best(&scores).unwrap_or(epochs.len().saturating_sub(1))
}

impl Rescored {
    /// The candidate `select` picks: an epoch per method, then a method across them (EnsV on
    /// the methods' picks; the safety rule for `safe`).
    pub fn pick(&self, select: Select) -> Result<Pick> {
        let summaries: Vec<RunSummary> = self
            .runs
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| {
                let i = pick_epoch(r, select);
                summary(&r[i], &r[r.len() - 1], select, self.classes)
            })
            .collect();
        if summaries.is_empty() {
            return Err(Error::input("dak select: the folder lists no candidate"));
        }
        let k = match self.index.runs.len() {
            1 => 0,
            _ => compare::pick(&summaries, select),
        };
        let s = &summaries[k];
        Ok(Pick {
            validator: select.name().into(),
            method: s.method.clone(),
            epoch: s.selected.epoch,
            target_acc: s.selected.target_acc,
            why: (select == Select::Safe && summaries.len() > 1)
                .then(|| compare::safe_decision(&summaries).why),
        })
    }

    /// The candidate of `method` after `epoch`.
    pub fn candidate(&self, method: &str, epoch: usize) -> Option<&Scored> {
        self.runs
            .iter()
            .flatten()
            .find(|s| s.logs.method == method && s.logs.epoch == epoch)
    }
}

/// A run summary that carries what the across-method pick reads.
fn summary(selected: &Scored, last: &Scored, select: Select, classes: usize) -> RunSummary {
    RunSummary {
        kind: "summary",
        method: selected.logs.method.clone(),
        seed: 0,
        epochs_run: last.logs.epoch,
        select: select.name().into(),
        selected: selected.logs.clone(),
        last: last.logs.clone(),
        target_test_acc: selected.logs.target_acc,
        source_test_acc: None,
        pad_before: None,
        pad_after: None,
        seconds: 0.0,
        seconds_per_epoch: 0.0,
        images_per_s: 0.0,
        warmup_seconds: 0.0,
        ensv: Vec::new(),
        ensv_soft: Vec::new(),
        selected_probs: selected.probs.clone(),
        classes,
    }
}
