//! CDAN's multilinear conditioning (Long et al., NeurIPS 2018): the flattened outer product of
//! each row's features and (detached) class probabilities, and the element-wise product with a
//! constant that the randomized map `(f·R_f) ⊙ (g·R_g) / √d` ends with (its `f·R_f` is a
//! dense layer with a constant weight, `g·R_g` a plain matmul).

use super::grid_1d;
use crate::{DType, Error, Result, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    classes: u32,
    dim: u32,
    _a: u32,
}

fn rows_cols(t: &Tensor, op: &str, name: &str) -> Result<(usize, usize)> {
    t.expect_dtype(DType::F32, op)?;
    match *t.shape() {
        [rows, cols] if rows > 0 && cols > 0 => Ok((rows, cols)),
        _ => Err(Error::input(format!(
            "{op}: {name} must be a non-empty [rows, cols], got {:?}",
            t.shape()
        ))),
    }
}

/// `y[b, c·dim + j] = g[b, c] · f[b, j]` for features `f` [rows, dim] and probabilities `g`
/// [rows, classes]: `[rows, classes·dim]`.
pub fn outer(f: &Tensor, g: &Tensor) -> Result<Tensor> {
    let (rows, dim) = rows_cols(f, "multilinear map", "features")?;
    let (g_rows, classes) = rows_cols(g, "multilinear map", "probabilities")?;
    if g_rows != rows {
        return Err(Error::input(format!(
            "multilinear map: features {:?} and probabilities {:?} differ in rows",
            f.shape(),
            g.shape()
        )));
    }
    let gpu = f.gpu();
    let y = Tensor::uninit(gpu, &[rows, classes * dim], DType::F32)?;
    let p = params(rows, classes, dim);
    gpu.dispatch(
        "cdan/outer_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[f.binding(), g.binding(), y.binding()],
        grid_1d(rows * classes * dim),
    )?;
    Ok(y)
}

/// Gradient of [`outer`] w.r.t. the features: `df[b, j] = Σ_c g[b, c] · dy[b, c·dim + j]`.
pub fn outer_backward(g: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let (rows, classes) = rows_cols(g, "multilinear map backward", "probabilities")?;
    let (dy_rows, width) = rows_cols(dy, "multilinear map backward", "upstream gradient")?;
    if dy_rows != rows || width % classes != 0 {
        return Err(Error::input(format!(
            "multilinear map backward: upstream gradient {:?} does not fit probabilities {:?}",
            dy.shape(),
            g.shape()
        )));
    }
    let dim = width / classes;
    let gpu = g.gpu();
    let df = Tensor::uninit(gpu, &[rows, dim], DType::F32)?;
    let p = params(rows, classes, dim);
    gpu.dispatch(
        "cdan/outer_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[g.binding(), dy.binding(), df.binding()],
        grid_1d(rows * dim),
    )?;
    Ok(df)
}

/// `y = x ⊙ c` with a constant `c` of `x`'s shape.
pub fn mul_const(x: &Tensor, c: &Tensor) -> Result<Tensor> {
    elementwise_with(x, c, "cdan/mul_const_fwd.wgsl", "product with a constant")
}

/// Gradient of [`mul_const`] w.r.t. `x`: `dx = dy ⊙ c`.
pub fn mul_const_backward(dy: &Tensor, c: &Tensor) -> Result<Tensor> {
    elementwise_with(
        dy,
        c,
        "cdan/mul_const_bwd.wgsl",
        "product with a constant backward",
    )
}

fn elementwise_with(x: &Tensor, c: &Tensor, file: &str, op: &str) -> Result<Tensor> {
    x.expect_dtype(DType::F32, op)?;
    c.expect_dtype(DType::F32, op)?;
    c.expect_shape(x.shape(), op, "constant")?;
    if x.numel() == 0 {
        return Err(Error::input(format!("{op}: empty input")));
    }
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape(), DType::F32)?;
    let p = params(x.numel(), 0, 0);
    gpu.dispatch(
        file,
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), c.binding(), y.binding()],
        grid_1d(x.numel()),
    )?;
    Ok(y)
}

fn params(rows: usize, classes: usize, dim: usize) -> P {
    P {
        rows: rows as u32,
        classes: classes as u32,
        dim: dim as u32,
        _a: 0,
    }
}

/// Plain-Rust oracles (f32 data, f64 accumulation).
pub mod reference {
    /// The flattened outer product per row: `[rows, classes·dim]`.
    pub fn outer(f: &[f32], g: &[f32], dim: usize, classes: usize) -> Vec<f32> {
        let mut y = Vec::with_capacity(f.len() * classes);
        for (fr, gr) in f.chunks(dim).zip(g.chunks(classes)) {
            for &gc in gr {
                y.extend(fr.iter().map(|&v| (gc as f64 * v as f64) as f32));
            }
        }
        y
    }

    /// Gradient of [`outer`] w.r.t. `f` given upstream `dy`.
    pub fn outer_backward(g: &[f32], dy: &[f32], dim: usize, classes: usize) -> Vec<f32> {
        let mut df = Vec::with_capacity(g.len() / classes * dim);
        for (gr, dyr) in g.chunks(classes).zip(dy.chunks(classes * dim)) {
            for j in 0..dim {
                let s: f64 = (0..classes)
                    .map(|c| gr[c] as f64 * dyr[c * dim + j] as f64)
                    .sum();
                df.push(s as f32);
            }
        }
        df
    }

    /// `x ⊙ c` (also the backward, with `dy` for `x`).
    pub fn mul_const(x: &[f32], c: &[f32]) -> Vec<f32> {
        x.iter()
            .zip(c)
            .map(|(&a, &b)| (a as f64 * b as f64) as f32)
            .collect()
    }

    /// The randomized multilinear map `(f·R_f) ⊙ (g·R_g) / √d` with `R_f` [dim, d] and `R_g`
    /// [classes, d] (row-major), written out directly.
    pub fn randomized(
        f: &[f32],
        g: &[f32],
        rf: &[f32],
        rg: &[f32],
        (dim, classes, d): (usize, usize, usize),
    ) -> Vec<f32> {
        let rows = f.len() / dim;
        let scale = 1.0 / (d as f64).sqrt();
        let mut h = Vec::with_capacity(rows * d);
        for b in 0..rows {
            for k in 0..d {
                let a: f64 = (0..dim)
                    .map(|j| f[b * dim + j] as f64 * rf[j * d + k] as f64)
                    .sum();
                let e: f64 = (0..classes)
                    .map(|c| g[b * classes + c] as f64 * rg[c * d + k] as f64)
                    .sum();
                h.push((a * e * scale) as f32);
            }
        }
        h
    }
}
