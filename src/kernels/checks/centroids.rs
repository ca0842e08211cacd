//! Checks of the cosine-clustering kernel (`centroids.unit_rows`) against
//! `ops::centroids::reference` on awkward shapes: one row, a zero row, widths of 1, 3 and 257.

use super::{always, values, Checker};
use crate::kernels::{tol_for, Kernel};
use crate::ops::centroids::{self, reference};
use crate::{Gpu, Result, Tensor};

/// (rows, dim) of every case.
pub const SHAPES: &[(usize, usize)] = &[(1, 3), (5, 1), (37, 257), (64, 31)];

fn check_unit_rows(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &(rows, dim)) in SHAPES.iter().enumerate() {
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

/// The clustering kernels.
pub static KERNELS: &[Kernel] = &[Kernel {
    id: "centroids.unit_rows",
    op: "centroids",
    files: &["centroids/unit_rows.wgsl"],
    description: "rows with a 1 appended, scaled to unit length (cosine clustering)",
    supported: always,
    check: check_unit_rows,
}];
