//! Cross-entropy against the complement of each row's label: how little probability the
//! logits `z [B, C]` leave outside label `y [B]`, with per-sample weights `w [B]` (0/1 masks),
//!
//! ```text
//! L = scale · Σ_i w_i·ℓ_i / max(Σ_i w_i, 1),   ℓ_i = -log(min(1 - softmax(z_i)[y_i] + 1e-6, 1))
//! ```
//!
//! (the log is shifted by 1e-6 and clamped at 0, as TLlib's `shift_log`). A margin-disparity
//! adversary minimises it on the target rows.

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// TLlib's `shift_log` offset.
pub const EPS: f32 = 1e-6;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    classes: u32,
    scale: f32,
    _pad: u32,
}

fn params(logits: &Tensor, labels: &Tensor, weights: &Tensor, scale: f32, op: &str) -> Result<P> {
    logits.expect_dtype(DType::F32, op)?;
    labels.expect_dtype(DType::U32, op)?;
    weights.expect_dtype(DType::F32, op)?;
    let [rows, classes] = *logits.shape() else {
        return Err(Error::input(format!(
            "{op}: logits must be [batch, classes], got {:?}",
            logits.shape()
        )));
    };
    if rows == 0 || classes == 0 {
        return Err(Error::input(format!(
            "{op}: empty logits [{rows}, {classes}]"
        )));
    }
    labels.expect_shape(&[rows], op, "labels")?;
    weights.expect_shape(&[rows], op, "sample weights")?;
    Ok(P {
        rows: rows as u32,
        classes: classes as u32,
        scale,
        _pad: 0,
    })
}

/// The weighted mean of `-log(min(1 - p_y + 1e-6, 1))` over the rows with weight > 0, times
/// `scale`, as a `[1]` tensor (`p = softmax(logits)`, `y = labels`).
pub fn forward(logits: &Tensor, labels: &Tensor, weights: &Tensor, scale: f32) -> Result<Tensor> {
    let p = params(logits, labels, weights, scale, "complement cross-entropy")?;
    let gpu = logits.gpu();
    let loss = Tensor::uninit(gpu, &[1], DType::F32)?;
    gpu.dispatch(
        "loss/complement_xent_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[
            logits.binding(),
            labels.binding(),
            weights.binding(),
            loss.binding(),
        ],
        [1, 1, 1],
    )?;
    Ok(loss)
}

/// Gradient of [`forward`] with respect to the logits (a root: no upstream gradient):
/// `scale·w_i/Σw · p_y·([c = y] - p_c)/(1 - p_y + 1e-6)`, zero where the clamp is active.
pub fn backward(logits: &Tensor, labels: &Tensor, weights: &Tensor, scale: f32) -> Result<Tensor> {
    let p = params(
        logits,
        labels,
        weights,
        scale,
        "complement cross-entropy backward",
    )?;
    let gpu = logits.gpu();
    let dz = Tensor::uninit(gpu, logits.shape(), DType::F32)?;
    gpu.dispatch(
        "loss/complement_xent_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[
            logits.binding(),
            labels.binding(),
            weights.binding(),
            dz.binding(),
        ],
        [p.rows.div_ceil(64), 1, 1],
    )?;
    Ok(dz)
}

/// Plain-Rust oracles (f32 data, f64 accumulation).
pub mod reference {
    use super::EPS;

    /// Awkward (rows, classes): batch 1, 3 and 10 classes, 7 and 12 rows, more rows than a
    /// workgroup of 256 (with 10 and 31 classes).
    pub const SHAPES: &[(usize, usize)] = &[
        (1, 3),
        (1, 10),
        (7, 3),
        (7, 10),
        (12, 3),
        (300, 10),
        (300, 31),
    ];

    /// Softmax of one row and `q = 1 - p_y` summed over the other classes.
    fn row_probs(row: &[f32], y: usize) -> (Vec<f64>, f64) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let rest: f64 = e
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != y)
            .map(|(_, v)| v)
            .sum();
        (e.iter().map(|v| v / s).collect(), rest / s)
    }

    fn label(labels: &[u32], i: usize, classes: usize) -> usize {
        (labels[i] as usize).min(classes - 1)
    }

    /// `scale · Σ_i w_i·(-ln(min(1 - p_y + 1e-6, 1))) / max(Σ w, 1)`.
    pub fn forward(z: &[f32], labels: &[u32], w: &[f32], classes: usize, scale: f32) -> f32 {
        let (mut acc, mut wsum) = (0f64, 0f64);
        for (i, row) in z.chunks(classes).enumerate() {
            let (_, q) = row_probs(row, label(labels, i, classes));
            acc += w[i] as f64 * -(q + EPS as f64).min(1.0).ln();
            wsum += w[i] as f64;
        }
        (scale as f64 * acc / wsum.max(1.0)) as f32
    }

    /// Gradient of [`forward`] with respect to the logits.
    pub fn backward(z: &[f32], labels: &[u32], w: &[f32], classes: usize, scale: f32) -> Vec<f32> {
        let wsum: f64 = w.iter().map(|&v| v as f64).sum::<f64>().max(1.0);
        let mut dz = vec![0f32; z.len()];
        for (i, row) in z.chunks(classes).enumerate() {
            let y = label(labels, i, classes);
            let (p, q) = row_probs(row, y);
            let shifted = q + EPS as f64;
            if shifted >= 1.0 {
                continue; // the clamp: ℓ is flat
            }
            let g = scale as f64 * w[i] as f64 / wsum * p[y] / shifted;
            for c in 0..classes {
                let v = if c == y { g * q } else { -g * p[c] };
                dz[i * classes + c] = v as f32;
            }
        }
        dz
    }
}
