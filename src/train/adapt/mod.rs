//! Domain-adversarial training (DANN, Ganin et al. JMLR 2016) and its source-only baseline.
//!
//! One DANN step: a batch of `B` source and `B` target images (source rows first) goes through
//! the feature extractor; the label head's softmax cross-entropy counts only the source rows
//! (per-sample weight 1 for source, 0 for target); the domain head sits behind the gradient
//! reversal layer and its binary cross-entropy with logits covers all rows (target 0 = source,
//! 1 = target). Progress `p` runs from 0 to 1 over the whole run; by default
//! `λ_p = 2 / (1 + e^{-10p}) - 1` and `lr_p = μ0 / (1 + 10p)^0.75`, SGD with momentum 0.9.
//! The source-only baseline trains the same network on source batches of `B` without the
//! domain loss.
//!
//! Per step nothing is read back: losses are summed and accuracies counted on the GPU, and read
//! once per epoch. Each epoch then evaluates target accuracy (when target labels exist, for
//! reporting only) and label-free scores of the target predictions, which `--select` may use.

mod accumulators;
pub mod candidates;
pub mod compare;
pub mod dev;
pub mod ensv;
pub mod ensv_hard;
pub(crate) mod fit;
pub mod methods;
pub mod mixval;
pub mod neighbours;
pub mod rescore;
mod resume;
pub mod safe;
pub mod scores;
pub mod source_free;
mod source_free_resume;
pub(crate) mod step;

pub use methods::{AdaptMethod, Counted, Method, MethodLosses, MethodState, StepContext};

pub use methods::{LossWeights, SourceFree, SourceFreeMethod};
pub use scores::count_correct;
pub use source_free::{SourceFreeConfig, TargetData};
pub use step::gradients_from_features;

use super::metrics;
use super::EpochLogs;
use crate::data::AdaptData;
use crate::error::{Error, Result};
use crate::models::Dann;

/// Which epoch's parameters end up in the saved model (and, with several methods, which
/// method's). Every validator reads only the label-free scores of the target training images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The last epoch.
    Last,
    /// Lowest mean entropy of the target predictions.
    Entropy,
    /// Highest information maximisation of the target predictions.
    Im,
    /// Highest soft neighbourhood density of the target predictions.
    Snd,
    /// Highest accuracy on a held-out split of the source (`AdaptConfig::source_val_split`).
    SourceVal,
    /// Highest agreement with the class most candidates vote for (EnsV with hard votes,
    /// [`ensv_hard`]).
    Ensv,
    /// Highest agreement with the argmax of the candidates' mean probabilities (EnsV as the
    /// paper writes it, [`ensv`]; a confident candidate outweighs calibrated ones).
    EnsvSoft,
    /// Highest MixVal score: mixup probes of target images ([`mixval`]).
    MixVal,
    /// Lowest DEV risk: held-out source loss weighted by the domain density ratio ([`dev`]).
    Dev,
    /// The safety rule across `--compare` runs ([`safe`]): each run's last epoch, and an
    /// adapted method replaces source-only only when its IM is higher and another method
    /// corroborates its changes. Within one run, the last epoch.
    Safe,
}

impl Select {
    /// Every validator, in the order errors list them.
    pub const ALL: [Select; 10] = [
        Select::Last,
        Select::Entropy,
        Select::Im,
        Select::Snd,
        Select::SourceVal,
        Select::Ensv,
        Select::EnsvSoft,
        Select::MixVal,
        Select::Dev,
        Select::Safe,
    ];

    /// Name on the command line (`last`, `entropy`, `im`, `snd`, `source-val`, `ensv`).
    pub fn name(self) -> &'static str {
        match self {
            Select::Last => "last",
            Select::Entropy => "entropy",
            Select::Im => "im",
            Select::Snd => "snd",
            Select::SourceVal => "source-val",
            Select::Ensv => "ensv",
            Select::EnsvSoft => "ensv-soft",
            Select::MixVal => "mixval",
            Select::Dev => "dev",
            Select::Safe => "safe",
        }
    }

    /// Whether the validator ranks a run's epochs only once all of them are known (the EnsV
    /// family: each epoch is scored against the ensemble of every epoch).
    pub fn pools(self) -> bool {
        matches!(self, Select::Ensv | Select::EnsvSoft)
    }

    /// The validator called `name`, or an error naming `arg` and the accepted names.
    pub fn parse(name: &str, arg: &str) -> Result<Select> {
        Select::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Select::ALL.iter().map(|s| s.name()).collect();
                Error::input(format!(
                    "{arg} `{name}`: unknown validator; accepted: {}",
                    names.join(", ")
                ))
            })
    }

    /// The epoch's score under this validator, higher = better (None for `last`, or when the
    /// epoch has no label-free scores). Never reads target labels.
    pub fn score(self, e: &EpochLogs) -> Option<f64> {
        match self {
            Select::Last | Select::Safe => None,
            Select::Entropy => e.entropy.map(|h| -h),
            Select::Im => e.im,
            Select::Snd => e.snd,
            Select::SourceVal => e.val_acc,
            Select::Ensv => e.ensv,
            Select::EnsvSoft => e.ensv_soft,
            Select::MixVal => e.mixval,
            Select::Dev => e.dev.map(|d| -d),
        }
        .filter(|s| s.is_finite())
    }
}

/// How the gradient-reversal coefficient evolves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LambdaSchedule {
    /// `max · (2 / (1 + e^{-10p}) - 1)`.
    Dann {
        /// The value approached at the end of training (1 in the paper).
        max: f32,
    },
    /// The same value throughout.
    Constant(f32),
}

impl LambdaSchedule {
    /// The coefficient at training progress `progress` in [0, 1].
    pub fn at(self, progress: f32) -> f32 {
        match self {
            LambdaSchedule::Dann { max } => metrics::dann_lambda(progress, max),
            LambdaSchedule::Constant(v) => v,
        }
    }
}

/// How the learning rate evolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrSchedule {
    /// `μ0 / (1 + 10p)^0.75`.
    Dann,
    /// `μ0` throughout.
    Constant,
}

impl LrSchedule {
    /// The learning rate at training progress `progress` for base rate `mu0`.
    pub fn at(self, mu0: f32, progress: f32) -> f32 {
        match self {
            LrSchedule::Dann => metrics::dann_lr(mu0, progress),
            LrSchedule::Constant => mu0,
        }
    }
}

/// Everything that shapes a run besides the model and the data (Keras: the `fit` arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptConfig {
    /// The adaptation method (see [`methods`]).
    pub method: Method,
    /// Passes over the source data.
    pub epochs: usize,
    /// Images per domain per step (a DANN step holds twice this many).
    pub batch: usize,
    /// Seed of the batch order and of the scored subsets (the model has its own seed).
    pub seed: u64,
    /// Base learning rate μ0.
    pub lr: f32,
    /// How the learning rate evolves.
    pub lr_schedule: LrSchedule,
    /// How the gradient-reversal coefficient evolves.
    pub lambda: LambdaSchedule,
    /// SGD momentum.
    pub momentum: f32,
    /// Learning-rate multiplier of the feature extractor (0.1 is usual for a pretrained one).
    pub backbone_lr_mult: f32,
    /// Which epoch's parameters the model keeps at the end.
    pub select: Select,
    /// Fraction of the source held out (stratified, seeded) and scored each epoch; `None`:
    /// 0.1 when `select` is `source-val`, else no split (training uses the whole source).
    pub source_val_split: Option<f64>,
    /// Skip images that fail to decode instead of stopping.
    pub skip_bad: bool,
    /// Data-loading threads (0 = one per core).
    pub workers: usize,
    /// Images per evaluation batch.
    pub eval_batch: usize,
    /// Target images used for the label-free scores and the proxy A-distance (and as many source
    /// images for the latter).
    pub score_samples: usize,
    /// Measure the proxy A-distance before and after training.
    pub pad: bool,
    /// Continue from a resume checkpoint of the same kind of run (written by
    /// `callbacks::Checkpoints::resume_only` at the end of every epoch): parameters, momentum,
    /// epochs done. Only with `Select::Last` (the best-so-far parameters of a label-free
    /// selection are not in the checkpoint).
    pub resume: Option<std::path::PathBuf>,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        AdaptConfig {
            method: Method::DANN,
            epochs: 10,
            batch: 64,
            seed: 0,
            lr: 0.01,
            lr_schedule: LrSchedule::Dann,
            lambda: LambdaSchedule::Dann { max: 1.0 },
            momentum: 0.9,
            backbone_lr_mult: 1.0,
            select: Select::Last,
            source_val_split: None,
            skip_bad: false,
            workers: 0,
            eval_batch: 250,
            score_samples: 1000,
            pad: true,
            resume: None,
        }
    }
}

impl AdaptConfig {
    /// The held-out source fraction this run uses, if any.
    pub fn source_val_fraction(&self) -> Option<f64> {
        match (self.source_val_split, self.select) {
            (Some(f), _) => Some(f),
            (None, Select::SourceVal) => Some(0.1),
            (None, _) => None,
        }
    }
}

/// The source split into (training, held-out validation) images when `config` asks for one.
pub(crate) fn source_split(
    config: &AdaptConfig,
    data: &AdaptData,
) -> Result<Option<(crate::data::Dataset, crate::data::Dataset)>> {
    let Some(f) = config.source_val_fraction() else {
        return Ok(None);
    };
    data.source.split(f, config.seed).map(Some).map_err(|e| {
        Error::input(format!(
            "--source-val-split {f} (for --select {}): {}",
            config.select.name(),
            e.to_string().lines().next().unwrap_or_default()
        ))
    })
}

/// Checks a configuration against the data before anything heavy starts.
pub fn validate(config: &AdaptConfig, data: &AdaptData) -> Result<()> {
    if config.score_samples < 2 {
        return Err(Error::input("--score-samples must be at least 2"));
    }
    if config.epochs == 0 || config.batch == 0 || config.eval_batch == 0 {
        return Err(Error::input("--epochs and --batch must be at least 1"));
    }
    if !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(Error::input(format!(
            "--lr must be a positive number, got {}",
            config.lr
        )));
    }
    if data.source.labels().is_none() {
        return Err(Error::input(format!(
            "{}: the source domain must be labelled (a class-per-folder directory)",
            data.source.name()
        )));
    }
    source_split(config, data)?;
    if config.select == Select::Dev
        && config.source_val_fraction().is_none()
        && data.source_eval.is_none()
    {
        return Err(Error::input(
            "--select dev weights held-out labelled source images, and there are none: pass --source-test DIR or --source-val-split F (or pick another validator)",
        ));
    }
    let classes = data.source.classes();
    if let (Select::MixVal, Some(t)) = (config.select, &data.target) {
        if t.len() < classes.len() {
            return Err(Error::input(format!(
                "--select mixval probes mixtures of target images from different predicted classes: {} has {} image(s) for {} classes; give more target images or pick another validator",
                t.name(),
                t.len(),
                classes.len()
            )));
        }
    }
    for ds in [&data.target, &data.target_eval, &data.source_eval]
        .into_iter()
        .flatten()
    {
        if ds.labels().is_some() {
            crate::data::folder::check_same_classes(
                &format!("source {}", data.source.name()),
                classes,
                ds.name(),
                ds.classes(),
            )?;
        }
    }
    if data.target.is_none() {
        if config.method.get().needs_target() {
            return Err(Error::input(format!(
                "--method {} needs target images: pass --target DIR (unlabelled is fine)",
                config.method.name()
            )));
        }
        if config.select != Select::Last {
            return Err(Error::input(format!(
                "--select {} scores target predictions, but no target images were given; pass --target DIR or use --select last",
                config.select.name()
            )));
        }
    }
    Ok(())
}

/// Checks that `model` can train on `data` under `config`.
fn validate_model(model: &Dann, config: &AdaptConfig, data: &AdaptData) -> Result<()> {
    validate(config, data)?;
    crate::data::folder::check_same_classes(
        "the model",
        &model.classes,
        &format!("source {}", data.source.name()),
        data.source.classes(),
    )
}
