//! Packing kernels of the texture variant: an activation into the zero-padded NHWC operand
//! texture, weights into the GEMM's B operand (cached while unchanged).

use super::operands::{mirror, texture, Placement};
use super::tiles::weight_size;
use super::Geometry;
use crate::error::Result;
use crate::gpu::{Binding, Gpu, GpuTexture, Mirror};
use crate::tensor::Tensor;
use std::sync::Arc;

/// Matches `struct P` in `pack_input.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PackInput {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    c4: u32,
    hp: u32,
    wp: u32,
    top: u32,
    left: u32,
    dy: u32,
    dx: u32,
    shift: u32,
    total: u32,
    _pad: [u32; 3],
}

/// The forward input packed once for both the forward pass and the weight gradient: the
/// texture is kept with the activation (`Gpu::derived_texture`, dropped with it or when it
/// changes), so a training step packs each convolution's input once instead of twice. The kept
/// textures share the input-cache budget (`DAK_INPUT_CACHE_MB`); past it an input is packed
/// each time (memory over speed on large images and batches).
pub(super) fn pack_input_cached(
    src: &Tensor,
    pl: Placement,
    what: &str,
) -> Result<Arc<GpuTexture>> {
    let (w, h) = pl.size();
    let bytes = 16 * (w * h) as u64; // rgba32float
    let tag = format!(
        "conv2d input {:?} in {}x{} at ({}, {}) step {:?}",
        pl.src, pl.hp, pl.wp, pl.top, pl.left, pl.step
    );
    src.gpu()
        .derived_texture_budgeted(src.buffer(), &tag, bytes, || pack_input(src, pl, what))
}

pub(super) fn pack_input(src: &Tensor, pl: Placement, what: &str) -> Result<GpuTexture> {
    let gpu = src.gpu();
    let size = pl.size();
    let tex = texture(gpu, size, what)?;
    // The 4-column kernel splits a flat position index with float divisions: exact below 2^23.
    let x4_fits = x4_positions(&pl) < 1 << 23;
    if pl.step == (1, 1) && pl.src[3].is_multiple_of(4) && x4_fits {
        if let Some(m) = gpu.mirror_rgba(src.buffer(), src.numel(), what)? {
            pack_input_x4(gpu, pl, &m, false, false, &tex)?;
            return Ok(tex);
        }
    }
    let m = mirror(src, what)?;
    let u = |v: usize| v as u32;
    let [n, c, h, w] = pl.src;
    let total = n * pl.c4() * pl.hp * pl.wp;
    let uniform = PackInput {
        n: u(n),
        c: u(c),
        h: u(h),
        w: u(w),
        c4: u(pl.c4()),
        hp: u(pl.hp),
        wp: u(pl.wp),
        top: u(pl.top),
        left: u(pl.left),
        dy: u(pl.step.0),
        dx: u(pl.step.1),
        shift: m.shift,
        total: u(total),
        _pad: [0; 3],
    };
    let dilated = if pl.step == (1, 1) { 0.0 } else { 1.0 };
    let (x, y) = flat_grid(total);
    gpu.dispatch(
        "conv2d/pack_input.wgsl",
        &[("DILATED", dilated)],
        bytemuck::bytes_of(&uniform),
        &[Binding::Texture(&m.texture), Binding::Texture(&tex)],
        [x, y, 1],
    )?;
    Ok(tex)
}

/// The output gradient an input or weight gradient reads.
#[derive(Clone, Copy)]
pub(in crate::ops::conv2d) enum DyOperand<'a> {
    /// dY `[N, Co, oH, oW]`.
    Tensor(&'a Tensor),
    /// The fused conv + ReLU + pool layer's pooled gradient as window pairs
    /// (`pool::max_pool2d_relu_grad_pairs`; oH even, oW a multiple of 4): dZ is never written.
    PooledPairs(&'a Mirror),
}

/// dY packed for the input gradient (dilated and padded as `pl` says), or `None` where window
/// pairs cannot be packed with this placement (dilated, W not a multiple of 4, H odd).
///
/// Where the padding is at least half the texture (small maps, wide kernels: the digits
/// conv2's 8x8 dY padded to 16x16) and the texture is small, it is a kept texture
/// (`Gpu::border_scratch`) whose padding the first pack zeroed: later packs write only the
/// data (`DATA_ONLY`), a quarter of the stores in that example.
pub(super) fn pack_output_grad(
    gpu: &Gpu,
    dy: DyOperand,
    pl: Placement,
    what: &str,
) -> Result<Option<Arc<GpuTexture>>> {
    let x4 = pl.step == (1, 1) && pl.src[3].is_multiple_of(4) && x4_positions(&pl) < 1 << 23;
    let own;
    let (m, pooled) = match dy {
        DyOperand::PooledPairs(m) if x4 && pl.src[2].is_multiple_of(2) => (m, true),
        DyOperand::PooledPairs(_) => return Ok(None),
        DyOperand::Tensor(t) => match x4 {
            true => match gpu.mirror_rgba(t.buffer(), t.numel(), what)? {
                Some(m) => {
                    own = m;
                    (&own, false)
                }
                None => return Ok(Some(Arc::new(pack_input(t, pl, what)?))),
            },
            false => return Ok(Some(Arc::new(pack_input(t, pl, what)?))),
        },
    };
    let (w, h) = pl.size();
    let padding_heavy = 2 * pl.src[2] * pl.src[3] <= pl.hp * pl.wp;
    let (tex, full) = if padding_heavy && 16 * w * h <= MAX_BORDER_SCRATCH {
        let key = format!(
            "conv2d padded operand {:?} in {}x{} at ({}, {})",
            pl.src, pl.hp, pl.wp, pl.top, pl.left
        );
        gpu.border_scratch(w as u32, h as u32, &key, what)?
    } else {
        (Arc::new(texture(gpu, (w, h), what)?), true)
    };
    pack_input_x4(gpu, pl, m, pooled, !full, &tex)?;
    Ok(Some(tex))
}

/// Largest kept padded operand texture, bytes.
const MAX_BORDER_SCRATCH: usize = 32 << 20;

/// Whether window pairs can be packed with this placement.
pub(super) fn takes_pairs(pl: &Placement) -> bool {
    pl.step == (1, 1)
        && pl.src[3].is_multiple_of(4)
        && pl.src[2].is_multiple_of(2)
        && x4_positions(pl) < 1 << 23
}

/// [`pack_input`] four source columns per invocation, from the rgba mirror `m` (no dilation,
/// W a multiple of 4): a quarter of the texel fetches. `pooled`: `m` holds window pairs;
/// `data_only`: the padding already holds zeros and is not written.
fn pack_input_x4(
    gpu: &Gpu,
    pl: Placement,
    m: &Mirror,
    pooled: bool,
    data_only: bool,
    tex: &GpuTexture,
) -> Result<()> {
    let u = |v: usize| v as u32;
    let [n, c, h, w] = pl.src;
    let positions = match data_only {
        true => n * pl.c4() * h * (w / 4),
        false => x4_positions(&pl),
    };
    let uniform = [
        u(n),
        u(c),
        u(h),
        u(w),
        u(pl.c4()),
        u(pl.hp),
        u(pl.wp),
        u(pl.top),
        u(pl.left),
        m.shift,
        u(positions),
        0,
    ];
    let (x, y) = flat_grid(positions);
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    gpu.dispatch(
        "conv2d/pack_input_x4.wgsl",
        &[("POOLED", flag(pooled)), ("DATA_ONLY", flag(data_only))],
        bytemuck::cast_slice(&uniform),
        &[Binding::Texture(&m.texture), Binding::Texture(tex)],
        [x, y, 1],
    )
}

/// A 2-D grid of workgroups of 64 covering `positions` flat positions (the shader flattens it
/// with `num_workgroups.x`).
fn flat_grid(positions: usize) -> (u32, u32) {
    let groups = positions.div_ceil(64).max(1);
    let x = groups.min(65535);
    (x as u32, groups.div_ceil(x) as u32)
}

/// Invocations of `pack_input_x4.wgsl`: 4 padded columns x every row, image and channel quad.
fn x4_positions(pl: &Placement) -> usize {
    pl.wp.div_ceil(4) * pl.hp * pl.src[0] * pl.c4()
}

/// W packed as the GEMM's B operand ([`pack_weight_now`]), reused while W is unchanged: frozen
/// weights, and every weight during evaluation, are packed once.
pub(super) fn pack_weight(w: &Tensor, g: &Geometry, flip: bool) -> Result<Arc<GpuTexture>> {
    let tag = format!(
        "conv2d weight operand {}x{}x{}x{} flip={flip}",
        g.co, g.ci, g.kh, g.kw
    );
    w.gpu()
        .derived_texture(w.buffer(), &tag, || pack_weight_now(w, g, flip))
}

/// Packs W `[Co, Ci, kH, kW]` as the GEMM's B operand: columns Co (forward) or, with `flip`,
/// columns Ci over reduction channels Co with the kernel flipped (input gradient).
pub(super) fn pack_weight_now(w: &Tensor, g: &Geometry, flip: bool) -> Result<GpuTexture> {
    let gpu = w.gpu();
    let (cols, c) = if flip { (g.ci, g.co) } else { (g.co, g.ci) };
    let size = weight_size(gpu, g, cols, c);
    let tex = texture(gpu, size, "conv2d weight operand")?;
    let m = mirror(w, "conv2d weight")?;
    let u = |v: usize| v as u32;
    let uniform = [
        u(cols),
        u(c),
        u(g.kh),
        u(g.kw),
        u(c.div_ceil(4)),
        u(size.0),
        u(size.1),
        m.shift,
    ];
    // Workgroup 16x4: 16 lanes along the far-apart source axis (see the shader).
    let (channel_tile, column_tile) = if flip { (16, 4) } else { (4, 16) };
    gpu.dispatch(
        "conv2d/pack_weight.wgsl",
        &[("FLIP", if flip { 1.0 } else { 0.0 })],
        bytemuck::cast_slice(&uniform),
        &[Binding::Texture(&m.texture), Binding::Texture(&tex)],
        [
            u((4 * c.div_ceil(4)).div_ceil(channel_tile)),
            u(size.0.div_ceil(column_tile)),
            u(g.kh * g.kw),
        ],
    )?;
    Ok(tex)
}
