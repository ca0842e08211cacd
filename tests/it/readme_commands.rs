//! Every command the README shows runs (issue 34's must-hold): each is checked to still be in
//! the README word for word, then run here at reduced sizes — fewer epochs and images, the
//! same flags otherwise. The photo example runs at 224 x 224 with fine-tune's default batch
//! (the setting that did not fit lavapipe's 128 MiB bindings), on a few images and a
//! synthetic VGG16 weights file. `cargo test --release` is CI's own command; the library
//! examples run in tests/library_api.rs and the ONNX snippet's steps in tests/export.rs.
use crate::common::*;
use std::path::Path;

const README: &str = include_str!("../../README.md");

/// The README's line `shown` must still be there; `args` is what this test runs for it.
fn run_shown(shown: &str, args: &[&str]) -> String {
    let flat = README.replace("\\\n", " ");
    let flat: String = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(shown),
        "the README no longer shows `{shown}`: update this test with it"
    );
    let o = dak(args);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{shown}\nran {args:?}:\n{all}");
    all
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_readme_main_job_and_deploy_commands_run() {
    let dir = TempDir::new("readme-main");
    let (model, metrics, plot, onnx) = (
        dir.path().join("dann-mnistm.safetensors"),
        dir.path().join("dann.jsonl"),
        dir.path().join("dann.png"),
        dir.path().join("dann-mnistm.onnx"),
    );
    run_shown(
        "cargo run --release -- adapt --epochs 10 --out dann-mnistm.safetensors --metrics dann.jsonl --plot dann.png",
        &[
            "adapt", "--epochs", "1", "--limit", "64", "--score-samples", "16", "--workers", "1",
            "--out", s(&model), "--metrics", s(&metrics), "--plot", s(&plot),
        ],
    );
    for f in [&model, &metrics, &plot] {
        assert!(f.is_file(), "{} was not written", f.display());
    }
    let shown = "dak export --model dann-mnistm.safetensors --onnx dann-mnistm.onnx [--dtype f16] [--outputs features,probabilities]";
    run_shown(shown, &["export", "--model", s(&model), "--onnx", s(&onnx)]);
    let half = dir.path().join("dann-mnistm-f16.onnx");
    let both = "--dtype f16 --outputs features,probabilities";
    let args = ["export", "--model", s(&model), "--onnx", s(&half)];
    let mut args = args.to_vec();
    args.extend(both.split(' '));
    run_shown(shown, &args);
    assert!(onnx.is_file() && half.is_file());
}

#[test]
fn the_readme_photo_example_runs_at_224_with_default_batches() {
    let dir = TempDir::new("readme-photos");
    let photos = dir.path().join("photos");
    class_folders(&photos.join("train"));
    class_folders(&photos.join("test"));
    // A synthetic VGG16 base (torchvision names): the README's weights/vgg16.safetensors.
    let gpu = gpu();
    let head = dak::models::classifier::HeadConfig {
        hidden: 4,
        dropout: 0.0,
        classes: 2,
    };
    let shapes = dak::models::Classifier::new(&gpu, head, 0).unwrap();
    let base: Vec<(String, Vec<usize>, Vec<f32>)> = shapes
        .params
        .iter()
        .filter(|(_, p)| p.name.starts_with("features."))
        .map(|(_, p)| {
            let n = p.value.numel();
            let scale = (2.0 / (n / p.value.shape()[0]) as f32).sqrt();
            let v = values(n, n as u64).iter().map(|v| v * scale).collect();
            (p.name.clone(), p.value.shape().to_vec(), v)
        })
        .collect();
    let weights = dir.path().join("vgg16.safetensors");
    write_safetensors(&weights, &base);
    let (flowers, metrics) = (
        dir.path().join("flowers.safetensors"),
        dir.path().join("flowers.jsonl"),
    );
    let train = photos.join("train");
    let out = run_shown(
        "dak fine-tune --train photos/train --val-split 0.2 --weights weights/vgg16.safetensors --input-size 224 --epochs 10 --out flowers.safetensors --metrics flowers.jsonl",
        &[
            "fine-tune", "--train", s(&train), "--val-split", "0.2", "--weights", s(&weights),
            "--input-size", "224", "--epochs", "1", "--out", s(&flowers), "--metrics",
            s(&metrics), "--workers", "1",
        ],
    );
    assert!(out.contains("epoch 1/1"), "{out}");
    let test = photos.join("test");
    let report = run_shown(
        "dak evaluate --model flowers.safetensors --data photos/test",
        &["evaluate", "--model", s(&flowers), "--data", s(&test)],
    );
    assert!(report.contains("accuracy"), "{report}");
    // A photo that is not square, as JPEG.
    let jpg = dir.path().join("some.jpg");
    save(&jpg, &pattern(300, 260, 9));
    let pred = run_shown(
        "dak predict --model flowers.safetensors some.jpg --top-k 3",
        &["predict", "--model", s(&flowers), s(&jpg), "--top-k", "3"],
    );
    assert!(pred.contains("some.jpg"), "{pred}");
}
