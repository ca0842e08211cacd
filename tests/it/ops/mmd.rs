//! DAN's ops (pairwise squared distances, the multi-kernel MMD loss): GPU kernels against their
//! plain-Rust references on awkward shapes, and the reference backwards against finite
//! differences with an upstream gradient that is not all ones.
use crate::common::*;
use dak::ops::mmd;
use dak::Tensor;

use mmd::reference::ALPHAS;

/// A DAN step's shape (64 + 64 rows of 768 non-negative features, some rows repeated and some
/// nearly so): the Gram path's cancellation stays within tolerance, the diagonal and the
/// distance of a repeated row are exactly zero, and no distance is negative.
#[test]
fn gram_distances_hold_on_a_step_shape_with_near_rows() {
    let gpu = gpu();
    let (n, dim) = (128, 768);
    let mut x: Vec<f32> = values(n * dim, 73)
        .iter()
        .map(|v| (3.0 * v).max(0.0))
        .collect();
    x.copy_within(0..dim, 5 * dim);
    for c in 0..dim {
        x[9 * dim + c] = x[c] + 1e-3 * (c % 3) as f32;
    }
    let tx = Tensor::from_slice(&gpu, &x, &[n, dim]).unwrap();
    let want = mmd::reference::sq_distances(&x, dim);
    let d = mmd::sq_distances(&tx).unwrap().to_vec().unwrap();
    // Absolute error relative to the squared norms, which is what cancellation scales with.
    let scale = want.iter().cloned().fold(0.0f32, f32::max);
    let err = d
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        err <= 1e-5 * scale,
        "max error {err} of distances up to {scale}"
    );
    assert!(d.iter().all(|&v| v >= 0.0));
    assert!((0..n).all(|i| d[i * n + i] == 0.0));
    assert_eq!(d[5], 0.0);
    let up: Vec<f32> = values(n * n, 74).iter().map(|v| v * 1e-3).collect();
    let tup = Tensor::from_slice(&gpu, &up, &[n, n]).unwrap();
    let dx = mmd::sq_distances_backward(&tx, &tup).unwrap();
    let want_dx = mmd::reference::sq_distances_backward(&x, &up, dim);
    assert_close(&dx.to_vec().unwrap(), &want_dx, tol_for(n), "step shape");
}

#[test]
fn mmd_ops_match_reference() {
    let gpu = gpu();
    for &(b, dim) in mmd::reference::SHAPES {
        let n = 2 * b;
        let what = format!("{b}x2 rows, {dim} features");
        let x: Vec<f32> = values(n * dim, 71).iter().map(|v| v * 0.5).collect();
        let tx = Tensor::from_slice(&gpu, &x, &[n, dim]).unwrap();
        let want_d = mmd::reference::sq_distances(&x, dim);
        let up: Vec<f32> = values(n * n, 72).iter().map(|v| v * 1.7 + 0.4).collect();
        let tup = Tensor::from_slice(&gpu, &up, &[n, n]).unwrap();
        let want_dx = mmd::reference::sq_distances_backward(&x, &up, dim);
        // The Gram (GEMM) path, the default, and the direct kernels (the GPU-side oracle).
        for path in [mmd::DistPath::Direct, mmd::DistPath::Gram] {
            let what = format!("{what}, {path:?}");
            let d = mmd::sq_distances_with(&tx, path).unwrap();
            assert_close(&d.to_vec().unwrap(), &want_d, tol_for(dim), &what);
            let dx = mmd::sq_distances_backward_with(&tx, &tup, path).unwrap();
            assert_close(&dx.to_vec().unwrap(), &want_dx, tol_for(n), &what);
        }
        let d = mmd::sq_distances(&tx).unwrap();
        for m in [
            mmd::linear_index(b).unwrap(),
            mmd::quadratic_index(b, b).unwrap(),
        ] {
            let tm = Tensor::from_slice(&gpu, &m, &[n, n]).unwrap();
            let (l, mu) = mmd::loss(&d, &tm, &ALPHAS, 0.7).unwrap();
            let want_mu = mmd::reference::bandwidth(&want_d);
            assert_close(&mu.to_vec().unwrap(), &[want_mu as f32], 1e-4, &what);
            let want_l = mmd::reference::loss(&want_d, &m, &ALPHAS, 0.7, None);
            assert_close(&l.to_vec().unwrap(), &[want_l], 1e-4, &what);
            let g = mmd::loss_backward(&d, &tm, &mu, &ALPHAS, 0.7).unwrap();
            let want_g = mmd::reference::loss_backward(&want_d, &m, &ALPHAS, 0.7, want_mu);
            assert_close(&g.to_vec().unwrap(), &want_g, 1e-4, &what);
        }
    }
}

#[test]
fn mmd_reference_backwards_match_finite_differences() {
    let (n, dim) = (4, 3);
    let x: Vec<f32> = values(n * dim, 81).to_vec();
    let up: Vec<f32> = values(n * n, 82).iter().map(|v| v * 1.7 + 0.4).collect();
    let dx = mmd::reference::sq_distances_backward(&x, &up, dim);
    fd_check(
        &x,
        &dx,
        &up,
        |x| mmd::reference::sq_distances(x, dim),
        "distances",
    );
    let d = mmd::reference::sq_distances(&x, dim);
    let m = mmd::quadratic_index(2, 2).unwrap();
    let mu = mmd::reference::bandwidth(&d);
    // The loss is a root: its upstream is the scale (1.3, not 1); μ is held constant.
    let g = mmd::reference::loss_backward(&d, &m, &ALPHAS, 1.3, mu);
    fd_check(
        &d,
        &g,
        &[1.0],
        |d| vec![mmd::reference::loss(d, &m, &ALPHAS, 1.3, Some(mu))],
        "loss",
    );
    assert!(g.iter().any(|v| v.abs() > 1e-3));
}

#[test]
fn mmd_bad_shapes_are_errors() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, &[1.0f32; 6], &[6]).unwrap();
    assert!(mmd::sq_distances(&x).is_err());
    let d = Tensor::from_slice(&gpu, &[0.0f32; 4], &[2, 2]).unwrap();
    let m = Tensor::from_slice(&gpu, &[0.0f32; 9], &[3, 3]).unwrap();
    assert!(mmd::loss(&d, &m, &ALPHAS, 1.0).is_err());
    assert!(mmd::loss(&d, &d, &[], 1.0).is_err());
    assert!(mmd::linear_index(0).is_err());
}
