//! The complement cross-entropy (`ops::complement_xent`) and the argmax pseudo-labels on the
//! GPU against their plain-Rust references on awkward shapes, and the reference backward
//! against finite differences. MDD, whose target disparity it is, is tested in
//! `train/adapt/methods/mdd.rs`.
use crate::common::*;
use dak::ops::{complement_xent, softmax_xent};
use dak::Tensor;

/// Logits of `rows` x `classes` (scaled by `mag`), labels cycling through every class, every
/// third row masked out (when there are several), and the label logit of every 4th row pushed
/// by `+push` (p_y near 1) and of every 4th row from the 3rd by `-push` (the clamp).
fn case(rows: usize, classes: usize, mag: f32, push: f32, seed: u64) -> Case {
    let mut z: Vec<f32> = values(rows * classes, seed)
        .iter()
        .map(|v| mag * v)
        .collect();
    let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 2) % classes) as u32).collect();
    for (r, &label) in labels.iter().enumerate() {
        let y = r * classes + label as usize;
        match r % 4 {
            0 => z[y] += push,
            2 => z[y] -= push,
            _ => {}
        }
    }
    let w: Vec<f32> = (0..rows)
        .map(|r| if rows > 1 && r % 3 == 1 { 0.0 } else { 1.0 })
        .collect();
    Case { z, labels, w }
}

struct Case {
    z: Vec<f32>,
    labels: Vec<u32>,
    w: Vec<f32>,
}

#[test]
fn margin_and_argmax_match_the_reference() {
    let gpu = gpu();
    // Small and large logits (±40 on the label: p_y ≈ 1, where the 1e-6 shift dominates, and
    // p_y ≈ 0, the clamp).
    for (k, &(rows, classes)) in complement_xent::reference::SHAPES.iter().enumerate() {
        for (mag, push) in [(1.0, 0.0), (3.0, 12.0), (20.0, 40.0)] {
            let c = case(rows, classes, mag, push, 900 + k as u64);
            let what = format!("[{rows}, {classes}] x{mag} push {push}");
            let tz = Tensor::from_slice(&gpu, &c.z, &[rows, classes]).unwrap();
            let tl = Tensor::from_u32(&gpu, &c.labels, &[rows]).unwrap();
            let tw = Tensor::from_slice(&gpu, &c.w, &[rows]).unwrap();
            let l = complement_xent::forward(&tz, &tl, &tw, 0.7)
                .unwrap()
                .to_vec()
                .unwrap();
            let want = complement_xent::reference::forward(&c.z, &c.labels, &c.w, classes, 0.7);
            assert_close(&l, &[want], tol_for(rows * classes), &what);
            let dz = complement_xent::backward(&tz, &tl, &tw, 0.7).unwrap();
            let want = complement_xent::reference::backward(&c.z, &c.labels, &c.w, classes, 0.7);
            assert_close(&dz.to_vec().unwrap(), &want, tol_for(classes), &what);
            // With 31 classes a push of 12 leaves row 2 short of the clamp; 40 reaches it.
            if push > 0.0 && rows > 2 && (classes <= 10 || push >= 40.0) {
                // The clamped row (p_y ≈ 0) gets no gradient; the confident one does.
                let row = |r: usize| &want[r * classes..(r + 1) * classes];
                assert!(row(2).iter().all(|&v| v == 0.0), "{what}");
                assert!(row(0).iter().any(|&v| v != 0.0), "{what}");
            }
            let pred = softmax_xent::argmax(&tz).unwrap().to_vec_u32().unwrap();
            assert_eq!(
                pred,
                softmax_xent::reference::argmax(&c.z, classes),
                "{what}"
            );
        }
    }
}

#[test]
fn margin_covers_every_label() {
    let gpu = gpu();
    // One row per label of 10 classes, the label's logit a little above the rest.
    let classes = 10;
    let mut z: Vec<f32> = values(classes * classes, 77).to_vec();
    let labels: Vec<u32> = (0..classes as u32).collect();
    for (r, &y) in labels.iter().enumerate() {
        z[r * classes + y as usize] += 2.0;
    }
    let w = vec![1.0f32; classes];
    let tz = Tensor::from_slice(&gpu, &z, &[classes, classes]).unwrap();
    let tl = Tensor::from_u32(&gpu, &labels, &[classes]).unwrap();
    let tw = Tensor::from_slice(&gpu, &w, &[classes]).unwrap();
    let l = complement_xent::forward(&tz, &tl, &tw, 1.0)
        .unwrap()
        .to_vec()
        .unwrap();
    let want = complement_xent::reference::forward(&z, &labels, &w, classes, 1.0);
    assert_close(&l, &[want], tol_for(classes * classes), "every label");
    let dz = complement_xent::backward(&tz, &tl, &tw, 1.0).unwrap();
    let want = complement_xent::reference::backward(&z, &labels, &w, classes, 1.0);
    assert_close(
        &dz.to_vec().unwrap(),
        &want,
        tol_for(classes),
        "every label",
    );
    // Each row's gradient sums to 0 (softmax's shift invariance) and is positive at the label:
    // descending it lowers the label's logit, so the adversary learns to disagree.
    for (r, row) in want.chunks(classes).enumerate() {
        let s: f32 = row.iter().sum();
        assert!(s.abs() < 1e-6, "row {r}: {s}");
        assert!(row[r] > 0.0, "row {r}: {row:?}");
    }
}

#[test]
fn margin_reference_backward_matches_finite_differences() {
    // 5 rows of 4 classes: moderate logits, one confident row (label +9: q ≈ 4e-4, still well
    // above the 1e-6 shift's scale), one clamped (label -25), one masked out. The loss is a
    // root: its upstream is the scale (1.3, not 1).
    let (rows, classes) = (5, 4);
    let mut z: Vec<f32> = values(rows * classes, 31).to_vec();
    let labels = [0u32, 3, 1, 2, 1];
    z[classes + 3] += 9.0;
    z[2 * classes + 1] -= 25.0;
    let w = [1.0f32, 1.0, 1.0, 0.0, 1.0];
    let g = complement_xent::reference::backward(&z, &labels, &w, classes, 1.3);
    fd_check(
        &z,
        &g,
        &[1.0],
        |z| {
            vec![complement_xent::reference::forward(
                z, &labels, &w, classes, 1.3,
            )]
        },
        "complement cross-entropy",
    );
    assert!(g[..classes].iter().any(|v| v.abs() > 1e-2), "{g:?}");
    assert!(g[2 * classes..3 * classes].iter().all(|&v| v == 0.0));
    assert!(g[3 * classes..4 * classes].iter().all(|&v| v == 0.0));
}

#[test]
fn margin_bad_shapes_are_errors() {
    let gpu = gpu();
    let z = Tensor::from_slice(&gpu, &[0.0f32; 6], &[6]).unwrap();
    let l = Tensor::from_u32(&gpu, &[0u32; 6], &[6]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0f32; 6], &[6]).unwrap();
    assert!(complement_xent::forward(&z, &l, &w, 1.0).is_err());
    let z = z.reshape(&[2, 3]).unwrap();
    assert!(complement_xent::forward(&z, &l, &w, 1.0).is_err());
    assert!(complement_xent::backward(&z, &w, &w, 1.0).is_err());
}
