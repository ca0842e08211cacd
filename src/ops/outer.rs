//! The flattened outer product of each row of a value `f` [rows, dim] with a constant `g`
//! [rows, classes]: `y[b, c·dim + j] = g[b, c] · f[b, j]`, and its gradient w.r.t. `f` (the
//! multilinear conditioning of a domain head on class probabilities).

use super::grid_1d;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

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
    let (rows, dim) = rows_cols(f, "outer product", "features")?;
    let (g_rows, classes) = rows_cols(g, "outer product", "probabilities")?;
    if g_rows != rows {
        return Err(Error::input(format!(
            "outer product: features {:?} and probabilities {:?} differ in rows",
            f.shape(),
            g.shape()
        )));
    }
    let gpu = f.gpu();
    let y = Tensor::uninit(gpu, &[rows, classes * dim], DType::F32)?;
    let p = params(rows, classes, dim);
    gpu.dispatch(
        "outer/fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[f.binding(), g.binding(), y.binding()],
        grid_1d(rows * classes * dim),
    )?;
    Ok(y)
}

/// Gradient of [`outer`] w.r.t. the features: `df[b, j] = Σ_c g[b, c] · dy[b, c·dim + j]`.
pub fn outer_backward(g: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let (rows, classes) = rows_cols(g, "outer product backward", "probabilities")?;
    let (dy_rows, width) = rows_cols(dy, "outer product backward", "upstream gradient")?;
    if dy_rows != rows || width % classes != 0 {
        return Err(Error::input(format!(
            "outer product backward: upstream gradient {:?} does not fit probabilities {:?}",
            dy.shape(),
            g.shape()
        )));
    }
    let dim = width / classes;
    let gpu = g.gpu();
    let df = Tensor::uninit(gpu, &[rows, dim], DType::F32)?;
    let p = params(rows, classes, dim);
    gpu.dispatch(
        "outer/bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[g.binding(), dy.binding(), df.binding()],
        grid_1d(rows * dim),
    )?;
    Ok(df)
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
    /// (rows, classes, features) of the outer product: one row, 3 classes, 7 and 768 features,
    /// and 1 or 2 classes of 4097 features (more than a workgroup's lanes).
    pub const SHAPES: &[(usize, usize, usize)] = &[
        (1, 3, 7),
        (3, 3, 7),
        (2, 3, 768),
        (1, 1, 4097),
        (2, 1, 4097),
        (2, 2, 4097),
    ];

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
}
