//! The registry table and each kernel's check: the awkward-shape cases, run through the op's
//! launch function and compared with its `reference` module.

pub(super) mod adapt;
pub mod batch_norm;
pub mod centroids;
mod complement_xent;
mod dense;
mod fused;
pub(super) mod info_max;
mod optim_multi;
mod outer;
mod pointwise;

use super::{tol_for, Checker, Kernel};
use crate::gpu::Gpu;
use crate::ops::conv2d::{self, Pass};
use crate::ops::matmul;
use dense::*;
use fused::*;
use optim_multi::*;
use pointwise::*;

/// Deterministic values in [-1, 1).
pub(super) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `NxCxHxW`.
pub(super) fn label4(s: &[usize]) -> String {
    s.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

pub(super) fn always(_: &Gpu) -> bool {
    true
}

fn subgroups(gpu: &Gpu) -> bool {
    matmul::Variant::Subgroup.supported(gpu)
}

/// The window-pair backward runs on the texture variant with the CPU-adapter paths.
fn cpu_pairs(gpu: &Gpu) -> bool {
    gpu.cpu_paths() && conv2d::Variant::Texture.supported(gpu)
}

// ---------------------------------------------------------------------------------------------
// the table

macro_rules! conv {
    ($id:literal, $pass:ident, $variant:ident, $supported:expr, [$($file:literal),*], $desc:literal) => {
        conv!($id, $pass, $variant, $supported, &[$($file),*], $desc)
    };
    ($id:literal, $pass:ident, $variant:ident, $supported:expr, $files:expr, $desc:literal) => {
        Kernel {
            id: $id,
            op: "conv2d",
            shaders: $files,
            description: $desc,
            supported: $supported,
            check: |gpu, c| check_conv(gpu, c, Pass::$pass, conv2d::Variant::$variant),
        }
    };
}

/// The texture forward GEMM's files, which the input gradient runs too (on dY, with `W_T`).
const TEX_FORWARD_FILES: &[&str] = &[
    "conv2d/pack_input.wgsl",
    "conv2d/pack_input_x4.wgsl",
    "conv2d/pack_weight.wgsl",
];

/// The engine's kernels; the adaptation methods' are in [`adapt::KERNELS`].
pub(super) static REGISTRY: &[Kernel] = &[
    Kernel {
        id: "matmul.naive",
        op: "matmul",
        shaders: &["matmul/naive.wgsl"],
        description: "C = op(A)·op(B) (+bias)(ReLU); one invocation per output (GPU oracle)",
        supported: always,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::Naive),
    },
    Kernel {
        id: "matmul.tiled_64x64",
        op: "matmul",
        shaders: &["matmul/tiled.wgsl"],
        description: "GEMM, 64x64 workgroup-memory tiles, 4x4 outputs per thread (real GPUs)",
        supported: always,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::Tiled),
    },
    Kernel {
        id: "matmul.sgbc_64x8sg",
        op: "matmul",
        shaders: &[],
        description:
            "GEMM, one subgroup per 64x(8·sg) tile, A rows broadcast with subgroupBroadcast",
        supported: subgroups,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::Subgroup),
    },
    Kernel {
        id: "matmul.sgbc_tex_64x8sg",
        op: "matmul",
        shaders: &[
            "matmul/pack_b.wgsl",
        ],
        description: "subgroup GEMM with B packed into an rgba32float texture (CPU adapters)",
        supported: subgroups,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::SubgroupTexture),
    },
    conv!(
        "conv2d.fwd.direct",
        Forward,
        Direct,
        always,
        ["conv2d/fwd_direct.wgsl"],
        "Y = conv(X, W) (+bias)(ReLU); one invocation per output (GPU oracle)"
    ),
    conv!(
        "conv2d.fwd.igemm_tiled",
        Forward,
        Tiled,
        always,
        [],
        "Y[P, Co] = im2col(X)·Wᵀ as implicit GEMM, 64x64 workgroup-memory tiles"
    ),
    conv!(
        "conv2d.fwd.igemm_sgbc",
        Forward,
        Subgroup,
        subgroups,
        [
        ],
        "Y[P, Co] = im2col(X)·Wᵀ as implicit GEMM, one subgroup per 64x64 tile (broadcast)"
    ),
    conv!(
        "conv2d.fwd.igemm_tex",
        Forward,
        Texture,
        subgroups,
        TEX_FORWARD_FILES,
        "Y[P, Co] as implicit GEMM on a zero-padded NHWC input texture and a weight texture (CPU adapters)"
    ),
    conv!(
        "conv2d.dgrad.direct",
        InputGrad,
        Direct,
        always,
        ["conv2d/dgrad_direct.wgsl"],
        "dX = conv of dY with flipped W (pad k-1-p); one invocation per input element"
    ),
    conv!(
        "conv2d.dgrad.igemm_tiled",
        InputGrad,
        Tiled,
        always,
        [],
        "dX[Q, Ci] = col(dY)·W' as implicit GEMM, 64x64 workgroup-memory tiles"
    ),
    conv!(
        "conv2d.dgrad.igemm_sgbc",
        InputGrad,
        Subgroup,
        subgroups,
        [
        ],
        "dX[Q, Ci] = col(dY)·W' as implicit GEMM, one subgroup per 64x64 tile (STRIDED override)"
    ),
    conv!(
        "conv2d.dgrad.igemm_tex",
        InputGrad,
        Texture,
        subgroups,
        TEX_FORWARD_FILES,
        "dX as the forward texture GEMM on dY dilated by the stride, padded k-1-p, with flipped W"
    ),
    conv!(
        "conv2d.wgrad.direct",
        WeightGrad,
        Direct,
        always,
        ["conv2d/wgrad_direct.wgsl", "conv2d/wgrad_reduce.wgsl"],
        "dW = Σ dY·X per weight, split over images + fixed-order reduce"
    ),
    conv!(
        "conv2d.wgrad.splitk_tiled",
        WeightGrad,
        Tiled,
        always,
        ["conv2d/wgrad_reduce.wgsl"],
        "dW[Co, K] = dY[Co, P]·im2col(X), split-K partials (64x64 tiles) + reduce"
    ),
    conv!(
        "conv2d.wgrad.splitk_sgbc",
        WeightGrad,
        Subgroup,
        subgroups,
        [
            "conv2d/wgrad_reduce.wgsl"
        ],
        "dW[Co, K] = dY[Co, P]·im2col(X), split-K partials (subgroup tiles) + reduce"
    ),
    conv!(
        "conv2d.wgrad.splitk_tex",
        WeightGrad,
        Texture,
        subgroups,
        [
            "conv2d/pack_input.wgsl",
            "conv2d/pack_input_x4.wgsl",
            "conv2d/pack_dy.wgsl",
            "conv2d/wgrad_tex_reduce.wgsl"
        ],
        "dW from dY and X packed into textures, split-K partials + a reduce into OIHW order"
    ),
    Kernel {
        id: "conv2d.fwd_pool.igemm_tex",
        op: "conv2d",
        shaders: &[
        ],
        description: "maxpool2x2(ReLU(conv + bias)) with the pool in the texture GEMM's store (argmax saved)",
        supported: subgroups,
        check: |gpu, c| check_conv_pool_fwd(gpu, c, conv2d::Variant::Texture),
    },
    Kernel {
        id: "conv2d.fwd_pool.igemm_tiled",
        op: "conv2d",
        shaders: &[],
        description: "maxpool2x2(ReLU(conv + bias)) with the pool in the tiled GEMM's store (real GPUs; argmax saved)",
        supported: always,
        check: |gpu, c| check_conv_pool_fwd(gpu, c, conv2d::Variant::Tiled),
    },
    Kernel {
        id: "pool.max_fwd",
        op: "pool",
        shaders: &["pool/max_fwd.wgsl"],
        description: "k x k / stride s max pooling, saves the argmax (index in the input plane)",
        supported: always,
        check: check_max_fwd,
    },
    Kernel {
        id: "pool.max_bwd",
        op: "pool",
        shaders: &["pool/max_bwd.wgsl", "pool/max_bwd_scatter.wgsl"],
        description: "max-pool backward through the argmax: gather (overlapping) or scatter",
        supported: always,
        check: check_max_bwd,
    },
    Kernel {
        id: "pool.max_relu_bwd",
        op: "pool",
        shaders: &["pool/max_relu_bwd_scatter.wgsl"],
        description: "ReLU + max-pool backward in one pass: dY to the argmax where the pooled output is > 0",
        supported: always,
        check: check_relu_pool_bwd,
    },
    Kernel {
        id: "pool.max_relu_bwd_x4",
        op: "pool",
        shaders: &["pool/max_relu_bwd_x4.wgsl"],
        description: "ReLU + 2x2/2 max-pool backward, four dZ values (one vec4 store) per invocation",
        supported: always,
        check: check_relu_pool_bwd_x4,
    },
    Kernel {
        id: "pool.max_relu_grad_pairs",
        op: "pool",
        shaders: &[
            "pool/max_relu_grad_pairs.wgsl",
            "pool/max_relu_grad_pairs_x2.wgsl",
            "conv2d/pack_input_x4.wgsl",
        ],
        description: "conv + ReLU + 2x2/2 pool backward without dZ: window pairs read by the texture weight gradient (POOLED_DY) and the input gradient's packing (POOLED); CPU adapters",
        supported: cpu_pairs,
        check: check_pool_bwd_pairs,
    },
    Kernel {
        id: "pool.gap_fwd",
        op: "pool",
        shaders: &["pool/gap_fwd.wgsl"],
        description: "global average pooling [N, C, H, W] -> [N, C]",
        supported: always,
        check: |gpu, c| check_gap(gpu, c, false),
    },
    Kernel {
        id: "pool.gap_bwd",
        op: "pool",
        shaders: &["pool/gap_bwd.wgsl"],
        description: "global average pooling backward: dX = dY / (H·W) broadcast",
        supported: always,
        check: |gpu, c| check_gap(gpu, c, true),
    },
    Kernel {
        id: "elementwise.bias_act",
        op: "elementwise",
        shaders: &["elementwise/bias_act.wgsl"],
        description: "y = act(x + bias[channel]) for [B, C] and NCHW",
        supported: always,
        check: check_bias_act,
    },
    Kernel {
        id: "elementwise.bias_grad",
        op: "elementwise",
        shaders: &["elementwise/bias_grad.wgsl", "elementwise/bias_grad_sg.wgsl"],
        description: "db[c] = Σ dy over batch and pixels of channel c",
        supported: always,
        check: check_bias_grad,
    },
    Kernel {
        id: "elementwise.relu_grad",
        op: "elementwise",
        shaders: &["elementwise/relu_grad.wgsl"],
        description: "dx = dy · [y > 0] from the saved ReLU output",
        supported: always,
        check: check_relu_grad,
    },
    Kernel {
        id: "elementwise.add",
        op: "elementwise",
        shaders: &["elementwise/add.wgsl"],
        description: "y = a + b (then ReLU): a residual block's join",
        supported: always,
        check: check_add,
    },
    Kernel {
        id: "elementwise.axpby",
        op: "elementwise",
        shaders: &["elementwise/axpby.wgsl"],
        description: "y ← αx + βy in place (scale, accumulate, gradient reversal)",
        supported: always,
        check: check_axpby,
    },
    Kernel {
        id: "watch.first_bad",
        op: "watch",
        shaders: &["watch/first_bad.wgsl"],
        description: "first step whose loss is NaN, infinite or over a limit (divergence flag)",
        supported: always,
        check: check_first_bad,
    },
    Kernel {
        id: "elementwise.dropout",
        op: "elementwise",
        shaders: &["elementwise/dropout.wgsl"],
        description: "inverted dropout, mask a hash of (seed, index)",
        supported: always,
        check: check_dropout,
    },
    Kernel {
        id: "loss.softmax_xent_fwd",
        op: "loss",
        shaders: &["loss/softmax_xent_fwd.wgsl"],
        description: "weighted mean softmax cross-entropy (max-subtracted log-softmax) -> [1]",
        supported: always,
        check: |gpu, c| check_xent(gpu, c, false),
    },
    Kernel {
        id: "loss.softmax_xent_bwd",
        op: "loss",
        shaders: &["loss/softmax_xent_bwd.wgsl"],
        description: "dz = scale·w·(softmax(z) - onehot)/Σw",
        supported: always,
        check: |gpu, c| check_xent(gpu, c, true),
    },
    Kernel {
        id: "loss.argmax_correct",
        op: "loss",
        shaders: &["loss/argmax_correct.wgsl"],
        description: "argmax predictions and (correct, counted) counters on the GPU",
        supported: always,
        check: check_argmax,
    },
    Kernel {
        id: "loss.bce_fwd",
        op: "loss",
        shaders: &["loss/bce_fwd.wgsl"],
        description: "binary cross-entropy with logits, mean, numerically stable -> [1]",
        supported: always,
        check: |gpu, c| check_bce(gpu, c, false),
    },
    Kernel {
        id: "loss.bce_bwd",
        op: "loss",
        shaders: &["loss/bce_bwd.wgsl"],
        description: "dx = scale·(sigmoid(x) - t)/N",
        supported: always,
        check: |gpu, c| check_bce(gpu, c, true),
    },
    Kernel {
        id: "loss.binary_correct",
        op: "loss",
        shaders: &["loss/binary_correct.wgsl"],
        description:
            "(correct, counted) counters of a one-logit binary classifier (DANN domain accuracy)",
        supported: always,
        check: check_binary_correct,
    },
    Kernel {
        id: "optim.sgd",
        op: "optim",
        shaders: &["optim/sgd.wgsl"],
        description: "SGD step in place: momentum, Nesterov, weight decay",
        supported: always,
        check: check_sgd,
    },
    Kernel {
        id: "optim.adam",
        op: "optim",
        shaders: &["optim/adam.wgsl"],
        description: "Adam step in place with bias correction and weight decay",
        supported: always,
        check: check_adam,
    },
    Kernel {
        id: "optim.sgd_multi",
        op: "optim",
        shaders: &["optim/sgd_multi.wgsl"],
        description: "SGD step over every parameter in flat buffers, learning rate per 256-element block",
        supported: always,
        check: check_sgd_multi,
    },
    Kernel {
        id: "optim.adam_multi",
        op: "optim",
        shaders: &["optim/adam_multi.wgsl"],
        description: "Adam step over every parameter in flat buffers, learning rate per 256-element block",
        supported: always,
        check: check_adam_multi,
    },
    Kernel {
        id: "bench.fma",
        op: "bench",
        shaders: &["bench/fma.wgsl"],
        description: "compute roof for `dak bench --peak`: 4 independent vec4 multiply-add chains",
        supported: always,
        check: check_fma,
    },
    Kernel {
        id: "bench.copy",
        op: "bench",
        shaders: &["bench/copy.wgsl"],
        description: "bandwidth roof for `dak bench --peak`: vec4 copy",
        supported: always,
        check: check_copy,
    },
];
