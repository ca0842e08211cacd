//! `dak bench matmul`: GEMM variants on square and dense-layer shapes.

use super::{dispatch_split, fill, inner_count, time_once, BenchRow, Launch};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::matmul::{self, Gemm, Variant};
use crate::tensor::Tensor;
use std::time::Instant;

/// Which GEMM dimension is the batch (what `--batch` changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// Not a dense layer (square benchmarks): `--batch` leaves it alone.
    None,
    /// Rows: dense forward `[B, in]·Wᵀ` and input gradient `dY·W`.
    M,
    /// Reduction: weight gradient `dYᵀ·X`.
    K,
}

/// A named GEMM shape.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Shape label in reports.
    pub label: &'static str,
    /// The GEMM.
    pub gemm: Gemm,
    /// Which dimension `--batch` replaces.
    pub batch: Batch,
}

impl Case {
    /// The same case at batch size `b` (unchanged when it has no batch dimension).
    pub fn with_batch(mut self, b: usize) -> Case {
        match self.batch {
            Batch::None => {}
            Batch::M => self.gemm.m = b,
            Batch::K => self.gemm.k = b,
        }
        self
    }

    /// The dense-layer direction this GEMM form serves: `fwd` (nt), `dgrad` (nn), `wgrad` (tn).
    pub fn direction(&self) -> &'static str {
        match (self.gemm.trans_a, self.gemm.trans_b) {
            (false, true) => "fwd",
            (true, false) => "wgrad",
            _ => "dgrad",
        }
    }
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
        batch: Batch::None,
    }
}

/// The three GEMMs of a dense layer `inp -> out` at batch `b`: forward `[b, inp]·Wᵀ` (nt),
/// input gradient `dY·W` (nn), weight gradient `dYᵀ·X` (tn).
const fn fwd(label: &'static str, b: usize, inp: usize, out: usize) -> Case {
    let mut c = case(label, b, out, inp, false, true);
    c.batch = Batch::M;
    c
}
const fn dgrad(label: &'static str, b: usize, inp: usize, out: usize) -> Case {
    let mut c = case(label, b, inp, out, false, false);
    c.batch = Batch::M;
    c
}
const fn wgrad(label: &'static str, b: usize, inp: usize, out: usize) -> Case {
    let mut c = case(label, out, inp, b, true, false);
    c.batch = Batch::K;
    c
}

/// The default set: square sizes, then VGG16's classifier and the new head at batch 32.
pub const DEFAULT_CASES: &[Case] = &[
    case("square 512", 512, 512, 512, false, false),
    case("square 1024", 1024, 1024, 1024, false, false),
    case("square 2048", 2048, 2048, 2048, false, false),
    fwd("fc6 fwd 32x25088->4096", 32, 25088, 4096),
    fwd("fc7 fwd 32x4096->4096", 32, 4096, 4096),
    dgrad("fc7 dgrad", 32, 4096, 4096),
    wgrad("fc7 wgrad", 32, 4096, 4096),
    fwd("head fwd 32x1024->10", 32, 1024, 10),
];

/// A tiny set for tests and quick checks.
pub const SQUARE_1024: &[Case] = &[case("square 1024", 1024, 1024, 1024, false, false)];

/// Small shapes for quick runs and tests.
pub const TINY_CASES: &[Case] = &[
    case("tiny 33x65x31", 33, 65, 31, false, true),
    case("tiny 64x64x64", 64, 64, 64, false, false),
];

/// The transfer classifier on VGG16 features at batch 32: GAP(512) -> Dense 1024 -> Dense 10.
pub const VGG16_HEAD: &[Case] = &[
    fwd("head fc1 fwd 512->1024", 32, 512, 1024),
    dgrad("head fc1 dgrad", 32, 512, 1024),
    wgrad("head fc1 wgrad", 32, 512, 1024),
    fwd("head fc2 fwd 1024->10", 32, 1024, 10),
    dgrad("head fc2 dgrad", 32, 1024, 10),
    wgrad("head fc2 wgrad", 32, 1024, 10),
];

/// VGG16 at 224x224: the head, and the original classifier's fc6/fc7 (ImageNet weights).
pub const VGG16_224: &[Case] = &[
    fwd("head fc1 fwd 512->1024", 32, 512, 1024),
    wgrad("head fc1 wgrad", 32, 512, 1024),
    fwd("fc6 fwd 25088->4096", 32, 25088, 4096),
    fwd("fc7 fwd 4096->4096", 32, 4096, 4096),
    dgrad("fc7 dgrad", 32, 4096, 4096),
    wgrad("fc7 wgrad", 32, 4096, 4096),
];

/// The DANN digits heads (Ganin et al.) at batch 128: label predictor 768 -> 100 -> 100 -> 10,
/// domain classifier 768 -> 100 -> 1.
pub const DIGITS: &[Case] = &[
    fwd("label fc1 fwd 768->100", 128, 768, 100),
    dgrad("label fc1 dgrad", 128, 768, 100),
    wgrad("label fc1 wgrad", 128, 768, 100),
    fwd("label fc2 fwd 100->100", 128, 100, 100),
    fwd("label fc3 fwd 100->10", 128, 100, 10),
    fwd("domain fc2 fwd 100->1", 128, 100, 1),
];

/// A named shape set, for `--shapes`.
pub fn cases(name: &str) -> Option<Vec<Case>> {
    Some(match name {
        "default" => DEFAULT_CASES.to_vec(),
        "tiny" => TINY_CASES.to_vec(),
        "square1024" => SQUARE_1024.to_vec(),
        "vgg16-32" => VGG16_HEAD.to_vec(),
        "vgg16-224" => VGG16_224.to_vec(),
        "digits" => DIGITS.to_vec(),
        _ => return None,
    })
}

/// Names accepted by `--shapes` for matmul.
pub const SHAPE_SETS: &str = "default, tiny, square1024, vgg16-32, vgg16-224, digits";

fn shape_label(c: &Case) -> String {
    let g = c.gemm;
    let form = format!(
        "{}{}",
        if g.trans_a { 't' } else { 'n' },
        if g.trans_b { 't' } else { 'n' }
    );
    format!("{} [{}x{}x{} {form}]", c.label, g.m, g.n, g.k)
}

/// Check `out` against the op's oracle at up to 256 sampled outputs; returns the largest
/// relative error.
fn validate(out: &[f32], a: &[f32], b: &[f32], g: Gemm) -> f64 {
    super::sample_indices(g.m * g.n, 256)
        .map(|idx| {
            let want = matmul::reference::gemm_at(a, b, None, g, idx);
            (out[idx] as f64 - want).abs() / (1.0 + want.abs())
        })
        .fold(0.0, f64::max)
}

/// One launch longer than this (seconds) is timed once instead of `rounds` times.
const SLOW_LAUNCH_S: f64 = 1.0;

/// Validate, then time each variant on each case (variants round-robin, `rounds` samples).
/// A variant that fails validation or cannot run gets a FAILED/ERROR row and is not timed (with
/// `unchecked`, a wrong variant is still timed and its error reported: kernel experiments only).
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
        let shape = shape_label(c);
        let largest = 4 * (g.m * g.k).max(g.k * g.n).max(g.m * g.n) as u64;
        if largest > gpu.max_binding_bytes() {
            eprintln!(
                "skipping {shape}: an operand of {largest} bytes exceeds this adapter's {}-byte storage binding",
                gpu.max_binding_bytes()
            );
            continue;
        }
        let flops = 2.0 * (g.m * g.n * g.k) as f64;
        let bytes = 4.0 * (g.m * g.k + g.k * g.n + g.m * g.n) as f64;
        let a_host = fill(g.m * g.k, 1);
        let b_host = fill(g.k * g.n, 2);
        let a = Tensor::from_slice(gpu, &a_host, &[a_host.len()])?;
        let b = Tensor::from_slice(gpu, &b_host, &[b_host.len()])?;
        // Validate and measure the first dispatch (includes the pipeline compile).
        let mut live = Vec::new();
        for &v in variants.iter().filter(|v| v.supported(gpu)) {
            // The naive kernel at 2048^3 takes minutes on a CPU adapter: skip what is hopeless.
            if v == Variant::Naive && gpu.is_cpu() && g.m * g.n * g.k > 1 << 28 {
                eprintln!("skipping {} on {shape}: minutes on a CPU adapter", v.id());
                continue;
            }
            let start = Instant::now();
            let out = match matmul::gemm(&a, &b, None, g, v).and_then(|t| t.to_vec()) {
                Ok(out) => out,
                Err(e) => {
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    rows.push(BenchRow::untimed(
                        gpu,
                        v.id(),
                        &shape,
                        flops,
                        bytes,
                        "compute",
                        "ERROR",
                        e.to_string(),
                        ms,
                        f64::NAN,
                    ));
                    gpu.sync().ok();
                    continue;
                }
            };
            let first_ms = start.elapsed().as_secs_f64() * 1e3;
            let err = validate(&out, &a_host, &b_host, g);
            let tol = 1e-4 * (g.k as f64).sqrt();
            if (err.is_nan() || err > tol) && !unchecked {
                rows.push(BenchRow::untimed(
                    gpu,
                    v.id(),
                    &shape,
                    flops,
                    bytes,
                    "compute",
                    "FAILED",
                    format!("relative error {err:.2e} > {tol:.1e}; not timed"),
                    first_ms,
                    err,
                ));
                continue;
            }
            eprintln!(
                "validated {} on {shape} (first launch {first_ms:.0} ms)",
                v.id()
            );
            let mut one: Launch = Box::new(|| matmul::gemm(&a, &b, None, g, v).map(drop));
            // The first sample, now that the pipeline is compiled: a variant slower than
            // SLOW_LAUNCH_S per launch (a real-GPU tiling on a CPU adapter) keeps that one
            // sample, so the default run stays within minutes.
            let first = time_once(gpu, &mut one, 1)?;
            if first > SLOW_LAUNCH_S {
                eprintln!(
                    "  {} takes {first:.1} s per launch here: timed once",
                    v.id()
                );
            } else if let Some(split) = dispatch_split(gpu, &mut one)? {
                eprintln!("  per dispatch, median of 5: {split}");
            }
            let slow = first > SLOW_LAUNCH_S;
            live.push((v, first_ms, err, if slow { vec![first] } else { vec![] }));
        }
        for _ in 0..rounds {
            for (v, _, _, samples) in live.iter_mut() {
                if samples.first().is_some_and(|&s| s > SLOW_LAUNCH_S) {
                    continue;
                }
                let v = *v;
                let mut launch: Launch = Box::new(|| matmul::gemm(&a, &b, None, g, v).map(drop));
                let one = time_once(gpu, &mut launch, 1)?;
                let inner = inner_count(one, 0.15);
                samples.push(if inner == 1 {
                    one
                } else {
                    time_once(gpu, &mut launch, inner)?
                });
            }
        }
        for (v, first_ms, err, mut samples) in live {
            rows.push(BenchRow::timed(
                gpu,
                v.id(),
                &shape,
                flops,
                bytes,
                "compute",
                &mut samples,
                first_ms,
                err,
            ));
        }
    }
    Ok(rows)
}
