//! Kernel microbenchmarks: validate against the CPU reference first, then time.
//!
//! A sample is one submit of many dispatches of the same launch (the queue is drained before),
//! so per-dispatch launch cost is amortised. When the adapter has TIMESTAMP_QUERY the sample is
//! the GPU time between the timestamps written at the start and end of each compute pass
//! (`clock: "gpu-timestamp"`); otherwise the wall clock around the submit and wait
//! (`clock: "wall"`). Variants of one shape are timed round-robin and reported as medians,
//! because the machines we run on are noisy. A variant that fails validation (or cannot run)
//! is reported as `FAILED`/`ERROR` and not timed; the others still are.

pub mod batch_norm;
pub mod compare;
pub mod conv2d;
pub mod dann;
pub mod matmul;
pub mod model;
pub mod peak;
pub mod pool;
pub mod shapes;
pub mod source_free;
pub mod winners;

use crate::error::Result;
use crate::gpu::Gpu;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One kernel on one shape: timed, or the reason it was not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// Stable kernel id, e.g. `matmul.sgbc_64x8sg`.
    pub kernel: String,
    /// Human-readable shape, e.g. `square 1024 [1024x1024x1024 nn]`.
    pub shape: String,
    /// `ok`, `FAILED` (wrong result: not timed) or `ERROR` (could not run: not timed).
    pub status: &'static str,
    /// Why a row is FAILED or ERROR.
    pub error: Option<String>,
    /// Floating-point operations per launch.
    pub flops: f64,
    /// Bytes that must move at least once per launch (inputs + outputs).
    pub bytes: f64,
    /// Per-launch time; NaN (null in JSON) when not timed.
    pub median_ms: f64,
    /// Fastest per-launch time.
    pub min_ms: f64,
    /// Slowest per-launch time.
    pub max_ms: f64,
    /// Pipeline compile + first launch + readback, measured separately from the steady state.
    pub first_dispatch_ms: f64,
    /// Throughput at the median time.
    pub gflops: f64,
    /// Bandwidth at the median time.
    pub gbps: f64,
    /// Which roof the kernel is measured against: `compute` (GFLOP/s) or `memory` (GB/s).
    pub bound: &'static str,
    /// GFLOP/s (compute-bound) or GB/s (memory-bound) as a percentage of the adapter's measured
    /// roof (`dak bench --peak`); NaN when no roof is known.
    pub pct_of_peak: f64,
    /// Largest relative error seen in validation.
    pub max_rel_err: f64,
    /// How the time was measured: `gpu-timestamp` or `wall`.
    pub clock: &'static str,
}

impl BenchRow {
    /// A row for a kernel that was validated and timed (`samples` in seconds per launch).
    #[allow(clippy::too_many_arguments)] // a bench row's measured fields; BenchRow names them
    pub(crate) fn timed(
        gpu: &Gpu,
        kernel: &str,
        shape: &str,
        flops: f64,
        bytes: f64,
        bound: &'static str,
        samples: &mut [f64],
        first_ms: f64,
        err: f64,
    ) -> BenchRow {
        let (median, min, max) = summary(samples);
        // Each row as it completes: a long run shows its results while it goes.
        eprintln!(
            "timed {kernel} on {shape}: median {:.3} ms, {:.2} GFLOP/s ({} sample(s))",
            median * 1e3,
            flops / median / 1e9,
            samples.len()
        );
        BenchRow {
            kernel: kernel.to_string(),
            shape: shape.to_string(),
            status: "ok",
            error: None,
            flops,
            bytes,
            median_ms: median * 1e3,
            min_ms: min * 1e3,
            max_ms: max * 1e3,
            first_dispatch_ms: first_ms,
            gflops: flops / median / 1e9,
            gbps: bytes / median / 1e9,
            bound,
            pct_of_peak: f64::NAN,
            max_rel_err: err,
            clock: clock(gpu),
        }
    }

    /// A row for a kernel that was not timed: `status` FAILED (wrong result) or ERROR.
    #[allow(clippy::too_many_arguments)] // a bench row's fields for a kernel that did not run; BenchRow names them
    pub(crate) fn untimed(
        gpu: &Gpu,
        kernel: &str,
        shape: &str,
        flops: f64,
        bytes: f64,
        bound: &'static str,
        status: &'static str,
        error: String,
        first_ms: f64,
        err: f64,
    ) -> BenchRow {
        eprintln!("{status}: {kernel} on {shape}: {error}");
        BenchRow {
            kernel: kernel.to_string(),
            shape: shape.to_string(),
            status,
            error: Some(error),
            flops,
            bytes,
            median_ms: f64::NAN,
            min_ms: f64::NAN,
            max_ms: f64::NAN,
            first_dispatch_ms: first_ms,
            gflops: f64::NAN,
            gbps: f64::NAN,
            bound,
            pct_of_peak: f64::NAN,
            max_rel_err: err,
            clock: clock(gpu),
        }
    }

    /// True when the row was validated and timed.
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Fill `pct_of_peak` of every timed row from the measured roofs.
pub fn apply_peak(rows: &mut [BenchRow], peak: &peak::Peak) {
    for r in rows.iter_mut().filter(|r| r.ok()) {
        r.pct_of_peak = match r.bound {
            "memory" => 100.0 * r.gbps / peak.gbps,
            _ => 100.0 * r.gflops / peak.gflops,
        };
    }
}

/// Set when a timestamped sample came back empty (zero, or too many passes to time) and the wall
/// clock stood in for it, so rows never claim a clock they did not use.
static WALL_FALLBACK: AtomicBool = AtomicBool::new(false);

/// The clock `time_once` uses on `gpu`.
pub fn clock(gpu: &Gpu) -> &'static str {
    if gpu.has_timestamps() && !WALL_FALLBACK.load(Ordering::Relaxed) {
        "gpu-timestamp"
    } else {
        "wall"
    }
}

/// A kernel launch to time: records one dispatch (or a few) into the stream.
pub(crate) type Launch<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

/// One kernel of one case, validated and ready to time (the memory-bound benchmarks).
pub(crate) struct Validated<'a> {
    pub id: &'static str,
    pub launch: Launch<'a>,
    /// Validation error, or why it could not run.
    pub outcome: std::result::Result<f64, (&'static str, String)>,
    /// Pipeline compile + first launch + readback (the validation run).
    pub first_ms: f64,
    pub flops: f64,
    pub bytes: f64,
}

/// Largest relative error `|got − want| / (1 + |want|)`.
pub(crate) fn max_err(got: &[f32], want: &[f32]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w as f64).abs() / (1.0 + (w as f64).abs()))
        .fold(0.0, f64::max)
}

/// A validation run's verdict: its relative error when at most `tol`, else FAILED (not timed)
/// or ERROR.
pub(crate) fn judged(
    tol: f64,
    result: Result<f64>,
) -> std::result::Result<f64, (&'static str, String)> {
    match result {
        Ok(err) if err <= tol => Ok(err),
        Ok(err) => Err((
            "FAILED",
            format!("relative error {err:.2e} > {tol:.1e}; not timed"),
        )),
        Err(e) => Err(("ERROR", e.to_string())),
    }
}

/// Times every validated kernel of `ops` (`rounds` samples, the median reported) and reports
/// the ones that failed validation untimed, one row each.
pub(crate) fn time_validated(
    gpu: &Gpu,
    label: &str,
    ops: Vec<Validated<'_>>,
    rounds: usize,
    rows: &mut Vec<BenchRow>,
) -> Result<()> {
    for mut op in ops {
        let err = match op.outcome {
            Ok(err) => err,
            Err((status, why)) => {
                gpu.sync().ok();
                rows.push(BenchRow::untimed(
                    gpu,
                    op.id,
                    label,
                    op.flops,
                    op.bytes,
                    "memory",
                    status,
                    why,
                    op.first_ms,
                    f64::NAN,
                ));
                continue;
            }
        };
        let mut samples = Vec::new();
        for _ in 0..rounds {
            let one = time_once(gpu, &mut op.launch, 1)?;
            samples.push(time_once(gpu, &mut op.launch, inner_count(one, 0.1))?);
        }
        rows.push(BenchRow::timed(
            gpu,
            op.id,
            label,
            op.flops,
            op.bytes,
            "memory",
            &mut samples,
            op.first_ms,
            err,
        ));
    }
    Ok(())
}

/// Median/min/max of `samples`.
pub(crate) fn summary(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    (median, samples[0], samples[samples.len() - 1])
}

/// Seconds for one run of `launch`, from `inner` runs in one submit: GPU timestamps when the
/// adapter has them, else the wall clock around the submit and wait.
pub(crate) fn time_once(gpu: &Gpu, launch: &mut Launch<'_>, inner: usize) -> Result<f64> {
    gpu.sync()?;
    let start = Instant::now();
    for _ in 0..inner {
        launch()?;
    }
    let gpu_s = if gpu.has_timestamps() {
        gpu.sync_timed()?
    } else {
        gpu.sync()?;
        None
    };
    let wall = start.elapsed().as_secs_f64();
    let gpu_s = gpu_s.filter(|&s| s > 0.0);
    if gpu_s.is_none() && gpu.has_timestamps() {
        WALL_FALLBACK.store(true, Ordering::Relaxed);
    }
    Ok(gpu_s.unwrap_or(wall) / inner as f64)
}

/// For a launch of several dispatches (packing kernels + the kernel proper), the median over
/// a few profiled runs of each dispatch, e.g. `pack_b.wgsl 2.1 ms + sgbc_tex_s8.wgsl 81.0 ms`,
/// so a kernel developer sees where a variant's time goes. None for a single dispatch.
pub(crate) fn dispatch_split(gpu: &Gpu, launch: &mut Launch<'_>) -> Result<Option<String>> {
    const RUNS: usize = 5;
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        gpu.sync()?;
        gpu.start_profile()?;
        let ran = launch();
        let times = gpu.finish_profile()?;
        ran?;
        if times.len() < 2 {
            return Ok(None);
        }
        runs.push(times);
    }
    let parts: Vec<String> = (0..runs[0].len())
        .map(|i| {
            let mut ms: Vec<f64> = runs.iter().map(|r| r[i].seconds * 1e3).collect();
            let (median, _, _) = summary(&mut ms);
            format!("{} {median:.2} ms", runs[0][i].kernel)
        })
        .collect();
    Ok(Some(parts.join(" + ")))
}

/// How many dispatches per submit make a sample last about `target_s`.
pub(crate) fn inner_count(one_s: f64, target_s: f64) -> usize {
    ((target_s / one_s.max(1e-7)).ceil() as usize).clamp(1, 1000)
}

/// Up to `count` output indices below `total` to validate, spread by a multiplicative hash: an
/// even stride lands on the same channel / column of every row whenever `total` is a multiple
/// of `count` times the row length, and a wrong column tile goes unseen.
pub(crate) fn sample_indices(total: usize, count: usize) -> impl Iterator<Item = usize> {
    let total = total.max(1) as u64;
    (0..total.min(count as u64)).map(move |k| ((k * 2_654_435_761 + k / 2) % total) as usize)
}

/// Deterministic values in [-0.5, 0.5) for benchmark operands.
pub(crate) fn fill(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40503));
            ((x >> 8) as f32 / (1u32 << 24) as f32) - 0.5
        })
        .collect()
}

/// What one `dak bench` (or `cargo bench`, or `dak tune`) run measures.
#[derive(Debug, Clone)]
pub struct Selection {
    /// `matmul`, `conv2d`, `pool`, `batch_norm` or `all`.
    pub op: String,
    /// `fwd`, `dgrad`, `wgrad` (matmul: the dense-layer GEMM form; conv2d: the pass) or
    /// `fwd`, `bwd` (pool, batch_norm).
    pub direction: Option<String>,
    /// `all`, a variant id, or (conv2d) `direct`, `tiled`, `sgbc`, `tex`.
    pub variant: String,
    /// A named shape set or a JSON file (see [`shapes`]).
    pub shapes: String,
    /// Batch size replacing each shape set's own.
    pub batch: Option<usize>,
    /// Timed samples per kernel and shape.
    pub repeat: usize,
    /// Time kernels even when they fail validation (matmul; experiments only).
    pub unchecked: bool,
}

impl Selection {
    /// Parse `OP[.DIRECTION]`.
    pub fn new(op_direction: &str) -> Selection {
        let (op, direction) = match op_direction.split_once('.') {
            Some((op, d)) => (op.to_string(), Some(d.to_string())),
            None => (op_direction.to_string(), None),
        };
        Selection {
            op,
            direction,
            variant: "all".into(),
            shapes: "default".into(),
            batch: None,
            repeat: 5,
            unchecked: false,
        }
    }
}

/// `--variant`: `all` or one of the op's kernel ids.
fn known_variant(variant: &str, op: &str, ids: &[&str]) -> Result<()> {
    if variant == "all" || ids.contains(&variant) {
        return Ok(());
    }
    Err(crate::error::Error::input(format!(
        "--variant {variant}: unknown for {op}; known: all, {}",
        ids.join(", ")
    )))
}

fn bad_direction(op: &str, d: &str, known: &str) -> crate::error::Error {
    crate::error::Error::input(format!(
        "dak bench {op}.{d}: unknown direction; use {known}"
    ))
}

/// Validate and time what `sel` names.
pub fn run(gpu: &Gpu, sel: &Selection) -> Result<Vec<BenchRow>> {
    use crate::error::Error;
    let repeat = sel.repeat.max(1);
    let dir = sel.direction.as_deref();
    match sel.op.as_str() {
        "all" => {
            let mut rows = Vec::new();
            for op in ["matmul", "conv2d", "pool", "batch_norm"] {
                // Batch norm has ResNet's shape sets only; `all` on VGG16's skips it.
                if op == "batch_norm" && batch_norm::cases(&sel.shapes).is_none() {
                    continue;
                }
                let one = Selection {
                    op: op.into(),
                    ..sel.clone()
                };
                rows.extend(run(gpu, &one)?);
            }
            Ok(rows)
        }
        "matmul" => {
            use crate::ops::matmul::Variant;
            let variants = if sel.variant == "all" {
                Variant::ALL.to_vec()
            } else {
                vec![Variant::from_id(&sel.variant).ok_or_else(|| {
                    let ids: Vec<&str> = Variant::ALL.iter().map(|v| v.id()).collect();
                    Error::input(format!(
                        "--variant {}: unknown for matmul; known: all, {}",
                        sel.variant,
                        ids.join(", ")
                    ))
                })?]
            };
            let mut cases = shapes::matmul(&sel.shapes, sel.batch)?;
            if let Some(d) = dir {
                if !["fwd", "dgrad", "wgrad"].contains(&d) {
                    return Err(bad_direction(
                        "matmul",
                        d,
                        "fwd (nt), dgrad (nn), wgrad (tn)",
                    ));
                }
                cases.retain(|c| c.direction() == d);
            }
            matmul::run(gpu, &cases, &variants, repeat, sel.unchecked)
        }
        "conv2d" => {
            use crate::ops::conv2d::{Pass, Variant as Conv};
            let mut passes = Pass::ALL.to_vec();
            if let Some(d) = dir {
                passes.retain(|p| p.short() == d);
                if passes.is_empty() {
                    return Err(bad_direction("conv2d", d, "fwd, dgrad, wgrad"));
                }
            }
            let variants = match sel.variant.as_str() {
                "all" => Conv::ALL.to_vec(),
                name => match Conv::ALL.into_iter().find(|v| v.name() == name) {
                    Some(v) => vec![v],
                    None => {
                        let (p, v) = Conv::from_id(name).ok_or_else(|| {
                            Error::input(format!(
                                "--variant {name}: unknown for conv2d; use all, direct, tiled, sgbc, tex or an id like conv2d.fwd.igemm_tex"
                            ))
                        })?;
                        passes.retain(|&q| q == p);
                        vec![v]
                    }
                },
            };
            let cases = shapes::conv2d(&sel.shapes, sel.batch)?;
            conv2d::run(gpu, &cases, &passes, &variants, repeat, sel.unchecked)
        }
        "pool" => {
            known_variant(&sel.variant, "pool", &pool::IDS)?;
            if let Some(d) = dir {
                if !pool::IDS.iter().any(|id| pool_direction(id, d)) {
                    return Err(bad_direction(
                        "pool",
                        d,
                        "fwd, bwd, max_fwd, max_bwd, gap_fwd, gap_bwd",
                    ));
                }
            }
            let cases = shapes::pool(&sel.shapes, sel.batch)?;
            let keep = |id: &str| {
                (sel.variant == "all" || sel.variant == id)
                    && dir.is_none_or(|d| pool_direction(id, d))
            };
            pool::run(gpu, &cases, repeat, &keep)
        }
        "batch_norm" => {
            known_variant(&sel.variant, "batch_norm", &batch_norm::IDS)?;
            if let Some(d) = dir {
                if !["fwd", "bwd"].contains(&d) {
                    return Err(bad_direction("batch_norm", d, "fwd, bwd"));
                }
            }
            let cases = shapes::batch_norm(&sel.shapes, sel.batch)?;
            let keep = |id: &str| {
                let backward = id.contains(".grad_");
                (sel.variant == "all" || sel.variant == id)
                    && dir.is_none_or(|d| (d == "bwd") == backward)
            };
            batch_norm::run(gpu, &cases, repeat, &keep)
        }
        other => Err(Error::input(format!(
            "dak bench {other}: unknown op; known: matmul, conv2d, pool, batch_norm, all, data, model"
        ))),
    }
}

/// `pool.max_bwd` is in direction `bwd` and `max_bwd`.
fn pool_direction(id: &str, d: &str) -> bool {
    let name = id.trim_start_matches("pool.");
    name == d || name.ends_with(&format!("_{d}"))
}

/// The adapter's roofs for `pct_of_peak`: the tuning cache's when `dak tune` stored them,
/// else a quick measurement now.
pub fn roofs(gpu: &Gpu) -> Result<(peak::Peak, &'static str)> {
    if let Some(p) = crate::tune::entry(gpu).and_then(|e| e.peak.clone()) {
        return Ok((p, "tuning cache"));
    }
    Ok((peak::measure(gpu, 1)?, "measured now"))
}

/// Print rows as a table (FAILED and ERROR rows say why instead of timings).
pub fn print_rows(rows: &[BenchRow]) {
    let num = |v: f64, prec: usize| {
        if v.is_finite() {
            format!("{v:.prec$}")
        } else {
            "-".into()
        }
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.kernel.clone(), r.shape.clone()];
            if r.ok() {
                row.extend([
                    num(r.median_ms, 3),
                    num(r.min_ms, 3),
                    num(r.max_ms, 3),
                    num(r.gflops, 2),
                    num(r.gbps, 2),
                    num(r.pct_of_peak, 1),
                    num(r.first_dispatch_ms, 0),
                    format!("{:.1e}", r.max_rel_err),
                ]);
            } else {
                row.push(r.status.to_string());
                row.extend(std::iter::repeat_n(String::new(), 7));
                row.push(r.error.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    crate::io::print_table(
        &[
            "kernel",
            "shape",
            "median ms",
            "min ms",
            "max ms",
            "GFLOP/s",
            "GB/s",
            "% peak",
            "first ms",
            "max err",
        ],
        &table,
    );
    if let Some(r) = rows.first() {
        crate::say!(
            "(clock: {}; % peak: of the compute roof for matmul/conv2d, of the copy bandwidth for pool and batch_norm; first = pipeline compile + first launch + readback)",
            r.clock
        );
    }
}
