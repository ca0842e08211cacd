//! DAN's step against the f64 reference: the multi-kernel MMD of the features with the linear
//! and the quadratic estimator, the bandwidth base detached.
use super::*;
use crate::common::steps::*;

/// The MK-MMD of the rows of `f` (`ns` source rows first) with bandwidth base `mu` (detached).
fn mk_mmd(f: &[f64], ns: usize, mu: f64) -> f64 {
    let n = f.len() / DIM;
    let nt = n - ns;
    let index = match ns == nt {
        true => dak::ops::mmd::linear_index(ns).unwrap(),
        false => dak::ops::mmd::quadratic_index(ns, nt).unwrap(),
    };
    let mut loss = 0.0;
    for i in 0..n {
        for j in 0..n {
            let m = index[i * n + j] as f64;
            if m == 0.0 {
                continue;
            }
            let d = sq_dist(f, i, j);
            let k: f64 = [0.125, 0.25, 0.5, 1.0, 2.0]
                .iter()
                .map(|a| (-d / (2.0 * a * mu)).exp())
                .sum();
            loss += m * k;
        }
    }
    loss
}

fn sq_dist(f: &[f64], i: usize, j: usize) -> f64 {
    (0..DIM)
        .map(|k| (f[i * DIM + k] - f[j * DIM + k]).powi(2))
        .sum()
}

fn mean_sq_dist(f: &[f64]) -> f64 {
    let n = f.len() / DIM;
    let s: f64 = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| sq_dist(f, i, j))
        .sum();
    s / (n * n) as f64
}

#[test]
fn dan_steps_match_the_reference_with_both_estimators() {
    // 3 + 3 rows: the linear estimator; 3 + 2: the quadratic one.
    for (rows, ns) in [(6, 3), (5, 3)] {
        let (model, m, f, labels) = setup("dan", rows, ns);
        let f0: Vec<f64> = f.iter().map(|&v| v as f64).collect();
        let mu = mean_sq_dist(&f0);
        let loss = |f: &[f64], w: &Weights| {
            let (_, ce) = label_loss(f, w, rows, &labels);
            (ce + mk_mmd(f, ns, mu), 0.0)
        };
        let state = Default::default();
        check_step(
            &model,
            m,
            &state,
            &f,
            DIM,
            &labels,
            LAMBDA,
            &loss,
            &label_params(),
        );
    }
}
