//! Recorder of weight normalisation (`ops::weight_norm`); its backward rule is in
//! `backward.rs` with every other op's.

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::weight_norm;

impl Tape {
    /// `g·V/‖V‖` per row of the direction `v` [rows, cols] with lengths `g` (rows values): a
    /// weight-normalised dense layer's weight.
    pub fn weight_norm(&mut self, v: Var, g: Var) -> Result<Var> {
        let w = weight_norm::forward(self.tensor(v), self.tensor(g))?;
        let needed = self.requires_grad(v) || self.requires_grad(g);
        Ok(self.join(needed, v, w, || Op::WeightNorm { g }))
    }
}
