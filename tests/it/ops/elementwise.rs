use crate::common::*;
use dak::ops::elementwise::{self as ew, reference};
use dak::Tensor;

use reference::SHAPES;

#[test]
fn bias_act_matches_reference() {
    let gpu = gpu();
    for (s, shape) in SHAPES.iter().enumerate() {
        let n: usize = shape.iter().product();
        let x = values(n, s as u64);
        let t = Tensor::from_slice(&gpu, &x, shape).unwrap();
        let (_, channels, inner) = ew::channel_layout(&t);
        let bias = values(channels, 99 + s as u64);
        let tb = Tensor::from_slice(&gpu, &bias, &[channels]).unwrap();
        for (with_bias, relu) in [(true, true), (true, false), (false, true)] {
            let y = ew::bias_act(&t, with_bias.then_some(&tb), relu).unwrap();
            let want =
                reference::bias_act(&x, with_bias.then_some(&bias[..]), channels, inner, relu);
            assert_close(
                &y.to_vec().unwrap(),
                &want,
                1e-6,
                &format!("bias_act {shape:?}"),
            );
        }
    }
}

#[test]
fn bias_grad_and_relu_grad_match_reference() {
    with_cpu_and_portable_paths(bias_and_relu_grads);
}

fn bias_and_relu_grads(gpu: &dak::Gpu, path: &str) {
    for (s, shape) in SHAPES.iter().enumerate() {
        let n: usize = shape.iter().product();
        let dy = values(n, 7 + s as u64);
        let y = values(n, 17 + s as u64);
        let tdy = Tensor::from_slice(gpu, &dy, shape).unwrap();
        let ty = Tensor::from_slice(gpu, &y, shape).unwrap();
        let (outer, channels, inner) = ew::channel_layout(&tdy);
        let db = ew::bias_grad(&tdy).unwrap().to_vec().unwrap();
        assert_close(
            &db,
            &reference::bias_grad(&dy, outer, channels, inner),
            tol_for(outer * inner),
            &format!("bias_grad {shape:?}, {path}"),
        );
        let dx = ew::relu_grad(&tdy, &ty).unwrap().to_vec().unwrap();
        assert_close(
            &dx,
            &reference::relu_grad(&dy, &y),
            0.0,
            &format!("relu_grad {shape:?}, {path}"),
        );
    }
}

#[test]
fn scale_accumulate_and_large_tensors() {
    let gpu = gpu();
    // 70,000 workgroups' worth of elements exercises the 2-D grid.
    for n in [1usize, 255, 257, 65535 * 256 + 1000] {
        let x = values(n, n as u64);
        let y0 = values(n, n as u64 + 1);
        let tx = Tensor::from_slice(&gpu, &x, &[n]).unwrap();
        let ty = Tensor::from_slice(&gpu, &y0, &[n]).unwrap();
        let s = ew::scale(&tx, -0.75).unwrap().to_vec().unwrap();
        let want: Vec<f32> = x.iter().map(|v| -0.75 * v).collect();
        assert_close(&s, &want, 0.0, "scale");
        ew::accumulate(&ty, &tx).unwrap();
        let got = ty.to_vec().unwrap();
        let want: Vec<f32> = x.iter().zip(&y0).map(|(a, b)| a + b).collect();
        assert_close(&got, &want, 1e-7, "accumulate");
    }
}

#[test]
fn dropout_is_seeded_and_its_own_backward() {
    let gpu = gpu();
    let n = 10_007;
    let x = values(n, 5);
    let tx = Tensor::from_slice(&gpu, &x, &[n]).unwrap();
    let rate = 0.3;
    let y = ew::dropout(&tx, rate, 42).unwrap().to_vec().unwrap();
    assert_close(&y, &reference::dropout(&x, rate, 42), 1e-6, "dropout");
    let again = ew::dropout(&tx, rate, 42).unwrap().to_vec().unwrap();
    assert_eq!(y, again, "same seed, same mask");
    let other = ew::dropout(&tx, rate, 43).unwrap().to_vec().unwrap();
    assert_ne!(y, other, "another seed, another mask");
    let dropped = (0..n)
        .filter(|&i| !reference::dropout_keep(i as u32, 42, rate))
        .count();
    let frac = dropped as f32 / n as f32;
    assert!((frac - rate).abs() < 0.02, "dropped fraction {frac}");
    assert!(ew::dropout(&tx, 1.0, 1).is_err());
}
