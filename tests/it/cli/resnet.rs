//! `dak predict --weights` with torchvision-named ResNet-18 and ResNet-50 files against an
//! independent NumPy (float64) forward pass with torchvision's evaluation transform done by
//! Pillow: `scripts/resnet_numpy_fixture.py` wrote `tests/fixtures/resnet_numpy.json`; this test
//! makes the same weights (hashed, non-trivial BN statistics) and images, and compares the top-5
//! probabilities within 1% relative. Also the refusals of broken ResNet files.
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../fixtures/resnet_numpy.json")).unwrap()
}

/// The model's tensors as the generator makes them: f32(offset + hashed(salt, n, bound)).
fn tensors(model: &Value) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    model["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let shape: Vec<usize> = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let n = shape.iter().product();
            let offset = t["offset"].as_f64().unwrap();
            let vals = hashed(t["salt"].as_u64().unwrap(), n, t["bound"].as_f64().unwrap())
                .into_iter()
                .map(|v| (offset + v as f64) as f32)
                .collect();
            (t["name"].as_str().unwrap().to_string(), shape, vals)
        })
        .collect()
}

/// The generator's test image: an integer pattern plus hashed noise.
fn image(w: u32, h: u32, salt: u64) -> image::RgbImage {
    let noise = hashed(salt, (w * h * 3) as usize, 0.5);
    image::RgbImage::from_fn(w, h, |x, y| {
        let px = |c: u32| {
            let smooth = (x * (c + 1) * 3 + y * (3 - c) * 2 + ((x * y) >> 5)) % 256;
            let n = (noise[((y * w + x) * 3 + c) as usize] as f64 * 64.0) as i64;
            (smooth as i64 + n).clamp(0, 255) as u8
        };
        image::Rgb([px(0), px(1), px(2)])
    })
}

fn images(dir: &Path, fx: &Value) -> Vec<PathBuf> {
    fx["images"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, im)| {
            let get = |k: &str| im[k].as_u64().unwrap();
            let path = dir.join(format!("image{i}.png"));
            save(
                &path,
                &image(get("width") as u32, get("height") as u32, get("noise_salt")),
            );
            path
        })
        .collect()
}

fn check_against_numpy(arch: &str) {
    let fx = fixture();
    let model = &fx["models"][arch];
    let dir = TempDir::new(&format!("resnet-predict-{arch}"));
    let weights = dir.path().join(format!("{arch}.safetensors"));
    write_safetensors(&weights, &tensors(model));
    let paths = images(dir.path(), &fx);
    let mut args = vec!["predict", "--weights", weights.to_str().unwrap()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--top-k", "10", "--json"]);
    let out = dak(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let classes = dak::models::imagenet::class_names();
    for (i, want) in model["top5"].as_array().unwrap().iter().enumerate() {
        let top = got[i]["top"].as_array().unwrap();
        for entry in want.as_array().unwrap() {
            let class = &classes[entry[0].as_u64().unwrap() as usize];
            let p = entry[1].as_f64().unwrap();
            let mine = top
                .iter()
                .find(|t| t[0].as_str() == Some(class))
                .unwrap_or_else(|| {
                    panic!("{arch} image {i}: `{class}` ({p:.4}) not in dak's top 10: {top:?}")
                })[1]
                .as_f64()
                .unwrap();
            assert!(
                (mine - p).abs() <= 0.01 * p,
                "{arch} image {i}: `{class}` dak {mine:.5} vs NumPy {p:.5}"
            );
        }
    }
}

#[test]
fn resnet18_predict_matches_numpy_and_pillow() {
    check_against_numpy("resnet18");
}

#[test]
fn resnet50_predict_matches_numpy_and_pillow() {
    check_against_numpy("resnet50");
}

#[test]
fn broken_resnet_files_are_refused_naming_the_tensor() {
    let fx = fixture();
    let all = tensors(&fx["models"]["resnet18"]);
    let dir = TempDir::new("resnet-broken");
    let img = dir.path().join("a.png");
    save(&img, &pattern(40, 30, 1));
    let write_without = |name: &str, drop: &str| {
        let path = dir.path().join(name);
        let kept: Vec<_> = all.iter().filter(|t| t.0 != drop).cloned().collect();
        write_safetensors(&path, &kept);
        path
    };
    let predict = |weights: &Path, needles: &[&str]| {
        let args = [
            "predict",
            "--weights",
            weights.to_str().unwrap(),
            img.to_str().unwrap(),
        ];
        refused_with(&args, needles);
    };
    let no_var = write_without("no-var.safetensors", "layer3.1.bn2.running_var");
    predict(&no_var, &["layer3.1.bn2.running_var"]);
    let no_fc = write_without("no-fc.safetensors", "fc.weight");
    predict(&no_fc, &["fc.weight"]);
    // A wrong shape is named with both shapes.
    let path = dir.path().join("bad-shape.safetensors");
    let mut bad = all.clone();
    let t = bad
        .iter_mut()
        .find(|t| t.0 == "layer2.0.conv2.weight")
        .unwrap();
    t.1 = vec![128, 64, 3, 3];
    t.2.truncate(128 * 64 * 9);
    write_safetensors(&path, &bad);
    predict(
        &path,
        &[
            "layer2.0.conv2.weight",
            "[128, 64, 3, 3]",
            "[128, 128, 3, 3]",
        ],
    );
}

#[test]
fn fine_tune_refuses_a_resnet_of_another_depth_and_bad_resnet_flags() {
    let fx = fixture();
    let dir = TempDir::new("resnet-flags");
    let r18 = dir.path().join("resnet18.safetensors");
    write_safetensors(&r18, &tensors(&fx["models"]["resnet18"]));
    let train = dir.path().join("train");
    class_folders(&train);
    let out = dir.path().join("m.safetensors");
    let (train, out) = (train.to_str().unwrap(), out.to_str().unwrap());
    let run = |extra: &[&str], needles: &[&str]| {
        let mut args = vec!["fine-tune", "--train", train, "--out", out];
        args.extend(extra);
        refused_with(&args, needles);
        assert!(
            !std::path::Path::new(out).exists(),
            "{extra:?} wrote the output"
        );
    };
    let r18 = r18.to_str().unwrap();
    run(
        &["--backbone", "resnet50", "--weights", r18],
        &["--weights", "resnet18", "resnet50"],
    );
    run(
        &[
            "--backbone",
            "resnet18",
            "--weights",
            "none",
            "--input-size",
            "100",
        ],
        &["--input-size 100", "multiple of 32"],
    );
    run(
        &[
            "--backbone",
            "resnet18",
            "--weights",
            r18,
            "--bn",
            "sometimes",
        ],
        &["--bn sometimes", "train", "frozen"],
    );
    run(
        &[
            "--backbone",
            "resnet18",
            "--weights",
            r18,
            "--unfreeze",
            "block5",
        ],
        &["--unfreeze block5", "layer1 .. layer4"],
    );
    run(
        &["--backbone", "resnet51", "--weights", "none"],
        &["resnet51", "resnet50"],
    );
}

#[test]
fn adapt_with_a_resnet_backbone_trains_evaluates_and_refuses_another_depth() {
    let dir = TempDir::new("resnet-adapt");
    let (source, target) = (dir.path().join("src"), dir.path().join("tgt"));
    negative_target_trees(dir.path());
    let out = dir.path().join("dann.safetensors");
    let o = dak(&[
        "adapt",
        "--source",
        source.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "--backbone",
        "resnet18",
        "--input-size",
        "32",
        "--bottleneck",
        "16",
        "--epochs",
        "1",
        "--batch",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = dak::models::expect::read_header(&out).unwrap();
    assert_eq!(h.architecture(), Some("dann-resnet18"));
    // The bottleneck's BatchNorm1d and every base BN keep their running statistics.
    for name in [
        "bottleneck.bn1.running_var",
        "layer4.1.bn2.running_mean",
        "bn1.running_var",
    ] {
        assert!(h.shapes.contains_key(name), "{name} missing");
    }
    let e = dak(&[
        "evaluate",
        "--model",
        out.to_str().unwrap(),
        "--data",
        target.to_str().unwrap(),
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));

    let fx = fixture();
    let r18 = dir.path().join("resnet18.safetensors");
    write_safetensors(&r18, &tensors(&fx["models"]["resnet18"]));
    let out2 = dir.path().join("other.safetensors");
    refused_with(
        &[
            "adapt",
            "--source",
            source.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "--backbone",
            "resnet34",
            "--weights",
            r18.to_str().unwrap(),
            "--out",
            out2.to_str().unwrap(),
        ],
        &["--weights", "resnet18", "resnet34"],
    );
    assert!(!out2.exists());
    for (bn, backbone, needles) in [
        ("frozen", "digits", &["--bn frozen", "ResNet"][..]),
        ("maybe", "resnet18", &["--bn maybe", "train", "frozen"][..]),
    ] {
        refused_with(
            &[
                "adapt",
                "--source",
                source.to_str().unwrap(),
                "--target",
                target.to_str().unwrap(),
                "--backbone",
                backbone,
                "--bn",
                bn,
                "--out",
                out2.to_str().unwrap(),
            ],
            needles,
        );
    }
}
