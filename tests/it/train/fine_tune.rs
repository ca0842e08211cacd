//! VGG16 transfer learning: weights import, freezing, the feature cache, the CLI.
use crate::common::*;
use dak::data::{Dataset, Preprocess};
use dak::models::classifier::{Classifier, ClassifierSpec, Freeze, HeadConfig, Weights};
use dak::models::vgg16;
use dak::train::FitOptions;
use std::collections::HashMap;
use std::path::Path;

fn opts(cache: bool) -> FitOptions {
    FitOptions {
        epochs: 2,
        batch: 8,
        seed: 3,
        cache,
        workers: 1,
        ..Default::default()
    }
}

#[test]
fn feature_cache_gives_the_same_training_as_the_full_forward() {
    let gpu = gpu();
    let dir = TempDir::new("ft-cache");
    class_folders(dir.path());
    let ds = Dataset::from_dir(dir.path()).unwrap();
    let spec = ClassifierSpec {
        classes: ds.classes().to_vec(),
        input_size: 32,
        hidden: 16,
        seed: 7,
        ..Default::default()
    };
    let mut losses = Vec::new();
    for cache in [true, false] {
        let convs_before = gpu.dispatches_of("conv2d/fwd");
        let mut model = Classifier::vgg16(&gpu, &spec).unwrap();
        model.freeze("features").unwrap();
        let h = model.fit(&ds, Some(&ds), &opts(cache), &mut []).unwrap();
        assert_eq!(h.epochs.len(), 2);
        assert_eq!(h.epochs[0].feature_cache, cache);
        // The base (13 convolutions) runs once per batch of 8 over the 18 training and the 18
        // validation images: once per image with the cache, once per image and epoch without.
        let base_passes = 2 * 18usize.div_ceil(8) as u64 * if cache { 1 } else { 2 };
        assert_eq!(
            gpu.dispatches_of("conv2d/fwd") - convs_before,
            13 * base_passes,
            "cache {cache}"
        );
        losses.push(
            h.epochs
                .iter()
                .map(|e| (e.train_loss, e.val_loss.unwrap()))
                .collect::<Vec<_>>(),
        );
    }
    for (a, b) in losses[0].iter().zip(&losses[1]) {
        assert!(
            (a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4,
            "cached {a:?} vs full {b:?}"
        );
    }
}

#[test]
fn freezing_by_block_and_weights_import() {
    let gpu = gpu();
    let mut model = Classifier::new(
        &gpu,
        HeadConfig {
            hidden: 8,
            dropout: 0.0,
            classes: 2,
        },
        1,
    )
    .unwrap();
    model.set_trainable(Freeze::FromBlock(5)).unwrap();
    let trainable: Vec<String> = model
        .params
        .iter()
        .filter(|(_, p)| p.trainable)
        .map(|(_, p)| p.name.clone())
        .collect();
    assert!(trainable.iter().any(|n| n == "features.28.weight"));
    assert!(trainable.iter().any(|n| n == "head.fc2.bias"));
    assert!(
        !trainable.iter().any(|n| n == "features.21.weight"),
        "{trainable:?}"
    );
    assert!(model.set_trainable(Freeze::FromBlock(6)).is_err());

    // A timm-named file: every features.* tensor plus a classifier head.
    let dir = TempDir::new("vgg-weights");
    let mut tensors: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
    for (_, p) in model
        .params
        .iter()
        .filter(|(_, p)| p.name.starts_with("features"))
    {
        let n = p.value.numel();
        tensors.insert(
            p.name.clone(),
            (p.value.shape().to_vec(), values(n, n as u64)),
        );
    }
    tensors.insert("head.fc.weight".into(), (vec![1000, 4096], vec![0.0; 10]));
    let write = |path: &Path, t: &HashMap<String, (Vec<usize>, Vec<f32>)>| {
        let views: Vec<(String, safetensors::tensor::TensorView)> = t
            .iter()
            .filter(|(k, _)| k.starts_with("features"))
            .map(|(k, (s, d))| {
                (
                    k.clone(),
                    safetensors::tensor::TensorView::new(
                        safetensors::Dtype::F32,
                        s.clone(),
                        bytemuck::cast_slice(d),
                    )
                    .unwrap(),
                )
            })
            .collect();
        let mut extra: Vec<f32> = vec![0.0; 4];
        extra[0] = 1.0;
        let mut all = views;
        if t.contains_key("head.fc.weight") {
            all.push((
                "head.fc.weight".into(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    vec![2, 2],
                    bytemuck::cast_slice(&extra),
                )
                .unwrap(),
            ));
        }
        std::fs::write(path, safetensors::serialize(all, None).unwrap()).unwrap();
    };
    let good = dir.path().join("vgg16.safetensors");
    write(&good, &tensors);
    let names = vgg16::load_base_weights(&good, &mut model.params).unwrap();
    assert_eq!(names, vgg16::WeightNames::Timm);
    let w28 = model
        .params
        .get(model.params.find("features.28.weight").unwrap())
        .value
        .to_vec()
        .unwrap();
    assert_eq!(w28, tensors["features.28.weight"].1);

    let mut wrong = tensors.clone();
    wrong.insert(
        "features.0.weight".into(),
        (vec![64, 3, 5, 5], vec![0.0; 64 * 3 * 25]),
    );
    let bad = dir.path().join("wrong.safetensors");
    write(&bad, &wrong);
    let err = vgg16::load_base_weights(&bad, &mut model.params)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("features.0.weight")
            && err.contains("[64, 3, 5, 5]")
            && err.contains("[64, 3, 3, 3]"),
        "{err}"
    );

    let mut missing = tensors.clone();
    missing.remove("features.26.bias");
    let partial = dir.path().join("partial.safetensors");
    write(&partial, &missing);
    let err = vgg16::load_base_weights(&partial, &mut model.params)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("features.26.bias") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn cli_fine_tune_then_evaluate_and_predict() {
    let dir = TempDir::new("ft-cli");
    let data = dir.path().join("data");
    class_folders(&data);
    let out = dir.path().join("model.safetensors");
    let metrics = dir.path().join("m.jsonl");
    let dak = env!("CARGO_BIN_EXE_dak");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(dak)
            .args(args)
            .env(
                "MESA_SHADER_CACHE_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
            )
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let d = data.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "fine-tune",
        "--train",
        d,
        "--val-split",
        "0.34",
        "--weights",
        "none",
        "--input-size",
        "32",
        "--epochs",
        "2",
        "--batch",
        "8",
        "--hidden",
        "16",
        "--out",
        out.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "two epochs and a summary");
    assert_eq!(
        lines[0]["type"], "epoch",
        "every record names its type (docs/json.md)"
    );
    for key in [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
        "images_per_s",
    ] {
        assert!(lines[0].get(key).is_some(), "missing {key}");
    }
    let (code, stdout, stderr) = run(&[
        "evaluate",
        "--model",
        out.to_str().unwrap(),
        "--data",
        d,
        "--json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["images"], 18);
    assert_eq!(report["confusion"].as_array().unwrap().len(), 3);
    let img = data.join("owl/0.png");
    let (code, stdout, _) = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        img.to_str().unwrap(),
        "--top-k",
        "2",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    let preds: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let p: f64 = preds[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[1].as_f64().unwrap())
        .sum();
    assert!(p > 0.0 && p <= 1.0 + 1e-6);
    // Bad input: one clear line, exit code 2.
    let (code, _, stderr) = run(&[
        "fine-tune",
        "--train",
        d,
        "--weights",
        "none",
        "--input-size",
        "48",
        "--out",
        "x.safetensors",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--input-size 48") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "evaluate",
        "--model",
        metrics.to_str().unwrap(),
        "--data",
        d,
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("m.jsonl"), "{stderr}");
}

#[test]
fn an_interrupted_fine_tune_resumes_to_the_same_model() {
    let dir = TempDir::new("ft-resume");
    let data = dir.path().join("data");
    class_folders(&data);
    let dak = env!("CARGO_BIN_EXE_dak");
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "fine-tune",
            "--train",
            data.to_str().unwrap(),
            "--weights",
            "none",
            "--input-size",
            "32",
            "--batch",
            "8",
            "--hidden",
            "16",
            "--seed",
            "5",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = std::process::Command::new(dak)
            .args(&args)
            .env(
                "MESA_SHADER_CACHE_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
            )
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let whole = dir.path().join("whole.safetensors");
    let first = run(&whole, &["--epochs", "3"]);
    // The one-time phase before the first epoch line says what it is doing.
    assert!(
        first.contains("building the feature cache: 18 image(s)"),
        "{first}"
    );
    let part = dir.path().join("part.safetensors");
    run(&part, &["--epochs", "1"]);
    let resumed = dir.path().join("resumed.safetensors");
    let out = run(
        &resumed,
        &[
            "--epochs",
            "3",
            "--resume",
            dir.path().join("part.resume.safetensors").to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("resuming after epoch 1")
            && out.contains("epoch 3/3")
            && !out.contains("epoch 1/3"),
        "{out}"
    );
    // The model file says how it was made (item 16).
    let (info, _) = dak::models::file::load(&whole).unwrap();
    let p = info.provenance.expect("provenance");
    assert_eq!(
        (p.method.as_str(), p.epoch, p.seed),
        ("fine-tune", Some(3), 5)
    );
    assert!(p.command.contains("--epochs 3"), "{}", p.command);
    assert!(
        p.data["train"].as_str().unwrap().ends_with("data"),
        "{}",
        p.data
    );
    let a = dak::train::checkpoint::load(&whole).unwrap();
    let b = dak::train::checkpoint::load(&resumed).unwrap();
    for (name, (_, va)) in &a.tensors {
        let vb = &b.tensors[name].1;
        let worst = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{name} differs by {worst} after resuming");
    }
}

#[test]
fn a_dak_model_as_base_weights_keeps_its_preprocessing() {
    let gpu = gpu();
    let dir = TempDir::new("ft-preprocess");
    let spec = |weights, preprocess| ClassifierSpec {
        classes: vec!["a".into(), "b".into()],
        weights,
        input_size: 32,
        hidden: 4,
        preprocess,
        ..Default::default()
    };
    // Trained from scratch on [0, 1] pixels (`unit`, the default without weights).
    let scratch = Classifier::vgg16(&gpu, &spec(Weights::None, None)).unwrap();
    assert_eq!(scratch.preprocess, Preprocess::Unit);
    let path = dir.path().join("scratch.safetensors");
    scratch.save(&path).unwrap();
    let reused = Classifier::vgg16(&gpu, &spec(Weights::File(path.clone()), None)).unwrap();
    assert_eq!(reused.preprocess, Preprocess::Unit);
    // An explicit choice still wins.
    let caffe = Classifier::vgg16(&gpu, &spec(Weights::File(path), Some(Preprocess::Caffe)));
    assert_eq!(caffe.unwrap().preprocess, Preprocess::Caffe);
}
