//! 2-D convolution, NCHW activations and OIHW weights `[Co, Ci, kH, kW]`, any kernel size,
//! stride and zero padding (dilation 1), optional bias and fused ReLU.
//!
//! Three passes, each with three kernel variants (stable ids `conv2d.<pass>.<variant>`):
//!
//! | pass | formulation | direct | tiled (real GPUs) | sgbc (CPU adapters) |
//! |---|---|---|---|---|
//! | forward | `Y[P, Co] = im2col(X)[P, K] · W[Co, K]ᵀ` | `conv2d.fwd.direct` | `conv2d.fwd.igemm_tiled` | `conv2d.fwd.igemm_sgbc` |
//! | input gradient | `dX[Q, Ci] = col(dY)[Q, K'] · W'[K', Ci]` | `conv2d.dgrad.direct` | `conv2d.dgrad.igemm_tiled` | `conv2d.dgrad.igemm_sgbc` |
//! | weight gradient | `dW[Co, K] = dY[Co, P] · im2col(X)[P, K]` | `conv2d.wgrad.direct` | `conv2d.wgrad.splitk_tiled` | `conv2d.wgrad.splitk_sgbc` |
//!
//! with P = N·oH·oW output pixels, K = Ci·kH·kW, Q = N·H·W input pixels, K' = Co·kH·kW. The
//! im2col matrices are gathered inside the GEMM's load step and never materialised. The input
//! gradient is the convolution of dY with the flipped weights (padding k-1-p), written as a gather
//! per input pixel that skips the positions a stride never produced, so no atomics are needed.
//! The weight gradient's long reduction over P is split into chunks (one partial per chunk) and
//! summed by a reduce kernel. The bias gradient is [`crate::ops::elementwise::bias_grad`].

use super::grid_1d;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};

/// The three passes of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pass {
    /// Output Y.
    Forward,
    /// Input gradient dX.
    InputGrad,
    /// Weight gradient dW.
    WeightGrad,
}

impl Pass {
    /// Every pass.
    pub const ALL: [Pass; 3] = [Pass::Forward, Pass::InputGrad, Pass::WeightGrad];
    /// `fwd`, `dgrad`, `wgrad`.
    pub fn short(self) -> &'static str {
        match self {
            Pass::Forward => "fwd",
            Pass::InputGrad => "dgrad",
            Pass::WeightGrad => "wgrad",
        }
    }
}

/// Convolution kernel variants; a variant exists for every pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// One invocation per output element: the GPU-side oracle and fallback.
    Direct,
    /// Implicit GEMM with shared-memory 64x64 tiles: the choice on real GPUs.
    Tiled,
    /// Implicit GEMM with subgroup-broadcast register blocking, 64 rows x 64 columns per
    /// subgroup, operands read from storage buffers.
    Subgroup,
    /// The same register blocking with both operands packed into rgba32float textures first
    /// (zero-padded NHWC input): the choice on CPU adapters, where texel fetches are vectorised
    /// and storage loads are not. Falls back to `Subgroup` for shapes the textures cannot hold.
    Texture,
}

impl Variant {
    /// Every variant, oracle first.
    pub const ALL: [Variant; 4] = [
        Variant::Direct,
        Variant::Tiled,
        Variant::Subgroup,
        Variant::Texture,
    ];

    /// Stable id of this variant for `pass`, e.g. `conv2d.fwd.igemm_sgbc`.
    pub fn id(self, pass: Pass) -> &'static str {
        match (pass, self) {
            (Pass::Forward, Variant::Direct) => "conv2d.fwd.direct",
            (Pass::Forward, Variant::Tiled) => "conv2d.fwd.igemm_tiled",
            (Pass::Forward, Variant::Subgroup) => "conv2d.fwd.igemm_sgbc",
            (Pass::Forward, Variant::Texture) => "conv2d.fwd.igemm_tex",
            (Pass::InputGrad, Variant::Direct) => "conv2d.dgrad.direct",
            (Pass::InputGrad, Variant::Tiled) => "conv2d.dgrad.igemm_tiled",
            (Pass::InputGrad, Variant::Subgroup) => "conv2d.dgrad.igemm_sgbc",
            (Pass::InputGrad, Variant::Texture) => "conv2d.dgrad.igemm_tex",
            (Pass::WeightGrad, Variant::Direct) => "conv2d.wgrad.direct",
            (Pass::WeightGrad, Variant::Tiled) => "conv2d.wgrad.splitk_tiled",
            (Pass::WeightGrad, Variant::Subgroup) => "conv2d.wgrad.splitk_sgbc",
            (Pass::WeightGrad, Variant::Texture) => "conv2d.wgrad.splitk_tex",
        }
    }

    /// The pass and variant of a stable id.
    pub fn from_id(id: &str) -> Option<(Pass, Variant)> {
        Pass::ALL
            .into_iter()
            .flat_map(|p| Variant::ALL.into_iter().map(move |v| (p, v)))
            .find(|(p, v)| v.id(*p) == id)
    }

    /// Short name without the pass (`direct`, `tiled`, `sgbc`).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Direct => "direct",
            Variant::Tiled => "tiled",
            Variant::Subgroup => "sgbc",
            Variant::Texture => "tex",
        }
    }

    /// Whether this variant can run on `gpu`.
    pub fn supported(self, gpu: &Gpu) -> bool {
        match self {
            Variant::Subgroup | Variant::Texture => {
                gpu.has_subgroups() && matches!(gpu.subgroup_size(), 8 | 16)
            }
            _ => true,
        }
    }

    /// The variant for all three passes: the `dak tune` winner when the tuning cache has one
    /// for this adapter (see [`crate::tune`]), else register blocking on CPU adapters and
    /// shared-memory tiling on real GPUs.
    pub fn default_for(gpu: &Gpu) -> Variant {
        crate::tune::choice(gpu, "conv2d")
            .and_then(|name| Variant::ALL.into_iter().find(|v| v.name() == name))
            .filter(|v| v.supported(gpu))
            .unwrap_or_else(|| Variant::rule_for(gpu))
    }

    /// The variant for one pass on one shape: the tuned winner of its bucket, else
    /// [`Self::default_for`].
    pub fn for_pass(gpu: &Gpu, pass: Pass, g: &Geometry) -> Variant {
        let key = format!("conv2d.{}/{}", pass.short(), crate::tune::bucket(g.flops()));
        crate::tune::choice(gpu, &key)
            .and_then(Variant::from_id)
            .filter(|(p, v)| *p == pass && v.supported(gpu))
            .map(|(_, v)| v)
            .unwrap_or_else(|| Variant::default_for(gpu))
    }

    /// The built-in rule, without the tuning cache.
    pub fn rule_for(gpu: &Gpu) -> Variant {
        if gpu.is_cpu() && Variant::Texture.supported(gpu) {
            Variant::Texture
        } else {
            Variant::Tiled
        }
    }

    /// Shader file, rows and columns per workgroup of the GEMM view.
    fn shader(self, pass: Pass, gpu: &Gpu) -> (&'static str, usize, usize) {
        let s16 = gpu.subgroup_size() == 16;
        match (pass, self) {
            (Pass::Forward, Variant::Direct) => ("conv2d/fwd_direct.wgsl", 0, 0),
            (Pass::InputGrad, Variant::Direct) => ("conv2d/dgrad_direct.wgsl", 0, 0),
            (Pass::WeightGrad, Variant::Direct) => ("conv2d/wgrad_direct.wgsl", 0, 0),
            (Pass::Forward, Variant::Tiled) => ("conv2d/fwd_igemm_tiled.wgsl", 64, 64),
            (Pass::InputGrad, Variant::Tiled) => ("conv2d/dgrad_igemm_tiled.wgsl", 64, 64),
            (Pass::WeightGrad, Variant::Tiled) => ("conv2d/wgrad_splitk_tiled.wgsl", 64, 64),
            (Pass::Forward, Variant::Subgroup) if s16 => ("conv2d/fwd_igemm_sgbc_s16.wgsl", 64, 64),
            (Pass::Forward, Variant::Subgroup) => ("conv2d/fwd_igemm_sgbc_s8.wgsl", 64, 64),
            (Pass::InputGrad, Variant::Subgroup) if s16 => {
                ("conv2d/dgrad_igemm_sgbc_s16.wgsl", 64, 64)
            }
            (Pass::InputGrad, Variant::Subgroup) => ("conv2d/dgrad_igemm_sgbc_s8.wgsl", 64, 64),
            (Pass::WeightGrad, Variant::Subgroup) if s16 => {
                ("conv2d/wgrad_splitk_sgbc_s16.wgsl", 64, 64)
            }
            (Pass::WeightGrad, Variant::Subgroup) => ("conv2d/wgrad_splitk_sgbc_s8.wgsl", 64, 64),
            // The texture variant launches its own kernels (texture.rs); its fallback is sgbc.
            (pass, Variant::Texture) => Variant::Subgroup.shader(pass, gpu),
        }
    }

    /// The storage-buffer kernel a texture-variant call falls back to.
    fn storage_fallback(self) -> Variant {
        if self == Variant::Texture {
            Variant::Subgroup
        } else {
            self
        }
    }

    fn check(self, pass: Pass, gpu: &Gpu) -> Result<()> {
        if self.supported(gpu) {
            Ok(())
        } else {
            Err(Error::input(format!(
                "{} is not supported on this adapter",
                self.id(pass)
            )))
        }
    }
}

/// The kernels' shape uniform (matches `struct Conv` in every conv2d shader).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvUniform {
    n: u32,
    ci: u32,
    h: u32,
    w: u32,
    co: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    /// bit 0: add bias, bit 1: ReLU.
    flags: u32,
    /// Split-K chunk length (weight gradient).
    chunk: u32,
    _pad: u32,
}

impl ConvUniform {
    fn new(g: &Geometry, flags: u32, chunk: usize) -> ConvUniform {
        let u = |v: usize| v as u32;
        ConvUniform {
            n: u(g.n),
            ci: u(g.ci),
            h: u(g.h),
            w: u(g.w),
            co: u(g.co),
            kh: u(g.kh),
            kw: u(g.kw),
            oh: u(g.oh),
            ow: u(g.ow),
            sh: u(g.spec.stride.0),
            sw: u(g.spec.stride.1),
            ph: u(g.spec.padding.0),
            pw: u(g.spec.padding.1),
            flags,
            chunk: u(chunk),
            _pad: 0,
        }
    }
}

fn expect_f32(t: &Tensor, op: &str) -> Result<()> {
    t.expect_dtype(DType::F32, op)
}

/// Forward convolution `Y = conv(X, W) (+ bias) (ReLU)`: X `[N, Ci, H, W]`, W `[Co, Ci, kH, kW]`,
/// bias `[Co]`; returns Y `[N, Co, oH, oW]`.
pub fn forward(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    relu: bool,
    spec: Spec,
    variant: Variant,
) -> Result<Tensor> {
    const OP: &str = "conv2d forward";
    let g = Geometry::new(x.shape(), w.shape(), spec, OP)?;
    expect_f32(x, OP)?;
    expect_f32(w, OP)?;
    if let Some(b) = bias {
        b.expect_shape(&[g.co], OP, "bias")?;
    }
    let gpu = x.gpu();
    variant.check(Pass::Forward, gpu)?;
    let y = Tensor::uninit(gpu, &g.y_shape(), DType::F32)?;
    let dummy;
    let b = match bias {
        Some(b) => b,
        None => {
            dummy = Tensor::uninit(gpu, &[1], DType::F32)?;
            &dummy
        }
    };
    let flags = bias.is_some() as u32 | (relu as u32) << 1;
    if variant == Variant::Texture && texture::forward(x, w, b, flags, &g, &y)? {
        return Ok(y);
    }
    let uniform = ConvUniform::new(&g, flags, 0);
    let (file, rows, cols) = variant.shader(Pass::Forward, gpu);
    let groups = match variant {
        Variant::Direct => grid_1d(g.y_len()),
        _ => [
            g.co.div_ceil(cols) as u32,
            (g.n * g.oh * g.ow).div_ceil(rows) as u32,
            1,
        ],
    };
    gpu.dispatch(
        file,
        &[],
        bytemuck::bytes_of(&uniform),
        &[x.binding(), w.binding(), b.binding(), y.binding()],
        groups,
    )?;
    Ok(y)
}

/// Which packed weight operand the texture variant's input gradient reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightOperand {
    /// The forward pass's weight texture, read transposed at the flipped tap (the default:
    /// during training it is still cached from the forward pass, so nothing is packed).
    Forward,
    /// A flipped, transposed copy packed for the input gradient (the reference layout).
    Flipped,
}

/// Input gradient dX `[N, Ci, H, W]` (`x_shape`) from dY `[N, Co, oH, oW]` and W.
pub fn backward_input(
    dy: &Tensor,
    w: &Tensor,
    x_shape: &[usize],
    spec: Spec,
    variant: Variant,
) -> Result<Tensor> {
    backward_input_with(dy, w, x_shape, spec, variant, WeightOperand::Forward)
}

/// [`backward_input`] with the texture variant's weight operand chosen by the caller (tests).
pub fn backward_input_with(
    dy: &Tensor,
    w: &Tensor,
    x_shape: &[usize],
    spec: Spec,
    variant: Variant,
    operand: WeightOperand,
) -> Result<Tensor> {
    const OP: &str = "conv2d input gradient";
    let g = Geometry::new(x_shape, w.shape(), spec, OP)?;
    expect_f32(dy, OP)?;
    expect_f32(w, OP)?;
    dy.expect_shape(&g.y_shape(), OP, "output gradient")?;
    let gpu = dy.gpu();
    variant.check(Pass::InputGrad, gpu)?;
    let dx = Tensor::uninit(gpu, &g.x_shape(), DType::F32)?;
    if variant == Variant::Texture
        && texture::backward_input(texture::DyOperand::Tensor(dy), w, &g, &dx, operand)?
    {
        return Ok(dx);
    }
    let variant = variant.storage_fallback();
    let uniform = ConvUniform::new(&g, 0, 0);
    let (file, rows, cols) = variant.shader(Pass::InputGrad, gpu);
    let strided = g.spec.stride != (1, 1);
    let (groups, constants): ([u32; 3], &[(&str, f64)]) = match variant {
        Variant::Direct => (grid_1d(g.x_len()), &[]),
        Variant::Tiled => (
            [
                g.ci.div_ceil(cols) as u32,
                (g.n * g.h * g.w).div_ceil(rows) as u32,
                1,
            ],
            &[],
        ),
        Variant::Subgroup | Variant::Texture => (
            [
                g.ci.div_ceil(cols) as u32,
                (g.n * g.h * g.w).div_ceil(rows) as u32,
                1,
            ],
            if strided {
                &[("STRIDED", 1.0)]
            } else {
                &[("STRIDED", 0.0)]
            },
        ),
    };
    gpu.dispatch(
        file,
        constants,
        bytemuck::bytes_of(&uniform),
        &[dy.binding(), w.binding(), dx.binding()],
        groups,
    )?;
    Ok(dx)
}

/// llvmpipe ends a shader loop after 65535 iterations in total (across entries of an inner
/// loop), so no kernel may loop longer than this; the weight gradient splits its reduction to
/// stay under it.
const MAX_LOOP: usize = 32768;

/// How the weight gradient's reduction over P = N·oH·oW is split: (splits, chunk length). For
/// the direct kernel the chunk counts images; for the GEMM kernels, output pixels. Enough
/// workgroups to keep every core busy, chunks of at least 256 pixels, partials under 64 MiB,
/// and no loop over more than `MAX_LOOP` iterations.
pub fn wgrad_split(g: &Geometry, gpu: &Gpu, variant: Variant) -> (usize, usize) {
    let p = g.n * g.oh * g.ow;
    if variant == Variant::Direct {
        let images = (MAX_LOOP / (g.oh * g.ow)).clamp(1, g.n);
        return (g.n.div_ceil(images), images);
    }
    let tiles = g.co.div_ceil(64) * (g.ci * g.kh * g.kw).div_ceil(64);
    let want_groups: usize = if gpu.is_cpu() { 64 } else { 512 };
    let by_groups = want_groups.div_ceil(tiles);
    let by_length = (p / 256).max(1);
    let by_memory = ((64usize << 20) / (4 * g.w_len())).max(1);
    let by_loop = p.div_ceil(4 * MAX_LOOP);
    let splits = by_groups
        .min(by_length)
        .min(by_memory)
        .max(by_loop)
        .clamp(1, 4096);
    // Chunks are a multiple of 16 (the tiled kernel's step) so every chunk but the last is full.
    let chunk = p.div_ceil(splits).next_multiple_of(16);
    (p.div_ceil(chunk), chunk)
}

/// Weight gradient dW `[Co, Ci, kH, kW]` (`w_shape`) from dY `[N, Co, oH, oW]` and X.
pub fn backward_weight(
    dy: &Tensor,
    x: &Tensor,
    w_shape: &[usize],
    spec: Spec,
    variant: Variant,
) -> Result<Tensor> {
    const OP: &str = "conv2d weight gradient";
    let g = Geometry::new(x.shape(), w_shape, spec, OP)?;
    expect_f32(dy, OP)?;
    expect_f32(x, OP)?;
    dy.expect_shape(&g.y_shape(), OP, "output gradient")?;
    let gpu = dy.gpu();
    variant.check(Pass::WeightGrad, gpu)?;
    let dw = Tensor::uninit(gpu, &g.w_shape(), DType::F32)?;
    if variant == Variant::Texture
        && texture::backward_weight(texture::DyOperand::Tensor(dy), x, &g, &dw)?
    {
        return Ok(dw);
    }
    let variant = variant.storage_fallback();
    let (file, rows, cols) = variant.shader(Pass::WeightGrad, gpu);
    let (splits, chunk) = wgrad_split(&g, gpu, variant);
    let uniform = ConvUniform::new(&g, 0, chunk);
    let groups = match variant {
        Variant::Direct => {
            let [x, y, _] = grid_1d(g.w_len());
            [x, y, splits as u32]
        }
        _ => [
            (g.ci * g.kh * g.kw).div_ceil(cols) as u32,
            g.co.div_ceil(rows) as u32,
            splits as u32,
        ],
    };
    if splits == 1 {
        gpu.dispatch(
            file,
            &[],
            bytemuck::bytes_of(&uniform),
            &[dy.binding(), x.binding(), dw.binding()],
            groups,
        )?;
        return Ok(dw);
    }
    let part = Tensor::uninit(gpu, &[splits, g.w_len()], DType::F32)?;
    gpu.dispatch(
        file,
        &[],
        bytemuck::bytes_of(&uniform),
        &[dy.binding(), x.binding(), part.binding()],
        groups,
    )?;
    let reduce = [g.w_len() as u32, splits as u32, 0, 0];
    gpu.dispatch(
        "conv2d/wgrad_reduce.wgsl",
        &[],
        bytemuck::cast_slice(&reduce),
        &[part.binding(), dw.binding()],
        grid_1d(g.w_len()),
    )?;
    Ok(dw)
}

/// The gradients a backward call produced; `None` where not asked for.
#[derive(Debug, Default)]
pub struct Grads {
    /// Input gradient.
    pub dx: Option<Tensor>,
    /// Weight gradient.
    pub dw: Option<Tensor>,
    /// Bias gradient.
    pub db: Option<Tensor>,
}

/// Backward of `forward` (without its ReLU: apply `elementwise::relu_grad` first). `needs` =
/// [dX, dW, db]: only the gradients asked for are computed (a frozen layer launches no dW kernel).
pub fn backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    spec: Spec,
    needs: [bool; 3],
    variant: Variant,
) -> Result<Grads> {
    let g = Geometry::new(x.shape(), w.shape(), spec, "conv2d backward")?;
    dy.expect_shape(&g.y_shape(), "conv2d backward", "output gradient")?;
    Ok(Grads {
        dx: if needs[0] {
            Some(backward_input(dy, w, x.shape(), spec, variant)?)
        } else {
            None
        },
        dw: if needs[1] {
            Some(backward_weight(dy, x, w.shape(), spec, variant)?)
        } else {
            None
        },
        db: if needs[2] {
            Some(super::elementwise::bias_grad(dy)?)
        } else {
            None
        },
    })
}

mod geometry;
mod operands;
mod pack;
pub mod pooled;
/// Plain-Rust oracles (f32 data, f64 accumulation).
pub mod reference;
mod texture;
mod tiles;

pub use geometry::{Geometry, Spec};
