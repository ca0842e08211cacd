//! Checks of the dense-compute kernels: matmul, conv2d and pooling, on the cases their
//! `reference` modules list (the tests run the same lists).

use super::{label4, tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::{self, Pass};
use crate::ops::{matmul, pool};
use crate::tensor::Tensor;

// ---------------------------------------------------------------------------------------------
// matmul

pub(super) fn check_gemm(gpu: &Gpu, c: &mut Checker, v: matmul::Variant) -> Result<()> {
    for (i, case) in matmul::reference::CASES.iter().enumerate() {
        c.case();
        let (g, with_bias) = (case.gemm, case.bias);
        let (m, n, k) = (g.m, g.n, g.k);
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
            if g.trans_a { 't' } else { 'n' },
            if g.trans_b { 't' } else { 'n' }
        );
        c.compare(
            &format!(
                "C of {m}x{n}x{k} ({form}, bias {with_bias}, relu {})",
                g.relu
            ),
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

pub(super) fn check_conv(gpu: &Gpu, c: &mut Checker, pass: Pass, v: conv2d::Variant) -> Result<()> {
    for (i, case) in conv2d::reference::CASES.iter().enumerate() {
        c.case();
        let g = case.geometry("check")?;
        let co = g.co;
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
                let (with_bias, relu) = conv2d::reference::epilogue(i);
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

fn max_case(i: usize) -> Result<(pool::PoolGeometry, Vec<f32>)> {
    let g = pool::reference::MAX_CASES[i].geometry("check")?;
    Ok((g, values(g.x_len(), 300 + i as u64)))
}

pub(super) fn check_max_fwd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for i in 0..pool::reference::MAX_CASES.len() {
        c.case();
        let (g, x) = max_case(i)?;
        let tx = Tensor::from_slice(gpu, &x, &g.x_shape())?;
        let (y, arg) = pool::max_pool2d_padded(&tx, g.k, g.stride, g.pad)?;
        let (want_y, want_arg) = pool::reference::max_pool2d(&g, &x);
        let what = format!("{} k{} s{} p{}", label4(&g.x_shape()), g.k, g.stride, g.pad);
        c.compare(&format!("y of {what}"), &y.to_vec()?, &want_y, 0.0);
        c.compare_u32(&format!("argmax of {what}"), &arg.to_vec_u32()?, &want_arg);
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_max_bwd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for i in 0..pool::reference::MAX_CASES.len() {
        c.case();
        let (g, x) = max_case(i)?;
        // The reference argmax, so this checks the backward kernel alone.
        let (_, arg) = pool::reference::max_pool2d(&g, &x);
        let dy = values(g.y_len(), 310 + i as u64);
        let targ = Tensor::from_u32(gpu, &arg, &g.y_shape())?;
        let tdy = Tensor::from_slice(gpu, &dy, &g.y_shape())?;
        let dx = pool::max_pool2d_backward_padded(&tdy, &targ, &g.x_shape(), g.k, g.stride, g.pad)?;
        let want = pool::reference::max_pool2d_backward(&g, &dy, &arg);
        let what = format!(
            "dx of {} k{} s{} p{}",
            label4(&g.x_shape()),
            g.k,
            g.stride,
            g.pad
        );
        c.compare(&what, &dx.to_vec()?, &want, tol_for(g.k * g.k));
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_gap(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
    for (i, shape) in pool::reference::GAP_CASES.iter().enumerate() {
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
