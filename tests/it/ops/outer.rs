//! The outer product with a constant (`ops::outer`), the product with a constant
//! (`ops::mul_const`) and the weighted binary cross-entropy against their references on
//! awkward shapes, and the reference backwards against finite differences. CDAN, which builds
//! its map from them, is tested in `train/adapt/methods/cdan.rs`.
use crate::common::*;
use dak::ops::{bce, mul_const, outer};
use dak::Tensor;

#[test]
fn outer_and_mul_const_match_reference() {
    let gpu = gpu();
    for &(rows, classes, dim) in outer::reference::SHAPES {
        let what = format!("{rows} rows, {classes} classes, {dim} features");
        let f = values(rows * dim, 11);
        let g = probs(rows, classes, 12);
        let tf = Tensor::from_slice(&gpu, &f, &[rows, dim]).unwrap();
        let tg = Tensor::from_slice(&gpu, &g, &[rows, classes]).unwrap();
        let y = outer::outer(&tf, &tg).unwrap();
        assert_eq!(y.shape(), &[rows, classes * dim]);
        let want_y = outer::reference::outer(&f, &g, dim, classes);
        assert_close(&y.to_vec().unwrap(), &want_y, tol_for(1), &what);
        let up: Vec<f32> = values(rows * classes * dim, 13)
            .iter()
            .map(|v| 1.7 * v + 0.4)
            .collect();
        let tup = Tensor::from_slice(&gpu, &up, &[rows, classes * dim]).unwrap();
        let df = outer::outer_backward(&tg, &tup).unwrap();
        let want = outer::reference::outer_backward(&g, &up, dim, classes);
        assert_close(&df.to_vec().unwrap(), &want, tol_for(classes), &what);
        // The product with a constant, on the map's output shape.
        let k = values(rows * classes * dim, 14);
        let tk = Tensor::from_slice(&gpu, &k, &[rows, classes * dim]).unwrap();
        let want = mul_const::reference::mul_const(&want_y, &k);
        let got = mul_const::mul_const(&y, &tk).unwrap().to_vec().unwrap();
        assert_close(&got, &want, tol_for(1), &what);
        let dx = mul_const::mul_const_backward(&tup, &tk)
            .unwrap()
            .to_vec()
            .unwrap();
        assert_close(
            &dx,
            &mul_const::reference::mul_const(&up, &k),
            tol_for(1),
            &what,
        );
    }
}

#[test]
fn mul_const_matches_reference_on_its_shapes() {
    let gpu = gpu();
    for (i, &(rows, cols)) in mul_const::reference::SHAPES.iter().enumerate() {
        let what = format!("[{rows}, {cols}]");
        let x = values(rows * cols, 31 + i as u64);
        let k = values(rows * cols, 41 + i as u64);
        let tx = Tensor::from_slice(&gpu, &x, &[rows, cols]).unwrap();
        let tk = Tensor::from_slice(&gpu, &k, &[rows, cols]).unwrap();
        let want = mul_const::reference::mul_const(&x, &k);
        let y = mul_const::mul_const(&tx, &tk).unwrap().to_vec().unwrap();
        assert_close(&y, &want, tol_for(1), &what);
        let dx = mul_const::mul_const_backward(&tx, &tk).unwrap();
        assert_close(&dx.to_vec().unwrap(), &want, tol_for(1), &what);
    }
}

#[test]
fn weighted_bce_matches_reference_and_unweighted_with_unit_weights() {
    let gpu = gpu();
    for &n in bce::reference::LENGTHS {
        let what = format!("{n} samples");
        let x: Vec<f32> = values(n, 21).iter().map(|v| 9.0 * v).collect();
        let t: Vec<f32> = (0..n).map(|i| ((i * 7) % 3 == 0) as u8 as f32).collect();
        let w: Vec<f32> = values(n, 22).iter().map(|v| 1.0 + 0.6 * v).collect();
        let tx = Tensor::from_slice(&gpu, &x, &[n, 1]).unwrap();
        let tt = Tensor::from_slice(&gpu, &t, &[n, 1]).unwrap();
        let tw = Tensor::from_slice(&gpu, &w, &[n]).unwrap();
        let l = bce::weighted_forward(&tx, &tt, &tw, 0.8).unwrap();
        let want = bce::reference::weighted_forward(&x, &t, &w, 0.8);
        assert_close(&l.to_vec().unwrap(), &[want], tol_for(n), &what);
        let dx = bce::weighted_backward(&tx, &tt, &tw, 0.8).unwrap();
        let want = bce::reference::weighted_backward(&x, &t, &w, 0.8);
        assert_close(&dx.to_vec().unwrap(), &want, tol_for(1), &what);
        let ones = Tensor::from_slice(&gpu, &vec![1.0; n], &[n]).unwrap();
        let a = bce::weighted_forward(&tx, &tt, &ones, 0.8).unwrap();
        let b = bce::forward(&tx, &tt, 0.8).unwrap();
        assert_close(
            &a.to_vec().unwrap(),
            &b.to_vec().unwrap(),
            tol_for(n),
            &what,
        );
    }
    // Bad input is an error, not a panic.
    let tx = Tensor::from_slice(&gpu, &[0.5, 1.0], &[2, 1]).unwrap();
    let tw = Tensor::from_slice(&gpu, &[1.0], &[1]).unwrap();
    assert!(bce::weighted_forward(&tx, &tx, &tw, 1.0).is_err());
    let tg = Tensor::from_slice(&gpu, &[1.0; 3], &[3, 1]).unwrap();
    assert!(outer::outer(&tx, &tg).is_err());
    assert!(mul_const::mul_const(&tx, &tg).is_err());
}

#[test]
fn reference_backwards_match_finite_differences() {
    let (rows, classes, dim) = (2, 3, 5);
    let f = values(rows * dim, 31);
    let g = probs(rows, classes, 32);
    let up: Vec<f32> = values(rows * classes * dim, 33)
        .iter()
        .map(|v| 1.7 * v + 0.4)
        .collect();
    let df = outer::reference::outer_backward(&g, &up, dim, classes);
    let outer = |f: &[f32]| outer::reference::outer(f, &g, dim, classes);
    fd_check(&f, &df, &up, outer, "outer product");
    let k = values(rows * dim, 34);
    let up2: Vec<f32> = values(rows * dim, 35).iter().map(|v| v - 0.3).collect();
    let dx = mul_const::reference::mul_const(&up2, &k);
    let prod = |x: &[f32]| mul_const::reference::mul_const(x, &k);
    fd_check(&f, &dx, &up2, prod, "product with a constant");
    let x: Vec<f32> = values(7, 36).iter().map(|v| 3.0 * v).collect();
    let t = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    let w: Vec<f32> = values(7, 37).iter().map(|v| 1.0 + 0.5 * v).collect();
    // fd_check wants the gradient of up·loss, up = 1.3.
    let dx: Vec<f32> = bce::reference::weighted_backward(&x, &t, &w, 0.6)
        .iter()
        .map(|v| 1.3 * v)
        .collect();
    let loss = |x: &[f32]| vec![bce::reference::weighted_forward(x, &t, &w, 0.6)];
    fd_check(&x, &dx, &[1.3], loss, "weighted binary cross-entropy");
}
