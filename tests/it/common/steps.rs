//! A plain-Rust (f64) reference of an adaptation step on given features, for checking each
//! method's gradients: the network's heads as dense layers, the step's losses as closures, and
//! central finite differences at sampled coordinates.
#![allow(dead_code)]

use dak::models::Dann;
use dak::train::adapt::{gradients_from_features, Method};
use std::collections::BTreeMap;

/// Every parameter of a network as f64, by name.
pub struct Weights(pub BTreeMap<String, Vec<f64>>);

impl Weights {
    pub fn of(model: &Dann) -> Weights {
        let map = model
            .params
            .iter()
            .filter(|(_, p)| !p.name.starts_with("features."))
            .map(|(_, p)| {
                let v = p.value.to_vec().unwrap();
                (p.name.clone(), v.iter().map(|&x| x as f64).collect())
            })
            .collect();
        Weights(map)
    }

    pub fn get(&self, name: &str) -> &[f64] {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
    }

    /// `x` [rows, in] through the dense head `prefix` (`prefix.fc1`, `fc2`, ...): ReLU between
    /// the layers, none after the last.
    pub fn mlp(&self, prefix: &str, x: &[f64], rows: usize) -> Vec<f64> {
        let layers = (1..)
            .take_while(|i| self.0.contains_key(&format!("{prefix}.fc{i}.weight")))
            .count();
        let mut h = x.to_vec();
        for i in 1..=layers {
            let w = self.get(&format!("{prefix}.fc{i}.weight"));
            let b = self.get(&format!("{prefix}.fc{i}.bias"));
            let (outs, ins) = (b.len(), w.len() / b.len());
            let mut y = vec![0f64; rows * outs];
            for r in 0..rows {
                for o in 0..outs {
                    let dot: f64 = (0..ins).map(|k| h[r * ins + k] * w[o * ins + k]).sum();
                    let v = dot + b[o];
                    y[r * outs + o] = if i < layers { v.max(0.0) } else { v };
                }
            }
            h = y;
        }
        h
    }
}

/// Softmax of rows of `classes` at temperature `t`.
pub fn softmax(z: &[f64], classes: usize, t: f64) -> Vec<f64> {
    let mut p = Vec::with_capacity(z.len());
    for row in z.chunks(classes) {
        let m = row.iter().fold(f64::MIN, |a, &v| a.max(v / t));
        let e: Vec<f64> = row.iter().map(|&v| (v / t - m).exp()).collect();
        let s: f64 = e.iter().sum();
        p.extend(e.iter().map(|v| v / s));
    }
    p
}

/// Mean softmax cross-entropy of the first `labels.len()` rows.
pub fn cross_entropy(z: &[f64], classes: usize, labels: &[u32]) -> f64 {
    let sum: f64 = z
        .chunks(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let m = row.iter().fold(f64::MIN, |a, &v| a.max(v));
            let lse = m + row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
            lse - row[y as usize]
        })
        .sum();
    sum / labels.len() as f64
}

/// Binary cross-entropy with logits of each row against its domain (0 for the first
/// `n_source` rows, 1 after).
pub fn domain_bce(logits: &[f64], n_source: usize) -> Vec<f64> {
    logits
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let t = if i < n_source { 0.0 } else { 1.0 };
            x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()
        })
        .collect()
}

/// The losses of one step as a function of the features and the weights: `(plain, reversed)`,
/// where `reversed` sits behind the gradient reversal (its gradient reaches the features times
/// `-λ`). Quantities a method detaches are computed once by the caller and captured.
pub type StepLoss<'a> = dyn Fn(&[f64], &Weights) -> (f64, f64) + 'a;

/// Checks `method`'s gradients from [`gradients_from_features`] against central differences of
/// `loss`: every parameter tensor the GPU reports (whose names must be `expect`), at sampled
/// coordinates, and the features.
#[allow(clippy::too_many_arguments)]
pub fn check_step(
    model: &Dann,
    method: Method,
    state: &dak::train::adapt::MethodState,
    features: &[f32],
    dim: usize,
    labels: &[u32],
    lambda: f32,
    loss: &StepLoss,
    expect: &[&str],
) {
    let (f, l) = (features, labels);
    check_step_reversed(
        model, method, state, f, dim, l, lambda, lambda, loss, expect,
    );
}

/// [`check_step`] for a method whose reversal coefficient is not the step's λ: `reversal`
/// multiplies the gradient the `reversed` losses send to the features (MDD: 0.1·λ).
#[allow(clippy::too_many_arguments)]
pub fn check_step_reversed(
    model: &Dann,
    method: Method,
    state: &dak::train::adapt::MethodState,
    features: &[f32],
    dim: usize,
    labels: &[u32],
    lambda: f32,
    reversal: f32,
    loss: &StepLoss,
    expect: &[&str],
) {
    let gpu = dak::models::Model::gpu(model);
    let rows = features.len() / dim;
    let tf = dak::Tensor::from_slice(gpu, features, &[rows, dim]).unwrap();
    let (grads, df) =
        gradients_from_features(model, method, state, &tf, labels, lambda, 7).unwrap();
    let name = method.name();
    let mut got: Vec<&str> = grads.iter().map(|(n, _)| n.as_str()).collect();
    got.sort();
    let mut want = expect.to_vec();
    want.sort();
    assert_eq!(got, want, "{name}: parameters with a gradient");

    let base = Weights::of(model);
    let f0: Vec<f64> = features.iter().map(|&v| v as f64).collect();
    let h = 1e-4;
    for (pname, g) in &grads {
        let g = g.to_vec().unwrap();
        let coords = sample(g.len(), 12, pname.len() as u64);
        let mut w = Weights(base.0.clone());
        let want: Vec<f64> = coords
            .iter()
            .map(|&i| {
                let v = w.0.get(pname).unwrap()[i];
                w.0.get_mut(pname).unwrap()[i] = v + h;
                let (a, b) = loss(&f0, &w);
                w.0.get_mut(pname).unwrap()[i] = v - h;
                let (c, d) = loss(&f0, &w);
                w.0.get_mut(pname).unwrap()[i] = v;
                ((a + b) - (c + d)) / (2.0 * h)
            })
            .collect();
        let got: Vec<f64> = coords.iter().map(|&i| g[i] as f64).collect();
        close(&got, &want, &format!("{name}: d/d {pname}"));
    }
    let df = df.to_vec().unwrap();
    let coords = sample(df.len(), 24, 99);
    let mut f = f0.clone();
    let want: Vec<f64> = coords
        .iter()
        .map(|&i| {
            f[i] = f0[i] + h;
            let (a, b) = loss(&f, &base);
            f[i] = f0[i] - h;
            let (c, d) = loss(&f, &base);
            f[i] = f0[i];
            ((a - c) - reversal as f64 * (b - d)) / (2.0 * h)
        })
        .collect();
    let got: Vec<f64> = coords.iter().map(|&i| df[i] as f64).collect();
    close(&got, &want, &format!("{name}: d/d features"));
}

/// `count` distinct coordinates of `0..n` (all of them when fewer), deterministic.
fn sample(n: usize, count: usize, seed: u64) -> Vec<usize> {
    if n <= count {
        return (0..n).collect();
    }
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::new();
    while out.len() < count {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let i = (s % n as u64) as usize;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Element-wise agreement within 2% of the largest reference value (plus a small floor).
fn close(got: &[f64], want: &[f64], what: &str) {
    let scale = want.iter().fold(0f64, |a, v| a.max(v.abs()));
    assert!(
        scale > 0.0 || got.iter().all(|v| v.abs() < 1e-7),
        "{what}: all zero"
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 2e-2 * scale + 1e-6,
            "{what}: coordinate {i}: GPU {g} vs reference {w} (scale {scale})\n{got:?}\n{want:?}"
        );
    }
}
