//! Convolutional graphs on the tape: gradients against finite differences, and learning.
use crate::common::*;
use dak::autograd::{Params, Tape};
use dak::nn::{self, Conv2d, Conv2dConfig, Dense, DenseConfig, Init, MaxPool2d};
use dak::ops::conv2d::Spec;
use dak::ops::softmax_xent;
use dak::optim::{Optimizer, Rule};
use dak::{DType, Gpu, Tensor};

struct Cnn {
    params: Params,
    conv: Conv2d,
    pool: MaxPool2d,
    fc: Dense,
}

fn cnn(gpu: &Gpu, cin: usize, side: usize, classes: usize, seed: u64) -> Cnn {
    let mut params = Params::new();
    let mut init = Init::new(seed);
    let conv = Conv2d::new(
        gpu,
        &mut params,
        "features.0",
        Conv2dConfig::relu(cin, 4, 3, Spec::new(1, 1)),
        &mut init,
    )
    .unwrap();
    let pool = MaxPool2d {
        kernel: 2,
        stride: 2,
    };
    let feat = 4 * (side / 2) * (side / 2);
    let fc = Dense::new(
        gpu,
        &mut params,
        "head.fc",
        DenseConfig::linear(feat, classes),
        &mut init,
    )
    .unwrap();
    Cnn {
        params,
        conv,
        pool,
        fc,
    }
}

fn logits(net: &Cnn, tape: &mut Tape, x: &Tensor) -> dak::autograd::Var {
    let xv = tape.input(x.clone());
    let h = net.conv.forward(tape, &net.params, xv).unwrap();
    let h = net.pool.forward(tape, h).unwrap();
    let h = nn::flatten(tape, h).unwrap();
    net.fc.forward(tape, &net.params, h).unwrap()
}

#[test]
fn conv_relu_pool_dense_xent_matches_finite_differences() {
    let gpu = gpu();
    let net = cnn(&gpu, 2, 6, 3, 21);
    let x = Tensor::from_slice(&gpu, &values(2 * 2 * 6 * 6, 5), &[2, 2, 6, 6]).unwrap();
    let y = Tensor::from_u32(&gpu, &[2, 0], &[2]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0, 1.0], &[2]).unwrap();
    let run = || {
        let mut tape = Tape::new();
        let z = logits(&net, &mut tape, &x);
        let loss = tape.softmax_xent(z, &y, &w, 0.8).unwrap();
        let lt = tape.tensor(loss).clone();
        let grads = tape.backward(&[loss]).unwrap();
        (lt.to_vec().unwrap()[0] as f64, grads)
    };
    let (_, grads) = run();
    for (id, p) in net.params.iter() {
        let host = p.value.to_vec().unwrap();
        let g = grads[&id].to_vec().unwrap();
        for i in 0..host.len() {
            let eps = 2e-3;
            let mut h = host.clone();
            h[i] += eps;
            p.value.write(&h).unwrap();
            let plus = run().0;
            h[i] -= 2.0 * eps;
            p.value.write(&h).unwrap();
            let minus = run().0;
            p.value.write(&host).unwrap();
            let numeric = (plus - minus) / (2.0 * eps as f64);
            assert!(
                (numeric - g[i] as f64).abs() < 5e-3 * (1.0 + numeric.abs()),
                "{}[{i}]: fd {numeric} vs {}",
                p.name,
                g[i]
            );
        }
    }
}

#[test]
fn a_small_cnn_learns_a_synthetic_image_task() {
    let gpu = gpu();
    // 64 one-channel 8x8 images: class = which quadrant holds a bright 3x3 blob, on noise.
    let (n, side) = (64, 8);
    let noise = values(n * side * side, 77);
    let mut xs = vec![0f32; n * side * side];
    let mut labels = Vec::new();
    for i in 0..n {
        let class = i % 4;
        labels.push(class as u32);
        let (oy, ox) = ((class / 2) * 4 + (i / 4) % 2, (class % 2) * 4 + (i / 8) % 2);
        for y in 0..side {
            for x in 0..side {
                let blob = y >= oy && y < oy + 3 && x >= ox && x < ox + 3;
                xs[(i * side + y) * side + x] =
                    0.3 * noise[(i * side + y) * side + x] + if blob { 1.0 } else { 0.0 };
            }
        }
    }
    let x = Tensor::from_slice(&gpu, &xs, &[n, 1, side, side]).unwrap();
    let y = Tensor::from_u32(&gpu, &labels, &[n]).unwrap();
    let w = Tensor::from_slice(&gpu, &vec![1.0; n], &[n]).unwrap();
    let net = cnn(&gpu, 1, side, 4, 3);
    let mut opt = Optimizer::new(Rule::adam());
    for _ in 0..80 {
        let mut tape = Tape::new();
        let z = logits(&net, &mut tape, &x);
        let loss = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
        let grads = tape.backward(&[loss]).unwrap();
        opt.step(&net.params, &grads, 0.02).unwrap();
    }
    let mut tape = Tape::no_grad();
    let z = logits(&net, &mut tape, &x);
    let counts = Tensor::zeros_of(&gpu, &[2], DType::U32).unwrap();
    softmax_xent::argmax_correct(tape.tensor(z), &y, &w, &counts).unwrap();
    let c = counts.to_vec_u32().unwrap();
    let acc = c[0] as f32 / c[1] as f32;
    assert!(acc >= 0.99, "training accuracy {acc}");
}
