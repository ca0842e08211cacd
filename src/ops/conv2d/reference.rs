//! The convolution's oracle and the shapes every harness checks its kernels on.
//!
//! [`exact_at`] is the exact (f64) value of one output element of a pass; the whole-tensor
//! references ([`forward`], [`backward_input`], [`backward_weight`]: f32 data, f64
//! accumulation) are it at every element. The tests and `dak kernels check` compare whole
//! tensors on the tiny [`CASES`]; `dak bench` samples `exact_at` on its large shapes.

use super::{Geometry, Pass, Spec};
use crate::error::Result;

/// One convolution the kernels are checked on: input `[n, ci, h, w]`, `co` filters of `k`x`k`,
/// the same stride and zero padding in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub ci: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub co: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub pad: usize,
}

impl Case {
    /// The checked geometry; `op` names the caller in an error.
    pub fn geometry(&self, op: &str) -> Result<Geometry> {
        Geometry::new(
            &[self.n, self.ci, self.h, self.w],
            &[self.co, self.ci, self.k, self.k],
            Spec::new(self.stride, self.pad),
            op,
        )
    }
}

/// `[n, ci, h, w]` input, `co` filters of `k`x`k`, stride, padding.
pub(super) const fn case(
    [n, ci, h, w]: [usize; 4],
    co: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Case {
    Case {
        n,
        ci,
        h,
        w,
        co,
        k,
        stride,
        pad,
    }
}

/// Awkward convolutions (batch 1, C = 3, odd H/W, channel counts off every tile, strides,
/// padding up to and past the kernel), tiny so that lavapipe runs them in seconds: the one
/// list `tests/conv2d.rs` and `dak kernels check conv2d` run every pass and variant on.
pub const CASES: &[Case] = &[
    case([1, 1, 7, 9], 5, 3, 1, 1),  // one input channel, odd H/W, batch 1
    case([2, 3, 9, 7], 70, 5, 2, 2), // three input channels, Co past one 64-tile, 5x5, stride 2, pad 2
    case([2, 5, 6, 6], 3, 1, 1, 0),  // 1x1 kernel
    case([1, 4, 5, 5], 9, 5, 1, 0),  // spatial size equal to the kernel: 1x1 output
    case([3, 2, 8, 5], 4, 3, 2, 1),  // stride 2, pad 1, even/odd sizes
    case([2, 66, 5, 5], 7, 3, 1, 1), // Ci past one tile (input-gradient columns)
    case([1, 3, 4, 4], 2, 3, 1, 2),  // padding 2 with a 3x3 kernel
    case([4, 2, 12, 12], 5, 3, 1, 1), // long enough for a split weight gradient
    case([8, 3, 16, 16], 4, 3, 1, 0), // first-layer-like: more splits
    case([70, 1, 32, 32], 2, 1, 1, 0), // N*oH*oW past 65535, llvmpipe's loop-iteration cap
    case([2, 3, 5, 4], 6, 1, 1, 1),  // padding >= kernel: the texture input gradient falls back
    case([2, 6, 11, 10], 5, 2, 3, 0), // stride past the kernel: gaps in the dilated dY
    case([1, 3, 9, 7], 33, 5, 1, 0), // Co = 33: 6-column forward tile, 48-row weight gradient, K = 75
    case([2, 35, 7, 6], 48, 3, 1, 1), // Co = 48 (one full 48 tile), Ci = 35 (the input gradient's n6 tile)
    case([1, 17, 5, 6], 17, 3, 1, 1), // Co = Ci = 17: partial 4-column tiles
    case([64, 5, 6, 6], 9, 5, 1, 0),  // batch 64, 5x5 on 6x6: input gradient with batch-major rows
    case([33, 3, 5, 7], 6, 3, 2, 2),  // batch 33 (tiles straddle pixels), wide padding, stride 2
    case([2, 6, 12, 12], 8, 5, 1, 0), // dY 8x8 padded to 16x16: the kept zero-bordered operand
    case([2, 3, 7, 9], 56, 3, 1, 1),  // Co = 56: 4 columns per lane on subgroups of 16, 6 on 8
    case([2, 30, 6, 5], 22, 3, 1, 1), // Co = 22, Ci = 30: 3 / 4 columns per lane on subgroups of 8
    case([40, 40, 4, 4], 12, 3, 1, 0), // Ci = 40, batch-major input gradient: 3 columns per lane on 16
    case([36, 20, 4, 4], 6, 3, 1, 0), // Ci = 20, batch-major input gradient: 3 columns per lane on 8
    case([1, 3, 7, 9], 5, 3, 1, 1),   // batch 1, 3 channels, odd H/W
    case([2, 66, 5, 5], 7, 3, 2, 1),  // Ci past one tile, stride 2
    case([2, 5, 6, 8], 6, 3, 1, 2),   // W a multiple of 4 (4-column packing), pad 2, C = 5
    case([1, 3, 6, 8], 4, 3, 1, 1), // W and oW multiples of 4: every pass packs 4 columns at a time
    // Batch 40 (tiles of 64 rows straddle two pixels), 5x5 stride 2 pad 2 on 7x6, and its input
    // gradient (dY 4x3 dilated by 2, padded by 2): batch-major rows, taps on padding skipped.
    case([40, 3, 7, 6], 5, 5, 2, 2),
    // 1x1, stride 1, C and H*W multiples of 4: the GEMMs read X and dY from NCHW mirrors. Co = 100
    // (8 columns per lane, a partial second tile), Ci = 52 (input gradient: 4 columns on
    // subgroups of 16, 8 on 8), odd H, 100 rows (a partial second row tile).
    case([5, 52, 5, 4], 100, 1, 1, 0),
    // The same path with batch 1 and 4 pixels (m = 4 < one row group of the tile), Co = 60.
    case([1, 12, 1, 4], 60, 1, 1, 0),
    // 864 pixels: a split weight gradient whose chunks cross image planes (96 pixels each).
    case([9, 8, 8, 12], 128, 1, 1, 0),
    // 1x1 with stride 2 (ResNet's downsampling): the input gradient reads dY's NCHW mirror and
    // writes every second pixel of dX (zero elsewhere, the last row never read), Ci = 52.
    case([2, 52, 8, 9], 8, 1, 2, 0),
];

/// The forward epilogue (bias, ReLU) the harnesses give case `i`: a bias on even cases, ReLU on
/// all but every third, so every combination occurs.
pub fn epilogue(i: usize) -> (bool, bool) {
    (i.is_multiple_of(2), i % 3 != 1)
}

/// Input position of output `o` and kernel tap `k` along one axis, if inside the input.
fn at(o: usize, k: usize, stride: usize, pad: usize, len: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < len)
}

/// Output position whose tap `k` reads input `i` along one axis, if a stride lands there.
fn reader(i: usize, k: usize, stride: usize, pad: usize, out: usize) -> Option<usize> {
    let t = (i + pad).checked_sub(k)?;
    (t.is_multiple_of(stride) && t / stride < out).then_some(t / stride)
}

/// The exact (f64) value of element `idx` of `pass`'s output: Y (no bias, no ReLU) from `x` and
/// `w`, dX from `dy` and `w`, or dW from `dy` and `x`; the operand a pass does not read may be
/// empty.
pub fn exact_at(g: &Geometry, pass: Pass, idx: usize, x: &[f32], w: &[f32], dy: &[f32]) -> f64 {
    let (sh, sw) = g.spec.stride;
    let (ph, pw) = g.spec.padding;
    let xi = |n, ci, iy, ix| ((n * g.ci + ci) * g.h + iy) * g.w + ix;
    let wi = |co, ci, ky, kx| ((co * g.ci + ci) * g.kh + ky) * g.kw + kx;
    let yi = |n, co, oy, ox| ((n * g.co + co) * g.oh + oy) * g.ow + ox;
    let mut acc = 0f64;
    match pass {
        Pass::Forward => {
            let (ox, oy, co, n) = (
                idx % g.ow,
                idx / g.ow % g.oh,
                idx / (g.ow * g.oh) % g.co,
                idx / (g.ow * g.oh * g.co),
            );
            for ci in 0..g.ci {
                for ky in 0..g.kh {
                    let Some(iy) = at(oy, ky, sh, ph, g.h) else {
                        continue;
                    };
                    for kx in 0..g.kw {
                        if let Some(ix) = at(ox, kx, sw, pw, g.w) {
                            acc += x[xi(n, ci, iy, ix)] as f64 * w[wi(co, ci, ky, kx)] as f64;
                        }
                    }
                }
            }
        }
        Pass::InputGrad => {
            let (ix, iy, ci, n) = (
                idx % g.w,
                idx / g.w % g.h,
                idx / (g.w * g.h) % g.ci,
                idx / (g.w * g.h * g.ci),
            );
            for co in 0..g.co {
                for ky in 0..g.kh {
                    let Some(oy) = reader(iy, ky, sh, ph, g.oh) else {
                        continue;
                    };
                    for kx in 0..g.kw {
                        if let Some(ox) = reader(ix, kx, sw, pw, g.ow) {
                            acc += dy[yi(n, co, oy, ox)] as f64 * w[wi(co, ci, ky, kx)] as f64;
                        }
                    }
                }
            }
        }
        Pass::WeightGrad => {
            let (kx, ky, ci, co) = (
                idx % g.kw,
                idx / g.kw % g.kh,
                idx / (g.kw * g.kh) % g.ci,
                idx / (g.kw * g.kh * g.ci),
            );
            for n in 0..g.n {
                for oy in 0..g.oh {
                    let Some(iy) = at(oy, ky, sh, ph, g.h) else {
                        continue;
                    };
                    for ox in 0..g.ow {
                        if let Some(ix) = at(ox, kx, sw, pw, g.w) {
                            acc += dy[yi(n, co, oy, ox)] as f64 * x[xi(n, ci, iy, ix)] as f64;
                        }
                    }
                }
            }
        }
    }
    acc
}

/// `Y = conv(X, W) (+ bias) (ReLU)`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let plane = g.oh * g.ow;
    (0..g.y_len())
        .map(|i| {
            let b = bias.map_or(0.0, |b| b[i / plane % g.co] as f64);
            let v = b + exact_at(g, Pass::Forward, i, x, w, &[]);
            (if relu { v.max(0.0) } else { v }) as f32
        })
        .collect()
}

/// Input gradient dX for upstream gradient dY.
pub fn backward_input(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    (0..g.x_len())
        .map(|i| exact_at(g, Pass::InputGrad, i, &[], w, dy) as f32)
        .collect()
}

/// Weight gradient dW for upstream gradient dY.
pub fn backward_weight(g: &Geometry, dy: &[f32], x: &[f32]) -> Vec<f32> {
    (0..g.w_len())
        .map(|i| exact_at(g, Pass::WeightGrad, i, x, &[], dy) as f32)
        .collect()
}

/// Bias gradient: dY summed over batch and pixels, per output channel.
pub fn backward_bias(g: &Geometry, dy: &[f32]) -> Vec<f32> {
    let plane = g.oh * g.ow;
    (0..g.co)
        .map(|co| {
            let mut acc = 0f64;
            for n in 0..g.n {
                let base = (n * g.co + co) * plane;
                acc += dy[base..base + plane]
                    .iter()
                    .map(|&v| v as f64)
                    .sum::<f64>();
            }
            acc as f32
        })
        .collect()
}
