//! Recorders of the element-wise ops (`ops::elementwise`): the residual add, ReLU, dropout.

use super::{Op, Tape, Var};
use crate::error::{Error, Result};
use crate::ops::elementwise as ew;

impl Tape {
    /// `a + b` element-wise (same shapes), then ReLU if `relu`: a residual block's join. The
    /// gradient fans in to both.
    pub fn add(&mut self, a: Var, b: Var, relu: bool) -> Result<Var> {
        let (ta, tb) = (self.tensor(a), self.tensor(b));
        if ta.shape() != tb.shape() {
            return Err(Error::input(format!(
                "add: shapes differ, {:?} and {:?}",
                ta.shape(),
                tb.shape()
            )));
        }
        let y = ew::add(ta, tb, relu)?;
        let needed = self.requires_grad(a) || self.requires_grad(b);
        Ok(self.join(needed, a, y, || Op::Add { other: b, relu }))
    }

    /// `max(x, 0)` element-wise.
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        let y = ew::bias_act(self.tensor(x), None, true)?;
        Ok(self.join(self.requires_grad(x), x, y, || Op::Relu))
    }

    /// Dropout in training; call it only when training (evaluation skips the layer).
    pub fn dropout(&mut self, x: Var, rate: f32, seed: u32) -> Result<Var> {
        let y = ew::dropout(self.tensor(x), rate, seed)?;
        Ok(self.join(self.requires_grad(x), x, y, || Op::Dropout { rate, seed }))
    }
}
