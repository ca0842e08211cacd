//! One step of each method on given features (the digits network's heads, 3 classes, 10 for
//! CDAN's randomized map) against a
//! plain-Rust f64 reference of the same losses: the gradient of every parameter the step
//! reaches and of the features (through the gradient reversal), by central differences.
use crate::common::steps;
use crate::common::*;
use dak::models::Dann;
use dak::train::adapt::methods::cdan;
use dak::train::adapt::{Method, MethodState};
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

/// MCC of the target rows' logits with entropy weights `weights` (detached).
fn mcc(zt: &[f64], weights: &[f64]) -> f64 {
    let p = softmax(zt, CLASSES, 2.5);
    let mut c = [0f64; CLASSES * CLASSES];
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
    entropy_weights(&softmax(zt, CLASSES, 2.5), CLASSES)
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

/// CDAN's multilinear map of the features `f` [rows, DIM] and the fixed predictions `g`
/// [rows, classes]: the flattened outer product g ⊗ f, or with `random` = (R_fᵀ [d, DIM],
/// R_g [classes, d]) the map (f·R_f) ⊙ (g·R_g) / √d.
fn multilinear(
    f: &[f64],
    g: &[f64],
    classes: usize,
    random: Option<&(Vec<f64>, Vec<f64>)>,
) -> Vec<f64> {
    let rows = f.len() / DIM;
    let Some((rf_t, rg)) = random else {
        return (0..rows)
            .flat_map(|b| {
                (0..classes * DIM).map(move |i| g[b * classes + i / DIM] * f[b * DIM + i % DIM])
            })
            .collect();
    };
    let d = cdan::RANDOM_DIM;
    let mut h = vec![0.0; rows * d];
    for b in 0..rows {
        for j in 0..d {
            let a: f64 = (0..DIM).map(|i| f[b * DIM + i] * rf_t[j * DIM + i]).sum();
            let e: f64 = (0..classes)
                .map(|c| g[b * classes + c] * rg[c * d + j])
                .sum();
            h[b * d + j] = a * e / (d as f64).sqrt();
        }
    }
    h
}

#[test]
fn cdan_steps_match_the_reference_with_both_maps() {
    // 3 classes: the outer product (2304 wide); 10 classes: the randomized map.
    for (name, classes) in [("cdan", 3), ("cdan-e", 3), ("cdan-e", 10)] {
        let (rows, ns) = (5, 3);
        let s = setup_with(name, rows, ns, classes);
        let f0: Vec<f64> = s.features.iter().map(|&v| v as f64).collect();
        let w0 = Weights::of(&s.model);
        // Detached at the base point: the predictions and CDAN+E's entropy weights.
        let g = softmax(&w0.mlp("label", &f0, rows), classes, 1.0);
        let weights = match name {
            "cdan-e" => entropy_weights(&g, classes),
            _ => vec![1.0; rows],
        };
        let random = cdan::randomized(DIM, classes).then(|| {
            let r = |k: &str| -> Vec<f64> {
                let v = s.state.get(k).unwrap().to_vec().unwrap();
                v.iter().map(|&x| x as f64).collect()
            };
            (r(cdan::RF), r(cdan::RG))
        });
        assert_eq!(random.is_some(), classes == 10);
        let loss = |f: &[f64], w: &Weights| {
            let (_, ce) = label_loss(f, w, rows, &s.labels);
            let h = multilinear(f, &g, classes, random.as_ref());
            let bce = domain_bce(&w.mlp(cdan::HEAD, &h, rows), ns);
            let dom: f64 = bce.iter().zip(&weights).map(|(l, w)| l * w).sum();
            (ce, dom / rows as f64)
        };
        let mut expect = label_params();
        for p in domain_params() {
            expect.push(Box::leak(
                p.replacen("domain", cdan::HEAD, 1).into_boxed_str(),
            ));
        }
        check_step(
            &s.model,
            s.method,
            &s.state,
            &s.features,
            DIM,
            &s.labels,
            LAMBDA,
            &loss,
            &expect,
        );
    }
}

/// Index of the largest value of each row of `classes` (ties: the first).
fn argmax_rows(z: &[f64], classes: usize) -> Vec<u32> {
    z.chunks(classes)
        .map(|r| (1..classes).fold(0, |b, c| if r[c] > r[b] { c } else { b }) as u32)
        .collect()
}

#[test]
fn mdd_step_matches_the_reference() {
    let (rows, ns) = (7, 3);
    let (model, m, f, labels) = setup("mdd", rows, ns);
    let f0: Vec<f64> = f.iter().map(|&v| v as f64).collect();
    // The pseudo-labels (argmax of the label head) carry no gradient: fixed at the step's values.
    let pred = argmax_rows(&Weights::of(&model).mlp("label", &f0, rows), CLASSES);
    let loss = |f: &[f64], w: &Weights| {
        let (_, ce) = label_loss(f, w, rows, &labels);
        let za = w.mlp("adversary", f, rows);
        let source = cross_entropy(&za[..ns * CLASSES], CLASSES, &pred[..ns]);
        let p = softmax(&za[ns * CLASSES..], CLASSES, 1.0);
        let target: f64 = p
            .chunks(CLASSES)
            .zip(&pred[ns..])
            .map(|(row, &y)| -(1.0 - row[y as usize] + 1e-6).min(1.0).ln())
            .sum::<f64>()
            / (rows - ns) as f64;
        (ce, 4.0 * source + target)
    };
    let mut expect = label_params();
    expect.extend(
        ["fc1", "fc2", "fc3"]
            .iter()
            .flat_map(|l| {
                [
                    format!("adversary.{l}.weight"),
                    format!("adversary.{l}.bias"),
                ]
            })
            .map(|s| &*Box::leak(s.into_boxed_str())),
    );
    let state = Default::default();
    // The adversary's reversal coefficient is 0.1·λ (TLlib's cap).
    let reversal = 0.1 * LAMBDA;
    check_step_reversed(
        &model, m, &state, &f, DIM, &labels, LAMBDA, reversal, &loss, &expect,
    );
}
