//! Recorders of the softmax cross-entropy (`ops::softmax_xent`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::softmax_xent;
use crate::tensor::Tensor;

impl Tape {
    /// Mean softmax cross-entropy of `logits` [B, C] over samples with weight > 0, times `scale`.
    pub fn softmax_xent(
        &mut self,
        logits: Var,
        labels: &Tensor,
        weights: &Tensor,
        scale: f32,
    ) -> Result<Var> {
        self.softmax_xent_smoothed(logits, labels, weights, scale, 0.0)
    }

    /// [`Tape::softmax_xent`] against label-smoothed targets `(1-ε)·onehot(y) + ε/C`.
    pub fn softmax_xent_smoothed(
        &mut self,
        logits: Var,
        labels: &Tensor,
        weights: &Tensor,
        scale: f32,
        smoothing: f32,
    ) -> Result<Var> {
        let z = self.tensor(logits);
        let loss = softmax_xent::forward_smoothed(z, labels, weights, scale, smoothing)?;
        let op = || Op::SoftmaxXent {
            labels: labels.clone(),
            weights: weights.clone(),
            scale,
            smoothing,
        };
        Ok(self.join(self.requires_grad(logits), logits, loss, op))
    }
}
