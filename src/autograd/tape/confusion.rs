//! Recorders of the class-confusion matrix and its off-diagonal loss (`ops::confusion`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::confusion;
use crate::tensor::Tensor;

impl Tape {
    /// Class-confusion matrix `(P·w)ᵀ·P` [classes, classes] of probabilities `p` with constant
    /// per-sample `weights` [rows].
    pub fn confusion(&mut self, p: Var, weights: &Tensor) -> Result<Var> {
        let c = confusion::matrix(self.tensor(p), weights)?;
        let op = || Op::Confusion {
            weights: weights.clone(),
        };
        Ok(self.join(self.requires_grad(p), p, c, op))
    }

    /// Off-diagonal loss `scale · (ΣC̃ - trace C̃) / K` of a confusion matrix (rows normalised).
    pub fn confusion_loss(&mut self, c: Var, scale: f32) -> Result<Var> {
        let loss = confusion::loss(self.tensor(c), scale)?;
        Ok(
            self.join(self.requires_grad(c), c, loss, || Op::ConfusionLoss {
                scale,
            }),
        )
    }
}
