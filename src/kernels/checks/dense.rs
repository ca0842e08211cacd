//! Checks of the dense-compute kernels: matmul, conv2d and pooling.

use super::{label4, tol_for, values, Checker};
use crate::ops::conv2d::{self, Geometry, Pass, Spec};
use crate::ops::{matmul, pool};
use crate::{Gpu, Result, Tensor};

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

pub(super) fn check_gemm(gpu: &Gpu, c: &mut Checker, v: matmul::Variant) -> Result<()> {
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
    (1, 3, 7, 9, 5, 3, 1, 1),   // batch 1, 3 channels, odd H/W
    (2, 3, 9, 7, 70, 5, 2, 2),  // 5x5, stride 2, Co past one 64-tile
    (2, 5, 6, 6, 3, 1, 1, 0),   // 1x1 kernel
    (2, 66, 5, 5, 7, 3, 2, 1),  // Ci past one tile (input-gradient columns), stride 2
    (2, 5, 6, 8, 6, 3, 1, 2),   // W a multiple of 4 (4-column packing), pad 2, C = 5
    (1, 3, 6, 8, 4, 3, 1, 1),   // W and oW multiples of 4: every pass packs 4 columns at a time
    (1, 3, 9, 7, 33, 5, 1, 0),  // Co = 33: the 6-column forward tile, 48-row weight gradient
    (2, 35, 7, 6, 48, 3, 1, 1), // Co = 48 (one full 48 tile), Ci = 35 (input gradient's n6 tile)
    // Batch 40 (tiles of 64 rows straddle two pixels), 5x5 stride 2 pad 2 on 7x6, and its input
    // gradient (dY 4x3 dilated by 2, padded by 2): batch-major rows, taps on padding skipped.
    (40, 3, 7, 6, 5, 5, 2, 2),
];

pub(super) fn check_conv(gpu: &Gpu, c: &mut Checker, pass: Pass, v: conv2d::Variant) -> Result<()> {
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

/// ([n, c, h, w], k, stride, pad): a partial last window (odd sizes), overlapping 3x3/2 windows
/// on a plane big enough for the per-plane grid, an exact 2x2/2 tiling of a large plane, and
/// ResNet's padded 3x3/2 stem pool on odd sizes.
const MAX_CASES: &[([usize; 4], usize, usize, usize)] = &[
    ([1, 3, 7, 9], 2, 2, 0),
    ([2, 3, 17, 15], 3, 2, 0),
    ([1, 3, 16, 18], 2, 2, 0),
    ([1, 3, 11, 9], 3, 2, 1),
];

fn max_case(i: usize) -> Result<(pool::PoolGeometry, Vec<f32>)> {
    let (shape, k, s, p) = MAX_CASES[i];
    let g = pool::PoolGeometry::padded(&shape, k, s, p, "check")?;
    Ok((g, values(g.x_len(), 300 + i as u64)))
}

pub(super) fn check_max_fwd(gpu: &Gpu, c: &mut Checker) -> Result<()> {
    for i in 0..MAX_CASES.len() {
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
    for i in 0..MAX_CASES.len() {
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

/// Global average pooling inputs: a plane of 35 (per-plane grid) and of 9 (flat index).
const GAP_CASES: &[[usize; 4]] = &[[1, 3, 5, 7], [2, 3, 3, 3]];

pub(super) fn check_gap(gpu: &Gpu, c: &mut Checker, backward: bool) -> Result<()> {
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
