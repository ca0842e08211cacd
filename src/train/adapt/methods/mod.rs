//! Adaptation methods. Each method is one file here — its extra losses built on the tape (and
//! its extra heads, if any), its default trade-offs, its paper reference — plus one line in
//! [`REGISTRY`]. The fit loop, the metrics and the CLI only see the [`AdaptMethod`] trait and
//! look methods up by name; none of them names a method.
//!
//! Every method file, the source-free `shot.rs` and `tent.rs` included, opens with the same
//! module-doc sections, in this order: `# Paper` (the reference, and where dak's defaults come
//! from), `# Loss` (the formula, one line per term, each naming the `ops::` module or `Tape::`
//! recorder that computes it), `# Shapes`, `# Defaults`, `# Deviations` (from the paper and the
//! reference implementation) and `# Example` (a compiled `no_run` doctest).
//!
//! A step (see `super::step`) always runs the features and the label head on all rows (source
//! rows first) and the source cross-entropy; the method then adds its own loss roots.

pub mod cdan;
mod combined;
mod dan;
mod dann;
pub mod mcc;
mod mdd;
pub mod shot;
mod source_only;
pub mod tent;

pub use mcc::mcc_loss;

use crate::autograd::{Lambda, Tape, Var};
use crate::error::{Error, Result};
use crate::models::dann::DannConfig;
use crate::models::{Backbone, Dann};
use crate::models::{Dann as Net, HeadConfig};
use crate::tensor::Tensor;

/// What a method's losses may use in one step.
pub struct StepContext<'a> {
    /// The network (its domain head, its parameters).
    pub model: &'a Net,
    /// Features of all rows [n_source + n_target, dim].
    pub features: Var,
    /// Class logits of all rows [n_source + n_target, classes].
    pub logits: Var,
    /// Labelled source rows (first).
    pub n_source: usize,
    /// Target rows (after the source rows; at least 1 when a method's losses are asked for).
    pub n_target: usize,
    /// The gradient-reversal coefficient of this step (the λ schedule).
    pub lambda: &'a Lambda,
    /// New every step: seeds the domain head's dropout masks.
    pub train_seed: u32,
    /// The method's fixed tensors for this run (see [`AdaptMethod::state`]).
    pub state: &'a MethodState,
}

/// What a method adds to one step: the loss roots to differentiate and the values the epoch
/// reports. The step does the counting; a method only builds its losses.
#[derive(Default)]
pub struct MethodLosses {
    /// Loss roots, each already times its trade-off (their sum is the epoch's adaptation loss).
    pub roots: Vec<Var>,
    /// What the epoch's metrics count, in order.
    pub counted: Vec<Counted>,
}

impl MethodLosses {
    /// Losses with nothing counted besides their sum.
    pub fn roots(roots: Vec<Var>) -> Self {
        MethodLosses {
            roots,
            counted: Vec::new(),
        }
    }

    /// Adds `other`'s roots and counts after this one's (a sum of methods).
    pub fn extend(&mut self, other: MethodLosses) {
        self.roots.extend(other.roots);
        self.counted.extend(other.counted);
    }
}

/// A value the epoch's metrics count (only adversarial methods report these).
pub enum Counted {
    /// A loss added to the epoch's mean domain loss.
    DomainLoss(Var),
    /// A domain classifier's answers: the epoch's domain accuracy.
    DomainAccuracy {
        /// The domain head's logits [rows, 1].
        logits: Var,
        /// Each row's domain [rows, 1]: 0 source, 1 target.
        domains: Tensor,
    },
}

/// Fixed tensors a method makes once per run (CDAN's random matrices): not parameters, never
/// trained or saved; rebuilt from the run's seed, so a resumed run gets the same ones.
#[derive(Default)]
pub struct MethodState {
    tensors: Vec<(&'static str, Tensor)>,
}

impl MethodState {
    /// Adds (or replaces) the tensor called `name`.
    pub fn insert(&mut self, name: &'static str, t: Tensor) {
        self.tensors.retain(|(n, _)| *n != name);
        self.tensors.push((name, t));
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::runtime(format!("the method's state holds no `{name}`")))
    }

    /// Adds every tensor of `other`.
    pub fn extend(&mut self, other: MethodState) {
        for (n, t) in other.tensors {
            self.insert(n, t);
        }
    }
}

/// One adaptation method: the losses it adds to the source cross-entropy.
pub trait AdaptMethod: Sync {
    /// Name on the command line and in metrics (`dann`, `dann+mcc`).
    fn name(&self) -> &'static str;
    /// The paper (and where its defaults come from).
    fn reference(&self) -> &'static str;
    /// Whether steps need target rows (every method but the source-only baseline).
    fn needs_target(&self) -> bool;
    /// Whether the method trains a head behind gradient reversal: the λ schedule applies and
    /// epochs report the domain loss (and the domain accuracy of a method that counts it in
    /// `domain_counts`; MDD's adversary is no domain classifier and counts nothing).
    fn adversarial(&self) -> bool;
    /// Heads the method adds to the network (features of width `feature_dim`, sizes in
    /// `config`), created before training and saved with the model. None by default.
    fn heads(&self, _feature_dim: usize, _config: &DannConfig) -> Vec<HeadConfig> {
        Vec::new()
    }
    /// Fixed tensors the method's steps use, made once per run from `seed`. None by default.
    fn state(&self, _model: &Net, _seed: u64) -> Result<MethodState> {
        Ok(MethodState::default())
    }
    /// The method's losses for one step with target rows (the source cross-entropy is already
    /// on the tape) and what the epoch counts of them. Nothing may be read back here.
    fn losses(&self, tape: &mut Tape, ctx: &StepContext) -> Result<MethodLosses>;
}

/// Every method, in the order `--help` and errors list them. A new method: one file, one line.
static REGISTRY: &[&dyn AdaptMethod] = &[
    &source_only::SourceOnly,
    &dann::Dann,
    &mcc::Mcc,
    &combined::Combined {
        name: "dann+mcc",
        parts: &[&dann::Dann, &mcc::Mcc],
    },
    &dan::Dan,
    &cdan::Cdan { entropy: false },
    &cdan::Cdan { entropy: true },
    &combined::Combined {
        name: "cdan-e+mcc",
        parts: &[&cdan::Cdan { entropy: true }, &mcc::Mcc],
    },
    &mdd::Mdd,
];

/// A registered method (cheap to copy; compared by name).
#[derive(Clone, Copy)]
pub struct Method(&'static dyn AdaptMethod);

impl Method {
    /// Domain-adversarial training (Ganin et al., JMLR 2016): the default.
    pub const DANN: Method = Method(&dann::Dann);
    /// The same network trained on labelled source data only (the baseline).
    pub const SOURCE_ONLY: Method = Method(&source_only::SourceOnly);

    /// The method called `name`, or an error naming `arg` and the accepted names.
    pub fn parse(name: &str, arg: &str) -> Result<Method> {
        REGISTRY
            .iter()
            .find(|m| m.name() == name)
            .map(|&m| Method(m))
            .ok_or_else(|| {
                Error::input(format!(
                    "{arg} `{name}`: unknown method; accepted: {}",
                    Method::names().join(", ")
                ))
            })
    }

    /// Every registered method.
    pub fn all() -> impl Iterator<Item = Method> {
        REGISTRY.iter().map(|&m| Method(m))
    }

    /// Every registered method's name.
    pub fn names() -> Vec<&'static str> {
        REGISTRY.iter().map(|m| m.name()).collect()
    }

    /// Name on the command line and in metrics.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The method behind the name.
    pub fn get(self) -> &'static dyn AdaptMethod {
        self.0
    }

    /// Gives `model` the method's heads (those it lacks; seeded by `seed`) and makes the
    /// method's fixed tensors for the run.
    pub fn prepare(self, model: &mut Net, seed: u64) -> Result<MethodState> {
        let heads = self.0.heads(model.features.dim(), &model.config);
        model.add_heads(&heads, seed ^ 0x4845_4144)?;
        self.0.state(model, seed)
    }
}

impl PartialEq for Method {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Method {}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Method({})", self.name())
    }
}

/// A source-free method's defaults (each method has its own recipe).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceFreeDefaults {
    /// Passes over the target images.
    pub epochs: usize,
    /// Target images per step.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Decay the rate as `lr·(1 + 10p)^-0.75` (else constant).
    pub decay: bool,
    /// SGD momentum.
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Learning-rate multiplier of the base network.
    pub backbone_lr_mult: f32,
    /// The loss weights.
    pub weights: LossWeights,
}

/// Weights of a source-free step's losses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    /// The information-maximisation loss (SHOT's `ent_par`; TENT's entropy).
    pub im: f32,
    /// The pseudo-label cross-entropy (SHOT's β, `cls_par`).
    pub pseudo_label: f32,
}

/// One source-free method: what it trains and the losses of one target batch. The run
/// (`super::source_free`) never reads a source image.
pub trait SourceFreeMethod: Sync {
    /// Name on the command line and in metrics (`shot`, `tent`).
    fn name(&self) -> &'static str;
    /// The paper (and where its defaults come from).
    fn reference(&self) -> &'static str;
    /// The method's defaults for a model on `backbone`.
    fn defaults(&self, backbone: Backbone) -> SourceFreeDefaults;
    /// Freezes what the method keeps fixed (refusing a model it cannot adapt, in one line).
    fn prepare(&self, model: &mut Dann) -> Result<()>;
    /// Whether each epoch starts with pseudo-labels of the whole target set.
    fn pseudo_labels(&self) -> bool;
    /// Whether the loss pushes the predictions towards equally frequent classes (a diversity
    /// term): then `--select safe` also checks that the predictions did not split the target's
    /// pixel neighbourhoods, the damage such a term does under label shift
    /// (`super::neighbours`).
    fn balances_classes(&self) -> bool;
    /// The loss roots of one step on a target batch's class logits `logits` [rows, classes];
    /// `pseudo` holds the rows' pseudo-labels when [`Self::pseudo_labels`] says so.
    fn losses(
        &self,
        tape: &mut Tape,
        logits: Var,
        pseudo: Option<&Tensor>,
        weights: &LossWeights,
    ) -> Result<Vec<Var>>;
}

/// Every source-free method, in the order help texts list them.
static SOURCE_FREE: &[&dyn SourceFreeMethod] = &[&shot::Shot, &tent::Tent];

/// A registered source-free method (cheap to copy; compared by name).
#[derive(Clone, Copy)]
pub struct SourceFree(&'static dyn SourceFreeMethod);

impl SourceFree {
    /// SHOT (Liang et al., ICML 2020).
    pub const SHOT: SourceFree = SourceFree(&shot::Shot);
    /// TENT (Wang et al., ICLR 2021).
    pub const TENT: SourceFree = SourceFree(&tent::Tent);

    /// The method called `name`, or `None`.
    pub fn find(name: &str) -> Option<SourceFree> {
        SOURCE_FREE
            .iter()
            .find(|m| m.name() == name)
            .map(|&m| SourceFree(m))
    }

    /// The method called `name`, or an error naming `arg` and the accepted names.
    pub fn parse(name: &str, arg: &str) -> Result<SourceFree> {
        SourceFree::find(name).ok_or_else(|| {
            Error::input(format!(
                "{arg} `{name}`: not a source-free method; accepted with --source-free: {}",
                SourceFree::names().join(", ")
            ))
        })
    }

    /// Every source-free method's name.
    pub fn names() -> Vec<&'static str> {
        SOURCE_FREE.iter().map(|m| m.name()).collect()
    }

    /// Name on the command line and in metrics.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The method behind the name.
    pub fn get(self) -> &'static dyn SourceFreeMethod {
        self.0
    }
}

impl PartialEq for SourceFree {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl std::fmt::Debug for SourceFree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceFree({})", self.name())
    }
}
