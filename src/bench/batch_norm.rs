//! `dak bench batch_norm`: the four batch-norm kernels in training mode (`stats`, `normalize`,
//! `grad_sums`, `grad_input`) on ResNet-50's BN layers. Validated against the f64 reference,
//! then timed. Memory-bound: read GB/s (bytes = the tensors each kernel reads and writes).
//! ResNet-50's layers 3 and 4 have many channels of few pixels, so the per-channel cost of the
//! two reductions shows here as it does in a training step.

use super::{fill, judged, max_err, time_validated, BenchRow, Launch, Validated};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::batch_norm::{self as bn, reference};
use crate::tensor::Tensor;
use std::time::Instant;

/// A BN input `[n, c, h, w]`.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Shape label in reports.
    pub label: &'static str,
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

const fn case(label: &'static str, n: usize, c: usize, hw: usize) -> Case {
    Case {
        label,
        n,
        c,
        h: hw,
        w: hw,
    }
}

/// ResNet-50's BN layers at 64x64 input, batch 32 (each channels x size once).
pub const RESNET50_64: &[Case] = &[
    case("conv1", 32, 64, 32),
    case("layer1 64", 32, 64, 16),
    case("layer1 256", 32, 256, 16),
    case("layer2 128 @16", 32, 128, 16),
    case("layer2 128", 32, 128, 8),
    case("layer2 512", 32, 512, 8),
    case("layer3 256 @8", 32, 256, 8),
    case("layer3 256", 32, 256, 4),
    case("layer3 1024", 32, 1024, 4),
    case("layer4 512 @4", 32, 512, 4),
    case("layer4 512", 32, 512, 2),
    case("layer4 2048", 32, 2048, 2),
];

/// ResNet-50's BN layers at 224x224 input, batch 16.
pub const RESNET50_224: &[Case] = &[
    case("conv1", 16, 64, 112),
    case("layer1 64", 16, 64, 56),
    case("layer1 256", 16, 256, 56),
    case("layer2 128 @56", 16, 128, 56),
    case("layer2 128", 16, 128, 28),
    case("layer2 512", 16, 512, 28),
    case("layer3 256 @28", 16, 256, 28),
    case("layer3 256", 16, 256, 14),
    case("layer3 1024", 16, 1024, 14),
    case("layer4 512 @14", 16, 512, 14),
    case("layer4 512", 16, 512, 7),
    case("layer4 2048", 16, 2048, 7),
];

/// Small shapes for quick runs and tests: odd sizes, scalar rows, and enough channels for the
/// lane-per-channel walk of CPU adapters.
pub const TINY: &[Case] = &[
    Case {
        label: "tiny odd",
        n: 2,
        c: 3,
        h: 5,
        w: 7,
    },
    case("tiny many channels", 2, 600, 2),
];

impl Case {
    /// The same layer at batch size `n`.
    pub fn with_batch(mut self, n: usize) -> Case {
        self.n = n;
        self
    }

    fn shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }
}

/// A named shape set, for `--shapes`.
pub fn cases(name: &str) -> Option<Vec<Case>> {
    Some(match name {
        "default" | "resnet50-64" => RESNET50_64.to_vec(),
        "resnet50-224" => RESNET50_224.to_vec(),
        "tiny" => TINY.to_vec(),
        _ => return None,
    })
}

/// Names accepted by `--shapes` for batch_norm.
pub const SHAPE_SETS: &str = "default (= resnet50-64), resnet50-224, tiny";

/// The batch-norm kernel ids, in the order they are timed.
pub const IDS: [&str; 4] = [
    "batch_norm.stats",
    "batch_norm.normalize",
    "batch_norm.grad_sums",
    "batch_norm.grad_input",
];

/// Validates kernel `id` by `check` (its relative error, at most `tol`) and adds it with its
/// `launch` to `ops`, when `keep` selects it.
#[allow(clippy::too_many_arguments)] // one kernel's validation and timing, as pool's
fn validate<'a>(
    ops: &mut Vec<Validated<'a>>,
    keep: &dyn Fn(&str) -> bool,
    tol: f64,
    id: &'static str,
    check: &dyn Fn() -> Result<f64>,
    launch: Launch<'a>,
    flops: f64,
    bytes: f64,
) {
    if keep(id) {
        let start = Instant::now();
        let outcome = judged(tol, check());
        ops.push(Validated {
            id,
            launch,
            outcome,
            first_ms: start.elapsed().as_secs_f64() * 1e3,
            flops,
            bytes,
        });
    }
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&v| v as f32).collect()
}

/// Validate then time the kernels `keep` selects on every case (`rounds` samples, median
/// reported). A kernel that fails validation is reported as FAILED and not timed.
pub fn run(
    gpu: &Gpu,
    cases: &[Case],
    rounds: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for case in cases {
        let shape = case.shape();
        let (numel, c) = (shape.iter().product::<usize>(), case.c);
        let values = numel as f64;
        let x_host: Vec<f32> = fill(numel, 3)
            .iter()
            .enumerate()
            .map(|(i, v)| 2.0 * v + 0.1 * ((i / (case.h * case.w)) % c) as f32)
            .collect();
        let dy_host = fill(numel, 4);
        let gamma_host: Vec<f32> = fill(c, 5).iter().map(|v| 1.0 + v).collect();
        let beta_host = fill(c, 6);
        let x = Tensor::from_slice(gpu, &x_host, &shape)?;
        let dy = Tensor::from_slice(gpu, &dy_host, &shape)?;
        let gamma = Tensor::from_slice(gpu, &gamma_host, &[c])?;
        let beta = Tensor::from_slice(gpu, &beta_host, &[c])?;
        let (mean_f64, var_f64) = reference::stats(&x_host, &shape);
        let mean = Tensor::from_slice(gpu, &f32s(&mean_f64), &[c])?;
        let var = Tensor::from_slice(gpu, &f32s(&var_f64), &[c])?;
        let (want_dx, want_dgamma, want_dbeta) = reference::backward(
            &dy_host,
            &x_host,
            &shape,
            &mean_f64,
            &var_f64,
            &gamma_host,
            bn::EPS,
            true,
        );
        let label = format!("{} {shape:?}", case.label);
        // f32 sums over a channel's M values against f64: the kernel checks' tolerance.
        let tol = crate::kernels::tol_for(case.n * case.h * case.w) as f64;
        let eps = bn::EPS;
        let (x, dy, gamma, beta, mean, var) = (&x, &dy, &gamma, &beta, &mean, &var);
        // grad_input reads the reference sums, so it is judged on its own.
        let dgamma = Tensor::from_slice(gpu, &want_dgamma, &[c])?;
        let dbeta = Tensor::from_slice(gpu, &want_dbeta, &[c])?;
        let sums = (&dgamma, &dbeta);
        let mut ops: Vec<Validated> = Vec::new();
        validate(
            &mut ops,
            keep,
            tol,
            "batch_norm.stats",
            &|| {
                let s = bn::stats(x, None, bn::MOMENTUM)?;
                let got = [s.mean.to_vec()?, s.var.to_vec()?].concat();
                Ok(max_err(&got, &[f32s(&mean_f64), f32s(&var_f64)].concat()))
            },
            Box::new(move || bn::stats(x, None, bn::MOMENTUM).map(drop)),
            3.0 * values,
            4.0 * values,
        );
        let want_y = reference::normalize(
            &x_host,
            &shape,
            &mean_f64,
            &var_f64,
            &gamma_host,
            &beta_host,
            eps,
        );
        validate(
            &mut ops,
            keep,
            tol,
            "batch_norm.normalize",
            &|| {
                let y = bn::normalize(x, mean, var, gamma, beta, eps, false)?;
                Ok(max_err(&y.to_vec()?, &want_y))
            },
            Box::new(move || bn::normalize(x, mean, var, gamma, beta, eps, false).map(drop)),
            2.0 * values,
            8.0 * values,
        );
        validate(
            &mut ops,
            keep,
            tol,
            "batch_norm.grad_sums",
            &|| {
                let (dg, db) = bn::grad_sums(dy, x, mean, var, gamma, beta, eps, false)?;
                let got = [dg.to_vec()?, db.to_vec()?].concat();
                Ok(max_err(
                    &got,
                    &[want_dgamma.clone(), want_dbeta.clone()].concat(),
                ))
            },
            Box::new(move || bn::grad_sums(dy, x, mean, var, gamma, beta, eps, false).map(drop)),
            4.0 * values,
            8.0 * values,
        );
        validate(
            &mut ops,
            keep,
            tol,
            "batch_norm.grad_input",
            &|| {
                let dx = bn::grad_input(dy, x, mean, var, gamma, beta, sums, eps, true, false)?;
                Ok(max_err(&dx.to_vec()?, &want_dx))
            },
            Box::new(move || {
                bn::grad_input(dy, x, mean, var, gamma, beta, sums, eps, true, false).map(drop)
            }),
            6.0 * values,
            12.0 * values,
        );
        time_validated(gpu, &label, ops, rounds, &mut rows)?;
    }
    Ok(rows)
}
