//! MCC (Jin et al., *Minimum Class Confusion for Versatile Domain Adaptation*, ECCV 2020), as in
//! TLlib's `MinimumClassConfusionLoss`: on the target rows' predictions at temperature
//! T = 2.5, per-sample weights 1 + e^{-H} (detached) normalised to sum B, the class-confusion
//! matrix C = (P·w)ᵀ·P with rows normalised to sum 1, loss (ΣC - trace C) / classes, added to
//! the source cross-entropy with trade-off 1 (TLlib's default). No adversary, no extra head.

use super::{AdaptMethod, MethodLosses, StepContext};
use crate::autograd::{Tape, Var};
use crate::ops::prob;
use crate::Result;

/// Softmax temperature of the paper and TLlib (2.5 for Office-31 and digits alike).
pub const TEMPERATURE: f32 = 2.5;
/// Weight of the MCC loss next to the source cross-entropy (TLlib `--trade-off 1.`).
pub const TRADE_OFF: f32 = 1.0;

pub(super) struct Mcc;

impl AdaptMethod for Mcc {
    fn name(&self) -> &'static str {
        "mcc"
    }
    fn reference(&self) -> &'static str {
        "Jin et al., Minimum Class Confusion for Versatile Domain Adaptation, ECCV 2020"
    }
    fn needs_target(&self) -> bool {
        true
    }
    fn adversarial(&self) -> bool {
        false
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        Ok(MethodLosses::roots(vec![mcc_loss(
            tape, c.logits, c.n_source, c.n_target,
        )?]))
    }
}

/// The MCC loss of rows `start..start + count` of `logits`, times [`TRADE_OFF`].
pub fn mcc_loss(tape: &mut Tape, logits: Var, start: usize, count: usize) -> Result<Var> {
    let zt = tape.rows(logits, start, count)?;
    let p = tape.softmax_t(zt, TEMPERATURE)?;
    // The weights are constants: the entropy is taken of a detached copy.
    let pd = tape.detach(p);
    let h = tape.entropy(pd)?;
    let w = prob::entropy_weights(tape.tensor(h))?;
    let conf = tape.confusion(p, &w)?;
    tape.confusion_loss(conf, TRADE_OFF)
}
