//! Recorders that view or copy a value without computing on it: reshape, detach, a row range.

use super::{Op, Tape, Var};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

impl Tape {
    /// View `x` with another shape (no copy).
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let y = self.tensor(x).reshape(shape)?;
        Ok(self.join(self.requires_grad(x), x, y, || Op::Reshape))
    }

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
        let y = Tensor::uninit(xt.gpu(), &[count, cols], DType::F32)?;
        let row_bytes = cols as u64 * 4;
        xt.gpu().copy(
            xt.buffer(),
            start as u64 * row_bytes,
            y.buffer(),
            0,
            count as u64 * row_bytes,
        )?;
        Ok(self.join(self.requires_grad(x), x, y, || Op::Rows { start, rows }))
    }
}
