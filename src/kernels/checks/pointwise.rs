//! Checks of the element-wise kernels, losses, optimizers and the roofline kernels.

use super::{label4, tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::{bce, elementwise as ew, optim, softmax_xent};
use crate::tensor::{DType, Tensor};

// ---------------------------------------------------------------------------------------------
// elementwise

pub(super) fn check_bias_act(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, shape) in ew::reference::SHAPES.iter().enumerate() {
        c.case();
        let n: usize = shape.iter().product();
        let x = values(n, 400 + i as u64);
        let tx = Tensor::from_slice(gpu, &x, shape)?;
        let (_, channels, inner) = ew::channel_layout(&tx);
        let b = values(channels, 401 + i as u64);
        let tb = Tensor::from_slice(gpu, &b, &[channels])?;
        // Bias and ReLU, bias only, ReLU only, in turn.
        let (with_bias, relu) = (i % 3 != 2, i % 3 != 1);
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

pub(super) fn check_bias_grad(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, shape) in ew::reference::SHAPES.iter().enumerate() {
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

pub(super) fn check_relu_grad(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in ew::reference::LENGTHS.iter().enumerate() {
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

pub(super) fn check_add(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in ew::reference::LENGTHS.iter().enumerate() {
        for relu in [false, true] {
            c.case();
            let a = values(n, 440 + i as u64);
            let b = values(n, 441 + i as u64);
            let ta = Tensor::from_slice(gpu, &a, &[n])?;
            let tb = Tensor::from_slice(gpu, &b, &[n])?;
            let got = ew::add(&ta, &tb, relu)?;
            let want = ew::reference::add(&a, &b, relu);
            c.compare(
                &format!("a + b of [{n}], relu {relu}"),
                &got.to_vec()?,
                &want,
                0.0,
            );
            if c.failed() {
                return Ok(());
            }
        }
    }
    Ok(())
}

pub(super) fn check_axpby(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in ew::reference::LENGTHS.iter().enumerate() {
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
        // beta = 0 must ignore y's (undefined) contents: NaN here, which any read would spread.
        let scaled = Tensor::from_slice(gpu, &vec![f32::NAN; n], &[n])?;
        ew::axpby(-0.5, &tx, 0.0, &scaled)?;
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

pub(super) fn check_first_bad(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    use crate::ops::watch;
    let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.0e4];
    for (i, &n) in ew::reference::LENGTHS.iter().enumerate() {
        c.case();
        // Steps 0..6 of `n` values each; steps 4 and 2 get one bad value (in that order, so
        // the flag must keep the minimum), the others stay under the limit of 1e4.
        let flag = watch::new_flag(gpu)?;
        let mut steps = Vec::new();
        for step in [5u32, 4, 0, 2, 1, 3] {
            let mut v = values(n, 440 + i as u64 + step as u64);
            if step == 4 || step == 2 {
                v[(step as usize * 7) % n] = bad[(i + step as usize) % bad.len()];
            }
            watch::note(&Tensor::from_slice(gpu, &v, &[n])?, 1e4, step, &flag)?;
            steps.push((step, v));
        }
        let got = watch::read(&flag)?;
        let want = watch::reference::first_bad(&steps, 1e4);
        let as_f = |s: Option<u32>| vec![s.map_or(-1.0, |s| s as f32)];
        c.compare(
            &format!("first bad step of [{n}]"),
            &as_f(got),
            &as_f(want),
            0.0,
        );
        // A clean epoch leaves the flag unset.
        let clean = watch::new_flag(gpu)?;
        watch::note(&Tensor::from_slice(gpu, &steps[0].1, &[n])?, 1e4, 0, &clean)?;
        c.compare(
            &format!("clean [{n}]"),
            &as_f(watch::read(&clean)?),
            &[-1.0],
            0.0,
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_dropout(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in ew::reference::LENGTHS.iter().enumerate() {
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

struct XentCase {
    z: Vec<f32>,
    labels: Vec<u32>,
    weights: Vec<f32>,
    tz: Tensor,
    tl: Tensor,
    tw: Tensor,
}

fn xent_case(gpu: &Gpu, i: usize) -> Result<XentCase> {
    let (rows, classes) = softmax_xent::reference::SHAPES[i];
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

pub(super) fn check_xent(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    use softmax_xent::reference as oracle;
    for (i, &(rows, classes)) in softmax_xent::reference::SHAPES.iter().enumerate() {
        let x = xent_case(gpu, i)?;
        let scale = 0.5;
        // Plain one-hot targets, and label smoothing (SHOT's source recipe).
        for smoothing in [0.0, 0.1] {
            c.case();
            let (l, w) = (&x.labels, &x.weights);
            if backward {
                let dz = softmax_xent::backward_smoothed(&x.tz, &x.tl, &x.tw, scale, smoothing)?;
                let want = oracle::backward_smoothed(&x.z, l, w, classes, scale, smoothing);
                let what = format!("dz of [{rows}, {classes}], smoothing {smoothing}");
                c.compare(&what, &dz.to_vec()?, &want, tol_for(classes));
            } else {
                let loss = softmax_xent::forward_smoothed(&x.tz, &x.tl, &x.tw, scale, smoothing)?;
                let want = oracle::forward_smoothed(&x.z, l, w, classes, scale, smoothing);
                let what = format!("loss of [{rows}, {classes}], smoothing {smoothing}");
                c.compare(&what, &loss.to_vec()?, &[want], tol_for(rows * classes));
            }
            if c.failed() {
                return Ok(());
            }
        }
    }
    Ok(())
}

pub(super) fn check_argmax(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &(rows, classes)) in softmax_xent::reference::SHAPES.iter().enumerate() {
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

pub(super) fn check_bce(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    for (i, &n) in bce::reference::LENGTHS.iter().enumerate() {
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

pub(super) fn check_binary_correct(gpu: &Gpu, c: &mut Checker) -> Result<()> {
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

/// The optimizers' lengths: one past a workgroup of 256, and a small one.
const OPTIM_LENGTHS: &[usize] = &[1001, 7];

pub(super) fn check_sgd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in OPTIM_LENGTHS.iter().enumerate() {
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

pub(super) fn check_adam(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for (i, &n) in OPTIM_LENGTHS.iter().enumerate() {
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

pub(super) fn check_fma(gpu: &Gpu, c: &mut Checker) -> Result<()> {
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

pub(super) fn check_copy(gpu: &Gpu, c: &mut Checker) -> Result<()> {
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
