//! What training measured: [`EpochLogs`] per epoch (the same struct for fine-tuning and
//! adaptation, `None` where a field does not apply), the adaptation [`RunSummary`], and the
//! [`History`] that `fit` returns.
//!
//! As JSON (the `--metrics FILE.jsonl` lines) an epoch keeps the layout its command has always
//! written: `dak fine-tune` lines carry `train_loss`/`train_acc`/`val_*`; `dak adapt` lines
//! carry `"type": "epoch"`, `label_loss`, `source_acc` and the adaptation metrics.

use serde::{Serialize, Serializer};

use super::metrics::ProxyADistance;

/// The `method` of a fine-tuning run.
pub const FINE_TUNE: &str = "fine-tune";

/// What one epoch measured. Losses and accuracies are read from the GPU once per epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochLogs {
    /// `fine-tune`, `dann` or `source-only`.
    pub method: String,
    /// Epoch counted from 1.
    pub epoch: usize,
    /// Epochs of the whole run.
    pub epochs: usize,
    /// Optimizer steps so far in the run.
    pub steps: usize,
    /// Training progress p in [0, 1] at the end of the epoch.
    pub progress: f64,
    /// Base learning rate at the epoch's last step.
    pub lr: f64,
    /// Gradient-reversal coefficient at the epoch's last step (adaptation; 0 for source-only).
    pub lambda: Option<f64>,
    /// Mean label (cross-entropy) loss of the epoch's training batches — the source rows in
    /// adaptation.
    pub train_loss: f64,
    /// Accuracy on the epoch's training batches — the source accuracy in adaptation.
    pub train_acc: f64,
    /// Mean loss on the validation set (fine-tuning with validation data).
    pub val_loss: Option<f64>,
    /// Accuracy on the validation set (fine-tuning with validation data; in adaptation the
    /// held-out source split of `--select source-val`).
    pub val_acc: Option<f64>,
    /// Mean domain loss of the epoch's steps (adversarial methods: DANN's binary cross-entropy,
    /// MDD's transfer loss).
    pub domain_loss: Option<f64>,
    /// Mean sum of the adaptation method's own losses per step (DANN: the domain loss; MCC:
    /// the class-confusion loss; `dann+mcc`: both); None for source-only and fine-tuning.
    pub adapt_loss: Option<f64>,
    /// Domain-classifier accuracy on the epoch's training batches (DANN; ~0.5 = aligned).
    pub domain_acc: Option<f64>,
    /// Accuracy on the labelled target evaluation set (adaptation; reporting only).
    pub target_acc: Option<f64>,
    /// Mean entropy of the target predictions (nats; lower = more confident).
    pub entropy: Option<f64>,
    /// Information maximisation of the target predictions (nats; higher = better).
    pub im: Option<f64>,
    /// Soft neighbourhood density of the target predictions (higher = better).
    pub snd: Option<f64>,
    /// EnsV (hard votes): agreement of the target predictions' argmax with the class most of
    /// the run's epochs vote for; known at the end of the run, so set in the history's epochs
    /// only when the run selects by it (`--select ensv`; every epoch's is in the summary).
    pub ensv: Option<f64>,
    /// EnsV (soft): agreement with the argmax of the mean prediction of the run's epochs
    /// (`--select ensv-soft`); set like `ensv`.
    pub ensv_soft: Option<f64>,
    /// MixVal: how often mixup probes of target images keep the dominant image's predicted
    /// class (higher is better).
    pub mixval: Option<f64>,
    /// Pixel-neighbour agreement κ of the target predictions (source-free runs: the safety
    /// rule's label-shift check, [`crate::train::adapt::neighbours`]).
    pub pixel_kappa: Option<f64>,
    /// DEV: the importance-weighted held-out source loss with its control variate (lower is
    /// better); needs held-out labelled source images.
    pub dev: Option<f64>,
    /// Mean and standard error of the top class probability on held-out source images (what
    /// the safety rule compares with the confidence on the target).
    pub source_confidence: Option<(f64, f64)>,
    /// How well a domain classifier tells held-out source images from the target score set,
    /// on the model's features and on its class probabilities (the safety rule's shift test).
    pub domain_shift: Option<crate::train::metrics::DomainShift>,
    /// Wall-clock seconds of the epoch (training, plus evaluation in adaptation).
    pub seconds: f64,
    /// Training images per second.
    pub images_per_s: f64,
    /// Whether the head trained from cached base features (fine-tuning).
    pub feature_cache: bool,
    /// Class probabilities on the adaptation run's target score set, one row per image: what
    /// the ensemble validators compare candidates by (not written to the metrics file).
    pub score_probs: Option<std::sync::Arc<Vec<f32>>>,
}

impl EpochLogs {
    /// True for DANN and source-only runs.
    pub fn is_adaptation(&self) -> bool {
        self.method != FINE_TUNE
    }
}

/// `dak fine-tune`'s JSONL epoch line.
#[derive(Serialize)]
struct FitLine {
    #[serde(rename = "type")]
    kind: &'static str,
    epoch: usize,
    epochs: usize,
    train_loss: f64,
    train_acc: f64,
    val_loss: Option<f64>,
    val_acc: Option<f64>,
    lr: f64,
    seconds: f64,
    images_per_s: f64,
    feature_cache: bool,
}

/// `dak adapt`'s JSONL epoch line.
#[derive(Serialize)]
struct AdaptLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    method: &'a str,
    epoch: usize,
    epochs: usize,
    steps: usize,
    progress: f64,
    lambda: f64,
    lr: f64,
    label_loss: f64,
    domain_loss: Option<f64>,
    adapt_loss: Option<f64>,
    source_acc: f64,
    /// Accuracy on the held-out source split (`--select source-val`).
    #[serde(skip_serializing_if = "Option::is_none")]
    source_val_acc: Option<f64>,
    target_acc: Option<f64>,
    domain_acc: Option<f64>,
    entropy: Option<f64>,
    im: Option<f64>,
    snd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ensv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ensv_soft: Option<f64>,
    mixval: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pixel_kappa: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_shift: Option<crate::train::metrics::DomainShift>,
    seconds: f64,
    images_per_s: f64,
}

impl Serialize for EpochLogs {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if !self.is_adaptation() {
            return FitLine {
                kind: "epoch",
                epoch: self.epoch,
                epochs: self.epochs,
                train_loss: self.train_loss,
                train_acc: self.train_acc,
                val_loss: self.val_loss,
                val_acc: self.val_acc,
                lr: self.lr,
                seconds: self.seconds,
                images_per_s: self.images_per_s,
                feature_cache: self.feature_cache,
            }
            .serialize(s);
        }
        AdaptLine {
            kind: "epoch",
            method: &self.method,
            epoch: self.epoch,
            epochs: self.epochs,
            steps: self.steps,
            progress: self.progress,
            lambda: self.lambda.unwrap_or(0.0),
            lr: self.lr,
            label_loss: self.train_loss,
            domain_loss: self.domain_loss,
            adapt_loss: self.adapt_loss,
            source_acc: self.train_acc,
            source_val_acc: self.val_acc,
            target_acc: self.target_acc,
            domain_acc: self.domain_acc,
            entropy: self.entropy,
            im: self.im,
            snd: self.snd,
            ensv: self.ensv,
            ensv_soft: self.ensv_soft,
            mixval: self.mixval,
            pixel_kappa: self.pixel_kappa,
            dev: self.dev,
            source_confidence: self.source_confidence.map(|c| c.0),
            domain_shift: self.domain_shift,
            seconds: self.seconds,
            images_per_s: self.images_per_s,
        }
        .serialize(s)
    }
}

/// The end of an adaptation run (a `"type": "summary"` JSONL line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Always `summary`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `dann` or `source-only`.
    pub method: String,
    /// The run's seed.
    pub seed: u64,
    /// Epochs trained (fewer than planned when a callback stopped the run).
    pub epochs_run: usize,
    /// Selection rule (`last`, `entropy`, `snd`).
    pub select: String,
    /// Logs of the selected epoch (its parameters are the model's after `fit`).
    pub selected: EpochLogs,
    /// Logs of the last epoch.
    pub last: EpochLogs,
    /// Target accuracy of the selected model (reporting only).
    pub target_test_acc: Option<f64>,
    /// Accuracy of the selected model on held-out source images.
    pub source_test_acc: Option<f64>,
    /// Proxy A-distance of the features before training.
    pub pad_before: Option<ProxyADistance>,
    /// Proxy A-distance of the selected model's features.
    pub pad_after: Option<ProxyADistance>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Mean wall-clock seconds per epoch (training and scoring), without the one-time
    /// warm-up.
    pub seconds_per_epoch: f64,
    /// Training images per second over the run's steps, without the one-time warm-up.
    pub images_per_s: f64,
    /// The run's first step beyond a steady step's time: compiling kernels and warming up
    /// (the first run of a process pays most of it; later runs reuse the kernels).
    pub warmup_seconds: f64,
    /// Every epoch's hard-vote EnsV score (against the run's epochs), in epoch order; empty
    /// without target images.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ensv: Vec<f64>,
    /// Every epoch's soft EnsV score, in epoch order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ensv_soft: Vec<f64>,
    /// The selected model's class probabilities on the score set (target training images),
    /// rows of `classes`: what EnsV compares runs by.
    #[serde(skip)]
    pub selected_probs: Vec<f32>,
    /// Classes of the model (the width of `selected_probs`' rows).
    #[serde(skip)]
    pub classes: usize,
}

/// What `fit` returns: every epoch's logs, plus the summary of an adaptation run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct History {
    /// One entry per epoch trained, in order.
    pub epochs: Vec<EpochLogs>,
    /// Adaptation runs: selection, held-out accuracies, proxy A-distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<RunSummary>,
    /// Training images that could not be decoded and were skipped (`skip_bad`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl History {
    /// Epochs trained.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// True when no epoch was trained.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The last epoch's logs.
    pub fn last(&self) -> Option<&EpochLogs> {
        self.epochs.last()
    }

    /// One field across epochs, like Keras's `history.history["loss"]`:
    /// `history.column(|e| e.train_loss)`, `history.column(|e| e.target_acc)`.
    pub fn column<T>(&self, field: impl Fn(&EpochLogs) -> T) -> Vec<T> {
        self.epochs.iter().map(field).collect()
    }
}
