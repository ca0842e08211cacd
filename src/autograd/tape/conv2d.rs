//! Recorders of the convolution and of the convolution with its 2x2 max-pool (`ops::conv2d`).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::conv2d::{self, Spec};
use crate::tensor::Tensor;

impl Tape {
    /// 2-D convolution `act(conv(x, W) + b)` with the variant chosen for the adapter.
    pub fn conv2d(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        relu: bool,
        spec: Spec,
    ) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let variant = conv2d::Variant::default_for(xt.gpu());
        let bias = b.map(|b| self.tensor(b));
        let y = conv2d::forward(&xt, self.tensor(w), bias, relu, spec, variant)?;
        let (needed, saved_x, saved_w) = self.saved_operands(x, &xt, w, b);
        let op = || Op::Conv2d {
            w,
            b,
            relu,
            spec,
            saved_x,
            saved_w,
            x_shape: xt.shape().to_vec(),
        };
        Ok(self.join(needed, x, y, op))
    }

    /// `maxpool2x2(relu(conv(x, W) + b))` in one op (`ops::conv2d::pooled`): the pooling runs
    /// in the convolution's store where the variant allows, and one node is recorded.
    pub fn conv2d_pool(&mut self, x: Var, w: Var, b: Option<Var>, spec: Spec) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let variant = conv2d::Variant::default_for(xt.gpu());
        let bias = b.map(|b| self.tensor(b));
        let (y, argmax) = conv2d::pooled::forward(&xt, self.tensor(w), bias, spec, variant)?;
        let (needed, saved_x, saved_w) = self.saved_operands(x, &xt, w, b);
        let w_shape = self.tensor(w).shape().to_vec();
        let g = conv2d::Geometry::new(xt.shape(), &w_shape, spec, "conv2d + pool")?;
        let op = || Op::ConvPool {
            w,
            b,
            spec,
            saved_x,
            saved_w,
            x_shape: xt.shape().to_vec(),
            z_shape: g.y_shape().to_vec(),
            argmax,
        };
        Ok(self.join(needed, x, y, op))
    }

    /// Whether a convolution of `x` (tensor `xt`) with `w` and `b` is recorded, and the
    /// operands its needed gradients read: x for dW, W for dX.
    fn saved_operands(
        &self,
        x: Var,
        xt: &Tensor,
        w: Var,
        b: Option<Var>,
    ) -> (bool, Option<Tensor>, Option<Tensor>) {
        let (gx, gw) = (self.requires_grad(x), self.requires_grad(w));
        let needed = gx || gw || b.is_some_and(|b| self.requires_grad(b));
        let saved_x = gw.then(|| xt.clone());
        let saved_w = gx.then(|| self.tensor(w).clone());
        (needed, saved_x, saved_w)
    }
}
