//! Recorders of the pairwise squared distances and the MK-MMD loss (`ops::mmd`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::mmd;
use crate::tensor::Tensor;

impl Tape {
    /// Pairwise squared distances [n, n] of the rows of `x` [n, dim].
    pub fn sq_distances(&mut self, x: Var) -> Result<Var> {
        let d = mmd::sq_distances(self.tensor(x))?;
        Ok(self.join(self.requires_grad(x), x, d, || Op::SqDistances))
    }

    /// MK-MMD loss `scale · Σ_ij M_ij Σ_k exp(-D_ij / (2 α_k μ))` of distances `d` [n, n] with
    /// the constant index matrix `index` [n, n]; μ = mean(D) is detached.
    pub fn mk_mmd(&mut self, d: Var, index: &Tensor, alphas: &[f32], scale: f32) -> Result<Var> {
        let (loss, mu) = mmd::loss(self.tensor(d), index, alphas, scale)?;
        let op = || Op::MkMmd {
            index: index.clone(),
            mu,
            alphas: alphas.to_vec(),
            scale,
        };
        Ok(self.join(self.requires_grad(d), d, loss, op))
    }
}
