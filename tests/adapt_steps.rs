//! One step of each method on given features (the digits network's heads, 3 classes) against a
//! plain-Rust f64 reference of the same losses: the gradient of every parameter the step
//! reaches and of the features (through the gradient reversal), by central differences.
mod common;
#[path = "common/steps.rs"]
mod steps;
use common::*;
use dak::models::Dann;
use dak::train::adapt::Method;
use steps::*;

const DIM: usize = 768;
const CLASSES: usize = 3;
const LAMBDA: f32 = 0.7;

fn label_params() -> Vec<&'static str> {
    ["fc1", "fc2", "fc3"]
        .iter()
        .flat_map(|l| [format!("label.{l}.weight"), format!("label.{l}.bias")])
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect()
}

fn domain_params() -> Vec<&'static str> {
    vec![
        "domain.fc1.weight",
        "domain.fc1.bias",
        "domain.fc2.weight",
        "domain.fc2.bias",
    ]
}

/// A seeded network for `method`, features of `rows` rows and `n_source` source labels.
fn setup(method: &str, rows: usize, n_source: usize) -> (Dann, Method, Vec<f32>, Vec<u32>) {
    let gpu = gpu();
    let classes: Vec<String> = ["cat", "dog", "owl"].map(String::from).to_vec();
    let mut model = Dann::digits(&gpu, &classes, 11).unwrap();
    let m = Method::parse(method, "--method").unwrap();
    let features: Vec<f32> = values(rows * DIM, 5).iter().map(|v| v.max(0.0)).collect();
    let labels: Vec<u32> = (0..n_source as u32).map(|i| i % CLASSES as u32).collect();
    // Heads first (none for these methods), as `fit` does.
    m.prepare(&mut model, 3).unwrap();
    (model, m, features, labels)
}

/// The label head's logits and its source cross-entropy.
fn label_loss(f: &[f64], w: &Weights, rows: usize, labels: &[u32]) -> (Vec<f64>, f64) {
    let z = w.mlp("label", f, rows);
    let ce = cross_entropy(&z, CLASSES, labels);
    (z, ce)
}

/// MCC of the target rows' logits with entropy weights `weights` (detached).
fn mcc(zt: &[f64], weights: &[f64]) -> f64 {
    let p = softmax(zt, CLASSES, 2.5);
    let mut c = vec![0f64; CLASSES * CLASSES];
    for (r, row) in p.chunks(CLASSES).enumerate() {
        for i in 0..CLASSES {
            for j in 0..CLASSES {
                c[i * CLASSES + j] += weights[r] * row[i] * row[j];
            }
        }
    }
    let mut off = 0.0;
    for i in 0..CLASSES {
        let s: f64 = c[i * CLASSES..(i + 1) * CLASSES].iter().sum();
        for j in 0..CLASSES {
            if i != j {
                off += c[i * CLASSES + j] / s;
            }
        }
    }
    off / CLASSES as f64
}

/// MCC's detached weights: B·(1 + e^{-H}) / Σ(1 + e^{-H}) of the temperature-2.5 predictions.
fn mcc_weights(zt: &[f64]) -> Vec<f64> {
    let p = softmax(zt, CLASSES, 2.5);
    let w: Vec<f64> = p
        .chunks(CLASSES)
        .map(|row| {
            let h: f64 = row.iter().map(|&q| -q * (q + 1e-5).ln()).sum();
            1.0 + (-h).exp()
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v * w.len() as f64 / s).collect()
}

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
fn source_only_and_dann_steps_match_the_reference() {
    let (rows, ns) = (6, 3);
    for name in ["source-only", "dann"] {
        let (model, m, f, labels) = setup(name, rows, ns);
        let adversarial = name == "dann";
        let loss = |f: &[f64], w: &Weights| {
            let (_, ce) = label_loss(f, w, rows, &labels);
            let dom = match adversarial {
                true => {
                    domain_bce(&w.mlp("domain", f, rows), ns)
                        .iter()
                        .sum::<f64>()
                        / rows as f64
                }
                false => 0.0,
            };
            (ce, dom)
        };
        let mut expect = label_params();
        if adversarial {
            expect.extend(domain_params());
        }
        let state = Default::default();
        check_step(&model, m, &state, &f, DIM, &labels, LAMBDA, &loss, &expect);
    }
}

#[test]
fn mcc_and_dann_mcc_steps_match_the_reference() {
    let (rows, ns) = (7, 3);
    for name in ["mcc", "dann+mcc"] {
        let (model, m, f, labels) = setup(name, rows, ns);
        let f0: Vec<f64> = f.iter().map(|&v| v as f64).collect();
        let w0 = Weights::of(&model);
        let weights = mcc_weights(&w0.mlp("label", &f0, rows)[ns * CLASSES..]);
        let adversarial = name == "dann+mcc";
        let loss = |f: &[f64], w: &Weights| {
            let (z, ce) = label_loss(f, w, rows, &labels);
            let dom = match adversarial {
                true => {
                    domain_bce(&w.mlp("domain", f, rows), ns)
                        .iter()
                        .sum::<f64>()
                        / rows as f64
                }
                false => 0.0,
            };
            (ce + mcc(&z[ns * CLASSES..], &weights), dom)
        };
        let mut expect = label_params();
        if adversarial {
            expect.extend(domain_params());
        }
        let state = Default::default();
        check_step(&model, m, &state, &f, DIM, &labels, LAMBDA, &loss, &expect);
    }
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
