//! Batch normalisation (`ops::batch_norm`): the GPU kernels against the f64 reference on the
//! kernel check's awkward shapes, the backward against finite differences of the forward
//! (an upstream gradient that is not all ones), PyTorch's running-statistics convention, the
//! fold into a convolution, and bad input.
use crate::common::{gpu, with_cpu_and_portable_paths};
use dak::kernels::batch_norm_inputs;
use dak::ops::batch_norm::{self as bn, reference};
use dak::Tensor;

/// `L = Σ dy ⊙ BN(x; γ, β)` with the batch statistics, in f64.
fn loss(x: &[f64], shape: &[usize], gamma: &[f64], beta: &[f64], dy: &[f32]) -> f64 {
    let (c, inner) = (shape[1], shape[2..].iter().product::<usize>());
    let m = (shape[0] * inner) as f64;
    let ch = |i: usize| (i / inner) % c;
    let mut mean = vec![0f64; c];
    x.iter().enumerate().for_each(|(i, v)| mean[ch(i)] += v / m);
    let mut var = vec![0f64; c];
    x.iter()
        .enumerate()
        .for_each(|(i, v)| var[ch(i)] += (v - mean[ch(i)]).powi(2) / m);
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let k = ch(i);
            dy[i] as f64 * (gamma[k] * (v - mean[k]) / (var[k] + bn::EPS as f64).sqrt() + beta[k])
        })
        .sum()
}

fn close(got: f32, want: f64, tol: f64, what: &str) {
    assert!(
        (got as f64 - want).abs() <= tol * (1.0 + want.abs()),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn backward_matches_finite_differences_of_the_forward() {
    let gpu = gpu();
    for (s, &shape) in bn::reference::SHAPES.iter().enumerate() {
        let (x, gamma, beta, _, _) = batch_norm_inputs(shape, 70 + s as u64);
        let c = shape[1];
        // Upstream gradient: varied, not all ones (a constant dy has dx = 0 exactly).
        let dy: Vec<f32> = (0..x.len())
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let t = |v: &[f32], sh: &[usize]| Tensor::from_slice(&gpu, v, sh).unwrap();
        let (tx, tg, tb) = (t(&x, shape), t(&gamma, &[c]), t(&beta, &[c]));
        let (_, st) = bn::forward_train(&tx, &tg, &tb, None, false).unwrap();
        let (dx, dg, db) = bn::backward(
            &t(&dy, shape),
            &tx,
            &st.mean,
            &st.var,
            &tg,
            &tb,
            bn::EPS,
            true,
            false,
        )
        .unwrap();
        let (dx, dg, db) = (
            dx.to_vec().unwrap(),
            dg.to_vec().unwrap(),
            db.to_vec().unwrap(),
        );
        let f64s = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        let (x64, g64, b64) = (f64s(&x), f64s(&gamma), f64s(&beta));
        let h = 1e-4;
        let central = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
        // Every element of the small shapes, a stride through the large one.
        let step = (x.len() / 400).max(1);
        for i in (0..x.len()).step_by(step) {
            let num = central(&|e| {
                let mut xp = x64.clone();
                xp[i] += e;
                loss(&xp, shape, &g64, &b64, &dy)
            });
            close(dx[i], num, 2e-3, &format!("{shape:?} dx[{i}]"));
        }
        for k in 0..c {
            let num = central(&|e| {
                let mut gp = g64.clone();
                gp[k] += e;
                loss(&x64, shape, &gp, &b64, &dy)
            });
            close(dg[k], num, 2e-3, &format!("{shape:?} dγ[{k}]"));
            let num = central(&|e| {
                let mut bp = b64.clone();
                bp[k] += e;
                loss(&x64, shape, &g64, &bp, &dy)
            });
            close(db[k], num, 2e-3, &format!("{shape:?} dβ[{k}]"));
        }
    }
}

#[test]
fn kernels_match_the_reference_and_running_statistics_follow_pytorch() {
    // Both paths: texture mirrors and one-subgroup reductions on CPU adapters, storage reads
    // and 256-lane reductions elsewhere.
    with_cpu_and_portable_paths(|gpu, paths| {
        for name in [
            "batch_norm.stats",
            "batch_norm.normalize",
            "batch_norm.grad_sums",
            "batch_norm.grad_input",
        ] {
            let r = dak::kernels::check(gpu, dak::kernels::find(name).unwrap());
            assert!(!r.status.failed(), "{name} ({paths}): {r:?}");
            assert!(
                r.cases >= bn::reference::SHAPES.len(),
                "{name}: {} cases",
                r.cases
            );
        }
    });
    let gpu = gpu();
    // By hand: one channel, values 1, 2, 3, 6 (μ 3, biased σ² 3.5, unbiased 14/3); running
    // statistics 0 and 1 move by 0.1 to 0.3 and 0.9 + 0.1·14/3.
    let x = Tensor::from_slice(&gpu, &[1.0, 2.0, 3.0, 6.0], &[4, 1]).unwrap();
    let rm = Tensor::from_slice(&gpu, &[0.0], &[1]).unwrap();
    let rv = Tensor::from_slice(&gpu, &[1.0], &[1]).unwrap();
    let s = bn::stats(&x, Some((&rm, &rv)), bn::MOMENTUM).unwrap();
    close(s.mean.to_vec().unwrap()[0], 3.0, 1e-6, "mean");
    close(s.var.to_vec().unwrap()[0], 3.5, 1e-6, "biased variance");
    close(rm.to_vec().unwrap()[0], 0.3, 1e-6, "running mean");
    close(
        rv.to_vec().unwrap()[0],
        0.9 + 0.1 * 14.0 / 3.0,
        1e-6,
        "running variance",
    );
    // The reference agrees.
    let (m, v) = reference::running_update(&[1.0, 2.0, 3.0, 6.0], &[4, 1], &[0.0], &[1.0], 0.1);
    close(m[0], 0.3, 1e-7, "reference running mean");
    close(
        v[0],
        0.9 + 0.1 * 14.0 / 3.0,
        1e-7,
        "reference running variance",
    );
}

#[test]
fn folding_into_a_convolution_equals_conv_then_bn() {
    // A 1x1 convolution of 2 input channels to 3 outputs with a bias, then evaluation BN: the
    // folded convolution gives the same outputs.
    let (w, b) = ([0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5], [0.1f32, -0.2, 0.3]);
    let (gamma, beta) = ([1.5f32, 0.5, -2.0], [0.2f32, -0.1, 0.05]);
    let (mean, var) = ([0.3f32, -0.4, 1.0], [2.0f32, 0.5, 1.25]);
    let (wf, bf) = bn::fold(&w, Some(&b), &gamma, &beta, &mean, &var, bn::EPS).unwrap();
    for input in [[1.0f32, 2.0], [-0.5, 0.75]] {
        for o in 0..3 {
            let z = w[2 * o] * input[0] + w[2 * o + 1] * input[1] + b[o];
            let bn_out = gamma[o] * (z - mean[o]) / (var[o] + bn::EPS).sqrt() + beta[o];
            let folded = wf[2 * o] * input[0] + wf[2 * o + 1] * input[1] + bf[o];
            close(folded, bn_out as f64, 1e-6, &format!("output {o}"));
        }
    }
    assert!(bn::fold(&w, None, &gamma[..2], &beta, &mean, &var, bn::EPS).is_err());
}

#[test]
fn bad_shapes_are_refused_in_one_line() {
    let gpu = gpu();
    let t = |v: &[f32], s: &[usize]| Tensor::from_slice(&gpu, v, s).unwrap();
    let one = t(&[1.0, 2.0], &[1, 2]);
    let e = bn::stats(&one, None, bn::MOMENTUM)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("more than one value per channel"), "{e}");
    let x = t(&[0.0; 12], &[2, 3, 2]);
    let e = bn::stats(&x, None, bn::MOMENTUM).err().unwrap().to_string();
    assert!(e.contains("[batch, channels]"), "{e}");
    let x = t(&[0.0; 8], &[4, 2]);
    let g = t(&[1.0; 3], &[3]);
    let e = bn::forward_train(&x, &g, &g, None, false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("weight (γ)") && !e.contains('\n'), "{e}");
}

#[test]
fn on_the_tape_gradients_match_finite_differences_and_frozen_bn_trains_only_its_affine() {
    use dak::autograd::{BnStats, Params, Tape};
    use dak::nn::{Dense, DenseConfig, DenseInit, Init};
    let gpu = gpu();
    let mut params = Params::new();
    let mut init = Init::new(4);
    // No ReLU before the BN (as conv -> BN -> ReLU): a dead unit is a column of exact zeros,
    // which the batch statistics amplify by 1/√ε the moment a perturbation revives it.
    let l1 = Dense::new(
        &gpu,
        &mut params,
        "a",
        DenseConfig::linear(3, 6).start(DenseInit::He),
        &mut init,
    )
    .unwrap();
    let l2 = Dense::new(&gpu, &mut params, "b", DenseConfig::linear(6, 4), &mut init).unwrap();
    let t = |v: &[f32], s: &[usize]| Tensor::from_slice(&gpu, v, s).unwrap();
    let gamma = params
        .add("bn.weight", t(&[1.2, 0.8, 1.0, 1.5, 0.6, 1.1], &[6]))
        .unwrap();
    let beta = params
        .add("bn.bias", t(&[0.1, -0.2, 0.3, 0.0, 0.25, -0.1], &[6]))
        .unwrap();
    let x = t(&crate::common::values(5 * 3, 8), &[5, 3]);
    let y = Tensor::from_u32(&gpu, &[0, 3, 1, 2, 1], &[5]).unwrap();
    let w = t(&[1.0, 1.0, 0.5, 1.0, 1.0], &[5]);
    let (rm, rv) = (t(&[0.0; 6], &[6]), t(&[1.0; 6], &[6]));
    // Batch statistics then ReLU, as a ResNet's conv + BN + ReLU (here after a dense layer).
    let run = |params: &Params, fixed: bool| {
        let mut tape = Tape::new();
        let xv = tape.input(x.clone());
        let h = l1.forward(&mut tape, params, xv).unwrap();
        let stats = match fixed {
            false => BnStats::Batch { running: None },
            true => BnStats::Fixed {
                mean: &rm,
                var: &rv,
            },
        };
        let (g, b) = (tape.param(params, gamma), tape.param(params, beta));
        let h = tape.batch_norm(h, g, b, stats, true).unwrap();
        let z = l2.forward(&mut tape, params, h).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 0.7).unwrap();
        let lt = tape.tensor(loss).clone();
        let grads = tape.backward(&[loss]).unwrap();
        (lt.to_vec().unwrap()[0] as f64, grads)
    };
    for fixed in [false, true] {
        let what = format!("fixed statistics {fixed}");
        crate::common::check_param_grads(&params, |p| run(p, fixed), 2e-3, 3e-3, &what);
    }
    // TENT's setting: everything frozen but γ/β; the tape still reaches them, through frozen
    // layers, and records no gradient for the rest.
    params.freeze("a").unwrap();
    params.freeze("b").unwrap();
    let (_, grads) = run(&params, false);
    assert!(grads.contains_key(&gamma) && grads.contains_key(&beta));
    assert_eq!(grads.len(), 2, "only γ and β have gradients");
    // The running statistics move only when asked to.
    let mut tape = Tape::new();
    let xv = tape.input(t(&crate::common::values(4 * 6, 9), &[4, 6]));
    let (g, b) = (tape.param(&params, gamma), tape.param(&params, beta));
    tape.batch_norm(
        xv,
        g,
        b,
        BnStats::Batch {
            running: Some((&rm, &rv)),
        },
        false,
    )
    .unwrap();
    assert!(rm.to_vec().unwrap().iter().any(|&v| v != 0.0));
}

#[test]
fn the_benchmark_validates_every_kernel_before_timing_it() {
    // `dak bench batch_norm --shapes tiny`: both per-channel walks on CPU adapters (3 and 600
    // channels), each kernel judged against the reference, then timed.
    let gpu = gpu();
    let sel = |direction: Option<&str>| dak::bench::Selection {
        op: "batch_norm".into(),
        direction: direction.map(String::from),
        variant: "all".into(),
        shapes: "tiny".into(),
        batch: None,
        repeat: 1,
        unchecked: false,
    };
    let rows = dak::bench::run(&gpu, &sel(None)).unwrap();
    assert_eq!(rows.len(), 8, "4 kernels x 2 shapes");
    for r in &rows {
        assert_eq!(r.status, "ok", "{} on {}: {:?}", r.kernel, r.shape, r.error);
        assert!(r.median_ms > 0.0 && r.bytes > 0.0);
    }
    let backward = dak::bench::run(&gpu, &sel(Some("bwd"))).unwrap();
    assert!(backward.iter().all(|r| r.kernel.contains(".grad_")));
    assert_eq!(backward.len(), 4);
    let e = dak::bench::run(
        &gpu,
        &dak::bench::Selection {
            shapes: "vgg16-32".into(),
            ..sel(None)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("resnet50-224"), "{e}");
}
