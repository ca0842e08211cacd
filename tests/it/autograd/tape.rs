//! The tape, parameters, optimizers and checkpoints working together on the GPU.
use crate::common::*;
use dak::autograd::{Lambda, ParamId, Params, Tape};
use dak::nn::{Dense, DenseConfig, DenseInit, Init};
use dak::optim::{Optimizer, Rule};
use dak::train::checkpoint;
use dak::{Gpu, Tensor};
use std::collections::{BTreeMap, BTreeSet};

/// x -> dense(relu) -> [GRL] -> dense -> BCE (scale 1.3)
struct Net {
    params: Params,
    l1: Dense,
    l2: Dense,
}

fn net(gpu: &Gpu, seed: u64) -> Net {
    let mut params = Params::new();
    let mut init = Init::new(seed);
    let l1 = Dense::new(
        gpu,
        &mut params,
        "base.fc",
        DenseConfig::relu(5, 6),
        &mut init,
    )
    .unwrap();
    let l2 = Dense::new(
        gpu,
        &mut params,
        "head.fc",
        DenseConfig::linear(6, 1),
        &mut init,
    )
    .unwrap();
    Net { params, l1, l2 }
}

fn loss_and_grads(
    n: &Net,
    x: &Tensor,
    t: &Tensor,
    grl: Option<&Lambda>,
) -> (f32, BTreeMap<ParamId, Vec<f32>>) {
    let mut tape = Tape::new();
    let xv = tape.input(x.clone());
    let mut h = n.l1.forward(&mut tape, &n.params, xv).unwrap();
    if let Some(l) = grl {
        h = tape.grad_reverse(h, l);
    }
    let z = n.l2.forward(&mut tape, &n.params, h).unwrap();
    let loss = tape.bce(z, t, 1.3).unwrap();
    let loss_t = tape.tensor(loss).clone();
    let grads = tape.backward(&[loss]).unwrap();
    let grads = grads
        .into_iter()
        .map(|(k, v)| (k, v.to_vec().unwrap()))
        .collect();
    (loss_t.to_vec().unwrap()[0], grads)
}

#[test]
fn tape_gradients_match_finite_differences_through_grl() {
    let gpu = gpu();
    let n = net(&gpu, 3);
    let x = Tensor::from_slice(&gpu, &values(4 * 5, 11), &[4, 5]).unwrap();
    let t = Tensor::from_slice(&gpu, &[1.0, 0.0, 1.0, 0.0], &[4, 1]).unwrap();
    let lambda = Lambda::new(0.7);
    let (_, plain) = loss_and_grads(&n, &x, &t, None);
    let (_, reversed) = loss_and_grads(&n, &x, &t, Some(&lambda));
    for (id, p) in n.params.iter() {
        let host = p.value.to_vec().unwrap();
        let below_grl = p.name.starts_with("base");
        for i in 0..host.len() {
            let eps = 1e-2;
            let mut h = host.clone();
            h[i] += eps;
            p.value.write(&h).unwrap();
            let plus = loss_and_grads(&n, &x, &t, None).0 as f64;
            h[i] -= 2.0 * eps;
            p.value.write(&h).unwrap();
            let minus = loss_and_grads(&n, &x, &t, None).0 as f64;
            p.value.write(&host).unwrap();
            let numeric = (plus - minus) / (2.0 * eps as f64);
            let analytic = plain[&id][i] as f64;
            assert!(
                (numeric - analytic).abs() < 2e-3 * (1.0 + numeric.abs()),
                "{}[{i}]: fd {numeric} vs {analytic}",
                p.name
            );
            // Below the GRL the gradient is -lambda times the plain one; above it is unchanged.
            let want = if below_grl {
                -0.7 * plain[&id][i]
            } else {
                plain[&id][i]
            };
            assert!(
                (reversed[&id][i] - want).abs() < 1e-6,
                "{}[{i}] through GRL",
                p.name
            );
        }
    }
    // Lambda is read at backward time: a new value takes effect on the next step.
    lambda.set(0.2);
    let (_, again) = loss_and_grads(&n, &x, &t, Some(&lambda));
    let w = n.l1.weight;
    for (a, b) in again[&w].iter().zip(&plain[&w]) {
        assert!((a + 0.2 * b).abs() < 1e-6);
    }
}

#[test]
fn softmax_xent_graph_with_mask_matches_finite_differences() {
    let gpu = gpu();
    let mut params = Params::new();
    let mut init = Init::new(9);
    let l1 = Dense::new(&gpu, &mut params, "a", DenseConfig::relu(3, 7), &mut init).unwrap();
    let l2 = Dense::new(&gpu, &mut params, "b", DenseConfig::linear(7, 4), &mut init).unwrap();
    let x = Tensor::from_slice(&gpu, &values(5 * 3, 2), &[5, 3]).unwrap();
    let y = Tensor::from_u32(&gpu, &[0, 3, 1, 2, 1], &[5]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0, 1.0, 0.0, 1.0, 0.0], &[5]).unwrap();
    let run = |params: &Params| {
        let mut tape = Tape::new();
        let xv = tape.input(x.clone());
        let h = l1.forward(&mut tape, params, xv).unwrap();
        let z = l2.forward(&mut tape, params, h).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 0.6).unwrap();
        let lt = tape.tensor(loss).clone();
        let g = tape.backward(&[loss]).unwrap();
        (lt.to_vec().unwrap()[0] as f64, g)
    };
    crate::common::check_param_grads(&params, run, 1e-2, 2e-3, "softmax cross-entropy graph");
}

/// One SGD step on the GRL-free net; returns the loss (the step's only readback).
fn train_step(n: &Net, opt: &mut Optimizer, x: &Tensor, t: &Tensor) -> f32 {
    let mut tape = Tape::new();
    let xv = tape.input(x.clone());
    let h = n.l1.forward(&mut tape, &n.params, xv).unwrap();
    let z = n.l2.forward(&mut tape, &n.params, h).unwrap();
    let loss = tape.bce(z, t, 1.0).unwrap();
    let lt = tape.tensor(loss).clone();
    let grads = tape.backward(&[loss]).unwrap();
    opt.step(&n.params, &grads, 0.05).unwrap();
    lt.to_vec().unwrap()[0]
}

#[test]
fn frozen_parameters_cost_nothing_and_stay_bit_identical() {
    let gpu = own_gpu();
    let mut n = net(&gpu, 5);
    n.params.freeze("base").unwrap();
    let frozen: Vec<Vec<f32>> = n
        .params
        .iter()
        .filter(|(_, p)| !p.trainable)
        .map(|(_, p)| p.value.to_vec().unwrap())
        .collect();
    let x = Tensor::from_slice(&gpu, &values(8 * 5, 1), &[8, 5]).unwrap();
    let t = Tensor::from_slice(&gpu, &[1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0], &[8, 1]).unwrap();
    let mut opt = Optimizer::new(Rule::sgd_momentum());
    train_step(&n, &mut opt, &x, &t);
    let before = gpu.stats();
    for _ in 0..20 {
        train_step(&n, &mut opt, &x, &t);
    }
    let after = gpu.stats();
    let per_step = (after.dispatches - before.dispatches) / 20;
    // base forward: 1 GEMM (bias+ReLU fused). head: forward GEMM, BCE fwd, BCE bwd, dW GEMM,
    // db, and one SGD dispatch for its weight and bias together (the fused optimizer). No dX for
    // the head (base is frozen), nothing for base.
    let gemm = dak::ops::matmul::Variant::for_dense(&gpu, 2.0 * 8.0 * 6.0).dispatches();
    assert_eq!(
        per_step,
        gemm + (gemm + 1 + 1 + gemm + 1 + 1),
        "kernels per step with a frozen base"
    );
    assert_eq!(after.submits - before.submits, 20, "one submit per step");
    assert_eq!(
        after.pipelines_created, before.pipelines_created,
        "no pipelines after the first step"
    );
    let still: Vec<Vec<f32>> = n
        .params
        .iter()
        .filter(|(_, p)| !p.trainable)
        .map(|(_, p)| p.value.to_vec().unwrap())
        .collect();
    assert_eq!(frozen, still, "frozen parameters are bit-identical");
    // The frozen base records nothing on the tape.
    let mut tape = Tape::new();
    let xv = tape.input(x.clone());
    let h = n.l1.forward(&mut tape, &n.params, xv).unwrap();
    assert!(!tape.requires_grad(h));
    assert_eq!(tape.stats().recorded, 0);
    // No-grad mode records nothing even for trainable layers.
    let mut tape = Tape::no_grad();
    let xv = tape.input(x.clone());
    let h = n.l1.forward(&mut tape, &n.params, xv).unwrap();
    let _ = n.l2.forward(&mut tape, &n.params, h).unwrap();
    assert_eq!(tape.stats().recorded, 0);
}

#[test]
fn live_memory_is_flat_and_an_mlp_learns() {
    let gpu = own_gpu();
    let n = net(&gpu, 8);
    // A separable task: label = x0 + x1 > 0.
    let xs = values(64 * 5, 4);
    let ts: Vec<f32> = xs
        .chunks(5)
        .map(|r| if r[0] + r[1] > 0.0 { 1.0 } else { 0.0 })
        .collect();
    let x = Tensor::from_slice(&gpu, &xs, &[64, 5]).unwrap();
    let t = Tensor::from_slice(&gpu, &ts, &[64, 1]).unwrap();
    let mut opt = Optimizer::new(Rule::sgd_momentum());
    let mut live_at_10 = 0;
    let mut first = 0.0;
    let mut last = 0.0;
    for step in 1..=200 {
        let loss = train_step(&n, &mut opt, &x, &t);
        if step == 1 {
            first = loss;
        }
        if step == 10 {
            live_at_10 = gpu.stats().live_bytes;
        }
        last = loss;
    }
    assert_eq!(
        gpu.stats().live_bytes,
        live_at_10,
        "live GPU bytes at step 200 equal step 10"
    );
    assert!(last < 0.25 * first, "loss fell from {first} to {last}");
}

#[test]
fn checkpoints_round_trip_resume_and_reject_bad_files() {
    let gpu = gpu();
    let dir = TempDir::new("ckpt");
    let x = Tensor::from_slice(&gpu, &values(16 * 5, 6), &[16, 5]).unwrap();
    let t = Tensor::from_slice(
        &gpu,
        &values(16, 7)
            .iter()
            .map(|v| (*v > 0.0) as u8 as f32)
            .collect::<Vec<_>>(),
        &[16, 1],
    )
    .unwrap();
    // Uninterrupted: 10 steps.
    let a = net(&gpu, 1);
    let mut opt_a = Optimizer::new(Rule::adam());
    for _ in 0..10 {
        train_step(&a, &mut opt_a, &x, &t);
    }
    // Interrupted: 4 steps, save, load into a fresh net, 6 more.
    let b = net(&gpu, 1);
    let mut opt_b = Optimizer::new(Rule::adam());
    for _ in 0..4 {
        train_step(&b, &mut opt_b, &x, &t);
    }
    let path = dir.path().join("run.safetensors");
    let meta = BTreeMap::from([("note".to_string(), "test".to_string())]);
    checkpoint::save(&path, &b.params, Some(&opt_b), &meta).unwrap();
    let mut c = net(&gpu, 99);
    let ck = checkpoint::load(&path).unwrap();
    assert_eq!(ck.metadata.get("note").map(String::as_str), Some("test"));
    assert_eq!(ck.metadata.get("format").map(String::as_str), Some("dak"));
    ck.restore(&mut c.params, &path).unwrap();
    let mut opt_c = Optimizer::new(Rule::adam());
    ck.restore_optimizer(&gpu, &mut opt_c, &c.params).unwrap();
    for (_, p) in c.params.iter() {
        let saved = &ck.tensors[&p.name].1;
        assert_eq!(
            &p.value.to_vec().unwrap(),
            saved,
            "save -> load gives identical values"
        );
    }
    for _ in 0..6 {
        train_step(&c, &mut opt_c, &x, &t);
    }
    for ((_, pa), (_, pc)) in a.params.iter().zip(c.params.iter()) {
        assert_eq!(
            pa.value.to_vec().unwrap(),
            pc.value.to_vec().unwrap(),
            "resumed {} equals uninterrupted",
            pa.name
        );
    }
    // A truncated file and a foreign file give clear errors.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = checkpoint::load(&cut).err().unwrap().to_string();
    assert!(
        err.contains("cut.safetensors") && err.contains("truncated"),
        "{err}"
    );
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, b"hello, this is not a model").unwrap();
    let err = checkpoint::load(&foreign).err().unwrap().to_string();
    assert!(err.contains("notes.txt"), "{err}");
    // A checkpoint of another architecture names the tensor and both shapes.
    let mut other = Params::new();
    other
        .add("base.fc.weight", Tensor::zeros(&gpu, &[3, 3]).unwrap())
        .unwrap();
    let err = ck.restore(&mut other, &path).unwrap_err().to_string();
    assert!(
        err.contains("base.fc.weight") && err.contains("[6, 5]") && err.contains("[3, 3]"),
        "{err}"
    );
    let names: BTreeSet<_> = ck
        .tensors
        .keys()
        .filter(|k| k.starts_with("optimizer."))
        .cloned()
        .collect();
    assert_eq!(
        names.len(),
        8,
        "two Adam moments for each of four parameters: {names:?}"
    );
}

#[test]
fn a_profiled_step_times_every_dispatch_under_its_layer() {
    let gpu = own_gpu();
    let n = net(&gpu, 4);
    let x = Tensor::from_slice(&gpu, &values(4 * 5, 1), &[4, 5]).unwrap();
    let t = Tensor::from_slice(&gpu, &[0.0, 1.0, 1.0, 0.0], &[4, 1]).unwrap();
    let mut opt = Optimizer::new(Rule::adam());
    train_step(&n, &mut opt, &x, &t); // compile the pipelines first
    let before = gpu.stats().dispatches;
    gpu.start_profile().unwrap();
    let optimizer_label = gpu.scoped_label(Some("outer"));
    train_step(&n, &mut opt, &x, &t);
    drop(optimizer_label);
    let times = gpu.finish_profile().unwrap();
    assert_eq!(times.len() as u64, gpu.stats().dispatches - before);
    let labels: BTreeSet<String> = times.iter().filter_map(|t| t.label.clone()).collect();
    for want in [
        "base.fc",
        "head.fc",
        "head.fc (bwd)",
        "base.fc (bwd)",
        "outer",
        "optimizer",
    ] {
        assert!(labels.contains(want), "{want} missing from {labels:?}");
    }
    // Layers and the optimizer restore the label around them: the loss ran under `outer`.
    assert!(times.iter().all(|t| t.label.is_some() && t.seconds >= 0.0));
    assert!(times
        .iter()
        .filter(|t| t.kernel.starts_with("optim/"))
        .all(|t| t.label.as_deref() == Some("optimizer")));
    assert!(times.iter().any(|t| t.label.as_deref() == Some("outer")));
    // Profiling is off again: the next step is recorded, not run dispatch by dispatch.
    let submits = gpu.stats().submits;
    let mut tape = Tape::no_grad();
    let xv = tape.input(x.clone());
    n.l1.forward(&mut tape, &n.params, xv).unwrap();
    assert_eq!(gpu.stats().submits, submits);
    assert!(gpu.label().is_none());
}

#[test]
fn a_residual_join_sends_the_gradient_to_both_branches() {
    // x -> a -> h; h -> b -> r; relu(h + r) -> c -> cross-entropy: the skip and the branch
    // both carry gradient to `a`, checked against central differences.
    let gpu = gpu();
    let mut params = Params::new();
    let mut init = Init::new(12);
    let a = Dense::new(
        &gpu,
        &mut params,
        "a",
        DenseConfig::linear(3, 6).start(DenseInit::He),
        &mut init,
    )
    .unwrap();
    let b = Dense::new(
        &gpu,
        &mut params,
        "b",
        DenseConfig::linear(6, 6).start(DenseInit::He),
        &mut init,
    )
    .unwrap();
    let c = Dense::new(&gpu, &mut params, "c", DenseConfig::linear(6, 4), &mut init).unwrap();
    let x = Tensor::from_slice(&gpu, &values(5 * 3, 13), &[5, 3]).unwrap();
    let y = Tensor::from_u32(&gpu, &[0, 3, 1, 2, 1], &[5]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0; 5], &[5]).unwrap();
    let run = |params: &Params| {
        let mut tape = Tape::new();
        let xv = tape.input(x.clone());
        let h = a.forward(&mut tape, params, xv).unwrap();
        let r = b.forward(&mut tape, params, h).unwrap();
        let j = tape.add(h, r, true).unwrap();
        let z = c.forward(&mut tape, params, j).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
        let lt = tape.tensor(loss).clone();
        (
            lt.to_vec().unwrap()[0] as f64,
            tape.backward(&[loss]).unwrap(),
        )
    };
    crate::common::check_param_grads(&params, run, 2e-3, 3e-3, "residual join");
    // Different shapes are refused in one line.
    let mut tape = Tape::new();
    let p = tape.input(Tensor::zeros(&gpu, &[2, 3]).unwrap());
    let q = tape.input(Tensor::zeros(&gpu, &[3, 2]).unwrap());
    let e = tape.add(p, q, false).err().unwrap().to_string();
    assert!(e.contains("shapes differ") && !e.contains('\n'), "{e}");
}

#[test]
fn a_gradient_handed_to_both_inputs_of_a_join_is_not_changed_by_later_sums() {
    // h -> b -> r and h -> d -> k; (h + r) + k -> c -> cross-entropy. The joins hand one
    // gradient tensor to both inputs; walking back, d's gradient is summed into h's slot while
    // r's slot still holds the same tensor, which b reads afterwards. Summing in place would
    // hand b the sum: checked against central differences.
    let gpu = gpu();
    let mut params = Params::new();
    let mut init = Init::new(21);
    let dense = |params: &mut Params, init: &mut Init, name: &str, i: usize, o: usize| {
        Dense::new(
            &gpu,
            params,
            name,
            DenseConfig::linear(i, o).start(DenseInit::He),
            init,
        )
        .unwrap()
    };
    let a = dense(&mut params, &mut init, "a", 3, 6);
    let b = dense(&mut params, &mut init, "b", 6, 6);
    let d = dense(&mut params, &mut init, "d", 6, 6);
    let c = dense(&mut params, &mut init, "c", 6, 4);
    let x = Tensor::from_slice(&gpu, &values(5 * 3, 17), &[5, 3]).unwrap();
    let y = Tensor::from_u32(&gpu, &[2, 0, 3, 1, 1], &[5]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0; 5], &[5]).unwrap();
    let run = |params: &Params| {
        let mut tape = Tape::new();
        let xv = tape.input(x.clone());
        let h = a.forward(&mut tape, params, xv).unwrap();
        let r = b.forward(&mut tape, params, h).unwrap();
        let k = d.forward(&mut tape, params, h).unwrap();
        let j = tape.add(h, r, false).unwrap();
        let m = tape.add(j, k, false).unwrap();
        let z = c.forward(&mut tape, params, m).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
        let lt = tape.tensor(loss).clone();
        (
            lt.to_vec().unwrap()[0] as f64,
            tape.backward(&[loss]).unwrap(),
        )
    };
    crate::common::check_param_grads(&params, run, 2e-3, 3e-3, "shared join gradient");
}
