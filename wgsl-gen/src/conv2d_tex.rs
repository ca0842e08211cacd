//! Texture-operand conv2d kernels for CPU adapters (llvmpipe/lavapipe), after
//! scripts/gen_conv2d_tex.py and scripts/conv2d_tex_narrow.py:
//!
//! ```text
//! shaders/conv2d/fwd_igemm[_n<cols>][_pool|_bm|_nchw]_tex_s{8,16}.wgsl forward (and, on repacked
//!                                                                 operands, input gradient)
//! shaders/conv2d/wgrad_splitk[_m<rows>]_tex_s{8,16}.wgsl         weight gradient, split-K partials
//! ```
//!
//! Why textures: llvmpipe turns every storage-buffer load into a loop over the lanes with a
//! branch, a bounds check and a store-to-stack per lane, while `textureLoad` is a vectorised
//! fetch. Both GEMM operands are packed into rgba32float textures first (pack_*.wgsl), laid out
//! so that one texel holds the 4 reduction steps a k-step needs and zero padding is real memory:
//! the inner loop has no bounds checks and no divisions.
//!
//! ```text
//! input texture  X~ [N*Hp rows, Wp*C4 texels]: texel (px*C4 + c/4, n*Hp + py) = X[n, c..c+4, py-top, px-left]
//!                (zero outside the image, in padded channels, and, for the input gradient,
//!                between the positions a stride produced: dY dilated by the stride)
//! weight texture W~ [kH*kW*C4*4 rows, columns/4 texels]: row k' = ((ky*kW + kx)*C4 + c/4)*4 + c%4,
//!                texel (col/4, k') = W[col..col+4, c, ky, kx]; the input gradient reads the
//!                forward pass's texture transposed (override W_T), so no flipped copy is packed
//! dY texture     D~ [Co*GR rows, GW texels]: the pixel groups g = p/4 of channel co at
//!                (g % GW, co*GR + g / GW) = dY[co, p..p+4] (zero past P); or, when oH*oW is a
//!                multiple of 4 (override NCHW_DY), dY's own NCHW buffer copied into an
//!                rgba32float mirror, where 4 consecutive pixels of a plane already are one texel
//! ```
//!
//! GEMM views, the same register blocking as matmul.sgbc_tex (one subgroup = one workgroup
//! computes 64 rows x 8*sg columns; lane l owns all 64 rows x columns [8l, 8l+8) in 128 named
//! vec4 accumulators; per k-step of 4 each row's A vec4 is broadcast from the lane that loaded
//! it). The forward kernel also comes with 2, 3, 4 and 6 columns per lane and with pooled or
//! batch-major rows, and the weight gradient with 32 or 48 rows (output channels) per tile:
//!
//! ```text
//! forward  Y[P, Co]  = X~-gather[P, K'] . W~[K', Co]     rows = output pixels, columns = Co
//! wgrad    dW[Co, K'] = D~[Co, P] . X~-gather[P, K']     rows = Co, columns = K', P split in chunks
//! ```

use crate::conv2d_tex_fwd::{forward, Cols, Order};
use crate::conv2d_tex_wgrad::wgrad;
use crate::Generated;

/// Subgroup sizes: every tile family is written once per size.
const SUBGROUPS: [usize; 2] = [8, 16];

/// The forward tile families: columns per lane x row order. Each makes
/// `fwd_igemm[_n<cols>][_pool|_bm|_nchw]_tex_s<sg>.wgsl` (the 8-column kernels have no `_n8`).
/// The NCHW-input rows (1x1 convolutions, stride 1) exist for the 4- and 8-column tiles, which
/// layers of more than 4 x sg channels take; narrower 1x1 layers pack their input.
pub const TEX_FORWARD_ROWS: &[(Cols, Order)] = &[
    (Cols::N8, Order::Pixel),
    (Cols::N8, Order::Pool),
    (Cols::N4, Order::Pixel),
    (Cols::N4, Order::Pool),
    (Cols::N4, Order::BatchMajor),
    (Cols::N2, Order::Pixel),
    (Cols::N2, Order::Pool),
    (Cols::N2, Order::BatchMajor),
    (Cols::N3, Order::Pixel),
    (Cols::N3, Order::Pool),
    (Cols::N3, Order::BatchMajor),
    (Cols::N6, Order::Pixel),
    (Cols::N6, Order::Pool),
    (Cols::N8, Order::Nchw),
    (Cols::N4, Order::Nchw),
];

/// The weight-gradient tile families: rows (output channels) per tile, 8 columns per lane.
/// 32 rows: layers with few output channels (the digits network's 32-channel convolutions); 48 rows: layers
/// with 33-48 output channels (the digits network's conv2) fill the tile.
pub const TEX_WGRAD_ROWS: [usize; 3] = [64, 32, 48];

/// The file of the forward tile family row (`cols`, `order`) for subgroup size `sg`, relative
/// to shaders/: the generator writes it under this name and `ops::conv2d::texture` launches it
/// by asking for the row, so the name grammar lives here only.
pub fn tex_forward_path(cols: Cols, order: Order, sg: usize) -> String {
    let n = if cols == Cols::N8 {
        String::new()
    } else {
        format!("_n{}", cols.n())
    };
    let o = match order {
        Order::Pixel => "",
        Order::Pool => "_pool",
        Order::BatchMajor => "_bm",
        Order::Nchw => "_nchw",
    };
    format!("conv2d/fwd_igemm{n}{o}_tex_s{sg}.wgsl")
}

/// The file of the weight-gradient tile family with `rows` output channels per tile.
pub fn tex_wgrad_path(rows: usize, sg: usize) -> String {
    let m = if rows == 64 {
        String::new()
    } else {
        format!("_m{rows}")
    };
    format!("conv2d/wgrad_splitk{m}_tex_s{sg}.wgsl")
}

pub(crate) fn generated() -> Vec<Generated> {
    let mut out = Vec::new();
    for &(cols, order) in TEX_FORWARD_ROWS {
        // The pixel-ordered kernels also run the input gradient (on dY, with `W_T`).
        let kernels = match order {
            Order::Pool => vec!["conv2d.fwd_pool.igemm_tex".to_string()],
            _ => vec![
                "conv2d.fwd.igemm_tex".to_string(),
                "conv2d.dgrad.igemm_tex".to_string(),
            ],
        };
        for sg in SUBGROUPS {
            out.push(Generated {
                path: tex_forward_path(cols, order, sg),
                kernels: kernels.clone(),
                source: forward(sg, cols, order),
                family: "conv2d tex forward",
                row: format!(
                    "pass=fwd cols={} pool={} batch_major={}{} sg={sg}",
                    cols.n(),
                    yes(order == Order::Pool),
                    yes(order == Order::BatchMajor),
                    if order == Order::Nchw { " nchw=yes" } else { "" }
                ),
            });
        }
    }
    for tm in TEX_WGRAD_ROWS {
        for sg in SUBGROUPS {
            out.push(Generated {
                path: tex_wgrad_path(tm, sg),
                kernels: vec!["conv2d.wgrad.splitk_tex".to_string()],
                source: wgrad(sg, tm),
                family: "conv2d tex wgrad",
                row: format!("pass=wgrad rows={tm} cols=8 sg={sg}"),
            });
        }
    }
    out
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
