//! Checks of the fused kernels: convolution + bias + ReLU + 2x2/2 max-pool, the one-pass
//! backward of ReLU + pool, and the backward through window pairs, against the unfused
//! reference chain.

use super::{label4, tol_for, values, Checker};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::{self, pooled};
use crate::ops::{pool, pool_relu};
use crate::tensor::Tensor;

pub(super) fn check_conv_pool_fwd(
    gpu: &Gpu,
    c: &mut Checker,
    variant: conv2d::Variant,
) -> Result<()> {
    for (i, case) in pooled::reference::CASES.iter().enumerate() {
        c.case();
        let g = case.geometry("check")?;
        let (ci, co, k, s, p) = (g.ci, g.co, g.kh, case.stride, case.pad);
        let seed = 400 + 10 * i as u64;
        let (x, wt, b) = (
            values(g.x_len(), seed),
            values(g.w_len(), seed + 1),
            values(co, seed + 2),
        );
        let with_bias = i != 1;
        let tx = Tensor::from_slice(gpu, &x, &g.x_shape())?;
        let tw = Tensor::from_slice(gpu, &wt, &g.w_shape())?;
        let tb = Tensor::from_slice(gpu, &b, &[co])?;
        let (y, arg) = pooled::forward(&tx, &tw, with_bias.then_some(&tb), g.spec, variant)?;
        let (want_y, want_arg) =
            pooled::reference::forward(&g, &x, &wt, with_bias.then_some(&b[..]));
        let what = format!("{} -> {co}, k{k} s{s} p{p}", label4(&g.x_shape()));
        let tol = tol_for(ci * k * k);
        c.compare(&format!("y of {what}"), &y.to_vec()?, &want_y, tol);
        // Where the window's maximum is <= 0 the ReLU ties every element at 0 and any argmax is
        // right (its gradient is masked); elsewhere the argmax must be the reference's.
        let mask = |a: &[u32]| -> Vec<u32> {
            a.iter()
                .zip(&want_y)
                .map(|(&a, &v)| if v > tol { a } else { 0 })
                .collect()
        };
        c.compare_u32(
            &format!("argmax of {what}"),
            &mask(&arg.to_vec_u32()?),
            &mask(&want_arg),
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

pub(super) fn check_relu_pool_bwd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    relu_pool_bwd_cases(gpu, c, pool_relu::ReluPoolKernel::Scatter)
}

pub(super) fn check_relu_pool_bwd_x4(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    relu_pool_bwd_cases(gpu, c, pool_relu::ReluPoolKernel::X4)
}

/// The cases of [`pool::reference::RELU_CASES`] that `kernel` takes (the vec4 kernel: 2x2/2
/// windows tiling the input, W a multiple of 4).
fn relu_pool_bwd_cases(
    gpu: &Gpu,
    c: &mut Checker,
    kernel: pool_relu::ReluPoolKernel,
) -> Result<()> {
    for (i, &(shape, k, s)) in pool::reference::RELU_CASES.iter().enumerate() {
        let g = pool::PoolGeometry::new(&shape, k, s, "check")?;
        if kernel == pool_relu::ReluPoolKernel::X4 && !pool_relu::ReluPoolKernel::x4_fits(&g) {
            continue;
        }
        c.case();
        let z = values(g.x_len(), 500 + i as u64);
        let (y, arg) = pool::reference::max_pool2d(&g, &z);
        let y: Vec<f32> = y.iter().map(|v| v.max(0.0)).collect();
        let dy: Vec<f32> = values(g.y_len(), 510 + i as u64)
            .iter()
            .map(|v| 2.0 * v + 0.25)
            .collect();
        let masked: Vec<f32> = dy
            .iter()
            .zip(&y)
            .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
            .collect();
        let t = |v: &[f32]| Tensor::from_slice(gpu, v, &g.y_shape());
        let targ = Tensor::from_u32(gpu, &arg, &g.y_shape())?;
        let (dz, gm) = pool_relu::max_pool2d_relu_backward_with(
            &t(&dy)?,
            &t(&y)?,
            &targ,
            &shape,
            k,
            s,
            kernel,
        )?;
        let want = pool::reference::max_pool2d_relu_backward(&g, &dy, &y, &arg);
        let what = format!("dz of {} k{k} s{s}", label4(&shape));
        c.compare(&what, &dz.to_vec()?, &want, 0.0);
        c.compare(
            &format!("masked dy of {}", label4(&shape)),
            &gm.to_vec()?,
            &masked,
            0.0,
        );
        if c.failed() {
            break;
        }
    }
    Ok(())
}

/// The fused layer's backward without dZ (CPU adapters): the window pairs, the weight gradient
/// reading them (`POOLED_DY`) and the input gradient packing from them (`POOLED`), with and
/// without dX, against the reference backward through the same saved argmax. Cases whose conv
/// output does not pair up (odd, or W not a multiple of 4) check the fallback.
pub(super) fn check_pool_bwd_pairs(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    let variant = conv2d::Variant::Texture;
    for (i, case) in pooled::reference::CASES.iter().enumerate() {
        let g = case.geometry("check")?;
        let (n, co, k, s, p) = (g.n, g.co, g.kh, case.stride, case.pad);
        let pg = pooled::pool_geometry(&g)?;
        let seed = 600 + 10 * i as u64;
        let (x, wt, b) = (
            values(g.x_len(), seed),
            values(g.w_len(), seed + 1),
            values(co, seed + 2),
        );
        let dy: Vec<f32> = values(pg.y_len(), seed + 3)
            .iter()
            .map(|v| 2.0 * v + 0.25)
            .collect();
        let tx = Tensor::from_slice(gpu, &x, &g.x_shape())?;
        let tw = Tensor::from_slice(gpu, &wt, &g.w_shape())?;
        let tb = Tensor::from_slice(gpu, &b, &[co])?;
        let tdy = Tensor::from_slice(gpu, &dy, &pg.y_shape())?;
        let (y, arg) = pooled::forward(&tx, &tw, Some(&tb), g.spec, variant)?;
        let (want_dx, want_dw, want_db) =
            pooled::reference::backward(&g, &x, &wt, &dy, &y.to_vec()?, &arg.to_vec_u32()?);
        let what = format!("{} -> {co}, k{k} s{s} p{p}", label4(&g.x_shape()));
        let pixels = tol_for(n * g.oh * g.ow);
        for needs in [[true; 3], [false, true, true]] {
            c.case();
            let grads = pooled::backward(&tx, &tw, &tdy, &y, &arg, g.spec, needs, variant)?;
            if let Some(dx) = grads.dx {
                let tol = tol_for(co * k * k);
                c.compare(&format!("dx of {what}"), &dx.to_vec()?, &want_dx, tol);
            }
            if let Some(dw) = grads.dw {
                c.compare(&format!("dw of {what}"), &dw.to_vec()?, &want_dw, pixels);
            }
            if let Some(db) = grads.db {
                c.compare(&format!("db of {what}"), &db.to_vec()?, &want_db, pixels);
            }
        }
        if c.failed() {
            break;
        }
    }
    Ok(())
}
