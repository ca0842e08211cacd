//! Max pooling (argmax saved, backward through it, overlapping windows, padding) and global
//! average pooling against the CPU reference, on the op's case lists.
use crate::common::*;
use dak::ops::pool::reference::{self, GAP_CASES, MAX_CASES};
use dak::ops::pool::{self, PoolGeometry};
use dak::Tensor;

/// Values on a coarse grid so windows contain ties (the first maximum must win everywhere).
fn tied_values(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed).iter().map(|v| (v * 4.0).round()).collect()
}

/// Every case of `pool::reference::MAX_CASES` (which `dak kernels check` runs too), unpadded
/// ones through the unpadded entry points, forward (output and argmax) and backward.
#[test]
fn max_pool_matches_reference() {
    with_cpu_and_portable_paths(max_pool_cases);
}

fn max_pool_cases(gpu: &dak::Gpu, path: &str) {
    for (i, c) in MAX_CASES.iter().enumerate() {
        let (shape, k, s, p) = (c.shape, c.k, c.stride, c.pad);
        let g = c.geometry("test").unwrap();
        // Ties (the first maximum must win everywhere), mostly negative so that padding must
        // not win as a 0 would; or plain values.
        let x: Vec<f32> = match i % 2 {
            0 => tied_values(g.x_len(), i as u64)
                .iter()
                .map(|v| v - 3.0)
                .collect(),
            _ => values(g.x_len(), i as u64),
        };
        let dy: Vec<f32> = values(g.y_len(), 100 + i as u64)
            .iter()
            .map(|v| v * 2.0 + 0.5)
            .collect();
        let tx = Tensor::from_slice(gpu, &x, &shape).unwrap();
        let (y, arg) = if p == 0 {
            pool::max_pool2d(&tx, k, s).unwrap()
        } else {
            pool::max_pool2d_padded(&tx, k, s, p).unwrap()
        };
        let (want_y, want_arg) = reference::max_pool2d(&g, &x);
        let what = format!("max_pool2d {shape:?} k{k} s{s} p{p}, {path}");
        assert_eq!(y.shape(), &g.y_shape(), "{what}");
        assert_eq!(y.to_vec().unwrap(), want_y, "{what}");
        assert_eq!(arg.to_vec_u32().unwrap(), want_arg, "{what} argmax");
        let tdy = Tensor::from_slice(gpu, &dy, &g.y_shape()).unwrap();
        let dx = if p == 0 {
            pool::max_pool2d_backward(&tdy, &arg, &shape, k, s).unwrap()
        } else {
            pool::max_pool2d_backward_padded(&tdy, &arg, &shape, k, s, p).unwrap()
        };
        let want_dx = reference::max_pool2d_backward(&g, &dy, &want_arg);
        assert_close(
            &dx.to_vec().unwrap(),
            &want_dx,
            1e-6,
            &format!("{what} backward"),
        );
    }
}

#[test]
fn overlapping_windows_sum_their_gradients() {
    // One large value in the middle of a 5x5 plane is the max of all four 3x3/2 windows.
    let gpu = gpu();
    let mut x = vec![0f32; 25];
    x[12] = 9.0;
    let tx = Tensor::from_slice(&gpu, &x, &[1, 1, 5, 5]).unwrap();
    let (_, arg) = pool::max_pool2d(&tx, 3, 2).unwrap();
    assert_eq!(arg.to_vec_u32().unwrap(), vec![12; 4]);
    let dy = Tensor::from_slice(&gpu, &[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    let dx = pool::max_pool2d_backward(&dy, &arg, &[1, 1, 5, 5], 3, 2)
        .unwrap()
        .to_vec()
        .unwrap();
    let mut want = vec![0f32; 25];
    want[12] = 10.0;
    assert_eq!(dx, want);
}

#[test]
fn global_avg_pool_matches_reference_and_flattens_for_free() {
    let gpu = gpu();
    for (i, shape) in GAP_CASES.iter().enumerate() {
        let hw = shape[2] * shape[3];
        let n = shape.iter().product();
        let x = values(n, 7 + i as u64);
        let dy: Vec<f32> = values(shape[0] * shape[1], 17 + i as u64)
            .iter()
            .map(|v| 1.5 * v - 0.25)
            .collect();
        let tx = Tensor::from_slice(&gpu, &x, shape).unwrap();
        let y = pool::global_avg_pool(&tx).unwrap();
        assert_eq!(y.shape(), &shape[..2]);
        assert_close(
            &y.to_vec().unwrap(),
            &reference::global_avg_pool(&x, hw),
            tol_for(hw),
            "gap forward",
        );
        let tdy = Tensor::from_slice(&gpu, &dy, &shape[..2]).unwrap();
        let dx = pool::global_avg_pool_backward(&tdy, shape).unwrap();
        assert_close(
            &dx.to_vec().unwrap(),
            &reference::global_avg_pool_backward(&dy, hw),
            1e-6,
            "gap backward",
        );
    }
    // Flatten: [N, C, H, W] viewed as [N, C*H*W] without a copy.
    let t = Tensor::from_slice(&gpu, &values(2 * 3 * 4 * 5, 1), &[2, 3, 4, 5]).unwrap();
    let flat = t.reshape(&[2, 60]).unwrap();
    assert_eq!(flat.to_vec().unwrap(), t.to_vec().unwrap());
}

#[test]
fn padded_pool_geometry() {
    // The stem's output size: 9x7 -> 5x4 (PyTorch's floor((9 + 2 - 3) / 2) + 1 = 5).
    let g = PoolGeometry::padded(&[1, 1, 9, 7], 3, 2, 1, "stem").unwrap();
    assert_eq!((g.oh, g.ow), (5, 4));
    // Padding beyond half the window is refused, in one line.
    let e = PoolGeometry::padded(&[1, 1, 9, 7], 3, 2, 2, "pool")
        .unwrap_err()
        .to_string();
    assert!(e.contains("padding 2 is more than half"), "{e}");
}
