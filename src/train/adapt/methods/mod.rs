//! Adaptation methods. Each method is one file here — its extra losses built on the tape (and
//! its extra heads, if any), its default trade-offs, its paper reference — plus one line in
//! [`REGISTRY`]. The fit loop, the metrics and the CLI only see the [`AdaptMethod`] trait and
//! look methods up by name; none of them names a method.
//!
//! A step (see `super::step`) always runs the features and the label head on all rows (source
//! rows first) and the source cross-entropy; the method then adds its own loss roots.

mod combined;
mod dann;
pub mod mcc;
mod source_only;

pub use mcc::mcc_loss;

use super::step::EpochAccumulators;
use crate::autograd::{Lambda, Tape, Var};
use crate::models::Dann as Net;
use crate::{Error, Result};

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
    /// The epoch's GPU-side sums (domain loss and accuracy of adversarial methods).
    pub(crate) acc: &'a EpochAccumulators,
}

/// One adaptation method: the losses it adds to the source cross-entropy.
pub trait AdaptMethod: Sync {
    /// Name on the command line and in metrics (`dann`, `dann+mcc`).
    fn name(&self) -> &'static str;
    /// The paper (and where its defaults come from).
    fn reference(&self) -> &'static str;
    /// Whether steps need target rows (every method but the source-only baseline).
    fn needs_target(&self) -> bool;
    /// Whether the method trains the domain head behind gradient reversal: the λ schedule
    /// applies and epochs report the domain loss and accuracy.
    fn adversarial(&self) -> bool;
    /// The method's loss roots for one step with target rows (the source cross-entropy is
    /// already on the tape). Nothing may be read back here.
    fn losses(&self, tape: &mut Tape, ctx: &StepContext) -> Result<Vec<Var>>;
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
