//! Checks of the complement cross-entropy's kernels (`ops::complement_xent`) against their CPU
//! references on `reference::SHAPES`: some rows masked out, labels at every class,
//! and rows whose label logit is pushed up by 30 (p_y ≈ 1: the 1e-6 shift dominates) or down
//! by 30 (p_y ≈ 0: the clamp at 1 is active and the gradient is 0).

use super::{tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::complement_xent;
use crate::tensor::Tensor;

/// Which kernel a check runs.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Pass {
    Fwd,
    Bwd,
}

/// Logits, labels and 0/1 weights of case `i`.
fn xent_case(i: usize) -> (usize, usize, Vec<f32>, Vec<u32>, Vec<f32>) {
    let (rows, classes) = complement_xent::reference::SHAPES[i];
    let mut z: Vec<f32> = values(rows * classes, 700 + i as u64)
        .iter()
        .map(|v| 4.0 * v)
        .collect();
    let labels: Vec<u32> = (0..rows).map(|r| (r % classes) as u32).collect();
    for (r, &label) in labels.iter().enumerate() {
        let y = r * classes + label as usize;
        match r % 4 {
            1 => z[y] += 30.0,
            3 => z[y] -= 30.0,
            _ => {}
        }
    }
    let weights: Vec<f32> = (0..rows)
        .map(|r| if rows > 1 && r % 5 == 2 { 0.0 } else { 1.0 })
        .collect();
    (rows, classes, z, labels, weights)
}

pub(super) fn check_complement_xent(gpu: &Gpu, c: &mut Checker, pass: Pass) -> Result<()> {
    for i in 0..complement_xent::reference::SHAPES.len() {
        c.case();
        let (rows, classes, z, labels, w) = xent_case(i);
        let tz = Tensor::from_slice(gpu, &z, &[rows, classes])?;
        let tl = Tensor::from_u32(gpu, &labels, &[rows])?;
        let tw = Tensor::from_slice(gpu, &w, &[rows])?;
        let what = format!("[{rows}, {classes}]");
        match pass {
            Pass::Fwd => {
                let l = complement_xent::forward(&tz, &tl, &tw, 0.8)?;
                let want = complement_xent::reference::forward(&z, &labels, &w, classes, 0.8);
                c.compare(&what, &l.to_vec()?, &[want], tol_for(rows * classes));
            }
            Pass::Bwd => {
                let dz = complement_xent::backward(&tz, &tl, &tw, 0.8)?;
                let want = complement_xent::reference::backward(&z, &labels, &w, classes, 0.8);
                c.compare(&what, &dz.to_vec()?, &want, tol_for(classes));
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}
