//! `dak fine-tune`: a VGG16 or ResNet base + GAP + Dense(hidden, ReLU) + Dropout +
//! Dense(classes) on class-per-folder images.

use crate::data::folder;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::classifier::{BaseKind, BnTraining};
use crate::models::{Classifier, ClassifierSpec, Freeze, Weights};
use crate::optim::{Rule, Schedule};
use crate::train::callbacks::{Checkpoints, EarlyStopping, Progress};
use crate::train::{Augment, Callback, FitOptions};
use std::path::PathBuf;

/// Arguments of `dak fine-tune`.
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
    /// ImageNet weights of the backbone (.safetensors, timm or torchvision names; f32, f16 or
    /// bf16 tensors, computed in f32), or `none` (He init).
    #[arg(long, value_name = "FILE|none")]
    pub weights: String,
    /// The base: vgg16, resnet18, resnet34, resnet50, resnet101 or resnet152.
    #[arg(long, default_value = "vgg16")]
    pub backbone: String,
    /// A ResNet's BN where the base trains: `train` (batch statistics, γ/β trained) or
    /// `frozen` (running statistics, γ/β fixed). A frozen base always runs BN folded.
    #[arg(long, default_value = "train")]
    pub bn: String,
    /// Square input side in pixels (a multiple of 32).
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Base learning rate (default: 1e-3 for adam, 1e-2 for sgd).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Update rule.
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
    /// Also train VGG16 blocks N..5 (block5, block4, ...) or ResNet stages N..4 (layer4,
    /// layer3, ...) with the head.
    #[arg(long, value_name = "blockN|layerN")]
    pub unfreeze: Option<String>,
    /// Learning-rate multiplier of the trainable base layers.
    #[arg(long, default_value_t = 0.1)]
    pub backbone_lr_mult: f32,
    /// Hidden units of the head.
    #[arg(long, default_value_t = 1024)]
    pub hidden: usize,
    /// Dropout rate after the hidden layer.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,
    /// Input preprocessing (default: what a dak model file given as --weights was trained with,
    /// imagenet for ImageNet weights, unit with --weights none).
    #[arg(long, value_parser = ["imagenet", "caffe", "unit"])]
    pub preprocess: Option<String>,
    /// Seed of the initial weights, the split, the batch order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the model (the best one goes to `<stem>.best.safetensors`).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Write one JSON object per epoch here.
    #[arg(long, value_name = "FILE.jsonl")]
    pub metrics: Option<PathBuf>,
    /// Start from the weights of a dak model with the same classes (e.g. after training the
    /// head); f32, f16 or bf16 tensors.
    #[arg(long, value_name = "MODEL", conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Resume from a `<stem>.resume.safetensors` checkpoint (parameters, optimizer, epoch).
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
    /// Least seconds between two resume checkpoints at epoch ends (the first and last epoch
    /// and Ctrl-C always write one; 0: every epoch).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::train::callbacks::RESUME_EVERY_SECONDS)]
    pub checkpoint_every: u64,
}

fn parse_freeze(a: &FineTuneArgs) -> Result<Freeze> {
    if let (Some(u), "none") = (&a.unfreeze, a.freeze.as_str()) {
        return Err(Error::input(format!(
            "--freeze none with --unfreeze {u}: --freeze none trains every layer, --unfreeze {u} keeps the blocks before it frozen; keep one"
        )));
    }
    if let Some(u) = &a.unfreeze {
        let (prefix, last) = match BaseKind::parse(&a.backbone)? {
            BaseKind::Vgg16 => ("block", 5),
            BaseKind::ResNet(_) => ("layer", 4),
        };
        let b = u
            .strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
            .filter(|b| (1..=last).contains(b))
            .ok_or_else(|| {
                Error::input(format!(
                    "--unfreeze {u}: the {} base takes {prefix}1 .. {prefix}{last}",
                    a.backbone
                ))
            })?;
        return Ok(Freeze::FromBlock(b));
    }
    Ok(if a.freeze == "none" {
        Freeze::None
    } else {
        Freeze::Base
    })
}

/// The training settings the arguments describe.
fn options(a: &FineTuneArgs) -> Result<FitOptions> {
    let sgd = a.optimizer == "sgd";
    Ok(FitOptions {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr.unwrap_or(if sgd { 1e-2 } else { 1e-3 }),
        rule: if sgd {
            Rule::sgd_momentum()
        } else {
            Rule::adam()
        },
        schedule: match a.schedule.as_str() {
            "cosine" => Schedule::Cosine { min_factor: 0.01 },
            "step" => Schedule::Step {
                every: (a.epochs / 3).max(1),
                gamma: 0.1,
            },
            _ => Schedule::Constant,
        },
        seed: a.seed,
        augment: Augment::parse(&a.augment)?,
        backbone_lr_mult: a.backbone_lr_mult,
        cache: !a.no_cache,
        workers: a.workers,
        skip_bad: a.skip_bad,
        resume: a.resume.clone(),
    })
}

/// Every check that needs no GPU: numbers, output paths, the weights, init and resume files.
fn check_args(a: &FineTuneArgs) -> Result<()> {
    use crate::models::expect::{check, Expect};
    use crate::validate::{count, number, number_opt, output_file, output_opt, Range};
    count("--epochs", a.epochs, 1)?;
    count("--batch", a.batch, 1)?;
    count("--hidden", a.hidden, 1)?;
    number_opt("--lr", a.lr.map(f64::from), Range::Positive)?;
    number_opt("--val-split", a.val_split, Range::Open(0.0, 1.0))?;
    number(
        "--backbone-lr-mult",
        a.backbone_lr_mult.into(),
        Range::NonNegative,
    )?;
    number("--dropout", a.dropout.into(), Range::HalfOpen(0.0, 1.0))?;
    if let Some(p) = a.patience {
        count("--patience", p, 1)?;
    }
    output_file("--out", &a.out)?;
    output_opt("--metrics", a.metrics.as_deref())?;
    check_files_apart(a)?;
    crate::validate::workers("--workers", a.workers)?;
    let base = BaseKind::parse(&a.backbone)?;
    BnTraining::parse(&a.bn)?;
    parse_freeze(a)?;
    if a.weights != "none" {
        let want = match base {
            BaseKind::Vgg16 => Expect::Vgg16Base,
            BaseKind::ResNet(c) => Expect::ResNetBase(c),
        };
        check("--weights", std::path::Path::new(&a.weights), want)?;
    }
    if let Some(p) = &a.init {
        check("--init", p, Expect::Classifier)?;
    }
    if let Some(p) = &a.resume {
        let arch = match base {
            BaseKind::Vgg16 => crate::models::classifier::ARCHITECTURE,
            BaseKind::ResNet(_) => crate::models::classifier::RESNET_ARCHITECTURE,
        };
        check("--resume", p, Expect::Resume(arch))?;
    }
    Ok(())
}

/// Refuses outputs that collide with each other (the best model and the resume checkpoint
/// `--out` implies included) or with an input file.
fn check_files_apart(a: &FineTuneArgs) -> Result<()> {
    use crate::validate::distinct_files;
    use std::path::Path;
    let ckpt = crate::train::callbacks::Checkpoints::new(&a.out);
    let (best, resume) = (
        format!("--out (its best model {})", ckpt.best.display()),
        format!("--out (its resume checkpoint {})", ckpt.resume.display()),
    );
    let explicit: Vec<(&str, &Path)> = [
        ("--out", Some(a.out.as_path())),
        ("--metrics", a.metrics.as_deref()),
    ]
    .into_iter()
    .filter_map(|(f, p)| p.map(|p| (f, p)))
    .collect();
    let mut outputs = explicit.clone();
    outputs.push((&best, &ckpt.best));
    outputs.push((&resume, &ckpt.resume));
    let mut inputs: Vec<(&str, &Path)> = a.init.iter().map(|p| ("--init", p.as_path())).collect();
    if a.weights != "none" {
        inputs.push(("--weights", Path::new(&a.weights)));
    }
    distinct_files(&outputs, &inputs)?;
    let resume_in: Vec<(&str, &Path)> =
        a.resume.iter().map(|p| ("--resume", p.as_path())).collect();
    distinct_files(&explicit, &resume_in)
}

/// Runs `dak fine-tune`.
pub fn run(a: &FineTuneArgs) -> Result<()> {
    run_with(a, &Gpu::new)
}

/// [`run`] on the device `open_gpu` gives, called only once every argument, file and image
/// has passed its checks (tests count the kernels a refused run dispatched: none).
pub fn run_with(a: &FineTuneArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    super::skip_bad_hint(run_checked(a, open_gpu))
}

fn run_checked(a: &FineTuneArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    check_args(a)?;
    let options = options(a)?;
    let freeze = parse_freeze(a)?;
    if let (Some(p), None, None) = (a.patience, &a.val, a.val_split) {
        println!(
            "warning: --patience {p} without --val or --val-split stops on the training loss, which keeps falling while the head overfits; add --val-split 0.1 to stop on held-out accuracy"
        );
    }
    let (train, val) =
        folder::train_and_validation(&a.train, a.val.as_deref(), a.val_split, a.seed)?;
    let (train, mut skipped) = train.check_images(a.skip_bad)?;
    let val = match val {
        Some(v) => {
            let (v, bad) = v.check_images(a.skip_bad)?;
            skipped.extend(bad);
            Some(v)
        }
        None => None,
    };
    if !skipped.is_empty() {
        println!(
            "skipping {} unreadable image(s): {}",
            skipped.len(),
            skipped.join(", ")
        );
    }
    let spec = ClassifierSpec {
        base: BaseKind::parse(&a.backbone)?,
        bn: BnTraining::parse(&a.bn)?,
        classes: train.classes().to_vec(),
        weights: match a.weights.as_str() {
            "none" => Weights::None,
            path => Weights::File(path.into()),
        },
        input_size: a.input_size,
        hidden: a.hidden,
        dropout: a.dropout,
        preprocess: a.preprocess.as_deref().map(str::parse).transpose()?,
        seed: a.seed,
    };
    spec.validate()?;
    options.validate()?;
    let gpu = open_gpu()?;
    super::print_run_header(&gpu);
    let mut model = Classifier::with_base(&gpu, &spec)?;
    if let Weights::File(path) = &spec.weights {
        println!("loaded {} base from {}", spec.base.name(), path.display());
    }
    if let Some(path) = &a.init {
        model.load_weights(path)?;
        println!("starting from the weights of {}", path.display());
    }
    model.set_trainable(freeze)?;
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let mut provenance = crate::models::file::Provenance::new(
        super::command_line(),
        crate::train::FINE_TUNE,
        a.seed,
        serde_json::json!({
            "train": absolute(&a.train),
            "val": a.val.as_deref().map(absolute),
            "val_split": a.val_split,
        }),
    );
    provenance.parent = match (&a.init, &spec.weights) {
        (Some(init), _) => Some(absolute(init)),
        (None, Weights::File(w)) => Some(absolute(w)),
        (None, Weights::None) => None,
    };
    model.provenance = Some(provenance);
    println!(
        "fine-tune: {} training / {} validation images, {} classes, input {}x{}, {} trainable parameters",
        train.len(),
        val.as_ref().map_or(0, |v| v.len()),
        model.classes.len(),
        a.input_size,
        a.input_size,
        model.params.trainable_count()
    );
    crate::train::interrupt::install_signal_handler()?;
    let mut progress = Progress::new();
    let mut ckpt = Checkpoints::new(&a.out)
        .with_resume_every(std::time::Duration::from_secs(a.checkpoint_every));
    let mut jsonl = super::metrics_writer(a.metrics.as_deref(), a.resume.is_some())?;
    let mut early = a.patience.map(EarlyStopping::new);
    let mut callbacks: Vec<&mut dyn Callback> = vec![&mut progress, &mut ckpt];
    callbacks.extend(jsonl.as_mut().map(|j| j as &mut dyn Callback));
    callbacks.extend(early.as_mut().map(|e| e as &mut dyn Callback));
    let result = model.fit(&train, val.as_ref(), &options, &mut callbacks);
    let resume = super::resume_left(&ckpt, a.resume.as_deref());
    let last_good = ckpt.written_last.map(|e| (ckpt.last.as_path(), e));
    let history = match result {
        Ok(h) => h,
        // The checkpoint holds the model --init started it from.
        Err(e) => return super::explain_stop(Err(e), resume, last_good, &["--init"]),
    };
    skipped.extend(history.skipped.iter().cloned());
    if !history.skipped.is_empty() {
        println!(
            "skipped {} more image(s) that failed to decode: {}",
            history.skipped.len(),
            history.skipped.join(", ")
        );
    }
    let mut saved = format!("saved {}", ckpt.last.display());
    if let Some((epoch, acc)) = ckpt.written_best {
        saved += &format!(
            "; best validation accuracy {:.2}% (epoch {epoch}): {}",
            acc * 100.0,
            ckpt.best.display()
        );
    }
    if let Some(epoch) = ckpt.written_resume {
        saved += &format!(
            "; resume checkpoint (epoch {epoch}): {}",
            ckpt.resume.display()
        );
    }
    println!("{saved}");
    Ok(())
}
