//! Batch normalisation over the channels of `x` `[N, C, H, W]` (BatchNorm2d) or `[N, C]`
//! (BatchNorm1d), PyTorch's conventions, which the public ResNet weights assume:
//!
//! - training: the batch statistics over the `M = N·H·W` elements of each channel, normalised
//!   with the **biased** variance, `y = γ·(x − μ)/√(σ² + ε) + β`; the running statistics move by
//!   momentum `m` with the **unbiased** variance: `r_μ ← (1 − m)·r_μ + m·μ`,
//!   `r_σ² ← (1 − m)·r_σ² + m·σ²·M/(M − 1)`;
//! - evaluation: the same formula with the running statistics;
//! - backward with batch statistics: `dβ = Σdy`, `dγ = Σdy·x̂`,
//!   `dx = (γ/σ)·(dy − dβ/M − x̂·dγ/M)` (two per-channel reductions, one element-wise pass); with
//!   fixed statistics `dx = (γ/σ)·dy`;
//! - folding into the preceding convolution for frozen / evaluation BN: `W' = W·γ/σ`,
//!   `b' = β + γ·(b − μ)/σ` with `σ = √(r_σ² + ε)` ([`fold`]), so no BN kernel runs at all.
//!
//! Kernels: `batch_norm/stats.wgsl` (one workgroup per channel, two passes: mean, then squared
//! deviations), `normalize.wgsl` (element-wise, optional ReLU), `grad_sums.wgsl` and
//! `grad_input.wgsl`. [`reference`] is the f64 oracle.

use super::grid_1d;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// PyTorch's default ε.
pub const EPS: f32 = 1e-5;
/// PyTorch's default momentum of the running statistics.
pub const MOMENTUM: f32 = 0.1;

/// One batch's per-channel statistics (`[C]` each): the mean and the biased variance.
pub struct BatchStats {
    /// μ per channel.
    pub mean: Tensor,
    /// σ² per channel (biased: divided by M).
    pub var: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ChannelP {
    outer: u32,
    channels: u32,
    inner: u32,
    flag: u32,
    value: f32,
    _a: u32,
    _b: u32,
    _c: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ElementP {
    total: u32,
    channels: u32,
    inner: u32,
    flag: u32,
    eps: f32,
    count: f32,
    relu: u32,
    rows: u32,
}

impl ChannelP {
    /// The per-channel kernels' uniform: the layout, a flag and one value.
    fn new((outer, channels, inner): (usize, usize, usize), flag: bool, value: f32) -> Self {
        ChannelP {
            outer: outer as u32,
            channels: channels as u32,
            inner: inner as u32,
            flag: flag as u32,
            value,
            _a: 0,
            _b: 0,
            _c: 0,
        }
    }
}

impl ElementP {
    /// The element-wise kernels' uniform: the layout, a flag, ε, the per-channel count,
    /// whether the ReLU is fused in, and the grid ([`element_grid`]).
    fn new(
        (outer, channels, inner): (usize, usize, usize),
        flag: bool,
        eps: f32,
        relu: bool,
    ) -> Self {
        ElementP {
            total: (outer * channels * inner) as u32,
            channels: channels as u32,
            inner: inner as u32,
            flag: flag as u32,
            eps,
            count: (outer * inner) as f32,
            relu: relu as u32,
            rows: by_rows((outer, channels, inner)) as u32,
        }
    }
}

/// Whether the element-wise kernels run by rows, one workgroup per 256 values of a (channel,
/// outer index) row: when a row fills most of a workgroup and the grid fits, the channel comes
/// from the workgroup id instead of two integer divisions per element; BatchNorm1d's rows of
/// one value keep the flat index. (On lavapipe the two cost the same within the noise: its
/// storage loads, one lane at a time, dominate; see docs/resnet.md.)
fn by_rows((outer, channels, inner): (usize, usize, usize)) -> bool {
    inner >= 128 && channels <= 65535 && outer <= 65535 && inner.div_ceil(256) <= 65535
}

/// The element-wise kernels' grid for [`by_rows`] or the flat index.
fn element_grid(layout: (usize, usize, usize)) -> [u32; 3] {
    let (outer, channels, inner) = layout;
    if by_rows(layout) {
        [inner.div_ceil(256) as u32, channels as u32, outer as u32]
    } else {
        grid_1d(outer * channels * inner)
    }
}

/// Workgroup size of the per-channel reductions: 256 on GPUs; one subgroup on CPU adapters
/// (lavapipe runs a workgroup larger than its vector width in parts and switches between them
/// at every barrier: 256 lanes made the statistics of a 512-channel layer 14 ms, 16 lanes ~1).
fn reduction_width(gpu: &crate::gpu::Gpu) -> f64 {
    if gpu.cpu_paths() {
        gpu.subgroup_size().clamp(1, 256).next_power_of_two() as f64
    } else {
        256.0
    }
}

/// `x` as `(outer, channels, inner)`: `[N, C]` or `[N, C, H, W]`.
fn layout(x: &Tensor, op: &str) -> Result<(usize, usize, usize)> {
    x.expect_dtype(DType::F32, op)?;
    match *x.shape() {
        [n, c] if n > 0 && c > 0 => Ok((n, c, 1)),
        [n, c, h, w] if n > 0 && c > 0 && h * w > 0 => Ok((n, c, h * w)),
        _ => Err(Error::input(format!(
            "{op}: expected [batch, channels] or [batch, channels, height, width], got {:?}",
            x.shape()
        ))),
    }
}

fn per_channel(ts: &[(&Tensor, &str)], c: usize, op: &str) -> Result<()> {
    for (t, what) in ts {
        t.expect_shape(&[c], op, what)?;
    }
    Ok(())
}

/// The batch statistics of `x`; with `running` (mean, variance), also moves them by
/// `momentum` (the unbiased variance).
pub fn stats(x: &Tensor, running: Option<(&Tensor, &Tensor)>, momentum: f32) -> Result<BatchStats> {
    let op = "batch norm statistics";
    let (outer, c, inner) = layout(x, op)?;
    if outer * inner < 2 {
        // PyTorch refuses it too: the variance of one value is 0 and x̂ is 0 whatever x is.
        return Err(Error::input(format!(
            "{op}: training mode needs more than one value per channel, got {:?}; use a batch of 2 or more, or evaluation mode",
            x.shape()
        )));
    }
    if let Some((rm, rv)) = running {
        per_channel(&[(rm, "running mean"), (rv, "running variance")], c, op)?;
    }
    let gpu = x.gpu();
    let mean = Tensor::uninit(gpu, &[c], DType::F32)?;
    let var = Tensor::uninit(gpu, &[c], DType::F32)?;
    // Without running statistics the kernel's running bindings are scratch it never writes.
    let scratch = match running {
        Some(_) => None,
        None => Some((Tensor::zeros(gpu, &[c])?, Tensor::zeros(gpu, &[c])?)),
    };
    let (rm, rv) = match (running, &scratch) {
        (Some(r), _) => r,
        (None, Some((a, b))) => (a, b),
        (None, None) => unreachable!("scratch exists without running statistics"),
    };
    let p = ChannelP::new((outer, c, inner), running.is_some(), momentum);
    gpu.dispatch(
        "batch_norm/stats.wgsl",
        &[("WG", reduction_width(gpu))],
        bytemuck::bytes_of(&p),
        &[
            x.binding(),
            mean.binding(),
            var.binding(),
            rm.binding(),
            rv.binding(),
        ],
        [c as u32, 1, 1],
    )?;
    Ok(BatchStats { mean, var })
}

/// `y = γ·(x − μ)/√(σ² + ε) + β` per channel, then ReLU if `relu`.
pub fn normalize(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    relu: bool,
) -> Result<Tensor> {
    let op = "batch norm";
    let (outer, c, inner) = layout(x, op)?;
    per_channel(
        &[
            (mean, "mean"),
            (var, "variance"),
            (gamma, "weight (γ)"),
            (beta, "bias (β)"),
        ],
        c,
        op,
    )?;
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape(), DType::F32)?;
    let p = ElementP::new((outer, c, inner), relu, eps, relu);
    gpu.dispatch(
        "batch_norm/normalize.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[
            x.binding(),
            mean.binding(),
            var.binding(),
            gamma.binding(),
            beta.binding(),
            y.binding(),
        ],
        element_grid((outer, c, inner)),
    )?;
    Ok(y)
}

/// Training mode: normalises with the batch statistics (returned for the backward pass) and,
/// with `running`, moves the running statistics by [`MOMENTUM`].
pub fn forward_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running: Option<(&Tensor, &Tensor)>,
    relu: bool,
) -> Result<(Tensor, BatchStats)> {
    let s = stats(x, running, MOMENTUM)?;
    let y = normalize(x, &s.mean, &s.var, gamma, beta, EPS, relu)?;
    Ok((y, s))
}

/// Gradients `(dx, dγ, dβ)` of [`normalize`] given upstream `dy`: `batch_stats` when
/// `mean`/`var` were the batch's own statistics (training), else fixed statistics (evaluation
/// mode). With `relu` the forward's ReLU is part of it: its mask is recomputed from `x` (no
/// pass over the output).
#[allow(clippy::too_many_arguments)] // the op's own inputs; a struct would only rename them
pub fn backward(
    dy: &Tensor,
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    batch_stats: bool,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = "batch norm backward";
    let (outer, c, inner) = layout(x, op)?;
    dy.expect_shape(x.shape(), op, "upstream gradient")?;
    per_channel(
        &[
            (mean, "mean"),
            (var, "variance"),
            (gamma, "weight (γ)"),
            (beta, "bias (β)"),
        ],
        c,
        op,
    )?;
    let gpu = x.gpu();
    let dgamma = Tensor::uninit(gpu, &[c], DType::F32)?;
    let dbeta = Tensor::uninit(gpu, &[c], DType::F32)?;
    let p = ChannelP::new((outer, c, inner), relu, eps);
    gpu.dispatch(
        "batch_norm/grad_sums.wgsl",
        &[("WG", reduction_width(gpu))],
        bytemuck::bytes_of(&p),
        &[
            dy.binding(),
            x.binding(),
            mean.binding(),
            var.binding(),
            gamma.binding(),
            beta.binding(),
            dgamma.binding(),
            dbeta.binding(),
        ],
        [c as u32, 1, 1],
    )?;
    let dx = Tensor::uninit(gpu, x.shape(), DType::F32)?;
    let p = ElementP::new((outer, c, inner), batch_stats, eps, relu);
    gpu.dispatch(
        "batch_norm/grad_input.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[
            dy.binding(),
            x.binding(),
            mean.binding(),
            var.binding(),
            gamma.binding(),
            beta.binding(),
            dgamma.binding(),
            dbeta.binding(),
            dx.binding(),
        ],
        element_grid((outer, c, inner)),
    )?;
    Ok((dx, dgamma, dbeta))
}

/// Folds evaluation-mode BN into the convolution (or dense layer) before it: weight
/// `[out, ...]` scaled per output channel by `γ/σ`, bias `β + γ·(b − μ)/σ` (`b` = 0 without a
/// bias), `σ = √(running_var + eps)`. Host-side, once at load.
pub fn fold(
    weight: &[f32],
    bias: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    eps: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let c = gamma.len();
    let lens = [beta.len(), running_mean.len(), running_var.len()];
    if c == 0 || lens.iter().any(|&l| l != c) || !weight.len().is_multiple_of(c) {
        return Err(Error::input(format!(
            "batch norm fold: {c} channels, but β/mean/var have {lens:?} values and the weight {} (not a multiple)",
            weight.len()
        )));
    }
    if bias.is_some_and(|b| b.len() != c) {
        return Err(Error::input(
            "batch norm fold: the bias must have one value per channel",
        ));
    }
    let per = weight.len() / c;
    let scale: Vec<f64> = (0..c)
        .map(|k| gamma[k] as f64 / (running_var[k] as f64 + eps as f64).sqrt())
        .collect();
    let w = weight
        .iter()
        .enumerate()
        .map(|(i, &v)| (v as f64 * scale[i / per]) as f32)
        .collect();
    let b = (0..c)
        .map(|k| {
            let b0 = bias.map_or(0.0, |b| b[k] as f64);
            (beta[k] as f64 + scale[k] * (b0 - running_mean[k] as f64)) as f32
        })
        .collect();
    Ok((w, b))
}

/// Plain-Rust oracles (f32 data, f64 accumulation); `shape` is `[N, C]` or `[N, C, H, W]`.
pub mod reference {
    /// The shapes every batch-norm kernel and test runs on: batch 1, 3 channels, odd H/W, channel
    /// counts that are not a multiple of anything, a BatchNorm1d `[N, C]` input, and a channel
    /// wider than one workgroup's 256 lanes.
    pub const SHAPES: &[&[usize]] = &[
        &[1, 3, 5, 7],
        &[4, 17, 3, 3],
        &[2, 5, 19, 23],
        &[6, 33],
        &[3, 1, 1, 1],
    ];

    fn dims(shape: &[usize]) -> (usize, usize, usize) {
        (shape[0], shape[1], shape[2..].iter().product())
    }

    /// Every element's `(index, channel)`.
    fn channel_of(shape: &[usize]) -> impl Iterator<Item = (usize, usize)> {
        let (n, c, inner) = dims(shape);
        (0..n * c * inner).map(move |i| (i, (i / inner) % c))
    }

    /// Per-channel mean and biased variance.
    pub fn stats(x: &[f32], shape: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let (n, c, inner) = dims(shape);
        let m = (n * inner) as f64;
        let mut mean = vec![0f64; c];
        for (i, k) in channel_of(shape) {
            mean[k] += x[i] as f64;
        }
        mean.iter_mut().for_each(|v| *v /= m);
        let mut var = vec![0f64; c];
        for (i, k) in channel_of(shape) {
            var[k] += (x[i] as f64 - mean[k]).powi(2);
        }
        var.iter_mut().for_each(|v| *v /= m);
        (mean, var)
    }

    /// `γ·(x − μ)/√(σ² + ε) + β` with the given statistics.
    pub fn normalize(
        x: &[f32],
        shape: &[usize],
        mean: &[f64],
        var: &[f64],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) -> Vec<f32> {
        channel_of(shape)
            .map(|(i, k)| {
                (gamma[k] as f64 * (x[i] as f64 - mean[k]) / (var[k] + eps as f64).sqrt()
                    + beta[k] as f64) as f32
            })
            .collect()
    }

    /// Training-mode output with the batch statistics.
    pub fn forward_train(
        x: &[f32],
        shape: &[usize],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) -> Vec<f32> {
        let (mean, var) = stats(x, shape);
        normalize(x, shape, &mean, &var, gamma, beta, eps)
    }

    /// The running statistics after one training step of momentum `m`.
    pub fn running_update(
        x: &[f32],
        shape: &[usize],
        running_mean: &[f32],
        running_var: &[f32],
        m: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let (mean, var) = stats(x, shape);
        let (n, _, inner) = dims(shape);
        let count = (n * inner) as f64;
        let unbiased = |v: f64| {
            if count > 1.0 {
                v * count / (count - 1.0)
            } else {
                v
            }
        };
        let m = m as f64;
        (
            (0..mean.len())
                .map(|k| ((1.0 - m) * running_mean[k] as f64 + m * mean[k]) as f32)
                .collect(),
            (0..var.len())
                .map(|k| ((1.0 - m) * running_var[k] as f64 + m * unbiased(var[k])) as f32)
                .collect(),
        )
    }

    /// `(dx, dγ, dβ)`: with `batch_stats`, through the batch statistics of `x`; otherwise with
    /// `mean`/`var` fixed.
    #[allow(clippy::too_many_arguments)] // the CPU oracle takes exactly the op's saved inputs, as its kernels do
    pub fn backward(
        dy: &[f32],
        x: &[f32],
        shape: &[usize],
        mean: &[f64],
        var: &[f64],
        gamma: &[f32],
        eps: f32,
        batch_stats: bool,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (n, c, inner) = dims(shape);
        let m = (n * inner) as f64;
        let inv: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps as f64).sqrt()).collect();
        let (mut dgamma, mut dbeta) = (vec![0f64; c], vec![0f64; c]);
        for (i, k) in channel_of(shape) {
            dbeta[k] += dy[i] as f64;
            dgamma[k] += dy[i] as f64 * (x[i] as f64 - mean[k]) * inv[k];
        }
        let dx = channel_of(shape)
            .map(|(i, k)| {
                let mut g = dy[i] as f64;
                if batch_stats {
                    let xhat = (x[i] as f64 - mean[k]) * inv[k];
                    g -= dbeta[k] / m + xhat * dgamma[k] / m;
                }
                (gamma[k] as f64 * inv[k] * g) as f32
            })
            .collect();
        let f = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
        (dx, f(dgamma), f(dbeta))
    }
}
