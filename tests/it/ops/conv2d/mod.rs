//! conv2d: every pass and variant against the CPU reference on the op's awkward shapes
//! (`conv2d::reference::CASES`, which `dak kernels check` runs too), the reference's
//! whole-tensor passes against its per-element oracle, a small conv-relu-pool-conv-relu-pool
//! stack forward and backward, and bad input.
//! Shapes are tiny: lavapipe is slow and each unrolled kernel compiles once per run.

mod gradcheck;
mod pooled;

use crate::common::*;
use dak::ops::conv2d::reference::{self, Case, CASES};
use dak::ops::conv2d::{self, Geometry, Pass, Spec, Variant, WeightOperand};
use dak::ops::{elementwise as ew, pool};
use dak::{Error, Tensor};

fn geometry(c: &Case) -> Geometry {
    c.geometry("test").unwrap()
}

fn variants() -> Vec<Variant> {
    let gpu = gpu();
    Variant::ALL
        .into_iter()
        .filter(|v| v.supported(&gpu))
        .collect()
}

#[test]
fn every_pass_and_variant_matches_reference() {
    let gpu = gpu();
    for (i, c) in CASES.iter().enumerate() {
        let g = geometry(c);
        let seed = 10 * i as u64;
        let x = values(g.x_len(), seed + 1);
        let w = values(g.w_len(), seed + 2);
        let b = values(g.co, seed + 3);
        let dy: Vec<f32> = values(g.y_len(), seed + 4)
            .iter()
            .map(|v| 2.0 * v + 0.25)
            .collect();
        let tx = Tensor::from_slice(&gpu, &x, &g.x_shape()).unwrap();
        let tw = Tensor::from_slice(&gpu, &w, &g.w_shape()).unwrap();
        let tb = Tensor::from_slice(&gpu, &b, &[g.co]).unwrap();
        let tdy = Tensor::from_slice(&gpu, &dy, &g.y_shape()).unwrap();
        let (with_bias, relu) = reference::epilogue(i);
        let want_y = reference::forward(&g, &x, &w, with_bias.then_some(&b[..]), relu);
        let want_dx = reference::backward_input(&g, &dy, &w);
        let want_dw = reference::backward_weight(&g, &dy, &x);
        let k_fwd = g.ci * g.kh * g.kw;
        let k_dgrad = g.co * g.kh * g.kw;
        let k_wgrad = g.n * g.oh * g.ow;
        for v in variants() {
            let what = |p: Pass| format!("{} on {}", v.id(p), g.label());
            let y = conv2d::forward(&tx, &tw, with_bias.then_some(&tb), relu, g.spec, v).unwrap();
            assert_eq!(y.shape(), &g.y_shape());
            assert_close(
                &y.to_vec().unwrap(),
                &want_y,
                tol_for(k_fwd),
                &what(Pass::Forward),
            );
            let dx = conv2d::backward_input(&tdy, &tw, &g.x_shape(), g.spec, v).unwrap();
            assert_close(
                &dx.to_vec().unwrap(),
                &want_dx,
                tol_for(k_dgrad),
                &what(Pass::InputGrad),
            );
            let dw = conv2d::backward_weight(&tdy, &tx, &g.w_shape(), g.spec, v).unwrap();
            assert_close(
                &dw.to_vec().unwrap(),
                &want_dw,
                tol_for(k_wgrad),
                &what(Pass::WeightGrad),
            );
        }
    }
}

/// 1x1 layers with stride 1 (ResNet's bottlenecks) are plain GEMMs over the NCHW tensors on the
/// texture variant: all three passes match the reference without packing X or dY; with stride 2
/// (ResNet's downsampling) the input gradient still is, without dilating dY.
#[test]
fn one_by_one_layers_read_their_nchw_operands_unpacked() {
    let gpu = own_gpu();
    assert!(Variant::Texture.supported(&gpu) || !gpu.is_cpu());
    if !Variant::Texture.supported(&gpu) {
        return;
    }
    // The case that names this path in `CASES`.
    let c = CASES
        .iter()
        .find(|c| (c.k, c.ci, c.co) == (1, 52, 100))
        .unwrap();
    let g = geometry(c);
    let (x, w) = (values(g.x_len(), 71), values(g.w_len(), 72));
    let dy = values(g.y_len(), 73);
    let tx = Tensor::from_slice(&gpu, &x, &g.x_shape()).unwrap();
    let tw = Tensor::from_slice(&gpu, &w, &g.w_shape()).unwrap();
    let tdy = Tensor::from_slice(&gpu, &dy, &g.y_shape()).unwrap();
    let v = Variant::Texture;
    let y = conv2d::forward(&tx, &tw, None, false, g.spec, v).unwrap();
    let dx = conv2d::backward_input(&tdy, &tw, &g.x_shape(), g.spec, v).unwrap();
    let dw = conv2d::backward_weight(&tdy, &tx, &g.w_shape(), g.spec, v).unwrap();
    let label = g.label();
    let want_y = reference::forward(&g, &x, &w, None, false);
    assert_close(&y.to_vec().unwrap(), &want_y, tol_for(g.ci), &label);
    let want_dx = reference::backward_input(&g, &dy, &w);
    assert_close(&dx.to_vec().unwrap(), &want_dx, tol_for(g.co), &label);
    let want_dw = reference::backward_weight(&g, &dy, &x);
    let k = g.n * g.oh * g.ow;
    assert_close(&dw.to_vec().unwrap(), &want_dw, tol_for(k), &label);
    let nchw = || {
        gpu.dispatches_of("conv2d/fwd_igemm_nchw") + gpu.dispatches_of("conv2d/fwd_igemm_n4_nchw")
    };
    assert_eq!(nchw(), 2, "forward and input gradient on the NCHW kernels");
    for packing in ["conv2d/pack_input", "conv2d/pack_dy"] {
        assert_eq!(gpu.dispatches_of(packing), 0, "{packing}");
    }

    // Stride 2: the input gradient still reads dY unpacked and writes every second pixel of dX
    // over zeros (dX's buffer comes from the pool: it may hold an earlier tensor's values).
    let c = CASES
        .iter()
        .find(|c| (c.k, c.stride, c.ci) == (1, 2, 52))
        .unwrap();
    let g = geometry(c);
    let (w, dy) = (values(g.w_len(), 74), values(g.y_len(), 75));
    let tw = Tensor::from_slice(&gpu, &w, &g.w_shape()).unwrap();
    let tdy = Tensor::from_slice(&gpu, &dy, &g.y_shape()).unwrap();
    drop(Tensor::from_slice(&gpu, &vec![7.0; g.x_len()], &g.x_shape()).unwrap());
    let (before, packs) = (nchw(), gpu.dispatches_of("conv2d/pack_input"));
    let dx = conv2d::backward_input(&tdy, &tw, &g.x_shape(), g.spec, v).unwrap();
    let want_dx = reference::backward_input(&g, &dy, &w);
    assert_close(&dx.to_vec().unwrap(), &want_dx, tol_for(g.co), &g.label());
    assert_eq!(
        nchw() - before,
        1,
        "strided input gradient on the NCHW kernel"
    );
    assert_eq!(
        gpu.dispatches_of("conv2d/pack_input"),
        packs,
        "dY not dilated"
    );
}

/// The oracle's three passes are adjoint, in f64 on every case: <conv(x, w), dy> = <x, dX(dy, w)>
/// = <w, dW(dy, x)>. This holds its input and weight gradients to its forward independently of
/// any kernel.
#[test]
fn the_oracle_passes_are_adjoint() {
    for (i, c) in CASES.iter().enumerate() {
        let g = geometry(c);
        let seed = 500 + 10 * i as u64;
        let (x, w, dy) = (
            values(g.x_len(), seed),
            values(g.w_len(), seed + 1),
            values(g.y_len(), seed + 2),
        );
        let dot = |pass: Pass, len: usize, with: &[f32]| -> f64 {
            (0..len)
                .map(|j| reference::exact_at(&g, pass, j, &x, &w, &dy) * with[j] as f64)
                .sum()
        };
        let y_dy = dot(Pass::Forward, g.y_len(), &dy);
        let x_dx = dot(Pass::InputGrad, g.x_len(), &x);
        let w_dw = dot(Pass::WeightGrad, g.w_len(), &w);
        let scale = 1.0 + y_dy.abs();
        assert!(
            (x_dx - y_dy).abs() <= 1e-9 * scale && (w_dw - y_dy).abs() <= 1e-9 * scale,
            "{}: <y, dy> {y_dy}, <x, dx> {x_dx}, <w, dw> {w_dw}",
            g.label()
        );
    }
}

/// The texture input gradient reads the forward weight texture transposed by default; the
/// flipped copy it replaced stays as the reference layout: both match the CPU reference.
#[test]
fn input_gradient_weight_operands_match_reference() {
    let gpu = gpu();
    if !Variant::Texture.supported(&gpu) {
        assert!(!gpu.is_cpu(), "CPU adapters run the texture variant");
        return;
    }
    for (i, c) in CASES.iter().enumerate() {
        let g = geometry(c);
        let seed = 100 + 10 * i as u64;
        let w = values(g.w_len(), seed + 2);
        let dy = values(g.y_len(), seed + 4);
        let tw = Tensor::from_slice(&gpu, &w, &g.w_shape()).unwrap();
        let tdy = Tensor::from_slice(&gpu, &dy, &g.y_shape()).unwrap();
        let want = reference::backward_input(&g, &dy, &w);
        for operand in [WeightOperand::Forward, WeightOperand::Flipped] {
            let dx = conv2d::backward_input_with(
                &tdy,
                &tw,
                &g.x_shape(),
                g.spec,
                Variant::Texture,
                operand,
            )
            .unwrap();
            let what = format!("input gradient, {operand:?} weights, {}", g.label());
            assert_close(
                &dx.to_vec().unwrap(),
                &want,
                tol_for(g.co * g.kh * g.kw),
                &what,
            );
        }
    }
}

/// The input gradient's padded operand is kept where padding dominates (8x8 dY in 16x16): the
/// first call zeroes its padding, later calls write only the data. Three calls with different
/// dY all match the reference.
#[test]
fn a_kept_padded_operand_gives_the_same_input_gradient_every_time() {
    let gpu = gpu();
    let padded = CASES
        .iter()
        .find(|c| (c.h, c.w, c.k, c.pad) == (12, 12, 5, 0));
    let g = geometry(padded.expect("the 8x8 dY case"));
    let w = values(g.w_len(), 71);
    let tw = Tensor::from_slice(&gpu, &w, &g.w_shape()).unwrap();
    for round in 0..3 {
        let dy = values(g.y_len(), 72 + round);
        let tdy = Tensor::from_slice(&gpu, &dy, &g.y_shape()).unwrap();
        let v = Variant::default_for(&gpu);
        let dx = conv2d::backward_input(&tdy, &tw, &g.x_shape(), g.spec, v).unwrap();
        let want = reference::backward_input(&g, &dy, &w);
        let what = format!("input gradient, call {round}");
        assert_close(&dx.to_vec().unwrap(), &want, tol_for(g.co * 25), &what);
    }
}

#[test]
fn backward_computes_only_what_is_needed() {
    let gpu = gpu();
    let g = geometry(&CASES[0]);
    let x = Tensor::from_slice(&gpu, &values(g.x_len(), 1), &g.x_shape()).unwrap();
    let w = Tensor::from_slice(&gpu, &values(g.w_len(), 2), &g.w_shape()).unwrap();
    let dy_host = values(g.y_len(), 3);
    let dy = Tensor::from_slice(&gpu, &dy_host, &g.y_shape()).unwrap();
    let v = Variant::default_for(&gpu);
    let grads = conv2d::backward(&x, &w, &dy, g.spec, [false, true, true], v).unwrap();
    assert!(grads.dx.is_none());
    let db = grads.db.unwrap().to_vec().unwrap();
    assert_close(
        &db,
        &reference::backward_bias(&g, &dy_host),
        tol_for(g.n * g.oh * g.ow),
        "bias gradient",
    );
    assert_eq!(grads.dw.unwrap().shape(), &g.w_shape());
}

#[test]
fn ids_are_stable_and_defaults_follow_the_adapter() {
    for p in Pass::ALL {
        for v in Variant::ALL {
            assert_eq!(Variant::from_id(v.id(p)), Some((p, v)));
            assert!(v.id(p).starts_with(&format!("conv2d.{}.", p.short())));
        }
    }
    assert_eq!(Variant::Subgroup.id(Pass::Forward), "conv2d.fwd.igemm_sgbc");
    assert_eq!(Variant::Direct.id(Pass::WeightGrad), "conv2d.wgrad.direct");
    let gpu = gpu();
    let d = Variant::default_for(&gpu);
    assert!(d.supported(&gpu));
    if gpu.is_cpu() && Variant::Texture.supported(&gpu) {
        assert_eq!(d, Variant::Texture);
    }
    assert_eq!(
        Variant::Texture.id(Pass::InputGrad),
        "conv2d.dgrad.igemm_tex"
    );
}

/// conv(3->4, 3x3, p1)+ReLU, max-pool 2/2, conv(4->5, 3x3, p0)+ReLU, max-pool 3/1 (overlapping):
/// GPU forward and backward (default variant) against the reference chain.
#[test]
fn conv_relu_pool_stack_forward_and_backward() {
    let gpu = gpu();
    let v = Variant::default_for(&gpu);
    let g1 = Geometry::new(&[2, 3, 12, 11], &[4, 3, 3, 3], Spec::new(1, 1), "c1").unwrap();
    let p1 = pool::PoolGeometry::new(&g1.y_shape(), 2, 2, "p1").unwrap();
    let g2 = Geometry::new(&p1.y_shape(), &[5, 4, 3, 3], Spec::new(1, 0), "c2").unwrap();
    let p2 = pool::PoolGeometry::new(&g2.y_shape(), 3, 1, "p2").unwrap();
    let x = values(g1.x_len(), 21);
    let w1 = values(g1.w_len(), 22);
    let b1 = values(g1.co, 23);
    let w2 = values(g2.w_len(), 24);
    let b2 = values(g2.co, 25);
    let up: Vec<f32> = values(p2.y_len(), 26)
        .iter()
        .map(|v| 3.0 * v - 0.5)
        .collect();

    // Reference chain.
    let r1 = reference::forward(&g1, &x, &w1, Some(&b1), true);
    let (q1, a1) = pool::reference::max_pool2d(&p1, &r1);
    let r2 = reference::forward(&g2, &q1, &w2, Some(&b2), true);
    let (q2, a2) = pool::reference::max_pool2d(&p2, &r2);
    let d_r2 = ew::reference::relu_grad(&pool::reference::max_pool2d_backward(&p2, &up, &a2), &r2);
    let want_dw2 = reference::backward_weight(&g2, &d_r2, &q1);
    let want_db2 = reference::backward_bias(&g2, &d_r2);
    let d_q1 = reference::backward_input(&g2, &d_r2, &w2);
    let d_r1 =
        ew::reference::relu_grad(&pool::reference::max_pool2d_backward(&p1, &d_q1, &a1), &r1);
    let want_dw1 = reference::backward_weight(&g1, &d_r1, &x);
    let want_db1 = reference::backward_bias(&g1, &d_r1);
    let want_dx = reference::backward_input(&g1, &d_r1, &w1);

    // GPU chain, one submit until the reads.
    let t = |v: &[f32], s: &[usize]| Tensor::from_slice(&gpu, v, s).unwrap();
    let tx = t(&x, &g1.x_shape());
    let (tw1, tb1) = (t(&w1, &g1.w_shape()), t(&b1, &[g1.co]));
    let (tw2, tb2) = (t(&w2, &g2.w_shape()), t(&b2, &[g2.co]));
    let y1 = conv2d::forward(&tx, &tw1, Some(&tb1), true, g1.spec, v).unwrap();
    let (z1, i1) = pool::max_pool2d(&y1, 2, 2).unwrap();
    let y2 = conv2d::forward(&z1, &tw2, Some(&tb2), true, g2.spec, v).unwrap();
    let (z2, i2) = pool::max_pool2d(&y2, 3, 1).unwrap();
    let tup = t(&up, &p2.y_shape());
    let dz2 = ew::relu_grad(
        &pool::max_pool2d_backward(&tup, &i2, &g2.y_shape(), 3, 1).unwrap(),
        &y2,
    )
    .unwrap();
    let gr2 = conv2d::backward(&z1, &tw2, &dz2, g2.spec, [true, true, true], v).unwrap();
    let dz1 = ew::relu_grad(
        &pool::max_pool2d_backward(gr2.dx.as_ref().unwrap(), &i1, &g1.y_shape(), 2, 2).unwrap(),
        &y1,
    )
    .unwrap();
    let gr1 = conv2d::backward(&tx, &tw1, &dz1, g1.spec, [true, true, true], v).unwrap();

    assert_close(&z2.to_vec().unwrap(), &q2, tol_for(36), "stack forward");
    let tol = tol_for(g1.n * g1.oh * g1.ow);
    assert_close(
        &gr2.dw.unwrap().to_vec().unwrap(),
        &want_dw2,
        tol,
        "stack dW2",
    );
    assert_close(
        &gr2.db.unwrap().to_vec().unwrap(),
        &want_db2,
        tol,
        "stack db2",
    );
    assert_close(
        &gr1.dw.unwrap().to_vec().unwrap(),
        &want_dw1,
        tol,
        "stack dW1",
    );
    assert_close(
        &gr1.db.unwrap().to_vec().unwrap(),
        &want_db1,
        tol,
        "stack db1",
    );
    assert_close(
        &gr1.dx.unwrap().to_vec().unwrap(),
        &want_dx,
        tol,
        "stack dX",
    );
}

fn input_err<T: std::fmt::Debug>(r: dak::Result<T>) -> String {
    match r {
        Err(e @ Error::Input(_)) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "one line: {msg}");
            msg
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn bad_shapes_give_clear_errors() {
    let gpu = gpu();
    let v = Variant::Direct;
    let z = |s: &[usize]| Tensor::zeros(&gpu, s).unwrap();
    let x = z(&[1, 3, 4, 4]);
    // Kernel larger than the padded input.
    let msg = input_err(conv2d::forward(
        &x,
        &z(&[2, 3, 7, 7]),
        None,
        false,
        Spec::new(1, 1),
        v,
    ));
    assert!(
        msg.contains("conv2d forward") && msg.contains("[1, 3, 4, 4]") && msg.contains("7x7"),
        "{msg}"
    );
    // Channel mismatch.
    let msg = input_err(conv2d::forward(
        &x,
        &z(&[2, 2, 3, 3]),
        None,
        false,
        Spec::new(1, 1),
        v,
    ));
    assert!(
        msg.contains("3 channels") && msg.contains("[2, 2, 3, 3]"),
        "{msg}"
    );
    // Not 4-D, zero stride, wrong bias.
    let msg = input_err(conv2d::forward(
        &z(&[3, 4, 4]),
        &z(&[2, 3, 3, 3]),
        None,
        false,
        Spec::new(1, 1),
        v,
    ));
    assert!(msg.contains("4-D"), "{msg}");
    let msg = input_err(conv2d::forward(
        &x,
        &z(&[2, 3, 3, 3]),
        None,
        false,
        Spec::new(0, 1),
        v,
    ));
    assert!(msg.contains("stride"), "{msg}");
    let msg = input_err(conv2d::forward(
        &x,
        &z(&[2, 3, 3, 3]),
        Some(&z(&[3])),
        false,
        Spec::new(1, 1),
        v,
    ));
    assert!(msg.contains("bias"), "{msg}");
    // Gradients with the wrong upstream shape, or a weight that does not fit.
    let msg = input_err(conv2d::backward_input(
        &z(&[1, 2, 3, 3]),
        &z(&[2, 3, 3, 3]),
        &[1, 3, 4, 4],
        Spec::new(1, 1),
        v,
    ));
    assert!(
        msg.contains("conv2d input gradient") && msg.contains("[1, 2, 3, 3]"),
        "{msg}"
    );
    let msg = input_err(conv2d::backward_weight(
        &z(&[1, 2, 4, 4]),
        &x,
        &[2, 3, 9, 9],
        Spec::new(1, 1),
        v,
    ));
    assert!(
        msg.contains("conv2d weight gradient") && msg.contains("9x9"),
        "{msg}"
    );
    let msg = input_err(conv2d::backward(
        &x,
        &z(&[2, 3, 3, 3]),
        &z(&[1, 2, 5, 5]),
        Spec::new(1, 1),
        [true; 3],
        v,
    ));
    assert!(msg.contains("output gradient"), "{msg}");
    // Pooling: window larger than the input, bad dims.
    let msg = input_err(pool::max_pool2d(&z(&[1, 1, 2, 5]), 3, 1));
    assert!(
        msg.contains("max_pool2d") && msg.contains("[1, 1, 2, 5]"),
        "{msg}"
    );
    let msg = input_err(pool::global_avg_pool(&z(&[4, 4])));
    assert!(msg.contains("global_avg_pool"), "{msg}");
}

#[test]
fn packed_weights_are_reused_until_the_weight_changes() {
    let gpu = own_gpu();
    if !Variant::Texture.supported(&gpu) {
        assert!(!gpu.is_cpu(), "CPU adapters run the texture variant");
        return; // nothing is packed without subgroups (real GPUs use the tiled variant)
    }
    let g = geometry(&CASES[4]);
    let x_host = values(g.x_len(), 41);
    let mut w_host = values(g.w_len(), 42);
    let x = Tensor::from_slice(&gpu, &x_host, &g.x_shape()).unwrap();
    let w = Tensor::from_slice(&gpu, &w_host, &g.w_shape()).unwrap();
    let tol = tol_for(g.ci * g.kh * g.kw);
    let run = |w_host: &[f32], what: &str| {
        let y = conv2d::forward(&x, &w, None, false, g.spec, Variant::Texture).unwrap();
        let want = reference::forward(&g, &x_host, w_host, None, false);
        assert_close(&y.to_vec().unwrap(), &want, tol, what);
        gpu.derived_stats()
    };
    // Each forward looks up two derived textures: the packed input (kept for the weight
    // gradient; x never changes here, so it is a hit after the first) and the packed weight.
    let (hits, misses) = run(&w_host, "first forward");
    assert_eq!(
        (hits, misses),
        (0, 2),
        "the first forward packs input and weight"
    );
    assert_eq!(
        run(&w_host, "second forward"),
        (2, 2),
        "unchanged input and weight: both reused"
    );

    // A host write changes the weight: packed again (the input is still reused).
    w_host.iter_mut().for_each(|v| *v = -*v);
    w.write(&w_host).unwrap();
    assert_eq!(run(&w_host, "after a host write"), (3, 3));

    // So does a kernel that updates it in place (as an optimizer step does).
    let ones = Tensor::from_slice(&gpu, &vec![1.0; g.w_len()], &g.w_shape()).unwrap();
    ew::axpby(0.5, &ones, 1.0, &w).unwrap();
    w_host.iter_mut().for_each(|v| *v += 0.5);
    assert_eq!(run(&w_host, "after an in-place kernel"), (4, 4));

    // Reading the weight elsewhere (a kernel that only reads it) keeps the packed copy.
    let _scaled = ew::scale(&w, 2.0).unwrap();
    assert_eq!(run(&w_host, "after a read-only kernel"), (6, 4));

    // The weight gradient reuses the forward's packed input.
    let dy = Tensor::from_slice(&gpu, &values(g.y_len(), 43), &g.y_shape()).unwrap();
    conv2d::backward_weight(&dy, &x, &g.w_shape(), g.spec, Variant::Texture).unwrap();
    assert_eq!(
        gpu.derived_stats(),
        (7, 4),
        "weight gradient: packed input reused"
    );

    // The input gradient reads the forward's packed weight (no flipped copy is packed).
    conv2d::backward_input(&dy, &w, &g.x_shape(), g.spec, Variant::Texture).unwrap();
    assert_eq!(
        gpu.derived_stats(),
        (8, 4),
        "input gradient: forward weight texture reused"
    );
}

#[test]
fn packed_inputs_are_kept_only_within_the_input_cache_budget() {
    let gpu = own_gpu();
    if !Variant::Texture.supported(&gpu) {
        assert!(!gpu.is_cpu(), "CPU adapters run the texture variant");
        return; // nothing is packed without subgroups (real GPUs use the tiled variant)
    }
    let g = geometry(&CASES[4]);
    let x_host = values(g.x_len(), 51);
    let w_host = values(g.w_len(), 52);
    let w = Tensor::from_slice(&gpu, &w_host, &g.w_shape()).unwrap();
    let want = reference::forward(&g, &x_host, &w_host, None, false);
    let tol = tol_for(g.ci * g.kh * g.kw);
    let forward_twice = |what: &str| {
        let x = Tensor::from_slice(&gpu, &x_host, &g.x_shape()).unwrap();
        for _ in 0..2 {
            let y = conv2d::forward(&x, &w, None, false, g.spec, Variant::Texture).unwrap();
            assert_close(&y.to_vec().unwrap(), &want, tol, what);
        }
        gpu.input_cache_stats()
    };
    // No budget: the input is packed for every use and nothing is held.
    gpu.set_input_cache_budget(0);
    let s = forward_twice("budget 0");
    assert_eq!((s.reused, s.over_budget, s.peak_bytes), (0, 2, 0), "{s:?}");
    // A budget: packed once, reused once, held while the input lives and freed with it.
    gpu.set_input_cache_budget(64 << 20);
    let s = forward_twice("budget 64 MiB");
    assert_eq!((s.reused, s.over_budget), (1, 2), "{s:?}");
    assert!(s.held_bytes > 0 && s.peak_bytes <= 64 << 20, "{s:?}");
    let s = gpu.input_cache_stats();
    assert_eq!(
        s.held_bytes, 0,
        "the input is gone, so is its packed copy: {s:?}"
    );
}
