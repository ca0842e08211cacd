//! CDAN's ops (the multilinear map's outer product, the product with a constant, the weighted
//! binary cross-entropy) against their references on awkward shapes, the reference backwards
//! against finite differences, the randomized map against a dense reference, and
//! `dak adapt --method cdan-e` end to end (the steps' gradients are in `adapt_steps.rs`).
use crate::common::*;
use dak::autograd::Tape;
use dak::models::Dann;
use dak::ops::{bce, mul_const, outer};
use dak::train::adapt::methods::cdan as method;
use dak::train::adapt::MethodState;
use dak::Tensor;

fn probs(rows: usize, classes: usize, seed: u64) -> Vec<f32> {
    let z: Vec<f32> = values(rows * classes, seed)
        .iter()
        .map(|v| 3.0 * v)
        .collect();
    dak::ops::prob::reference::softmax_t(&z, classes, 1.0)
}

#[test]
fn outer_and_mul_const_match_reference() {
    let gpu = gpu();
    for &(rows, classes, dim) in &[
        (1, 3, 7),
        (3, 3, 7),
        (2, 3, 768),
        (1, 1, 4097),
        (2, 2, 4097),
    ] {
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
fn weighted_bce_matches_reference_and_unweighted_with_unit_weights() {
    let gpu = gpu();
    for &n in &[1usize, 3, 768, 4097] {
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

/// A method state with R_fᵀ [d, dim] and R_g [classes, d] from `values`.
fn random_state(gpu: &dak::Gpu, dim: usize, classes: usize) -> (MethodState, Vec<f32>, Vec<f32>) {
    let d = method::RANDOM_DIM;
    let rf_t = values(d * dim, 41);
    let rg = values(classes * d, 42);
    let mut state = MethodState::default();
    state.insert(
        method::RF,
        Tensor::from_slice(gpu, &rf_t, &[d, dim]).unwrap(),
    );
    state.insert(
        method::RG,
        Tensor::from_slice(gpu, &rg, &[classes, d]).unwrap(),
    );
    (state, transpose(&rf_t, d, dim), rg)
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}

#[test]
fn randomized_map_matches_dense_reference() {
    let gpu = gpu();
    let d = method::RANDOM_DIM;
    for &(rows, classes, dim) in &[(1, 1, 4097), (3, 10, 768), (2, 2, 4097)] {
        assert!(method::randomized(dim, classes));
        let what = format!("{rows} rows, {classes} classes, {dim} features");
        let (state, rf, rg) = random_state(&gpu, dim, classes);
        let f: Vec<f32> = values(rows * dim, 43).iter().map(|v| 0.1 * v).collect();
        let g = probs(rows, classes, 44);
        let tg = Tensor::from_slice(&gpu, &g, &[rows, classes]).unwrap();
        let mut tape = Tape::new();
        let fv = tape.input(Tensor::from_slice(&gpu, &f, &[rows, dim]).unwrap());
        let h = method::multilinear_map(&mut tape, fv, &tg, &state).unwrap();
        let want = randomized_map(&f, &g, &rf, &rg, (dim, classes, d));
        assert_close(&tape.tensor(h).to_vec().unwrap(), &want, 1e-4, &what);
    }
    // At most 4096 wide, the map is the plain outer product.
    assert!(!method::randomized(768, 3) && method::map_width(768, 3) == 2304);
    assert_eq!(method::map_width(768, 10), d);
}

#[test]
fn adapt_cdan_e_end_to_end() {
    let dir = TempDir::new("cdan-e");
    let root = dir.path();
    class_folders(&root.join("src"));
    class_folders(&root.join("tgt"));
    let p = |s: &str| root.join(s).to_str().unwrap().to_string();
    let (out, metrics) = (p("m.safetensors"), p("m.jsonl"));
    let (src, tgt) = (p("src"), p("tgt"));
    let args = [
        "adapt",
        "--source",
        &src,
        "--target",
        &tgt,
        "--method",
        "cdan-e",
        "--epochs",
        "2",
        "--batch",
        "4",
        "--score-samples",
        "6",
        "--no-pad",
        "--workers",
        "1",
        "--out",
        &out,
        "--metrics",
        &metrics,
    ];
    let o = dak(&args);
    assert!(
        o.status.success(),
        "dak adapt --method cdan-e failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = read_jsonl(std::path::Path::new(&metrics));
    let epochs: Vec<_> = lines.iter().filter(|v| v["type"] == "epoch").collect();
    assert_eq!(epochs.len(), 2, "{lines:?}");
    for e in epochs {
        assert_eq!(e["method"], "cdan-e");
        let d = e["domain_loss"].as_f64().unwrap();
        assert!(d.is_finite() && d > 0.0, "{e}");
        let a = e["adapt_loss"].as_f64().unwrap();
        assert!((a - d).abs() < 1e-5 * (1.0 + d), "{e}");
    }
    // The conditional head is saved with the model.
    let model = Dann::load(&gpu(), &out).unwrap();
    assert!(model.head(method::HEAD).is_ok());
}

/// The randomized multilinear map `(f·R_f) ⊙ (g·R_g) / √d` with `R_f` [dim, d] and `R_g`
/// [classes, d] (row-major), written out directly.
fn randomized_map(
    f: &[f32],
    g: &[f32],
    rf: &[f32],
    rg: &[f32],
    (dim, classes, d): (usize, usize, usize),
) -> Vec<f32> {
    let rows = f.len() / dim;
    let scale = 1.0 / (d as f64).sqrt();
    let mut h = Vec::with_capacity(rows * d);
    for b in 0..rows {
        for k in 0..d {
            let a: f64 = (0..dim)
                .map(|j| f[b * dim + j] as f64 * rf[j * d + k] as f64)
                .sum();
            let e: f64 = (0..classes)
                .map(|c| g[b * classes + c] as f64 * rg[c * d + k] as f64)
                .sum();
            h.push((a * e * scale) as f32);
        }
    }
    h
}
