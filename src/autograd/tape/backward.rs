//! The backward rule of every op on the tape: one `match` over the closed `Op` enum.

use super::{ensure_root, Node, Op, Tape};
use crate::error::{Error, Result};
use crate::ops::conv2d::pooled::POOL;
use crate::ops::{
    batch_norm, bce, complement_xent, confusion, conv2d, elementwise as ew, info_max, matmul, mmd,
    mul_const, outer, pool, prob, softmax_xent, weight_norm,
};
use crate::tensor::Tensor;

impl Tape {
    /// The gradient `node` passes to its input (None when the input needs none), given the
    /// upstream gradient `dy` (None only for a root). Weight and bias gradients go straight
    /// into `grads`.
    pub(super) fn node_backward(
        &mut self,
        node: Node,
        dy: Option<Tensor>,
        is_root: bool,
        needs_x: bool,
        grads: &mut [Option<Tensor>],
    ) -> Result<Option<Tensor>> {
        let out = node.output.0;
        Ok(match node.op {
            Op::SoftmaxXent {
                labels,
                weights,
                scale,
                smoothing,
            } => {
                ensure_root(is_root, "softmax cross-entropy")?;
                Some(softmax_xent::backward_smoothed(
                    self.tensor(node.input),
                    &labels,
                    &weights,
                    scale,
                    smoothing,
                )?)
            }
            Op::Bce { targets, scale } => {
                ensure_root(is_root, "binary cross-entropy")?;
                Some(bce::backward(self.tensor(node.input), &targets, scale)?)
            }
            Op::ConfusionLoss { scale } => {
                ensure_root(is_root, "class confusion loss")?;
                Some(confusion::loss_backward(self.tensor(node.input), scale)?)
            }
            Op::MkMmd {
                index,
                mu,
                alphas,
                scale,
            } => {
                ensure_root(is_root, "MK-MMD loss")?;
                let d = self.tensor(node.input);
                Some(mmd::loss_backward(d, &index, &mu, &alphas, scale)?)
            }
            Op::SqDistances => {
                let dy = dy.expect("non-root has a gradient");
                Some(mmd::sq_distances_backward(self.tensor(node.input), &dy)?)
            }
            Op::Confusion { weights } => {
                let dy = dy.expect("non-root has a gradient");
                Some(confusion::matrix_backward(
                    self.tensor(node.input),
                    &weights,
                    &dy,
                )?)
            }
            Op::SoftmaxT { temperature } => {
                let dy = dy.expect("non-root has a gradient");
                let y = &self.values[out].tensor;
                Some(prob::softmax_t_backward(y, &dy, temperature)?)
            }
            Op::Entropy => {
                let dy = dy.expect("non-root has a gradient");
                Some(prob::entropy_backward(self.tensor(node.input), &dy)?)
            }
            Op::InfoMax {
                probs,
                mean,
                w_ent,
                w_div,
            } => {
                // A root's upstream gradient is 1; a loss that also feeds another op adds
                // what flows back from it.
                let root = is_root
                    .then(|| info_max::backward_root(&probs, &mean, w_ent, w_div))
                    .transpose()?;
                let up = dy
                    .map(|dl| info_max::backward(&probs, &mean, &dl, w_ent, w_div))
                    .transpose()?;
                match (root, up) {
                    (Some(a), Some(b)) => {
                        ew::accumulate(&a, &b)?;
                        Some(a)
                    }
                    (a, b) => a.or(b),
                }
            }
            Op::Rows { start, rows } => {
                let dy = dy.expect("non-root has a gradient");
                let [count, cols] = *dy.shape() else {
                    return Err(Error::runtime("rows: the upstream gradient is not 2-D"));
                };
                let dx = Tensor::zeros(dy.gpu(), &[rows, cols])?;
                let row_bytes = cols as u64 * 4;
                dy.gpu().copy(
                    dy.buffer(),
                    0,
                    dx.buffer(),
                    start as u64 * row_bytes,
                    count as u64 * row_bytes,
                )?;
                Some(dx)
            }
            Op::Conv2d {
                w,
                b,
                relu,
                spec,
                saved_x,
                saved_w,
                x_shape,
            } => {
                let mut dy = dy.expect("non-root has a gradient");
                if relu {
                    dy = ew::relu_grad(&dy, &self.values[out].tensor)?;
                }
                let saved = (saved_x, saved_w);
                let b = b.map(|b| (b, &dy));
                self.conv_backward(&dy, w, b, spec, saved, &x_shape, needs_x, grads)?
            }
            Op::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                batch_stats,
                relu,
                saved_x,
            } => {
                let dy = dy.expect("non-root has a gradient");
                let (g, b) = (self.tensor(gamma).clone(), self.tensor(beta).clone());
                // The ReLU's mask is recomputed from x inside the BN kernels.
                let (dx, dg, db) = batch_norm::backward(
                    &dy,
                    &saved_x,
                    &mean,
                    &var,
                    &g,
                    &b,
                    batch_norm::EPS,
                    batch_stats,
                    relu,
                )?;
                if self.values[gamma.0].requires_grad {
                    self.accumulate(grads, gamma, dg)?;
                }
                if self.values[beta.0].requires_grad {
                    self.accumulate(grads, beta, db)?;
                }
                needs_x.then_some(dx)
            }
            Op::Add { other, relu } => {
                let mut g = dy.expect("non-root has a gradient");
                if relu {
                    g = ew::relu_grad(&g, &self.values[out].tensor)?;
                }
                if self.values[other.0].requires_grad {
                    // The same tensor for both inputs: `accumulate` sums into a shared slot
                    // out of place, so neither sees the other's later additions.
                    self.accumulate(grads, other, g.clone())?;
                }
                needs_x.then_some(g)
            }
            Op::ConvPool {
                w,
                b,
                spec,
                saved_x,
                saved_w,
                x_shape,
                z_shape,
                argmax,
            } => {
                let dy = dy.expect("non-root has a gradient");
                let y = &self.values[out].tensor;
                // On CPU adapters the gradient kernels can read the pooled gradient directly.
                let variant = conv2d::Variant::default_for(dy.gpu());
                let w_shape = self.tensor(w).shape().to_vec();
                let w_dx = saved_w.as_ref().filter(|_| needs_x);
                if let Some(p) = conv2d::pooled::backward_from_pooled(
                    &x_shape,
                    &w_shape,
                    saved_x.as_ref(),
                    w_dx,
                    &dy,
                    y,
                    &argmax,
                    spec,
                    variant,
                )? {
                    if let Some(dw) = p.dw {
                        self.accumulate(grads, w, dw)?;
                    }
                    if let Some(b) = b.filter(|b| self.values[b.0].requires_grad) {
                        let db = ew::bias_grad(&p.masked)?;
                        self.accumulate(grads, b, db)?;
                    }
                    return Ok(p.dx);
                }
                // Pool and ReLU gradient in one pass; the output's sign is the ReLU mask.
                let (dz, masked) = crate::ops::pool_relu::max_pool2d_relu_backward_masked(
                    &dy, y, &argmax, &z_shape, POOL, POOL,
                )?;
                drop(argmax);
                let saved = (saved_x, saved_w);
                // The bias gradient sums the masked pooled gradient (a quarter of dZ's size).
                let b = b.map(|b| (b, &masked));
                self.conv_backward(&dz, w, b, spec, saved, &x_shape, needs_x, grads)?
            }
            Op::MaxPool {
                argmax,
                x_shape,
                k,
                stride,
                pad,
            } => {
                let dy = dy.expect("non-root has a gradient");
                Some(pool::max_pool2d_backward_padded(
                    &dy, &argmax, &x_shape, k, stride, pad,
                )?)
            }
            Op::GlobalAvgPool { x_shape } => {
                let dy = dy.expect("non-root has a gradient");
                Some(pool::global_avg_pool_backward(&dy, &x_shape)?)
            }
            Op::Relu => {
                let dy = dy.expect("non-root has a gradient");
                Some(ew::relu_grad(&dy, &self.values[out].tensor)?)
            }
            Op::Reshape => {
                let dy = dy.expect("non-root has a gradient");
                Some(dy.reshape(self.tensor(node.input).shape())?)
            }
            Op::Dropout { rate, seed } => Some(ew::dropout(&dy.expect("gradient"), rate, seed)?),
            Op::Chunked { parts } => {
                self.chunked_backward(parts, &dy.expect("gradient"), needs_x)?
            }
            Op::GradReverse { lambda } => Some(ew::scale(&dy.expect("gradient"), -lambda.get())?),
            Op::Dense {
                w,
                b,
                relu,
                saved_x,
                saved_w,
            } => {
                let mut dy = dy.expect("non-root has a gradient");
                if relu {
                    dy = ew::relu_grad(&dy, &self.values[out].tensor)?;
                }
                let flops = 2.0 * (dy.shape()[0] * self.tensor(w).numel()) as f64;
                let variant = matmul::Variant::for_dense(dy.gpu(), flops);
                if let Some(xt) = saved_x {
                    let dw = matmul::dense_backward_weight(&dy, &xt, variant)?;
                    self.accumulate(grads, w, dw)?;
                }
                if let Some(b) = b.filter(|b| self.values[b.0].requires_grad) {
                    let db = ew::bias_grad(&dy)?;
                    self.accumulate(grads, b, db)?;
                }
                match saved_w {
                    Some(wt) if needs_x => Some(matmul::dense_backward_input(&dy, &wt, variant)?),
                    _ => None,
                }
            }
            Op::WeightNorm { g } => {
                let dy = dy.expect("non-root has a gradient");
                let v = self.tensor(node.input).clone();
                let (dv, dg) = weight_norm::backward(&v, self.tensor(g), &dy)?;
                if self.values[g.0].requires_grad {
                    self.accumulate(grads, g, dg)?;
                }
                needs_x.then_some(dv)
            }
            Op::Outer { g } => {
                let dy = dy.expect("non-root has a gradient");
                Some(outer::outer_backward(&g, &dy)?)
            }
            Op::MulConst { c } => {
                let dy = dy.expect("non-root has a gradient");
                Some(mul_const::mul_const_backward(&dy, &c)?)
            }
            Op::BceWeighted {
                targets,
                weights,
                scale,
            } => {
                ensure_root(is_root, "weighted binary cross-entropy")?;
                let x = self.tensor(node.input);
                Some(bce::weighted_backward(x, &targets, &weights, scale)?)
            }
            Op::ComplementXent {
                labels,
                weights,
                scale,
            } => {
                ensure_root(is_root, "complement cross-entropy")?;
                let z = self.tensor(node.input);
                Some(complement_xent::backward(z, &labels, &weights, scale)?)
            }
        })
    }

    /// dW, db and (when wanted) dX of a convolution, from dZ at its output (after the ReLU's
    /// and any pooling's gradient).
    #[allow(clippy::too_many_arguments)] // one convolution node's saved tensors and flags
    fn conv_backward(
        &mut self,
        dz: &Tensor,
        w: super::Var,
        // The bias and the tensor its gradient sums (dZ, or an equivalent smaller one).
        b: Option<(super::Var, &Tensor)>,
        spec: conv2d::Spec,
        (saved_x, saved_w): (Option<Tensor>, Option<Tensor>),
        x_shape: &[usize],
        needs_x: bool,
        grads: &mut [Option<Tensor>],
    ) -> Result<Option<Tensor>> {
        let variant = conv2d::Variant::default_for(dz.gpu());
        if let Some(xt) = saved_x {
            let wt = self.tensor(w);
            let dw = conv2d::backward_weight(dz, &xt, wt.shape(), spec, variant)?;
            self.accumulate(grads, w, dw)?;
        }
        if let Some((b, src)) = b.filter(|(b, _)| self.values[b.0].requires_grad) {
            let db = ew::bias_grad(src)?;
            self.accumulate(grads, b, db)?;
        }
        Ok(match saved_w {
            Some(wt) if needs_x => Some(conv2d::backward_input(dz, &wt, x_shape, spec, variant)?),
            _ => None,
        })
    }
}
