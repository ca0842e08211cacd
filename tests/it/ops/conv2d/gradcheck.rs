//! The conv2d and pooling CPU references' backward passes against central finite differences of
//! their forward passes, with an upstream gradient that is not all ones.
use crate::common::{fd_check, values};
use dak::ops::conv2d::{reference as conv, Geometry, Spec};
use dak::ops::pool::{reference as pool, PoolGeometry};

fn upstream(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed).iter().map(|v| v * 3.0 + 0.5).collect()
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    // (input, weight, stride, padding): plain, strided with padding, 1x1, asymmetric kernel.
    let cases: &[([usize; 4], [usize; 4], usize, usize)] = &[
        ([2, 2, 5, 5], [3, 2, 3, 3], 1, 1),
        ([1, 3, 7, 6], [2, 3, 3, 3], 2, 1),
        ([2, 3, 3, 4], [2, 3, 1, 1], 1, 0),
        ([1, 2, 6, 5], [2, 2, 3, 2], 2, 2),
    ];
    for (i, &(xs, ws, s, p)) in cases.iter().enumerate() {
        let g = Geometry::new(&xs, &ws, Spec::new(s, p), "gradcheck").unwrap();
        let seed = 10 * i as u64;
        let x = values(g.x_len(), seed + 1);
        let w = values(g.w_len(), seed + 2);
        let b = values(g.co, seed + 3);
        let up = upstream(g.y_len(), seed + 4);
        let what = g.label();
        fd_check(
            &x,
            &conv::backward_input(&g, &up, &w),
            &up,
            |x| conv::forward(&g, x, &w, Some(&b), false),
            &format!("conv dX {what}"),
        );
        fd_check(
            &w,
            &conv::backward_weight(&g, &up, &x),
            &up,
            |w| conv::forward(&g, &x, w, Some(&b), false),
            &format!("conv dW {what}"),
        );
        fd_check(
            &b,
            &conv::backward_bias(&g, &up),
            &up,
            |b| conv::forward(&g, &x, &w, Some(b), false),
            &format!("conv db {what}"),
        );
    }
}

#[test]
fn max_pool_backward_matches_finite_differences() {
    // Distinct values spaced well apart so a ±eps step never changes the argmax.
    for &(shape, k, s) in &[([1usize, 2, 5, 5], 3usize, 2usize), ([2, 1, 4, 6], 2, 2)] {
        let g = PoolGeometry::new(&shape, k, s, "gradcheck").unwrap();
        let n = g.x_len();
        let mut x: Vec<f32> = (0..n).map(|i| ((i * 37) % n) as f32 * 0.1).collect();
        x.iter_mut()
            .zip(values(n, 3))
            .for_each(|(v, r)| *v += 0.01 * r);
        let up = upstream(g.y_len(), 5);
        let (_, arg) = pool::max_pool2d(&g, &x);
        fd_check(
            &x,
            &pool::max_pool2d_backward(&g, &up, &arg),
            &up,
            |x| pool::max_pool2d(&g, x).0,
            &format!("max_pool {shape:?} k{k} s{s}"),
        );
    }
}

#[test]
fn global_avg_pool_backward_matches_finite_differences() {
    let hw = 6;
    let x = values(2 * 3 * hw, 9);
    let up = upstream(2 * 3, 11);
    fd_check(
        &x,
        &pool::global_avg_pool_backward(&up, hw),
        &up,
        |x| pool::global_avg_pool(x, hw),
        "global_avg_pool",
    );
}
