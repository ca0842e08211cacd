//! The library API: the examples build and run (tiny settings), the CLI and the library give
//! the same models for the same seed and settings, and callbacks see every field and can stop.
// Each example includes examples/common as its own module, as it does when built alone.
#![allow(clippy::duplicate_mod)]
use crate::common::*;
use dak::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// The examples are compiled into this test, so they build whenever the test suite does.
#[allow(dead_code)]
#[path = "../../examples/custom_kernel.rs"]
mod custom_kernel;
#[allow(dead_code)]
#[path = "../../examples/domain_adaptation.rs"]
mod domain_adaptation;
#[allow(dead_code)]
#[path = "../../examples/source_free.rs"]
mod source_free;
#[allow(dead_code)]
#[path = "../../examples/transfer_learning.rs"]
mod transfer_learning;

/// Runs an example's `run` with `settings` and `--out DIR/model.safetensors`; returns the
/// model file (and the directory that holds it).
fn run_example(run: fn(&[String]) -> dak::Result<()>, settings: &[&str]) -> (TempDir, PathBuf) {
    gpu(); // sets DAK_NO_TUNE and the shader cache before the example opens its device
    let dir = TempDir::new("example");
    let out = dir.path().join("model.safetensors");
    let mut args: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    args.extend(["--out".to_string(), out.display().to_string()]);
    run(&args).unwrap();
    (dir, out)
}

#[test]
fn custom_kernel_example_checks_and_times_its_kernels() {
    gpu();
    let settings = ["--n", "65536", "--repeat", "2"].map(String::from);
    custom_kernel::run(&settings).unwrap();
}

#[test]
fn source_free_example_runs_with_tiny_settings() {
    let settings = ["--source-epochs", "1", "--epochs", "1", "--limit", "64"];
    let (_dir, out) = run_example(source_free::run, &settings);
    let model = Dann::load(&gpu(), &out).unwrap();
    let p = model.provenance.as_ref();
    assert!(p.is_none_or(|p| p.method == "shot"), "{p:?}");
}

#[test]
fn domain_adaptation_example_runs_with_tiny_settings() {
    let (_dir, out) = run_example(domain_adaptation::run, &["--epochs", "1", "--limit", "64"]);
    assert!(Dann::load(&gpu(), &out).is_ok());
}

#[test]
fn transfer_learning_example_runs_with_tiny_settings() {
    let (_dir, out) = run_example(transfer_learning::run, &["--epochs", "1", "--limit", "24"]);
    assert_eq!(Classifier::load(&gpu(), &out).unwrap().classes.len(), 10);
    // The same program on a ResNet base: the model file says so and loads back.
    let args = ["--epochs", "1", "--limit", "24", "--backbone", "resnet18"];
    let (_dir, out) = run_example(transfer_learning::run, &args);
    let model = Classifier::load(&gpu(), &out).unwrap();
    assert_eq!(model.info().architecture, "resnet-gap-head");
    assert_eq!(model.feature_dim(), 512);
}

/// Every tensor of two model files, equal to 1e-6.
fn assert_same_tensors(a: &Path, b: &Path) {
    let a = dak::train::checkpoint::load(a).unwrap();
    let b = dak::train::checkpoint::load(b).unwrap();
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    for (name, (_, va)) in &a.tensors {
        let worst = va
            .iter()
            .zip(&b.tensors[name].1)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{name} differs by {worst}");
    }
}

fn run_cli(list: &[&str]) {
    let o = dak(list);
    assert!(
        o.status.success(),
        "dak {list:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn cli_and_library_fine_tune_give_the_same_model() {
    let gpu = gpu();
    let dir = TempDir::new("api-ft");
    let data = dir.path().join("data");
    class_folders(&data);
    let (cli_out, cli_metrics) = (
        dir.path().join("cli.safetensors"),
        dir.path().join("m.jsonl"),
    );
    run_cli(&[
        "fine-tune",
        "--train",
        data.to_str().unwrap(),
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
        "--seed",
        "5",
        "--workers",
        "1",
        "--out",
        cli_out.to_str().unwrap(),
        "--metrics",
        cli_metrics.to_str().unwrap(),
    ]);

    let (train, val) = Dataset::from_dir(&data).unwrap().split(0.34, 5).unwrap();
    let spec = ClassifierSpec {
        classes: train.classes().to_vec(),
        input_size: 32,
        hidden: 16,
        seed: 5,
        ..Default::default()
    };
    let mut model = Classifier::vgg16(&gpu, &spec).unwrap();
    model.freeze("features").unwrap();
    let options = FitOptions {
        epochs: 2,
        batch: 8,
        seed: 5,
        workers: 1,
        ..Default::default()
    };
    let history = model.fit(&train, Some(&val), &options, &mut []).unwrap();
    let lib_out = dir.path().join("lib.safetensors");
    model.save(&lib_out).unwrap();
    assert_same_tensors(&cli_out, &lib_out);
    let lines = read_jsonl(&cli_metrics);
    for (line, logs) in lines.iter().zip(&history.epochs) {
        assert_eq!(line["train_loss"].as_f64().unwrap(), logs.train_loss);
        assert_eq!(line["val_acc"].as_f64(), logs.val_acc);
    }
}

#[test]
fn cli_and_library_adapt_give_the_same_model() {
    let gpu = gpu();
    let dir = TempDir::new("api-adapt");
    let (cli_out, cli_metrics) = (
        dir.path().join("cli.safetensors"),
        dir.path().join("m.jsonl"),
    );
    run_cli(&[
        "adapt",
        "--epochs",
        "2",
        "--batch",
        "32",
        "--limit",
        "64",
        "--score-samples",
        "16",
        "--no-pad",
        "--seed",
        "3",
        "--workers",
        "1",
        "--out",
        cli_out.to_str().unwrap(),
        "--metrics",
        cli_metrics.to_str().unwrap(),
    ]);

    let data = load_mnist_mnistm().unwrap().limit(64);
    let mut dann = Dann::digits(&gpu, data.classes(), 3).unwrap();
    let config = AdaptConfig {
        epochs: 2,
        batch: 32,
        seed: 3,
        workers: 1,
        score_samples: 16,
        pad: false,
        ..Default::default()
    };
    let history = dann.fit(&data, &config, &mut []).unwrap();
    let lib_out = dir.path().join("lib.safetensors");
    dann.save(&lib_out).unwrap();
    assert_same_tensors(&cli_out, &lib_out);
    let lines = read_jsonl(&cli_metrics);
    let epochs: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "epoch").collect();
    assert_eq!(epochs.len(), history.len());
    for (line, logs) in epochs.iter().zip(&history.epochs) {
        assert_eq!(line["label_loss"].as_f64().unwrap(), logs.train_loss);
        assert_eq!(line["domain_acc"].as_f64(), logs.domain_acc);
        assert_eq!(line["target_acc"].as_f64(), logs.target_acc);
    }
}

/// VGG16 at 32x32 with a frozen base and an 8-unit head, for `classes`.
fn tiny_classifier(gpu: &Gpu, classes: &[String]) -> Classifier {
    let spec = ClassifierSpec {
        classes: classes.to_vec(),
        input_size: 32,
        hidden: 8,
        ..Default::default()
    };
    let mut model = Classifier::vgg16(gpu, &spec).unwrap();
    model.freeze("features").unwrap();
    model
}

/// Stops after epoch 2 and remembers what it was told.
#[derive(Default)]
struct StopAfterTwo {
    epochs_seen: Vec<usize>,
    batches: usize,
    ended_with: Option<usize>,
}

impl Callback for StopAfterTwo {
    fn on_batch_end(&mut self, _: &BatchLogs) {
        self.batches += 1;
    }
    fn on_epoch_end(&mut self, logs: &EpochLogs, _: &TrainState) -> dak::Result<Control> {
        self.epochs_seen.push(logs.epoch);
        Ok(if logs.epoch == 2 {
            Control::Stop
        } else {
            Control::Continue
        })
    }
    fn on_train_end(&mut self, history: &History) -> dak::Result<()> {
        self.ended_with = Some(history.len());
        Ok(())
    }
}

#[test]
fn a_callback_that_stops_after_epoch_2_stops_training_there() {
    let gpu = gpu();
    let dir = TempDir::new("api-stop");
    class_folders(dir.path());
    let train = Dataset::from_dir(dir.path()).unwrap();
    let mut model = tiny_classifier(&gpu, train.classes());
    let options = FitOptions {
        epochs: 5,
        batch: 8,
        ..Default::default()
    };
    let mut stop = StopAfterTwo::default();
    let history = model.fit(&train, None, &options, &mut [&mut stop]).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(stop.epochs_seen, [1, 2]);
    assert_eq!(
        stop.batches,
        2 * 3,
        "18 images in batches of 8: 3 steps per epoch"
    );
    assert_eq!(stop.ended_with, Some(2));
}

#[test]
fn an_unreadable_image_is_skipped_and_listed_with_the_feature_cache() {
    let gpu = gpu();
    let dir = TempDir::new("api-skip");
    class_folders(dir.path());
    write(&dir.path().join("dog/broken.png"), b"not a png");
    let data = Dataset::from_dir(dir.path()).unwrap();
    let mut model = tiny_classifier(&gpu, data.classes());
    let options = FitOptions {
        epochs: 1,
        batch: 8,
        skip_bad: true,
        ..Default::default()
    };
    let history = model.fit(&data, Some(&data), &options, &mut []).unwrap();
    assert!(history.epochs[0].feature_cache);
    assert_eq!(history.skipped.len(), 1, "{:?}", history.skipped);
    assert!(history.skipped[0].ends_with("broken.png"));
    let strict = FitOptions {
        skip_bad: false,
        ..options
    };
    let err = model.fit(&data, None, &strict, &mut []).err().unwrap();
    assert!(err.to_string().contains("broken.png"), "{err}");
}

/// Records everything the callback hooks are given.
#[derive(Default)]
struct Recorder {
    run: Option<RunInfo>,
    batches: Vec<BatchLogs>,
    epochs: Vec<EpochLogs>,
    saved: Option<usize>,
    history: Option<History>,
}

impl Callback for Recorder {
    fn on_train_begin(&mut self, run: &RunInfo) -> dak::Result<()> {
        self.run = Some(run.clone());
        Ok(())
    }
    fn on_batch_end(&mut self, logs: &BatchLogs) {
        self.batches.push(*logs);
    }
    fn on_epoch_end(&mut self, logs: &EpochLogs, state: &TrainState) -> dak::Result<Control> {
        self.epochs.push(logs.clone());
        self.saved = Some(state.params.len());
        assert_eq!(state.info.architecture, "dann-digits");
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, history: &History) -> dak::Result<()> {
        self.history = Some(history.clone());
        Ok(())
    }
}

#[test]
fn a_callback_sees_every_adaptation_metric() {
    let gpu = gpu();
    let data = load_mnist_mnistm().unwrap().limit(64);
    let mut dann = Dann::digits(&gpu, data.classes(), 1).unwrap();
    let config = AdaptConfig {
        epochs: 2,
        batch: 32,
        score_samples: 16,
        ..Default::default()
    };
    let mut rec = Recorder::default();
    let history = dann.fit(&data, &config, &mut [&mut rec]).unwrap();

    let run = rec.run.unwrap();
    assert_eq!((run.method.as_str(), run.epochs), ("dann", 2));
    assert_eq!(run.steps_per_epoch, 2);
    assert_eq!(rec.batches.len(), 4);
    let last_batch = rec.batches.last().unwrap();
    assert_eq!((last_batch.epoch, last_batch.step), (2, 2));
    assert!(last_batch.lambda.unwrap() > 0.0 && last_batch.lr > 0.0);
    assert_eq!(rec.epochs, history.epochs);
    for m in &rec.epochs {
        let fields = BTreeMap::from([
            ("source accuracy", Some(m.train_acc)),
            ("label loss", Some(m.train_loss)),
            ("lambda", m.lambda),
            ("learning rate", Some(m.lr)),
            ("progress", Some(m.progress)),
            ("domain loss", m.domain_loss),
            ("domain accuracy", m.domain_acc),
            ("target accuracy", m.target_acc),
            ("mean entropy", m.entropy),
            ("information maximisation", m.im),
            ("soft neighbourhood density", m.snd),
            ("seconds", Some(m.seconds)),
            ("images per second", Some(m.images_per_s)),
        ]);
        for (name, value) in fields {
            let v = value.unwrap_or_else(|| panic!("epoch {}: no {name}", m.epoch));
            assert!(v.is_finite(), "epoch {}: {name} = {v}", m.epoch);
        }
        assert!((0.0..=1.0).contains(&m.domain_acc.unwrap()));
        assert_eq!((m.val_loss, m.val_acc), (None, None));
    }
    assert!(rec.saved.unwrap() > 0);
    let summary = rec.history.unwrap().summary.unwrap();
    assert_eq!(summary.epochs_run, 2);
    assert!(summary.pad_before.is_some() && summary.pad_after.is_some());
    assert!(summary.target_test_acc.is_some() && summary.source_test_acc.is_some());
}

#[test]
fn library_errors_are_one_line_input_errors() {
    let gpu = gpu();
    let bad = Classifier::vgg16(
        &gpu,
        &ClassifierSpec {
            classes: vec!["a".into(), "b".into()],
            input_size: 48,
            ..Default::default()
        },
    );
    let err = bad.err().unwrap();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--input-size 48"), "{err}");
    let err = Classifier::load(&gpu, "no/such/model.safetensors")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no/such/model.safetensors") && !err.contains('\n'),
        "{err}"
    );

    // A model trained on other classes refuses the data.
    let data = load_mnist_mnistm().unwrap().limit(8);
    let mut dann = Dann::digits(&gpu, &["x".into(), "y".into()], 0).unwrap();
    let err = dann
        .fit(&data, &AdaptConfig::default(), &mut [])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("class lists differ"), "{err}");
}
