//! Fused softmax + cross-entropy with per-sample weights, and argmax accuracy counters.

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    classes: u32,
    scale: f32,
    /// Label smoothing ε (the loss kernels; 0 elsewhere).
    smoothing: f32,
}

fn check_smoothing(smoothing: f32) -> Result<()> {
    match (0.0..1.0).contains(&smoothing) {
        true => Ok(()),
        false => Err(Error::input(format!(
            "label smoothing {smoothing} must be in [0, 1)"
        ))),
    }
}

fn check(logits: &Tensor, labels: &Tensor, weights: &Tensor, op: &str) -> Result<(usize, usize)> {
    logits.expect_dtype(DType::F32, op)?;
    labels.expect_dtype(DType::U32, op)?;
    let [rows, classes] = *logits.shape() else {
        return Err(Error::input(format!(
            "{op}: logits must be [batch, classes], got {:?}",
            logits.shape()
        )));
    };
    labels.expect_shape(&[rows], op, "labels")?;
    weights.expect_shape(&[rows], op, "sample weights")?;
    Ok((rows, classes))
}

/// Mean cross-entropy over the samples with weight > 0, times `scale`, as a `[1]` tensor.
/// `weights` are per-sample 0/1 masks (or any non-negative weights).
pub fn forward(logits: &Tensor, labels: &Tensor, weights: &Tensor, scale: f32) -> Result<Tensor> {
    forward_smoothed(logits, labels, weights, scale, 0.0)
}

/// [`forward`] against label-smoothed targets `(1-ε)·onehot(y) + ε/C` (Szegedy et al. 2016);
/// ε = 0 is [`forward`] exactly.
pub fn forward_smoothed(
    logits: &Tensor,
    labels: &Tensor,
    weights: &Tensor,
    scale: f32,
    smoothing: f32,
) -> Result<Tensor> {
    check_smoothing(smoothing)?;
    let (rows, classes) = check(logits, labels, weights, "softmax cross-entropy")?;
    let gpu = logits.gpu();
    let loss = Tensor::uninit(gpu, &[1], DType::F32)?;
    let p = P {
        rows: rows as u32,
        classes: classes as u32,
        scale,
        smoothing,
    };
    gpu.dispatch(
        "loss/softmax_xent_fwd.wgsl",
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

/// Gradient of `forward` with respect to the logits: `scale·w_i·(p - onehot)/Σw`.
pub fn backward(logits: &Tensor, labels: &Tensor, weights: &Tensor, scale: f32) -> Result<Tensor> {
    backward_smoothed(logits, labels, weights, scale, 0.0)
}

/// Gradient of [`forward_smoothed`]: `scale·w_i·(p - q)/Σw`, q the smoothed target.
pub fn backward_smoothed(
    logits: &Tensor,
    labels: &Tensor,
    weights: &Tensor,
    scale: f32,
    smoothing: f32,
) -> Result<Tensor> {
    check_smoothing(smoothing)?;
    let (rows, classes) = check(logits, labels, weights, "softmax cross-entropy backward")?;
    let gpu = logits.gpu();
    let dz = Tensor::uninit(gpu, logits.shape(), DType::F32)?;
    let p = P {
        rows: rows as u32,
        classes: classes as u32,
        scale,
        smoothing,
    };
    gpu.dispatch(
        "loss/softmax_xent_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[
            logits.binding(),
            labels.binding(),
            weights.binding(),
            dz.binding(),
        ],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(dz)
}

/// Argmax predictions `[B]` (u32), and `counts` (`[2]` u32: correct, counted) incremented for the
/// samples with weight > 0. Nothing is read back.
pub fn argmax_correct(
    logits: &Tensor,
    labels: &Tensor,
    weights: &Tensor,
    counts: &Tensor,
) -> Result<Tensor> {
    let (rows, classes) = check(logits, labels, weights, "accuracy")?;
    counts.expect_dtype(DType::U32, "accuracy")?;
    counts.expect_shape(&[2], "accuracy", "counters")?;
    let gpu = logits.gpu();
    let pred = Tensor::uninit(gpu, &[rows], DType::U32)?;
    let p = P {
        rows: rows as u32,
        classes: classes as u32,
        scale: 0.0,
        smoothing: 0.0,
    };
    gpu.dispatch(
        "loss/argmax_correct.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[
            logits.binding(),
            labels.binding(),
            weights.binding(),
            pred.binding(),
            counts.binding(),
        ],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(pred)
}

/// Argmax of each row of `logits` [B, C] (u32 [B], first maximum wins), counting nothing:
/// [`argmax_correct`]'s kernel with every weight 0 (pseudo-labels). No readback.
pub fn argmax(logits: &Tensor) -> Result<Tensor> {
    let gpu = logits.gpu();
    let rows = logits.shape().first().copied().unwrap_or(0);
    let labels = Tensor::zeros_of(gpu, &[rows], DType::U32)?;
    let weights = Tensor::zeros(gpu, &[rows])?;
    let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
    argmax_correct(logits, &labels, &weights, &counts)
}

/// Plain-Rust oracles.
pub mod reference {
    /// Awkward (rows, classes) of the softmax cross-entropy and argmax: one class, batch 1, classes
    /// off a power of 2, more rows than a workgroup of 64, and 1000 classes.
    pub const SHAPES: &[(usize, usize)] = &[
        (1, 1),
        (1, 3),
        (7, 10),
        (33, 31),
        (65, 2),
        (70, 10),
        (300, 7),
        (2, 1000),
    ];

    fn row_stats(row: &[f32]) -> (f64, f64) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
        let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        (m, s)
    }

    /// Weighted softmax cross-entropy of logits `z`, times `scale`.
    pub fn forward(z: &[f32], labels: &[u32], w: &[f32], classes: usize, scale: f32) -> f32 {
        forward_smoothed(z, labels, w, classes, scale, 0.0)
    }

    /// [`forward`] against the targets `(1-ε)·onehot(y) + ε/C`.
    pub fn forward_smoothed(
        z: &[f32],
        labels: &[u32],
        w: &[f32],
        classes: usize,
        scale: f32,
        smoothing: f32,
    ) -> f32 {
        let eps = smoothing as f64;
        let (mut acc, mut wsum) = (0f64, 0f64);
        for (i, row) in z.chunks(classes).enumerate() {
            let (m, s) = row_stats(row);
            let lse = s.ln() + m;
            let mean_z = row.iter().map(|&v| v as f64).sum::<f64>() / classes as f64;
            let l = (1.0 - eps) * (lse - row[labels[i] as usize] as f64) + eps * (lse - mean_z);
            acc += w[i] as f64 * l;
            wsum += w[i] as f64;
        }
        (scale as f64 * acc / wsum.max(1.0)) as f32
    }

    /// Gradient of [`forward`] with respect to the logits.
    pub fn backward(z: &[f32], labels: &[u32], w: &[f32], classes: usize, scale: f32) -> Vec<f32> {
        backward_smoothed(z, labels, w, classes, scale, 0.0)
    }

    /// Gradient of [`forward_smoothed`] with respect to the logits.
    pub fn backward_smoothed(
        z: &[f32],
        labels: &[u32],
        w: &[f32],
        classes: usize,
        scale: f32,
        smoothing: f32,
    ) -> Vec<f32> {
        let eps = smoothing as f64;
        let wsum: f64 = w.iter().map(|&v| v as f64).sum::<f64>().max(1.0);
        let mut dz = vec![0f32; z.len()];
        for (i, row) in z.chunks(classes).enumerate() {
            let (m, s) = row_stats(row);
            for c in 0..classes {
                let p = (row[c] as f64 - m).exp() / s;
                let onehot = if c == labels[i] as usize { 1.0 } else { 0.0 };
                let q = (1.0 - eps) * onehot + eps / classes as f64;
                dz[i * classes + c] = (scale as f64 * w[i] as f64 * (p - q) / wsum) as f32;
            }
        }
        dz
    }

    /// Index of the largest logit of each row.
    pub fn argmax(z: &[f32], classes: usize) -> Vec<u32> {
        z.chunks(classes)
            .map(|row| {
                let mut best = 0;
                for c in 1..classes {
                    if row[c] > row[best] {
                        best = c;
                    }
                }
                best as u32
            })
            .collect()
    }
}
