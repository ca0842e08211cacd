//! Recorders of the outer product with a constant (`ops::outer`) and of the product with a
//! constant (`ops::mul_const`); their backward rules are in `backward.rs`.

use super::{Op, Tape, Var};
use crate::ops::{mul_const, outer};
use crate::{Result, Tensor};

impl Tape {
    /// The flattened outer product `y[b, c·dim + j] = g[b, c] · f[b, j]` of `f` [rows, dim]
    /// with constant probabilities `g` [rows, classes] -> [rows, classes·dim].
    pub fn outer_const(&mut self, f: Var, g: &Tensor) -> Result<Var> {
        let y = outer::outer(self.tensor(f), g)?;
        if !self.requires_grad(f) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Outer { g: g.clone() }, f, y))
    }

    /// `x ⊙ c` with a constant `c` of `x`'s shape.
    pub fn mul_const(&mut self, x: Var, c: &Tensor) -> Result<Var> {
        let y = mul_const::mul_const(self.tensor(x), c)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::MulConst { c: c.clone() }, x, y))
    }
}
