//! The fused convolution + bias + ReLU + 2x2/2 max-pool (`ops::conv2d::pooled`): every variant
//! against the unfused reference chain on the op's awkward shapes (`pooled::reference::CASES`,
//! which `dak kernels check` runs too), the fused backward against the
//! reference and finite differences, and the tape node against the unfused layers mid-graph.
use crate::common::*;
use dak::autograd::{Params, Tape};
use dak::nn::{Conv2d, Conv2dConfig, Init, MaxPool2d};
use dak::ops::conv2d::pooled::reference::CASES;
use dak::ops::conv2d::reference::Case;
use dak::ops::conv2d::{pooled, Geometry, Spec, Variant};
use dak::ops::pool::{self, PoolGeometry};
use dak::ops::pool_relu::{self, ReluPoolKernel};
use dak::Tensor;

fn geometry(c: &Case) -> Geometry {
    c.geometry("test").unwrap()
}

/// A case outside the op's list: `(x shape, co, k, stride, pad)`.
fn other(&(xs, co, k, s, p): &([usize; 4], usize, usize, usize, usize)) -> Geometry {
    Geometry::new(&xs, &[co, xs[1], k, k], Spec::new(s, p), "test").unwrap()
}

fn variants(gpu: &dak::Gpu) -> Vec<Variant> {
    Variant::ALL
        .into_iter()
        .filter(|v| v.supported(gpu))
        .collect()
}

/// Argmax entries where the pooled output is positive (elsewhere any argmax is right: the
/// ReLU masks its gradient).
fn live_argmax(arg: &[u32], y: &[f32], tol: f32) -> Vec<u32> {
    arg.iter()
        .zip(y)
        .map(|(&a, &v)| if v > tol { a } else { u32::MAX })
        .collect()
}

#[test]
fn fused_forward_matches_the_unfused_reference_on_every_variant() {
    with_cpu_and_portable_paths(|gpu, paths| {
        for (i, case) in CASES.iter().enumerate() {
            let g = geometry(case);
            let seed = 30 * i as u64;
            let (x, w, b) = (
                values(g.x_len(), seed),
                values(g.w_len(), seed + 1),
                values(g.co, seed + 2),
            );
            let tx = Tensor::from_slice(gpu, &x, &g.x_shape()).unwrap();
            let tw = Tensor::from_slice(gpu, &w, &g.w_shape()).unwrap();
            let tb = Tensor::from_slice(gpu, &b, &[g.co]).unwrap();
            let tol = tol_for(g.ci * g.kh * g.kw);
            for with_bias in [true, false] {
                let bias = with_bias.then_some(&b[..]);
                let (want_y, want_arg) = pooled::reference::forward(&g, &x, &w, bias);
                for v in variants(gpu) {
                    let what = format!("{} {} bias={with_bias} {paths}", g.label(), v.name());
                    let (y, arg) =
                        pooled::forward(&tx, &tw, with_bias.then_some(&tb), g.spec, v).unwrap();
                    assert_eq!(y.shape(), &want_shape(&g)[..], "{what}");
                    let y = y.to_vec().unwrap();
                    assert_close(&y, &want_y, tol, &format!("pooled y {what}"));
                    assert_eq!(
                        live_argmax(&arg.to_vec_u32().unwrap(), &want_y, tol),
                        live_argmax(&want_arg, &want_y, tol),
                        "argmax {what}"
                    );
                }
            }
        }
    });
}

fn want_shape(g: &Geometry) -> [usize; 4] {
    [g.n, g.co, g.oh / 2, g.ow / 2]
}

/// One forward of `variant` runs its fused kernel `fused` once and no separate pooling pass.
fn pools_in_the_gemm_store(gpu: dak::Gpu, variant: Variant, fused: &str) {
    let g = geometry(&CASES[1]);
    let tx = Tensor::from_slice(&gpu, &values(g.x_len(), 1), &g.x_shape()).unwrap();
    let tw = Tensor::from_slice(&gpu, &values(g.w_len(), 2), &g.w_shape()).unwrap();
    let (y, _) = pooled::forward(&tx, &tw, None, g.spec, variant).unwrap();
    y.to_vec().unwrap();
    assert_eq!(gpu.dispatches_of(fused), 1, "{fused}");
    assert_eq!(
        gpu.dispatches_of("pool/max_fwd"),
        0,
        "no separate pooling pass"
    );
}

#[test]
fn the_texture_variant_pools_in_the_gemm_store() {
    let gpu = own_gpu();
    if !Variant::Texture.supported(&gpu) {
        return;
    }
    // 32 channels: the narrowest tile of 2, 3, 4 or 6 columns per lane that holds them.
    let sg = gpu.subgroup_size() as usize;
    let fused = match [2, 3, 4, 6].into_iter().find(|n| 32 <= n * sg) {
        Some(n) => format!("conv2d/fwd_igemm_n{n}_pool_tex_s{sg}"),
        None => format!("conv2d/fwd_igemm_pool_tex_s{sg}"),
    };
    pools_in_the_gemm_store(gpu, Variant::Texture, &fused);
}

#[test]
fn the_tiled_variant_pools_in_the_gemm_store() {
    pools_in_the_gemm_store(own_gpu(), Variant::Tiled, "conv2d/fwd_igemm_pool_tiled");
}

#[test]
fn fused_backward_matches_the_reference_on_every_variant() {
    with_cpu_and_portable_paths(|gpu, paths| {
        for (i, case) in CASES.iter().enumerate() {
            let g = geometry(case);
            let pg = pooled::pool_geometry(&g).unwrap();
            let seed = 40 * i as u64;
            let (x, w, b) = (
                values(g.x_len(), seed),
                values(g.w_len(), seed + 1),
                values(g.co, seed + 2),
            );
            // Not all ones, not centred: a backward that ignores dY fails.
            let dy: Vec<f32> = values(pg.y_len(), seed + 3)
                .iter()
                .map(|v| 2.0 * v + 0.25)
                .collect();
            let tx = Tensor::from_slice(gpu, &x, &g.x_shape()).unwrap();
            let tw = Tensor::from_slice(gpu, &w, &g.w_shape()).unwrap();
            let tb = Tensor::from_slice(gpu, &b, &[g.co]).unwrap();
            let tdy = Tensor::from_slice(gpu, &dy, &pg.y_shape()).unwrap();
            for v in variants(gpu) {
                let what = format!("{} {} {paths}", g.label(), v.name());
                let (y, arg) = pooled::forward(&tx, &tw, Some(&tb), g.spec, v).unwrap();
                let grads =
                    pooled::backward(&tx, &tw, &tdy, &y, &arg, g.spec, [true; 3], v).unwrap();
                // The reference backward through the same saved argmax and mask.
                let (dx, dw, db) = pooled::reference::backward(
                    &g,
                    &x,
                    &w,
                    &dy,
                    &y.to_vec().unwrap(),
                    &arg.to_vec_u32().unwrap(),
                );
                let k = g.co * g.kh * g.kw;
                let get = |t: Option<Tensor>| t.unwrap().to_vec().unwrap();
                assert_close(&get(grads.dx), &dx, tol_for(k), &format!("dx {what}"));
                let p = g.n * g.oh * g.ow;
                assert_close(&get(grads.dw), &dw, tol_for(p), &format!("dw {what}"));
                assert_close(&get(grads.db), &db, tol_for(p), &format!("db {what}"));
                // Without dX (a first layer): the texture variant's weight gradient reads the
                // pooled gradient's window pairs where the shape allows.
                let grads =
                    pooled::backward(&tx, &tw, &tdy, &y, &arg, g.spec, [false, true, true], v)
                        .unwrap();
                assert!(grads.dx.is_none(), "{what}");
                assert_close(
                    &get(grads.dw),
                    &dw,
                    tol_for(p),
                    &format!("dw, no dx {what}"),
                );
                assert_close(
                    &get(grads.db),
                    &db,
                    tol_for(p),
                    &format!("db, no dx {what}"),
                );
            }
        }
    });
}

/// On the texture variant (CPU adapters) the fused backward builds no dZ: the pooled gradient
/// goes to the weight gradient and the input gradient's packing as window pairs, with and
/// without dX (a first layer).
#[test]
fn the_texture_backward_reads_the_pooled_gradient_in_pairs() {
    for needs in [[false, true, true], [true, true, true]] {
        let gpu = own_gpu();
        if !Variant::Texture.supported(&gpu) || !gpu.cpu_paths() {
            assert!(!gpu.is_cpu(), "CPU adapters run the texture variant");
            return;
        }
        let g = geometry(&CASES[2]);
        let pg = pooled::pool_geometry(&g).unwrap();
        let tx = Tensor::from_slice(&gpu, &values(g.x_len(), 1), &g.x_shape()).unwrap();
        let tw = Tensor::from_slice(&gpu, &values(g.w_len(), 2), &g.w_shape()).unwrap();
        let tdy = Tensor::from_slice(&gpu, &values(pg.y_len(), 3), &pg.y_shape()).unwrap();
        let (y, arg) = pooled::forward(&tx, &tw, None, g.spec, Variant::Texture).unwrap();
        let v = Variant::Texture;
        let grads = pooled::backward(&tx, &tw, &tdy, &y, &arg, g.spec, needs, v).unwrap();
        assert_eq!(grads.dx.is_some(), needs[0]);
        grads.dw.unwrap().to_vec().unwrap();
        assert_eq!(
            gpu.dispatches_of("pool/max_relu_grad_pairs"),
            1,
            "{needs:?}"
        );
        assert_eq!(gpu.dispatches_of("pool/max_relu_bwd"), 0, "no dZ {needs:?}");
    }
}

/// Central differences of `Σ up · pooled(θ)` where the pool's argmax and ReLU mask stay put on
/// both sides of the step (the function is smooth there); returns how many coordinates it
/// could check.
fn fd_where_smooth(
    theta: &[f32],
    analytic: &[f32],
    up: &[f32],
    f: impl Fn(&[f32]) -> (Vec<f32>, Vec<u32>),
    what: &str,
) -> usize {
    let eps = 1e-3f32;
    let (y0, a0) = f(theta);
    let mask = |y: &[f32]| y.iter().map(|&v| v > 0.0).collect::<Vec<_>>();
    let mut checked = 0;
    for i in 0..theta.len() {
        let mut p = theta.to_vec();
        p[i] += eps;
        let (yp, ap) = f(&p);
        p[i] -= 2.0 * eps;
        let (ym, am) = f(&p);
        if ap != a0 || am != a0 || mask(&yp) != mask(&y0) || mask(&ym) != mask(&y0) {
            continue;
        }
        let dot = |y: &[f32]| -> f64 { y.iter().zip(up).map(|(a, b)| *a as f64 * *b as f64).sum() };
        let numeric = (dot(&yp) - dot(&ym)) / (2.0 * eps as f64);
        assert!(
            (numeric - analytic[i] as f64).abs() <= 5e-3 * (1.0 + numeric.abs()),
            "{what}: coordinate {i}: numeric {numeric}, analytic {}",
            analytic[i]
        );
        checked += 1;
    }
    checked
}

#[test]
fn fused_reference_backward_matches_finite_differences() {
    // Odd output (5x7 -> 2x3 with a row and column dropped), stride 2 with padding, batch 2.
    let cases: &[([usize; 4], usize, usize, usize, usize)] =
        &[([1, 3, 7, 9], 2, 3, 1, 0), ([2, 2, 9, 8], 3, 3, 2, 1)];
    for (i, case) in cases.iter().enumerate() {
        let g = other(case);
        let pg: PoolGeometry = pooled::pool_geometry(&g).unwrap();
        let seed = 70 + 10 * i as u64;
        let (x, w, b) = (
            values(g.x_len(), seed),
            values(g.w_len(), seed + 1),
            values(g.co, seed + 2),
        );
        let up: Vec<f32> = values(pg.y_len(), seed + 3)
            .iter()
            .map(|v| 3.0 * v + 0.5)
            .collect();
        let (y, arg) = pooled::reference::forward(&g, &x, &w, Some(&b));
        let (dx, dw, db) = pooled::reference::backward(&g, &x, &w, &up, &y, &arg);
        let what = g.label();
        let fwd = |x: &[f32], w: &[f32], b: &[f32]| pooled::reference::forward(&g, x, w, Some(b));
        let nx = fd_where_smooth(&x, &dx, &up, |x| fwd(x, &w, &b), &format!("dX {what}"));
        let nw = fd_where_smooth(&w, &dw, &up, |w| fwd(&x, w, &b), &format!("dW {what}"));
        let nb = fd_where_smooth(&b, &db, &up, |b| fwd(&x, &w, b), &format!("db {what}"));
        // The check must actually cover the gradients, not skip them all.
        assert!(
            nx * 10 >= x.len() * 8,
            "dX {what}: only {nx}/{} checked",
            x.len()
        );
        assert!(
            nw * 10 >= w.len() * 8,
            "dW {what}: only {nw}/{} checked",
            w.len()
        );
        assert!(
            nb * 10 >= b.len() * 5,
            "db {what}: only {nb}/{} checked",
            b.len()
        );
        assert!(dx.iter().any(|&v| v != 0.0) && dw.iter().any(|&v| v != 0.0));
    }
}

#[test]
fn relu_pool_backward_kernels_match_their_reference() {
    let gpu = own_gpu(); // its CPU paths are switched off below
    for mirrors in [true, false] {
        gpu.set_cpu_paths(mirrors);
        for &(shape, k, s) in pool::reference::RELU_CASES {
            let g = PoolGeometry::new(&shape, k, s, "test").unwrap();
            let z = values(g.x_len(), 3);
            let (y, arg) = pool::reference::max_pool2d(&g, &z);
            let y: Vec<f32> = y.iter().map(|v| v.max(0.0)).collect();
            let both = y.contains(&0.0) && y.iter().any(|&v| v > 0.0);
            assert!(
                both || y.len() < 24,
                "{shape:?}: ReLU masks nothing or everything"
            );
            let dy: Vec<f32> = values(g.y_len(), 4)
                .iter()
                .map(|v| 2.0 * v + 0.25)
                .collect();
            let masked: Vec<f32> = dy
                .iter()
                .zip(&y)
                .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
                .collect();
            let t = |v: &[f32]| Tensor::from_slice(&gpu, v, &g.y_shape()).unwrap();
            let targ = Tensor::from_u32(&gpu, &arg, &g.y_shape()).unwrap();
            let want = pool::reference::max_pool2d_relu_backward(&g, &dy, &y, &arg);
            let x4 = ReluPoolKernel::x4_fits(&g);
            for kernel in [
                ReluPoolKernel::Scatter,
                ReluPoolKernel::X4,
                ReluPoolKernel::Auto,
            ] {
                let what = format!("{shape:?} k{k} s{s} {kernel:?} mirrors {mirrors}");
                let run = pool_relu::max_pool2d_relu_backward_with(
                    &t(&dy),
                    &t(&y),
                    &targ,
                    &shape,
                    k,
                    s,
                    kernel,
                );
                if kernel == ReluPoolKernel::X4 && !x4 {
                    let msg = run.expect_err("X4 on a shape it does not fit").to_string();
                    assert!(msg.contains("vec4 kernel"), "{what}: {msg}");
                    continue;
                }
                let (dz, gm) = run.unwrap();
                assert_close(&dz.to_vec().unwrap(), &want, 0.0, &what);
                assert_close(&gm.to_vec().unwrap(), &masked, 0.0, &what);
            }
        }
    }
    gpu.set_cpu_paths(true);
    // The digits layers take the vec4 kernel.
    let digits = |h, w| PoolGeometry::new(&[128, 32, h, w], 2, 2, "test").unwrap();
    assert!(ReluPoolKernel::x4_fits(&digits(24, 24)) && ReluPoolKernel::x4_fits(&digits(8, 8)));
}

/// One fused tape node gives the gradients of the unfused conv and pool nodes, mid-graph (a
/// second convolution downstream, so dX of the fused layer is used too).
#[test]
fn the_fused_tape_node_matches_the_unfused_layers() {
    let gpu = gpu();
    let mut params = Params::new();
    let mut init = Init::new(5);
    let conv1 = Conv2d::new(
        &gpu,
        &mut params,
        "c1",
        Conv2dConfig::relu(3, 5, 3, Spec::new(1, 0)),
        &mut init,
    )
    .unwrap();
    let conv2 = Conv2d::new(
        &gpu,
        &mut params,
        "c2",
        Conv2dConfig::relu(5, 6, 3, Spec::new(1, 1)),
        &mut init,
    )
    .unwrap();
    let pool = MaxPool2d {
        kernel: 2,
        stride: 2,
    };
    // Non-zero biases so the bias gradient path is exercised with a shifted activation.
    for (_, p) in params.iter() {
        if p.name.ends_with(".bias") {
            p.value.write(&values(p.value.numel(), 9)).unwrap();
        }
    }
    // 13x11: odd conv outputs; 14x10: a 12x8 conv output whose weight gradient (a first layer,
    // no dX) reads the pooled gradient in window pairs on CPU adapters.
    for (h, w) in [(13, 11), (14, 10)] {
        let x = Tensor::from_slice(&gpu, &values(2 * 3 * h * w, 6), &[2, 3, h, w]).unwrap();
        fused_node_matches_unfused(&gpu, &params, &conv1, &conv2, &pool, &x);
    }
}

fn fused_node_matches_unfused(
    gpu: &dak::Gpu,
    params: &Params,
    conv1: &Conv2d,
    conv2: &Conv2d,
    pool: &MaxPool2d,
    x: &Tensor,
) {
    let run = |fused: bool| {
        let mut tape = Tape::new();
        let xv = tape.input(x.clone());
        let h = if fused {
            let w = tape.param(params, conv1.weight);
            let b = tape.param(params, conv1.bias);
            tape.conv2d_pool(xv, w, Some(b), conv1.spec).unwrap()
        } else {
            let h = conv1.forward(&mut tape, params, xv).unwrap();
            pool.forward(&mut tape, h).unwrap()
        };
        let h = conv2.forward(&mut tape, params, h).unwrap();
        let out = tape.tensor(h).clone();
        // Cross-entropy over the flattened map: an upstream gradient that is not all ones.
        let z = dak::nn::flatten(&mut tape, h).unwrap();
        let labels = Tensor::from_u32(gpu, &[1, 7], &[2]).unwrap();
        let weights = Tensor::from_slice(gpu, &[1.0, 0.5], &[2]).unwrap();
        let loss = tape.softmax_xent(z, &labels, &weights, 3.0).unwrap();
        let grads = tape.backward(&[loss]).unwrap();
        (out.to_vec().unwrap(), grads)
    };
    let (y_f, g_f) = run(true);
    let (y_u, g_u) = run(false);
    assert_close(&y_f, &y_u, 1e-5, "output");
    for (id, p) in params.iter() {
        let (a, b) = (g_f[&id].to_vec().unwrap(), g_u[&id].to_vec().unwrap());
        assert_close(&a, &b, 1e-4, &format!("{} at {:?}", p.name, x.shape()));
    }
}
