//! MDD's step against the f64 reference: the adversary's source cross-entropy (margin γ = 4)
//! and target complement cross-entropy against the label head's argmax, behind a reversal of
//! 0.1·λ; `dak adapt --method mdd` end to end (the adversary head in the model file,
//! `dak evaluate` on it).
use super::*;
use crate::common::steps::*;
use dak::models::Dann;
use std::path::Path;

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

/// Source: 3 classes x 6 images; target: their colour negatives.
fn trees(root: &Path) {
    class_folders(&root.join("src"));
    for name in ["cat", "dog", "owl"] {
        for entry in std::fs::read_dir(root.join("src").join(name)).unwrap() {
            let path = entry.unwrap().path();
            let img = image::open(&path).unwrap().to_rgb8();
            let neg = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
                image::Rgb(img.get_pixel(x, y).0.map(|p| 255 - p))
            });
            save(
                &root.join("tgt").join(name).join(path.file_name().unwrap()),
                &neg,
            );
        }
    }
}

#[test]
fn mdd_adapts_saves_reloads_and_evaluates() {
    let dir = TempDir::new("mdd-e2e");
    trees(dir.path());
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    let (out, metrics) = (p("mdd.safetensors"), p("mdd.jsonl"));
    let o = dak(&[
        "adapt",
        "--source",
        &p("src"),
        "--target",
        &p("tgt"),
        "--method",
        "mdd",
        "--epochs",
        "2",
        "--batch",
        "4",
        "--score-samples",
        "6",
        "--no-pad",
        "--workers",
        "1",
        "--out",
        &out,
        "--metrics",
        &metrics,
    ]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = read_jsonl(Path::new(&metrics));
    let epochs: Vec<_> = lines.iter().filter(|v| v["type"] == "epoch").collect();
    assert_eq!(epochs.len(), 2, "{lines:?}");
    for e in &epochs {
        assert_eq!(e["method"], "mdd", "{e}");
        // The domain loss is the transfer loss (the method's only losses): positive, finite.
        let d = e["domain_loss"].as_f64().unwrap();
        let a = e["adapt_loss"].as_f64().unwrap();
        assert!(d.is_finite() && d > 0.0, "{e}");
        assert!((a - d).abs() < 1e-5 * (1.0 + d), "{e}");
        // No domain classifier: no domain accuracy.
        assert!(e["domain_acc"].is_null(), "{e}");
        assert!(e["lambda"].as_f64().is_some_and(|l| l > 0.0), "{e}");
        assert!(e["label_loss"].as_f64().is_some_and(f64::is_finite), "{e}");
    }

    // The model file holds the adversary head; it reloads and evaluates.
    let model = Dann::load(&gpu(), Path::new(&out)).unwrap();
    let heads = &model.config.heads;
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(heads[0].name, "adversary");
    assert_eq!((heads[0].input, heads[0].outputs), (768, 3));
    assert_eq!(heads[0].hidden, model.config.label_hidden);
    assert!(model.params.find("adversary.fc3.weight").is_some());
    let o = dak(&["evaluate", "--model", &out, "--data", &p("tgt"), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["images"], 18, "{report}");
}
