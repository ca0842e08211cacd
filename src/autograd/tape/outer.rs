//! Recorder of the outer product with a constant (`ops::outer`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::outer;
use crate::tensor::Tensor;

impl Tape {
    /// The flattened outer product `y[b, c·dim + j] = g[b, c] · f[b, j]` of `f` [rows, dim]
    /// with constant probabilities `g` [rows, classes] -> [rows, classes·dim].
    pub fn outer_const(&mut self, f: Var, g: &Tensor) -> Result<Var> {
        let y = outer::outer(self.tensor(f), g)?;
        Ok(self.join(self.requires_grad(f), f, y, || Op::Outer { g: g.clone() }))
    }
}
