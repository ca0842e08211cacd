//! Domain-adversarial training (DANN, Ganin et al. JMLR 2016) and its source-only baseline.
//!
//! One DANN step: a batch of `B` source and `B` target images (source rows first) goes through
//! the feature extractor; the label head's softmax cross-entropy counts only the source rows
//! (per-sample weight 1 for source, 0 for target); the domain head sits behind the gradient
//! reversal layer and its binary cross-entropy with logits covers all rows (target 0 = source,
//! 1 = target). Progress `p` runs from 0 to 1 over the whole run; by default
//! `λ_p = 2 / (1 + e^{-10p}) - 1` and `lr_p = μ0 / (1 + 10p)^0.75`, SGD with momentum 0.9.
//! The source-only baseline trains the same network on source batches of `B` without the
//! domain loss.
//!
//! Per step nothing is read back: losses are summed and accuracies counted on the GPU, and read
//! once per epoch. Each epoch then evaluates target accuracy (when target labels exist, for
//! reporting only) and label-free scores of the target predictions, which `--select` may use.

use std::time::Instant;

use super::adapt_callbacks::{Callback, Control, StepInfo};
use super::metrics::{self, ProxyADistance};
use crate::autograd::{Lambda, Tape};
use crate::data::rng::permutation;
use crate::data::{Dataset, DomainLoader, DomainLoaderOptions, Loader, LoaderOptions, Transform};
use crate::models::dann::{Backbone, Dann, DannConfig};
use crate::ops::{bce, elementwise as ew, softmax_xent};
use crate::optim::{Optimizer, Rule};
use crate::{DType, Error, Gpu, Result, Tensor};

/// Training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Domain-adversarial training.
    Dann,
    /// The same network trained on labelled source data only (the baseline).
    SourceOnly,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Dann => "dann",
            Method::SourceOnly => "source-only",
        }
    }
}

/// Which epoch's parameters end up in the saved model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The last epoch.
    Last,
    /// Lowest mean entropy of the target predictions.
    Entropy,
    /// Highest soft neighbourhood density of the target predictions.
    Snd,
}

impl Select {
    pub fn name(self) -> &'static str {
        match self {
            Select::Last => "last",
            Select::Entropy => "entropy",
            Select::Snd => "snd",
        }
    }
}

/// How the gradient-reversal coefficient evolves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LambdaSchedule {
    /// `max · (2 / (1 + e^{-10p}) - 1)`.
    Dann { max: f32 },
    /// The same value throughout.
    Constant(f32),
}

impl LambdaSchedule {
    pub fn at(self, progress: f32) -> f32 {
        match self {
            LambdaSchedule::Dann { max } => metrics::dann_lambda(progress, max),
            LambdaSchedule::Constant(v) => v,
        }
    }
}

/// How the learning rate evolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrSchedule {
    /// `μ0 / (1 + 10p)^0.75`.
    Dann,
    /// `μ0` throughout.
    Constant,
}

impl LrSchedule {
    pub fn at(self, mu0: f32, progress: f32) -> f32 {
        match self {
            LrSchedule::Dann => metrics::dann_lr(mu0, progress),
            LrSchedule::Constant => mu0,
        }
    }
}

/// Everything that shapes a run.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptConfig {
    pub method: Method,
    pub backbone: Backbone,
    /// Square input side (None = the backbone's default: 28 digits, 224 VGG16).
    pub input_size: Option<usize>,
    /// VGG16 bottleneck width (None = 256; 0 = none).
    pub bottleneck: Option<usize>,
    /// Weights for the VGG16 base: ImageNet VGG16 (timm/torchvision names) or a dak model.
    pub weights: Option<std::path::PathBuf>,
    pub epochs: usize,
    /// Images per domain per step (a DANN step holds twice this many).
    pub batch: usize,
    /// Seed of the initial weights and of the batch order.
    pub seed: u64,
    /// Base learning rate μ0.
    pub lr: f32,
    pub lr_schedule: LrSchedule,
    pub lambda: LambdaSchedule,
    /// SGD momentum.
    pub momentum: f32,
    /// Learning-rate multiplier of the feature extractor (0.1 is usual for a pretrained one).
    pub backbone_lr_mult: f32,
    pub select: Select,
    /// Skip images that fail to decode instead of stopping.
    pub skip_bad: bool,
    /// Data-loading threads (0 = one per core).
    pub workers: usize,
    /// Images per evaluation batch.
    pub eval_batch: usize,
    /// Target images used for the label-free scores and the proxy A-distance (and as many source
    /// images for the latter).
    pub score_samples: usize,
    /// Measure the proxy A-distance before and after training.
    pub pad: bool,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        AdaptConfig {
            method: Method::Dann,
            backbone: Backbone::Digits,
            input_size: None,
            bottleneck: None,
            weights: None,
            epochs: 10,
            batch: 64,
            seed: 0,
            lr: 0.01,
            lr_schedule: LrSchedule::Dann,
            lambda: LambdaSchedule::Dann { max: 1.0 },
            momentum: 0.9,
            backbone_lr_mult: 1.0,
            select: Select::Last,
            skip_bad: false,
            workers: 0,
            eval_batch: 250,
            score_samples: 1000,
            pad: true,
        }
    }
}

/// The datasets of a run.
#[derive(Debug, Clone)]
pub struct AdaptData {
    /// Labelled source images (training).
    pub source: Dataset,
    /// Target images for training; their labels, if any, are dropped before training.
    pub target: Option<Dataset>,
    /// Labelled target images for reporting target accuracy (never for training or selection).
    pub target_eval: Option<Dataset>,
    /// Labelled held-out source images for reporting source accuracy at the end.
    pub source_eval: Option<Dataset>,
}

/// What one epoch measured (a line of the metrics JSONL, `"type": "epoch"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub method: String,
    /// Epoch counted from 1.
    pub epoch: usize,
    pub epochs: usize,
    /// Optimizer steps so far.
    pub steps: usize,
    /// Training progress p at the end of the epoch.
    pub progress: f64,
    /// Gradient-reversal coefficient at the last step (0 for source-only).
    pub lambda: f64,
    /// Base learning rate at the last step.
    pub lr: f64,
    /// Mean label loss over the epoch's steps (source rows).
    pub label_loss: f64,
    /// Mean domain loss over the epoch's steps (DANN only).
    pub domain_loss: Option<f64>,
    /// Accuracy on the source rows of the epoch's training batches.
    pub source_acc: f64,
    /// Accuracy on the labelled target evaluation set (reporting only).
    pub target_acc: Option<f64>,
    /// Domain-classifier accuracy on the epoch's training batches (DANN only; ~0.5 = aligned).
    pub domain_acc: Option<f64>,
    /// Mean entropy of the target predictions (nats; lower = more confident).
    pub entropy: Option<f64>,
    /// Information maximisation of the target predictions (nats; higher = better).
    pub im: Option<f64>,
    /// Soft neighbourhood density of the target predictions (higher = better).
    pub snd: Option<f64>,
    /// Wall-clock seconds of the epoch (training + evaluation).
    pub seconds: f64,
    /// Training images per second (both domains).
    pub images_per_s: f64,
}

/// The end of a run (`"type": "summary"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub method: String,
    pub seed: u64,
    pub epochs_run: usize,
    /// Selection rule (`last`, `entropy`, `snd`).
    pub select: String,
    /// Metrics of the selected epoch (its parameters are the run's model).
    pub selected: EpochMetrics,
    /// Metrics of the last epoch.
    pub last: EpochMetrics,
    /// Target accuracy of the selected model (reporting only).
    pub target_test_acc: Option<f64>,
    /// Accuracy of the selected model on held-out source images.
    pub source_test_acc: Option<f64>,
    /// Proxy A-distance of the features at initialisation.
    pub pad_before: Option<ProxyADistance>,
    /// Proxy A-distance of the selected model's features.
    pub pad_after: Option<ProxyADistance>,
    pub seconds: f64,
    pub seconds_per_epoch: f64,
    pub images_per_s: f64,
}

/// A finished run: the selected model, the epoch history and the summary.
pub struct AdaptRun {
    pub model: Dann,
    pub history: Vec<EpochMetrics>,
    pub summary: RunSummary,
    /// Training images that could not be decoded and were skipped (`skip_bad`).
    pub skipped: Vec<String>,
}

/// Checks a configuration against the data before anything heavy starts.
pub fn validate(config: &AdaptConfig, data: &AdaptData) -> Result<()> {
    if config.epochs == 0 || config.batch == 0 || config.eval_batch == 0 {
        return Err(Error::input("--epochs and --batch must be at least 1"));
    }
    if !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(Error::input(format!(
            "--lr must be a positive number, got {}",
            config.lr
        )));
    }
    if config.backbone != Backbone::Vgg16
        && (config.weights.is_some() || config.bottleneck.is_some())
    {
        return Err(Error::input(
            "--weights and --bottleneck apply to --backbone vgg16; the digits network trains from scratch",
        ));
    }
    if let Some(w) = config.weights.as_ref().filter(|w| !w.is_file()) {
        return Err(Error::input(format!(
            "--weights {}: no such file (ImageNet VGG16 safetensors or a dak model)",
            w.display()
        )));
    }
    model_config(config, 2).validate()?;
    if data.source.labels().is_none() {
        return Err(Error::input(format!(
            "{}: the source domain must be labelled (a class-per-folder directory)",
            data.source.name()
        )));
    }
    let classes = data.source.classes();
    for ds in [&data.target, &data.target_eval, &data.source_eval]
        .into_iter()
        .flatten()
    {
        if ds.labels().is_some() {
            crate::data::folder::check_same_classes(
                &format!("source {}", data.source.name()),
                classes,
                ds.name(),
                ds.classes(),
            )?;
        }
    }
    if data.target.is_none() {
        if config.method == Method::Dann {
            return Err(Error::input(
                "--method dann needs target images: pass --target DIR (unlabelled is fine)",
            ));
        }
        if config.select != Select::Last {
            return Err(Error::input(format!(
                "--select {} scores target predictions, but no target images were given; pass --target DIR or use --select last",
                config.select.name()
            )));
        }
    }
    Ok(())
}

/// A seeded subset of at most `n` images of `ds`.
fn sample(ds: &Dataset, n: usize, seed: u64, tag: u64) -> Dataset {
    if ds.len() <= n {
        return ds.clone();
    }
    let mut idx: Vec<usize> = permutation(ds.len(), &[seed, tag])[..n]
        .iter()
        .map(|&i| i as usize)
        .collect();
    idx.sort_unstable();
    ds.subset(&idx)
}

/// The network `config` describes for `classes` classes.
pub fn model_config(config: &AdaptConfig, classes: usize) -> DannConfig {
    let mut c = DannConfig::paper(config.backbone, classes);
    c.input_size = config.input_size.or(c.input_size);
    c.bottleneck = config.bottleneck.unwrap_or(c.bottleneck);
    c
}

/// Evaluation transform of a model: its input side and its backbone's preprocessing.
pub fn eval_transform(model: &Dann) -> Transform {
    let s = model.config.input_size() as u32;
    Transform::eval(s, s).with_preprocess(model.backbone().preprocess())
}

fn eval_loader(
    ds: &Dataset,
    tf: &Transform,
    batch: usize,
    workers: usize,
    skip_bad: bool,
) -> Result<Loader> {
    Loader::new(
        ds.clone(),
        tf.clone(),
        LoaderOptions {
            batch_size: batch,
            shuffle: false,
            workers,
            skip_bad,
            ..Default::default()
        },
    )
}

/// Runs `f` on every evaluation batch of `ds` (images uploaded as [n, 3, S, S]).
fn for_batches(
    gpu: &Gpu,
    ds: &Dataset,
    tf: &Transform,
    config: &AdaptConfig,
    mut f: impl FnMut(&Tensor, &[u32]) -> Result<()>,
) -> Result<()> {
    let loader = eval_loader(ds, tf, config.eval_batch, config.workers, config.skip_bad)?;
    for batch in loader.epoch(0) {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        let x = Tensor::from_slice(gpu, &batch.images, &batch.shape())?;
        f(&x, &batch.labels)?;
    }
    Ok(())
}

/// Correct and counted predictions of `model` on labelled `ds` (counted on the GPU, one read).
pub fn count_correct(
    gpu: &Gpu,
    model: &Dann,
    ds: &Dataset,
    tf: &Transform,
    config: &AdaptConfig,
) -> Result<(u32, u32)> {
    let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
    for_batches(gpu, ds, tf, config, |x, labels| {
        let z = model.predict_logits(x)?;
        let y = Tensor::from_u32(gpu, labels, &[labels.len()])?;
        let w = Tensor::from_slice(gpu, &vec![1.0; labels.len()], &[labels.len()])?;
        softmax_xent::argmax_correct(&z, &y, &w, &counts)?;
        gpu.flush()
    })?;
    let c = counts.to_vec_u32()?;
    Ok((c[0], c[1]))
}

fn accuracy_of(c: (u32, u32)) -> Option<f64> {
    (c.1 > 0).then(|| c.0 as f64 / c.1 as f64)
}

/// Class probabilities of `model` on `ds` (rows in dataset order).
fn probabilities(
    gpu: &Gpu,
    model: &Dann,
    ds: &Dataset,
    tf: &Transform,
    config: &AdaptConfig,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for_batches(gpu, ds, tf, config, |x, _| {
        let z = model.predict_logits(x)?;
        out.extend(metrics::softmax_rows(&z.to_vec()?, model.config.classes));
        Ok(())
    })?;
    Ok(out)
}

/// Backbone features of `model` on `ds`.
fn features(
    gpu: &Gpu,
    model: &Dann,
    ds: &Dataset,
    tf: &Transform,
    config: &AdaptConfig,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for_batches(gpu, ds, tf, config, |x, _| {
        out.extend(model.extract_features(x)?.to_vec()?);
        Ok(())
    })?;
    Ok(out)
}

/// GPU-side accumulators of one epoch: read once at its end.
struct EpochAccumulators {
    label_loss: Tensor,
    domain_loss: Tensor,
    source_counts: Tensor,
    domain_counts: Tensor,
}

impl EpochAccumulators {
    fn new(gpu: &Gpu) -> Result<Self> {
        Ok(EpochAccumulators {
            label_loss: Tensor::zeros(gpu, &[1])?,
            domain_loss: Tensor::zeros(gpu, &[1])?,
            source_counts: Tensor::zeros_of(gpu, &[2], DType::U32)?,
            domain_counts: Tensor::zeros_of(gpu, &[2], DType::U32)?,
        })
    }
}

/// One training step on `images` (`n_source` labelled source rows first, then target rows).
#[allow(clippy::too_many_arguments)]
fn step(
    gpu: &Gpu,
    model: &Dann,
    opt: &mut Optimizer,
    acc: &EpochAccumulators,
    images: &[f32],
    side: usize,
    n_source: usize,
    n_target: usize,
    source_labels: &[u32],
    lambda: &Lambda,
    lr: f32,
    train_seed: u32,
) -> Result<()> {
    let n = n_source + n_target;
    let x = Tensor::from_slice(gpu, images, &[n, 3, side, side])?;
    let mut labels = source_labels.to_vec();
    labels.resize(n, 0);
    let mut weights = vec![1.0f32; n_source];
    weights.resize(n, 0.0);
    let labels = Tensor::from_u32(gpu, &labels, &[n])?;
    let weights = Tensor::from_slice(gpu, &weights, &[n])?;

    let mut tape = Tape::new();
    let xv = tape.input(x);
    let f = model.features(&mut tape, xv)?;
    let z = model.label_logits(&mut tape, f)?;
    let label_loss = tape.softmax_xent(z, &labels, &weights, 1.0)?;
    softmax_xent::argmax_correct(tape.tensor(z), &labels, &weights, &acc.source_counts)?;
    ew::accumulate(&acc.label_loss, tape.tensor(label_loss))?;
    let mut roots = vec![label_loss];
    if n_target > 0 {
        let mut d = vec![0.0f32; n_source];
        d.resize(n, 1.0);
        let domains = Tensor::from_slice(gpu, &d, &[n, 1])?;
        let dz = model.domain_logits(&mut tape, f, lambda, Some(train_seed))?;
        let domain_loss = tape.bce(dz, &domains, 1.0)?;
        bce::binary_correct(tape.tensor(dz), &domains, &acc.domain_counts)?;
        ew::accumulate(&acc.domain_loss, tape.tensor(domain_loss))?;
        roots.push(domain_loss);
    }
    let grads = tape.backward(&roots)?;
    opt.step(&model.params, &grads, lr)?;
    // One submit per step; wait so that progress and timing are honest.
    gpu.sync()
}

/// Copies of every parameter (GPU-side, in stream order).
fn snapshot(model: &Dann) -> Result<Vec<Tensor>> {
    model
        .params
        .iter()
        .map(|(_, p)| p.value.deep_clone())
        .collect()
}

fn restore(model: &Dann, saved: &[Tensor]) -> Result<()> {
    for ((_, p), s) in model.params.iter().zip(saved) {
        let bytes = p.value.numel() as u64 * 4;
        p.value
            .gpu()
            .copy(s.buffer(), 0, p.value.buffer(), 0, bytes)?;
    }
    Ok(())
}

/// Trains one model by `config.method` and returns the selected parameters with the history.
pub fn train(
    gpu: &Gpu,
    data: &AdaptData,
    config: &AdaptConfig,
    callbacks: &mut [&mut dyn Callback],
) -> Result<AdaptRun> {
    validate(config, data)?;
    let start = Instant::now();
    let method = config.method;
    let classes = data.source.classes().to_vec();
    let mut model = Dann::new(
        gpu,
        model_config(config, classes.len()),
        classes,
        config.seed,
    )?;
    if let Some(w) = &config.weights {
        crate::models::vgg16::load_base_weights(w, &mut model.params)?;
    }
    model
        .params
        .set_lr_mult("features", config.backbone_lr_mult);
    let tf = eval_transform(&model);
    let side = model.config.input_size();
    let target_train = data.target.as_ref().map(|t| t.without_labels());
    let score_set = target_train
        .as_ref()
        .map(|t| sample(t, config.score_samples, config.seed, 0x5343_4f52));
    let pad_source = sample(
        data.source_eval.as_ref().unwrap_or(&data.source),
        config.score_samples,
        config.seed,
        0x5041_4453,
    );
    let measure_pad = |model: &Dann| -> Result<Option<ProxyADistance>> {
        match (&score_set, config.pad) {
            (Some(t), true) => {
                let fs = features(gpu, model, &pad_source, &tf, config)?;
                let ft = features(gpu, model, t, &tf, config)?;
                metrics::proxy_a_distance(&fs, &ft, model.features.dim(), config.seed).map(Some)
            }
            _ => Ok(None),
        }
    };
    let pad_before = measure_pad(&model)?;

    // Batches: half source / half target for DANN, source only for the baseline.
    let domain_loader = match (method, &target_train) {
        (Method::Dann, Some(t)) => Some(DomainLoader::new(
            data.source.clone(),
            t.clone(),
            tf.clone(),
            DomainLoaderOptions {
                batch_size_per_domain: config.batch,
                seed: config.seed,
                workers: config.workers,
                prefetch: 2,
                skip_bad: config.skip_bad,
            },
        )?),
        _ => None,
    };
    let source_loader = Loader::new(
        data.source.clone(),
        tf.clone(),
        LoaderOptions {
            batch_size: config.batch,
            shuffle: true,
            seed: config.seed,
            workers: config.workers,
            skip_bad: config.skip_bad,
            ..Default::default()
        },
    )?;
    let steps_per_epoch = match &domain_loader {
        Some(l) => l.steps_per_source_pass(),
        None => source_loader.batches_per_epoch(),
    };
    let total_steps = steps_per_epoch * config.epochs;
    let mut stream = domain_loader.as_ref().map(|l| l.stream(0));

    let mut opt = Optimizer::new(Rule::Sgd {
        momentum: config.momentum,
        nesterov: false,
        weight_decay: 0.0,
    });
    let lambda = Lambda::new(0.0);
    for cb in callbacks.iter_mut() {
        cb.on_run_start(method.name(), config.epochs)?;
    }

    let mut history: Vec<EpochMetrics> = Vec::new();
    let mut best: Option<(usize, f64, Vec<Tensor>)> = None;
    let mut step_no = 0usize;
    let mut images_total = 0usize;
    for epoch in 0..config.epochs {
        let t0 = Instant::now();
        let acc = EpochAccumulators::new(gpu)?;
        let (mut lr, mut lam) = (config.lr, 0.0f32);
        let mut images = 0usize;
        let mut run_step = |k: usize,
                            imgs: &[f32],
                            ns: usize,
                            nt: usize,
                            labels: &[u32],
                            opt: &mut Optimizer|
         -> Result<()> {
            let p = step_no as f32 / total_steps as f32;
            lr = config.lr_schedule.at(config.lr, p);
            lam = match method {
                Method::Dann => config.lambda.at(p),
                Method::SourceOnly => 0.0,
            };
            lambda.set(lam);
            step(
                gpu,
                &model,
                opt,
                &acc,
                imgs,
                side,
                ns,
                nt,
                labels,
                &lambda,
                lr,
                super::fit::step_seed(config.seed, step_no as u64),
            )?;
            step_no += 1;
            images += ns + nt;
            for cb in callbacks.iter_mut() {
                cb.on_step(&StepInfo {
                    epoch: epoch + 1,
                    epochs: config.epochs,
                    step: k + 1,
                    steps_per_epoch,
                    elapsed: start.elapsed(),
                });
            }
            Ok(())
        };
        match stream.as_mut() {
            Some(stream) => {
                for k in 0..steps_per_epoch {
                    let b = stream.next().unwrap_or_else(|| {
                        Err(Error::runtime("the domain batch stream ended early"))
                    })?;
                    if b.n_source == 0 {
                        continue;
                    }
                    run_step(
                        k,
                        &b.images,
                        b.n_source,
                        b.n_target,
                        &b.source_labels,
                        &mut opt,
                    )?;
                }
            }
            None => {
                for (k, b) in source_loader.epoch(epoch as u64).enumerate() {
                    let b = b?;
                    if b.is_empty() {
                        continue;
                    }
                    run_step(k, &b.images, b.len(), 0, &b.labels, &mut opt)?;
                }
            }
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        images_total += images;

        // Read the epoch's accumulators once.
        let steps = steps_per_epoch.max(1) as f64;
        let label_loss = acc.label_loss.to_vec()?[0] as f64 / steps;
        let sc = acc.source_counts.to_vec_u32()?;
        let (domain_loss, domain_acc) = if method == Method::Dann {
            let dc = acc.domain_counts.to_vec_u32()?;
            (
                Some(acc.domain_loss.to_vec()?[0] as f64 / steps),
                accuracy_of((dc[0], dc[1])),
            )
        } else {
            (None, None)
        };
        let target_acc = match &data.target_eval {
            Some(ds) => accuracy_of(count_correct(gpu, &model, ds, &tf, config)?),
            None => None,
        };
        let (entropy, im, snd) = match &score_set {
            Some(ds) => {
                let p = probabilities(gpu, &model, ds, &tf, config)?;
                let c = model.config.classes;
                (
                    Some(metrics::mean_entropy(&p, c)),
                    Some(metrics::information_maximization(&p, c)),
                    Some(metrics::soft_neighborhood_density(
                        &p,
                        c,
                        metrics::SND_TEMPERATURE,
                    )),
                )
            }
            None => (None, None, None),
        };
        let m = EpochMetrics {
            kind: "epoch",
            method: method.name().to_string(),
            epoch: epoch + 1,
            epochs: config.epochs,
            steps: step_no,
            progress: step_no as f64 / total_steps as f64,
            lambda: lam as f64,
            lr: lr as f64,
            label_loss,
            domain_loss,
            source_acc: accuracy_of((sc[0], sc[1])).unwrap_or(0.0),
            target_acc,
            domain_acc,
            entropy,
            im,
            snd,
            seconds: t0.elapsed().as_secs_f64(),
            images_per_s: images as f64 / train_seconds.max(1e-9),
        };
        // Keep the best parameters by the label-free rule.
        let score = match config.select {
            Select::Last => None,
            Select::Entropy => m.entropy.map(|h| -h),
            Select::Snd => m.snd,
        };
        if let Some(s) = score.filter(|s| s.is_finite()) {
            if best.as_ref().is_none_or(|b| s > b.1) {
                best = Some((epoch, s, snapshot(&model)?));
            }
        }
        history.push(m.clone());
        let mut stop = false;
        for cb in callbacks.iter_mut() {
            stop |= cb.on_epoch_end(&m)? == Control::Stop;
        }
        if stop {
            break;
        }
    }
    drop(stream);
    let mut skipped = source_loader.skipped();
    if let Some(l) = &domain_loader {
        skipped.extend(l.skipped());
    }
    skipped.sort();
    skipped.dedup();

    let last = history.last().cloned().expect("at least one epoch");
    let selected = match &best {
        Some((epoch, _, params)) => {
            restore(&model, params)?;
            history[*epoch].clone()
        }
        None => last.clone(),
    };
    let target_test_acc = selected.target_acc;
    let source_test_acc = match &data.source_eval {
        Some(ds) => accuracy_of(count_correct(gpu, &model, ds, &tf, config)?),
        None => None,
    };
    let pad_after = measure_pad(&model)?;
    let seconds = start.elapsed().as_secs_f64();
    let train_seconds: f64 = history.iter().map(|m| m.seconds).sum();
    let summary = RunSummary {
        kind: "summary",
        method: method.name().to_string(),
        seed: config.seed,
        epochs_run: history.len(),
        select: config.select.name().to_string(),
        selected,
        last,
        target_test_acc,
        source_test_acc,
        pad_before,
        pad_after,
        seconds,
        seconds_per_epoch: train_seconds / history.len() as f64,
        images_per_s: images_total as f64 / train_seconds.max(1e-9),
    };
    for cb in callbacks.iter_mut() {
        cb.on_run_end(&summary)?;
    }
    Ok(AdaptRun {
        model,
        history,
        summary,
        skipped,
    })
}

/// Accuracy of a saved DANN model file on a labelled dataset (classes must match the model's).
pub fn evaluate(gpu: &Gpu, model_path: &std::path::Path, dataset: &Dataset) -> Result<f64> {
    let model = Dann::load(gpu, model_path)?;
    if dataset.labels().is_none() {
        return Err(Error::input(format!(
            "{}: evaluation needs labelled images (a class-per-folder directory)",
            dataset.name()
        )));
    }
    crate::data::folder::check_same_classes(
        &format!("model {}", model_path.display()),
        &model.classes,
        dataset.name(),
        dataset.classes(),
    )?;
    let config = AdaptConfig::default();
    let tf = eval_transform(&model);
    let (correct, total) = count_correct(gpu, &model, dataset, &tf, &config)?;
    Ok(correct as f64 / total.max(1) as f64)
}
