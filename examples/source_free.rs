//! Adapt the model you have, without its source data: train on one domain, keep only the
//! model file, then adapt it to another domain from unlabelled images (SHOT).
//!
//! ```python
//! model = train(source_data); model.save('source.h5')      # where the source lives
//! model = load('source.h5'); model.adapt(target_images)     # elsewhere, no source data
//! ```
//!
//! Here on the bundled MNIST → MNIST-M pair: a source-only model on the MNIST digits, then
//! SHOT on the MNIST-M images with the digits gone. Epoch 0 (the model as loaded) is scored
//! with the others, and `--select` may hand it back when adaptation does not help.
//!
//! Flags: `--source-epochs N` (default 3), `--epochs N` SHOT's (default 3), `--limit N` images
//! per set (default: all), `--seed N`, `--select V` (default `safe`: the
//! last epoch unless its MixVal falls below the loaded model's or, for SHOT, its predictions
//! split the target's pixel neighbourhoods), `--out MODEL` (default
//! `source_free_model.safetensors`).

mod common;
use common::{check_flags, flag, main_with};
use dak::prelude::*;

fn main() {
    main_with(run);
}

/// The program, with its flags.
pub fn run(args: &[String]) -> dak::Result<()> {
    check_flags(
        args,
        &[
            "--source-epochs",
            "--epochs",
            "--limit",
            "--seed",
            "--select",
            "--out",
        ],
    )?;
    let gpu = Gpu::new()?;
    let seed = flag(args, "--seed", 0)?;
    let mut data = load_mnist_mnistm()?;
    let limit: usize = flag(args, "--limit", 0)?;
    if limit > 0 {
        data = data.limit(limit);
    }
    let out: String = flag(args, "--out", "source_free_model.safetensors".into())?;
    let source_file = format!("{out}.source.safetensors");

    // 1. Where the source lives: train on it, keep only the model file.
    let mut source_model = Dann::digits(&gpu, data.classes(), seed)?;
    let config = AdaptConfig {
        method: Method::SOURCE_ONLY,
        epochs: flag(args, "--source-epochs", 3)?,
        pad: false,
        seed,
        ..Default::default()
    };
    source_model.fit(&data, &config, &mut [&mut Progress::new()])?;
    source_model.save(&source_file)?;
    let target = TargetData {
        target: data.target.clone().expect("the bundled pair has a target"),
        target_eval: data.target_eval.clone(),
    };
    drop(data); // the source images are gone from here on

    // 2. Elsewhere: the model file and unlabelled target images only.
    let mut model = Dann::load(&gpu, &source_file)?;
    let mut config = SourceFreeConfig::new(SourceFree::SHOT, model.backbone());
    config.epochs = flag(args, "--epochs", 3)?;
    config.seed = seed;
    config.select = Select::parse(&flag(args, "--select", "safe".to_string())?, "--select")?;
    let history = model.adapt_source_free(&target, &config, &mut [&mut Progress::new()])?;
    let summary = history
        .summary
        .as_ref()
        .expect("a finished run has a summary");
    let before = history.epochs.first().and_then(|e| e.target_acc);
    println!(
        "target accuracy: {:.1}% as trained on the source, {:.1}% after SHOT (epoch {} by {})",
        100.0 * before.unwrap_or(f64::NAN),
        100.0 * summary.target_test_acc.unwrap_or(f64::NAN),
        summary.selected.epoch,
        summary.select
    );
    model.save(&out)?;
    println!("model written to {out} (from {source_file})");
    Ok(())
}
