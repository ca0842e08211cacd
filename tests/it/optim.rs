use crate::common::*;
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

/// Parameter sizes around the 256-element blocks of the fused kernels, in two learning-rate
/// groups (`backbone.*` at 0.1x, `head.*` at 1x).
const SIZES: [(&str, usize); 6] = [
    ("backbone.conv.weight", 32 * 75),
    ("backbone.conv.bias", 1),
    ("backbone.fc.weight", 257),
    ("head.fc.weight", 256),
    ("head.fc.bias", 255),
    ("head.out.weight", 1027),
];

fn store(gpu: &dak::Gpu) -> dak::autograd::Params {
    let mut params = dak::autograd::Params::new();
    for (i, (name, n)) in SIZES.iter().enumerate() {
        let t = Tensor::from_slice(gpu, &values(*n, 100 + i as u64), &[*n]).unwrap();
        params.add(name, t).unwrap();
    }
    params.set_lr_mult("backbone", 0.1);
    params
}

/// Gradients of step `step`; on odd steps the head's last weight has none (a source-only step
/// of DANN leaves the domain head out), and on step 3 nothing in the backbone has one.
fn grads_at(
    gpu: &dak::Gpu,
    params: &dak::autograd::Params,
    step: u64,
) -> std::collections::BTreeMap<dak::autograd::ParamId, Tensor> {
    let mut grads = std::collections::BTreeMap::new();
    for (i, (id, p)) in params.iter().enumerate() {
        if (step % 2 == 1 && p.name == "head.out.weight")
            || (step == 3 && p.name.starts_with("backbone"))
        {
            continue;
        }
        let n = p.value.numel();
        let g = Tensor::from_slice(gpu, &values(n, 1000 * step + i as u64), &[n]).unwrap();
        grads.insert(id, g);
    }
    grads
}

fn rules() -> Vec<Rule> {
    vec![
        Rule::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        Rule::sgd_momentum(),
        Rule::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
        },
        Rule::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-3,
        },
        Rule::adam(),
        Rule::Adam {
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 1e-4,
        },
    ]
}

use dak::optim::{Optimizer, Rule};

#[test]
fn fused_optimizer_equals_per_parameter_path() {
    // Own devices: the test counts dispatches, which other tests on a shared device would add.
    fused_equals_per_parameter(&own_gpu(), "default paths");
    let plain = own_gpu();
    plain.set_cpu_paths(false);
    fused_equals_per_parameter(&plain, "portable paths");
}

fn fused_equals_per_parameter(gpu: &dak::Gpu, path: &str) {
    for rule in rules() {
        let (a, b) = (store(gpu), store(gpu));
        let mut fused = Optimizer::new(rule);
        let mut single = Optimizer::per_parameter(rule);
        for step in 0..6 {
            let lr = 0.05 / (1.0 + step as f32);
            let before = gpu.dispatches_of("optim/");
            fused.step(&a, &grads_at(gpu, &a, step), lr).unwrap();
            assert_eq!(
                gpu.dispatches_of("optim/"),
                before + 1,
                "one dispatch per fused step"
            );
            single.step(&b, &grads_at(gpu, &b, step), lr).unwrap();
            // The same values, bit for bit.
            for ((_, pa), (_, pb)) in a.iter().zip(b.iter()) {
                assert_eq!(
                    pa.value.to_vec().unwrap(),
                    pb.value.to_vec().unwrap(),
                    "{rule:?} step {step} {} ({path})",
                    pa.name
                );
            }
        }
        let sa = fused.named_state(&a).unwrap();
        let sb = single.named_state(&b).unwrap();
        assert_eq!(sa.len(), sb.len(), "{rule:?}: state entries");
        for ((na, ta), (nb, tb)) in sa.iter().zip(&sb) {
            assert_eq!(na, nb);
            assert_eq!(
                ta.to_vec().unwrap(),
                tb.to_vec().unwrap(),
                "{rule:?} state {na}"
            );
        }
    }
}

/// Freezing a group mid-run rebuilds the layout and keeps the state of the others; a
/// checkpoint's state loaded into a fresh optimizer continues identically.
#[test]
fn fused_optimizer_survives_freeze_and_state_reload() {
    let gpu = gpu();
    for rule in [Rule::sgd_momentum(), Rule::adam()] {
        let (mut a, mut b) = (store(&gpu), store(&gpu));
        let mut fused = Optimizer::new(rule);
        let mut single = Optimizer::per_parameter(rule);
        for step in 0..6 {
            if step == 2 {
                a.freeze("backbone").unwrap();
                b.freeze("backbone").unwrap();
            }
            if step == 4 {
                // Reload the fused optimizer's state into a new fused optimizer.
                let named: std::collections::BTreeMap<String, Tensor> =
                    fused.named_state(&a).unwrap().into_iter().collect();
                let mut again = Optimizer::new(rule);
                again.load_state(&a, fused.steps, &named).unwrap();
                fused = again;
            }
            let mut g = grads_at(&gpu, &a, step);
            g.retain(|id, _| a.get(*id).trainable);
            fused.step(&a, &g, 0.01).unwrap();
            let mut g = grads_at(&gpu, &b, step);
            g.retain(|id, _| b.get(*id).trainable);
            single.step(&b, &g, 0.01).unwrap();
        }
        for ((_, pa), (_, pb)) in a.iter().zip(b.iter()) {
            assert_eq!(
                pa.value.to_vec().unwrap(),
                pb.value.to_vec().unwrap(),
                "{rule:?} {}",
                pa.name
            );
        }
    }
}
