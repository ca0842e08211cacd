//! ReLU + max-pool backward in one pass (the fused conv + ReLU + pool layer's backward,
//! `ops/conv2d/pooled.rs`): dZ from dY, the pooled output Y = pool(ReLU(Z)) (its sign is the
//! ReLU's mask) and the saved argmax, plus the masked pooled gradient dY·[Y > 0] that the bias
//! gradient sums. Two kernels: `pool/max_relu_bwd_scatter.wgsl` for any non-overlapping windows
//! (one invocation per window, one store per dZ element, a clearing pass where windows leave
//! gaps), and `pool/max_relu_bwd_x4.wgsl` for 2x2/2 windows tiling the input with W a multiple
//! of 4 (one invocation and one vec4 store per four dZ elements). The reference is
//! `pool::reference::max_pool2d_relu_backward`.

use super::grid_1d_64;
use super::pool::{per_plane, PoolGeometry, PoolUniform};
use super::Mirrors;
use crate::error::{Error, Result};
use crate::gpu::{Binding, Mirror};
use crate::tensor::{DType, Tensor};

/// Which kernel runs the ReLU + max-pool backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReluPoolKernel {
    /// The vec4 kernel where the shape allows it, else the scatter kernel.
    Auto,
    /// One invocation per window (any non-overlapping windows; the reference GPU path).
    Scatter,
    /// Four dZ elements per invocation: 2x2 windows with stride 2, H even, W a multiple of 4.
    X4,
}

impl ReluPoolKernel {
    /// Whether the vec4 kernel handles this geometry (windows tile the input exactly, W splits
    /// into quads, and its float-quotient index split is exact).
    pub fn x4_fits(g: &PoolGeometry) -> bool {
        let quads = g.n * g.c * g.h * g.w / 4;
        g.k == 2
            && g.stride == 2
            && g.h.is_multiple_of(2)
            && g.w.is_multiple_of(4)
            && quads < 1 << 24
    }
}

/// Backward of ReLU then max pooling with non-overlapping windows (k <= stride), in one pass:
/// dZ `[N, C, H, W]` (`z_shape`) from dY, the pooled output Y = pool(ReLU(Z)) (its sign is the
/// ReLU's mask) and the saved argmax. The fused conv + ReLU + pool layer's backward.
pub fn max_pool2d_relu_backward(
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    z_shape: &[usize],
    k: usize,
    stride: usize,
) -> Result<Tensor> {
    max_pool2d_relu_backward_masked(dy, y, argmax, z_shape, k, stride).map(|(dz, _)| dz)
}

/// [`max_pool2d_relu_backward`] that also returns the masked pooled gradient `dY · [Y > 0]`
/// (pooled shape, written by the same pass): the bias gradient of the fused conv + ReLU + pool
/// sums it instead of dZ, a quarter of the elements with the same non-zeros.
pub fn max_pool2d_relu_backward_masked(
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    z_shape: &[usize],
    k: usize,
    stride: usize,
) -> Result<(Tensor, Tensor)> {
    let kernel = ReluPoolKernel::Auto;
    max_pool2d_relu_backward_with(dy, y, argmax, z_shape, k, stride, kernel)
}

/// [`max_pool2d_relu_backward_masked`] with the kernel chosen by the caller (tests, checks).
pub fn max_pool2d_relu_backward_with(
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    z_shape: &[usize],
    k: usize,
    stride: usize,
    kernel: ReluPoolKernel,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "max_pool2d_relu backward";
    let g = checked_geometry(dy, y, argmax, z_shape, k, stride, OP)?;
    let fits = ReluPoolKernel::x4_fits(&g);
    let x4 = match kernel {
        ReluPoolKernel::Auto => fits,
        ReluPoolKernel::Scatter => false,
        ReluPoolKernel::X4 if fits => true,
        ReluPoolKernel::X4 => {
            return Err(Error::input(format!(
                "{OP}: the vec4 kernel needs 2x2 windows with stride 2, H even and W a multiple \
                 of 4; got input {z_shape:?}, window {k}, stride {stride}"
            )))
        }
    };
    let gpu = dy.gpu();
    let dz = Tensor::uninit(gpu, &g.x_shape(), DType::F32)?;
    let masked = Tensor::uninit(gpu, &g.y_shape(), DType::F32)?;
    let m = Mirrors::of(&[dy, y])?;
    let u = PoolUniform {
        shift: m.shift,
        ..PoolUniform::new(&g)
    };
    let buffers = [
        dy.binding(),
        argmax.binding(),
        y.binding(),
        dz.binding(),
        masked.binding(),
    ];
    if x4 {
        // The argmax is read through an r32uint mirror alongside dY and Y's (same width).
        let arg_m = match m.on {
            true => gpu.mirror_u32(argmax.buffer(), argmax.numel(), "argmax")?,
            false => None,
        };
        let on = arg_m.is_some();
        let arg_tex = match arg_m {
            Some(a) => a.texture,
            None => gpu.texture_r32u(1, 1, "unused mirror")?,
        };
        let mut bindings = m.after(&buffers);
        bindings.push(Binding::Texture(&arg_tex));
        let u = PoolUniform {
            planes: (g.n * g.c) as u32,
            ..u
        };
        gpu.dispatch(
            "pool/max_relu_bwd_x4.wgsl",
            &[("MIRROR", if on { 1.0 } else { 0.0 })],
            bytemuck::bytes_of(&u),
            &bindings,
            grid_1d_64(g.x_len() / 4),
        )?;
        return Ok((dz, masked));
    }
    if k < stride || g.oh * k != g.h || g.ow * k != g.w {
        gpu.zero(dz.buffer());
    }
    per_plane(
        gpu,
        "pool/max_relu_bwd_scatter.wgsl",
        &[m.constant()],
        |plane0, planes, flat| {
            bytemuck::bytes_of(&PoolUniform {
                plane0,
                planes,
                flat,
                ..u
            })
            .to_vec()
        },
        &m.after(&buffers),
        g.oh * g.ow,
        g.n * g.c,
    )?;
    Ok((dz, masked))
}

/// The geometry of a ReLU + max-pool backward after checking its operands.
fn checked_geometry(
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    z_shape: &[usize],
    k: usize,
    stride: usize,
    op: &str,
) -> Result<PoolGeometry> {
    let g = PoolGeometry::new(z_shape, k, stride, op)?;
    if k > stride {
        return Err(Error::input(format!(
            "{op}: windows overlap (kernel {k} > stride {stride}); use max_pool2d_backward"
        )));
    }
    dy.expect_dtype(DType::F32, op)?;
    y.expect_dtype(DType::F32, op)?;
    argmax.expect_dtype(DType::U32, op)?;
    dy.expect_shape(&g.y_shape(), op, "output gradient")?;
    y.expect_shape(&g.y_shape(), op, "pooled output")?;
    argmax.expect_shape(&g.y_shape(), op, "argmax")?;
    Ok(g)
}

/// For a weight gradient that reads the pooled gradient itself (CPU adapters): the masked
/// gradient `dY · [Y > 0]` and argmax of each pair of horizontally adjacent 2x2/2 windows as one
/// rgba32float texel `(g0, g1, arg0, arg1)` of a mirror-layout texture
/// (`pool/max_relu_grad_pairs.wgsl`), plus the masked pooled gradient (the bias gradient's
/// input). dZ (4x the values) is never written. `None` where the shape does not pair up (the
/// conv output's W a multiple of 4, H even) or the adapter takes the portable paths.
pub fn max_pool2d_relu_grad_pairs(
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    z_shape: &[usize],
) -> Result<Option<(Mirror, Tensor)>> {
    const OP: &str = "max_pool2d_relu backward (window pairs)";
    let g = checked_geometry(dy, y, argmax, z_shape, 2, 2, OP)?;
    let gpu = dy.gpu();
    if !gpu.cpu_paths() || !ReluPoolKernel::x4_fits(&g) {
        return Ok(None);
    }
    let n_pairs = g.n * g.c * g.oh * g.ow / 2;
    let Some(pairs) = gpu.mirror_rgba_target(n_pairs, "pooled gradient pairs")? else {
        return Ok(None);
    };
    let masked = Tensor::uninit(gpu, &g.y_shape(), DType::F32)?;
    if grad_pairs_x2(dy, y, argmax, &g, &pairs, &masked)? {
        return Ok(Some((pairs, masked)));
    }
    let m = Mirrors::of(&[dy, y])?;
    let arg_m = match m.on {
        true => gpu.mirror_u32(argmax.buffer(), argmax.numel(), "argmax")?,
        false => None,
    };
    let (true, Some(arg_m)) = (m.on, arg_m) else {
        return Ok(None);
    };
    let u = PoolUniform {
        flat: n_pairs as u32,
        shift: m.shift,
        ..PoolUniform::new(&g)
    };
    let mut bindings = m.after(&[]);
    bindings.push(Binding::Texture(&arg_m.texture));
    bindings.push(Binding::Texture(&pairs.texture));
    bindings.push(masked.binding());
    gpu.dispatch(
        "pool/max_relu_grad_pairs.wgsl",
        &[],
        bytemuck::bytes_of(&u),
        &bindings,
        grid_1d_64(n_pairs),
    )?;
    Ok(Some((pairs, masked)))
}

/// `pool/max_relu_grad_pairs_x2.wgsl` (two pairs per invocation from rgba mirrors) where the
/// pooled count is a multiple of 4 and the mirrors fit; `false` otherwise (nothing dispatched).
fn grad_pairs_x2(
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    g: &PoolGeometry,
    pairs: &Mirror,
    masked: &Tensor,
) -> Result<bool> {
    let gpu = dy.gpu();
    let n = dy.numel();
    let what = "pooled gradient";
    let (Some(dy_m), Some(y_m), Some(arg_m)) = (
        gpu.mirror_rgba(dy.buffer(), n, what)?,
        gpu.mirror_rgba(y.buffer(), n, what)?,
        gpu.mirror_rgba_u32(argmax.buffer(), n, "argmax")?,
    ) else {
        return Ok(false);
    };
    let u = PoolUniform {
        flat: (n / 4) as u32,
        shift: dy_m.shift,
        ..PoolUniform::new(g)
    };
    gpu.dispatch(
        "pool/max_relu_grad_pairs_x2.wgsl",
        &[],
        bytemuck::bytes_of(&u),
        &[
            Binding::Texture(&dy_m.texture),
            Binding::Texture(&y_m.texture),
            Binding::Texture(&arg_m.texture),
            Binding::Texture(&pairs.texture),
            masked.binding(),
        ],
        grid_1d_64(n / 4),
    )?;
    Ok(true)
}
