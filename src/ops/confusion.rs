//! The class-confusion matrix of a batch of predictions (Jin et al., ECCV 2020, eq. 5) and its
//! off-diagonal loss: `C = (P·w)ᵀ·P` over probabilities `P [B, K]` with
//! detached per-sample weights `w [B]`; rows of C normalised to sum 1 (C̃); loss
//! `scale · (ΣC̃ - trace C̃) / K`.
//!
//! TLlib divides C by its row sums with broadcasting, which normalises columns; C is symmetric,
//! so the loss and its gradient with respect to P are the same either way.

use super::grid_1d;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossP {
    classes: u32,
    scale: f32,
    _a: u32,
    _b: u32,
}

fn check(probs: &Tensor, w: &Tensor, op: &str) -> Result<(usize, usize)> {
    probs.expect_dtype(DType::F32, op)?;
    let [rows, classes] = *probs.shape() else {
        return Err(Error::input(format!(
            "{op}: probabilities must be [batch, classes], got {:?}",
            probs.shape()
        )));
    };
    w.expect_shape(&[rows], op, "sample weights")?;
    Ok((rows, classes))
}

fn square(c: &Tensor, op: &str) -> Result<usize> {
    match *c.shape() {
        [k, k2] if k == k2 && k > 0 => Ok(k),
        _ => Err(Error::input(format!(
            "{op}: expected a square [classes, classes] matrix, got {:?}",
            c.shape()
        ))),
    }
}

/// `C[i, j] = Σ_b w[b]·P[b, i]·P[b, j]`, `[K, K]`.
pub fn matrix(probs: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (rows, k) = check(probs, w, "class confusion")?;
    let gpu = probs.gpu();
    let c = Tensor::uninit(gpu, &[k, k], DType::F32)?;
    let p = P {
        a: rows as u32,
        b: k as u32,
        c: 0,
        d: 0,
    };
    gpu.dispatch(
        "confusion/fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[probs.binding(), w.binding(), c.binding()],
        grid_1d(k * k),
    )?;
    Ok(c)
}

/// Gradient of [`matrix`] with respect to the probabilities, given upstream `dc` `[K, K]`.
pub fn matrix_backward(probs: &Tensor, w: &Tensor, dc: &Tensor) -> Result<Tensor> {
    let (rows, k) = check(probs, w, "class confusion backward")?;
    dc.expect_shape(&[k, k], "class confusion backward", "upstream gradient")?;
    let gpu = probs.gpu();
    let dx = Tensor::uninit(gpu, probs.shape(), DType::F32)?;
    let p = P {
        a: rows as u32,
        b: k as u32,
        c: 0,
        d: 0,
    };
    gpu.dispatch(
        "confusion/bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[probs.binding(), w.binding(), dc.binding(), dx.binding()],
        grid_1d(rows * k),
    )?;
    Ok(dx)
}

/// `scale · (ΣC̃ - trace C̃) / K` with C̃ the row-normalised C, as a `[1]` tensor.
pub fn loss(c: &Tensor, scale: f32) -> Result<Tensor> {
    let k = square(c, "class confusion loss")?;
    let gpu = c.gpu();
    let out = Tensor::uninit(gpu, &[1], DType::F32)?;
    let p = LossP {
        classes: k as u32,
        scale,
        _a: 0,
        _b: 0,
    };
    gpu.dispatch(
        "confusion/loss_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[c.binding(), out.binding()],
        [1, 1, 1],
    )?;
    Ok(out)
}

/// Gradient of [`loss`] with respect to C.
pub fn loss_backward(c: &Tensor, scale: f32) -> Result<Tensor> {
    let k = square(c, "class confusion loss backward")?;
    let gpu = c.gpu();
    let dc = Tensor::uninit(gpu, &[k, k], DType::F32)?;
    let p = LossP {
        classes: k as u32,
        scale,
        _a: 0,
        _b: 0,
    };
    gpu.dispatch(
        "confusion/loss_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[c.binding(), dc.binding()],
        grid_1d(k * k),
    )?;
    Ok(dc)
}

/// Plain-Rust oracles (f32 data, f64 accumulation).
pub mod reference {
    /// Awkward (rows, classes) of the confusion matrix and its loss: batch 1, 3 and 7 classes,
    /// 64 and 65 rows (one past a workgroup), 768 classes. No 4097: the matrix is
    /// [classes, classes], 67 MB there, beyond any use.
    pub const SHAPES: &[(usize, usize)] = &[(1, 3), (3, 7), (64, 31), (65, 10), (2, 768)];

    /// `C = (P·w)ᵀ·P`.
    pub fn matrix(p: &[f32], w: &[f32], classes: usize) -> Vec<f32> {
        let mut c = vec![0f64; classes * classes];
        for (b, row) in p.chunks(classes).enumerate() {
            for i in 0..classes {
                for j in 0..classes {
                    c[i * classes + j] += w[b] as f64 * row[i] as f64 * row[j] as f64;
                }
            }
        }
        c.into_iter().map(|v| v as f32).collect()
    }

    /// Gradient of [`matrix`] with respect to P.
    pub fn matrix_backward(p: &[f32], w: &[f32], dc: &[f32], classes: usize) -> Vec<f32> {
        let k = classes;
        let mut dx = vec![0f32; p.len()];
        for (b, row) in p.chunks(k).enumerate() {
            for c in 0..k {
                let s: f64 = (0..k)
                    .map(|j| (dc[c * k + j] as f64 + dc[j * k + c] as f64) * row[j] as f64)
                    .sum();
                dx[b * k + c] = (w[b] as f64 * s) as f32;
            }
        }
        dx
    }

    /// The loss, computed the long way: normalise the rows, then (sum - trace) / K.
    pub fn loss(c: &[f32], classes: usize, scale: f32) -> f32 {
        let k = classes;
        let (mut total, mut trace) = (0f64, 0f64);
        for i in 0..k {
            let r: f64 = c[i * k..(i + 1) * k].iter().map(|&v| v as f64).sum();
            for j in 0..k {
                let v = c[i * k + j] as f64 / r;
                total += v;
                if i == j {
                    trace += v;
                }
            }
        }
        (scale as f64 * (total - trace) / k as f64) as f32
    }

    /// Gradient of [`loss`] with respect to C.
    pub fn loss_backward(c: &[f32], classes: usize, scale: f32) -> Vec<f32> {
        let k = classes;
        let mut dc = vec![0f32; k * k];
        for i in 0..k {
            let r: f64 = c[i * k..(i + 1) * k].iter().map(|&v| v as f64).sum();
            let cii = c[i * k + i] as f64;
            for j in 0..k {
                let diag = if i == j { 1.0 / r } else { 0.0 };
                dc[i * k + j] = (scale as f64 / k as f64 * (cii / (r * r) - diag)) as f32;
            }
        }
        dc
    }
}
