//! Recorder of the information-maximisation loss (`ops::info_max`); its backward rule is in
//! `backward.rs`.

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::info_max;

impl Tape {
    /// `w_ent·(1/rows)·Σ_i H(softmax(z_i)) - w_div·H(mean_i softmax(z_i))` of logits `z`
    /// [rows, classes], `H(q) = -Σ q·ln(q + 1e-5)`: a `[1]` loss (a root, or the input of
    /// another op).
    pub fn info_max(&mut self, z: Var, w_ent: f32, w_div: f32) -> Result<Var> {
        let out = info_max::forward(self.tensor(z), w_ent, w_div)?;
        let op = || Op::InfoMax {
            probs: out.probs,
            mean: out.mean,
            w_ent,
            w_div,
        };
        Ok(self.join(self.requires_grad(z), z, out.loss, op))
    }
}
