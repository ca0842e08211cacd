//! Every CPU reference backward against central finite differences of its forward, with an
//! upstream gradient that is not all ones (a backward that ignores it fails here).
use crate::common::{fd_check, values};
use dak::ops::{bce, elementwise as ew, matmul, softmax_xent as sx};

#[test]
fn dense_backward() {
    let (batch, inp, out) = (3, 5, 4);
    let x = values(batch * inp, 1);
    let w = values(out * inp, 2);
    let b = values(out, 3);
    let up = values(batch * out, 4)
        .iter()
        .map(|v| v * 3.0 + 0.5)
        .collect::<Vec<_>>();
    let (dx, dw, db) = matmul::reference::dense_backward(&x, &w, &up, batch, inp, out);
    fd_check(
        &x,
        &dx,
        &up,
        |x| matmul::reference::dense_forward(x, &w, Some(&b), batch, inp, out),
        "dense dX",
    );
    fd_check(
        &w,
        &dw,
        &up,
        |w| matmul::reference::dense_forward(&x, w, Some(&b), batch, inp, out),
        "dense dW",
    );
    fd_check(
        &b,
        &db,
        &up,
        |b| matmul::reference::dense_forward(&x, &w, Some(b), batch, inp, out),
        "dense db",
    );
}

#[test]
fn bias_relu_backward() {
    let (outer, channels, inner) = (2, 3, 4);
    let n = outer * channels * inner;
    // Keep inputs away from the ReLU kink so differences are smooth.
    let x: Vec<f32> = values(n, 5)
        .iter()
        .map(|v| if v.abs() < 0.1 { v + 0.3 } else { *v })
        .collect();
    let bias = vec![0.0f32; channels];
    let up: Vec<f32> = values(n, 6).iter().map(|v| v * 2.0 - 0.3).collect();
    let y = ew::reference::bias_act(&x, Some(&bias), channels, inner, true);
    let dx = ew::reference::relu_grad(&up, &y);
    fd_check(
        &x,
        &dx,
        &up,
        |x| ew::reference::bias_act(x, Some(&bias), channels, inner, true),
        "relu dx",
    );
    let dpre = dx.clone();
    let db = ew::reference::bias_grad(&dpre, outer, channels, inner);
    fd_check(
        &bias,
        &db,
        &up,
        |b| ew::reference::bias_act(&x, Some(b), channels, inner, true),
        "bias db",
    );
}

#[test]
fn softmax_xent_backward() {
    let (rows, classes) = (4, 5);
    let z: Vec<f32> = values(rows * classes, 7).iter().map(|v| v * 3.0).collect();
    let labels = vec![0u32, 4, 2, 1];
    let w = vec![1.0f32, 0.0, 1.0, 1.0];
    let up = [1.7f32]; // a loss coefficient that is not 1
    let dz = sx::reference::backward(&z, &labels, &w, classes, 0.8);
    let dz_up: Vec<f32> = dz.iter().map(|v| v * up[0]).collect();
    fd_check(
        &z,
        &dz_up,
        &up,
        |z| vec![sx::reference::forward(z, &labels, &w, classes, 0.8)],
        "softmax-xent dz",
    );
}

#[test]
fn bce_backward() {
    let x: Vec<f32> = values(6, 8).iter().map(|v| v * 4.0).collect();
    let t = vec![1.0f32, 0.0, 1.0, 0.0, 0.5, 1.0];
    let up = [-2.5f32];
    let dx: Vec<f32> = bce::reference::backward(&x, &t, 0.6)
        .iter()
        .map(|v| v * up[0])
        .collect();
    fd_check(
        &x,
        &dx,
        &up,
        |x| vec![bce::reference::forward(x, &t, 0.6)],
        "bce dx",
    );
}

#[test]
fn dropout_backward_is_the_same_mask() {
    let x = values(50, 9);
    let up = values(50, 10);
    let dx = ew::reference::dropout(&up, 0.4, 77);
    fd_check(
        &x,
        &dx,
        &up,
        |x| ew::reference::dropout(x, 0.4, 77),
        "dropout dx",
    );
}

#[test]
fn batch_norm_backward() {
    use dak::ops::batch_norm::{reference, EPS};
    let shape = [3, 2, 2, 3];
    let n: usize = shape.iter().product();
    let x: Vec<f32> = values(n, 21).iter().map(|v| 2.0 * v + 0.5).collect();
    let gamma = [1.3f32, 0.7];
    let beta = [0.2f32, -0.4];
    let up: Vec<f32> = values(n, 22).iter().map(|v| v * 2.0 + 0.3).collect();
    let (mean, var) = reference::stats(&x, &shape);
    let (dx, dg, db) = reference::backward(&up, &x, &shape, &mean, &var, &gamma, EPS, true);
    let fwd = |x: &[f32], g: &[f32], b: &[f32]| reference::forward_train(x, &shape, g, b, EPS);
    fd_check(&x, &dx, &up, |x| fwd(x, &gamma, &beta), "batch norm dx");
    fd_check(&gamma, &dg, &up, |g| fwd(&x, g, &beta), "batch norm dγ");
    fd_check(&beta, &db, &up, |b| fwd(&x, &gamma, b), "batch norm dβ");
}

#[test]
fn padded_max_pool_backward() {
    use dak::ops::pool::{reference, PoolGeometry};
    // Distinct values (no ties), so the max is differentiable at every step of the check.
    let g = PoolGeometry::padded(&[1, 2, 5, 4], 3, 2, 1, "gradcheck").unwrap();
    let x: Vec<f32> = (0..g.x_len())
        .map(|i| ((i * 7919) % 97) as f32 * 0.1 - 4.0)
        .collect();
    let up: Vec<f32> = values(g.y_len(), 31)
        .iter()
        .map(|v| v * 2.0 + 0.3)
        .collect();
    let (_, arg) = reference::max_pool2d(&g, &x);
    let dx = reference::max_pool2d_backward(&g, &up, &arg);
    fd_check(
        &x,
        &dx,
        &up,
        |x| reference::max_pool2d(&g, x).0,
        "padded max pool dx",
    );
}
