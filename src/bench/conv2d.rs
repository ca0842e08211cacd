//! `dak bench conv2d`: every pass (forward, input gradient, weight gradient) and variant on
//! VGG16's and the DANN digits network's layer shapes. Each variant is validated at sampled
//! outputs against the op's oracle (`conv2d::reference::exact_at`), then timed round-robin with
//! the other variants.

use super::{dispatch_split, fill, inner_count, sample_indices, time_once, BenchRow, Launch};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::{self, Geometry, Pass, Spec, Variant};
use crate::tensor::Tensor;
use std::time::Instant;

/// A named convolution: input `[n, ci, h, w]`, `co` output channels, square kernel.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Shape label in reports.
    pub label: &'static str,
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub ci: usize,
    /// Input height and width.
    pub hw: usize,
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
    /// The same convolution at batch size `n`.
    pub fn with_batch(mut self, n: usize) -> Case {
        self.n = n;
        self
    }

    /// The convolution geometry of this case.
    pub fn geometry(&self) -> Result<Geometry> {
        Geometry::new(
            &[self.n, self.ci, self.hw, self.hw],
            &[self.co, self.ci, self.k, self.k],
            Spec::new(self.stride, self.pad),
            self.label,
        )
    }
}

const fn vgg(label: &'static str, n: usize, ci: usize, hw: usize, co: usize) -> Case {
    Case {
        label,
        n,
        ci,
        hw,
        co,
        k: 3,
        stride: 1,
        pad: 1,
    }
}

const fn digits(label: &'static str, ci: usize, hw: usize, co: usize) -> Case {
    Case {
        label,
        n: 128,
        ci,
        hw,
        co,
        k: 5,
        stride: 1,
        pad: 0,
    }
}

/// The reference shape: batch 32, 64->64 channels, 32x32, 3x3, pad 1 (2.42 GFLOP per pass).
pub const CONV64: &[Case] = &[vgg("vgg conv1_2 @32", 32, 64, 32, 64)];

/// VGG16's distinct conv shapes at 32x32 input, batch 32.
pub const VGG16_32: &[Case] = &[
    vgg("conv1_1", 32, 3, 32, 64),
    vgg("conv1_2", 32, 64, 32, 64),
    vgg("conv2_1", 32, 64, 16, 128),
    vgg("conv2_2", 32, 128, 16, 128),
    vgg("conv3_1", 32, 128, 8, 256),
    vgg("conv3_2/3", 32, 256, 8, 256),
    vgg("conv4_1", 32, 256, 4, 512),
    vgg("conv4_2/3", 32, 512, 4, 512),
    vgg("conv5_x", 32, 512, 2, 512),
];

/// VGG16's distinct conv shapes at 224x224 input, batch 4 (batch 32 would not fit one binding).
pub const VGG16_224: &[Case] = &[
    vgg("conv1_1", 4, 3, 224, 64),
    vgg("conv1_2", 4, 64, 224, 64),
    vgg("conv2_1", 4, 64, 112, 128),
    vgg("conv2_2", 4, 128, 112, 128),
    vgg("conv3_1", 4, 128, 56, 256),
    vgg("conv3_2/3", 4, 256, 56, 256),
    vgg("conv4_1", 4, 256, 28, 512),
    vgg("conv4_2/3", 4, 512, 28, 512),
    vgg("conv5_x", 4, 512, 14, 512),
];

/// The DANN digits feature extractor (Ganin et al.): conv5x5 1|3->32 on 28x28, pool 2,
/// conv5x5 32->48 on 12x12, pool 2; batch 128 (64 source + 64 target).
pub const DIGITS: &[Case] = &[
    digits("digits conv1 (gray)", 1, 28, 32),
    digits("digits conv1 (rgb)", 3, 28, 32),
    digits("digits conv2", 32, 12, 48),
];

/// Small shapes for tests and quick checks.
pub const TINY: &[Case] = &[
    vgg("tiny 3x3", 2, 3, 9, 8),
    Case {
        label: "tiny 5x5 s2",
        n: 2,
        ci: 4,
        hw: 11,
        co: 5,
        k: 5,
        stride: 2,
        pad: 2,
    },
];

/// The default set: the reference 64->64 shape and the digits network (a few minutes on lavapipe).
pub fn default_cases() -> Vec<Case> {
    CONV64.iter().chain(DIGITS).copied().collect()
}

/// A named shape set, for `--shapes`.
pub fn cases(name: &str) -> Option<Vec<Case>> {
    Some(match name {
        "default" => default_cases(),
        "conv64" => CONV64.to_vec(),
        "vgg16-32" => VGG16_32.to_vec(),
        "vgg16-224" => VGG16_224.to_vec(),
        "digits" => DIGITS.to_vec(),
        "tiny" => TINY.to_vec(),
        _ => return None,
    })
}

/// Names accepted by `--shapes` for conv2d.
pub const SHAPE_SETS: &str = "default, conv64, vgg16-32, vgg16-224, digits, tiny";

/// Largest error relative to (1 + |exact|) at up to 128 sampled outputs.
fn validate(g: &Geometry, pass: Pass, out: &[f32], x: &[f32], w: &[f32], dy: &[f32]) -> f64 {
    sample_indices(out.len(), 128)
        .map(|i| {
            let want = conv2d::reference::exact_at(g, pass, i, x, w, dy);
            (out[i] as f64 - want).abs() / (1.0 + want.abs())
        })
        .fold(0.0, f64::max)
}

fn launch(
    pass: Pass,
    v: Variant,
    g: &Geometry,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    dy: &Tensor,
) -> Result<Tensor> {
    match pass {
        Pass::Forward => conv2d::forward(x, w, Some(b), false, g.spec, v),
        Pass::InputGrad => conv2d::backward_input(dy, w, &g.x_shape(), g.spec, v),
        Pass::WeightGrad => conv2d::backward_weight(dy, x, &g.w_shape(), g.spec, v),
    }
}

/// Validate, then time each (pass, variant) on each case; variants of one pass and shape run
/// round-robin for `rounds` samples and the median is reported.
pub fn run(
    gpu: &Gpu,
    cases: &[Case],
    passes: &[Pass],
    variants: &[Variant],
    rounds: usize,
    unchecked: bool,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for c in cases {
        let g = c.geometry()?;
        let largest = 4 * g.x_len().max(g.y_len()).max(g.w_len()) as u64;
        let shape = format!("{} [{}]", c.label, g.label());
        if largest > gpu.max_binding_bytes() {
            eprintln!(
                "skipping {shape}: an operand of {largest} bytes exceeds this adapter's {}-byte storage binding",
                gpu.max_binding_bytes()
            );
            continue;
        }
        let x_host = fill(g.x_len(), 1);
        let w_host = fill(g.w_len(), 2);
        let b_host = vec![0f32; g.co];
        let dy_host = fill(g.y_len(), 3);
        let x = Tensor::from_slice(gpu, &x_host, &g.x_shape())?;
        let w = Tensor::from_slice(gpu, &w_host, &g.w_shape())?;
        let b = Tensor::from_slice(gpu, &b_host, &[g.co])?;
        let dy = Tensor::from_slice(gpu, &dy_host, &g.y_shape())?;
        let flops = g.flops();
        let bytes = 4.0 * (g.x_len() + g.w_len() + g.y_len()) as f64;
        for &pass in passes {
            let mut live = Vec::new();
            for &v in variants.iter().filter(|v| v.supported(gpu)) {
                // The direct kernels take minutes on big shapes on a CPU adapter.
                if v == Variant::Direct && gpu.is_cpu() && g.flops() > 2e9 {
                    eprintln!(
                        "skipping {} on {shape}: minutes on a CPU adapter",
                        v.id(pass)
                    );
                    continue;
                }
                let start = Instant::now();
                let out = match launch(pass, v, &g, &x, &w, &b, &dy).and_then(|t| t.to_vec()) {
                    Ok(out) => out,
                    Err(e) => {
                        let ms = start.elapsed().as_secs_f64() * 1e3;
                        rows.push(BenchRow::untimed(
                            gpu,
                            v.id(pass),
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
                let err = validate(&g, pass, &out, &x_host, &w_host, &dy_host);
                let k = match pass {
                    Pass::Forward => g.ci * g.kh * g.kw,
                    Pass::InputGrad => g.co * g.kh * g.kw,
                    Pass::WeightGrad => g.n * g.oh * g.ow,
                };
                let tol = 1e-4 * (k as f64).sqrt();
                if (err.is_nan() || err > tol) && unchecked {
                    eprintln!(
                        "UNCHECKED: {} on {shape} has relative error {err:.2e} > {tol:.1e}; timed anyway",
                        v.id(pass)
                    );
                } else if err.is_nan() || err > tol {
                    rows.push(BenchRow::untimed(
                        gpu,
                        v.id(pass),
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
                } else {
                    eprintln!(
                        "validated {} on {shape} (first launch {first_ms:.0} ms)",
                        v.id(pass)
                    );
                }
                let mut one: Launch = Box::new(|| launch(pass, v, &g, &x, &w, &b, &dy).map(drop));
                if let Some(split) = dispatch_split(gpu, &mut one)? {
                    eprintln!("  per dispatch, median of 5: {split}");
                }
                live.push((v, first_ms, err, Vec::new()));
            }
            for _ in 0..rounds {
                for (v, _, _, samples) in live.iter_mut() {
                    let v = *v;
                    let mut run: Launch =
                        Box::new(|| launch(pass, v, &g, &x, &w, &b, &dy).map(drop));
                    let one = time_once(gpu, &mut run, 1)?;
                    let inner = inner_count(one, 0.15);
                    samples.push(if inner == 1 {
                        one
                    } else {
                        time_once(gpu, &mut run, inner)?
                    });
                }
            }
            for (v, first_ms, err, mut samples) in live {
                rows.push(BenchRow::timed(
                    gpu,
                    v.id(pass),
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
    }
    Ok(rows)
}
