//! `dak fine-tune`: VGG16 base + GAP + Dense(hidden, ReLU) + Dropout + Dense(classes) on
//! class-per-folder images.

use crate::data::{folder, Dataset, Preprocess, Transform};
use crate::models::classifier::{self, Classifier, HeadConfig};
use crate::models::{file, vgg16};
use crate::optim::{Optimizer, Rule, Schedule};
use crate::train::callbacks::{Checkpoints, EarlyStopping, JsonLines, Progress};
use crate::train::fit::{self, FitOptions, Freeze};
use crate::train::{checkpoint, Callback};
use crate::{Error, Gpu, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct FineTuneArgs {
    /// Training images: one sub-folder per class.
    #[arg(long, value_name = "DIR")]
    pub train: PathBuf,
    /// Validation images with the same class folders.
    #[arg(long, value_name = "DIR", conflicts_with = "val_split")]
    pub val: Option<PathBuf>,
    /// Hold out this fraction of the training images for validation (stratified, seeded).
    #[arg(long, value_name = "F")]
    pub val_split: Option<f64>,
    /// VGG16 ImageNet weights (.safetensors, timm or torchvision names), or `none` (He init).
    #[arg(long, value_name = "FILE|none")]
    pub weights: String,
    /// Square input side in pixels (a multiple of 32).
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Base learning rate (default: 1e-3 for adam, 1e-2 for sgd).
    #[arg(long)]
    pub lr: Option<f32>,
    #[arg(long, default_value = "adam", value_parser = ["adam", "sgd"])]
    pub optimizer: String,
    /// Learning-rate schedule over the run.
    #[arg(long, default_value = "constant", value_parser = ["constant", "cosine", "step"])]
    pub schedule: String,
    /// Augmentation: none (allows the feature cache), flip, or crop-flip (random resized crop + flip).
    #[arg(long, default_value = "none", value_parser = ["none", "flip", "crop-flip"])]
    pub augment: String,
    /// What trains: `base` frozen (default) or `none` frozen.
    #[arg(long, default_value = "base", value_parser = ["base", "none"])]
    pub freeze: String,
    /// Also train VGG16 blocks N..5 (e.g. block5, block4) with the head.
    #[arg(long, value_name = "blockN")]
    pub unfreeze: Option<String>,
    /// Learning-rate multiplier of the trainable base layers.
    #[arg(long, default_value_t = 0.1)]
    pub backbone_lr_mult: f32,
    /// Hidden units of the head.
    #[arg(long, default_value_t = 1024)]
    pub hidden: usize,
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,
    /// Input preprocessing (default: imagenet, or unit with --weights none).
    #[arg(long, value_parser = ["imagenet", "caffe", "unit"])]
    pub preprocess: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the model (the best one goes to <stem>.best.safetensors).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Write one JSON object per epoch here.
    #[arg(long, value_name = "FILE.jsonl")]
    pub metrics: Option<PathBuf>,
    /// Start from the weights of a dak model with the same classes (e.g. after training the head).
    #[arg(long, value_name = "MODEL", conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Resume from a <stem>.resume.safetensors checkpoint (parameters, optimizer, epoch).
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs without validation improvement.
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// Do not train the head from cached base features.
    #[arg(long)]
    pub no_cache: bool,
    /// Skip images that fail to decode (counted) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Image decoding threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

fn parse_freeze(a: &FineTuneArgs) -> Result<Freeze> {
    if let Some(u) = &a.unfreeze {
        let b = u
            .strip_prefix("block")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::input(format!("--unfreeze {u}: expected block1 .. block5")))?;
        return Ok(Freeze::FromBlock(b));
    }
    Ok(if a.freeze == "none" {
        Freeze::None
    } else {
        Freeze::Base
    })
}

pub fn run(a: &FineTuneArgs) -> Result<()> {
    if a.input_size == 0 || a.input_size % 32 != 0 {
        return Err(Error::input(format!(
            "--input-size {}: VGG16 needs a multiple of 32 (32, 64, ..., 224)",
            a.input_size
        )));
    }
    if a.batch == 0 || a.epochs == 0 {
        return Err(Error::input("--batch and --epochs must be at least 1"));
    }
    let all = Dataset::from_dir(&a.train)?;
    let (train, val) = match (&a.val, a.val_split) {
        (Some(dir), _) => {
            let v = folder::scan_validation_dir(dir, &all)?;
            (all, Some(v))
        }
        (None, Some(f)) => {
            let (t, v) = all.split(f, a.seed)?;
            (t, Some(v))
        }
        (None, None) => (all, None),
    };
    let classes = train.classes().to_vec();
    let no_weights = a.weights == "none";
    let preprocess_name = a
        .preprocess
        .clone()
        .unwrap_or_else(|| if no_weights { "unit" } else { "imagenet" }.into());
    let preprocess: Preprocess = preprocess_name.parse()?;
    let size = a.input_size as u32;
    let eval_t = Transform::eval(size, size).with_preprocess(preprocess);
    let train_t = match a.augment.as_str() {
        "flip" => eval_t.clone().with_hflip(true),
        "crop-flip" => Transform::train(size, size).with_preprocess(preprocess),
        _ => eval_t.clone(),
    };

    let gpu = Gpu::new()?;
    let config = HeadConfig {
        hidden: a.hidden,
        dropout: a.dropout,
        classes: classes.len(),
    };
    let mut model = Classifier::new(&gpu, config, a.seed)?;
    if !no_weights {
        let names = vgg16::load_base_weights(std::path::Path::new(&a.weights), &mut model.params)?;
        println!("loaded VGG16 base from {} ({names:?} names)", a.weights);
    }
    let info = file::ModelInfo {
        architecture: classifier::ARCHITECTURE.into(),
        config: serde_json::to_value(config).map_err(|e| Error::runtime(e.to_string()))?,
        classes: classes.clone(),
        input_size: a.input_size,
        preprocess: preprocess_name,
    };
    let rule = if a.optimizer == "sgd" {
        Rule::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        }
    } else {
        Rule::adam()
    };
    let mut optimizer = Optimizer::new(rule);
    let mut first_epoch = 0;
    if let Some(path) = a.init.as_ref().or(a.resume.as_ref()) {
        let ck = checkpoint::load(path)?;
        if let Some(json) = ck.metadata.get("dak.model") {
            let saved: file::ModelInfo = serde_json::from_str(json).map_err(|e| {
                Error::input(format!(
                    "{}: unreadable model description ({e})",
                    path.display()
                ))
            })?;
            if saved.classes != classes {
                return Err(Error::input(format!(
                    "{}: trained on classes {:?}, the training folder has {:?}",
                    path.display(),
                    saved.classes,
                    classes
                )));
            }
        }
        ck.restore(&mut model.params, path)?;
        if a.resume.is_some() {
            ck.restore_optimizer(&gpu, &mut optimizer, &model.params)?;
            first_epoch = ck
                .metadata
                .get("epoch")
                .and_then(|e| e.parse().ok())
                .unwrap_or(0);
            println!("resuming after epoch {first_epoch}");
        }
    }
    parse_freeze(a)?.apply(&mut model.params, a.backbone_lr_mult)?;
    let schedule = match a.schedule.as_str() {
        "cosine" => Schedule::Cosine { min_factor: 0.01 },
        "step" => Schedule::Step {
            every: (a.epochs / 3).max(1),
            gamma: 0.1,
        },
        _ => Schedule::Constant,
    };
    let opts = FitOptions {
        epochs: a.epochs,
        batch: a.batch,
        lr: a
            .lr
            .unwrap_or(if a.optimizer == "sgd" { 1e-2 } else { 1e-3 }),
        rule,
        schedule,
        seed: a.seed,
        train_transform: train_t,
        eval_transform: eval_t,
        cache: !a.no_cache,
        workers: a.workers,
        skip_bad: a.skip_bad,
    };
    println!(
        "fine-tune: {} training / {} validation images, {} classes, input {}x{}, {} trainable parameters",
        train.len(),
        val.as_ref().map_or(0, |v| v.len()),
        classes.len(),
        a.input_size,
        a.input_size,
        model.params.trainable_count()
    );
    let mut progress = Progress::default();
    let mut ckpt = Checkpoints::new(a.out.clone(), info);
    let mut jsonl = a.metrics.clone().map(JsonLines::create).transpose()?;
    let mut early = a.patience.map(EarlyStopping::new);
    let mut callbacks: Vec<&mut dyn Callback> = vec![&mut progress, &mut ckpt];
    if let Some(j) = jsonl.as_mut() {
        callbacks.push(j);
    }
    if let Some(e) = early.as_mut() {
        callbacks.push(e);
    }
    let history = fit::fit(
        &model,
        &train,
        val.as_ref(),
        &opts,
        &mut optimizer,
        first_epoch,
        &mut callbacks,
    )?;
    drop(callbacks);
    if let Some(j) = jsonl.as_mut() {
        j.write(&serde_json::json!({ "summary": history }))?;
    }
    println!(
        "saved {} (best: {})",
        ckpt.last.display(),
        ckpt.best.display()
    );
    Ok(())
}
