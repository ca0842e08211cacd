//! `dak adapt` and the DANN pieces: a tiny end-to-end run through the binary, the label-free
//! metrics and the proxy A-distance against hand-computed values, the schedules, and errors.
use crate::common::*;
use dak::models::dann::{Backbone, Dann, DannConfig};
use dak::train::adapt::{LambdaSchedule, LrSchedule};
use dak::train::metrics;
use std::path::Path;

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

#[test]
fn entropy_im_and_snd_match_hand_computed_values() {
    let p = [0.5, 0.5, 1.0, 0.0];
    close(
        metrics::mean_entropy(&p, 2),
        2f64.ln() / 2.0,
        1e-6,
        "entropy",
    );
    // mean prediction (0.75, 0.25): H = 0.562335; minus mean entropy 0.346574.
    close(
        metrics::information_maximization(&p, 2),
        0.215762,
        1e-5,
        "IM",
    );
    // Rows a = b = (1, 0), c = (0, 1). At temperature 1, a's neighbours get logits (1, 0):
    // entropy of (0.731059, 0.268941) = 0.582203; c's neighbours both 0: ln 2.
    let q = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    close(
        metrics::soft_neighborhood_density(&q, 2, 1.0),
        (2.0 * 0.582203 + 2f64.ln()) / 3.0,
        1e-5,
        "SND T=1",
    );
    // At the paper's temperature a and b are each other's only neighbour.
    close(
        metrics::soft_neighborhood_density(&q, 2, metrics::SND_TEMPERATURE),
        2f64.ln() / 3.0,
        1e-6,
        "SND T=0.05",
    );
    let s = metrics::softmax_rows(&[0.0, 0.0, 1.0, 0.0], 2);
    close(s[2] as f64, 0.731059, 1e-6, "softmax");
}

#[test]
fn proxy_a_distance_is_2_for_separable_and_near_0_for_identical_domains() {
    let dim = 8;
    let n = 200;
    let a = values(n * dim, 1);
    let shifted: Vec<f32> = values(n * dim, 2).iter().map(|v| v + 5.0).collect();
    let sep = metrics::proxy_a_distance(&a, &shifted, dim, 0).unwrap();
    close(sep.pad, 2.0, 1e-9, "separable PAD");
    assert_eq!(sep.error, 0.0);
    let same = metrics::proxy_a_distance(&a, &values(n * dim, 3), dim, 0).unwrap();
    assert!(same.pad.abs() < 0.5, "same-distribution PAD {}", same.pad);
    close(
        same.pad,
        2.0 * (1.0 - 2.0 * same.error),
        1e-12,
        "PAD formula",
    );
    assert!(metrics::proxy_a_distance(&a[..dim], &a, dim, 0).is_err());
}

#[test]
fn lambda_and_learning_rate_schedules_at_0_half_and_1() {
    let lam = LambdaSchedule::Dann { max: 1.0 };
    close(lam.at(0.0) as f64, 0.0, 1e-7, "lambda(0)");
    close(
        lam.at(0.5) as f64,
        2.0 / (1.0 + (-5f64).exp()) - 1.0,
        1e-6,
        "lambda(.5)",
    );
    close(lam.at(1.0) as f64, 0.999909, 1e-6, "lambda(1)");
    close(
        LambdaSchedule::Dann { max: 0.5 }.at(1.0) as f64,
        0.4999546,
        1e-6,
        "lambda_max",
    );
    assert_eq!(LambdaSchedule::Constant(0.3).at(0.7), 0.3);
    let lr = LrSchedule::Dann;
    close(lr.at(0.01, 0.0) as f64, 0.01, 1e-9, "lr(0)");
    close(
        lr.at(0.01, 0.5) as f64,
        0.01 / 6f64.powf(0.75),
        1e-8,
        "lr(.5)",
    );
    close(
        lr.at(0.01, 1.0) as f64,
        0.01 / 11f64.powf(0.75),
        1e-8,
        "lr(1)",
    );
    assert_eq!(LrSchedule::Constant.at(0.02, 0.9), 0.02);
}

#[test]
fn digits_dann_has_the_paper_shapes_and_names() {
    let gpu = gpu();
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let m = Dann::new(&gpu, DannConfig::paper(Backbone::Digits, 10), classes, 0).unwrap();
    let shape = |name: &str| {
        let id = m.params.find(name).unwrap_or_else(|| panic!("no {name}"));
        m.params.get(id).value.shape().to_vec()
    };
    assert_eq!(shape("features.conv1.weight"), [32, 3, 5, 5]);
    assert_eq!(shape("features.conv2.weight"), [48, 32, 5, 5]);
    assert_eq!(shape("label.fc1.weight"), [100, 768]);
    assert_eq!(shape("label.fc2.weight"), [100, 100]);
    assert_eq!(shape("label.fc3.weight"), [10, 100]);
    assert_eq!(shape("domain.fc1.weight"), [100, 768]);
    assert_eq!(shape("domain.fc2.weight"), [1, 100]);
    let x = dak::Tensor::from_slice(&gpu, &values(2 * 3 * 28 * 28, 4), &[2, 3, 28, 28]).unwrap();
    assert_eq!(m.extract_features(&x).unwrap().shape(), [2, 768]);
    assert_eq!(m.predict_logits(&x).unwrap().shape(), [2, 10]);
}

#[test]
fn tiny_compare_run_writes_metrics_models_and_a_plot() {
    let dir = TempDir::new("adapt");
    let out = dir.path().join("m.safetensors");
    let jsonl = dir.path().join("m.jsonl");
    let png = dir.path().join("m.png");
    let o = dak(&[
        "adapt",
        "--compare",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--limit",
        "128",
        "--score-samples",
        "32",
        "--select",
        "snd",
        "--workers",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--metrics",
        jsonl.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "dak adapt failed: {stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("target acc (selected)"), "{stdout}");

    let lines = read_jsonl(&jsonl);
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|v| v["type"] == kind).collect()
    };
    let epochs = of("epoch");
    assert_eq!(epochs.len(), 2, "{lines:?}");
    for e in &epochs {
        for key in [
            "method",
            "epoch",
            "epochs",
            "steps",
            "progress",
            "lambda",
            "lr",
            "label_loss",
            "domain_loss",
            "source_acc",
            "target_acc",
            "domain_acc",
            "entropy",
            "im",
            "snd",
            "seconds",
            "images_per_s",
        ] {
            assert!(e.get(key).is_some(), "epoch line lacks {key}: {e}");
        }
        assert_eq!(e["steps"], 4); // 128 source images / 32
        assert!(e["target_acc"].as_f64().unwrap() >= 0.0);
        assert!(e["snd"].as_f64().unwrap().is_finite());
        assert!(e["label_loss"].as_f64().unwrap().is_finite());
    }
    let dann = epochs.iter().find(|e| e["method"] == "dann").unwrap();
    let d = dann["domain_acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&d));
    assert!(dann["lambda"].as_f64().unwrap() > 0.0);
    assert!(dann["domain_loss"].as_f64().unwrap() > 0.0);
    let base = epochs
        .iter()
        .find(|e| e["method"] == "source-only")
        .unwrap();
    assert!(base["domain_acc"].is_null() && base["domain_loss"].is_null());
    let summaries = of("summary");
    assert_eq!(summaries.len(), 2);
    for s in &summaries {
        assert_eq!(s["select"], "snd");
        assert!(s["pad_before"]["pad"].as_f64().is_some(), "{s}");
        assert!(s["pad_after"]["pad"].as_f64().is_some(), "{s}");
        assert!(s["target_test_acc"].as_f64().is_some());
        assert!(s["source_test_acc"].as_f64().is_some());
        // The run's rate is its steps' steady rate: the one-time kernel compile is reported
        // apart (warmup_seconds), not charged to the first method's images/s.
        let rates: Vec<f64> = epochs
            .iter()
            .filter(|e| e["method"] == s["method"])
            .map(|e| e["images_per_s"].as_f64().unwrap())
            .collect();
        let (lo, hi) = rates
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
        let rate = s["images_per_s"].as_f64().unwrap();
        assert!(
            rate >= 0.5 * lo && rate <= 2.0 * hi,
            "{rate} vs epochs {rates:?}"
        );
        assert!(s["warmup_seconds"].as_f64().unwrap() >= 0.0, "{s}");
    }
    assert_eq!(of("comparison").len(), 1);

    // Both models load and evaluate from the file alone.
    let gpu = gpu();
    let baseline = dir.path().join("m-source-only.safetensors");
    // Each file says how it was made (item 16): the command, the data, the method, the
    // epoch and how it was chosen; --out also says among which methods.
    let picked = of("comparison")[0]["selected"].clone();
    let (info, _) = dak::models::file::load(&out).unwrap();
    let p = info.provenance.expect("provenance in --out");
    assert_eq!(p.method, picked["method"].as_str().unwrap());
    assert_eq!(p.epoch, Some(1));
    assert_eq!(p.seed, 0);
    assert!(
        p.command.contains("--compare") && p.command.contains("--select snd"),
        "{}",
        p.command
    );
    assert_eq!(p.data, "bundled MNIST -> MNIST-M");
    let sel = p.selection.unwrap();
    assert_eq!(sel["validator"], "snd");
    assert_eq!(sel["among"], serde_json::json!(["source-only", "dann"]));
    let (info, _) = dak::models::file::load(&baseline).unwrap();
    let p = info.provenance.expect("provenance in each method's file");
    assert_eq!((p.method.as_str(), p.epoch), ("source-only", Some(1)));
    assert_eq!(p.selection.unwrap()["validator"], "snd");
    for path in [&out, &baseline] {
        let (info, _) = dak::models::file::load(path).unwrap();
        assert_eq!(info.architecture, "dann-digits");
        assert_eq!(info.input_size, 28);
        assert_eq!(info.preprocess, "unit");
        assert_eq!(info.classes.len(), 10);
    }
    let bench = dak::data::mnistm::benchmark(&Default::default()).unwrap();
    let small = bench.target_test.subset(&(0..40).collect::<Vec<_>>());
    let acc = Dann::load(&gpu, &out)
        .unwrap()
        .evaluate(&small)
        .unwrap()
        .accuracy;
    assert!((0.0..=1.0).contains(&acc));

    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (960, 560));
}

fn write_classes(root: &Path, classes: &[&str]) {
    for c in classes {
        save(&root.join(c).join("a.png"), &pattern(28, 28, 1));
    }
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = TempDir::new("adapt-bad");
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    let out = p("m.safetensors");
    write_classes(&dir.path().join("src"), &["cat", "dog"]);
    write_classes(&dir.path().join("tgt"), &["cat", "fox"]);
    refused_with(
        &[
            "adapt",
            "--source",
            &p("nope"),
            "--target",
            &p("tgt"),
            "--out",
            &out,
        ],
        &["nope"],
    );
    refused_with(
        &[
            "adapt",
            "--source",
            &p("src"),
            "--target",
            &p("tgt"),
            "--out",
            &out,
        ],
        &["are source classes", "tgt", "dog", "fox"],
    );
    refused_with(
        &[
            "adapt",
            "--source",
            &p("src"),
            "--method",
            "source-only",
            "--select",
            "snd",
            "--out",
            &out,
        ],
        &["--select snd", "--target"],
    );
    refused_with(
        &["adapt", "--source", &p("src"), "--out", &out],
        &["--method dann needs target images"],
    );
    refused_with(
        &["adapt", "--target", &p("tgt"), "--out", &out],
        &["--source"],
    );
    refused_with(
        &["adapt", "--backbone", "resnet", "--out", &out],
        &["unknown --backbone `resnet`"],
    );
    refused_with(
        &["adapt", "--out", &p("missing/m.safetensors")],
        &["does not exist"],
    );
}

#[test]
fn bench_model_digits_reports_throughput_and_a_per_layer_profile() {
    let dir = TempDir::new("bench-digits");
    let json = dir.path().join("digits.json");
    let out = dak(&[
        "bench",
        "model",
        "--model",
        "digits",
        "--batch",
        "2",
        "--repeat",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for field in [
        "dann_train_img_s",
        "source_only_train_img_s",
        "inference_img_s",
    ] {
        assert!(r[field].as_f64().is_some_and(|v| v > 0.0), "{field}: {r}");
    }
    let layers: Vec<&str> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    for want in [
        "features.conv1",
        "features.conv2",
        "label.fc1",
        "domain.fc2",
        "optimizer",
    ] {
        assert!(layers.contains(&want), "{want} missing from {layers:?}");
    }
    let conv2 = &r["layers"][layers.iter().position(|l| *l == "features.conv2").unwrap()];
    assert!(
        conv2["forward_ms"].as_f64().unwrap() > 0.0 && conv2["backward_ms"].as_f64().unwrap() > 0.0
    );
}
