mod common;
use common::*;
use dak::ops::optim::{self, reference, Adam, Sgd};
use dak::Tensor;

#[test]
fn sgd_variants_match_reference_over_steps() {
    with_cpu_and_portable_paths(sgd_over_steps);
}

fn sgd_over_steps(gpu: &dak::Gpu, path: &str) {
    let n = 1027;
    for h in [
        Sgd {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-3,
        },
        Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
        },
    ] {
        let mut w = values(n, 1);
        let mut v = vec![0f32; n];
        let tw = Tensor::from_slice(gpu, &w, &[n]).unwrap();
        let tv = Tensor::zeros(gpu, &[n]).unwrap();
        for step in 0..5 {
            let g = values(n, 10 + step);
            let tg = Tensor::from_slice(gpu, &g, &[n]).unwrap();
            optim::sgd_step(&tw, &tg, &tv, h).unwrap();
            reference::sgd_step(&mut w, &g, &mut v, h);
        }
        assert_close(&tw.to_vec().unwrap(), &w, 1e-6, &format!("{h:?}, {path}"));
        assert_close(&tv.to_vec().unwrap(), &v, 1e-6, "velocity");
    }
}

#[test]
fn adam_matches_reference_over_steps() {
    with_cpu_and_portable_paths(adam_over_steps);
}

fn adam_over_steps(gpu: &dak::Gpu, path: &str) {
    let n = 513;
    let mut w = values(n, 3);
    let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
    let tw = Tensor::from_slice(gpu, &w, &[n]).unwrap();
    let tm = Tensor::zeros(gpu, &[n]).unwrap();
    let tv = Tensor::zeros(gpu, &[n]).unwrap();
    for step in 1..=6 {
        let h = Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
            step,
        };
        let g = values(n, 40 + step as u64);
        let tg = Tensor::from_slice(gpu, &g, &[n]).unwrap();
        optim::adam_step(&tw, &tg, &tm, &tv, h).unwrap();
        reference::adam_step(&mut w, &g, &mut m, &mut v, h);
    }
    assert_close(
        &tw.to_vec().unwrap(),
        &w,
        1e-5,
        &format!("adam weights, {path}"),
    );
    assert_close(&tm.to_vec().unwrap(), &m, 1e-5, "adam m");
    assert_close(&tv.to_vec().unwrap(), &v, 1e-5, "adam v");
}
