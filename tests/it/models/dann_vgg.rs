//! DANN with the VGG16 backbone end to end on a tiny Office-31-shaped tree
//! (`<root>/<domain>/images/<class>/*.jpg`): base weights from a file, the VGG16 heads, the
//! model file, `dak evaluate` on it.
use crate::common::*;
use dak::models::dann::Dann;
use std::path::Path;

const CLASSES: [&str; 3] = ["back_pack", "bike", "mug"];

/// 3 classes x 4 images per domain, 40x40 JPEG; the webcam domain is the colour negative.
fn office31(root: &Path) {
    for (domain, negative) in [("amazon", false), ("webcam", true)] {
        for (c, class) in CLASSES.iter().enumerate() {
            for i in 0..4u32 {
                let img = image::RgbImage::from_fn(40, 40, |x, y| {
                    let v = ((x * (c as u32 + 1) * 7 + y * (i + 2)) % 256 / 4) as u8;
                    let mut px = [v; 3];
                    px[c] = 200;
                    if negative {
                        px = px.map(|p| 255 - p);
                    }
                    image::Rgb(px)
                });
                let name = format!("{domain}/images/{class}/frame_{i:04}.jpg");
                save(&root.join(name), &img);
            }
        }
    }
}

#[test]
fn vgg16_dann_runs_on_an_office31_tree_with_imported_base_weights() {
    let dir = TempDir::new("dann-vgg16");
    let root = dir.path();
    office31(root);

    // A features-only VGG16 file (torchvision names) with known values.
    let gpu = gpu();
    let shapes = dak::models::classifier::Classifier::new(
        &gpu,
        dak::models::classifier::HeadConfig {
            hidden: 4,
            dropout: 0.0,
            classes: 2,
        },
        0,
    )
    .unwrap();
    let mut base = Vec::new();
    for (_, p) in shapes
        .params
        .iter()
        .filter(|(_, p)| p.name.starts_with("features."))
    {
        let n = p.value.numel();
        let scale = (2.0 / (n / p.value.shape()[0]) as f32).sqrt();
        let vals: Vec<f32> = values(n, n as u64).iter().map(|v| v * scale).collect();
        base.push((p.name.clone(), p.value.shape().to_vec(), vals));
    }
    let weights = root.join("vgg16.safetensors");
    write_safetensors(&weights, &base);

    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (model, metrics, plot) = (
        root.join("adapted.safetensors"),
        root.join("m.jsonl"),
        root.join("curves.png"),
    );
    let source = root.join("amazon/images");
    let target = root.join("webcam/images");
    let out = dak(&[
        "adapt",
        "--source",
        &s(&source),
        "--target",
        &s(&target),
        "--backbone",
        "vgg16",
        "--weights",
        &s(&weights),
        "--backbone-lr-mult",
        "0",
        "--input-size",
        "32",
        "--epochs",
        "2",
        "--batch",
        "4",
        "--score-samples",
        "12",
        "--no-pad",
        "--out",
        &s(&model),
        "--metrics",
        &s(&metrics),
        "--plot",
        &s(&plot),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let epochs: Vec<_> = lines.iter().filter(|l| l["type"] == "epoch").collect();
    assert_eq!(epochs.len(), 2, "{lines:?}");
    for e in &epochs {
        for field in [
            "source_acc",
            "target_acc",
            "domain_acc",
            "lambda",
            "domain_loss",
            "snd",
        ] {
            assert!(
                e[field].as_f64().is_some_and(f64::is_finite),
                "{field}: {e}"
            );
        }
    }
    assert!(plot.is_file());

    // The model file rebuilds the VGG16 DANN; with the backbone rate at 0 the imported base is
    // exactly what the file held, while the new heads trained.
    let dann = Dann::load(&gpu, &model).unwrap();
    assert_eq!(dann.config.backbone, "vgg16");
    assert_eq!(dann.config.input_size(), 32);
    assert_eq!(dann.config.bottleneck, 256);
    assert_eq!(dann.config.domain_hidden, [1024, 1024]);
    assert_eq!(dann.config.domain_dropout, 0.5);
    assert_eq!(dann.features.dim(), 256);
    for (name, _, vals) in &base {
        let id = dann.params.find(name).unwrap();
        assert!(
            dann.params.get(id).value.to_vec().unwrap() == *vals,
            "{name} moved"
        );
    }

    let out = dak(&[
        "evaluate",
        "--model",
        &s(&model),
        "--data",
        &s(&target),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"], 12, "{report}");
}

/// One method of each family beside DANN (tested above): class confusion, its sum with DANN,
/// the kernel discrepancy, the conditional adversary and the margin disparity (MDD's adversary
/// on the bottleneck).
const FAMILIES: &str = "mcc,dann+mcc,dan,cdan-e,mdd";

#[test]
fn vgg16_runs_every_method_family() {
    let dir = TempDir::new("methods-vgg16");
    let root = dir.path();
    office31(root);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (model, metrics) = (root.join("m.safetensors"), root.join("m.jsonl"));
    let out = dak(&[
        "adapt",
        "--source",
        &s(&root.join("amazon/images")),
        "--target",
        &s(&root.join("webcam/images")),
        "--backbone",
        "vgg16",
        "--input-size",
        "32",
        "--compare",
        FAMILIES,
        "--select",
        "ensv",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--score-samples",
        "12",
        "--no-pad",
        "--out",
        &s(&model),
        "--metrics",
        &s(&metrics),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = read_jsonl(&metrics);
    let c = lines.iter().find(|l| l["type"] == "comparison").unwrap();
    let methods = c["methods"].as_array().unwrap();
    assert_eq!(methods.len(), FAMILIES.split(',').count() + 1, "{c}");
    for m in methods {
        assert!(m["score"].as_f64().is_some_and(f64::is_finite), "{m}");
    }
    for e in lines.iter().filter(|l| l["type"] == "epoch") {
        assert!(e["label_loss"].as_f64().is_some_and(f64::is_finite), "{e}");
    }
    assert_eq!(Dann::load(&gpu(), &model).unwrap().config.backbone, "vgg16");
    // MDD's adversary copies the VGG16 label head: linear from the 256-d bottleneck.
    let mdd = Dann::load(&gpu(), root.join("m-mdd.safetensors")).unwrap();
    let adversary = &mdd.config.heads[0];
    assert_eq!(adversary.name, "adversary");
    assert_eq!((adversary.input, adversary.outputs), (256, 3));
    assert!(adversary.hidden.is_empty());
}
