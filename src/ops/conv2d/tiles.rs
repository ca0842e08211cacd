//! Tile choices of the texture-variant GEMMs (`texture.rs`): how many output columns a lane
//! of the forward kernel owns, how many rows the weight gradient's tile has, and when the
//! forward kernel runs its rows batch-major to skip taps on zero padding.

use super::operands::Placement;
use super::Geometry;
use crate::gpu::Gpu;
use dak_wgsl_gen::Cols;

/// Columns of the 8-column-per-lane GEMM tile (the wide layers' forward, every weight gradient).
pub(super) fn tile_cols(gpu: &Gpu) -> usize {
    8 * gpu.subgroup_size() as usize
}

/// Column tile and columns per lane (the generator's table row) of the forward GEMM for `cols`
/// output columns: the narrowest of 2, 3,
/// 4, 6 or 8 columns per lane whose tile (that many times the subgroup size) holds them all,
/// so that layers with few channels do not multiply zero columns (a 64-column tile would be half
/// zeros for a 32-channel layer on subgroups of 16: the digits network's conv1, and the 32
/// columns of its conv2's input gradient).
pub(super) fn forward_tile(gpu: &Gpu, cols: usize) -> (usize, Cols) {
    let sg = gpu.subgroup_size() as usize;
    [Cols::N2, Cols::N3, Cols::N4, Cols::N6]
        .into_iter()
        .find(|c| cols <= c.n() * sg)
        .map_or((tile_cols(gpu), Cols::N8), |c| (c.n() * sg, c))
}

/// Row tile of the weight-gradient GEMM (rows = output channels; the generator's table row):
/// 32 rows when the layer has at most 32 output channels (a 64-row tile would compute half
/// zeros), 48 for 33-48 (the digits network's conv2), else 64.
pub(super) fn wgrad_tile(co: usize) -> usize {
    match co {
        0..=32 => 32,
        33..=48 => 48,
        _ => 64,
    }
}

/// The columns per lane of the batch-major kernel for a 2-, 3- or 4-column forward tile (the
/// table has no wider batch-major rows).
pub(super) fn batch_major_cols(cols: Cols) -> Cols {
    match cols {
        Cols::N2 | Cols::N3 => cols,
        _ => Cols::N4,
    }
}

/// Whether a 2- to 4-column forward GEMM should run with batch-major rows (`fwd_igemm_n{2,3,4}_bm_tex`):
/// when at least a quarter of its multiply-adds would hit the zero padding of the input (small
/// images with wide padding: the input gradient of the digits conv2, 8x8 padded to 16x16) and
/// the batch fills most of a 64-row tile with one output pixel, so tiles can skip those taps.
pub(super) fn batch_major(
    pl: Placement,
    (oh, ow): (usize, usize),
    (kh, kw): (usize, usize),
    stride: (usize, usize),
) -> bool {
    // Taps of a kernel of side k at output positions 0..o (stride s) inside the data lo..=hi.
    let inside = |o: usize, s: usize, k: usize, lo: usize, hi: usize| -> usize {
        (0..o)
            .map(|y| (0..k).filter(|t| (lo..=hi).contains(&(y * s + t))).count())
            .sum()
    };
    let bot = pl.top + (pl.src[2] - 1) * pl.step.0;
    let right = pl.left + (pl.src[3] - 1) * pl.step.1;
    let rows = inside(oh, stride.0, kh, pl.top, bot);
    let cols = inside(ow, stride.1, kw, pl.left, right);
    let all = oh * kh * ow * kw;
    pl.src[0] >= 32 && 4 * rows * cols <= 3 * all
}

/// Weight texture size for `cols` GEMM columns of the forward kernel and `c` reduction channels.
pub(super) fn weight_size(gpu: &Gpu, g: &Geometry, cols: usize, c: usize) -> (usize, usize) {
    let tn = forward_tile(gpu, cols).0;
    (cols.div_ceil(tn) * tn / 4, g.kh * g.kw * c.div_ceil(4) * 4)
}
