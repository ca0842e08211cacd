use crate::common::*;
use dak::ops::{bce, softmax_xent as sx};
use dak::Tensor;

fn labels(rows: usize, classes: usize, seed: u64) -> Vec<u32> {
    values(rows, seed)
        .iter()
        .map(|v| ((v + 1.0) * 0.5 * classes as f32) as u32 % classes as u32)
        .collect()
}

#[test]
fn softmax_xent_matches_reference() {
    let gpu = gpu();
    for &(rows, classes) in sx::reference::SHAPES {
        let z: Vec<f32> = values(rows * classes, rows as u64)
            .iter()
            .map(|v| v * 5.0)
            .collect();
        let y = labels(rows, classes, classes as u64);
        let w: Vec<f32> = (0..rows)
            .map(|i| if i % 3 == 2 { 0.0 } else { 1.0 })
            .collect();
        let tz = Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap();
        let ty = Tensor::from_u32(&gpu, &y, &[rows]).unwrap();
        let tw = Tensor::from_slice(&gpu, &w, &[rows]).unwrap();
        let loss = sx::forward(&tz, &ty, &tw, 0.7).unwrap().to_vec().unwrap();
        let want = sx::reference::forward(&z, &y, &w, classes, 0.7);
        assert_close(&loss, &[want], 1e-5, &format!("xent fwd {rows}x{classes}"));
        let dz = sx::backward(&tz, &ty, &tw, 0.7).unwrap().to_vec().unwrap();
        assert_close(
            &dz,
            &sx::reference::backward(&z, &y, &w, classes, 0.7),
            1e-6,
            "xent bwd",
        );
        let counts = Tensor::zeros_of(&gpu, &[2], dak::DType::U32).unwrap();
        let pred = sx::argmax_correct(&tz, &ty, &tw, &counts)
            .unwrap()
            .to_vec_u32()
            .unwrap();
        let want_pred = sx::reference::argmax(&z, classes);
        assert_eq!(pred, want_pred);
        sx::argmax_correct(&tz, &ty, &tw, &counts).unwrap();
        let correct = (0..rows)
            .filter(|&i| w[i] > 0.0 && want_pred[i] == y[i])
            .count() as u32;
        let counted = w.iter().filter(|&&v| v > 0.0).count() as u32;
        assert_eq!(
            counts.to_vec_u32().unwrap(),
            vec![2 * correct, 2 * counted],
            "counters accumulate"
        );
    }
}

#[test]
fn softmax_xent_is_stable_for_huge_logits_and_ignores_masked_samples() {
    let gpu = gpu();
    let z = vec![1e4, -1e4, 0.0, -1e4, 1e4, 3.0];
    let y = vec![1u32, 0];
    let w = vec![1.0f32, 0.0];
    let tz = Tensor::from_slice(&gpu, &z, &[2, 3]).unwrap();
    let ty = Tensor::from_u32(&gpu, &y, &[2]).unwrap();
    let tw = Tensor::from_slice(&gpu, &w, &[2]).unwrap();
    let loss = sx::forward(&tz, &ty, &tw, 1.0).unwrap().to_vec().unwrap()[0];
    assert!(loss.is_finite() && (loss - 2e4).abs() < 1.0, "loss {loss}");
    let dz = sx::backward(&tz, &ty, &tw, 1.0).unwrap().to_vec().unwrap();
    assert!(dz.iter().all(|v| v.is_finite()));
    assert_close(&dz[..3], &[1.0, -1.0, 0.0], 1e-6, "saturated gradient");
    assert_eq!(&dz[3..], &[0.0, 0.0, 0.0], "masked sample has no gradient");
    // Changing the masked sample's logits changes nothing.
    let z2 = vec![1e4, -1e4, 0.0, 5.0, 5.0, -5.0];
    let tz2 = Tensor::from_slice(&gpu, &z2, &[2, 3]).unwrap();
    let loss2 = sx::forward(&tz2, &ty, &tw, 1.0).unwrap().to_vec().unwrap()[0];
    assert_eq!(loss, loss2);
}

#[test]
fn bce_matches_reference_and_is_stable() {
    let gpu = gpu();
    for &n in bce::reference::LENGTHS {
        let x: Vec<f32> = values(n, n as u64).iter().map(|v| v * 8.0).collect();
        let t: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
        let tx = Tensor::from_slice(&gpu, &x, &[n, 1]).unwrap();
        let tt = Tensor::from_slice(&gpu, &t, &[n, 1]).unwrap();
        let l = bce::forward(&tx, &tt, 1.3).unwrap().to_vec().unwrap();
        assert_close(&l, &[bce::reference::forward(&x, &t, 1.3)], 1e-5, "bce fwd");
        let d = bce::backward(&tx, &tt, 1.3).unwrap().to_vec().unwrap();
        assert_close(&d, &bce::reference::backward(&x, &t, 1.3), 1e-6, "bce bwd");
    }
    let x = vec![100.0f32, -100.0, 100.0, -100.0];
    let t = vec![1.0f32, 0.0, 0.0, 1.0];
    let tx = Tensor::from_slice(&gpu, &x, &[4]).unwrap();
    let tt = Tensor::from_slice(&gpu, &t, &[4]).unwrap();
    let l = bce::forward(&tx, &tt, 1.0).unwrap().to_vec().unwrap()[0];
    assert!(
        (l - 50.0).abs() < 1e-3,
        "two confident right, two confidently wrong by 100: {l}"
    );
    let d = bce::backward(&tx, &tt, 1.0).unwrap().to_vec().unwrap();
    assert_close(&d, &[0.0, 0.0, 0.25, -0.25], 1e-6, "bce saturated grads");
}

#[test]
fn shape_errors_are_clear() {
    let gpu = gpu();
    let z = Tensor::from_slice(&gpu, &[0.0; 6], &[2, 3]).unwrap();
    let y = Tensor::from_u32(&gpu, &[0, 1, 2], &[3]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0; 2], &[2]).unwrap();
    let err = sx::forward(&z, &y, &w, 1.0).unwrap_err().to_string();
    assert!(err.contains("labels") && err.contains("[3]"), "{err}");
    let err = sx::forward(&z, &w, &w, 1.0).unwrap_err().to_string();
    assert!(err.contains("U32"), "{err}");
}

#[test]
fn binary_correct_counts_sign_agreement_and_accumulates() {
    let gpu = gpu();
    let n = 130;
    let x: Vec<f32> = values(n, 41).iter().map(|v| v * 3.0).collect();
    let t: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { 0.0 } else { 1.0 }).collect();
    let tx = Tensor::from_slice(&gpu, &x, &[n, 1]).unwrap();
    let tt = Tensor::from_slice(&gpu, &t, &[n, 1]).unwrap();
    let counts = Tensor::zeros_of(&gpu, &[2], dak::DType::U32).unwrap();
    bce::binary_correct(&tx, &tt, &counts).unwrap();
    bce::binary_correct(&tx, &tt, &counts).unwrap();
    let want = bce::reference::binary_correct(&x, &t);
    assert_eq!(counts.to_vec_u32().unwrap(), vec![2 * want, 2 * n as u32]);
}
