//! Every field of a run's [`EpochLogs`] as JSON (their JSONL form drops some), for resume
//! checkpoints: a resumed run reports, plots and selects over every epoch, the ones before
//! the interruption included.

use crate::error::{Error, Result};
use crate::train::metrics::DomainShift;
use crate::train::EpochLogs;
use serde::{Deserialize, Serialize};

/// `epochs` as one JSON array (f64 values round-trip exactly).
pub(crate) fn to_json(epochs: &[EpochLogs]) -> Result<String> {
    let stored: Vec<StoredEpoch> = epochs.iter().map(StoredEpoch::from).collect();
    serde_json::to_string(&stored).map_err(|e| Error::runtime(e.to_string()))
}

/// The epochs [`to_json`] wrote (without their score-set probabilities); `None` if damaged.
pub(crate) fn from_json(text: &str) -> Option<Vec<EpochLogs>> {
    let stored: Vec<StoredEpoch> = serde_json::from_str(text).ok()?;
    Some(stored.into_iter().map(StoredEpoch::logs).collect())
}

#[derive(Serialize, Deserialize)]
struct StoredEpoch {
    method: String,
    epoch: usize,
    epochs: usize,
    steps: usize,
    progress: f64,
    lr: f64,
    lambda: Option<f64>,
    train_loss: f64,
    train_acc: f64,
    val_loss: Option<f64>,
    val_acc: Option<f64>,
    domain_loss: Option<f64>,
    adapt_loss: Option<f64>,
    domain_acc: Option<f64>,
    target_acc: Option<f64>,
    entropy: Option<f64>,
    im: Option<f64>,
    snd: Option<f64>,
    ensv: Option<f64>,
    ensv_soft: Option<f64>,
    mixval: Option<f64>,
    /// Absent in checkpoints written before the source-free label-shift check.
    #[serde(default)]
    pixel_kappa: Option<f64>,
    dev: Option<f64>,
    source_confidence: Option<(f64, f64)>,
    domain_shift: Option<DomainShift>,
    seconds: f64,
    images_per_s: f64,
}

impl From<&EpochLogs> for StoredEpoch {
    fn from(e: &EpochLogs) -> Self {
        StoredEpoch {
            method: e.method.clone(),
            epoch: e.epoch,
            epochs: e.epochs,
            steps: e.steps,
            progress: e.progress,
            lr: e.lr,
            lambda: e.lambda,
            train_loss: e.train_loss,
            train_acc: e.train_acc,
            val_loss: e.val_loss,
            val_acc: e.val_acc,
            domain_loss: e.domain_loss,
            adapt_loss: e.adapt_loss,
            domain_acc: e.domain_acc,
            target_acc: e.target_acc,
            entropy: e.entropy,
            im: e.im,
            snd: e.snd,
            ensv: e.ensv,
            ensv_soft: e.ensv_soft,
            mixval: e.mixval,
            pixel_kappa: e.pixel_kappa,
            dev: e.dev,
            source_confidence: e.source_confidence,
            domain_shift: e.domain_shift,
            seconds: e.seconds,
            images_per_s: e.images_per_s,
        }
    }
}

impl StoredEpoch {
    fn logs(self) -> EpochLogs {
        EpochLogs {
            method: self.method,
            epoch: self.epoch,
            epochs: self.epochs,
            steps: self.steps,
            progress: self.progress,
            lr: self.lr,
            lambda: self.lambda,
            train_loss: self.train_loss,
            train_acc: self.train_acc,
            val_loss: self.val_loss,
            val_acc: self.val_acc,
            domain_loss: self.domain_loss,
            adapt_loss: self.adapt_loss,
            domain_acc: self.domain_acc,
            target_acc: self.target_acc,
            entropy: self.entropy,
            im: self.im,
            snd: self.snd,
            ensv: self.ensv,
            ensv_soft: self.ensv_soft,
            mixval: self.mixval,
            pixel_kappa: self.pixel_kappa,
            dev: self.dev,
            source_confidence: self.source_confidence,
            domain_shift: self.domain_shift,
            seconds: self.seconds,
            images_per_s: self.images_per_s,
            feature_cache: false,
            score_probs: None,
        }
    }
}
