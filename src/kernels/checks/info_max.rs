//! Checks of the information-maximisation kernels (`ops::info_max`) against their CPU
//! references on `reference::SHAPES` (logits in ±6) with every pair of `reference::WEIGHTS`. The mean prediction and the gradient are compared after
//! dividing both by the reference's largest magnitude: their values are small (1/classes,
//! 1/rows), so an error relative to 1 would hide a wrong result.

use super::{always, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernel;
use crate::ops::info_max::{self as im, reference};
use crate::tensor::Tensor;

#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Fwd,
    Bwd,
}

const TOL: f32 = 1e-4;

/// `v` divided by the largest magnitude of `want`.
fn scaled(v: &[f32], want: &[f32]) -> Vec<f32> {
    let s = want
        .iter()
        .fold(0f32, |a, v| a.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / s).collect()
}

fn check(gpu: &Gpu, c: &mut Checker, pass: Pass) -> Result<()> {
    for (i, &(rows, classes)) in reference::SHAPES.iter().enumerate() {
        let z: Vec<f32> = values(rows * classes, 1100 + i as u64)
            .iter()
            .map(|v| 6.0 * v)
            .collect();
        let tz = Tensor::from_slice(gpu, &z, &[rows, classes])?;
        for &(we, wd) in reference::WEIGHTS {
            c.case();
            let what = format!("[{rows}, {classes}] w_ent {we} w_div {wd}");
            let out = im::forward(&tz, we, wd)?;
            match pass {
                Pass::Fwd => {
                    let want = reference::forward(&z, classes, we, wd);
                    c.compare(&what, &out.loss.to_vec()?, &[want], TOL);
                    let want_mean = reference::mean(&z, classes);
                    let got = out.mean.to_vec()?;
                    let what = format!("mean of {what}");
                    c.compare(
                        &what,
                        &scaled(&got, &want_mean),
                        &scaled(&want_mean, &want_mean),
                        TOL,
                    );
                }
                Pass::Bwd => {
                    let dl = Tensor::from_slice(gpu, &[0.7], &[1])?;
                    let dz = im::backward(&out.probs, &out.mean, &dl, we, wd)?.to_vec()?;
                    let want = reference::backward(&z, classes, we, wd, 0.7);
                    c.compare(&what, &scaled(&dz, &want), &scaled(&want, &want), TOL);
                }
            }
            if c.failed() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The information-maximisation kernels.
pub(in crate::kernels) static KERNELS: &[Kernel] = &[
    Kernel {
        id: "info_max.fwd",
        op: "info_max",
        shaders: &["info_max/fwd.wgsl"],
        description: "IM loss w_ent·mean H(p_i) - w_div·H(p̄) of softmax rows, and p̄ -> [1]",
        supported: always,
        check: |gpu, c| check(gpu, c, Pass::Fwd),
    },
    Kernel {
        id: "info_max.bwd",
        op: "info_max",
        shaders: &["info_max/bwd.wgsl"],
        description:
            "dz = dL·p·(g - Σ p·g), g = (w_ent·H'(p) - w_div·H'(p̄)) / rows; a workgroup per row",
        supported: always,
        check: |gpu, c| check(gpu, c, Pass::Bwd),
    },
];
