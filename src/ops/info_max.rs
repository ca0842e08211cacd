//! The information-maximisation loss of a classifier's logits `z [rows, classes]`: confident
//! rows (low per-row entropy) and a diverse batch (high entropy of the mean prediction),
//!
//! ```text
//! p_i = softmax(z_i),  p̄ = (1/rows)·Σ_i p_i,  H(q) = -Σ_k q_k·ln(q_k + 1e-5)
//! L   = w_ent·(1/rows)·Σ_i H(p_i) - w_div·H(p̄)                                  ([1])
//! ```
//!
//! with the epsilon of [`super::prob::entropy`]. Its gradient with respect to the logits, for
//! an upstream `dL`, with `a(q) = -ln(q + 1e-5) - q/(q + 1e-5)` (= dH/dq_k):
//!
//! ```text
//! g_ik   = (1/rows)·(w_ent·a(p_ik) - w_div·a(p̄_k))
//! dz_ij  = dL·p_ij·(g_ij - Σ_k p_ik·g_ik)
//! ```
//!
//! The softmax is [`super::prob::softmax_t`] at temperature 1; the mean and the loss are one
//! workgroup's reduction (`info_max/fwd.wgsl`), the gradient one workgroup per row
//! (`info_max/bwd.wgsl`, which renormalises each row and refines its dot product once, so that
//! confident rows, p ≈ 1, keep their small gradients exact). Everything stays on the GPU: no
//! readback.

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// The entropy's epsilon, the same as [`super::prob::entropy`]'s.
pub const EPS: f32 = 1e-5;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    classes: u32,
    w_ent: f32,
    w_div: f32,
    /// 1: scale the gradient by `dl[0]`; 0: the loss is a root (upstream 1).
    use_dl: u32,
    _a: u32,
    _b: u32,
    _c: u32,
}

/// What [`forward`] computes, and what [`backward`] needs of it.
pub struct InfoMax {
    /// The loss `w_ent·mean_i H(p_i) - w_div·H(p̄)`, `[1]`.
    pub loss: Tensor,
    /// `softmax(z)` per row, `[rows, classes]`.
    pub probs: Tensor,
    /// The mean prediction `p̄`, `[classes]`.
    pub mean: Tensor,
}

fn rows_classes(x: &Tensor, op: &str, what: &str) -> Result<(usize, usize)> {
    x.expect_dtype(DType::F32, op)?;
    match *x.shape() {
        [rows, classes] if rows > 0 && classes > 0 => Ok((rows, classes)),
        _ => Err(Error::input(format!(
            "{op}: {what} must be [rows, classes] with at least one row and one class, got {:?}",
            x.shape()
        ))),
    }
}

fn params(rows: usize, classes: usize, w_ent: f32, w_div: f32, op: &str) -> Result<P> {
    if !(w_ent.is_finite() && w_div.is_finite()) {
        return Err(Error::input(format!(
            "{op}: the weights must be finite, got w_ent = {w_ent}, w_div = {w_div}"
        )));
    }
    if u32::try_from(rows * classes).is_err() {
        return Err(Error::input(format!(
            "{op}: [{rows}, {classes}] has more than 2^32 elements"
        )));
    }
    Ok(P {
        rows: rows as u32,
        classes: classes as u32,
        w_ent,
        w_div,
        use_dl: 0,
        _a: 0,
        _b: 0,
        _c: 0,
    })
}

/// The loss of logits `z [rows, classes]` with weights `w_ent` (per-row entropy) and `w_div`
/// (diversity: the entropy of the mean prediction), with the probabilities and their mean.
pub fn forward(z: &Tensor, w_ent: f32, w_div: f32) -> Result<InfoMax> {
    let (rows, classes) = rows_classes(z, "information maximisation", "logits")?;
    let p = params(rows, classes, w_ent, w_div, "information maximisation")?;
    let probs = super::prob::softmax_t(z, 1.0)?;
    let gpu = z.gpu();
    let mean = Tensor::uninit(gpu, &[classes], DType::F32)?;
    let loss = Tensor::uninit(gpu, &[1], DType::F32)?;
    gpu.dispatch(
        "info_max/fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[probs.binding(), mean.binding(), loss.binding()],
        [1, 1, 1],
    )?;
    Ok(InfoMax { loss, probs, mean })
}

/// Gradient of [`forward`]'s loss with respect to the logits, `[rows, classes]`, from its
/// `probs` and `mean` and the upstream gradient `dl` `[1]`.
pub fn backward(
    probs: &Tensor,
    mean: &Tensor,
    dl: &Tensor,
    w_ent: f32,
    w_div: f32,
) -> Result<Tensor> {
    launch_backward(probs, mean, Some(dl), w_ent, w_div)
}

/// [`backward`] of the loss as a root (upstream gradient 1, nothing to read).
pub(crate) fn backward_root(
    probs: &Tensor,
    mean: &Tensor,
    w_ent: f32,
    w_div: f32,
) -> Result<Tensor> {
    launch_backward(probs, mean, None, w_ent, w_div)
}

fn launch_backward(
    probs: &Tensor,
    mean: &Tensor,
    dl: Option<&Tensor>,
    w_ent: f32,
    w_div: f32,
) -> Result<Tensor> {
    const OP: &str = "information maximisation backward";
    let (rows, classes) = rows_classes(probs, OP, "probabilities")?;
    mean.expect_dtype(DType::F32, OP)?;
    mean.expect_shape(&[classes], OP, "the mean prediction")?;
    if let Some(dl) = dl {
        dl.expect_dtype(DType::F32, OP)?;
        dl.expect_shape(&[1], OP, "the upstream gradient")?;
    }
    let mut p = params(rows, classes, w_ent, w_div, OP)?;
    p.use_dl = dl.is_some() as u32;
    let gpu = probs.gpu();
    let dz = Tensor::uninit(gpu, probs.shape(), DType::F32)?;
    // A root binds `mean` in `dl`'s place: the kernel does not read it.
    let dl = dl.unwrap_or(mean);
    gpu.dispatch(
        "info_max/bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[probs.binding(), mean.binding(), dl.binding(), dz.binding()],
        row_groups(rows),
    )?;
    Ok(dz)
}

/// One workgroup per row on a 2-D grid (the shader flattens with `num_workgroups.x`).
fn row_groups(rows: usize) -> [u32; 3] {
    let x = rows.clamp(1, 65535);
    [x as u32, rows.div_ceil(x) as u32, 1]
}

/// Plain-Rust oracles (f32 data, f64 accumulation); `z` holds whole rows of `classes` > 0.
pub mod reference {
    use super::EPS;

    /// Awkward (rows, classes) every info-max kernel and test runs on: one row of 3 classes,
    /// 37 x 31, 64 x 1000 (more classes than the forward's 256 lanes and the backward's 64),
    /// 512 x 12 (the largest batch) and 3 x 2.
    pub const SHAPES: &[(usize, usize)] = &[(1, 3), (37, 31), (64, 1000), (512, 12), (3, 2)];
    /// (w_ent, w_div) pairs: entropy only, the usual IM loss, a weighted one, diversity only.
    pub const WEIGHTS: &[(f32, f32)] = &[(1.0, 0.0), (1.0, 1.0), (0.3, 1.0), (0.0, 1.0)];

    /// Softmax of each row and their mean, in f64.
    fn probs_and_mean(z: &[f32], classes: usize) -> (Vec<f64>, Vec<f64>) {
        let rows = z.len() / classes;
        let mut p = Vec::with_capacity(z.len());
        let mut mean = vec![0f64; classes];
        for row in z.chunks(classes) {
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
            let s: f64 = e.iter().sum();
            for (k, v) in e.iter().enumerate() {
                p.push(v / s);
                mean[k] += v / s / rows as f64;
            }
        }
        (p, mean)
    }

    fn entropy(q: &[f64]) -> f64 {
        -q.iter().map(|&v| v * (v + EPS as f64).ln()).sum::<f64>()
    }

    /// dH/dq_k = -ln(q_k + ε) - q_k/(q_k + ε).
    fn d_entropy(q: f64) -> f64 {
        let e = EPS as f64;
        -(q + e).ln() - q / (q + e)
    }

    /// `w_ent·(1/rows)·Σ_i H(softmax(z_i)) - w_div·H(mean_i softmax(z_i))`.
    pub fn forward(z: &[f32], classes: usize, w_ent: f32, w_div: f32) -> f32 {
        let rows = z.len() / classes;
        let (p, mean) = probs_and_mean(z, classes);
        let h_rows: f64 = p.chunks(classes).map(entropy).sum::<f64>() / rows as f64;
        (w_ent as f64 * h_rows - w_div as f64 * entropy(&mean)) as f32
    }

    /// The mean prediction `(1/rows)·Σ_i softmax(z_i)`, `[classes]`.
    pub fn mean(z: &[f32], classes: usize) -> Vec<f32> {
        probs_and_mean(z, classes)
            .1
            .iter()
            .map(|&v| v as f32)
            .collect()
    }

    /// Gradient of [`forward`] with respect to the logits, times the upstream `dl`.
    pub fn backward(z: &[f32], classes: usize, w_ent: f32, w_div: f32, dl: f32) -> Vec<f32> {
        let rows = z.len() / classes;
        let (p, mean) = probs_and_mean(z, classes);
        let (we, wd) = (w_ent as f64, w_div as f64);
        let div: Vec<f64> = mean.iter().map(|&q| wd * d_entropy(q)).collect();
        let mut dz = Vec::with_capacity(z.len());
        for row in p.chunks(classes) {
            let g: Vec<f64> = row
                .iter()
                .zip(&div)
                .map(|(&v, d)| (we * d_entropy(v) - d) / rows as f64)
                .collect();
            let dot: f64 = row.iter().zip(&g).map(|(a, b)| a * b).sum();
            dz.extend(
                row.iter()
                    .zip(&g)
                    .map(|(&v, &gk)| (dl as f64 * v * (gk - dot)) as f32),
            );
        }
        dz
    }
}
