//! VGG16 + Keras head against an independent NumPy (float64) implementation:
//! `scripts/vgg16_numpy_fixture.py` wrote `tests/fixtures/vgg16_numpy.json` from weights and an
//! input made by an integer hash; this test makes the same values, loads the base through a
//! torchvision-named safetensors file, and compares the forward pass, every parameter's
//! gradient and the loss after one SGD step, within 1e-4 relative.
use crate::common::*;
use dak::autograd::Tape;
use dak::models::classifier::{Classifier, HeadConfig};
use dak::models::vgg16;
use dak::optim::{Optimizer, Rule};
use dak::Tensor;
use serde_json::Value;

const TOL: f64 = 1e-4;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// max |got - want| relative to the larger of max |want| and `scale`.
fn check(got: &[f32], want: &[f64], scale: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let peak = want.iter().fold(scale, |m, w| m.max(w.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((*g as f64 - w).abs()));
    assert!(
        err <= TOL * peak,
        "{what}: max error {err:.3e} vs {:.3e} allowed (peak {peak:.3e})",
        TOL * peak
    );
}

#[test]
fn vgg16_forward_and_one_sgd_step_match_numpy() {
    let fixture: Value =
        serde_json::from_str(include_str!("../../fixtures/vgg16_numpy.json")).unwrap();
    let gpu = gpu();
    let usize_of = |k: &str| fixture[k].as_u64().unwrap() as usize;
    let (batch, side) = (usize_of("batch"), usize_of("side"));
    let config = HeadConfig {
        hidden: usize_of("hidden"),
        dropout: 0.0,
        classes: usize_of("classes"),
    };
    let mut model = Classifier::new(&gpu, config, 1).unwrap();

    // The base goes through the weights importer (torchvision names); the head is written directly.
    let mut base = Vec::new();
    let mut head = Vec::new();
    for p in fixture["params"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        let shape: Vec<usize> = floats(&p["shape"]).iter().map(|&d| d as usize).collect();
        let n = shape.iter().product();
        let vals = hashed(p["salt"].as_u64().unwrap(), n, p["bound"].as_f64().unwrap());
        if name.starts_with("features.") {
            base.push((name, shape, vals));
        } else {
            head.push((name, vals));
        }
    }
    let dir = TempDir::new("vgg16-numpy");
    let file = dir.path().join("vgg16.safetensors");
    write_safetensors(&file, &base);
    let names = vgg16::load_base_weights(&file, &mut model.params).unwrap();
    assert_eq!(names, vgg16::WeightNames::FeaturesOnly); // no classifier.* tensors in the file
    for (name, vals) in &head {
        let id = model.params.find(name).unwrap_or_else(|| panic!("{name}"));
        model.params.get(id).value.write(vals).unwrap();
    }

    let input = hashed(
        fixture["input_salt"].as_u64().unwrap(),
        batch * 3 * side * side,
        1.0,
    );
    let x = Tensor::from_slice(&gpu, &input, &[batch, 3, side, side]).unwrap();
    let labels: Vec<u32> = floats(&fixture["labels"])
        .iter()
        .map(|&l| l as u32)
        .collect();
    let y = Tensor::from_u32(&gpu, &labels, &[batch]).unwrap();
    let w = Tensor::from_slice(&gpu, &vec![1.0; batch], &[batch]).unwrap();

    let mut tape = Tape::new();
    let xv = tape.input(x.clone());
    let feats = model.features(&mut tape, xv).unwrap();
    let logits = model.head(&mut tape, feats, true, 0).unwrap();
    let loss = tape.softmax_xent(logits, &y, &w, 1.0).unwrap();
    let got_feats = tape.tensor(feats).to_vec().unwrap();
    let got_logits = tape.tensor(logits).to_vec().unwrap();
    let got_loss = tape.tensor(loss).to_vec().unwrap()[0];
    let grads = tape.backward(&[loss]).unwrap();

    check(
        &got_feats,
        &floats(&fixture["features"]),
        0.0,
        "pooled features",
    );
    check(&got_logits, &floats(&fixture["logits"]), 0.0, "logits");
    check(
        &[got_loss],
        &[fixture["loss"].as_f64().unwrap()],
        0.0,
        "loss",
    );
    let want_grads = fixture["grads"].as_object().unwrap();
    assert_eq!(want_grads.len(), model.params.len());
    for (id, p) in model.params.iter() {
        let want = &want_grads[&p.name];
        let got = grads[&id].to_vec().unwrap();
        let norm = want["norm"].as_f64().unwrap();
        let got_norm = got.iter().map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt();
        check(
            &[got_norm as f32],
            &[norm],
            0.0,
            &format!("{} gradient norm", p.name),
        );
        let idx: Vec<usize> = floats(&want["indices"])
            .iter()
            .map(|&i| i as usize)
            .collect();
        let sampled: Vec<f32> = idx.iter().map(|&i| got[i]).collect();
        // Entries are judged against the tensor's RMS too, so near-zero entries need no luck.
        let rms = norm / (got.len() as f64).sqrt();
        check(
            &sampled,
            &floats(&want["values"]),
            rms,
            &format!("{} gradient", p.name),
        );
    }

    let lr = fixture["lr"].as_f64().unwrap() as f32;
    let mut sgd = Optimizer::new(Rule::Sgd {
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    });
    sgd.step(&model.params, &grads, lr).unwrap();
    let mut tape = Tape::no_grad();
    let xv = tape.input(x);
    let logits = model.forward(&mut tape, xv, false, 0).unwrap();
    let after = tape.softmax_xent(logits, &y, &w, 1.0).unwrap();
    let after = tape.tensor(after).to_vec().unwrap()[0];
    check(
        &[after],
        &[fixture["loss_after_sgd_step"].as_f64().unwrap()],
        0.0,
        "loss after one SGD step",
    );
}
