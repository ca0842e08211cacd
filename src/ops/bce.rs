//! Binary cross-entropy with logits (a domain classifier's loss), numerically stable;
//! optionally with constant per-sample weights.

use super::grid_1d;
use crate::error::Result;
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    n: u32,
    scale: f32,
    _a: u32,
    _b: u32,
}

/// `scale · mean(max(x,0) - x·t + log(1 + e^{-|x|}))` as a `[1]` tensor. `targets` in [0, 1].
pub fn forward(logits: &Tensor, targets: &Tensor, scale: f32) -> Result<Tensor> {
    targets.expect_shape(logits.shape(), "binary cross-entropy", "targets")?;
    let gpu = logits.gpu();
    let loss = Tensor::uninit(gpu, &[1], DType::F32)?;
    let p = P {
        n: logits.numel() as u32,
        scale,
        _a: 0,
        _b: 0,
    };
    gpu.dispatch(
        "loss/bce_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[logits.binding(), targets.binding(), loss.binding()],
        [1, 1, 1],
    )?;
    Ok(loss)
}

/// `scale · (sigmoid(x) - t) / N`.
pub fn backward(logits: &Tensor, targets: &Tensor, scale: f32) -> Result<Tensor> {
    targets.expect_shape(logits.shape(), "binary cross-entropy backward", "targets")?;
    let gpu = logits.gpu();
    let dx = Tensor::uninit(gpu, logits.shape(), DType::F32)?;
    let p = P {
        n: logits.numel() as u32,
        scale,
        _a: 0,
        _b: 0,
    };
    gpu.dispatch(
        "loss/bce_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[logits.binding(), targets.binding(), dx.binding()],
        grid_1d(logits.numel()),
    )?;
    Ok(dx)
}

/// `scale · Σ_i w_i·ℓ_i / N`: [`forward`] with constant per-sample `weights` of the logits'
/// shape (e.g. entropy weights), as a `[1]` tensor. Its own kernels, so that the
/// unweighted loss keeps its two bindings and its dispatch.
pub fn weighted_forward(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
    scale: f32,
) -> Result<Tensor> {
    check_weighted(logits, targets, weights, "weighted binary cross-entropy")?;
    let gpu = logits.gpu();
    let loss = Tensor::uninit(gpu, &[1], DType::F32)?;
    let p = P {
        n: logits.numel() as u32,
        scale,
        _a: 0,
        _b: 0,
    };
    let bindings = [
        logits.binding(),
        targets.binding(),
        weights.binding(),
        loss.binding(),
    ];
    gpu.dispatch(
        "loss/bce_weighted_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &bindings,
        [1, 1, 1],
    )?;
    Ok(loss)
}

/// Gradient of [`weighted_forward`] w.r.t. the logits: `scale · w_i · (sigmoid(x_i) - t_i) / N`.
pub fn weighted_backward(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
    scale: f32,
) -> Result<Tensor> {
    check_weighted(
        logits,
        targets,
        weights,
        "weighted binary cross-entropy backward",
    )?;
    let gpu = logits.gpu();
    let dx = Tensor::uninit(gpu, logits.shape(), DType::F32)?;
    let p = P {
        n: logits.numel() as u32,
        scale,
        _a: 0,
        _b: 0,
    };
    let bindings = [
        logits.binding(),
        targets.binding(),
        weights.binding(),
        dx.binding(),
    ];
    gpu.dispatch(
        "loss/bce_weighted_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &bindings,
        grid_1d(logits.numel()),
    )?;
    Ok(dx)
}

fn check_weighted(logits: &Tensor, targets: &Tensor, weights: &Tensor, op: &str) -> Result<()> {
    if logits.numel() == 0 {
        return Err(crate::error::Error::input(format!("{op}: no samples")));
    }
    targets.expect_shape(logits.shape(), op, "targets")?;
    weights.expect_dtype(DType::F32, op)?;
    if weights.numel() != logits.numel() {
        return Err(crate::error::Error::input(format!(
            "{op}: {} weights for {} samples",
            weights.numel(),
            logits.numel()
        )));
    }
    Ok(())
}

/// Accuracy counters of a one-logit binary classifier: `counts` (`[2]` u32: correct, counted)
/// gets `#{(x > 0) == (t > 0.5)}` and `N` added. Nothing is read back.
pub fn binary_correct(logits: &Tensor, targets: &Tensor, counts: &Tensor) -> Result<()> {
    targets.expect_shape(logits.shape(), "binary accuracy", "targets")?;
    counts.expect_dtype(DType::U32, "binary accuracy")?;
    counts.expect_shape(&[2], "binary accuracy", "counters")?;
    let p = P {
        n: logits.numel() as u32,
        scale: 0.0,
        _a: 0,
        _b: 0,
    };
    logits.gpu().dispatch(
        "loss/binary_correct.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[logits.binding(), targets.binding(), counts.binding()],
        [logits.numel().div_ceil(64) as u32, 1, 1],
    )
}

/// Plain-Rust oracles.
pub mod reference {
    /// Sample counts of the (weighted) binary cross-entropy: one sample, 3, 64, one past a
    /// workgroup of 256, 300, 768, 1000 and 4097.
    pub const LENGTHS: &[usize] = &[1, 3, 64, 257, 300, 768, 1000, 4097];

    /// Mean binary cross-entropy with logits `x` and targets `t`, times `scale`.
    pub fn forward(x: &[f32], t: &[f32], scale: f32) -> f32 {
        let sum: f64 = x
            .iter()
            .zip(t)
            .map(|(&v, &t)| {
                let v = v as f64;
                v.max(0.0) - v * t as f64 + (-v.abs()).exp().ln_1p()
            })
            .sum();
        (scale as f64 * sum / x.len() as f64) as f32
    }

    /// Gradient of [`forward`] with respect to the logits.
    pub fn backward(x: &[f32], t: &[f32], scale: f32) -> Vec<f32> {
        let n = x.len() as f64;
        x.iter()
            .zip(t)
            .map(|(&v, &t)| {
                let sig = 1.0 / (1.0 + (-(v as f64)).exp());
                (scale as f64 * (sig - t as f64) / n) as f32
            })
            .collect()
    }

    /// `scale · Σ_i w_i·ℓ_i / N`, ℓ the binary cross-entropy with logits.
    pub fn weighted_forward(x: &[f32], t: &[f32], w: &[f32], scale: f32) -> f32 {
        let sum: f64 = x
            .iter()
            .zip(t)
            .zip(w)
            .map(|((&v, &t), &w)| {
                let v = v as f64;
                w as f64 * (v.max(0.0) - v * t as f64 + (-v.abs()).exp().ln_1p())
            })
            .sum();
        (scale as f64 * sum / x.len() as f64) as f32
    }

    /// Gradient of [`weighted_forward`] with respect to the logits.
    pub fn weighted_backward(x: &[f32], t: &[f32], w: &[f32], scale: f32) -> Vec<f32> {
        backward(x, t, scale)
            .iter()
            .zip(w)
            .map(|(&d, &w)| (d as f64 * w as f64) as f32)
            .collect()
    }

    /// Number of samples whose sign of `x` agrees with `t > 0.5`.
    pub fn binary_correct(x: &[f32], t: &[f32]) -> u32 {
        x.iter()
            .zip(t)
            .filter(|(&v, &t)| (v > 0.0) == (t > 0.5))
            .count() as u32
    }
}
