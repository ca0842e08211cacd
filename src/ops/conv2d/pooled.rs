//! Convolution + bias + ReLU + 2x2/2 max-pool as one op (`conv2d.fwd.igemm_pool_tex` on CPU
//! adapters): the layer sequence of the digits network and of every VGG16 block's last conv.
//!
//! Forward: on the texture variant (CPU adapters) and the tiled one (real GPUs,
//! `conv2d.fwd_pool.igemm_tiled`) the pool runs in the GEMM's store (rows ordered by pooling
//! window), so the unpooled activation is never written and the separate pooling pass goes.
//! The direct and subgroup variants, and shapes the textures cannot hold, compose the unfused
//! kernels (convolution with ReLU, then `pool::max_pool2d`): same outputs, same saved tensors.
//!
//! Saved for backward: the pooled output Y (its sign is the ReLU's mask, since
//! pool(ReLU(Z)) = ReLU(pool(Z))) and the argmax (index in the conv-output plane). Backward:
//! one pass turns dY into dZ (pool and ReLU gradient together, `pool::max_pool2d_relu_backward`)
//! and the masked pooled gradient, whose sum per channel is the bias gradient; then the
//! convolution's own dX / dW kernels.

use super::{texture, Geometry, Grads, Spec, Variant, WeightOperand};
use crate::error::Result;
use crate::ops::pool::{self, PoolGeometry};
use crate::ops::pool_relu;
use crate::tensor::{DType, Tensor};

/// Window side and stride of the fused pool.
pub const POOL: usize = 2;

/// The pooling over the convolution's output.
pub fn pool_geometry(g: &Geometry) -> Result<PoolGeometry> {
    PoolGeometry::new(&g.y_shape(), POOL, POOL, "conv2d + pool")
}

/// `maxpool2x2(ReLU(conv(X, W) + bias))`: returns the pooled Y `[N, Co, oH/2, oW/2]` (floor)
/// and its argmax (u32, index `oy*oW + ox` inside each conv-output plane).
pub fn forward(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: Spec,
    variant: Variant,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "conv2d + pool forward";
    let g = Geometry::new(x.shape(), w.shape(), spec, OP)?;
    let pg = pool_geometry(&g)?;
    // The backward binds the unpooled gradient, which this forward never materialises.
    x.gpu()
        .note_binding(g.y_shape().iter().product::<usize>() as u64 * 4);
    let fused = matches!(variant, Variant::Texture | Variant::Tiled);
    if fused && variant.supported(x.gpu()) {
        x.expect_dtype(DType::F32, OP)?;
        w.expect_dtype(DType::F32, OP)?;
        if let Some(b) = bias {
            b.expect_shape(&[g.co], OP, "bias")?;
        }
        let gpu = x.gpu();
        let y = Tensor::uninit(gpu, &pg.y_shape(), DType::F32)?;
        let arg = Tensor::uninit(gpu, &pg.y_shape(), DType::U32)?;
        let dummy;
        let b = match bias {
            Some(b) => b,
            None => {
                dummy = Tensor::uninit(gpu, &[1], DType::F32)?;
                &dummy
            }
        };
        let flags = bias.is_some() as u32 | 2;
        if variant == Variant::Tiled {
            forward_tiled(x, w, b, flags, &g, &pg, &y, &arg)?;
            return Ok((y, arg));
        }
        if texture::forward_pool(x, w, b, flags, &g, (pg.oh, pg.ow), &y, &arg)? {
            return Ok((y, arg));
        }
    }
    let z = super::forward(x, w, bias, true, spec, variant)?;
    pool::max_pool2d(&z, POOL, POOL)
}

/// `conv2d.fwd_pool.igemm_tiled`: the shared-memory tiled GEMM over the pixels of whole pooling
/// windows (4 rows per pooled output), pooling in its store.
#[allow(clippy::too_many_arguments)] // one launch of the fused kernel: the bindings and geometry its shader declares
fn forward_tiled(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    flags: u32,
    g: &Geometry,
    pg: &PoolGeometry,
    y: &Tensor,
    arg: &Tensor,
) -> Result<()> {
    let rows = 4 * g.n * pg.oh * pg.ow;
    let uniform = super::ConvUniform::new(g, flags, 0);
    x.gpu().dispatch(
        "conv2d/fwd_igemm_pool_tiled.wgsl",
        &[],
        bytemuck::bytes_of(&uniform),
        &[
            x.binding(),
            w.binding(),
            b.binding(),
            y.binding(),
            arg.binding(),
        ],
        [g.co.div_ceil(64) as u32, rows.div_ceil(64) as u32, 1],
    )
}

/// dZ `[N, Co, oH, oW]` (the gradient at the convolution's output, before its ReLU) from the
/// pooled output's gradient `dy`, the pooled output `y` and the `argmax` [`forward`] saved.
pub fn backward_to_conv(dy: &Tensor, y: &Tensor, argmax: &Tensor, g: &Geometry) -> Result<Tensor> {
    pool_relu::max_pool2d_relu_backward(dy, y, argmax, &g.y_shape(), POOL, POOL)
}

/// Backward of [`forward`]: `needs` = [dX, dW, db] as in [`super::backward`].
#[allow(clippy::too_many_arguments)] // the fused node's saved tensors and what is needed; a struct would only rename them
pub fn backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    spec: Spec,
    needs: [bool; 3],
    variant: Variant,
) -> Result<Grads> {
    let g = Geometry::new(x.shape(), w.shape(), spec, "conv2d + pool backward")?;
    let (xs, ws) = (x.shape(), w.shape());
    let (x_dw, w_dx) = (needs[1].then_some(x), needs[0].then_some(w));
    if let Some(p) = backward_from_pooled(xs, ws, x_dw, w_dx, dy, y, argmax, spec, variant)? {
        let db = match needs[2] {
            true => Some(crate::ops::elementwise::bias_grad(&p.masked)?),
            false => None,
        };
        return Ok(Grads {
            dx: p.dx,
            dw: p.dw,
            db,
        });
    }
    let (dz, masked) =
        pool_relu::max_pool2d_relu_backward_masked(dy, y, argmax, &g.y_shape(), POOL, POOL)?;
    let mut grads = super::backward(x, w, &dz, spec, [needs[0], needs[1], false], variant)?;
    if needs[2] {
        // Sum the masked pooled gradient: the same non-zeros as dZ, a quarter of the elements.
        grads.db = Some(crate::ops::elementwise::bias_grad(&masked)?);
    }
    Ok(grads)
}

/// What [`backward_from_pooled`] computed.
pub struct PooledGrads {
    /// Input gradient (when W was given).
    pub dx: Option<Tensor>,
    /// Weight gradient (when X was given).
    pub dw: Option<Tensor>,
    /// The masked pooled gradient `dY · [Y > 0]`: the bias gradient sums it.
    pub masked: Tensor,
}

/// The fused layer's backward without dZ, on the texture variant (CPU adapters): one pass turns
/// the pooled gradient into window pairs (`pool::max_pool2d_relu_grad_pairs`), the
/// weight-gradient GEMM reads them and rebuilds dZ's groups of 4 pixels in registers, and the
/// input gradient packs its operand from them; dZ (4x the pooled values) is never written
/// nor copied into textures. dW when `x` (the layer input) is given, dX when `w` is. `None`
/// where the variant, adapter or shape does not allow it (then use [`backward`]).
#[allow(clippy::too_many_arguments)] // the fused node's saved tensors and shapes; a struct would only rename them
pub fn backward_from_pooled(
    x_shape: &[usize],
    w_shape: &[usize],
    x: Option<&Tensor>,
    w: Option<&Tensor>,
    dy: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    spec: Spec,
    variant: Variant,
) -> Result<Option<PooledGrads>> {
    const OP: &str = "conv2d + pool backward";
    let g = Geometry::new(x_shape, w_shape, spec, OP)?;
    let gpu = dy.gpu();
    let takes = variant == Variant::Texture
        && variant.supported(gpu)
        && (x.is_none() || texture::wgrad_takes_pooled_pairs(gpu, &g))
        && (w.is_none() || texture::dgrad_takes_pooled_pairs(gpu, &g));
    if !takes {
        return Ok(None);
    }
    let Some((pairs, masked)) = pool_relu::max_pool2d_relu_grad_pairs(dy, y, argmax, &g.y_shape())?
    else {
        return Ok(None);
    };
    let declined =
        || crate::error::Error::runtime(format!("{OP}: a pass declined the window pairs"));
    let pairs = texture::DyOperand::PooledPairs(&pairs);
    let dw = match x {
        Some(x) => {
            let dw = Tensor::uninit(gpu, &g.w_shape(), DType::F32)?;
            texture::backward_weight(pairs, x, &g, &dw)?
                .then_some(dw)
                .ok_or_else(declined)
                .map(Some)?
        }
        None => None,
    };
    let dx = match w {
        Some(w) => {
            let dx = Tensor::uninit(gpu, &g.x_shape(), DType::F32)?;
            texture::backward_input(pairs, w, &g, &dx, WeightOperand::Forward)?
                .then_some(dx)
                .ok_or_else(declined)
                .map(Some)?
        }
        None => None,
    };
    Ok(Some(PooledGrads { dx, dw, masked }))
}

/// Plain-Rust oracles (the unfused chain conv -> ReLU -> pool) and the fused layer's cases.
pub mod reference {
    use super::super::reference::{self as conv, case, Case};
    use super::super::Geometry;
    use crate::ops::pool::reference as pool;

    /// Awkward shapes for the fused layer, the one list `tests/it/ops/conv2d/pooled.rs` and `dak kernels
    /// check` (`conv2d.fwd_pool.*`, `pool.max_relu_grad_pairs`) run: odd conv outputs (a row
    /// and a column in no window), batch 1 with 3 channels, the digits layers (32 and 48
    /// channels: 2 and 3 columns per lane on subgroups of 16, 4 and 6 on 8), 70 channels (a
    /// partial wide tile), stride 2, an output of exactly 2x2, 33 / 48 channels over a short
    /// and a 360-long reduction (the 6-column tile partly and wholly filled), batch 1 with an
    /// 8x8 output and 5 channels (window pairs, two per invocation), a 2x4 output with one
    /// channel (two pooled values: the one-pair kernel), 56 and 20 channels (the 4-column tile
    /// on subgroups of 16, 3 columns per lane on subgroups of 8).
    pub const CASES: &[Case] = &[
        case([1, 3, 9, 11], 5, 3, 1, 1),
        case([2, 3, 28, 28], 32, 5, 1, 0),
        case([3, 32, 12, 12], 48, 5, 1, 0),
        case([2, 6, 15, 13], 70, 3, 2, 1),
        case([1, 3, 4, 4], 3, 3, 1, 0),
        case([1, 5, 11, 9], 33, 3, 1, 1),
        case([2, 40, 7, 6], 48, 3, 1, 0),
        case([1, 3, 10, 10], 5, 3, 1, 0),
        case([1, 3, 4, 6], 1, 3, 1, 0),
        case([2, 3, 6, 8], 56, 3, 1, 1),
        case([1, 4, 8, 8], 20, 3, 1, 1),
    ];

    /// (pooled Y, argmax) of `maxpool2x2(ReLU(conv(X, W) + bias))`.
    pub fn forward(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
    ) -> (Vec<f32>, Vec<u32>) {
        let z = conv::forward(g, x, w, bias, true);
        let pg = super::pool_geometry(g).expect("the caller checked the pooled shape");
        pool::max_pool2d(&pg, &z)
    }

    /// (dX, dW, db) from the pooled output's gradient `dy`, the pooled `y` and its `arg`.
    pub fn backward(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        y: &[f32],
        arg: &[u32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let pg = super::pool_geometry(g).expect("the caller checked the pooled shape");
        let dz = pool::max_pool2d_relu_backward(&pg, dy, y, arg);
        (
            conv::backward_input(g, &dz, w),
            conv::backward_weight(g, &dz, x),
            conv::backward_bias(g, &dz),
        )
    }
}
