//! `dak export`: every kind of dak model as ONNX, run by an independent runtime (tract) on the
//! same images as dak, within 1e-4 (f32 weights) and 2e-2 (f16); f16 model files round-trip;
//! bad input is a one-line error and leaves nothing at the output path.
use crate::common::onnx;
use crate::common::*;
use dak::data::Preprocess;
use dak::export::{self, Batch, OnnxOptions, Output, Source};
use dak::models::file::StoreType;
use dak::models::{self, Classifier, ClassifierSpec, Dann, Model};
use dak::Tensor;
use image::RgbImage;
use onnx::{softmax_rows, tract_run, unit_pixels};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// dak's logits of `images` (already at the model's input size), preprocessed as dak does.
fn dak_logits(model: &dyn Model, images: &[RgbImage]) -> Vec<f32> {
    let side = images[0].width() as usize;
    let pre: Preprocess = model.info().preprocess.parse().unwrap();
    let mut x = vec![0f32; images.len() * 3 * side * side];
    for (img, out) in images.iter().zip(x.chunks_mut(3 * side * side)) {
        pre.write_chw(img, out);
    }
    let t = Tensor::from_slice(model.gpu(), &x, &[images.len(), 3, side, side]).unwrap();
    model.logits(&t).unwrap().to_vec().unwrap()
}

/// Test images: varied colour patterns at `side` pixels.
fn images(side: u32, n: usize) -> Vec<RgbImage> {
    (0..n)
        .map(|i| {
            let v = values((side * side * 3) as usize, 40 + i as u64);
            RgbImage::from_fn(side, side, |x, y| {
                let k = ((y * side + x) * 3) as usize;
                let px = |c: usize| ((v[k + c] * 0.5 + 0.5) * 255.0) as u8;
                image::Rgb([px(0), px(1), px(2)])
            })
        })
        .collect()
}

fn options(outputs: &[Output], store: StoreType, batch: Batch, opset: i64) -> OnnxOptions {
    OnnxOptions {
        opset,
        store,
        batch,
        outputs: outputs.to_vec(),
    }
}

/// Exports `model_file` and checks tract's probabilities (and logits) against `want_logits`.
fn check_export(
    source: &Source,
    imgs: &[RgbImage],
    want_logits: &[f32],
    classes: usize,
    dir: &Path,
) {
    let loaded = export::load(source).unwrap();
    for (store, tol) in [(StoreType::F32, 1e-4), (StoreType::F16, 2e-2)] {
        let path = dir.join(format!("model-{store:?}.onnx"));
        let opts = options(
            &[Output::Probabilities, Output::Logits],
            store,
            Batch::Dynamic,
            17,
        );
        export::write_onnx(&loaded, &opts, &path).unwrap();
        let run = tract_run(&path, &unit_pixels(imgs));
        let want = softmax_rows(want_logits, classes);
        assert_close(
            &run.outputs[0],
            &want,
            tol,
            &format!("probabilities ({store:?})"),
        );
        let scale = want_logits.iter().fold(1f32, |m, v| m.max(v.abs()));
        let got: Vec<f32> = run.outputs[1].iter().map(|v| v / scale).collect();
        let want: Vec<f32> = want_logits.iter().map(|v| v / scale).collect();
        assert_close(&got, &want, tol * 10.0, &format!("logits ({store:?})"));
        assert_eq!(run.output_shapes.len(), 2);
        assert!(
            run.output_shapes[0].contains(&classes.to_string()),
            "{:?}",
            run.output_shapes
        );
    }
}

#[test]
fn digits_dann_onnx_matches_dak_predict() {
    let gpu = gpu();
    let dir = TempDir::new("export-digits");
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let dann = Dann::digits(&gpu, &classes, 3).unwrap();
    let model_path = dir.path().join("dann.safetensors");
    dann.save(&model_path).unwrap();

    // dak predict on image files, against the exported graph on the same pixels.
    let imgs = images(28, 3);
    let files: Vec<PathBuf> = imgs
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let p = dir.path().join(format!("img{i}.png"));
            save(&p, img);
            p
        })
        .collect();
    let preds = dann.predict(&files, 10).unwrap();
    let want_probs: Vec<f32> = preds
        .iter()
        .flat_map(|p| {
            let by_class: HashMap<&str, f32> =
                p.top.iter().map(|(c, v)| (c.as_str(), *v)).collect();
            classes
                .iter()
                .map(move |c| by_class[c.as_str()])
                .collect::<Vec<_>>()
        })
        .collect();
    let x_features = {
        let mut x = vec![0f32; 3 * 3 * 28 * 28];
        for (img, out) in imgs.iter().zip(x.chunks_mut(3 * 28 * 28)) {
            Preprocess::Unit.write_chw(img, out);
        }
        let t = Tensor::from_slice(&gpu, &x, &[3, 3, 28, 28]).unwrap();
        dann.extract_features(&t).unwrap().to_vec().unwrap()
    };

    let loaded = export::load(&Source::Model(model_path.clone())).unwrap();
    for opset in [13, 17, 21] {
        let path = dir.path().join(format!("dann-{opset}.onnx"));
        let all = [Output::Features, Output::Probabilities, Output::Logits];
        export::write_onnx(
            &loaded,
            &options(&all, StoreType::F32, Batch::Dynamic, opset),
            &path,
        )
        .unwrap();
        let run = tract_run(&path, &unit_pixels(&imgs));
        assert_close(
            &run.outputs[1],
            &want_probs,
            1e-4,
            &format!("probabilities, opset {opset}"),
        );
        assert_close(&run.outputs[0], &x_features, 1e-4, "features");
        assert_eq!(run.outputs[0].len(), 3 * 768);
        assert_eq!(
            run.metadata["classes"],
            serde_json::to_string(&classes).unwrap()
        );
        assert_eq!(run.metadata["input_size"], "28");
        assert_eq!(run.metadata["preprocess"], "unit");
        assert_eq!(run.metadata["architecture"], "dann-digits");
    }

    // f16 weights, a fixed batch of 3 (and a single image through a batch-1 graph).
    let f16 = dir.path().join("dann-f16.onnx");
    let opts = options(
        &[Output::Probabilities],
        StoreType::F16,
        Batch::Fixed(3),
        17,
    );
    let f16_bytes = export::write_onnx(&loaded, &opts, &f16).unwrap();
    let run = tract_run(&f16, &unit_pixels(&imgs));
    assert_close(
        &run.outputs[0],
        &want_probs,
        2e-2,
        "probabilities, f16 weights",
    );
    assert!(
        run.output_shapes[0].starts_with("3,10"),
        "{:?}",
        run.output_shapes
    );
    let f32_bytes = std::fs::metadata(dir.path().join("dann-17.onnx"))
        .unwrap()
        .len() as f64;
    let ratio = f16_bytes as f64 / f32_bytes;
    assert!(
        (0.45..0.56).contains(&ratio),
        "f16 ONNX is {ratio:.3} of the f32 one"
    );
    let one = dir.path().join("dann-b1.onnx");
    export::write_onnx(
        &loaded,
        &options(
            &[Output::Probabilities],
            StoreType::F32,
            Batch::Fixed(1),
            17,
        ),
        &one,
    )
    .unwrap();
    let run = tract_run(&one, &unit_pixels(&imgs[1..2]));
    assert_close(&run.outputs[0], &want_probs[10..20], 1e-4, "batch of 1");
}

#[test]
fn vgg16_classifiers_and_adapted_vgg16_onnx_match_dak() {
    let gpu = gpu();
    let dir = TempDir::new("export-vgg");
    let classes: Vec<String> = ["cat", "dog", "owl"].map(String::from).to_vec();
    let imgs = images(32, 3);
    // The ImageNet and caffe preprocessings are nodes of the graph; check both.
    for pre in [Preprocess::Imagenet, Preprocess::Caffe] {
        let spec = ClassifierSpec {
            classes: classes.clone(),
            input_size: 32,
            hidden: 16,
            preprocess: Some(pre),
            seed: 5,
            ..Default::default()
        };
        let model = Classifier::vgg16(&gpu, &spec).unwrap();
        let path = dir.path().join(format!("cls-{pre}.safetensors"));
        model.save(&path).unwrap();
        let want = dak_logits(&model, &imgs);
        check_export(&Source::Model(path), &imgs, &want, 3, dir.path());
    }
    let dann = Dann::vgg16(&gpu, &classes, None, 32, 8, 7).unwrap();
    let path = dir.path().join("dann-vgg.safetensors");
    dann.save(&path).unwrap();
    let want = dak_logits(&dann, &imgs);
    check_export(&Source::Model(path.clone()), &imgs, &want, 3, dir.path());
    // The features output is the bottleneck's.
    let loaded = export::load(&Source::Model(path)).unwrap();
    let out = dir.path().join("features.onnx");
    export::write_onnx(
        &loaded,
        &options(&[Output::Features], StoreType::F32, Batch::Dynamic, 17),
        &out,
    )
    .unwrap();
    assert_eq!(
        tract_run(&out, &unit_pixels(&imgs[..1])).outputs[0].len(),
        8
    );
}

#[test]
fn f16_model_files_round_trip_at_half_the_size() {
    let gpu = gpu();
    let dir = TempDir::new("export-f16");
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let dann = Dann::digits(&gpu, &classes, 11).unwrap();
    let full = dir.path().join("dann.safetensors");
    dann.save(&full).unwrap();
    let half = dir.path().join("dann-f16.safetensors");
    let loaded = export::load(&Source::Model(full.clone())).unwrap();
    export::write_safetensors(&loaded, StoreType::F16, &half).unwrap();
    let ratio = std::fs::metadata(&half).unwrap().len() as f64
        / std::fs::metadata(&full).unwrap().len() as f64;
    assert!(
        (0.45..0.56).contains(&ratio),
        "f16 file is {ratio:.3} of the f32 one"
    );
    // The f16 file is a dak model like any other: every command reads it, computing in f32.
    let back = models::load(&gpu, &half).unwrap();
    assert_eq!(back.info(), dann.info());
    let imgs = images(28, 3);
    let a = softmax_rows(&dak_logits(&dann, &imgs), 10);
    let b = softmax_rows(&dak_logits(&*back, &imgs), 10);
    assert_close(&b, &a, 2e-2, "f16 model file");
    assert!(a != b, "the f16 file holds rounded weights");
    let img = dir.path().join("digit.png");
    save(&img, &imgs[0]);
    let out = dak(&[
        "predict",
        "--model",
        half.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn export_cli_writes_files_and_refuses_bad_input() {
    let gpu = gpu();
    let dir = TempDir::new("export-cli");
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let model = dir.path().join("dann.safetensors");
    Dann::digits(&gpu, &classes, 1)
        .unwrap()
        .save(&model)
        .unwrap();
    let m = model.to_str().unwrap();
    let onnx = dir.path().join("out.onnx");
    let o = onnx.to_str().unwrap();

    let ok = dak(&[
        "export",
        "--model",
        m,
        "--onnx",
        o,
        "--outputs",
        "features,probabilities",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("wrote"));
    let run = tract_run(&onnx, &unit_pixels(&images(28, 1)));
    assert_eq!(run.outputs.len(), 2);
    std::fs::remove_file(&onnx).unwrap();

    let plain = dir.path().join("plain.safetensors");
    write_safetensors(&plain, &[("x".into(), vec![2], vec![1.0, 2.0])]);
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a model").unwrap();
    let missing = dir.path().join("no/such/dir/out.onnx");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--model", plain.to_str().unwrap(), "--onnx", o],
            "model description",
        ),
        (
            vec!["--model", text.to_str().unwrap(), "--onnx", o],
            "safetensors",
        ),
        (
            vec!["--weights", plain.to_str().unwrap(), "--onnx", o],
            "ImageNet classifier",
        ),
        (
            vec!["--model", m, "--onnx", o, "--outputs", "probs"],
            "--outputs",
        ),
        (
            vec!["--model", m, "--onnx", o, "--outputs", "logits,logits"],
            "twice",
        ),
        (vec!["--model", m, "--onnx", o, "--opset", "9"], "--opset 9"),
        (vec!["--model", m, "--onnx", o, "--dtype", "f64"], "--dtype"),
        (vec!["--model", m, "--onnx", o, "--batch", "0"], "--batch"),
        (
            vec!["--model", m, "--onnx", missing.to_str().unwrap()],
            "does not exist",
        ),
        (
            vec!["--model", m, "--onnx", dir.path().to_str().unwrap()],
            "is a directory",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["export"];
        full.extend(&args);
        let out = dak(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(want),
            "{args:?}: `{err}` should mention `{want}`"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !onnx.exists(),
            "{args:?}: nothing written at the output path"
        );
    }
    // A model file truncated mid-way is refused the same way.
    let bytes = std::fs::read(&model).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = dak(&["export", "--model", cut.to_str().unwrap(), "--onnx", o]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!onnx.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
}

/// Seeded values for a ResNet's tensor `name` of `shape`: convolutions at He-uniform scale,
/// BN statistics that are not the identity.
fn resnet_values(name: &str, shape: &[usize], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let v = values(n, seed);
    let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
    v.iter()
        .map(|&x| match name {
            _ if name.ends_with("running_var") => 0.5 + x.abs(),
            _ if name.ends_with("running_mean") || name.ends_with(".bias") => 0.1 * x,
            _ if shape.len() == 1 => 1.0 + 0.2 * x,
            _ => x * (3.0 / fan_in as f32).sqrt(),
        })
        .collect()
}

#[test]
fn resnet_classifier_and_resnet_weights_onnx_match_dak() {
    use dak::models::classifier::{BaseKind, HeadConfig};
    use dak::models::resnet::{BlockKind, ResNetConfig};
    let gpu = gpu();
    let dir = TempDir::new("export-resnet");
    // A fine-tuned classifier on a small bottleneck ResNet (a projected and an identity
    // shortcut), BN exported as BatchNormalization with its running statistics.
    let config = ResNetConfig {
        block: BlockKind::Bottleneck,
        depths: [1, 2, 1, 1],
        stem: 4,
        widths: [2, 3, 4, 4],
        outputs: [8, 8, 12, 16],
    };
    let head = HeadConfig {
        hidden: 8,
        dropout: 0.0,
        classes: 3,
    };
    let mut model = Classifier::new_on(&gpu, BaseKind::ResNet(config), head, 4).unwrap();
    model.input_size = 32;
    let names: Vec<(String, Vec<usize>)> = model
        .params
        .iter()
        .map(|(_, p)| (p.name.clone(), p.value.shape().to_vec()))
        .collect();
    for (i, (name, shape)) in names.iter().enumerate() {
        let id = model.params.find(name).unwrap();
        let v = resnet_values(name, shape, 300 + i as u64);
        model.params.get(id).value.write(&v).unwrap();
    }
    model.base_changed();
    let path = dir.path().join("resnet-cls.safetensors");
    model.save(&path).unwrap();
    let imgs = images(32, 3);
    check_export(
        &Source::Model(path),
        &imgs,
        &dak_logits(&model, &imgs),
        3,
        dir.path(),
    );

    // ResNet-18 ImageNet-style weights with their `fc`, exported from the weights file.
    let r18 = ResNetConfig::named("resnet18").unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = r18
        .tensors()
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let v = resnet_values(&name, &shape, 500 + i as u64);
            (name, shape, v)
        })
        .collect();
    tensors.push(("fc.weight".into(), vec![10, 512], values(5120, 1)));
    tensors.push(("fc.bias".into(), vec![10], values(10, 2)));
    let weights = dir.path().join("resnet18.safetensors");
    write_safetensors(&weights, &tensors);
    let net = models::load_imagenet(&gpu, &weights).unwrap();
    let imgs = images(224, 2);
    check_export(
        &Source::Weights(weights),
        &imgs,
        &dak_logits(&*net, &imgs),
        10,
        dir.path(),
    );
}

#[test]
fn adapted_resnet_onnx_matches_dak() {
    use dak::models::Backbone;
    let gpu = gpu();
    let dir = TempDir::new("export-dann-resnet");
    let classes: Vec<String> = ["cat", "dog", "owl"].map(String::from).to_vec();
    let mut config = dak::models::dann::DannConfig::paper(Backbone::ResNet(18), classes.len());
    config.input_size = Some(32);
    config.bottleneck = 16;
    let dann = Dann::resnet(&gpu, &config, &classes, None, 9).unwrap();
    // Running statistics that are not the identity, the bottleneck's BatchNorm1d included.
    let buffers: Vec<(String, Vec<usize>)> = dann
        .params
        .iter()
        .filter(|(_, p)| p.buffer)
        .map(|(_, p)| (p.name.clone(), p.value.shape().to_vec()))
        .collect();
    for (i, (name, shape)) in buffers.iter().enumerate() {
        let id = dann.params.find(name).unwrap();
        let v = resnet_values(name, shape, 700 + i as u64);
        dann.params.get(id).value.write(&v).unwrap();
    }
    let path = dir.path().join("dann-resnet18.safetensors");
    dann.save(&path).unwrap();
    let imgs = images(32, 3);
    let want = dak_logits(&dann, &imgs);
    check_export(&Source::Model(path.clone()), &imgs, &want, 3, dir.path());
    let back = models::load(&gpu, &path).unwrap();
    assert_close(
        &dak_logits(&*back, &imgs),
        &want,
        1e-6,
        "reloaded adapted ResNet",
    );
}

#[test]
fn shot_recipe_digits_onnx_matches_dak() {
    use dak::models::Backbone;
    let gpu = gpu();
    let dir = TempDir::new("export-shot-recipe");
    let classes: Vec<String> = ["cat", "dog", "owl"].map(String::from).to_vec();
    let paper = dak::models::dann::DannConfig::paper(Backbone::Digits, classes.len());
    let config = dak::models::dann::shot_recipe(paper, Some(16)).unwrap();
    assert!(config.bottleneck_linear && config.label_smoothing == 0.1);
    assert!(
        config.label_hidden.is_empty(),
        "SHOT's head is one linear layer"
    );
    let dann = Dann::new(&gpu, config, classes.clone(), 4).unwrap();
    // Running statistics that are not the identity; γ must keep its own buffer.
    for (i, name) in ["bottleneck.bn1.running_mean", "bottleneck.bn1.running_var"]
        .iter()
        .enumerate()
    {
        let id = dann.params.find(name).unwrap();
        let v = resnet_values(name, &[16], 900 + i as u64);
        dann.params.get(id).value.write(&v).unwrap();
    }
    // A weight-normalised head whose lengths are not the directions' norms.
    let g = dann.params.find("label.fc1.weight_g").unwrap();
    dann.params.get(g).value.write(&[0.5, 2.0, 1.3]).unwrap();
    let gamma = dann.params.find("bottleneck.bn1.weight").unwrap();
    assert_eq!(
        dann.params.get(gamma).value.to_vec().unwrap(),
        vec![1.0; 16],
        "writing the running variance changed γ: the two share a buffer"
    );
    let path = dir.path().join("shot-recipe.safetensors");
    dann.save(&path).unwrap();
    let imgs = images(28, 3);
    let want = dak_logits(&dann, &imgs);
    check_export(&Source::Model(path.clone()), &imgs, &want, 3, dir.path());
}

/// The README's ONNX Runtime snippet, step for step, gives `dak predict`'s probabilities on
/// images that are not square (issue 34, item 21): the centred square of side min(w, h) at
/// ((w - c) // 2, (h - c) // 2), cropped, resized with PIL's bilinear filter (dak's resize is
/// bit-exact with Pillow's: tests/preprocess_parity.rs), / 255, run by an independent runtime.
/// Squashing the whole image (the snippet before) does not.
#[test]
fn the_readme_onnx_snippet_gives_dak_predicts_probabilities() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let readme = readme.unwrap();
    for step in [
        r#"size = json.loads(meta["classes"]), int(meta["input_size"])"#,
        "w, h = img.size; c = min(w, h); x, y = (w - c) // 2, (h - c) // 2",
        "img = img.crop((x, y, x + c, y + c)).resize((size, size), Image.BILINEAR)",
        "np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255",
    ] {
        assert!(
            readme.contains(step),
            "the README snippet no longer says: {step}"
        );
    }
    let gpu = gpu();
    let dir = TempDir::new("readme-snippet");
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let model = dir.path().join("dann-mnistm.safetensors");
    let dann = Dann::digits(&gpu, &classes, 4).unwrap();
    dann.save(&model).unwrap();
    let size = dann.info().input_size as u32;
    let onnx = dir.path().join("dann-mnistm.onnx");
    let (m, o) = (model.to_str().unwrap(), onnx.to_str().unwrap());
    let out = dak(&["export", "--model", m, "--onnx", o]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut squash_gap = 0f32;
    for (name, w, h) in [("wide", 41, 29), ("tall", 31, 52), ("square", 40, 40)] {
        let seed = (w * h) as u64;
        let v = values((w * h * 3) as usize, seed);
        let img = RgbImage::from_fn(w, h, |x, y| {
            let k = ((y * w + x) * 3) as usize;
            let px = |c: usize| ((v[k + c] * 0.5 + 0.5) * 255.0) as u8;
            image::Rgb([px(0), px(1), px(2)])
        });
        let path = dir.path().join(format!("{name}.png"));
        save(&path, &img);
        // The snippet: decode, centred square, bilinear resize to the metadata's input size.
        let decoded = image::open(&path).unwrap().to_rgb8();
        let c = w.min(h);
        let (x, y) = ((w - c) / 2, (h - c) / 2);
        let snippet = dak::data::resample::resize_region(&decoded, (x, y, c, c), size, size);
        let run = tract_run(&onnx, &unit_pixels(&[snippet]));
        assert_eq!(run.metadata["input_size"], size.to_string());
        let probs = run.outputs[0].clone();
        let squashed = dak::data::resample::resize_region(&decoded, (0, 0, w, h), size, size);
        let squashed = tract_run(&onnx, &unit_pixels(&[squashed])).outputs[0].clone();
        // dak predict, every class.
        let out = dak(&[
            "predict",
            "--model",
            m,
            path.to_str().unwrap(),
            "--top-k",
            "10",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let preds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut want = vec![0f32; 10];
        for t in preds[0]["top_k"].as_array().unwrap() {
            let class: usize = t["class"].as_str().unwrap().parse().unwrap();
            want[class] = t["probability"].as_f64().unwrap() as f32;
        }
        assert_close(
            &probs,
            &want,
            1e-5,
            &format!("{name}: the snippet against dak predict"),
        );
        let gap = probs
            .iter()
            .zip(&squashed)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        if w != h {
            squash_gap = squash_gap.max(gap);
        }
    }
    assert!(
        squash_gap > 1e-4,
        "squashing must differ on non-square images: {squash_gap}"
    );
}
