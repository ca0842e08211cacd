//! The texture-operand variant (`*_tex`) of the three passes, for CPU adapters: both GEMM
//! operands are packed into rgba32float textures (zero-padded NHWC input, reordered weights,
//! dY by channel) and the register-blocked kernels read them with `textureLoad`. On llvmpipe a
//! storage-buffer load is a per-lane loop with a branch and a stack round trip, a texel fetch is
//! vectorised; the packing costs one pass over each operand. Layouts: `wgsl-gen/src/conv2d_tex.rs`.
//!
//! The input gradient runs the forward kernel on dY dilated by the stride and padded by
//! `k - 1 - p`, with flipped, transposed weights and stride 1 (the transposed convolution as a
//! plain one). Shapes whose textures exceed the adapter's limits (or padding >= kernel, for the
//! input gradient) fall back to the storage-buffer `sgbc` kernels.
//!
//! 1x1 convolutions with stride 1 and no padding (ResNet's bottlenecks: 45% of ResNet-50's
//! convolution FLOPs) are plain GEMMs over the NCHW tensors: where the reduction channels and
//! H*W are multiples of 4, the forward and input-gradient GEMMs (`_nchw` kernels) and the weight
//! gradient (`NCHW_X`) read X and dY from rgba mirrors of their own buffers, so neither is
//! packed ([`nchw_operand`]). The input gradient of a strided 1x1 layer (ResNet's downsampling)
//! is the same GEMM storing every stride-th pixel of a zeroed dX, where dilating dY had made
//! three quarters of its rows zeros.

use super::operands::{mirror, texture, Placement};
pub(super) use super::pack::DyOperand;
use super::pack::{pack_input_cached, pack_output_grad, pack_weight, takes_pairs};
use super::tiles::{
    batch_major, batch_major_cols, forward_tile, tile_cols, weight_size, wgrad_tile,
};
use super::{Geometry, WeightOperand, MAX_LOOP};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, GpuTexture};
use crate::tensor::{DType, Tensor};
use dak_wgsl_gen::{Cols, Order};

/// Matches `struct ConvTex` in the generated `*_tex_s*.wgsl` kernels.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct TexUniform {
    m: u32,
    ncol: u32,
    c4: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    sh: u32,
    sw: u32,
    hp: u32,
    flags: u32,
    chunk: u32,
    gw: u32,
    gr: u32,
    p: u32,
    maxrow: u32,
    plane4: u32,
    shift: u32,
    /// Pooled width and height (the fused-pool forward kernels); the weight gradient's OIHW
    /// store takes the input channels C in `pool_w`.
    pool_w: u32,
    pool_h: u32,
}

/// Whether the packed textures of `sizes` and the mirrors of `sources` (their lengths) fit.
fn fits(gpu: &Gpu, sizes: &[(usize, usize)], sources: &[usize]) -> bool {
    let max = gpu.max_texture_side() as usize;
    sizes.iter().all(|&(w, h)| w <= max && h <= max) && sources.iter().all(|&n| gpu.can_mirror(n))
}

/// The generated forward kernel of table row (`cols` per lane, row `order`) for the adapter.
fn forward_shader(gpu: &Gpu, cols: Cols, order: Order) -> String {
    dak_wgsl_gen::tex_forward_path(cols, order, gpu.subgroup_size() as usize)
}

/// One launch of the forward kernel's GEMM over a packed input: `out_dims` = (oh, ow, cols),
/// `rows` output pixels of `oh` x `ow` images and `cols` output channels, kernel `kh` x `kw`
/// with `stride`. `transposed`: `weight` is the layer's forward weight texture and this is
/// its input gradient (`W_T` in the kernels).
struct TexGemm<'a> {
    input: &'a GpuTexture,
    placement: Placement,
    weight: &'a GpuTexture,
    transposed: bool,
    bias: &'a Tensor,
    flags: u32,
    out: &'a Tensor,
    out_dims: (usize, usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
}

fn forward_gemm(gpu: &Gpu, launch: TexGemm) -> Result<()> {
    let TexGemm {
        input,
        placement: pl,
        weight,
        transposed,
        bias,
        flags,
        out,
        out_dims: (oh, ow, cols),
        kernel: (kh, kw),
        stride,
    } = launch;
    let u = |v: usize| v as u32;
    let m = pl.src[0] * oh * ow;
    let uniform = TexUniform {
        m: u(m),
        ncol: u(cols),
        c4: u(pl.c4()),
        kh: u(kh),
        kw: u(kw),
        oh: u(oh),
        ow: u(ow),
        sh: u(stride.0),
        sw: u(stride.1),
        hp: u(pl.hp),
        flags,
        ..Default::default()
    };
    let (tile, per_lane) = forward_tile(gpu, cols);
    let narrow = [Cols::N2, Cols::N3, Cols::N4].contains(&per_lane);
    let (file, uniform) = if narrow && batch_major(pl, (oh, ow), (kh, kw), stride) {
        // Batch-major rows with a per-tile tap range: the data's extent in the padded input.
        let bot = pl.top + (pl.src[2] - 1) * pl.step.0;
        let right = pl.left + (pl.src[3] - 1) * pl.step.1;
        let bm = TexUniform {
            gw: u(pl.src[0]),
            chunk: u(pl.top),
            gr: u(bot),
            p: u(pl.left),
            maxrow: u(right),
            ..uniform
        };
        let cols = batch_major_cols(per_lane);
        (forward_shader(gpu, cols, Order::BatchMajor), bm)
    } else {
        (forward_shader(gpu, per_lane, Order::Pixel), uniform)
    };
    let w_t = if transposed { 1.0 } else { 0.0 };
    gpu.dispatch(
        &file,
        &[("W_T", w_t)],
        bytemuck::bytes_of(&uniform),
        &[
            Binding::Texture(input),
            Binding::Texture(weight),
            bias.binding(),
            out.binding(),
        ],
        [u(cols.div_ceil(tile)), u(m.div_ceil(64)), 1],
    )
}

/// Whether a GEMM of a 1x1 unpadded layer can read its A operand (`reduce` channels of
/// `plane` = (height, width) pixels: X, or dY for the input gradient) from the rgba mirror of its
/// NCHW buffer: a texel is then 4 pixels of one channel (a plane a multiple of 4) and a k-step
/// 4 whole channels (`reduce` a multiple of 4), and the `cols` output columns take a tile that
/// has an `_nchw` kernel.
fn nchw_operand(
    gpu: &Gpu,
    g: &Geometry,
    reduce: usize,
    plane: (usize, usize),
    cols: usize,
) -> bool {
    let one_by_one = (g.kh, g.kw) == (1, 1) && g.spec.padding == (0, 0);
    let m = g.n * plane.0 * plane.1;
    one_by_one
        && reduce.is_multiple_of(4)
        && (plane.0 * plane.1).is_multiple_of(4)
        && m.div_ceil(64) <= 65535
        && matches!(forward_tile(gpu, cols).1, Cols::N8 | Cols::N4)
}

/// The GEMM of [`nchw_operand`]: `src` `[N, reduce, h, w]` (X, or dY for the input gradient)
/// times the weight texture into `out` `[N, cols, oh, ow]`, pixel (y, x) of `src` at
/// (y * stride.0, x * stride.1) of `out` (stride 1 but for a strided layer's input gradient,
/// whose other pixels the caller has zeroed), or `false` when `src` has no mirror.
#[allow(clippy::too_many_arguments)] // one launch: the bindings and sizes its shader declares
fn nchw_gemm(
    src: &Tensor,
    reduce: usize,
    weight: &GpuTexture,
    transposed: bool,
    bias: &Tensor,
    flags: u32,
    out: &Tensor,
    (h, w): (usize, usize),
    (oh, ow, cols): (usize, usize, usize),
    stride: (usize, usize),
) -> Result<bool> {
    let gpu = src.gpu();
    let Some(m) = gpu.mirror_rgba(src.buffer(), src.numel(), "conv2d 1x1 operand")? else {
        return Ok(false);
    };
    let u = |v: usize| v as u32;
    let rows = src.numel() / reduce;
    let uniform = TexUniform {
        m: u(rows),
        ncol: u(cols),
        c4: u(reduce / 4),
        kh: 1,
        kw: 1,
        oh: u(h),
        ow: u(w),
        sh: u(stride.0),
        sw: u(stride.1),
        hp: u(oh),
        gw: u(ow),
        flags,
        plane4: u(h * w / 4),
        shift: m.shift,
        ..Default::default()
    };
    let (tile, per_lane) = forward_tile(gpu, cols);
    gpu.dispatch(
        &forward_shader(gpu, per_lane, Order::Nchw),
        &[("W_T", if transposed { 1.0 } else { 0.0 })],
        bytemuck::bytes_of(&uniform),
        &[
            Binding::Texture(&m.texture),
            Binding::Texture(weight),
            bias.binding(),
            out.binding(),
        ],
        [u(cols.div_ceil(tile)), u(rows.div_ceil(64)), 1],
    )?;
    Ok(true)
}

/// Forward pass into `y`, or `false` when the operands do not fit the adapter's textures.
pub(super) fn forward(
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    flags: u32,
    g: &Geometry,
    y: &Tensor,
) -> Result<bool> {
    let gpu = x.gpu();
    let pl = Placement::input(g);
    let wsize = weight_size(gpu, g, g.co, g.ci);
    let one = g.spec.stride == (1, 1);
    if one && nchw_operand(gpu, g, g.ci, (g.h, g.w), g.co) && fits(gpu, &[wsize], &[g.w_len()]) {
        let weight = pack_weight(w, g, false)?;
        let out = (g.oh, g.ow, g.co);
        if nchw_gemm(
            x,
            g.ci,
            &weight,
            false,
            bias,
            flags,
            y,
            (g.h, g.w),
            out,
            (1, 1),
        )? {
            return Ok(true);
        }
    }
    if !fits(gpu, &[pl.size(), wsize], &[g.x_len(), g.w_len()]) {
        return Ok(false);
    }
    if !pl.grid_fits() {
        return Ok(false);
    }
    let input = pack_input_cached(x, pl, "conv2d input operand")?;
    let weight = pack_weight(w, g, false)?;
    let launch = TexGemm {
        input: &input,
        placement: pl,
        weight: &weight,
        transposed: false,
        bias,
        flags,
        out: y,
        out_dims: (g.oh, g.ow, g.co),
        kernel: (g.kh, g.kw),
        stride: g.spec.stride,
    };
    forward_gemm(gpu, launch)?;
    Ok(true)
}

/// Forward pass with the 2x2/2 max-pool fused into the GEMM's store (`fwd_igemm*_pool_tex`):
/// the pooled output into `y` `[N, Co, oH/2, oW/2]` and its argmax into `arg` (index in the
/// conv-output plane), or `false` when the operands do not fit the adapter's textures.
#[allow(clippy::too_many_arguments)] // one fused launch: the bindings and geometry its shader declares
pub(super) fn forward_pool(
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    flags: u32,
    g: &Geometry,
    (ph, pw): (usize, usize),
    y: &Tensor,
    arg: &Tensor,
) -> Result<bool> {
    let gpu = x.gpu();
    let pl = Placement::input(g);
    // Rows are the pixels of whole windows: 4 per pooled output.
    let m = 4 * g.n * ph * pw;
    if !fits(
        gpu,
        &[pl.size(), weight_size(gpu, g, g.co, g.ci)],
        &[g.x_len(), g.w_len()],
    ) || !pl.grid_fits()
        || m.div_ceil(64) > 65535
    {
        return Ok(false);
    }
    let input = pack_input_cached(x, pl, "conv2d input operand")?;
    let weight = pack_weight(w, g, false)?;
    let u = |v: usize| v as u32;
    let uniform = TexUniform {
        m: u(m),
        ncol: u(g.co),
        c4: u(pl.c4()),
        kh: u(g.kh),
        kw: u(g.kw),
        oh: u(g.oh),
        ow: u(g.ow),
        sh: u(g.spec.stride.0),
        sw: u(g.spec.stride.1),
        hp: u(pl.hp),
        flags,
        pool_w: u(pw),
        pool_h: u(ph),
        ..Default::default()
    };
    let (tile, per_lane) = forward_tile(gpu, g.co);
    gpu.dispatch(
        &forward_shader(gpu, per_lane, Order::Pool),
        &[],
        bytemuck::bytes_of(&uniform),
        &[
            Binding::Texture(&input),
            Binding::Texture(&weight),
            bias.binding(),
            y.binding(),
            arg.binding(),
        ],
        [u(g.co.div_ceil(tile)), u(m.div_ceil(64)), 1],
    )?;
    Ok(true)
}

/// The placement of dY for the input gradient, or `None` when this variant cannot take the
/// shape (textures too large, padding >= kernel) or, for window pairs, the 4-column packing.
fn dgrad_placement(gpu: &Gpu, g: &Geometry, flipped: bool, pairs: bool) -> Option<Placement> {
    let pl = Placement::output_grad(g)?;
    let wsize = match flipped {
        true => weight_size(gpu, g, g.ci, g.co),
        false => weight_size(gpu, g, g.co, g.ci),
    };
    let fit = fits(gpu, &[pl.size(), wsize], &[g.y_len(), g.w_len()]) && pl.grid_fits();
    (fit && (!pairs || takes_pairs(&pl))).then_some(pl)
}

/// Whether the input gradient can read the pooled gradient's window pairs for this layer.
pub(super) fn dgrad_takes_pooled_pairs(gpu: &Gpu, g: &Geometry) -> bool {
    g.oh.is_multiple_of(2) && dgrad_placement(gpu, g, false, true).is_some()
}

/// Input gradient into `dx`, or `false` when this variant cannot take the shape. The weight
/// operand is the forward pass's packed W read transposed (still cached: the optimizer has not
/// run yet), or a flipped copy packed for this call ([`WeightOperand::Flipped`], the reference).
pub(super) fn backward_input(
    dy: DyOperand,
    w: &Tensor,
    g: &Geometry,
    dx: &Tensor,
    operand: WeightOperand,
) -> Result<bool> {
    let gpu = w.gpu();
    let flipped = operand == WeightOperand::Flipped;
    let pairs = matches!(dy, DyOperand::PooledPairs(_));
    if let DyOperand::Tensor(dy) = dy {
        let wsize = match flipped {
            true => weight_size(gpu, g, g.ci, g.co),
            false => weight_size(gpu, g, g.co, g.ci),
        };
        // Any stride: dY's pixels go where the stride read X, the rest of dX is zero.
        let plane = (g.oh, g.ow);
        if nchw_operand(gpu, g, g.co, plane, g.ci) && fits(gpu, &[wsize], &[g.w_len()]) {
            let weight = pack_weight(w, g, flipped)?;
            let dummy = Tensor::uninit(gpu, &[1], DType::F32)?;
            if g.spec.stride != (1, 1) {
                gpu.zero(dx.buffer());
            }
            let out = (g.h, g.w, g.ci);
            let stride = g.spec.stride;
            if nchw_gemm(
                dy, g.co, &weight, !flipped, &dummy, 0, dx, plane, out, stride,
            )? {
                return Ok(true);
            }
        }
    }
    let Some(pl) = dgrad_placement(gpu, g, flipped, pairs) else {
        return Ok(false);
    };
    let Some(input) = pack_output_grad(gpu, dy, pl, "conv2d output-gradient operand")? else {
        return Ok(false);
    };
    let weight = pack_weight(w, g, flipped)?;
    let dummy = Tensor::uninit(gpu, &[1], DType::F32)?;
    let launch = TexGemm {
        input: &input,
        placement: pl,
        weight: &weight,
        transposed: !flipped,
        bias: &dummy,
        flags: 0,
        out: dx,
        out_dims: (g.h, g.w, g.ci),
        kernel: (g.kh, g.kw),
        stride: (1, 1),
    };
    forward_gemm(gpu, launch)?;
    Ok(true)
}

/// Layout of dY by channel for the weight gradient: (texels per row GW, rows per channel GR).
fn dy_layout(gpu: &Gpu, g: &Geometry) -> (usize, usize) {
    let groups = (g.n * g.oh * g.ow).div_ceil(4);
    let gw = groups.min(gpu.max_texture_side() as usize);
    (gw, groups.div_ceil(gw))
}

/// Whether the weight gradient's GEMM can read the pooled gradient's window pairs
/// ([`DyOperand::PooledPairs`]) for this layer: its operands fit and every pixel group of 4
/// lies in one row of windows.
pub(super) fn wgrad_takes_pooled_pairs(gpu: &Gpu, g: &Geometry) -> bool {
    g.oh.is_multiple_of(2) && g.ow.is_multiple_of(4) && wgrad_fits(gpu, g, false)
}

/// Whether the weight gradient's operands fit the adapter's textures (`dy_mirror`: dY is read
/// from a mirror of its own).
fn wgrad_fits(gpu: &Gpu, g: &Geometry, dy_mirror: bool) -> bool {
    let pl = Placement::input(g);
    let (gw, gr) = dy_layout(gpu, g);
    let ncol = g.kh * g.kw * pl.c4() * 4;
    let (splits, _) = split(g, gpu, ncol);
    let dy_len = if dy_mirror { g.y_len() } else { 1 };
    let sources = [dy_len, g.x_len(), splits * g.co * ncol];
    fits(gpu, &[pl.size(), (gw, g.co * gr)], &sources) && pl.grid_fits() && g.co <= 65535
}

/// Weight gradient into `dw` (OIHW), or `false` when the operands do not fit the textures.
pub(super) fn backward_weight(
    dy: DyOperand,
    x: &Tensor,
    g: &Geometry,
    dw: &Tensor,
) -> Result<bool> {
    let gpu = x.gpu();
    let pl = Placement::input(g);
    let (gw, gr) = dy_layout(gpu, g);
    let ncol = g.kh * g.kw * pl.c4() * 4;
    let (splits, chunk) = split(g, gpu, ncol);
    let pooled = matches!(dy, DyOperand::PooledPairs(_));
    if !wgrad_fits(gpu, g, !pooled) || (pooled && !wgrad_takes_pooled_pairs(gpu, g)) {
        return Ok(false);
    }
    let u = |v: usize| v as u32;
    let p = g.n * g.oh * g.ow;
    let ohw = g.oh * g.ow;
    // When a plane holds whole groups of 4 pixels, dY's NCHW buffer copied into an rgba32float
    // mirror already is the operand; otherwise pack it by channel.
    let own;
    let (dyt, plane4, shift) = match dy {
        DyOperand::PooledPairs(m) => (&m.texture, u(ohw / 4), m.shift),
        DyOperand::Tensor(dy) => {
            let nchw = match ohw.is_multiple_of(4) {
                true => gpu.mirror_rgba(dy.buffer(), g.y_len(), "conv2d output gradient")?,
                false => None,
            };
            match nchw {
                Some(m) => {
                    own = m.texture;
                    (&own, u(ohw / 4), m.shift)
                }
                None => {
                    own = pack_dy(dy, g, (gw, gr))?;
                    (&own, 0, 0)
                }
            }
        }
    };
    // A 1x1 layer whose NCHW dY is read as it is reads X the same way (`NCHW_X`).
    let plain_1x1 = (g.kh, g.kw, g.spec) == (1, 1, super::Spec::new(1, 0));
    let x_mirror = match plane4 > 0 && plain_1x1 && g.ci.is_multiple_of(4) {
        true => gpu.mirror_rgba(x.buffer(), g.x_len(), "conv2d 1x1 input")?,
        false => None,
    };
    let packed;
    let input = match &x_mirror {
        Some(m) => &m.texture,
        None => {
            packed = pack_input_cached(x, pl, "conv2d input operand")?;
            &*packed
        }
    };
    // One chunk: the GEMM stores dW in OIHW order itself (no partials, no reduction pass).
    let direct = splits == 1;
    let part = match direct {
        true => dw.clone(),
        false => Tensor::uninit(gpu, &[splits, g.co * ncol], DType::F32)?,
    };
    let uniform = TexUniform {
        m: u(g.co),
        ncol: u(ncol),
        c4: u(pl.c4()),
        kh: u(g.kh),
        kw: u(g.kw),
        oh: u(g.oh),
        ow: u(g.ow),
        sh: u(g.spec.stride.0),
        sw: u(g.spec.stride.1),
        hp: u(pl.hp),
        flags: 0,
        chunk: u(chunk),
        gw: u(gw),
        gr: u(gr),
        p: u(p),
        maxrow: u(pl.size().1 - 1),
        plane4,
        shift,
        pool_w: u(g.ci),
        ..Default::default()
    };
    let rows_tile = wgrad_tile(g.co);
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    gpu.dispatch(
        &dak_wgsl_gen::tex_wgrad_path(rows_tile, gpu.subgroup_size() as usize),
        &[
            ("NCHW_DY", flag(plane4 > 0 && !pooled)),
            ("POOLED_DY", flag(pooled)),
            ("OIHW", flag(direct)),
            ("NCHW_X", flag(x_mirror.is_some())),
        ],
        bytemuck::bytes_of(&uniform),
        &[
            Binding::Texture(dyt),
            Binding::Texture(input),
            part.binding(),
        ],
        [
            u(ncol.div_ceil(tile_cols(gpu))),
            u(g.co.div_ceil(rows_tile)),
            u(splits),
        ],
    )?;
    if direct {
        return Ok(true);
    }
    let part_m = mirror(&part, "conv2d weight-gradient partials")?;
    let reduce = [
        u(g.co),
        u(g.ci),
        u(g.kh),
        u(g.kw),
        u(pl.c4()),
        u(splits),
        part_m.shift,
        0,
    ];
    gpu.dispatch(
        "conv2d/wgrad_tex_reduce.wgsl",
        &[],
        bytemuck::cast_slice(&reduce),
        &[Binding::Texture(&part_m.texture), dw.binding()],
        [u(g.co.div_ceil(8)), u(g.ci.div_ceil(8)), u(g.kh * g.kw)],
    )?;
    Ok(true)
}

/// dY packed by channel in groups of 4 pixels (`pack_dy.wgsl`), for planes that do not hold
/// whole groups.
fn pack_dy(dy: &Tensor, g: &Geometry, (gw, gr): (usize, usize)) -> Result<GpuTexture> {
    let gpu = dy.gpu();
    let u = |v: usize| v as u32;
    let dyt = texture(gpu, (gw, g.co * gr), "conv2d output-gradient operand")?;
    let m = mirror(dy, "conv2d output gradient")?;
    let (ohw, p) = (g.oh * g.ow, g.n * g.oh * g.ow);
    let pack = [u(g.co), u(ohw), u(p), u(gw), u(gr), m.shift, 0, 0];
    gpu.dispatch(
        "conv2d/pack_dy.wgsl",
        &[],
        bytemuck::cast_slice(&pack),
        &[Binding::Texture(&m.texture), Binding::Texture(&dyt)],
        [u(gw.div_ceil(8)), u(gr.div_ceil(8)), u(g.co)],
    )?;
    Ok(dyt)
}

/// (splits, chunk of pixels) for the weight gradient: four workgroups per thread of the CPU
/// adapter, chunks of at least 256 pixels (a multiple of 16), partials under 64 MiB, loops
/// under `MAX_LOOP`. More splits only add partials to store and sum: on 2 threads, 8 workgroups
/// instead of 64 took the ResNet-50 step's split-K reduction from 124 to 7 ms and its 1x1
/// layers from 31 to 42 GFLOP/s (docs/benchmarks.md, nineteenth session).
fn split(g: &Geometry, gpu: &Gpu, ncol: usize) -> (usize, usize) {
    let p = g.n * g.oh * g.ow;
    let tiles = g.co.div_ceil(wgrad_tile(g.co)) * ncol.div_ceil(tile_cols(gpu));
    let by_groups = (4 * gpu.cpu_threads()).div_ceil(tiles);
    let by_length = (p / 256).max(1);
    let by_memory = ((64usize << 20) / (4 * g.co * ncol)).max(1);
    let by_loop = p.div_ceil(4 * MAX_LOOP);
    let splits = by_groups
        .min(by_length)
        .min(by_memory)
        .max(by_loop)
        .clamp(1, 4096);
    let chunk = p.div_ceil(splits).next_multiple_of(16);
    (p.div_ceil(chunk), chunk)
}
