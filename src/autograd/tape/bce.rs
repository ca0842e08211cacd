//! Recorders of the binary cross-entropy with logits, plain and weighted (`ops::bce`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::bce;
use crate::tensor::Tensor;

impl Tape {
    /// Mean binary cross-entropy with logits, times `scale`.
    pub fn bce(&mut self, logits: Var, targets: &Tensor, scale: f32) -> Result<Var> {
        let loss = bce::forward(self.tensor(logits), targets, scale)?;
        let op = || Op::Bce {
            targets: targets.clone(),
            scale,
        };
        Ok(self.join(self.requires_grad(logits), logits, loss, op))
    }

    /// `scale · Σ_i w_i·ℓ_i / N`: binary cross-entropy with logits and constant per-sample
    /// `weights` (N values), mean over all N samples.
    pub fn bce_weighted(
        &mut self,
        logits: Var,
        targets: &Tensor,
        weights: &Tensor,
        scale: f32,
    ) -> Result<Var> {
        let loss = bce::weighted_forward(self.tensor(logits), targets, weights, scale)?;
        let op = || Op::BceWeighted {
            targets: targets.clone(),
            weights: weights.clone(),
            scale,
        };
        Ok(self.join(self.requires_grad(logits), logits, loss, op))
    }
}
