//! Checks of the outer product's, the constant product's and the weighted binary
//! cross-entropy's kernels against their CPU references.

use super::{tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::{bce, mul_const, outer};
use crate::tensor::Tensor;

/// Which kernel of a pair a check runs.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Pass {
    Fwd,
    Bwd,
}

pub(super) fn check_outer(gpu: &Gpu, c: &mut Checker, pass: Pass) -> Result<()> {
    for (i, &(rows, classes, dim)) in outer::reference::SHAPES.iter().enumerate() {
        c.case();
        let f = values(rows * dim, 700 + i as u64);
        let g: Vec<f32> = values(rows * classes, 710 + i as u64)
            .iter()
            .map(|v| 0.5 + 0.5 * v)
            .collect();
        let tf = Tensor::from_slice(gpu, &f, &[rows, dim])?;
        let tg = Tensor::from_slice(gpu, &g, &[rows, classes])?;
        let what = format!("{rows} rows, {classes} classes, {dim} features");
        match pass {
            Pass::Fwd => {
                let y = outer::outer(&tf, &tg)?;
                let want = outer::reference::outer(&f, &g, dim, classes);
                c.compare(&what, &y.to_vec()?, &want, tol_for(1));
            }
            Pass::Bwd => {
                let dy = values(rows * classes * dim, 720 + i as u64);
                let tdy = Tensor::from_slice(gpu, &dy, &[rows, classes * dim])?;
                let df = outer::outer_backward(&tg, &tdy)?;
                let want = outer::reference::outer_backward(&g, &dy, dim, classes);
                c.compare(&what, &df.to_vec()?, &want, tol_for(classes));
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_mul_const(gpu: &Gpu, c: &mut Checker, pass: Pass) -> Result<()> {
    for (i, &(rows, cols)) in mul_const::reference::SHAPES.iter().enumerate() {
        c.case();
        let x = values(rows * cols, 730 + i as u64);
        let k = values(rows * cols, 740 + i as u64);
        let tx = Tensor::from_slice(gpu, &x, &[rows, cols])?;
        let tk = Tensor::from_slice(gpu, &k, &[rows, cols])?;
        let y = match pass {
            Pass::Fwd => mul_const::mul_const(&tx, &tk)?,
            Pass::Bwd => mul_const::mul_const_backward(&tx, &tk)?,
        };
        let want = mul_const::reference::mul_const(&x, &k);
        c.compare(
            &format!("[{rows}, {cols}]"),
            &y.to_vec()?,
            &want,
            tol_for(1),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_bce_weighted(gpu: &Gpu, c: &mut Checker, pass: Pass) -> Result<()> {
    for (i, &n) in bce::reference::LENGTHS.iter().enumerate() {
        c.case();
        let x: Vec<f32> = values(n, 750 + i as u64).iter().map(|v| 8.0 * v).collect();
        let t: Vec<f32> = (0..n).map(|j| (j % 2) as f32).collect();
        let w: Vec<f32> = values(n, 760 + i as u64)
            .iter()
            .map(|v| 1.0 + 0.5 * v)
            .collect();
        let tx = Tensor::from_slice(gpu, &x, &[n, 1])?;
        let tt = Tensor::from_slice(gpu, &t, &[n, 1])?;
        let tw = Tensor::from_slice(gpu, &w, &[n])?;
        let what = format!("{n} samples");
        match pass {
            Pass::Fwd => {
                let l = bce::weighted_forward(&tx, &tt, &tw, 0.7)?;
                let want = bce::reference::weighted_forward(&x, &t, &w, 0.7);
                c.compare(&what, &l.to_vec()?, &[want], tol_for(n));
            }
            Pass::Bwd => {
                let dx = bce::weighted_backward(&tx, &tt, &tw, 0.7)?;
                let want = bce::reference::weighted_backward(&x, &t, &w, 0.7);
                c.compare(&what, &dx.to_vec()?, &want, tol_for(1));
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}
