//! Recorder of the complement cross-entropy (`ops::complement_xent`); its backward rule is in
//! `backward.rs`.

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::complement_xent;
use crate::tensor::Tensor;

impl Tape {
    /// `scale · Σ_i w_i·(-ln(min(1 - softmax(z_i)[y_i] + 1e-6, 1))) / max(Σ w, 1)` of `logits`
    /// [B, C] with constant `labels` [B] (u32) and per-sample `weights` [B]: a loss root.
    pub fn complement_xent(
        &mut self,
        logits: Var,
        labels: &Tensor,
        weights: &Tensor,
        scale: f32,
    ) -> Result<Var> {
        let loss = complement_xent::forward(self.tensor(logits), labels, weights, scale)?;
        let op = || Op::ComplementXent {
            labels: labels.clone(),
            weights: weights.clone(),
            scale,
        };
        Ok(self.join(self.requires_grad(logits), logits, loss, op))
    }
}
