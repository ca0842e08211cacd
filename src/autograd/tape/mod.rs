//! The tape: records each op of a forward pass in execution order; `backward` walks it in
//! reverse with ONE `match` over a closed `Op` enum, accumulating fan-in gradients and freeing
//! each saved tensor as soon as it has been used.
//!
//! A value that depends on no trainable parameter does not require a gradient, and an op whose
//! inputs all do not require gradients is not recorded at all: a frozen backbone costs exactly
//! its forward kernels, and frozen weights never get a weight-gradient kernel.

use super::params::{ParamId, Params};
use crate::ops::conv2d::{self, Spec};
use crate::ops::{bce, elementwise as ew, matmul, pool, softmax_xent};
use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

mod backward;
mod batch_norm;
mod chunked;
mod complement_xent;
mod info_max;
mod lambda;
mod op;
mod outer;
mod probs;
mod weight_norm;

use op::Op;

pub use batch_norm::BnStats;
pub use lambda::Lambda;

/// What a backward pass returns: each trainable parameter's gradient, and the gradient of
/// each input asked for (None where nothing flowed into it).
pub type Gradients = (BTreeMap<ParamId, Tensor>, Vec<Option<Tensor>>);

/// A value on the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var(usize);

struct Value {
    tensor: Tensor,
    requires_grad: bool,
    param: Option<ParamId>,
}

struct Node {
    op: Op,
    input: Var,
    output: Var,
    /// The device's dispatch label when the node was recorded (the layer); its backward
    /// dispatches carry `<label> (bwd)`.
    label: Option<Arc<str>>,
}

/// Counts of what the tape did, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapeStats {
    /// Ops recorded for backward.
    pub recorded: usize,
    /// Ops run without recording (no input needed a gradient).
    pub skipped: usize,
}

/// Records a forward pass and runs its backward.
pub struct Tape {
    values: Vec<Value>,
    nodes: Vec<Node>,
    grad_enabled: bool,
    stats: TapeStats,
    /// Parameter gradients that chunked sub-graphs returned during `backward_to`.
    chunk_param_grads: BTreeMap<ParamId, Tensor>,
}

impl Tape {
    /// A tape that records (training).
    pub fn new() -> Self {
        Tape {
            values: Vec::new(),
            nodes: Vec::new(),
            grad_enabled: true,
            stats: TapeStats::default(),
            chunk_param_grads: BTreeMap::new(),
        }
    }

    /// A tape that records nothing and keeps no activations (evaluation, prediction).
    pub fn no_grad() -> Self {
        Tape {
            grad_enabled: false,
            ..Tape::new()
        }
    }

    /// What the tape has recorded and skipped so far.
    pub fn stats(&self) -> TapeStats {
        self.stats
    }

    /// The tensor behind a value.
    pub fn tensor(&self, v: Var) -> &Tensor {
        &self.values[v.0].tensor
    }

    /// Whether `v` depends on a trainable parameter (and so needs a gradient).
    pub fn requires_grad(&self, v: Var) -> bool {
        self.values[v.0].requires_grad
    }

    fn push(&mut self, tensor: Tensor, requires_grad: bool, param: Option<ParamId>) -> Var {
        self.values.push(Value {
            tensor,
            requires_grad: requires_grad && self.grad_enabled,
            param,
        });
        Var(self.values.len() - 1)
    }

    /// Whether this tape records gradients (a training step), not [`Tape::no_grad`].
    pub fn records(&self) -> bool {
        self.grad_enabled
    }

    /// A constant input (images, features): never gets a gradient.
    pub fn input(&mut self, t: Tensor) -> Var {
        self.push(t, false, None)
    }

    /// An input whose gradient [`Tape::backward_to`] returns (checks of what flows into it).
    pub fn input_with_grad(&mut self, t: Tensor) -> Var {
        self.push(t, true, None)
    }

    /// A parameter: requires a gradient exactly when it is trainable.
    pub fn param(&mut self, params: &Params, id: ParamId) -> Var {
        let p = params.get(id);
        self.push(p.value.clone(), p.trainable, Some(id))
    }

    fn record(&mut self, op: Op, input: Var, out: Tensor) -> Var {
        let label = out.gpu().label();
        let output = self.push(out, true, None);
        self.nodes.push(Node {
            op,
            input,
            output,
            label,
        });
        self.stats.recorded += 1;
        output
    }

    fn constant(&mut self, out: Tensor) -> Var {
        self.stats.skipped += 1;
        self.push(out, false, None)
    }

    /// Dense layer `act(x·Wᵀ + b)` with the matmul variant chosen for the adapter.
    pub fn dense(&mut self, x: Var, w: Var, b: Option<Var>, relu: bool) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let flops = 2.0 * (xt.numel() * self.tensor(w).numel() / xt.dim_back(0).max(1)) as f64;
        let variant = matmul::Variant::for_dense(xt.gpu(), flops);
        let y = matmul::dense_forward(
            &xt,
            self.tensor(w),
            b.map(|b| self.tensor(b)),
            relu,
            variant,
        )?;
        let (gx, gw) = (self.requires_grad(x), self.requires_grad(w));
        let gb = b.is_some_and(|b| self.requires_grad(b));
        if !(gx || gw || gb) {
            return Ok(self.constant(y));
        }
        // dW needs x; dX needs W: save only what the needed gradients use.
        let saved_x = gw.then(|| xt.clone());
        let saved_w = gx.then(|| self.tensor(w).clone());
        Ok(self.record(
            Op::Dense {
                w,
                b,
                relu,
                saved_x,
                saved_w,
            },
            x,
            y,
        ))
    }

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
        let y = conv2d::forward(
            &xt,
            self.tensor(w),
            b.map(|b| self.tensor(b)),
            relu,
            spec,
            variant,
        )?;
        let (gx, gw) = (self.requires_grad(x), self.requires_grad(w));
        let gb = b.is_some_and(|b| self.requires_grad(b));
        if !(gx || gw || gb) {
            return Ok(self.constant(y));
        }
        let saved_x = gw.then(|| xt.clone());
        let saved_w = gx.then(|| self.tensor(w).clone());
        let x_shape = xt.shape().to_vec();
        Ok(self.record(
            Op::Conv2d {
                w,
                b,
                relu,
                spec,
                saved_x,
                saved_w,
                x_shape,
            },
            x,
            y,
        ))
    }

    /// `maxpool2x2(relu(conv(x, W) + b))` in one op (`ops::conv2d::pooled`): the pooling runs
    /// in the convolution's store where the variant allows, and one node is recorded.
    pub fn conv2d_pool(&mut self, x: Var, w: Var, b: Option<Var>, spec: Spec) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let variant = conv2d::Variant::default_for(xt.gpu());
        let (y, argmax) = conv2d::pooled::forward(
            &xt,
            self.tensor(w),
            b.map(|b| self.tensor(b)),
            spec,
            variant,
        )?;
        let (gx, gw) = (self.requires_grad(x), self.requires_grad(w));
        let gb = b.is_some_and(|b| self.requires_grad(b));
        if !(gx || gw || gb) {
            return Ok(self.constant(y));
        }
        let g = conv2d::Geometry::new(xt.shape(), self.tensor(w).shape(), spec, "conv2d + pool")?;
        let saved_x = gw.then(|| xt.clone());
        let saved_w = gx.then(|| self.tensor(w).clone());
        Ok(self.record(
            Op::ConvPool {
                w,
                b,
                spec,
                saved_x,
                saved_w,
                x_shape: xt.shape().to_vec(),
                z_shape: g.y_shape().to_vec(),
                argmax,
            },
            x,
            y,
        ))
    }

    /// Max pooling with a `k`x`k` window and `stride` (no padding).
    pub fn max_pool(&mut self, x: Var, k: usize, stride: usize) -> Result<Var> {
        self.max_pool_padded(x, k, stride, 0)
    }

    /// Max pooling with `pad` rows and columns of −∞ on every side (ResNet's stem: 3, 2, 1).
    pub fn max_pool_padded(&mut self, x: Var, k: usize, stride: usize, pad: usize) -> Result<Var> {
        let (y, argmax) = pool::max_pool2d_padded(self.tensor(x), k, stride, pad)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        let x_shape = self.tensor(x).shape().to_vec();
        Ok(self.record(
            Op::MaxPool {
                argmax,
                x_shape,
                k,
                stride,
                pad,
            },
            x,
            y,
        ))
    }

    /// Global average pooling [N, C, H, W] -> [N, C].
    pub fn global_avg_pool(&mut self, x: Var) -> Result<Var> {
        let y = pool::global_avg_pool(self.tensor(x))?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        let x_shape = self.tensor(x).shape().to_vec();
        Ok(self.record(Op::GlobalAvgPool { x_shape }, x, y))
    }

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
        if !(self.requires_grad(a) || self.requires_grad(b)) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Add { other: b, relu }, a, y))
    }

    /// `max(x, 0)` element-wise.
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        let y = ew::bias_act(self.tensor(x), None, true)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Relu, x, y))
    }

    /// View `x` with another shape (no copy).
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let y = self.tensor(x).reshape(shape)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Reshape, x, y))
    }

    /// Dropout in training; call it only when training (evaluation skips the layer).
    pub fn dropout(&mut self, x: Var, rate: f32, seed: u32) -> Result<Var> {
        let y = ew::dropout(self.tensor(x), rate, seed)?;
        if !self.requires_grad(x) {
            return Ok(self.constant(y));
        }
        Ok(self.record(Op::Dropout { rate, seed }, x, y))
    }

    /// Gradient reversal: the identity forward (same buffer, no copy), `-lambda·dy` backward.
    pub fn grad_reverse(&mut self, x: Var, lambda: &Lambda) -> Var {
        let y = self.tensor(x).clone();
        if !self.requires_grad(x) {
            return self.constant(y);
        }
        self.record(
            Op::GradReverse {
                lambda: lambda.clone(),
            },
            x,
            y,
        )
    }

    /// Mean softmax cross-entropy of `logits` [B, C] over samples with weight > 0, times `scale`.
    pub fn softmax_xent(
        &mut self,
        logits: Var,
        labels: &Tensor,
        weights: &Tensor,
        scale: f32,
    ) -> Result<Var> {
        self.softmax_xent_smoothed(logits, labels, weights, scale, 0.0)
    }

    /// [`Tape::softmax_xent`] against label-smoothed targets `(1-ε)·onehot(y) + ε/C`.
    pub fn softmax_xent_smoothed(
        &mut self,
        logits: Var,
        labels: &Tensor,
        weights: &Tensor,
        scale: f32,
        smoothing: f32,
    ) -> Result<Var> {
        let loss =
            softmax_xent::forward_smoothed(self.tensor(logits), labels, weights, scale, smoothing)?;
        if !self.requires_grad(logits) {
            return Ok(self.constant(loss));
        }
        let op = Op::SoftmaxXent {
            labels: labels.clone(),
            weights: weights.clone(),
            scale,
            smoothing,
        };
        Ok(self.record(op, logits, loss))
    }

    /// Mean binary cross-entropy with logits, times `scale`.
    pub fn bce(&mut self, logits: Var, targets: &Tensor, scale: f32) -> Result<Var> {
        let loss = bce::forward(self.tensor(logits), targets, scale)?;
        if !self.requires_grad(logits) {
            return Ok(self.constant(loss));
        }
        Ok(self.record(
            Op::Bce {
                targets: targets.clone(),
                scale,
            },
            logits,
            loss,
        ))
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

    /// Backpropagate from loss values (each a root with upstream gradient 1; use the loss
    /// `scale` for coefficients). Returns the gradient of every trainable parameter reached.
    /// Consumes the tape: saved tensors are freed as soon as they have been used.
    pub fn backward(self, losses: &[Var]) -> Result<BTreeMap<ParamId, Tensor>> {
        Ok(self.backward_to(losses, &[])?.0)
    }

    /// [`Tape::backward`], also returning the gradient of each of `inputs` (None where nothing
    /// flowed into it).
    pub fn backward_to(self, losses: &[Var], inputs: &[Var]) -> Result<Gradients> {
        self.backward_seeded(losses, Vec::new(), inputs)
    }

    /// [`Tape::backward_to`] from `losses` (upstream gradient 1) and from `seeds`: values
    /// whose upstream gradient is given (a chunk's output, with its rows of the gradient).
    pub(super) fn backward_seeded(
        mut self,
        losses: &[Var],
        seeds: Vec<(Var, Tensor)>,
        inputs: &[Var],
    ) -> Result<Gradients> {
        let mut grads: Vec<Option<Tensor>> = vec![None; self.values.len()];
        let mut roots = vec![false; self.values.len()];
        for &l in losses {
            roots[l.0] = true;
        }
        for (v, g) in seeds {
            self.accumulate(&mut grads, v, g)?;
        }
        let mut param_grads = BTreeMap::new();
        while let Some(node) = self.nodes.pop() {
            let out = node.output.0;
            let dy = grads[out].take();
            if dy.is_none() && !roots[out] {
                continue; // nothing flows back through this node
            }
            let gpu = self.values[out].tensor.gpu().clone();
            let bwd_label = node.label.as_ref().map(|l| format!("{l} (bwd)"));
            let _label = gpu.scoped_label(bwd_label.as_deref());
            let needs_x = self.values[node.input.0].requires_grad;
            let input = node.input;
            let dx = self.node_backward(node, dy, roots[out], needs_x, &mut grads)?;
            // The node's output is no longer needed by anyone below.
            self.values[out].requires_grad = false;
            if let (true, Some(dx)) = (needs_x, dx) {
                self.accumulate(&mut grads, input, dx)?;
            }
        }
        let wanted: Vec<Option<Tensor>> = inputs.iter().map(|v| grads[v.0].take()).collect();
        // Gradients that chunked sub-graphs returned during the walk.
        for (id, g) in std::mem::take(&mut self.chunk_param_grads) {
            add_param_grad(&mut param_grads, id, g)?;
        }
        for (i, g) in grads.into_iter().enumerate() {
            if let (Some(g), Some(id)) = (g, self.values[i].param) {
                add_param_grad(&mut param_grads, id, g)?;
            }
        }
        Ok((param_grads, wanted))
    }

    /// Add `g` into the gradient slot of `v` (fan-in accumulates).
    fn accumulate(&self, grads: &mut [Option<Tensor>], v: Var, g: Tensor) -> Result<()> {
        match &grads[v.0] {
            None => grads[v.0] = Some(g),
            Some(existing) => ew::accumulate(existing, &g)?,
        }
        Ok(())
    }
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `g` to the gradient of parameter `id` (a parameter used on several tapes).
fn add_param_grad(grads: &mut BTreeMap<ParamId, Tensor>, id: ParamId, g: Tensor) -> Result<()> {
    match grads.get(&id) {
        Some(existing) => ew::accumulate(existing, &g),
        None => {
            grads.insert(id, g);
            Ok(())
        }
    }
}

fn ensure_root(is_root: bool, what: &str) -> Result<()> {
    if is_root {
        Ok(())
    } else {
        Err(Error::input(format!(
            "{what} is a loss: pass it to backward() as a root"
        )))
    }
}
