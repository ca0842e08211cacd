//! The source-only baseline: the label loss on labelled source batches and nothing else. Its
//! steps hold no target rows (same seed and initial weights as every other method).

use super::{AdaptMethod, MethodLosses, StepContext};
use crate::autograd::Tape;
use crate::Result;

pub(super) struct SourceOnly;

impl AdaptMethod for SourceOnly {
    fn name(&self) -> &'static str {
        "source-only"
    }
    fn reference(&self) -> &'static str {
        "the baseline of every adaptation paper: train on the labelled source only"
    }
    fn needs_target(&self) -> bool {
        false
    }
    fn adversarial(&self) -> bool {
        false
    }
    fn losses(&self, _tape: &mut Tape, _ctx: &StepContext) -> Result<MethodLosses> {
        Ok(MethodLosses::default())
    }
}
