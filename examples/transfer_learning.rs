//! Transfer learning the Keras way — a VGG16 (or ResNet) base, frozen; GAP + Dense(1024, ReLU) +
//! Dense(classes); `fit` with validation; `evaluate`, `save`, `load`, `predict`:
//!
//! ```python
//! base_model = VGG16(weights='imagenet', include_top=False, input_shape=(224, 224, 3))
//! x = GlobalAveragePooling2D()(base_model.output); x = Dense(1024, activation='relu')(x)
//! predictions = Dense(num_classes, activation='softmax')(x)
//! for layer in base_model.layers: layer.trainable = False
//! model.fit(train_generator, validation_data=validation_generator)
//! ```
//!
//! Offline by default: the bundled MNIST digits at 32x32 and a seeded He-initialised base (no
//! ImageNet weights are bundled), a few minutes on 2 CPU cores under lavapipe. With the public
//! ImageNet weights (timm `vgg16.tv_in1k` `model.safetensors`, see `weights/README.md`):
//!
//! ```text
//! cargo run --release --example transfer_learning -- --weights weights/vgg16.safetensors --input-size 224
//! cargo run --release --example transfer_learning -- --backbone resnet50 --weights weights/resnet50.safetensors --input-size 224
//! ```
//!
//! (`keras.applications.ResNet50(include_top=False)`: a frozen ResNet base runs with its
//! BatchNorm folded into the convolutions, as Keras runs a frozen layer's BN in inference mode.)
//!
//! Flags: `--backbone vgg16|resnet18|resnet34|resnet50|resnet101|resnet152` (default vgg16),
//! `--weights FILE|none`, `--input-size N` (multiple of 32, default 32), `--limit N`
//! training images (default 600; a third as many for validation), `--epochs N` (default 15),
//! `--lr X` (Adam; default 1e-2 without weights, 1e-3 with), `--out MODEL` (default
//! `transfer_learning.safetensors`). With the defaults (about 3 minutes; most of it is the
//! VGG16 forward pass over the 800 images, once, for the feature cache) the head reaches about
//! 65-70% validation accuracy on features of a random base; ImageNet features do far better.

mod common;
use common::{check_flags, flag, main_with};
use dak::prelude::*;
use std::path::PathBuf;

fn main() {
    main_with(run);
}

/// The program, with its flags.
pub fn run(args: &[String]) -> dak::Result<()> {
    check_flags(
        args,
        &[
            "--backbone",
            "--weights",
            "--input-size",
            "--limit",
            "--epochs",
            "--lr",
            "--out",
        ],
    )?;
    let weights = match flag(args, "--weights", String::from("none"))?.as_str() {
        "none" => Weights::None,
        path => Weights::File(path.into()),
    };
    // The head learns slowly from fixed random features; ImageNet features want the usual 1e-3.
    let default_lr = if weights == Weights::None { 1e-2 } else { 1e-3 };
    let limit: usize = flag(args, "--limit", 600)?;
    let out: PathBuf = flag(args, "--out", "transfer_learning.safetensors".into())?;

    let gpu = Gpu::new()?;
    // train_generator / validation_generator: the bundled digits (or Dataset::from_dir("...")).
    let digits = load_mnist_mnistm()?;
    let train = digits.source.sample(limit, 0);
    let val = digits
        .source_eval
        .clone()
        .expect("bundled")
        .sample(limit / 3, 0);

    // VGG16(include_top=False) + GlobalAveragePooling2D + Dense(1024, relu) + Dense(classes).
    let mut model = Classifier::with_base(
        &gpu,
        &ClassifierSpec {
            base: BaseKind::parse(&flag(args, "--backbone", String::from("vgg16"))?)?,
            classes: train.classes().to_vec(),
            weights,
            input_size: flag(args, "--input-size", 32)?,
            ..Default::default()
        },
    )?;
    // for layer in base_model.layers: layer.trainable = False
    model.set_trainable(Freeze::Base)?;
    // model.fit(train_generator, validation_data=validation_generator)
    let options = FitOptions {
        epochs: flag(args, "--epochs", 15)?,
        lr: flag(args, "--lr", default_lr)?,
        ..Default::default()
    };
    let history = model.fit(&train, Some(&val), &options, &mut [&mut Progress::new()])?;

    let report = model.evaluate(&val)?;
    println!(
        "validation accuracy per epoch: {:?}",
        history.column(|e| e.val_acc.unwrap_or(0.0))
    );
    println!(
        "accuracy {:.1}% on {} validation images",
        100.0 * report.accuracy,
        report.images
    );
    model.save(&out)?;

    // Load it back and predict two image files.
    let model = Classifier::load(&gpu, &out)?;
    let dir = std::env::temp_dir().join(format!("dak-transfer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| dak::Error::io(&dir, e))?;
    let files: Vec<PathBuf> = (0..2)
        .map(|i| {
            let path = dir.join(format!("digit{i}-label{}.png", val.label(i).unwrap_or(0)));
            let image = val.image(i)?;
            image
                .save(&path)
                .map_err(|e| dak::Error::runtime(format!("{}: {e}", path.display())))?;
            Ok(path)
        })
        .collect::<dak::Result<_>>()?;
    for p in model.predict(&files, 3)? {
        println!("{}: {:?}", p.file, p.top);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("model written to {}", out.display());
    Ok(())
}
