//! Recorder of the dense layer (`ops::matmul`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::matmul;

impl Tape {
    /// Dense layer `act(x·Wᵀ + b)` with the matmul variant chosen for the adapter.
    pub fn dense(&mut self, x: Var, w: Var, b: Option<Var>, relu: bool) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let flops = 2.0 * (xt.numel() * self.tensor(w).numel() / xt.dim_back(0).max(1)) as f64;
        let variant = matmul::Variant::for_dense(xt.gpu(), flops);
        let bias = b.map(|b| self.tensor(b));
        let y = matmul::dense_forward(&xt, self.tensor(w), bias, relu, variant)?;
        let (gx, gw) = (self.requires_grad(x), self.requires_grad(w));
        let needed = gx || gw || b.is_some_and(|b| self.requires_grad(b));
        // dW needs x; dX needs W: save only what the needed gradients use.
        let saved_x = gw.then(|| xt.clone());
        let saved_w = gx.then(|| self.tensor(w).clone());
        let op = || Op::Dense {
            w,
            b,
            relu,
            saved_x,
            saved_w,
        };
        Ok(self.join(needed, x, y, op))
    }
}
