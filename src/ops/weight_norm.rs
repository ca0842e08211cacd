//! Weight normalisation (Salimans & Kingma 2016; PyTorch's `weight_norm`, dim 0): a dense
//! layer's weight as a direction and a length per output row, `W[r] = g[r]·V[r]/‖V[r]‖`,
//! V [rows, cols] and g [rows] (stored [rows, 1], PyTorch's `weight_g`).
//!
//! ```text
//! n_r = ‖V[r]‖,  s_r = Σ_c dW[r,c]·V[r,c]
//! dg[r]   = s_r / n_r
//! dV[r,c] = (g[r]/n_r)·(dW[r,c] − s_r·V[r,c]/n_r²)
//! ```

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

fn dims(v: &Tensor, g: &Tensor, op: &str) -> Result<(usize, usize)> {
    v.expect_dtype(DType::F32, op)?;
    g.expect_dtype(DType::F32, op)?;
    let [rows, cols] = *v.shape() else {
        return Err(Error::input(format!(
            "{op}: the direction must be [rows, cols], got {:?}",
            v.shape()
        )));
    };
    if g.numel() != rows || rows == 0 || cols == 0 {
        return Err(Error::input(format!(
            "{op}: a length per row expected ({rows}), got {:?} for a {:?} direction",
            g.shape(),
            v.shape()
        )));
    }
    Ok((rows, cols))
}

fn params(rows: usize, cols: usize) -> P {
    P {
        rows: rows as u32,
        cols: cols as u32,
        _pad: [0; 2],
    }
}

/// `W = g·V/‖V‖` row by row, [rows, cols].
pub fn forward(v: &Tensor, g: &Tensor) -> Result<Tensor> {
    let (rows, cols) = dims(v, g, "weight norm")?;
    let gpu = v.gpu();
    let w = Tensor::uninit(gpu, v.shape(), DType::F32)?;
    gpu.dispatch(
        "weight_norm/fwd.wgsl",
        &[],
        bytemuck::bytes_of(&params(rows, cols)),
        &[v.binding(), g.binding(), w.binding()],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(w)
}

/// Gradients (dV [rows, cols], dg shaped like `g`) of [`forward`] for an upstream `dw`.
pub fn backward(v: &Tensor, g: &Tensor, dw: &Tensor) -> Result<(Tensor, Tensor)> {
    let (rows, cols) = dims(v, g, "weight norm backward")?;
    dw.expect_shape(v.shape(), "weight norm backward", "upstream gradient")?;
    let gpu = v.gpu();
    let dv = Tensor::uninit(gpu, v.shape(), DType::F32)?;
    let dg = Tensor::uninit(gpu, g.shape(), DType::F32)?;
    gpu.dispatch(
        "weight_norm/bwd.wgsl",
        &[],
        bytemuck::bytes_of(&params(rows, cols)),
        &[
            v.binding(),
            g.binding(),
            dw.binding(),
            dv.binding(),
            dg.binding(),
        ],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok((dv, dg))
}

/// Plain-Rust references (f64 accumulation).
pub mod reference {
    /// (rows, cols) the weight-norm kernels are checked on: one row, one column, 257 columns (one
    /// past a workgroup), 31 x 64.
    pub const SHAPES: &[(usize, usize)] = &[(1, 3), (5, 1), (10, 257), (31, 64)];

    /// `W = g·V/‖V‖` per row of `v` [rows, cols].
    pub fn forward(v: &[f32], g: &[f32], cols: usize) -> Vec<f32> {
        v.chunks(cols)
            .zip(g)
            .flat_map(|(row, &g)| {
                let n = row
                    .iter()
                    .map(|&x| f64::from(x).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    .max(1e-12);
                row.iter()
                    .map(move |&x| (f64::from(g) * f64::from(x) / n) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// (dV, dg) of [`forward`] for upstream `dw`.
    pub fn backward(v: &[f32], g: &[f32], dw: &[f32], cols: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut dv, mut dg) = (Vec::with_capacity(v.len()), Vec::with_capacity(g.len()));
        for ((row, d), &g) in v.chunks(cols).zip(dw.chunks(cols)).zip(g) {
            let n = row
                .iter()
                .map(|&x| f64::from(x).powi(2))
                .sum::<f64>()
                .sqrt()
                .max(1e-12);
            let s: f64 = row
                .iter()
                .zip(d)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            dg.push((s / n) as f32);
            let a = f64::from(g) / n;
            dv.extend(
                row.iter()
                    .zip(d)
                    .map(|(&x, &y)| (a * (f64::from(y) - s * f64::from(x) / (n * n))) as f32),
            );
        }
        (dv, dg)
    }
}
