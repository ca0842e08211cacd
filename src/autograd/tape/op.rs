//! The tape's closed set of ops (one `match` over it in `backward.rs`).

use super::{Lambda, Var};
use crate::ops::conv2d::Spec;
use crate::tensor::Tensor;

/// The closed set of differentiable ops and what each saves for backward.
pub(super) enum Op {
    /// y = act(x·Wᵀ + b); `y` is kept when ReLU is fused (its mask is the ReLU gradient).
    Dense {
        w: Var,
        b: Option<Var>,
        relu: bool,
        saved_x: Option<Tensor>,
        saved_w: Option<Tensor>,
    },
    /// y = act(conv(x, W) + b); `y` doubles as the ReLU mask when ReLU is fused.
    Conv2d {
        w: Var,
        b: Option<Var>,
        relu: bool,
        spec: Spec,
        saved_x: Option<Tensor>,
        saved_w: Option<Tensor>,
        x_shape: Vec<usize>,
    },
    /// y = maxpool2x2(relu(conv(x, W) + b)) as one fused op; `y` (the output) is the ReLU
    /// mask, the argmax routes gradients back to the convolution's output of shape `z_shape`.
    ConvPool {
        w: Var,
        b: Option<Var>,
        spec: Spec,
        saved_x: Option<Tensor>,
        saved_w: Option<Tensor>,
        x_shape: Vec<usize>,
        z_shape: Vec<usize>,
        argmax: Tensor,
    },
    /// Batch normalisation (then ReLU when `relu`: `y` doubles as its mask) with the
    /// statistics it used; `batch_stats`: the batch's own, which the gradient flows through.
    BatchNorm {
        gamma: Var,
        beta: Var,
        mean: Tensor,
        var: Tensor,
        batch_stats: bool,
        relu: bool,
        saved_x: Tensor,
    },
    /// Max pooling; the argmax routes gradients back.
    MaxPool {
        argmax: Tensor,
        x_shape: Vec<usize>,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// Global average pooling [N, C, H, W] -> [N, C].
    GlobalAvgPool { x_shape: Vec<usize> },
    /// y = x + other, then ReLU when `relu` (`y` is its mask): the gradient goes to both.
    Add { other: Var, relu: bool },
    /// y = relu(x)
    Relu,
    /// y = x viewed with another shape
    Reshape,
    /// Inverted dropout with a seeded mask.
    Dropout { rate: f32, seed: u32 },
    /// Identity forward, -lambda·dy backward.
    GradReverse { lambda: Lambda },
    /// A per-image sub-graph run on row chunks of its input, each on its own tape
    /// (`chunked.rs`): the gradient is split the same way and each part runs backward.
    Chunked { parts: Vec<super::chunked::Part> },
    /// Mean softmax cross-entropy over weighted samples (a root: upstream gradient is 1).
    /// `g·V/‖V‖` per row: V is the node's input, g the second one.
    WeightNorm { g: Var },
    SoftmaxXent {
        labels: Tensor,
        weights: Tensor,
        scale: f32,
        /// Label smoothing ε (0: plain one-hot targets).
        smoothing: f32,
    },
    /// Mean binary cross-entropy with logits (a root).
    Bce { targets: Tensor, scale: f32 },
    /// Rows `start..start + count` of a [rows, cols] value (a copy).
    Rows { start: usize, rows: usize },
    /// softmax(x / temperature) per row; the output is its own saved value.
    SoftmaxT { temperature: f32 },
    /// Per-row entropy of probabilities.
    Entropy,
    /// Information-maximisation loss of logits: a root, or scaled by its upstream `[1]`; keeps
    /// the softmax rows and their mean.
    InfoMax {
        probs: Tensor,
        mean: Tensor,
        w_ent: f32,
        w_div: f32,
    },
    /// Class confusion (P·w)ᵀ·P with constant per-sample weights.
    Confusion { weights: Tensor },
    /// Off-diagonal mass of a row-normalised confusion matrix (a root).
    ConfusionLoss { scale: f32 },
    /// Pairwise squared distances of the rows of a [n, dim] value.
    SqDistances,
    /// MK-MMD loss of pairwise distances (a root); `mu` is the detached bandwidth base.
    MkMmd {
        index: Tensor,
        mu: Tensor,
        alphas: Vec<f32>,
        scale: f32,
    },
    /// Flattened outer product of features with constant probabilities `g` [rows, classes].
    Outer { g: Tensor },
    /// Element-wise product with a constant of the input's shape.
    MulConst { c: Tensor },
    /// Mean binary cross-entropy with logits and constant per-sample weights (a root).
    BceWeighted {
        targets: Tensor,
        weights: Tensor,
        scale: f32,
    },
    /// Complement cross-entropy -log(min(1 - p_y + 1e-6, 1)) (a root).
    ComplementXent {
        labels: Tensor,
        weights: Tensor,
        scale: f32,
    },
}
