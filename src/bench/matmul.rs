//! `dak bench matmul`: GEMM variants on square and dense-layer shapes.

use super::{inner_count, summary, time_once, BenchRow, Launch};
use crate::ops::matmul::{self, Gemm, Variant};
use crate::{Error, Gpu, Result, Tensor};
use std::time::Instant;

/// A named GEMM shape.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub label: &'static str,
    pub gemm: Gemm,
}

const fn case(
    label: &'static str,
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
) -> Case {
    Case {
        label,
        gemm: Gemm {
            m,
            n,
            k,
            trans_a,
            trans_b,
            relu: false,
        },
    }
}

/// The default set: square sizes, then VGG16's classifier and the new head at batch 32.
pub const DEFAULT_CASES: &[Case] = &[
    case("square 512", 512, 512, 512, false, false),
    case("square 1024", 1024, 1024, 1024, false, false),
    case("square 2048", 2048, 2048, 2048, false, false),
    case("fc6 fwd 32x25088->4096", 32, 4096, 25088, false, true),
    case("fc7 fwd 32x4096->4096", 32, 4096, 4096, false, true),
    case("fc7 dgrad", 32, 4096, 4096, false, false),
    case("fc7 wgrad", 4096, 4096, 32, true, false),
    case("head fwd 32x1024->10", 32, 10, 1024, false, true),
];

/// A tiny set for tests and quick checks.
pub const SQUARE_1024: &[Case] = &[case("square 1024", 1024, 1024, 1024, false, false)];

pub const TINY_CASES: &[Case] = &[
    case("tiny 33x65x31", 33, 65, 31, false, true),
    case("tiny 64x64x64", 64, 64, 64, false, false),
];

fn shape_label(c: &Case) -> String {
    let g = c.gemm;
    let form = format!(
        "{}{}",
        if g.trans_a { 't' } else { 'n' },
        if g.trans_b { 't' } else { 'n' }
    );
    format!("{} [{}x{}x{} {form}]", c.label, g.m, g.n, g.k)
}

/// Check `c` against the reference at up to 256 sampled outputs; returns the largest relative error.
fn validate(out: &[f32], a: &[f32], b: &[f32], g: Gemm) -> f64 {
    let total = g.m * g.n;
    let step = (total / 256).max(1);
    let mut worst = 0f64;
    for idx in (0..total).step_by(step) {
        let (i, j) = (idx / g.n, idx % g.n);
        let mut acc = 0f64;
        for p in 0..g.k {
            let av = if g.trans_a {
                a[p * g.m + i]
            } else {
                a[i * g.k + p]
            };
            let bv = if g.trans_b {
                b[j * g.k + p]
            } else {
                b[p * g.n + j]
            };
            acc += av as f64 * bv as f64;
        }
        let rel = (out[idx] as f64 - acc).abs() / (1.0 + acc.abs());
        worst = worst.max(rel);
    }
    worst
}

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

/// Validate, then time each variant on each case (variants round-robin, `rounds` samples).
/// With `unchecked`, a variant that fails validation is still timed (its error is reported):
/// for kernel experiments only.
pub fn run(
    gpu: &Gpu,
    cases: &[Case],
    variants: &[Variant],
    rounds: usize,
    unchecked: bool,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for c in cases {
        let g = c.gemm;
        let largest = 4 * (g.m * g.k).max(g.k * g.n).max(g.m * g.n) as u64;
        if largest > gpu.max_binding_bytes() {
            eprintln!(
                "skipping {}: an operand of {largest} bytes exceeds this adapter's {}-byte storage binding",
                shape_label(c),
                gpu.max_binding_bytes()
            );
            continue;
        }
        let a_host = fill(g.m * g.k, 1);
        let b_host = fill(g.k * g.n, 2);
        let a = Tensor::from_slice(gpu, &a_host, &[a_host.len()])?;
        let b = Tensor::from_slice(gpu, &b_host, &[b_host.len()])?;
        // Validate and measure the first dispatch (includes the pipeline compile).
        let mut live = Vec::new();
        for &v in variants.iter().filter(|v| v.supported(gpu)) {
            // The naive kernel at 2048^3 takes minutes on a CPU adapter: skip what is hopeless.
            if v == Variant::Naive && gpu.is_cpu() && g.m * g.n * g.k > 1 << 28 {
                continue;
            }
            let start = Instant::now();
            let out = matmul::gemm(&a, &b, None, g, v)?.to_vec()?;
            let first_ms = start.elapsed().as_secs_f64() * 1e3;
            let err = validate(&out, &a_host, &b_host, g);
            let tol = 1e-4 * (g.k as f64).sqrt();
            if !(err <= tol) && !unchecked {
                return Err(Error::runtime(format!(
                    "{} fails validation on {}: relative error {err:.2e} > {tol:.1e}; not timing it",
                    v.id(),
                    shape_label(c)
                )));
            }
            live.push((v, first_ms, err, Vec::new()));
        }
        for _ in 0..rounds {
            for (v, _, _, samples) in live.iter_mut() {
                let v = *v;
                let mut launch: Launch = Box::new(|| matmul::gemm(&a, &b, None, g, v).map(drop));
                let one = time_once(gpu, &mut launch, 1)?;
                let inner = inner_count(one, 0.15);
                samples.push(time_once(gpu, &mut launch, inner)?);
            }
        }
        for (v, first_ms, err, mut samples) in live {
            let (median, min, max) = summary(&mut samples);
            let flops = 2.0 * (g.m * g.n * g.k) as f64;
            let bytes = 4.0 * (g.m * g.k + g.k * g.n + g.m * g.n) as f64;
            rows.push(BenchRow {
                kernel: v.id().to_string(),
                shape: shape_label(c),
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
