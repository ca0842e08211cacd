//! Checks of the batch-norm kernels against `ops::batch_norm::reference` on its `SHAPES`.

use super::{always, label4, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{tol_for, Kernel};
use crate::ops::batch_norm::{self as bn, reference};
use crate::tensor::Tensor;

/// A case's input, γ, β, running mean and running variance.
pub type Inputs = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

/// Deterministic input, γ, β and running statistics for `shape`.
pub fn inputs(shape: &[usize], seed: u64) -> Inputs {
    let c = shape[1];
    let n: usize = shape.iter().product();
    // An offset and a scale per channel, as real activations have.
    let x: Vec<f32> = values(n, seed)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let k = (i / shape[2..].iter().product::<usize>()) % c;
            2.0 * v + 0.3 * k as f32 - 1.0
        })
        .collect();
    let gamma = values(c, seed + 1).iter().map(|v| 1.0 + 0.5 * v).collect();
    let beta = values(c, seed + 2).iter().map(|v| 0.5 * v).collect();
    let rm = values(c, seed + 3).iter().map(|v| 0.2 * v).collect();
    let rv = values(c, seed + 4).iter().map(|v| 1.0 + 0.5 * v).collect();
    (x, gamma, beta, rm, rv)
}

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Stats,
    Normalize,
    GradSums,
    GradInput,
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&v| v as f32).collect()
}

fn check(gpu: &Gpu, c: &mut Checker, which: Which) -> Result<()> {
    for (i, &shape) in reference::SHAPES.iter().enumerate() {
        c.case();
        let (x, gamma, beta, rm, rv) = inputs(shape, 900 + 10 * i as u64);
        let ch = shape[1];
        let m = shape[0] * shape[2..].iter().product::<usize>();
        let t = |v: &[f32], s: &[usize]| Tensor::from_slice(gpu, v, s);
        let (tx, tg, tb) = (t(&x, shape)?, t(&gamma, &[ch])?, t(&beta, &[ch])?);
        let what = label4(shape);
        let (mean, var) = reference::stats(&x, shape);
        match which {
            Which::Stats => {
                let (trm, trv) = (t(&rm, &[ch])?, t(&rv, &[ch])?);
                let s = bn::stats(&tx, Some((&trm, &trv)), bn::MOMENTUM)?;
                let (want_rm, want_rv) =
                    reference::running_update(&x, shape, &rm, &rv, bn::MOMENTUM);
                c.compare(&what, &s.mean.to_vec()?, &f32s(&mean), tol_for(m));
                c.compare(&what, &s.var.to_vec()?, &f32s(&var), tol_for(m));
                c.compare(&what, &trm.to_vec()?, &want_rm, tol_for(m));
                c.compare(&what, &trv.to_vec()?, &want_rv, tol_for(m));
            }
            Which::Normalize => {
                // Training (batch statistics, with and without the ReLU) and evaluation
                // (running statistics).
                let (y, _) = bn::forward_train(&tx, &tg, &tb, None, false)?;
                let want = reference::forward_train(&x, shape, &gamma, &beta, bn::EPS);
                c.compare(&what, &y.to_vec()?, &want, tol_for(m));
                let (y, _) = bn::forward_train(&tx, &tg, &tb, None, true)?;
                let relu: Vec<f32> = want.iter().map(|v| v.max(0.0)).collect();
                c.compare(&what, &y.to_vec()?, &relu, tol_for(m));
                let (trm, trv) = (t(&rm, &[ch])?, t(&rv, &[ch])?);
                let y = bn::normalize(&tx, &trm, &trv, &tg, &tb, bn::EPS, false)?;
                let run = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<_>>();
                let want =
                    reference::normalize(&x, shape, &run(&rm), &run(&rv), &gamma, &beta, bn::EPS);
                c.compare(&what, &y.to_vec()?, &want, tol_for(1));
            }
            Which::GradSums | Which::GradInput => {
                let dy = values(x.len(), 950 + i as u64);
                let tdy = t(&dy, shape)?;
                for (batch, relu) in [(true, false), (false, false), (true, true), (false, true)] {
                    let (tm, tv, want_stats) = match batch {
                        true => (
                            t(&f32s(&mean), &[ch])?,
                            t(&f32s(&var), &[ch])?,
                            (mean.clone(), var.clone()),
                        ),
                        false => {
                            let run = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<_>>();
                            (t(&rm, &[ch])?, t(&rv, &[ch])?, (run(&rm), run(&rv)))
                        }
                    };
                    let (dx, dg, db) =
                        bn::backward(&tdy, &tx, &tm, &tv, &tg, &tb, bn::EPS, batch, relu)?;
                    // With the ReLU fused in, the reference masks dy by the forward's output.
                    let masked: Vec<f32> = match relu {
                        false => dy.clone(),
                        true => {
                            let y = reference::normalize(
                                &x,
                                shape,
                                &want_stats.0,
                                &want_stats.1,
                                &gamma,
                                &beta,
                                bn::EPS,
                            );
                            dy.iter()
                                .zip(&y)
                                .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
                                .collect()
                        }
                    };
                    let (wdx, wdg, wdb) = reference::backward(
                        &masked,
                        &x,
                        shape,
                        &want_stats.0,
                        &want_stats.1,
                        &gamma,
                        bn::EPS,
                        batch,
                    );
                    if which == Which::GradSums {
                        c.compare(&what, &dg.to_vec()?, &wdg, tol_for(m));
                        c.compare(&what, &db.to_vec()?, &wdb, tol_for(m));
                    } else {
                        c.compare(&what, &dx.to_vec()?, &wdx, tol_for(m));
                    }
                }
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

/// The batch-norm kernels.
pub const KERNELS: &[Kernel] = &[
    Kernel {
        id: "batch_norm.stats",
        op: "batch_norm",
        shaders: &[],
        description:
            "per-channel mean and biased variance, running statistics (unbiased) by momentum",
        supported: always,
        check: |gpu, c| check(gpu, c, Which::Stats),
    },
    Kernel {
        id: "batch_norm.normalize",
        op: "batch_norm",
        shaders: &[],
        description: "y = γ(x − μ)/√(σ² + ε) + β, optional ReLU (batch or running statistics)",
        supported: always,
        check: |gpu, c| check(gpu, c, Which::Normalize),
    },
    Kernel {
        id: "batch_norm.grad_sums",
        op: "batch_norm",
        shaders: &[],
        description: "dβ = Σdy, dγ = Σdy·x̂ per channel",
        supported: always,
        check: |gpu, c| check(gpu, c, Which::GradSums),
    },
    Kernel {
        id: "batch_norm.grad_input",
        op: "batch_norm",
        shaders: &[],
        description: "dx = (γ/σ)(dy − dβ/M − x̂·dγ/M) (batch statistics) or (γ/σ)·dy (fixed)",
        supported: always,
        check: |gpu, c| check(gpu, c, Which::GradInput),
    },
];
