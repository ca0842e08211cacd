//! Recorders of max pooling and global average pooling (`ops::pool`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::pool;

impl Tape {
    /// Max pooling with a `k`x`k` window and `stride` (no padding).
    pub fn max_pool(&mut self, x: Var, k: usize, stride: usize) -> Result<Var> {
        self.max_pool_padded(x, k, stride, 0)
    }

    /// Max pooling with `pad` rows and columns of −∞ on every side (ResNet's stem: 3, 2, 1).
    pub fn max_pool_padded(&mut self, x: Var, k: usize, stride: usize, pad: usize) -> Result<Var> {
        let (y, argmax) = pool::max_pool2d_padded(self.tensor(x), k, stride, pad)?;
        let x_shape = self.tensor(x).shape().to_vec();
        let op = || Op::MaxPool {
            argmax,
            x_shape,
            k,
            stride,
            pad,
        };
        Ok(self.join(self.requires_grad(x), x, y, op))
    }

    /// Global average pooling [N, C, H, W] -> [N, C].
    pub fn global_avg_pool(&mut self, x: Var) -> Result<Var> {
        let y = pool::global_avg_pool(self.tensor(x))?;
        let x_shape = self.tensor(x).shape().to_vec();
        Ok(
            self.join(self.requires_grad(x), x, y, || Op::GlobalAvgPool {
                x_shape,
            }),
        )
    }
}
