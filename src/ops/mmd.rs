//! Multi-kernel maximum mean discrepancy (MK-MMD; Long et al., ICML 2015, Gretton et al. 2012),
//! as in TLlib's
//! `MultipleKernelMaximumMeanDiscrepancy` with Gaussian kernels:
//!
//! - [`sq_distances`]: `D[i, j] = ‖x_i - x_j‖²` over the rows of `x [n, dim]` (source rows, then
//!   target rows);
//! - [`loss`]: `scale · Σ_ij M_ij Σ_k exp(-D_ij / (2 α_k μ))` with `μ = mean(D)` computed on the
//!   GPU and treated as a constant (detached) in the backward, and `M` the estimator's index
//!   matrix ([`linear_index`] or [`quadratic_index`], built on the host).
//!
//! TLlib adds the constant `2 / (b - 1)` to the loss; a constant changes no gradient and is
//! undefined for one row per domain, so it is left out here.

use super::grid_1d;
use super::matmul::{self, Gemm, Variant};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// The most kernels one loss takes.
pub const MAX_KERNELS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DistP {
    n: u32,
    dim: u32,
    _a: u32,
    _b: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossP {
    n: u32,
    kernels: u32,
    scale: f32,
    _a: u32,
    alphas: [f32; MAX_KERNELS],
}

fn rows_of(x: &Tensor, op: &str) -> Result<(usize, usize)> {
    x.expect_dtype(DType::F32, op)?;
    match *x.shape() {
        [n, dim] if n > 0 && dim > 0 => Ok((n, dim)),
        _ => Err(Error::input(format!(
            "{op}: expected features [rows, dim], got {:?}",
            x.shape()
        ))),
    }
}

fn loss_params(d: &Tensor, m: &Tensor, alphas: &[f32], scale: f32, op: &str) -> Result<LossP> {
    d.expect_dtype(DType::F32, op)?;
    let n = match *d.shape() {
        [n, n2] if n == n2 && n > 0 => n,
        _ => {
            return Err(Error::input(format!(
                "{op}: expected square distances [n, n], got {:?}",
                d.shape()
            )))
        }
    };
    m.expect_shape(&[n, n], op, "index matrix")?;
    if alphas.is_empty()
        || alphas.len() > MAX_KERNELS
        || alphas.iter().any(|a| a.is_nan() || *a <= 0.0)
    {
        return Err(Error::input(format!(
            "{op}: expected 1 to {MAX_KERNELS} positive kernel alphas, got {alphas:?}"
        )));
    }
    let mut a = [0f32; MAX_KERNELS];
    a[..alphas.len()].copy_from_slice(alphas);
    Ok(LossP {
        n: n as u32,
        kernels: alphas.len() as u32,
        scale,
        _a: 0,
        alphas: a,
    })
}

/// How the pairwise distances are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistPath {
    /// From the Gram matrix `x·xᵀ` of the tiled GEMM (`‖x_i‖² + ‖x_j‖² - 2·x_i·x_j`, clamped
    /// at 0, exact zero diagonal); the gradient through the GEMM `S·x`. The default: the
    /// direct kernels' per-element loops over `dim` (and over `n` backward) cost an MMD step
    /// more than the rest of it on a CPU adapter.
    Gram,
    /// One invocation per output, a direct difference: the GPU-side oracle.
    Direct,
}

/// Pairwise squared distances `[n, n]` of the rows of `x [n, dim]` ([`DistPath::Gram`]).
pub fn sq_distances(x: &Tensor) -> Result<Tensor> {
    sq_distances_with(x, DistPath::Gram)
}

/// [`sq_distances`] along `path`.
pub fn sq_distances_with(x: &Tensor, path: DistPath) -> Result<Tensor> {
    let (n, dim) = rows_of(x, "pairwise distances")?;
    let gpu = x.gpu();
    let d = Tensor::uninit(gpu, &[n, n], DType::F32)?;
    let p = dist_params(n, dim);
    match path {
        DistPath::Direct => gpu.dispatch(
            "mmd/dist.wgsl",
            &[],
            bytemuck::bytes_of(&p),
            &[x.binding(), d.binding()],
            grid_1d(n * n),
        )?,
        DistPath::Gram => {
            let g = gemm(x, x, n, n, dim, true)?;
            gpu.dispatch(
                "mmd/dist_gram.wgsl",
                &[],
                bytemuck::bytes_of(&p),
                &[g.binding(), d.binding()],
                grid_1d(n * n),
            )?
        }
    }
    Ok(d)
}

/// Gradient of [`sq_distances`] with respect to `x`, given upstream `dd [n, n]`.
pub fn sq_distances_backward(x: &Tensor, dd: &Tensor) -> Result<Tensor> {
    sq_distances_backward_with(x, dd, DistPath::Gram)
}

/// [`sq_distances_backward`] along `path`: directly `2·Σ_j S_ij (x_i - x_j)`, or as
/// `2·(r ⊙ x - S·x)` with `S = dD + dDᵀ` and its row sums `r`.
pub fn sq_distances_backward_with(x: &Tensor, dd: &Tensor, path: DistPath) -> Result<Tensor> {
    let (n, dim) = rows_of(x, "pairwise distances backward")?;
    dd.expect_shape(&[n, n], "pairwise distances backward", "upstream gradient")?;
    let gpu = x.gpu();
    let dx = Tensor::uninit(gpu, &[n, dim], DType::F32)?;
    let p = dist_params(n, dim);
    match path {
        DistPath::Direct => gpu.dispatch(
            "mmd/dist_bwd.wgsl",
            &[],
            bytemuck::bytes_of(&p),
            &[x.binding(), dd.binding(), dx.binding()],
            grid_1d(n * dim),
        )?,
        DistPath::Gram => {
            let s = Tensor::uninit(gpu, &[n, n], DType::F32)?;
            let r = Tensor::uninit(gpu, &[n], DType::F32)?;
            gpu.dispatch(
                "mmd/dist_sym.wgsl",
                &[],
                bytemuck::bytes_of(&p),
                &[dd.binding(), s.binding(), r.binding()],
                grid_1d(n),
            )?;
            let sx = gemm(&s, x, n, dim, n, false)?;
            gpu.dispatch(
                "mmd/dist_bwd_gram.wgsl",
                &[],
                bytemuck::bytes_of(&p),
                &[x.binding(), r.binding(), sx.binding(), dx.binding()],
                grid_1d(n * dim),
            )?
        }
    }
    Ok(dx)
}

fn dist_params(n: usize, dim: usize) -> DistP {
    DistP {
        n: n as u32,
        dim: dim as u32,
        _a: 0,
        _b: 0,
    }
}

/// `a [m, k] · b` with `b` as `[k, n]`, or as `[n, k]` transposed: the engine's GEMM, with the
/// variant it picks for the shape on this adapter.
fn gemm(a: &Tensor, b: &Tensor, m: usize, n: usize, k: usize, trans_b: bool) -> Result<Tensor> {
    let shape = Gemm {
        m,
        n,
        k,
        trans_a: false,
        trans_b,
        relu: false,
    };
    matmul::gemm(a, b, None, shape, Variant::for_gemm(a.gpu(), &shape))
}

/// The MK-MMD loss `[1]` of distances `d [n, n]` with index matrix `m [n, n]`, and the bandwidth
/// base `μ = mean(d)` `[1]` that [`loss_backward`] holds constant.
pub fn loss(d: &Tensor, m: &Tensor, alphas: &[f32], scale: f32) -> Result<(Tensor, Tensor)> {
    let p = loss_params(d, m, alphas, scale, "MK-MMD loss")?;
    let gpu = d.gpu();
    let out = Tensor::uninit(gpu, &[1], DType::F32)?;
    let mu = Tensor::uninit(gpu, &[1], DType::F32)?;
    gpu.dispatch(
        "mmd/loss_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[d.binding(), m.binding(), out.binding(), mu.binding()],
        [1, 1, 1],
    )?;
    Ok((out, mu))
}

/// Gradient of [`loss`] with respect to `d`, the bandwidth base `mu` held constant.
pub fn loss_backward(
    d: &Tensor,
    m: &Tensor,
    mu: &Tensor,
    alphas: &[f32],
    scale: f32,
) -> Result<Tensor> {
    let p = loss_params(d, m, alphas, scale, "MK-MMD loss backward")?;
    mu.expect_shape(&[1], "MK-MMD loss backward", "bandwidth base")?;
    let n = p.n as usize;
    let dd = Tensor::uninit(d.gpu(), &[n, n], DType::F32)?;
    d.gpu().dispatch(
        "mmd/loss_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[d.binding(), m.binding(), mu.binding(), dd.binding()],
        grid_1d(n * n),
    )?;
    Ok(dd)
}

/// TLlib's linear-time index matrix (its default) for `b` source rows then `b` target rows:
/// each row paired with the next one of its domain (cyclically), `+1/b` within a domain, `-1/b`
/// across. Entries are set, not added (with `b = 1` a row is its own neighbour).
pub fn linear_index(b: usize) -> Result<Vec<f32>> {
    if b == 0 {
        return Err(Error::input("MK-MMD: no rows in a domain"));
    }
    let n = 2 * b;
    let mut m = vec![0f32; n * n];
    let w = 1.0 / b as f32;
    for i in 0..b {
        let (s1, s2) = (i, (i + 1) % b);
        let (t1, t2) = (s1 + b, s2 + b);
        m[s1 * n + s2] = w;
        m[t1 * n + t2] = w;
        m[s1 * n + t2] = -w;
        m[s2 * n + t1] = -w;
    }
    Ok(m)
}

/// The quadratic (unbiased U-statistic) index matrix for `ns` source rows then `nt` target
/// rows: `1/(ns(ns-1))` between distinct source rows, `1/(nt(nt-1))` between distinct target
/// rows, `-1/(ns·nt)` across (both orders). A domain with one row has no within pairs.
pub fn quadratic_index(ns: usize, nt: usize) -> Result<Vec<f32>> {
    if ns == 0 || nt == 0 {
        return Err(Error::input("MK-MMD: no rows in a domain"));
    }
    let n = ns + nt;
    let mut m = vec![0f32; n * n];
    let within = |k: usize| {
        if k > 1 {
            1.0 / (k * (k - 1)) as f32
        } else {
            0.0
        }
    };
    let cross = -1.0 / (ns * nt) as f32;
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] = match (i < ns, j < ns) {
                _ if i == j => 0.0,
                (true, true) => within(ns),
                (false, false) => within(nt),
                _ => cross,
            };
        }
    }
    Ok(m)
}

/// Plain-Rust oracles (f32 data, f64 accumulation).
pub mod reference {
    /// Awkward (rows per domain, features) of the distances and the MMD loss: one row per domain,
    /// 7, 31 and 33 features, 768, and 4097 (more than a workgroup's lanes) with 1 and 5 rows.
    pub const SHAPES: &[(usize, usize)] = &[
        (1, 7),
        (3, 7),
        (3, 31),
        (4, 33),
        (2, 768),
        (1, 4097),
        (5, 4097),
    ];
    /// The kernel bandwidth multipliers the checks and tests use.
    pub const ALPHAS: [f32; 5] = [0.125, 0.25, 0.5, 1.0, 2.0];

    /// Pairwise squared distances of the rows of `x [n, dim]`.
    pub fn sq_distances(x: &[f32], dim: usize) -> Vec<f32> {
        let n = x.len() / dim;
        let mut d = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..dim)
                    .map(|c| (x[i * dim + c] as f64 - x[j * dim + c] as f64).powi(2))
                    .sum();
                d[i * n + j] = s as f32;
            }
        }
        d
    }

    /// Gradient of [`sq_distances`] with respect to `x`.
    pub fn sq_distances_backward(x: &[f32], dd: &[f32], dim: usize) -> Vec<f32> {
        let n = x.len() / dim;
        let mut dx = vec![0f32; n * dim];
        for i in 0..n {
            for c in 0..dim {
                let s: f64 = (0..n)
                    .map(|j| {
                        (dd[i * n + j] as f64 + dd[j * n + i] as f64)
                            * (x[i * dim + c] as f64 - x[j * dim + c] as f64)
                    })
                    .sum();
                dx[i * dim + c] = (2.0 * s) as f32;
            }
        }
        dx
    }

    /// The bandwidth base `max(mean(D), 1e-20)`.
    pub fn bandwidth(d: &[f32]) -> f64 {
        (d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64).max(1e-20)
    }

    /// The MK-MMD loss; `mu` fixes the bandwidth base (None: [`bandwidth`] of `d`).
    pub fn loss(d: &[f32], m: &[f32], alphas: &[f32], scale: f32, mu: Option<f64>) -> f32 {
        let mu = mu.unwrap_or_else(|| bandwidth(d));
        let s: f64 = d
            .iter()
            .zip(m)
            .map(|(&dv, &w)| {
                let k: f64 = alphas
                    .iter()
                    .map(|&a| (-(dv as f64) / (2.0 * a as f64 * mu)).exp())
                    .sum();
                w as f64 * k
            })
            .sum();
        (scale as f64 * s) as f32
    }

    /// Gradient of [`loss`] with respect to `d`, `mu` held constant.
    pub fn loss_backward(d: &[f32], m: &[f32], alphas: &[f32], scale: f32, mu: f64) -> Vec<f32> {
        d.iter()
            .zip(m)
            .map(|(&dv, &w)| {
                let g: f64 = alphas
                    .iter()
                    .map(|&a| {
                        let s = 2.0 * a as f64 * mu;
                        -(-(dv as f64) / s).exp() / s
                    })
                    .sum();
                (scale as f64 * w as f64 * g) as f32
            })
            .collect()
    }
}
