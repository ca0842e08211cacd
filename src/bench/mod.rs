//! Kernel microbenchmarks: validate against the CPU reference first, then time.
//!
//! Timing is wall clock around one submit of many dispatches (the GPU queue is drained before
//! and after), so per-dispatch launch cost is amortised. Variants of one shape are timed
//! round-robin and reported as medians, because the machines we run on are noisy.

pub mod compare;
pub mod conv2d;
pub mod matmul;
pub mod model;
pub mod peak;
pub mod pool;

use crate::{Gpu, Result};
use std::time::Instant;

/// One timed kernel on one shape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// Stable kernel id, e.g. `matmul.sgbc_64x8sg`.
    pub kernel: String,
    /// Human-readable shape, e.g. `1024x1024x1024 (nt)`.
    pub shape: String,
    /// Floating-point operations per dispatch.
    pub flops: f64,
    /// Bytes that must move at least once per dispatch (inputs + outputs).
    pub bytes: f64,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Pipeline compile + first dispatch, measured separately from the steady state.
    pub first_dispatch_ms: f64,
    pub gflops: f64,
    pub gbps: f64,
    /// Largest relative error seen in validation.
    pub max_rel_err: f64,
    /// How the time was measured.
    pub clock: &'static str,
}

/// A kernel launch to time: records one dispatch (or a few) into the stream.
pub(crate) type Launch<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

/// Median/min/max of `samples`.
pub(crate) fn summary(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    (median, samples[0], samples[samples.len() - 1])
}

/// Seconds for one run of `launch` repeated `inner` times in one submit.
pub(crate) fn time_once(gpu: &Gpu, launch: &mut Launch<'_>, inner: usize) -> Result<f64> {
    gpu.sync()?;
    let start = Instant::now();
    for _ in 0..inner {
        launch()?;
    }
    gpu.sync()?;
    Ok(start.elapsed().as_secs_f64() / inner as f64)
}

/// How many dispatches per submit make a sample last about `target_s`.
pub(crate) fn inner_count(one_s: f64, target_s: f64) -> usize {
    ((target_s / one_s.max(1e-7)).ceil() as usize).clamp(1, 1000)
}
