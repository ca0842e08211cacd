//! Recorders of the probability ops (`ops::prob`): softmax with a temperature, entropy.

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::prob;

impl Tape {
    /// `softmax(x / temperature)` per row of `x` [rows, classes].
    pub fn softmax_t(&mut self, x: Var, temperature: f32) -> Result<Var> {
        let y = prob::softmax_t(self.tensor(x), temperature)?;
        Ok(self.join(self.requires_grad(x), x, y, || Op::SoftmaxT { temperature }))
    }

    /// Per-row entropy `-Σ p·ln(p + 1e-5)` of probabilities [rows, classes] -> [rows].
    pub fn entropy(&mut self, p: Var) -> Result<Var> {
        let h = prob::entropy(self.tensor(p))?;
        Ok(self.join(self.requires_grad(p), p, h, || Op::Entropy))
    }
}
