//! Probabilities of a classifier's rows: softmax with a temperature, per-sample entropy, and
//! the entropy weights `1 + e^{-H}` that put more weight on confident samples.

use super::grid_1d;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    classes: u32,
    inv_t: f32,
    _pad: u32,
}

fn rows_classes(x: &Tensor, op: &str) -> Result<(usize, usize)> {
    x.expect_dtype(DType::F32, op)?;
    match *x.shape() {
        [rows, classes] if rows > 0 && classes > 0 => Ok((rows, classes)),
        _ => Err(Error::input(format!(
            "{op}: expected [rows, classes], got {:?}",
            x.shape()
        ))),
    }
}

fn params(rows: usize, classes: usize, temperature: f32) -> P {
    P {
        rows: rows as u32,
        classes: classes as u32,
        inv_t: 1.0 / temperature,
        _pad: 0,
    }
}

fn check_temperature(t: f32) -> Result<()> {
    match t > 0.0 && t.is_finite() {
        true => Ok(()),
        false => Err(Error::input(format!(
            "softmax temperature must be positive, got {t}"
        ))),
    }
}

/// `softmax(z / temperature)` row by row, `[rows, classes]`.
pub fn softmax_t(z: &Tensor, temperature: f32) -> Result<Tensor> {
    check_temperature(temperature)?;
    let (rows, classes) = rows_classes(z, "softmax")?;
    let gpu = z.gpu();
    let y = Tensor::uninit(gpu, z.shape(), DType::F32)?;
    let p = params(rows, classes, temperature);
    gpu.dispatch(
        "prob/softmax_t_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[z.binding(), y.binding()],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(y)
}

/// Gradient of [`softmax_t`] given its output `y` and the upstream gradient `dy`.
pub fn softmax_t_backward(y: &Tensor, dy: &Tensor, temperature: f32) -> Result<Tensor> {
    check_temperature(temperature)?;
    let (rows, classes) = rows_classes(y, "softmax backward")?;
    dy.expect_shape(y.shape(), "softmax backward", "upstream gradient")?;
    let gpu = y.gpu();
    let dz = Tensor::uninit(gpu, y.shape(), DType::F32)?;
    let p = params(rows, classes, temperature);
    gpu.dispatch(
        "prob/softmax_t_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[y.binding(), dy.binding(), dz.binding()],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(dz)
}

/// Per-sample entropy `H[r] = -Σ p·ln(p + 1e-5)` of probabilities `[rows, classes]`, `[rows]`.
pub fn entropy(probs: &Tensor) -> Result<Tensor> {
    let (rows, classes) = rows_classes(probs, "entropy")?;
    let gpu = probs.gpu();
    let h = Tensor::uninit(gpu, &[rows], DType::F32)?;
    let p = params(rows, classes, 1.0);
    gpu.dispatch(
        "prob/entropy_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[probs.binding(), h.binding()],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(h)
}

/// Gradient of [`entropy`] with respect to the probabilities, given upstream `dh` `[rows]`.
pub fn entropy_backward(probs: &Tensor, dh: &Tensor) -> Result<Tensor> {
    let (rows, classes) = rows_classes(probs, "entropy backward")?;
    dh.expect_shape(&[rows], "entropy backward", "upstream gradient")?;
    let gpu = probs.gpu();
    let dx = Tensor::uninit(gpu, probs.shape(), DType::F32)?;
    let p = params(rows, classes, 1.0);
    gpu.dispatch(
        "prob/entropy_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[probs.binding(), dh.binding(), dx.binding()],
        grid_1d(rows * classes),
    )?;
    Ok(dx)
}

/// `w[r] = R·(1 + e^{-H[r]}) / Σ_k (1 + e^{-H[k]})` over entropies `[R]`: weights summing to R
/// (mean 1). A constant for whoever uses it: no backward.
pub fn entropy_weights(h: &Tensor) -> Result<Tensor> {
    h.expect_dtype(DType::F32, "entropy weights")?;
    let [rows] = *h.shape() else {
        return Err(Error::input(format!(
            "entropy weights: expected [rows], got {:?}",
            h.shape()
        )));
    };
    let gpu = h.gpu();
    let w = Tensor::uninit(gpu, &[rows], DType::F32)?;
    let p = params(rows, 1, 1.0);
    gpu.dispatch(
        "prob/entropy_weights.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[h.binding(), w.binding()],
        [1, 1, 1],
    )?;
    Ok(w)
}

/// Plain-Rust oracles (f32 data, f64 accumulation).
pub mod reference {
    /// Awkward (rows, classes) of softmax_t and entropy: batch 1, 3 classes, 5 x 10, 64 x 31, and
    /// feature widths 7, 768, 4097 (more than a workgroup's lanes).
    pub const SHAPES: &[(usize, usize)] = &[(1, 3), (3, 7), (5, 10), (64, 31), (2, 768), (1, 4097)];

    /// `softmax(z / t)` row by row.
    pub fn softmax_t(z: &[f32], classes: usize, t: f32) -> Vec<f32> {
        let mut y = Vec::with_capacity(z.len());
        for row in z.chunks(classes) {
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let e: Vec<f64> = row
                .iter()
                .map(|&v| ((v as f64 - m) / t as f64).exp())
                .collect();
            let s: f64 = e.iter().sum();
            y.extend(e.iter().map(|v| (v / s) as f32));
        }
        y
    }

    /// Gradient of [`softmax_t`] given its output `y` and upstream `dy`.
    pub fn softmax_t_backward(y: &[f32], dy: &[f32], classes: usize, t: f32) -> Vec<f32> {
        let mut dz = vec![0f32; y.len()];
        for (r, (yr, dyr)) in y.chunks(classes).zip(dy.chunks(classes)).enumerate() {
            let dot: f64 = yr.iter().zip(dyr).map(|(&a, &b)| a as f64 * b as f64).sum();
            for c in 0..classes {
                dz[r * classes + c] = (yr[c] as f64 * (dyr[c] as f64 - dot) / t as f64) as f32;
            }
        }
        dz
    }

    /// `-Σ p·ln(p + 1e-5)` per row.
    pub fn entropy(p: &[f32], classes: usize) -> Vec<f32> {
        p.chunks(classes)
            .map(|row| {
                -row.iter()
                    .map(|&v| v as f64 * (v as f64 + 1e-5).ln())
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// Gradient of [`entropy`] given upstream `dh` per row.
    pub fn entropy_backward(p: &[f32], dh: &[f32], classes: usize) -> Vec<f32> {
        p.iter()
            .enumerate()
            .map(|(i, &v)| {
                let v = v as f64;
                (-(dh[i / classes] as f64) * ((v + 1e-5).ln() + v / (v + 1e-5))) as f32
            })
            .collect()
    }

    /// `R·(1 + e^{-H}) / Σ(1 + e^{-H})`.
    pub fn entropy_weights(h: &[f32]) -> Vec<f32> {
        let w: Vec<f64> = h.iter().map(|&v| 1.0 + (-(v as f64)).exp()).collect();
        let s: f64 = w.iter().sum();
        w.iter().map(|v| (v * h.len() as f64 / s) as f32).collect()
    }
}
