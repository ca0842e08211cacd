//! Checks of the source-free kernels against their references on awkward shapes: the
//! cosine-clustering kernel (`centroids.unit_rows`: one row, a zero row, widths of 1, 3 and
//! 257) and weight normalisation (`weight_norm.fwd/bwd`: one row, one column, 10x257).

use super::{always, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{tol_for, Kernel};
use crate::ops::centroids::{self, reference};
use crate::ops::weight_norm as wn;
use crate::tensor::Tensor;

fn check_unit_rows(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &(rows, dim)) in reference::SHAPES.iter().enumerate() {
        c.case();
        let mut x: Vec<f32> = values(rows * dim, 700 + i as u64)
            .iter()
            .map(|v| 4.0 * v)
            .collect();
        // A zero row must come out as the appended 1 alone.
        x[..dim].fill(0.0);
        let t = Tensor::from_slice(gpu, &x, &[rows, dim])?;
        let y = centroids::unit_rows_with_one(&t)?;
        let want = reference::unit_rows_with_one(&x, dim);
        c.compare(
            &format!("[{rows}, {dim}]"),
            &y.to_vec()?,
            &want,
            tol_for(dim),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_weight_norm(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    for (i, &(rows, cols)) in wn::reference::SHAPES.iter().enumerate() {
        c.case();
        let v = values(rows * cols, 720 + i as u64);
        let g: Vec<f32> = values(rows, 730 + i as u64)
            .iter()
            .map(|x| 1.0 + x)
            .collect();
        let (tv, tg) = (
            Tensor::from_slice(gpu, &v, &[rows, cols])?,
            Tensor::from_slice(gpu, &g, &[rows, 1])?,
        );
        let what = format!("[{rows}, {cols}]");
        if backward {
            let dw = values(rows * cols, 740 + i as u64);
            let tdw = Tensor::from_slice(gpu, &dw, &[rows, cols])?;
            let (dv, dg) = wn::backward(&tv, &tg, &tdw)?;
            let (want_v, want_g) = wn::reference::backward(&v, &g, &dw, cols);
            c.compare(
                &format!("dV of {what}"),
                &dv.to_vec()?,
                &want_v,
                tol_for(cols),
            );
            c.compare(
                &format!("dg of {what}"),
                &dg.to_vec()?,
                &want_g,
                tol_for(cols),
            );
        } else {
            let w = wn::forward(&tv, &tg)?;
            c.compare(
                &what,
                &w.to_vec()?,
                &wn::reference::forward(&v, &g, cols),
                tol_for(cols),
            );
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

/// The clustering and weight-normalisation kernels.
pub static KERNELS: &[Kernel] = &[
    Kernel {
        id: "centroids.unit_rows",
        op: "centroids",
        shaders: &["centroids/unit_rows.wgsl"],
        description: "rows with a 1 appended, scaled to unit length (cosine clustering)",
        supported: always,
        check: check_unit_rows,
    },
    Kernel {
        id: "weight_norm.fwd",
        op: "weight_norm",
        shaders: &["weight_norm/fwd.wgsl"],
        description: "W = g·V/‖V‖ per row (a weight-normalised dense layer)",
        supported: always,
        check: |gpu, c| check_weight_norm(gpu, c, false),
    },
    Kernel {
        id: "weight_norm.bwd",
        op: "weight_norm",
        shaders: &["weight_norm/bwd.wgsl"],
        description: "dg = dW·V/‖V‖, dV = g/‖V‖·(dW - (dW·V)V/‖V‖²)",
        supported: always,
        check: |gpu, c| check_weight_norm(gpu, c, true),
    },
];
