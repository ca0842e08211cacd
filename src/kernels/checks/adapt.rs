//! Checks of the adaptation-method kernels (softmax with temperature, entropy, entropy weights,
//! class confusion and its loss, MK-MMD, CDAN's map and weighted loss, MDD's margin) against
//! their CPU references (the outer product's, the constant product's and the weighted BCE's are in `outer.rs`, the complement cross-entropy's in `complement_xent.rs`).

use super::complement_xent::{check_complement_xent, Pass as XentPass};
use super::outer::{check_bce_weighted, check_mul_const, check_outer, Pass};
use super::{always, tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernel;
use crate::ops::{confusion as cf, mmd, prob};
use crate::tensor::Tensor;

/// Which kernel of a family a check runs.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Which {
    Fwd,
    Bwd,
    Weights,
    LossFwd,
    LossBwd,
}

fn probs(rows: usize, classes: usize, seed: u64) -> Vec<f32> {
    let z: Vec<f32> = values(rows * classes, seed)
        .iter()
        .map(|v| 2.0 * v)
        .collect();
    prob::reference::softmax_t(&z, classes, 1.0)
}

pub(super) fn check_softmax_t(gpu: &Gpu, c: &mut Checker, which: Which) -> Result<()> {
    for (i, &(rows, classes)) in prob::reference::SHAPES.iter().enumerate() {
        c.case();
        let z: Vec<f32> = values(rows * classes, 600 + i as u64)
            .iter()
            .map(|v| 6.0 * v)
            .collect();
        let tz = Tensor::from_slice(gpu, &z, &[rows, classes])?;
        let y = prob::softmax_t(&tz, 2.5)?;
        let want = prob::reference::softmax_t(&z, classes, 2.5);
        let what = format!("[{rows}, {classes}]");
        if which == Which::Fwd {
            c.compare(&what, &y.to_vec()?, &want, tol_for(classes));
        } else {
            let up = values(rows * classes, 610 + i as u64);
            let tup = Tensor::from_slice(gpu, &up, &[rows, classes])?;
            let dz = prob::softmax_t_backward(&y, &tup, 2.5)?;
            let want_dz = prob::reference::softmax_t_backward(&want, &up, classes, 2.5);
            c.compare(&what, &dz.to_vec()?, &want_dz, tol_for(classes));
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_entropy(gpu: &Gpu, c: &mut Checker, which: Which) -> Result<()> {
    for (i, &(rows, classes)) in prob::reference::SHAPES.iter().enumerate() {
        c.case();
        let p = probs(rows, classes, 620 + i as u64);
        let tp = Tensor::from_slice(gpu, &p, &[rows, classes])?;
        let h = prob::entropy(&tp)?;
        let want_h = prob::reference::entropy(&p, classes);
        let what = format!("[{rows}, {classes}]");
        match which {
            Which::Fwd => c.compare(&what, &h.to_vec()?, &want_h, tol_for(classes)),
            Which::Bwd => {
                let dh = values(rows, 630 + i as u64);
                let tdh = Tensor::from_slice(gpu, &dh, &[rows])?;
                let dp = prob::entropy_backward(&tp, &tdh)?;
                let want = prob::reference::entropy_backward(&p, &dh, classes);
                c.compare(&what, &dp.to_vec()?, &want, tol_for(1));
            }
            _ => {
                let w = prob::entropy_weights(&h)?;
                let want = prob::reference::entropy_weights(&want_h);
                c.compare(&what, &w.to_vec()?, &want, tol_for(rows));
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_confusion(gpu: &Gpu, c: &mut Checker, which: Which) -> Result<()> {
    for (i, &(rows, classes)) in cf::reference::SHAPES.iter().enumerate() {
        c.case();
        let p = probs(rows, classes, 640 + i as u64);
        let w: Vec<f32> = values(rows, 650 + i as u64)
            .iter()
            .map(|v| 1.0 + 0.5 * v)
            .collect();
        let tp = Tensor::from_slice(gpu, &p, &[rows, classes])?;
        let tw = Tensor::from_slice(gpu, &w, &[rows])?;
        let m = cf::matrix(&tp, &tw)?;
        let want_m = cf::reference::matrix(&p, &w, classes);
        let what = format!("[{rows}, {classes}]");
        match which {
            Which::Fwd => c.compare(&what, &m.to_vec()?, &want_m, tol_for(rows)),
            Which::Bwd => {
                let dc = values(classes * classes, 660 + i as u64);
                let tdc = Tensor::from_slice(gpu, &dc, &[classes, classes])?;
                let dp = cf::matrix_backward(&tp, &tw, &tdc)?;
                let want = cf::reference::matrix_backward(&p, &w, &dc, classes);
                c.compare(&what, &dp.to_vec()?, &want, tol_for(classes));
            }
            Which::LossFwd => {
                let l = cf::loss(&m, 0.8)?;
                let want = cf::reference::loss(&want_m, classes, 0.8);
                c.compare(&what, &l.to_vec()?, &[want], tol_for(classes));
            }
            _ => {
                let g = cf::loss_backward(&m, 0.8)?;
                let want = cf::reference::loss_backward(&want_m, classes, 0.8);
                c.compare(&what, &g.to_vec()?, &want, tol_for(classes));
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_mmd(
    gpu: &Gpu,
    c: &mut Checker,
    which: Which,
    path: mmd::DistPath,
) -> Result<()> {
    const ALPHAS: [f32; 5] = mmd::reference::ALPHAS;
    for (i, &(b, dim)) in mmd::reference::SHAPES.iter().enumerate() {
        c.case();
        let n = 2 * b;
        let x = values(n * dim, 670 + i as u64);
        let tx = Tensor::from_slice(gpu, &x, &[n, dim])?;
        let d = mmd::sq_distances_with(&tx, path)?;
        let want_d = mmd::reference::sq_distances(&x, dim);
        let m = mmd::linear_index(b)?;
        let tm = Tensor::from_slice(gpu, &m, &[n, n])?;
        let what = format!("[{n}, {dim}]");
        match which {
            Which::Fwd => c.compare(&what, &d.to_vec()?, &want_d, tol_for(dim)),
            Which::Bwd => {
                let dd = values(n * n, 680 + i as u64);
                let tdd = Tensor::from_slice(gpu, &dd, &[n, n])?;
                let dx = mmd::sq_distances_backward_with(&tx, &tdd, path)?;
                let want = mmd::reference::sq_distances_backward(&x, &dd, dim);
                c.compare(&what, &dx.to_vec()?, &want, tol_for(n));
            }
            Which::LossFwd => {
                let (l, _) = mmd::loss(&d, &tm, &ALPHAS, 0.8)?;
                let want = mmd::reference::loss(&want_d, &m, &ALPHAS, 0.8, None);
                c.compare(&what, &l.to_vec()?, &[want], tol_for(n));
            }
            _ => {
                let (_, mu) = mmd::loss(&d, &tm, &ALPHAS, 0.8)?;
                let g = mmd::loss_backward(&d, &tm, &mu, &ALPHAS, 0.8)?;
                let want = mmd::reference::loss_backward(
                    &want_d,
                    &m,
                    &ALPHAS,
                    0.8,
                    mmd::reference::bandwidth(&want_d),
                );
                c.compare(&what, &g.to_vec()?, &want, tol_for(n));
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

/// The adaptation methods' kernels (after the engine's in `dak kernels list`).
pub(in crate::kernels) static KERNELS: &[Kernel] = &[
    Kernel {
        id: "prob.softmax_t_fwd",
        op: "prob",
        shaders: &["prob/softmax_t_fwd.wgsl"],
        description: "softmax(z / T) per row (MCC's temperature)",
        supported: always,
        check: |gpu, c| check_softmax_t(gpu, c, Which::Fwd),
    },
    Kernel {
        id: "prob.softmax_t_bwd",
        op: "prob",
        shaders: &["prob/softmax_t_bwd.wgsl"],
        description: "dz = P·(dP - Σ dP·P) / T",
        supported: always,
        check: |gpu, c| check_softmax_t(gpu, c, Which::Bwd),
    },
    Kernel {
        id: "prob.entropy_fwd",
        op: "prob",
        shaders: &["prob/entropy_fwd.wgsl"],
        description: "per-row entropy -Σ p·ln(p + 1e-5)",
        supported: always,
        check: |gpu, c| check_entropy(gpu, c, Which::Fwd),
    },
    Kernel {
        id: "prob.entropy_bwd",
        op: "prob",
        shaders: &["prob/entropy_bwd.wgsl"],
        description: "dP = -dH·(ln(p + 1e-5) + p / (p + 1e-5))",
        supported: always,
        check: |gpu, c| check_entropy(gpu, c, Which::Bwd),
    },
    Kernel {
        id: "prob.entropy_weights",
        op: "prob",
        shaders: &["prob/entropy_weights.wgsl"],
        description: "weights 1 + e^-H normalised to sum R (MCC, CDAN+E)",
        supported: always,
        check: |gpu, c| check_entropy(gpu, c, Which::Weights),
    },
    Kernel {
        id: "confusion.fwd",
        op: "confusion",
        shaders: &["confusion/fwd.wgsl"],
        description: "class confusion C = (P·w)ᵀ·P (MCC)",
        supported: always,
        check: |gpu, c| check_confusion(gpu, c, Which::Fwd),
    },
    Kernel {
        id: "confusion.bwd",
        op: "confusion",
        shaders: &["confusion/bwd.wgsl"],
        description: "dP = w·P·(dC + dCᵀ)",
        supported: always,
        check: |gpu, c| check_confusion(gpu, c, Which::Bwd),
    },
    Kernel {
        id: "confusion.loss_fwd",
        op: "confusion",
        shaders: &["confusion/loss_fwd.wgsl"],
        description: "MCC loss (ΣC̃ - trace C̃) / K, rows of C normalised -> [1]",
        supported: always,
        check: |gpu, c| check_confusion(gpu, c, Which::LossFwd),
    },
    Kernel {
        id: "confusion.loss_bwd",
        op: "confusion",
        shaders: &["confusion/loss_bwd.wgsl"],
        description: "dC = scale / K · (C_ii / r_i² - δ_ij / r_i)",
        supported: always,
        check: |gpu, c| check_confusion(gpu, c, Which::LossBwd),
    },
    Kernel {
        id: "mmd.dist",
        op: "mmd",
        shaders: &["mmd/dist.wgsl"],
        description: "pairwise squared distances of rows (DAN)",
        supported: always,
        check: |gpu, c| check_mmd(gpu, c, Which::Fwd, mmd::DistPath::Direct),
    },
    Kernel {
        id: "mmd.dist_bwd",
        op: "mmd",
        shaders: &["mmd/dist_bwd.wgsl"],
        description: "dx_i = 2·Σ_j (dD_ij + dD_ji)(x_i - x_j)",
        supported: always,
        check: |gpu, c| check_mmd(gpu, c, Which::Bwd, mmd::DistPath::Direct),
    },
    Kernel {
        id: "mmd.dist_gram",
        op: "mmd",
        shaders: &["mmd/dist_gram.wgsl"],
        description: "pairwise squared distances from the Gram matrix x·xᵀ (GEMM)",
        supported: always,
        check: |gpu, c| check_mmd(gpu, c, Which::Fwd, mmd::DistPath::Gram),
    },
    Kernel {
        id: "mmd.dist_bwd_gram",
        op: "mmd",
        shaders: &["mmd/dist_sym.wgsl", "mmd/dist_bwd_gram.wgsl"],
        description: "dx = 2·(r ⊙ x - S·x), S = dD + dDᵀ, r its row sums (GEMM)",
        supported: always,
        check: |gpu, c| check_mmd(gpu, c, Which::Bwd, mmd::DistPath::Gram),
    },
    Kernel {
        id: "mmd.loss_fwd",
        op: "mmd",
        shaders: &["mmd/loss_fwd.wgsl"],
        description: "multi-kernel MMD loss, bandwidth from mean distance",
        supported: always,
        check: |gpu, c| check_mmd(gpu, c, Which::LossFwd, mmd::DistPath::Gram),
    },
    Kernel {
        id: "mmd.loss_bwd",
        op: "mmd",
        shaders: &["mmd/loss_bwd.wgsl"],
        description: "MK-MMD gradient w.r.t. distances, bandwidth detached",
        supported: always,
        check: |gpu, c| check_mmd(gpu, c, Which::LossBwd, mmd::DistPath::Gram),
    },
    Kernel {
        id: "outer.fwd",
        op: "outer",
        shaders: &["outer/fwd.wgsl"],
        description: "flattened outer product y[b, c·D + j] = g[b, c]·f[b, j]",
        supported: always,
        check: |gpu, c| check_outer(gpu, c, Pass::Fwd),
    },
    Kernel {
        id: "outer.bwd",
        op: "outer",
        shaders: &["outer/bwd.wgsl"],
        description: "df[b, j] = Σ_c g[b, c]·dy[b, c·D + j]",
        supported: always,
        check: |gpu, c| check_outer(gpu, c, Pass::Bwd),
    },
    Kernel {
        id: "elementwise.mul_const_fwd",
        op: "mul_const",
        shaders: &["elementwise/mul_const_fwd.wgsl"],
        description: "y = x ⊙ c, c constant",
        supported: always,
        check: |gpu, c| check_mul_const(gpu, c, Pass::Fwd),
    },
    Kernel {
        id: "elementwise.mul_const_bwd",
        op: "mul_const",
        shaders: &["elementwise/mul_const_bwd.wgsl"],
        description: "dx = dy ⊙ c",
        supported: always,
        check: |gpu, c| check_mul_const(gpu, c, Pass::Bwd),
    },
    Kernel {
        id: "loss.bce_weighted_fwd",
        op: "loss",
        shaders: &["loss/bce_weighted_fwd.wgsl"],
        description: "BCE with logits, per-sample weights, mean over N -> [1]",
        supported: always,
        check: |gpu, c| check_bce_weighted(gpu, c, Pass::Fwd),
    },
    Kernel {
        id: "loss.bce_weighted_bwd",
        op: "loss",
        shaders: &["loss/bce_weighted_bwd.wgsl"],
        description: "dx = scale·w·(sigmoid(x) - t) / N",
        supported: always,
        check: |gpu, c| check_bce_weighted(gpu, c, Pass::Bwd),
    },
    Kernel {
        id: "loss.complement_xent_fwd",
        op: "complement_xent",
        shaders: &["loss/complement_xent_fwd.wgsl"],
        description: "-log(min(1 - p_y + 1e-6, 1)), weighted mean -> [1]",
        supported: always,
        check: |gpu, c| check_complement_xent(gpu, c, XentPass::Fwd),
    },
    Kernel {
        id: "loss.complement_xent_bwd",
        op: "complement_xent",
        shaders: &["loss/complement_xent_bwd.wgsl"],
        description: "dz = k·p_y·([c = y] - p_c) / (1 - p_y + 1e-6), 0 where clamped",
        supported: always,
        check: |gpu, c| check_complement_xent(gpu, c, XentPass::Bwd),
    },
];
