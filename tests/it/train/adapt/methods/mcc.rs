//! MCC's step (alone and added to DANN) against the f64 reference: the class-confusion loss of
//! the target rows' temperature-2.5 predictions with detached entropy weights.
use super::*;
use crate::common::steps::*;

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
