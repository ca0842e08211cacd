//! Recorders of CDAN's ops (the multilinear map's outer product, the product with a constant,
//! the weighted binary cross-entropy); their backward rules are in `backward.rs`.

use super::{Op, Tape, Var};
use crate::ops::{bce, cdan};
use crate::{Result, Tensor};

impl Tape {
    /// The flattened outer product `y[b, c·dim + j] = g[b, c] · f[b, j]` of `f` [rows, dim]
    /// with constant probabilities `g` [rows, classes] -> [rows, classes·dim].
    pub fn outer_const(&mut self, f: Var, g: &Tensor) -> Result<Var> {
        let y = cdan::outer(self.tensor(f), g)?;
        if !self.requires_grad(f) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Outer { g: g.clone() }, f, y))
    }

    /// `x ⊙ c` with a constant `c` of `x`'s shape.
    pub fn mul_const(&mut self, x: Var, c: &Tensor) -> Result<Var> {
        let y = cdan::mul_const(self.tensor(x), c)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::MulConst { c: c.clone() }, x, y))
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
        if !self.requires_grad(logits) {
            return Ok(self.constant(loss));
        }
        let op = Op::BceWeighted {
            targets: targets.clone(),
            weights: weights.clone(),
            scale,
        };
        Ok(self.record(op, logits, loss))
    }
}
