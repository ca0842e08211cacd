//! `dak bench pool`: max pooling (forward with argmax, backward) and global average pooling on
//! VGG16's and the DANN digits network's shapes. Validated against the CPU reference, then timed.
//! Pooling is memory-bound: read GB/s, not GFLOP/s (flops count one compare or add per input
//! element read).

use super::{inner_count, summary, time_once, BenchRow, Launch};
use crate::ops::pool::{self, reference, PoolGeometry};
use crate::{Error, Gpu, Result, Tensor};
use std::time::Instant;

/// A pooling shape: input `[n, c, hw, hw]`; `k == 0` means global average pooling.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub label: &'static str,
    pub n: usize,
    pub c: usize,
    pub hw: usize,
    pub k: usize,
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

pub const TINY: &[Case] = &[max("tiny 2x2/2", 2, 3, 8, 2, 2), gap("tiny gap", 2, 3, 5)];

fn fill(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40503));
            ((x >> 8) as f32 / (1u32 << 24) as f32) - 0.5
        })
        .collect()
}

fn max_err(got: &[f32], want: &[f32]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w as f64).abs() / (1.0 + (w as f64).abs()))
        .fold(0.0, f64::max)
}

/// Validate then time every pooling op on every case (`rounds` samples, median reported).
pub fn run(gpu: &Gpu, cases: &[Case], rounds: usize) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for c in cases {
        let shape = [c.n, c.c, c.hw, c.hw];
        let numel = c.n * c.c * c.hw * c.hw;
        let x_host = fill(numel, 1);
        let x = Tensor::from_slice(gpu, &x_host, &shape)?;
        // (id, launch, validation error, flops, bytes)
        let mut ops: Vec<(&str, Launch, f64, f64, f64)> = Vec::new();
        let label = format!("{} {shape:?}", c.label);
        let check = |what: &str, err: f64| -> Result<f64> {
            if err > 1e-5 {
                return Err(Error::runtime(format!(
                    "{what} fails validation on {label}: relative error {err:.2e}; not timing it"
                )));
            }
            Ok(err)
        };
        if c.k > 0 {
            let g = PoolGeometry::new(&shape, c.k, c.stride, c.label)?;
            let (want_y, want_arg) = reference::max_pool2d(&g, &x_host);
            let (y, arg) = pool::max_pool2d(&x, c.k, c.stride)?;
            let mut err = max_err(&y.to_vec()?, &want_y);
            if arg.to_vec_u32()? != want_arg {
                err = f64::INFINITY;
            }
            let err_f = check("pool.max_fwd", err)?;
            let dy_host = fill(g.y_len(), 2);
            let dy = Tensor::from_slice(gpu, &dy_host, &g.y_shape())?;
            let want_dx = reference::max_pool2d_backward(&g, &dy_host, &want_arg);
            let dx = pool::max_pool2d_backward(&dy, &arg, &shape, c.k, c.stride)?;
            let err_b = check("pool.max_bwd", max_err(&dx.to_vec()?, &want_dx))?;
            let (xr, k, s) = (&x, c.k, c.stride);
            let fwd_bytes = 4.0 * (g.x_len() + 2 * g.y_len()) as f64;
            ops.push((
                "pool.max_fwd",
                Box::new(move || pool::max_pool2d(xr, k, s).map(drop)),
                err_f,
                (g.y_len() * k * k) as f64,
                fwd_bytes,
            ));
            ops.push((
                "pool.max_bwd",
                Box::new(move || pool::max_pool2d_backward(&dy, &arg, &shape, k, s).map(drop)),
                err_b,
                (g.x_len() * k.div_ceil(s).pow(2)) as f64,
                fwd_bytes,
            ));
        } else {
            let hw = c.hw * c.hw;
            let planes = c.n * c.c;
            let want = reference::global_avg_pool(&x_host, hw);
            let err_f = check(
                "pool.gap_fwd",
                max_err(&pool::global_avg_pool(&x)?.to_vec()?, &want),
            )?;
            let dy_host = fill(planes, 2);
            let dy = Tensor::from_slice(gpu, &dy_host, &[c.n, c.c])?;
            let want_dx = reference::global_avg_pool_backward(&dy_host, hw);
            let err_b = check(
                "pool.gap_bwd",
                max_err(
                    &pool::global_avg_pool_backward(&dy, &shape)?.to_vec()?,
                    &want_dx,
                ),
            )?;
            let xr = &x;
            let bytes = 4.0 * (numel + planes) as f64;
            ops.push((
                "pool.gap_fwd",
                Box::new(move || pool::global_avg_pool(xr).map(drop)),
                err_f,
                numel as f64,
                bytes,
            ));
            ops.push((
                "pool.gap_bwd",
                Box::new(move || pool::global_avg_pool_backward(&dy, &shape).map(drop)),
                err_b,
                numel as f64,
                bytes,
            ));
        }
        for (id, mut launch, err, flops, bytes) in ops {
            let start = Instant::now();
            launch()?;
            gpu.sync()?;
            let first_ms = start.elapsed().as_secs_f64() * 1e3;
            let mut samples = Vec::new();
            for _ in 0..rounds {
                let one = time_once(gpu, &mut launch, 1)?;
                samples.push(time_once(gpu, &mut launch, inner_count(one, 0.1))?);
            }
            let (median, min, max) = summary(&mut samples);
            rows.push(BenchRow {
                kernel: id.to_string(),
                shape: label.clone(),
                flops,
                bytes,
                median_ms: median * 1e3,
                min_ms: min * 1e3,
                max_ms: max * 1e3,
                first_dispatch_ms: first_ms,
                gflops: flops / median / 1e9,
                gbps: bytes / median / 1e9,
                max_rel_err: err,
                clock: "wall",
            });
        }
    }
    Ok(rows)
}
