//! The convolution's oracle.
//!
//! [`exact_at`] is the exact (f64) value of one output element of a pass; the whole-tensor
//! references ([`forward`], [`backward_input`], [`backward_weight`]: f32 data, f64
//! accumulation) are it at every element. The tests and `dak kernels check` compare whole
//! tensors on tiny shapes; `dak bench` samples `exact_at` on its large shapes.

use super::{Geometry, Pass};

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
