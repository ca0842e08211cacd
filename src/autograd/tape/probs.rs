//! Recorders of the probability ops the adaptation methods build their losses from (rows,
//! detach, softmax with temperature, entropy, class confusion and its loss, pairwise distances
//! and the MK-MMD loss); their backward
//! rules are in `backward.rs` with every other op's.

use super::{Op, Tape, Var};
use crate::ops::{confusion, mmd, prob};
use crate::{Error, Result, Tensor};

impl Tape {
    /// `x` as a constant: the same buffer, no gradient flows back through it.
    pub fn detach(&mut self, x: Var) -> Var {
        let t = self.tensor(x).clone();
        self.push(t, false, None)
    }

    /// Rows `start..start + count` of `x` [rows, cols] (copied; the gradient of the other rows
    /// is zero).
    pub fn rows(&mut self, x: Var, start: usize, count: usize) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let [rows, cols] = *xt.shape() else {
            return Err(Error::input(format!(
                "rows: expected [rows, cols], got {:?}",
                xt.shape()
            )));
        };
        if count == 0 || start + count > rows {
            return Err(Error::input(format!(
                "rows {start}..{} of a {rows}-row value",
                start + count
            )));
        }
        let y = Tensor::uninit(xt.gpu(), &[count, cols], crate::DType::F32)?;
        let row_bytes = cols as u64 * 4;
        xt.gpu().copy(
            xt.buffer(),
            start as u64 * row_bytes,
            y.buffer(),
            0,
            count as u64 * row_bytes,
        )?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Rows { start, rows }, x, y))
    }

    /// `softmax(x / temperature)` per row of `x` [rows, classes].
    pub fn softmax_t(&mut self, x: Var, temperature: f32) -> Result<Var> {
        let y = prob::softmax_t(self.tensor(x), temperature)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::SoftmaxT { temperature }, x, y))
    }

    /// Per-row entropy `-Σ p·ln(p + 1e-5)` of probabilities [rows, classes] -> [rows].
    pub fn entropy(&mut self, p: Var) -> Result<Var> {
        let h = prob::entropy(self.tensor(p))?;
        if !self.requires_grad(p) {
            return Ok(self.constant(h));
        }
        Ok(self.record(Op::Entropy, p, h))
    }

    /// Class-confusion matrix `(P·w)ᵀ·P` [classes, classes] of probabilities `p` with constant
    /// per-sample `weights` [rows].
    pub fn confusion(&mut self, p: Var, weights: &Tensor) -> Result<Var> {
        let c = confusion::matrix(self.tensor(p), weights)?;
        if !self.requires_grad(p) {
            return Ok(self.constant(c));
        }
        let op = Op::Confusion {
            weights: weights.clone(),
        };
        Ok(self.record(op, p, c))
    }

    /// Off-diagonal loss `scale · (ΣC̃ - trace C̃) / K` of a confusion matrix (rows normalised).
    pub fn confusion_loss(&mut self, c: Var, scale: f32) -> Result<Var> {
        let loss = confusion::loss(self.tensor(c), scale)?;
        if !self.requires_grad(c) {
            return Ok(self.constant(loss));
        }
        Ok(self.record(Op::ConfusionLoss { scale }, c, loss))
    }

    /// Pairwise squared distances [n, n] of the rows of `x` [n, dim].
    pub fn sq_distances(&mut self, x: Var) -> Result<Var> {
        let d = mmd::sq_distances(self.tensor(x))?;
        if !self.requires_grad(x) {
            return Ok(self.constant(d));
        }
        Ok(self.record(Op::SqDistances, x, d))
    }

    /// MK-MMD loss `scale · Σ_ij M_ij Σ_k exp(-D_ij / (2 α_k μ))` of distances `d` [n, n] with
    /// the constant index matrix `index` [n, n]; μ = mean(D) is detached.
    pub fn mk_mmd(&mut self, d: Var, index: &Tensor, alphas: &[f32], scale: f32) -> Result<Var> {
        let (loss, mu) = mmd::loss(self.tensor(d), index, alphas, scale)?;
        if !self.requires_grad(d) {
            return Ok(self.constant(loss));
        }
        let op = Op::MkMmd {
            index: index.clone(),
            mu,
            alphas: alphas.to_vec(),
            scale,
        };
        Ok(self.record(op, d, loss))
    }
}
