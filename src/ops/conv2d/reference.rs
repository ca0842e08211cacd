//! Plain-Rust oracles of the three convolution passes (f32 data, f64 accumulation).

use super::Geometry;

/// Input position of output `o` and kernel tap `k` along one axis, if inside the input.
fn at(o: usize, k: usize, stride: usize, pad: usize, len: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < len)
}

/// `Y = conv(X, W) (+ bias) (ReLU)`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let (sh, sw) = g.spec.stride;
    let (ph, pw) = g.spec.padding;
    let mut y = vec![0f32; g.y_len()];
    for n in 0..g.n {
        for co in 0..g.co {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = bias.map_or(0.0, |b| b[co] as f64);
                    for ci in 0..g.ci {
                        for ky in 0..g.kh {
                            let Some(iy) = at(oy, ky, sh, ph, g.h) else {
                                continue;
                            };
                            for kx in 0..g.kw {
                                let Some(ix) = at(ox, kx, sw, pw, g.w) else {
                                    continue;
                                };
                                let xv = x[((n * g.ci + ci) * g.h + iy) * g.w + ix];
                                let wv = w[((co * g.ci + ci) * g.kh + ky) * g.kw + kx];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    if relu {
                        acc = acc.max(0.0);
                    }
                    y[((n * g.co + co) * g.oh + oy) * g.ow + ox] = acc as f32;
                }
            }
        }
    }
    y
}

/// Scatters every (output, tap) product the forward pass used into `f(x index, w index, y index)`.
fn for_each_tap(g: &Geometry, mut f: impl FnMut(usize, usize, usize)) {
    let (sh, sw) = g.spec.stride;
    let (ph, pw) = g.spec.padding;
    for n in 0..g.n {
        for co in 0..g.co {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let yi = ((n * g.co + co) * g.oh + oy) * g.ow + ox;
                    for ci in 0..g.ci {
                        for ky in 0..g.kh {
                            let Some(iy) = at(oy, ky, sh, ph, g.h) else {
                                continue;
                            };
                            for kx in 0..g.kw {
                                let Some(ix) = at(ox, kx, sw, pw, g.w) else {
                                    continue;
                                };
                                f(
                                    ((n * g.ci + ci) * g.h + iy) * g.w + ix,
                                    ((co * g.ci + ci) * g.kh + ky) * g.kw + kx,
                                    yi,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Input gradient dX for upstream gradient dY.
pub fn backward_input(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let mut acc = vec![0f64; g.x_len()];
    for_each_tap(g, |xi, wi, yi| acc[xi] += dy[yi] as f64 * w[wi] as f64);
    acc.into_iter().map(|v| v as f32).collect()
}

/// Weight gradient dW for upstream gradient dY.
pub fn backward_weight(g: &Geometry, dy: &[f32], x: &[f32]) -> Vec<f32> {
    let mut acc = vec![0f64; g.w_len()];
    for_each_tap(g, |xi, wi, yi| acc[wi] += dy[yi] as f64 * x[xi] as f64);
    acc.into_iter().map(|v| v as f32).collect()
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
