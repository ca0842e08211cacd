//! One step of each method on given features (the digits network's heads, 3 classes, 10 for
//! CDAN's randomized map) against a plain-Rust f64 reference of the same losses: the gradient
//! of every parameter the step reaches and of the features (through the gradient reversal), by
//! central differences. Each method's reference and test is its own file (`dann.rs`, ...); this
//! one holds what they share: the seeded network, the label loss, the entropy weights.

mod cdan;
mod dan;
mod dann;
mod mcc;
mod mdd;

use crate::common::steps::*;
use crate::common::*;
use dak::models::Dann;
use dak::train::adapt::{Method, MethodState};

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

/// One step's inputs: a seeded network with the method's heads and state, features and the
/// source labels.
struct Setup {
    model: Dann,
    method: Method,
    state: MethodState,
    features: Vec<f32>,
    labels: Vec<u32>,
}

/// A seeded network for `method` with [`CLASSES`] classes, features of `rows` rows and
/// `n_source` source labels.
fn setup(method: &str, rows: usize, n_source: usize) -> (Dann, Method, Vec<f32>, Vec<u32>) {
    let s = setup_with(method, rows, n_source, CLASSES);
    (s.model, s.method, s.features, s.labels)
}

fn setup_with(method: &str, rows: usize, n_source: usize, classes: usize) -> Setup {
    let gpu = gpu();
    let names: Vec<String> = (0..classes).map(|c| format!("c{c}")).collect();
    let mut model = Dann::digits(&gpu, &names, 11).unwrap();
    let m = Method::parse(method, "--method").unwrap();
    let features: Vec<f32> = values(rows * DIM, 5).iter().map(|v| v.max(0.0)).collect();
    let labels: Vec<u32> = (0..n_source as u32).map(|i| i % classes as u32).collect();
    // Heads and state first, as `fit` does.
    let state = m.prepare(&mut model, 3).unwrap();
    Setup {
        model,
        method: m,
        state,
        features,
        labels,
    }
}

/// The label head's logits and its source cross-entropy.
fn label_loss(f: &[f64], w: &Weights, rows: usize, labels: &[u32]) -> (Vec<f64>, f64) {
    let z = w.mlp("label", f, rows);
    let classes = w.get("label.fc3.bias").len();
    let ce = cross_entropy(&z, classes, labels);
    (z, ce)
}

/// 1 + e^{-H(p)} of each row of probabilities, normalised to mean 1 (MCC, CDAN+E).
fn entropy_weights(p: &[f64], classes: usize) -> Vec<f64> {
    let w: Vec<f64> = p
        .chunks(classes)
        .map(|row| {
            let h: f64 = row.iter().map(|&q| -q * (q + 1e-5).ln()).sum();
            1.0 + (-h).exp()
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v * w.len() as f64 / s).collect()
}
