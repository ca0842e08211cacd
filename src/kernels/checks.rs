//! The registry table and each kernel's check: the awkward-shape cases, run through the op's
//! launch function and compared with its `reference` module.

use super::{tol_for, Checker, Kernel};
use crate::ops::conv2d::{self, Geometry, Pass, Spec};
use crate::ops::{bce, elementwise as ew, matmul, optim, pool, softmax_xent};
use crate::{DType, Gpu, Result, Tensor};

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn always(_: &Gpu) -> bool {
    true
}

fn subgroups(gpu: &Gpu) -> bool {
    matmul::Variant::Subgroup.supported(gpu)
}

// ---------------------------------------------------------------------------------------------
// matmul

/// (m, n, k, trans_a, trans_b, bias, relu): sizes off the 64-tile, batch 1, a long reduction,
/// and the three forms a dense layer uses (nt forward, nn input gradient, tn weight gradient).
const GEMM_CASES: &[(usize, usize, usize, bool, bool, bool, bool)] = &[
    (33, 65, 31, false, true, true, true),
    (1, 129, 65, false, false, false, false),
    (70, 3, 7, true, false, true, false),
    (2, 10, 300, false, true, true, true),
];

fn check_gemm(gpu: &Gpu, c: &mut Checker, v: matmul::Variant) -> Result<()> {
    for (i, &(m, n, k, trans_a, trans_b, with_bias, relu)) in GEMM_CASES.iter().enumerate() {
        c.case();
        let g = matmul::Gemm {
            m,
            n,
            k,
            trans_a,
            trans_b,
            relu,
        };
        let seed = 100 + 10 * i as u64;
        let a = values(m * k, seed);
        let b = values(k * n, seed + 1);
        let bias = values(n, seed + 2);
        let ta = Tensor::from_slice(gpu, &a, &[a.len()])?;
        let tb = Tensor::from_slice(gpu, &b, &[b.len()])?;
        let tbias = Tensor::from_slice(gpu, &bias, &[n])?;
        let got = matmul::gemm(&ta, &tb, with_bias.then_some(&tbias), g, v)?.to_vec()?;
        let want = matmul::reference::gemm(&a, &b, with_bias.then_some(&bias[..]), g);
        let form = format!(
            "{}{}",
            if trans_a { 't' } else { 'n' },
            if trans_b { 't' } else { 'n' }
        );
        c.compare(
            &format!("C of {m}x{n}x{k} ({form}, bias {with_bias}, relu {relu})"),
            &got,
            &want,
            tol_for(k),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// conv2d

/// (n, ci, h, w, co, k, stride, pad)
type ConvCase = (usize, usize, usize, usize, usize, usize, usize, usize);

const CONV_CASES: &[ConvCase] = &[
    (1, 3, 7, 9, 5, 3, 1, 1),  // batch 1, 3 channels, odd H/W
    (2, 3, 9, 7, 70, 5, 2, 2), // 5x5, stride 2, Co past one 64-tile
    (2, 5, 6, 6, 3, 1, 1, 0),  // 1x1 kernel
    (2, 66, 5, 5, 7, 3, 2, 1), // Ci past one tile (input-gradient columns), stride 2
    (2, 5, 6, 8, 6, 3, 1, 2),  // W a multiple of 4 (4-column packing), pad 2, C = 5
    (1, 3, 6, 8, 4, 3, 1, 1),  // W and oW multiples of 4: every pass packs 4 columns at a time
];

fn check_conv(gpu: &Gpu, c: &mut Checker, pass: Pass, v: conv2d::Variant) -> Result<()> {
    for (i, &(n, ci, h, w, co, k, s, p)) in CONV_CASES.iter().enumerate() {
        c.case();
        let g = Geometry::new(&[n, ci, h, w], &[co, ci, k, k], Spec::new(s, p), "check")?;
        let seed = 200 + 10 * i as u64;
        let x = values(g.x_len(), seed);
        let wt = values(g.w_len(), seed + 1);
        let b = values(co, seed + 2);
        // An upstream gradient that is not all ones and not centred.
        let dy: Vec<f32> = values(g.y_len(), seed + 3)
            .iter()
            .map(|v| 2.0 * v + 0.25)
            .collect();
        let tw = Tensor::from_slice(gpu, &wt, &g.w_shape())?;
        let (got, want, len, name) = match pass {
            Pass::Forward => {
                let (with_bias, relu) = (i % 2 == 0, i != 1);
                let tx = Tensor::from_slice(gpu, &x, &g.x_shape())?;
                let tb = Tensor::from_slice(gpu, &b, &[co])?;
                let y = conv2d::forward(&tx, &tw, with_bias.then_some(&tb), relu, g.spec, v)?;
                let want =
                    conv2d::reference::forward(&g, &x, &wt, with_bias.then_some(&b[..]), relu);
                (y.to_vec()?, want, g.ci * g.kh * g.kw, "y")
            }
            Pass::InputGrad => {
                let tdy = Tensor::from_slice(gpu, &dy, &g.y_shape())?;
                let dx = conv2d::backward_input(&tdy, &tw, &g.x_shape(), g.spec, v)?;
                let want = conv2d::reference::backward_input(&g, &dy, &wt);
                (dx.to_vec()?, want, g.co * g.kh * g.kw, "dx")
            }
            Pass::WeightGrad => {
                let tx = Tensor::from_slice(gpu, &x, &g.x_shape())?;
                let tdy = Tensor::from_slice(gpu, &dy, &g.y_shape())?;
                let dw = conv2d::backward_weight(&tdy, &tx, &g.w_shape(), g.spec, v)?;
                let want = conv2d::reference::backward_weight(&g, &dy, &x);
                (dw.to_vec()?, want, g.n * g.oh * g.ow, "dw")
            }
        };
        c.compare(
            &format!("{name} of {}", g.label()),
            &got,
            &want,
            tol_for(len),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// pooling

/// ([n, c, h, w], k, stride): a partial last window (odd sizes), overlapping 3x3/2 windows on a
/// plane big enough for the per-plane grid, and an exact 2x2/2 tiling of a large plane.
const MAX_CASES: &[([usize; 4], usize, usize)] = &[
    ([1, 3, 7, 9], 2, 2),
    ([2, 3, 17, 15], 3, 2),
    ([1, 3, 16, 18], 2, 2),
];

fn max_case(i: usize) -> Result<(pool::PoolGeometry, Vec<f32>)> {
    let (shape, k, s) = MAX_CASES[i];
    let g = pool::PoolGeometry::new(&shape, k, s, "check")?;
    Ok((g, values(g.x_len(), 300 + i as u64)))
}

fn label4(s: &[usize]) -> String {
    s.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn check_max_fwd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for i in 0..MAX_CASES.len() {
        c.case();
        let (g, x) = max_case(i)?;
        let tx = Tensor::from_slice(gpu, &x, &g.x_shape())?;
        let (y, arg) = pool::max_pool2d(&tx, g.k, g.stride)?;
        let (want_y, want_arg) = pool::reference::max_pool2d(&g, &x);
        let what = format!("{} k{} s{}", label4(&g.x_shape()), g.k, g.stride);
        c.compare(&format!("y of {what}"), &y.to_vec()?, &want_y, 0.0);
        c.compare_u32(&format!("argmax of {what}"), &arg.to_vec_u32()?, &want_arg);
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_max_bwd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for i in 0..MAX_CASES.len() {
        c.case();
        let (g, x) = max_case(i)?;
        // The reference argmax, so this checks the backward kernel alone.
        let (_, arg) = pool::reference::max_pool2d(&g, &x);
        let dy = values(g.y_len(), 310 + i as u64);
        let targ = Tensor::from_u32(gpu, &arg, &g.y_shape())?;
        let tdy = Tensor::from_slice(gpu, &dy, &g.y_shape())?;
        let dx = pool::max_pool2d_backward(&tdy, &targ, &g.x_shape(), g.k, g.stride)?;
        let want = pool::reference::max_pool2d_backward(&g, &dy, &arg);
        let what = format!("dx of {} k{} s{}", label4(&g.x_shape()), g.k, g.stride);
        c.compare(&what, &dx.to_vec()?, &want, tol_for(g.k * g.k));
        if c.failed() {
            break;
        }
    }
    Ok(())
}

/// Global average pooling inputs: a plane of 35 (per-plane grid) and of 9 (flat index).
const GAP_CASES: &[[usize; 4]] = &[[1, 3, 5, 7], [2, 3, 3, 3]];

fn check_gap(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    for (i, shape) in GAP_CASES.iter().enumerate() {
        c.case();
        let hw = shape[2] * shape[3];
        let what = label4(shape);
        if backward {
            let dy = values(shape[0] * shape[1], 320 + i as u64);
            let tdy = Tensor::from_slice(gpu, &dy, &shape[..2])?;
            let dx = pool::global_avg_pool_backward(&tdy, shape)?;
            let want = pool::reference::global_avg_pool_backward(&dy, hw);
            c.compare(&format!("dx of {what}"), &dx.to_vec()?, &want, tol_for(1));
        } else {
            let x = values(shape.iter().product(), 330 + i as u64);
            let tx = Tensor::from_slice(gpu, &x, shape)?;
            let y = pool::global_avg_pool(&tx)?;
            let want = pool::reference::global_avg_pool(&x, hw);
            c.compare(&format!("y of {what}"), &y.to_vec()?, &want, tol_for(hw));
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// elementwise

const CHANNEL_SHAPES: &[&[usize]] = &[&[2, 3, 5, 7], &[3, 5], &[7]];

fn check_bias_act(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, shape) in CHANNEL_SHAPES.iter().enumerate() {
        c.case();
        let n: usize = shape.iter().product();
        let x = values(n, 400 + i as u64);
        let tx = Tensor::from_slice(gpu, &x, shape)?;
        let (_, channels, inner) = ew::channel_layout(&tx);
        let b = values(channels, 401 + i as u64);
        let tb = Tensor::from_slice(gpu, &b, &[channels])?;
        let (with_bias, relu) = (i != 2, i != 1);
        let y = ew::bias_act(&tx, with_bias.then_some(&tb), relu)?;
        let want = ew::reference::bias_act(&x, with_bias.then_some(&b[..]), channels, inner, relu);
        let what = format!("y of {} (bias {with_bias}, relu {relu})", label4(shape));
        c.compare(&what, &y.to_vec()?, &want, tol_for(1));
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_bias_grad(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, shape) in CHANNEL_SHAPES[..2].iter().enumerate() {
        c.case();
        let n: usize = shape.iter().product();
        let dy = values(n, 410 + i as u64);
        let tdy = Tensor::from_slice(gpu, &dy, shape)?;
        let (outer, channels, inner) = ew::channel_layout(&tdy);
        let db = ew::bias_grad(&tdy)?;
        let want = ew::reference::bias_grad(&dy, outer, channels, inner);
        let what = format!("db of {}", label4(shape));
        c.compare(&what, &db.to_vec()?, &want, tol_for(outer * inner));
        if c.failed() {
            break;
        }
    }
    Ok(())
}

/// Odd lengths: one past a workgroup of 256, and a small one.
const LENGTHS: &[usize] = &[1001, 7];

fn check_relu_grad(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in LENGTHS.iter().enumerate() {
        c.case();
        let dy = values(n, 420 + i as u64);
        let y: Vec<f32> = values(n, 421 + i as u64)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        let tdy = Tensor::from_slice(gpu, &dy, &[n])?;
        let ty = Tensor::from_slice(gpu, &y, &[n])?;
        let dx = ew::relu_grad(&tdy, &ty)?;
        let want = ew::reference::relu_grad(&dy, &y);
        c.compare(&format!("dx of [{n}]"), &dx.to_vec()?, &want, 0.0);
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_axpby(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in LENGTHS.iter().enumerate() {
        c.case();
        let x = values(n, 430 + i as u64);
        let y = values(n, 431 + i as u64);
        let (alpha, beta) = (0.75f32, -2.0f32);
        let tx = Tensor::from_slice(gpu, &x, &[n])?;
        let ty = Tensor::from_slice(gpu, &y, &[n])?;
        ew::axpby(alpha, &tx, beta, &ty)?;
        let want: Vec<f32> = x
            .iter()
            .zip(&y)
            .map(|(a, b)| alpha * a + beta * b)
            .collect();
        c.compare(
            &format!("y of [{n}], 0.75x - 2y"),
            &ty.to_vec()?,
            &want,
            tol_for(2),
        );
        // beta = 0 must ignore y's (undefined) contents.
        let scaled = ew::scale(&tx, -0.5)?;
        let want: Vec<f32> = x.iter().map(|a| -0.5 * a).collect();
        c.compare(
            &format!("y of [{n}], -0.5x"),
            &scaled.to_vec()?,
            &want,
            tol_for(1),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_dropout(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in LENGTHS.iter().enumerate() {
        c.case();
        let x = values(n, 440 + i as u64);
        let tx = Tensor::from_slice(gpu, &x, &[n])?;
        let (rate, seed) = (0.3, 7 + i as u32);
        let y = ew::dropout(&tx, rate, seed)?;
        let want = ew::reference::dropout(&x, rate, seed);
        c.compare(
            &format!("y of [{n}], rate 0.3"),
            &y.to_vec()?,
            &want,
            tol_for(1),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// losses

/// (rows, classes): batch 1, and more rows than a workgroup of 64 with classes off a power of 2.
const XENT_CASES: &[(usize, usize)] = &[(1, 3), (70, 10)];

struct XentCase {
    z: Vec<f32>,
    labels: Vec<u32>,
    weights: Vec<f32>,
    tz: Tensor,
    tl: Tensor,
    tw: Tensor,
}

fn xent_case(gpu: &Gpu, i: usize) -> Result<XentCase> {
    let (rows, classes) = XENT_CASES[i];
    let z: Vec<f32> = values(rows * classes, 500 + i as u64)
        .iter()
        .map(|v| 4.0 * v)
        .collect();
    let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 1) % classes) as u32).collect();
    // Some samples masked out (the DANN target half has no labels).
    let weights: Vec<f32> = (0..rows)
        .map(|r| if rows > 1 && r % 3 == 2 { 0.0 } else { 1.0 })
        .collect();
    Ok(XentCase {
        tz: Tensor::from_slice(gpu, &z, &[rows, classes])?,
        tl: Tensor::from_u32(gpu, &labels, &[rows])?,
        tw: Tensor::from_slice(gpu, &weights, &[rows])?,
        z,
        labels,
        weights,
    })
}

fn check_xent(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    for (i, &(rows, classes)) in XENT_CASES.iter().enumerate() {
        c.case();
        let x = xent_case(gpu, i)?;
        let scale = 0.5;
        if backward {
            let dz = softmax_xent::backward(&x.tz, &x.tl, &x.tw, scale)?;
            let want =
                softmax_xent::reference::backward(&x.z, &x.labels, &x.weights, classes, scale);
            let what = format!("dz of [{rows}, {classes}]");
            c.compare(&what, &dz.to_vec()?, &want, tol_for(classes));
        } else {
            let loss = softmax_xent::forward(&x.tz, &x.tl, &x.tw, scale)?;
            let want =
                softmax_xent::reference::forward(&x.z, &x.labels, &x.weights, classes, scale);
            let what = format!("loss of [{rows}, {classes}]");
            c.compare(&what, &loss.to_vec()?, &[want], tol_for(rows * classes));
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_argmax(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &(rows, classes)) in XENT_CASES.iter().enumerate() {
        c.case();
        let x = xent_case(gpu, i)?;
        let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
        let pred = softmax_xent::argmax_correct(&x.tz, &x.tl, &x.tw, &counts)?;
        let want = softmax_xent::reference::argmax(&x.z, classes);
        let what = format!("[{rows}, {classes}]");
        c.compare_u32(
            &format!("predictions of {what}"),
            &pred.to_vec_u32()?,
            &want,
        );
        let counted: Vec<usize> = (0..rows).filter(|&r| x.weights[r] > 0.0).collect();
        let correct = counted.iter().filter(|&&r| want[r] == x.labels[r]).count();
        c.compare_u32(
            &format!("(correct, counted) of {what}"),
            &counts.to_vec_u32()?,
            &[correct as u32, counted.len() as u32],
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_bce(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    for (i, &n) in [1usize, 300].iter().enumerate() {
        c.case();
        let x: Vec<f32> = values(n, 520 + i as u64).iter().map(|v| 6.0 * v).collect();
        let t: Vec<f32> = (0..n).map(|j| (j % 2) as f32).collect();
        let tx = Tensor::from_slice(gpu, &x, &[n])?;
        let tt = Tensor::from_slice(gpu, &t, &[n])?;
        let scale = 2.0;
        if backward {
            let dx = bce::backward(&tx, &tt, scale)?;
            let want = bce::reference::backward(&x, &t, scale);
            c.compare(&format!("dx of [{n}]"), &dx.to_vec()?, &want, tol_for(1));
        } else {
            let loss = bce::forward(&tx, &tt, scale)?;
            let want = bce::reference::forward(&x, &t, scale);
            c.compare(
                &format!("loss of [{n}]"),
                &loss.to_vec()?,
                &[want],
                tol_for(n),
            );
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_binary_correct(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in [1usize, 65, 300].iter().enumerate() {
        c.case();
        let x: Vec<f32> = values(n, 540 + i as u64).iter().map(|v| 3.0 * v).collect();
        let t: Vec<f32> = (0..n).map(|j| (j % 3 == 0) as u8 as f32).collect();
        let tx = Tensor::from_slice(gpu, &x, &[n])?;
        let tt = Tensor::from_slice(gpu, &t, &[n])?;
        let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
        bce::binary_correct(&tx, &tt, &counts)?;
        let got: Vec<f32> = counts.to_vec_u32()?.iter().map(|&v| v as f32).collect();
        let want = [bce::reference::binary_correct(&x, &t) as f32, n as f32];
        c.compare(&format!("counters of [{n}]"), &got, &want, 0.0);
        if c.failed() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// optimizers

fn check_sgd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in LENGTHS.iter().enumerate() {
        c.case();
        let h = optim::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: i == 0,
            weight_decay: 1e-2,
        };
        let (mut w, g, mut v) = (
            values(n, 600 + i as u64),
            values(n, 601 + i as u64),
            values(n, 602 + i as u64),
        );
        let (tw, tg, tv) = (
            Tensor::from_slice(gpu, &w, &[n])?,
            Tensor::from_slice(gpu, &g, &[n])?,
            Tensor::from_slice(gpu, &v, &[n])?,
        );
        optim::sgd_step(&tw, &tg, &tv, h)?;
        optim::reference::sgd_step(&mut w, &g, &mut v, h);
        c.compare(&format!("w of [{n}]"), &tw.to_vec()?, &w, tol_for(4));
        c.compare(&format!("velocity of [{n}]"), &tv.to_vec()?, &v, tol_for(4));
        if c.failed() {
            break;
        }
    }
    Ok(())
}

fn check_adam(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in LENGTHS.iter().enumerate() {
        c.case();
        let h = optim::Adam {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: if i == 0 { 1e-2 } else { 0.0 },
            step: 3,
        };
        let w0 = values(n, 610 + i as u64);
        let g = values(n, 611 + i as u64);
        let m0: Vec<f32> = values(n, 612 + i as u64).iter().map(|v| 0.1 * v).collect();
        let v0: Vec<f32> = values(n, 613 + i as u64)
            .iter()
            .map(|v| 0.01 * v.abs())
            .collect();
        let (tw, tg, tm, tv) = (
            Tensor::from_slice(gpu, &w0, &[n])?,
            Tensor::from_slice(gpu, &g, &[n])?,
            Tensor::from_slice(gpu, &m0, &[n])?,
            Tensor::from_slice(gpu, &v0, &[n])?,
        );
        optim::adam_step(&tw, &tg, &tm, &tv, h)?;
        let (mut w, mut m, mut v) = (w0, m0, v0);
        optim::reference::adam_step(&mut w, &g, &mut m, &mut v, h);
        c.compare(&format!("w of [{n}]"), &tw.to_vec()?, &w, tol_for(16));
        c.compare(&format!("m of [{n}]"), &tm.to_vec()?, &m, tol_for(4));
        c.compare(&format!("v of [{n}]"), &tv.to_vec()?, &v, tol_for(4));
        if c.failed() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// roofline kernels of `dak bench --peak`

fn check_fma(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    c.case();
    let (groups, iters, seed) = (2u32, 6u32, 0.5f32);
    let out = Tensor::uninit(gpu, &[groups as usize * 64], DType::F32)?;
    let p = [iters, seed.to_bits(), 0, 0];
    gpu.dispatch(
        "bench/fma.wgsl",
        &[],
        bytemuck::cast_slice(&p),
        &[out.binding()],
        [groups, 1, 1],
    )?;
    let want: Vec<f32> = (0..groups * 64)
        .map(|i| {
            let x = i as f64 * 1e-7 + seed as f64;
            let mut sum = 0f64;
            // 4 chains of 2 steps per round
            for j in 0..4 {
                let mut a = x + j as f64;
                for _ in 0..2 * iters {
                    a = a * 0.999999 + x;
                }
                sum += 4.0 * a;
            }
            sum as f32
        })
        .collect();
    c.compare(
        &format!("out of {groups} workgroups x {iters} iterations"),
        &out.to_vec()?,
        &want,
        tol_for(64),
    );
    Ok(())
}

fn check_copy(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    c.case();
    let n = 4 * 259;
    let src = values(n, 700);
    let tsrc = Tensor::from_slice(gpu, &src, &[n])?;
    let dst = Tensor::zeros(gpu, &[n])?;
    let p = [(n / 4) as u32, 0, 0, 0];
    gpu.dispatch(
        "bench/copy.wgsl",
        &[],
        bytemuck::cast_slice(&p),
        &[tsrc.binding(), dst.binding()],
        crate::ops::grid_1d(n / 4),
    )?;
    c.compare(&format!("dst of [{n}]"), &dst.to_vec()?, &src, 0.0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// the table

macro_rules! conv {
    ($id:literal, $pass:ident, $variant:ident, $supported:expr, [$($file:literal),*], $desc:literal) => {
        Kernel {
            id: $id,
            op: "conv2d",
            files: &[$($file),*],
            description: $desc,
            supported: $supported,
            check: |gpu, c| check_conv(gpu, c, Pass::$pass, conv2d::Variant::$variant),
        }
    };
}

pub(super) static REGISTRY: &[Kernel] = &[
    Kernel {
        id: "matmul.naive",
        op: "matmul",
        files: &["matmul/naive.wgsl"],
        description: "C = op(A)·op(B) (+bias)(ReLU); one invocation per output (GPU oracle)",
        supported: always,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::Naive),
    },
    Kernel {
        id: "matmul.tiled_64x64",
        op: "matmul",
        files: &["matmul/tiled.wgsl"],
        description: "GEMM, 64x64 workgroup-memory tiles, 4x4 outputs per thread (real GPUs)",
        supported: always,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::Tiled),
    },
    Kernel {
        id: "matmul.sgbc_64x8sg",
        op: "matmul",
        files: &["matmul/sgbc_s8.wgsl", "matmul/sgbc_s16.wgsl"],
        description:
            "GEMM, one subgroup per 64x(8·sg) tile, A rows broadcast with subgroupBroadcast",
        supported: subgroups,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::Subgroup),
    },
    Kernel {
        id: "matmul.sgbc_tex_64x8sg",
        op: "matmul",
        files: &[
            "matmul/pack_b.wgsl",
            "matmul/sgbc_tex_s8.wgsl",
            "matmul/sgbc_tex_s16.wgsl",
        ],
        description: "subgroup GEMM with B packed into an rgba32float texture (CPU adapters)",
        supported: subgroups,
        check: |gpu, c| check_gemm(gpu, c, matmul::Variant::SubgroupTexture),
    },
    conv!(
        "conv2d.fwd.direct",
        Forward,
        Direct,
        always,
        ["conv2d/fwd_direct.wgsl"],
        "Y = conv(X, W) (+bias)(ReLU); one invocation per output (GPU oracle)"
    ),
    conv!(
        "conv2d.fwd.igemm_tiled",
        Forward,
        Tiled,
        always,
        ["conv2d/fwd_igemm_tiled.wgsl"],
        "Y[P, Co] = im2col(X)·Wᵀ as implicit GEMM, 64x64 workgroup-memory tiles"
    ),
    conv!(
        "conv2d.fwd.igemm_sgbc",
        Forward,
        Subgroup,
        subgroups,
        [
            "conv2d/fwd_igemm_sgbc_s8.wgsl",
            "conv2d/fwd_igemm_sgbc_s16.wgsl"
        ],
        "Y[P, Co] = im2col(X)·Wᵀ as implicit GEMM, one subgroup per 64x64 tile (broadcast)"
    ),
    conv!(
        "conv2d.fwd.igemm_tex",
        Forward,
        Texture,
        subgroups,
        [
            "conv2d/pack_input.wgsl",
            "conv2d/pack_input_x4.wgsl",
            "conv2d/pack_weight.wgsl",
            "conv2d/fwd_igemm_tex_s8.wgsl",
            "conv2d/fwd_igemm_tex_s16.wgsl",
            "conv2d/fwd_igemm_n4_tex_s8.wgsl",
            "conv2d/fwd_igemm_n4_tex_s16.wgsl"
        ],
        "Y[P, Co] as implicit GEMM on a zero-padded NHWC input texture and a weight texture (CPU adapters)"
    ),
    conv!(
        "conv2d.dgrad.direct",
        InputGrad,
        Direct,
        always,
        ["conv2d/dgrad_direct.wgsl"],
        "dX = conv of dY with flipped W (pad k-1-p); one invocation per input element"
    ),
    conv!(
        "conv2d.dgrad.igemm_tiled",
        InputGrad,
        Tiled,
        always,
        ["conv2d/dgrad_igemm_tiled.wgsl"],
        "dX[Q, Ci] = col(dY)·W' as implicit GEMM, 64x64 workgroup-memory tiles"
    ),
    conv!(
        "conv2d.dgrad.igemm_sgbc",
        InputGrad,
        Subgroup,
        subgroups,
        [
            "conv2d/dgrad_igemm_sgbc_s8.wgsl",
            "conv2d/dgrad_igemm_sgbc_s16.wgsl"
        ],
        "dX[Q, Ci] = col(dY)·W' as implicit GEMM, one subgroup per 64x64 tile (STRIDED override)"
    ),
    conv!(
        "conv2d.dgrad.igemm_tex",
        InputGrad,
        Texture,
        subgroups,
        [
            "conv2d/pack_input.wgsl",
            "conv2d/pack_input_x4.wgsl",
            "conv2d/pack_weight.wgsl",
            "conv2d/fwd_igemm_tex_s8.wgsl",
            "conv2d/fwd_igemm_tex_s16.wgsl",
            "conv2d/fwd_igemm_n4_tex_s8.wgsl",
            "conv2d/fwd_igemm_n4_tex_s16.wgsl"
        ],
        "dX as the forward texture GEMM on dY dilated by the stride, padded k-1-p, with flipped W"
    ),
    conv!(
        "conv2d.wgrad.direct",
        WeightGrad,
        Direct,
        always,
        ["conv2d/wgrad_direct.wgsl", "conv2d/wgrad_reduce.wgsl"],
        "dW = Σ dY·X per weight, split over images + fixed-order reduce"
    ),
    conv!(
        "conv2d.wgrad.splitk_tiled",
        WeightGrad,
        Tiled,
        always,
        ["conv2d/wgrad_splitk_tiled.wgsl", "conv2d/wgrad_reduce.wgsl"],
        "dW[Co, K] = dY[Co, P]·im2col(X), split-K partials (64x64 tiles) + reduce"
    ),
    conv!(
        "conv2d.wgrad.splitk_sgbc",
        WeightGrad,
        Subgroup,
        subgroups,
        [
            "conv2d/wgrad_splitk_sgbc_s8.wgsl",
            "conv2d/wgrad_splitk_sgbc_s16.wgsl",
            "conv2d/wgrad_reduce.wgsl"
        ],
        "dW[Co, K] = dY[Co, P]·im2col(X), split-K partials (subgroup tiles) + reduce"
    ),
    conv!(
        "conv2d.wgrad.splitk_tex",
        WeightGrad,
        Texture,
        subgroups,
        [
            "conv2d/pack_input.wgsl",
            "conv2d/pack_input_x4.wgsl",
            "conv2d/pack_dy.wgsl",
            "conv2d/wgrad_splitk_tex_s8.wgsl",
            "conv2d/wgrad_splitk_tex_s16.wgsl",
            "conv2d/wgrad_splitk_m32_tex_s8.wgsl",
            "conv2d/wgrad_splitk_m32_tex_s16.wgsl",
            "conv2d/wgrad_tex_reduce.wgsl"
        ],
        "dW from dY and X packed into textures, split-K partials + a reduce into OIHW order"
    ),
    Kernel {
        id: "pool.max_fwd",
        op: "pool",
        files: &["pool/max_fwd.wgsl"],
        description: "k x k / stride s max pooling, saves the argmax (index in the input plane)",
        supported: always,
        check: check_max_fwd,
    },
    Kernel {
        id: "pool.max_bwd",
        op: "pool",
        files: &["pool/max_bwd.wgsl", "pool/max_bwd_scatter.wgsl"],
        description: "max-pool backward through the argmax: gather (overlapping) or scatter",
        supported: always,
        check: check_max_bwd,
    },
    Kernel {
        id: "pool.gap_fwd",
        op: "pool",
        files: &["pool/gap_fwd.wgsl"],
        description: "global average pooling [N, C, H, W] -> [N, C]",
        supported: always,
        check: |gpu, c| check_gap(gpu, c, false),
    },
    Kernel {
        id: "pool.gap_bwd",
        op: "pool",
        files: &["pool/gap_bwd.wgsl"],
        description: "global average pooling backward: dX = dY / (H·W) broadcast",
        supported: always,
        check: |gpu, c| check_gap(gpu, c, true),
    },
    Kernel {
        id: "elementwise.bias_act",
        op: "elementwise",
        files: &["elementwise/bias_act.wgsl"],
        description: "y = act(x + bias[channel]) for [B, C] and NCHW",
        supported: always,
        check: check_bias_act,
    },
    Kernel {
        id: "elementwise.bias_grad",
        op: "elementwise",
        files: &["elementwise/bias_grad.wgsl", "elementwise/bias_grad_sg.wgsl"],
        description: "db[c] = Σ dy over batch and pixels of channel c",
        supported: always,
        check: check_bias_grad,
    },
    Kernel {
        id: "elementwise.relu_grad",
        op: "elementwise",
        files: &["elementwise/relu_grad.wgsl"],
        description: "dx = dy · [y > 0] from the saved ReLU output",
        supported: always,
        check: check_relu_grad,
    },
    Kernel {
        id: "elementwise.axpby",
        op: "elementwise",
        files: &["elementwise/axpby.wgsl"],
        description: "y ← αx + βy in place (scale, accumulate, gradient reversal)",
        supported: always,
        check: check_axpby,
    },
    Kernel {
        id: "elementwise.dropout",
        op: "elementwise",
        files: &["elementwise/dropout.wgsl"],
        description: "inverted dropout, mask a hash of (seed, index)",
        supported: always,
        check: check_dropout,
    },
    Kernel {
        id: "loss.softmax_xent_fwd",
        op: "loss",
        files: &["loss/softmax_xent_fwd.wgsl"],
        description: "weighted mean softmax cross-entropy (max-subtracted log-softmax) -> [1]",
        supported: always,
        check: |gpu, c| check_xent(gpu, c, false),
    },
    Kernel {
        id: "loss.softmax_xent_bwd",
        op: "loss",
        files: &["loss/softmax_xent_bwd.wgsl"],
        description: "dz = scale·w·(softmax(z) - onehot)/Σw",
        supported: always,
        check: |gpu, c| check_xent(gpu, c, true),
    },
    Kernel {
        id: "loss.argmax_correct",
        op: "loss",
        files: &["loss/argmax_correct.wgsl"],
        description: "argmax predictions and (correct, counted) counters on the GPU",
        supported: always,
        check: check_argmax,
    },
    Kernel {
        id: "loss.bce_fwd",
        op: "loss",
        files: &["loss/bce_fwd.wgsl"],
        description: "binary cross-entropy with logits, mean, numerically stable -> [1]",
        supported: always,
        check: |gpu, c| check_bce(gpu, c, false),
    },
    Kernel {
        id: "loss.bce_bwd",
        op: "loss",
        files: &["loss/bce_bwd.wgsl"],
        description: "dx = scale·(sigmoid(x) - t)/N",
        supported: always,
        check: |gpu, c| check_bce(gpu, c, true),
    },
    Kernel {
        id: "loss.binary_correct",
        op: "loss",
        files: &["loss/binary_correct.wgsl"],
        description:
            "(correct, counted) counters of a one-logit binary classifier (DANN domain accuracy)",
        supported: always,
        check: check_binary_correct,
    },
    Kernel {
        id: "optim.sgd",
        op: "optim",
        files: &["optim/sgd.wgsl"],
        description: "SGD step in place: momentum, Nesterov, weight decay",
        supported: always,
        check: check_sgd,
    },
    Kernel {
        id: "optim.adam",
        op: "optim",
        files: &["optim/adam.wgsl"],
        description: "Adam step in place with bias correction and weight decay",
        supported: always,
        check: check_adam,
    },
    Kernel {
        id: "bench.fma",
        op: "bench",
        files: &["bench/fma.wgsl"],
        description: "compute roof for `dak bench --peak`: 8 independent vec4 multiply-add chains",
        supported: always,
        check: check_fma,
    },
    Kernel {
        id: "bench.copy",
        op: "bench",
        files: &["bench/copy.wgsl"],
        description: "bandwidth roof for `dak bench --peak`: vec4 copy",
        supported: always,
        check: check_copy,
    },
];
