//! Checks of the one-dispatch optimizer kernels (`optim.sgd_multi`, `optim.adam_multi`): three
//! parameters of awkward lengths in one flat layout (each on a 256-element block), two
//! learning-rate groups and a skipped block, against the per-parameter reference.

use super::{tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::optim::{self, reference, BLOCK};
use crate::tensor::Tensor;

/// (length, lr multiplier; negative: no gradient this step, left alone).
const SEGMENTS: [(usize, f32); 3] = [(300, 0.1), (1, -1.0), (513, 1.0)];

/// Flat layout of [`SEGMENTS`]: (offsets, total length, per-block table).
fn layout() -> (Vec<usize>, usize, Vec<f32>) {
    let mut offsets = Vec::new();
    let mut table = Vec::new();
    let mut total = 0;
    for &(len, mult) in &SEGMENTS {
        offsets.push(total);
        let blocks = len.div_ceil(BLOCK);
        table.extend(std::iter::repeat_n(mult, blocks));
        total += blocks * BLOCK;
    }
    (offsets, total, table)
}

/// Applies `update(lr multiplier, range)` to the blocks of every segment that has a gradient
/// (its padding too: the kernel updates whole blocks; real layouts keep the padding at zero).
fn per_segment(offsets: &[usize], mut update: impl FnMut(f32, std::ops::Range<usize>)) {
    for (&(len, mult), &at) in SEGMENTS.iter().zip(offsets) {
        if mult >= 0.0 {
            update(mult, at..at + len.next_multiple_of(BLOCK));
        }
    }
}

pub(super) fn check_sgd_multi(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    let (offsets, n, table) = layout();
    for nesterov in [false, true] {
        c.case();
        let h = optim::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov,
            weight_decay: 1e-2,
        };
        let (mut w, g, mut v) = (values(n, 700), values(n, 701), values(n, 702));
        let (tw, tg, tv) = (
            Tensor::from_slice(gpu, &w, &[n])?,
            Tensor::from_slice(gpu, &g, &[n])?,
            Tensor::from_slice(gpu, &v, &[n])?,
        );
        let ts = Tensor::from_slice(gpu, &table, &[table.len()])?;
        optim::sgd_step_multi(&tw, &tg, &tv, &ts, h)?;
        per_segment(&offsets, |mult, r| {
            let h = optim::Sgd {
                lr: h.lr * mult,
                ..h
            };
            reference::sgd_step(&mut w[r.clone()], &g[r.clone()], &mut v[r], h);
        });
        let what = format!("flat [{n}], nesterov {nesterov}");
        c.compare(&format!("w of {what}"), &tw.to_vec()?, &w, tol_for(4));
        c.compare(
            &format!("velocity of {what}"),
            &tv.to_vec()?,
            &v,
            tol_for(4),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_adam_multi(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    let (offsets, n, table) = layout();
    c.case();
    let h = optim::Adam {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-2,
        step: 3,
    };
    let (mut w, g) = (values(n, 710), values(n, 711));
    let mut m: Vec<f32> = values(n, 712).iter().map(|v| 0.1 * v).collect();
    let mut v: Vec<f32> = values(n, 713).iter().map(|v| 0.01 * v.abs()).collect();
    let (tw, tg, tm, tv) = (
        Tensor::from_slice(gpu, &w, &[n])?,
        Tensor::from_slice(gpu, &g, &[n])?,
        Tensor::from_slice(gpu, &m, &[n])?,
        Tensor::from_slice(gpu, &v, &[n])?,
    );
    let ts = Tensor::from_slice(gpu, &table, &[table.len()])?;
    optim::adam_step_multi(&tw, &tg, &tm, &tv, &ts, h)?;
    per_segment(&offsets, |mult, r| {
        let h = optim::Adam {
            lr: h.lr * mult,
            ..h
        };
        let (w, g) = (&mut w[r.clone()], &g[r.clone()]);
        reference::adam_step(w, g, &mut m[r.clone()], &mut v[r], h);
    });
    let what = format!("flat [{n}]");
    c.compare(&format!("w of {what}"), &tw.to_vec()?, &w, tol_for(16));
    c.compare(&format!("m of {what}"), &tm.to_vec()?, &m, tol_for(4));
    c.compare(&format!("v of {what}"), &tv.to_vec()?, &v, tol_for(4));
    Ok(())
}
