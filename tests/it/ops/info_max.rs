//! The information-maximisation loss (`ops::info_max`): the GPU forward and backward against
//! the plain-Rust reference on awkward shapes (one row of 3 classes, 37 x 31, 64 x 1000, the
//! largest batch, saturated rows) with several weight pairs; the reference backward against
//! central differences of an independent f64 forward; the tape node as a root and as the input
//! of another loss; input errors; and that the comparisons are tight enough to catch a
//! gradient that is slightly wrong.
//!
//! Gradients and mean predictions are small (1/rows, 1/classes), so comparisons here measure
//! the error against the tensor's own scale: `|got - want| <= tol·(|want| + max|want|)`.
use crate::common::*;
use dak::autograd::Tape;
use dak::ops::{info_max as im, prob};
use dak::{Error, Tensor};

use im::reference::{SHAPES, WEIGHTS};
/// The GPU-vs-reference tolerance (f32 kernels against an f64 reference).
const TOL: f64 = 1e-4;

/// Logits in about ±6.
fn logits(rows: usize, classes: usize, seed: u64) -> Vec<f32> {
    values(rows * classes, seed)
        .iter()
        .map(|v| 6.0 * v)
        .collect()
}

/// Logits with confident rows: one class pushed up by `push` in every other row (its
/// probability ≈ 1, the others far below the entropy's 1e-5), and, with 3 rows or more, a last
/// row of equal logits.
fn saturated(rows: usize, classes: usize, seed: u64, push: f32) -> Vec<f32> {
    let mut z = logits(rows, classes, seed);
    for r in (0..rows).step_by(2) {
        z[r * classes + r % classes] += push;
    }
    if rows >= 3 {
        let last = (rows - 1) * classes;
        z[last..].iter_mut().for_each(|v| *v = 0.5);
    }
    z
}

/// Largest `|got - want| / (|want| + max|want|)`: the error relative to the tensor's scale.
fn scaled_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "length");
    let scale = want.iter().fold(0f64, |a, &v| a.max(v.abs() as f64));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let (g, w) = (g as f64, w as f64);
            match g.is_finite() {
                true => (g - w).abs() / (w.abs() + scale).max(f64::MIN_POSITIVE),
                false => f64::INFINITY,
            }
        })
        .fold(0f64, f64::max)
}

fn assert_tight(got: &[f32], want: &[f32], tol: f64, what: &str) {
    let err = scaled_err(got, want);
    assert!(err <= tol, "{what}: scaled error {err:.3e} > {tol:.0e}");
}

/// The loss against the reference: `|got - want| <= tol·(1 + |want|)`.
fn assert_loss(got: f32, want: f32, what: &str) {
    let err = (got as f64 - want as f64).abs() / (1.0 + want.abs() as f64);
    assert!(
        err <= TOL,
        "{what}: loss {got}, want {want} (error {err:.3e})"
    );
}

fn cases() -> Vec<(String, usize, usize, Vec<f32>)> {
    let mut out: Vec<_> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, &(r, c))| (format!("{r}x{c}"), r, c, logits(r, c, 100 + i as u64)))
        .collect();
    out.push(("8x10 saturated".into(), 8, 10, saturated(8, 10, 120, 25.0)));
    out.push((
        "5x1000 saturated".into(),
        5,
        1000,
        saturated(5, 1000, 121, 25.0),
    ));
    // One confident row alone: every gradient is a small difference (p ≈ 1 - 1e-5).
    out.push(("1x10 confident".into(), 1, 10, saturated(1, 10, 122, 14.0)));
    out.push((
        "1x1000 confident".into(),
        1,
        1000,
        saturated(1, 1000, 123, 20.0),
    ));
    out
}

#[test]
fn forward_and_backward_match_reference() {
    let gpu = gpu();
    for (name, rows, classes, z) in cases() {
        let tz = Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap();
        for &(we, wd) in WEIGHTS {
            let what = format!("{name} w_ent {we} w_div {wd}");
            let out = im::forward(&tz, we, wd).unwrap();
            assert_eq!(out.loss.shape(), &[1]);
            assert_eq!(out.probs.shape(), &[rows, classes]);
            assert_eq!(out.mean.shape(), &[classes]);
            let want = im::reference::forward(&z, classes, we, wd);
            assert_loss(out.loss.to_vec().unwrap()[0], want, &what);
            let want_p = prob::reference::softmax_t(&z, classes, 1.0);
            assert_tight(&out.probs.to_vec().unwrap(), &want_p, TOL, &what);
            let want_mean = im::reference::mean(&z, classes);
            assert_tight(&out.mean.to_vec().unwrap(), &want_mean, TOL, &what);
            for dl in [1.0f32, -0.7] {
                let tdl = Tensor::from_slice(&gpu, &[dl], &[1]).unwrap();
                let dz = im::backward(&out.probs, &out.mean, &tdl, we, wd).unwrap();
                assert_eq!(dz.shape(), &[rows, classes]);
                let want = im::reference::backward(&z, classes, we, wd, dl);
                assert_tight(
                    &dz.to_vec().unwrap(),
                    &want,
                    TOL,
                    &format!("dz {what} dl {dl}"),
                );
            }
        }
    }
}

/// The loss in f64, written independently of the library's reference.
fn loss_f64(z: &[f64], classes: usize, w_ent: f64, w_div: f64) -> f64 {
    let rows = z.len() / classes;
    let h = |q: &[f64]| -q.iter().map(|v| v * (v + 1e-5).ln()).sum::<f64>();
    let mut mean = vec![0f64; classes];
    let mut h_rows = 0.0;
    for row in z.chunks(classes) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / s).collect();
        h_rows += h(&p);
        for (a, b) in mean.iter_mut().zip(&p) {
            *a += b / rows as f64;
        }
    }
    w_ent * h_rows / rows as f64 - w_div * h(&mean)
}

/// Central differences of [`loss_f64`] times `dl`, on every logit.
fn numeric_grad(z: &[f32], classes: usize, we: f32, wd: f32, dl: f32) -> Vec<f32> {
    let h = 1e-4;
    let z64: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    (0..z.len())
        .map(|i| {
            let mut p = z64.clone();
            p[i] += h;
            let plus = loss_f64(&p, classes, we as f64, wd as f64);
            p[i] -= 2.0 * h;
            let minus = loss_f64(&p, classes, we as f64, wd as f64);
            (dl as f64 * (plus - minus) / (2.0 * h)) as f32
        })
        .collect()
}

#[test]
fn reference_matches_finite_differences() {
    let fd_cases = [
        ("1x3", 3, logits(1, 3, 200)),
        ("5x7", 7, logits(5, 7, 201)),
        ("4x2", 2, logits(4, 2, 202)),
        ("6x9 saturated", 9, saturated(6, 9, 203, 25.0)),
        ("1x4 confident", 4, saturated(1, 4, 204, 12.0)),
    ];
    for (name, classes, z) in &fd_cases {
        for &(we, wd) in WEIGHTS.iter().chain(&[(0.5, -0.2)]) {
            let what = format!("{name} w_ent {we} w_div {wd}");
            let z64: Vec<f64> = z.iter().map(|&v| v as f64).collect();
            let l = loss_f64(&z64, *classes, we as f64, wd as f64);
            let got = im::reference::forward(z, *classes, we, wd) as f64;
            assert!(
                (got - l).abs() <= 1e-6 * (1.0 + l.abs()),
                "{what}: {got} vs {l}"
            );
            for dl in [1.0f32, -0.6] {
                let analytic = im::reference::backward(z, *classes, we, wd, dl);
                let numeric = numeric_grad(z, *classes, we, wd, dl);
                assert_tight(&analytic, &numeric, 1e-6, &format!("fd {what} dl {dl}"));
            }
        }
    }
}

/// The reference gradient with one mistake, each a plausible slip.
fn wrong_gradients(z: &[f32], classes: usize, we: f32, wd: f32) -> Vec<(&'static str, Vec<f32>)> {
    let right = im::reference::backward(z, classes, we, wd, 1.0);
    let probs = prob::reference::softmax_t(z, classes, 1.0);
    let rows = z.len() / classes;
    // The diversity term without the softmax Jacobian's Σ p·g (as if dL/dp were dL/dz).
    let mean = im::reference::mean(z, classes);
    let no_jacobian: Vec<f32> = probs
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let a = |q: f32| -(q + 1e-5).ln() - q / (q + 1e-5);
            (we * a(p) - wd * a(mean[i % classes])) / rows as f32
        })
        .collect();
    vec![
        ("scaled by 1.001", right.iter().map(|v| v * 1.001).collect()),
        (
            "the diversity term's sign flipped",
            im::reference::backward(z, classes, we, -wd, 1.0),
        ),
        (
            "the mean treated as a constant",
            im::reference::backward(z, classes, we, 0.0, 1.0),
        ),
        ("dL/dp instead of dL/dz", no_jacobian),
        ("all zeros", vec![0.0; right.len()]),
    ]
}

#[test]
fn a_slightly_wrong_gradient_is_caught() {
    let (rows, classes) = (37, 31);
    let z = logits(rows, classes, 300);
    let (we, wd) = (0.3, 1.0);
    let right = im::reference::backward(&z, classes, we, wd, 1.0);
    let numeric = numeric_grad(&z, classes, we, wd, 1.0);
    assert!(scaled_err(&right, &numeric) <= 1e-6);
    for (slip, wrong) in wrong_gradients(&z, classes, we, wd) {
        let vs_ref = scaled_err(&wrong, &right);
        assert!(
            vs_ref > 3.0 * TOL,
            "{slip}: error {vs_ref:.1e} against the reference"
        );
        let vs_fd = scaled_err(&wrong, &numeric);
        assert!(
            vs_fd > 1e-6,
            "{slip}: error {vs_fd:.1e} against finite differences"
        );
    }

    // On the GPU: a kernel whose gradient is off by 0.1% fails the same comparison.
    let gpu = own_gpu();
    let file = "info_max/bwd.wgsl";
    let src = dak::gpu::BUILTIN_SHADERS
        .iter()
        .find(|(f, _)| *f == file)
        .unwrap()
        .1;
    let slipped = src.replace("var up = 1.0;", "var up = 1.001;");
    assert_ne!(src, slipped);
    let tz = Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap();
    let grad = || {
        let mut tape = Tape::new();
        let zv = tape.input_with_grad(tz.clone());
        let loss = tape.info_max(zv, we, wd).unwrap();
        let (_, g) = tape.backward_to(&[loss], &[zv]).unwrap();
        g[0].as_ref().unwrap().to_vec().unwrap()
    };
    assert!(scaled_err(&grad(), &right) <= TOL);
    gpu.register_shader(file, slipped);
    let err = scaled_err(&grad(), &right);
    assert!(
        err > 3.0 * TOL,
        "a 0.1% slip gave a scaled error of only {err:.1e}"
    );
    assert!(gpu.unregister_shader(file));
}

#[test]
fn tape_gradient_matches_reference() {
    let gpu = gpu();
    for &(rows, classes) in SHAPES {
        for &(we, wd) in WEIGHTS {
            let what = format!("{rows}x{classes} w_ent {we} w_div {wd}");
            let z = logits(rows, classes, 400 + rows as u64);
            let mut tape = Tape::new();
            let zv = tape.input_with_grad(Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap());
            let loss = tape.info_max(zv, we, wd).unwrap();
            assert_eq!(tape.stats().recorded, 1);
            assert_eq!(tape.tensor(loss).shape(), &[1]);
            let l = tape.tensor(loss).to_vec().unwrap()[0];
            assert_loss(l, im::reference::forward(&z, classes, we, wd), &what);
            let (_, grads) = tape.backward_to(&[loss], &[zv]).unwrap();
            let dz = grads[0]
                .as_ref()
                .expect("a gradient for z")
                .to_vec()
                .unwrap();
            let want = im::reference::backward(&z, classes, we, wd, 1.0);
            assert_tight(&dz, &want, TOL, &format!("tape dz {what}"));
        }
    }

    // A constant input records nothing.
    let mut tape = Tape::new();
    let z = tape.input(Tensor::from_slice(&gpu, &logits(4, 5, 450), &[4, 5]).unwrap());
    let loss = tape.info_max(z, 1.0, 1.0).unwrap();
    assert!(!tape.requires_grad(loss));
    assert_eq!(tape.stats().recorded, 0);
}

#[test]
fn tape_loss_feeding_another_loss_gets_its_upstream_gradient() {
    // bce(info_max(z), t) with scale s: dz = s·(σ(L) - t)·dL/dz.
    let gpu = gpu();
    let (rows, classes, we, wd, t, s) = (6, 11, 0.3, 1.0, 0.25f32, 1.5f32);
    let z = logits(rows, classes, 500);
    let mut tape = Tape::new();
    let zv = tape.input_with_grad(Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap());
    let l = tape.info_max(zv, we, wd).unwrap();
    let targets = Tensor::from_slice(&gpu, &[t], &[1]).unwrap();
    let root = tape.bce(l, &targets, s).unwrap();
    let (_, grads) = tape.backward_to(&[root], &[zv]).unwrap();
    let dz = grads[0].as_ref().unwrap().to_vec().unwrap();
    let lv = im::reference::forward(&z, classes, we, wd) as f64;
    let up = (s as f64 * (1.0 / (1.0 + (-lv).exp()) - t as f64)) as f32;
    let want = im::reference::backward(&z, classes, we, wd, up);
    assert_tight(&dz, &want, TOL, "dz through bce");

    // Both a root and the input of another loss: the two gradients add up.
    let mut tape = Tape::new();
    let zv = tape.input_with_grad(Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap());
    let l = tape.info_max(zv, we, wd).unwrap();
    let root = tape.bce(l, &targets, s).unwrap();
    let (_, grads) = tape.backward_to(&[root, l], &[zv]).unwrap();
    let dz = grads[0].as_ref().unwrap().to_vec().unwrap();
    let want = im::reference::backward(&z, classes, we, wd, up + 1.0);
    assert_tight(&dz, &want, TOL, "dz as a root and through bce");
}

fn input_error(r: dak::Result<impl Sized>, needles: &[&str]) {
    match r {
        Err(Error::Input(msg)) => {
            assert_eq!(msg.lines().count(), 1, "one line: {msg}");
            for n in needles {
                assert!(msg.contains(n), "`{n}` not in: {msg}");
            }
        }
        Err(e) => panic!("expected an input error, got {e:?}"),
        Ok(_) => panic!("expected an input error for {needles:?}"),
    }
}

#[test]
fn invalid_inputs_are_input_errors() {
    let gpu = gpu();
    let t = |v: &[f32], s: &[usize]| Tensor::from_slice(&gpu, v, s).unwrap();
    let flat = t(&logits(2, 3, 600), &[6]);
    input_error(im::forward(&flat, 1.0, 1.0), &["[rows, classes]", "[6]"]);
    let cube = t(&logits(2, 3, 601), &[1, 2, 3]);
    input_error(
        im::forward(&cube, 1.0, 1.0),
        &["[rows, classes]", "[1, 2, 3]"],
    );
    // A tensor of zero rows cannot be made; if one could, the op refuses it.
    match Tensor::zeros(&gpu, &[0, 5]) {
        Ok(empty) => input_error(
            im::forward(&empty, 1.0, 1.0),
            &["at least one row", "[0, 5]"],
        ),
        Err(e) => assert!(matches!(e, Error::Input(_)), "{e:?}"),
    }
    let labels = Tensor::from_u32(&gpu, &[0, 1, 2, 3, 4, 5], &[2, 3]).unwrap();
    input_error(im::forward(&labels, 1.0, 1.0), &["F32"]);
    let z = t(&logits(2, 3, 602), &[2, 3]);
    input_error(im::forward(&z, f32::NAN, 1.0), &["finite"]);

    let out = im::forward(&z, 1.0, 1.0).unwrap();
    let dl = t(&[1.0], &[1]);
    input_error(
        im::backward(&flat, &out.mean, &dl, 1.0, 1.0),
        &["[rows, classes]"],
    );
    let wrong_mean = t(&[0.5, 0.5], &[2]);
    input_error(
        im::backward(&out.probs, &wrong_mean, &dl, 1.0, 1.0),
        &["mean", "[3]"],
    );
    let wrong_dl = t(&[1.0, 1.0], &[2]);
    input_error(
        im::backward(&out.probs, &out.mean, &wrong_dl, 1.0, 1.0),
        &["upstream"],
    );

    let mut tape = Tape::new();
    let zv = tape.input_with_grad(flat);
    input_error(tape.info_max(zv, 1.0, 1.0), &["[rows, classes]"]);
}
