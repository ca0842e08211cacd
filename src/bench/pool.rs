//! `dak bench pool`: max pooling (forward with argmax, backward) and global average pooling on
//! VGG16's and the DANN digits network's shapes. Validated against the CPU reference, then timed.
//! Pooling is memory-bound: read GB/s, not GFLOP/s (flops count one compare or add per input
//! element read).

use super::{fill, judged, max_err, time_validated, BenchRow, Validated as Op};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::pool::{self, reference, PoolGeometry};
use crate::tensor::Tensor;
use std::time::Instant;

/// Largest relative error a pooling kernel may show (exact operations, f32 sums).
const POOL_TOL: f64 = 1e-5;

/// A pooling shape: input `[n, c, hw, hw]`; `k == 0` means global average pooling.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Shape label in reports.
    pub label: &'static str,
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height and width.
    pub hw: usize,
    /// Window side (0 for global average pooling).
    pub k: usize,
    /// Stride.
    pub stride: usize,
}

const fn max(label: &'static str, n: usize, c: usize, hw: usize, k: usize, stride: usize) -> Case {
    Case {
        label,
        n,
        c,
        hw,
        k,
        stride,
    }
}

const fn gap(label: &'static str, n: usize, c: usize, hw: usize) -> Case {
    max(label, n, c, hw, 0, 0)
}

/// VGG16 at 32x32 input (batch 32), the DANN digits network (batch 128), a 3x3/2 overlapping
/// pool, and global average pooling at 32x32 and 224x224 input.
pub const DEFAULT: &[Case] = &[
    max("vgg pool1 @32", 32, 64, 32, 2, 2),
    max("vgg pool2 @32", 32, 128, 16, 2, 2),
    max("vgg pool3 @32", 32, 256, 8, 2, 2),
    max("vgg pool5 @32", 32, 512, 2, 2, 2),
    max("digits pool1", 128, 32, 24, 2, 2),
    max("digits pool2", 128, 48, 8, 2, 2),
    max("overlapping 3x3/2", 32, 64, 33, 3, 2),
    gap("gap vgg @32", 32, 512, 1),
    gap("gap vgg @224", 32, 512, 7),
];

/// Small shapes for quick runs and tests.
pub const TINY: &[Case] = &[max("tiny 2x2/2", 2, 3, 8, 2, 2), gap("tiny gap", 2, 3, 5)];

/// VGG16's pools and the global average pool at 32x32 input, batch 32.
pub const VGG16_32: &[Case] = &[
    max("pool1", 32, 64, 32, 2, 2),
    max("pool2", 32, 128, 16, 2, 2),
    max("pool3", 32, 256, 8, 2, 2),
    max("pool4", 32, 512, 4, 2, 2),
    max("pool5", 32, 512, 2, 2, 2),
    gap("gap", 32, 512, 1),
];

/// VGG16's pools and the global average pool at 224x224 input, batch 4 (as the conv set).
pub const VGG16_224: &[Case] = &[
    max("pool1", 4, 64, 224, 2, 2),
    max("pool2", 4, 128, 112, 2, 2),
    max("pool3", 4, 256, 56, 2, 2),
    max("pool4", 4, 512, 28, 2, 2),
    max("pool5", 4, 512, 14, 2, 2),
    gap("gap", 4, 512, 7),
];

/// The DANN digits network's pools at batch 128.
pub const DIGITS: &[Case] = &[
    max("digits pool1", 128, 32, 24, 2, 2),
    max("digits pool2", 128, 48, 8, 2, 2),
];

impl Case {
    /// The same pooling at batch size `n`.
    pub fn with_batch(mut self, n: usize) -> Case {
        self.n = n;
        self
    }
}

/// A named shape set, for `--shapes`.
pub fn cases(name: &str) -> Option<Vec<Case>> {
    Some(match name {
        "default" => DEFAULT.to_vec(),
        "tiny" => TINY.to_vec(),
        "vgg16-32" => VGG16_32.to_vec(),
        "vgg16-224" => VGG16_224.to_vec(),
        "digits" => DIGITS.to_vec(),
        _ => return None,
    })
}

/// Names accepted by `--shapes` for pool.
pub const SHAPE_SETS: &str = "default, tiny, vgg16-32, vgg16-224, digits";

/// The pooling kernel ids, in the order they are timed.
pub const IDS: [&str; 4] = [
    "pool.max_fwd",
    "pool.max_bwd",
    "pool.gap_fwd",
    "pool.gap_bwd",
];

/// Validate then time the pooling kernels `keep` selects on every case (`rounds` samples,
/// median reported). A kernel that fails validation is reported as FAILED and not timed.
pub fn run(
    gpu: &Gpu,
    cases: &[Case],
    rounds: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for c in cases {
        let shape = [c.n, c.c, c.hw, c.hw];
        let numel = c.n * c.c * c.hw * c.hw;
        let x_host = fill(numel, 1);
        let x = Tensor::from_slice(gpu, &x_host, &shape)?;
        let label = format!("{} {shape:?}", c.label);
        let mut ops: Vec<Op> = Vec::new();
        if c.k > 0 {
            let g = PoolGeometry::new(&shape, c.k, c.stride, c.label)?;
            let (want_y, want_arg) = reference::max_pool2d(&g, &x_host);
            let (k, s) = (c.k, c.stride);
            let fwd_bytes = 4.0 * (g.x_len() + 2 * g.y_len()) as f64;
            if keep("pool.max_fwd") {
                let start = Instant::now();
                let outcome = judged(
                    POOL_TOL,
                    (|| {
                        let (y, arg) = pool::max_pool2d(&x, k, s)?;
                        let err = max_err(&y.to_vec()?, &want_y);
                        Ok(if arg.to_vec_u32()? != want_arg {
                            f64::INFINITY
                        } else {
                            err
                        })
                    })(),
                );
                let xr = &x;
                ops.push(Op {
                    id: "pool.max_fwd",
                    launch: Box::new(move || pool::max_pool2d(xr, k, s).map(drop)),
                    outcome,
                    first_ms: start.elapsed().as_secs_f64() * 1e3,
                    flops: (g.y_len() * k * k) as f64,
                    bytes: fwd_bytes,
                });
            }
            if keep("pool.max_bwd") {
                // Backward reads the reference argmax, so it is judged on its own.
                let dy_host = fill(g.y_len(), 2);
                let dy = Tensor::from_slice(gpu, &dy_host, &g.y_shape())?;
                let arg = Tensor::from_u32(gpu, &want_arg, &g.y_shape())?;
                let want_dx = reference::max_pool2d_backward(&g, &dy_host, &want_arg);
                let start = Instant::now();
                let outcome = judged(
                    POOL_TOL,
                    pool::max_pool2d_backward(&dy, &arg, &shape, k, s)
                        .and_then(|dx| dx.to_vec())
                        .map(|dx| max_err(&dx, &want_dx)),
                );
                ops.push(Op {
                    id: "pool.max_bwd",
                    launch: Box::new(move || {
                        pool::max_pool2d_backward(&dy, &arg, &shape, k, s).map(drop)
                    }),
                    outcome,
                    first_ms: start.elapsed().as_secs_f64() * 1e3,
                    flops: (g.x_len() * k.div_ceil(s).pow(2)) as f64,
                    bytes: fwd_bytes,
                });
            }
        } else {
            let hw = c.hw * c.hw;
            let planes = c.n * c.c;
            let bytes = 4.0 * (numel + planes) as f64;
            if keep("pool.gap_fwd") {
                let want = reference::global_avg_pool(&x_host, hw);
                let start = Instant::now();
                let outcome = judged(
                    POOL_TOL,
                    pool::global_avg_pool(&x)
                        .and_then(|y| y.to_vec())
                        .map(|y| max_err(&y, &want)),
                );
                let xr = &x;
                ops.push(Op {
                    id: "pool.gap_fwd",
                    launch: Box::new(move || pool::global_avg_pool(xr).map(drop)),
                    outcome,
                    first_ms: start.elapsed().as_secs_f64() * 1e3,
                    flops: numel as f64,
                    bytes,
                });
            }
            if keep("pool.gap_bwd") {
                let dy_host = fill(planes, 2);
                let dy = Tensor::from_slice(gpu, &dy_host, &[c.n, c.c])?;
                let want_dx = reference::global_avg_pool_backward(&dy_host, hw);
                let start = Instant::now();
                let outcome = judged(
                    POOL_TOL,
                    pool::global_avg_pool_backward(&dy, &shape)
                        .and_then(|dx| dx.to_vec())
                        .map(|dx| max_err(&dx, &want_dx)),
                );
                ops.push(Op {
                    id: "pool.gap_bwd",
                    launch: Box::new(move || pool::global_avg_pool_backward(&dy, &shape).map(drop)),
                    outcome,
                    first_ms: start.elapsed().as_secs_f64() * 1e3,
                    flops: numel as f64,
                    bytes,
                });
            }
        }
        time_validated(gpu, &label, ops, rounds, &mut rows)?;
    }
    Ok(rows)
}
