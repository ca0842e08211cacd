//! Recorder of the product with a constant (`ops::mul_const`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::mul_const;
use crate::tensor::Tensor;

impl Tape {
    /// `x ⊙ c` with a constant `c` of `x`'s shape.
    pub fn mul_const(&mut self, x: Var, c: &Tensor) -> Result<Var> {
        let y = mul_const::mul_const(self.tensor(x), c)?;
        Ok(self.join(self.requires_grad(x), x, y, || Op::MulConst {
            c: c.clone(),
        }))
    }
}
