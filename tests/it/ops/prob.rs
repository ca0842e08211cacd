//! The ops of the adaptation methods beyond DANN (softmax with temperature, per-sample entropy,
//! entropy weights, rows, detach, class confusion and its loss): GPU kernels against their
//! plain-Rust references on awkward shapes, each reference backward against finite
//! differences with an upstream gradient that is not all ones, and an MCC step on a tiny
//! network against a plain-Rust reference step.
use crate::common::*;
use dak::autograd::{Params, Tape};
use dak::nn::{Dense, DenseConfig, Init};
use dak::ops::{confusion as cf, prob, softmax_xent as sx};
use dak::Tensor;

fn probs(rows: usize, classes: usize, seed: u64) -> Vec<f32> {
    let z: Vec<f32> = values(rows * classes, seed)
        .iter()
        .map(|v| v * 2.0)
        .collect();
    prob::reference::softmax_t(&z, classes, 1.0)
}

fn upstream(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed).iter().map(|v| v * 1.7 + 0.4).collect()
}

#[test]
fn softmax_t_and_entropy_match_reference() {
    let gpu = gpu();
    for &(rows, classes) in prob::reference::SHAPES {
        let what = format!("{rows}x{classes}");
        let z: Vec<f32> = values(rows * classes, 11).iter().map(|v| v * 6.0).collect();
        let tz = Tensor::from_slice(&gpu, &z, &[rows, classes]).unwrap();
        let y = prob::softmax_t(&tz, 2.5).unwrap();
        let want = prob::reference::softmax_t(&z, classes, 2.5);
        assert_close(
            &y.to_vec().unwrap(),
            &want,
            1e-5,
            &format!("softmax_t {what}"),
        );
        let up = upstream(rows * classes, 12);
        let tup = Tensor::from_slice(&gpu, &up, &[rows, classes]).unwrap();
        let dz = prob::softmax_t_backward(&y, &tup, 2.5).unwrap();
        let want_dz = prob::reference::softmax_t_backward(&want, &up, classes, 2.5);
        assert_close(
            &dz.to_vec().unwrap(),
            &want_dz,
            tol_for(classes),
            &format!("softmax_t bwd {what}"),
        );

        let p = probs(rows, classes, 13);
        let tp = Tensor::from_slice(&gpu, &p, &[rows, classes]).unwrap();
        let h = prob::entropy(&tp).unwrap();
        let want_h = prob::reference::entropy(&p, classes);
        assert_close(
            &h.to_vec().unwrap(),
            &want_h,
            tol_for(classes),
            &format!("entropy {what}"),
        );
        let dh = upstream(rows, 14);
        let tdh = Tensor::from_slice(&gpu, &dh, &[rows]).unwrap();
        let dp = prob::entropy_backward(&tp, &tdh).unwrap();
        let want_dp = prob::reference::entropy_backward(&p, &dh, classes);
        assert_close(
            &dp.to_vec().unwrap(),
            &want_dp,
            1e-5,
            &format!("entropy bwd {what}"),
        );

        let w = prob::entropy_weights(&h).unwrap().to_vec().unwrap();
        let want_w = prob::reference::entropy_weights(&want_h);
        assert_close(
            &w,
            &want_w,
            tol_for(rows),
            &format!("entropy weights {what}"),
        );
        let sum: f32 = w.iter().sum();
        assert!(
            (sum - rows as f32).abs() < 1e-3 * rows as f32,
            "weights sum to {sum}, not {rows}"
        );
    }
}

#[test]
fn confusion_matches_reference() {
    let gpu = gpu();
    for &(rows, classes) in cf::reference::SHAPES {
        let what = format!("{rows}x{classes}");
        let p = probs(rows, classes, 21);
        let w: Vec<f32> = values(rows, 22).iter().map(|v| 1.0 + 0.5 * v).collect();
        let (tp, tw) = (
            Tensor::from_slice(&gpu, &p, &[rows, classes]).unwrap(),
            Tensor::from_slice(&gpu, &w, &[rows]).unwrap(),
        );
        let c = cf::matrix(&tp, &tw).unwrap();
        let want_c = cf::reference::matrix(&p, &w, classes);
        assert_close(
            &c.to_vec().unwrap(),
            &want_c,
            tol_for(rows),
            &format!("confusion {what}"),
        );
        let dc = upstream(classes * classes, 23);
        let tdc = Tensor::from_slice(&gpu, &dc, &[classes, classes]).unwrap();
        let dp = cf::matrix_backward(&tp, &tw, &tdc).unwrap();
        let want_dp = cf::reference::matrix_backward(&p, &w, &dc, classes);
        assert_close(
            &dp.to_vec().unwrap(),
            &want_dp,
            tol_for(classes),
            &format!("confusion bwd {what}"),
        );
        let l = cf::loss(&c, 0.8).unwrap().to_vec().unwrap();
        let want_l = cf::reference::loss(&want_c, classes, 0.8);
        assert_close(
            &l,
            &[want_l],
            tol_for(classes),
            &format!("confusion loss {what}"),
        );
        let g = cf::loss_backward(&c, 0.8).unwrap().to_vec().unwrap();
        let want_g = cf::reference::loss_backward(&want_c, classes, 0.8);
        assert_close(&g, &want_g, 1e-4, &format!("confusion loss bwd {what}"));
    }
}

#[test]
fn references_match_finite_differences() {
    let (rows, classes) = (3, 4);
    let z: Vec<f32> = values(rows * classes, 31).iter().map(|v| v * 2.0).collect();
    let up = upstream(rows * classes, 32);
    let y = prob::reference::softmax_t(&z, classes, 2.5);
    let dz = prob::reference::softmax_t_backward(&y, &up, classes, 2.5);
    fd_check(
        &z,
        &dz,
        &up,
        |z| prob::reference::softmax_t(z, classes, 2.5),
        "softmax_t dz",
    );

    let p = probs(rows, classes, 33);
    let dh = upstream(rows, 34);
    let dp = prob::reference::entropy_backward(&p, &dh, classes);
    fd_check(
        &p,
        &dp,
        &dh,
        |p| prob::reference::entropy(p, classes),
        "entropy dp",
    );

    let w: Vec<f32> = values(rows, 35).iter().map(|v| 1.0 + 0.5 * v).collect();
    let dc = upstream(classes * classes, 36);
    let dp = cf::reference::matrix_backward(&p, &w, &dc, classes);
    fd_check(
        &p,
        &dp,
        &dc,
        |p| cf::reference::matrix(p, &w, classes),
        "confusion dp",
    );

    let c = cf::reference::matrix(&p, &w, classes);
    // A root with scale 1.3 and upstream 0.6: the backward must carry both.
    let dcl: Vec<f32> = cf::reference::loss_backward(&c, classes, 1.3)
        .iter()
        .map(|v| v * 0.6)
        .collect();
    fd_check(
        &c,
        &dcl,
        &[0.6],
        |c| vec![cf::reference::loss(c, classes, 1.3)],
        "confusion loss dc",
    );
}

#[test]
fn detach_and_rows_route_gradients() {
    let gpu = gpu();
    let mut params = Params::new();
    let x = values(8, 41);
    let id = params
        .add("x", Tensor::from_slice(&gpu, &x, &[4, 2]).unwrap())
        .unwrap();
    let mut tape = Tape::new();
    let xv = tape.param(&params, id);
    let r = tape.rows(xv, 1, 2).unwrap();
    assert_eq!(tape.tensor(r).to_vec().unwrap(), x[2..6].to_vec());
    let d = tape.detach(r);
    assert!(tape.requires_grad(r) && !tape.requires_grad(d));
    assert!(tape.rows(xv, 3, 2).is_err(), "rows past the end");
    let p = tape.softmax_t(r, 1.0).unwrap();
    let ones = Tensor::from_slice(&gpu, &[1.0, 1.0], &[2]).unwrap();
    let c = tape.confusion(p, &ones).unwrap();
    let loss = tape.confusion_loss(c, 1.0).unwrap();
    let grads = tape.backward(&[loss]).unwrap();
    let g = grads[&id].to_vec().unwrap();
    // Rows outside 1..3 get exactly zero; the selected rows get something.
    assert_eq!(&g[..2], &[0.0, 0.0]);
    assert_eq!(&g[6..], &[0.0, 0.0]);
    assert!(g[2..6].iter().any(|v| v.abs() > 1e-6), "{g:?}");
}

/// The MCC loss of target rows, composed from the references, and its gradient with respect to
/// the target logits (weights detached, as on the tape).
fn mcc_reference(zt: &[f32], classes: usize) -> (f32, Vec<f32>) {
    let t = dak::train::adapt::methods::mcc::TEMPERATURE;
    let p = prob::reference::softmax_t(zt, classes, t);
    let w = prob::reference::entropy_weights(&prob::reference::entropy(&p, classes));
    let c = cf::reference::matrix(&p, &w, classes);
    let loss = cf::reference::loss(&c, classes, 1.0);
    let dc = cf::reference::loss_backward(&c, classes, 1.0);
    let dp = cf::reference::matrix_backward(&p, &w, &dc, classes);
    (
        loss,
        prob::reference::softmax_t_backward(&p, &dp, classes, t),
    )
}

#[test]
fn mcc_step_matches_reference_step() {
    let gpu = gpu();
    let (n_source, n_target, inp, classes) = (2, 3, 5, 3);
    let n = n_source + n_target;
    let mut params = Params::new();
    let mut init = Init::new(7);
    let fc = Dense::new(
        &gpu,
        &mut params,
        "label.fc1",
        DenseConfig::linear(inp, classes),
        &mut init,
    )
    .unwrap();
    let x: Vec<f32> = values(n * inp, 51).iter().map(|v| v * 2.0).collect();
    let labels = [2u32, 0, 0, 0, 0];
    let weights = [1.0f32, 1.0, 0.0, 0.0, 0.0];
    let (tl, tw) = (
        Tensor::from_u32(&gpu, &labels, &[n]).unwrap(),
        Tensor::from_slice(&gpu, &weights, &[n]).unwrap(),
    );
    let mut tape = Tape::new();
    let xv = tape.input(Tensor::from_slice(&gpu, &x, &[n, inp]).unwrap());
    let z = fc.forward(&mut tape, &params, xv).unwrap();
    let zt = tape.tensor(z).to_vec().unwrap();
    let label_loss = tape.softmax_xent(z, &tl, &tw, 1.0).unwrap();
    let mcc = dak::train::adapt::methods::mcc_loss(&mut tape, z, n_source, n_target).unwrap();
    let mcc_value = tape.tensor(mcc).to_vec().unwrap()[0];
    let grads = tape.backward(&[label_loss, mcc]).unwrap();

    // Reference: dz = xent gradient + the MCC gradient on the target rows; dW = dzᵀ·x; db = Σ dz.
    let (want_mcc, dzt) = mcc_reference(&zt[n_source * classes..], classes);
    assert_close(&[mcc_value], &[want_mcc], 1e-5, "MCC loss");
    let mut dz = sx::reference::backward(&zt, &labels, &weights, classes, 1.0);
    for (a, b) in dz[n_source * classes..].iter_mut().zip(&dzt) {
        *a += b;
    }
    let mut dw = vec![0f32; classes * inp];
    let mut db = vec![0f32; classes];
    for r in 0..n {
        for o in 0..classes {
            db[o] += dz[r * classes + o];
            for i in 0..inp {
                dw[o * inp + i] += dz[r * classes + o] * x[r * inp + i];
            }
        }
    }
    let w_id = params.find("label.fc1.weight").unwrap();
    let b_id = params.find("label.fc1.bias").unwrap();
    assert_close(&grads[&w_id].to_vec().unwrap(), &dw, 1e-5, "dW");
    assert_close(&grads[&b_id].to_vec().unwrap(), &db, 1e-5, "db");
    assert!(
        dzt.iter().any(|v| v.abs() > 1e-4),
        "the MCC gradient is not trivially zero"
    );
}
