//! `fit` for the transfer-learning [`Classifier`]: the base frozen (or partly unfrozen) as
//! the model says, the new head, augmentation, validation, callbacks. With a frozen base and no
//! augmentation, base features are computed once and every epoch trains the head alone from
//! them (the feature cache).

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod cache;
mod sums;

use cache::{eval_features, FeatureCache};
use sums::{evaluate_loss_acc, ones, Sums};

use super::callback::Callbacks;
use super::clock::RunClock;
use super::interrupt::{check_loss, interrupted, stop_requested, BadLoss};
use super::{checkpoint, BatchLogs, Callback, Control, EpochLogs, History, RunInfo, TrainState};
use crate::autograd::Tape;
use crate::data::{Dataset, Loader, LoaderOptions, Transform};
use crate::error::{Error, Result};
use crate::models::{Classifier, Model};
use crate::optim::{Optimizer, Rule, Schedule};
use crate::tensor::Tensor;

/// Random changes to training images (evaluation images are never augmented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Augment {
    /// None: the base's features can be cached when it is frozen.
    #[default]
    None,
    /// Random horizontal flip.
    Flip,
    /// Random resized crop and horizontal flip.
    CropFlip,
}

impl Augment {
    /// Parses `none`, `flip` or `crop-flip`.
    pub fn parse(s: &str) -> Result<Augment> {
        match s {
            "none" => Ok(Augment::None),
            "flip" => Ok(Augment::Flip),
            "crop-flip" => Ok(Augment::CropFlip),
            other => Err(Error::input(format!(
                "unknown augmentation `{other}`; use none, flip or crop-flip"
            ))),
        }
    }
}

/// Settings of one `fit` (Keras: `compile` + `fit` arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// Epochs of the whole run (a resumed run continues up to this number).
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Update rule (Adam by default).
    pub rule: Rule,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Seed of the batch order, augmentation and dropout.
    pub seed: u64,
    /// Training-image augmentation.
    pub augment: Augment,
    /// Learning-rate multiplier of trainable base layers (0.1 is usual for pretrained ones).
    pub backbone_lr_mult: f32,
    /// Train the head from cached base features when the base is frozen and nothing is
    /// augmented (the same result, much faster).
    pub cache: bool,
    /// Image decoding threads (0 = one per core).
    pub workers: usize,
    /// Skip images that fail to decode instead of stopping.
    pub skip_bad: bool,
    /// Continue from a resume checkpoint written by `callbacks::Checkpoints` (parameters,
    /// optimizer state and epoch).
    pub resume: Option<PathBuf>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 10,
            batch: 32,
            lr: 1e-3,
            rule: Rule::adam(),
            schedule: Schedule::Constant,
            seed: 0,
            augment: Augment::None,
            backbone_lr_mult: 0.1,
            cache: true,
            workers: 0,
            skip_bad: false,
            resume: None,
        }
    }
}

/// Evaluation and training transforms of `model` under `augment`.
fn transforms(model: &Classifier, augment: Augment) -> (Transform, Transform) {
    let side = model.input_size as u32;
    let eval = Transform::eval(side, side).with_preprocess(model.preprocess);
    let train = match augment {
        Augment::None => eval.clone(),
        Augment::Flip => eval.clone().with_hflip(true),
        Augment::CropFlip => Transform::train(side, side).with_preprocess(model.preprocess),
    };
    (eval, train)
}

fn loader(ds: &Dataset, t: &Transform, o: &FitOptions, shuffle: bool) -> Result<Loader> {
    let opts = LoaderOptions {
        batch_size: o.batch,
        shuffle,
        drop_last: false,
        seed: o.seed,
        workers: o.workers,
        prefetch: 2,
        skip_bad: o.skip_bad,
    };
    Loader::new(ds.clone(), t.clone(), opts)
}

/// Per-step seed for dropout masks.
pub(crate) fn step_seed(seed: u64, step: u64) -> u32 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.wrapping_mul(0xBF58_476D_1CE4_E5B9)) as u32
}

impl FitOptions {
    /// Checks the settings without touching data or the GPU (`fit` calls it too).
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 || self.epochs == 0 {
            return Err(Error::input("--batch and --epochs must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::input(format!(
                "--lr must be a positive number, got {}",
                self.lr
            )));
        }
        Ok(())
    }
}

fn check(model: &Classifier, train: &Dataset, val: Option<&Dataset>, o: &FitOptions) -> Result<()> {
    o.validate()?;
    if train.labels().is_none() {
        return Err(Error::input(format!(
            "{}: training needs labelled images (class folders)",
            train.name()
        )));
    }
    let model_name = "the model";
    crate::data::folder::check_same_classes(
        model_name,
        &model.classes,
        train.name(),
        train.classes(),
    )?;
    if let Some(v) = val {
        crate::data::folder::check_same_classes(model_name, &model.classes, v.name(), v.classes())?;
    }
    Ok(())
}

impl Classifier {
    /// Trains on `train`, validating on `val` after every epoch (Keras: `model.fit`). What
    /// trains is what [`Classifier::freeze`] left trainable. Callbacks see every step and
    /// epoch and may stop the run; the returned [`History`] holds every epoch's logs.
    ///
    /// ```no_run
    /// use dak::prelude::*;
    /// # fn main() -> dak::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let (train, val) = Dataset::from_dir("photos/train")?.split(0.2, 0)?;
    /// let spec = ClassifierSpec { classes: train.classes().to_vec(), input_size: 32, ..Default::default() };
    /// let mut model = Classifier::vgg16(&gpu, &spec)?;
    /// model.freeze("features")?;
    /// let history = model.fit(&train, Some(&val), &FitOptions { epochs: 3, ..Default::default() }, &mut [])?;
    /// println!("validation accuracy {:?}", history.last().and_then(|e| e.val_acc));
    /// # Ok(()) }
    /// ```
    pub fn fit(
        &mut self,
        train: &Dataset,
        val: Option<&Dataset>,
        o: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        check(self, train, val, o)?;
        for prefix in self.base_prefixes() {
            self.params.set_lr_mult(prefix, o.backbone_lr_mult);
        }
        self.base_changed(); // weights may have been written since the last fold
        let mut optimizer = Optimizer::new(o.rule);
        let start = match &o.resume {
            Some(path) => checkpoint::load_resume(
                path,
                &mut self.params,
                &mut optimizer,
                &self.classes,
                &run_id(train),
            )?,
            None => checkpoint::ResumePoint::default(),
        };
        let first_epoch = start.epochs;
        if first_epoch >= o.epochs {
            return Err(Error::input(format!(
                "the resume checkpoint has done {first_epoch} epoch(s) already; ask for more than {first_epoch} epochs"
            )));
        }
        run(
            self,
            train,
            val,
            o,
            &mut optimizer,
            start,
            &mut Callbacks(callbacks),
        )
    }
}

/// What a fine-tuning run's resume checkpoints say about it.
fn run_id(train: &Dataset) -> checkpoint::RunId {
    checkpoint::RunId {
        method: super::FINE_TUNE.into(),
        images: train.len(),
    }
}

/// The epoch loop of [`Classifier::fit`].
fn run(
    model: &Classifier,
    train: &Dataset,
    val: Option<&Dataset>,
    o: &FitOptions,
    optimizer: &mut Optimizer,
    resume_at: checkpoint::ResumePoint,
    callbacks: &mut Callbacks,
) -> Result<History> {
    let first_epoch = resume_at.epochs;
    let gpu = model.gpu().clone();
    let mut clock = RunClock::start();
    let (eval_t, train_t) = transforms(model, o.augment);
    let info = model.info();
    let run_id = run_id(train);
    let base_frozen = model.base_frozen();
    let cached = o.cache && base_frozen && !train_t.is_random();
    let cache_start = Instant::now();
    let train_cache = if cached {
        callbacks.phase(&format!(
            "building the feature cache: {} image(s){} through the frozen base, once (each epoch then trains the head alone)",
            train.len(),
            val.map_or(String::new(), |v| format!(" and {} validation image(s)", v.len()))
        ));
        Some(FeatureCache::new(model, train, &eval_t, o)?)
    } else {
        None
    };
    let val_cache = match (cached, val) {
        (true, Some(v)) => Some(FeatureCache::new(model, v, &eval_t, o)?),
        _ => None,
    };
    clock.exclude(cache_start.elapsed());
    let train_loader = loader(train, &train_t, o, true)?;
    let steps = train.len().div_ceil(o.batch);
    let total_steps = (o.epochs * steps).max(1);
    callbacks.begin(&RunInfo {
        method: super::FINE_TUNE.into(),
        epochs: o.epochs,
        first_epoch,
        first_step: resume_at.partial.as_ref().map_or(0, |p| p.step),
        steps_per_epoch: steps,
    })?;
    let mut history = History::default();
    if let Some(text) = resume_at.record.metadata.get("epochs") {
        history.epochs = super::epoch_record::from_json(text).ok_or_else(|| {
            Error::input("--resume: the checkpoint's epoch record is damaged; start again")
        })?;
        callbacks.resumed(&history.epochs);
    }
    for epoch in first_epoch..o.epochs {
        let start = Instant::now();
        let earlier = &history.epochs;
        let record = || epochs_record(earlier);
        let progress = (epoch * steps) as f32 / total_steps as f32;
        let lr = o.schedule.lr(o.lr, progress, epoch);
        let mut sums = Sums::new(&gpu)?;
        // A run interrupted inside this epoch continues after its last finished step.
        let skip = match (&resume_at.partial, epoch == first_epoch) {
            (Some(p), true) => {
                sums.restore(p)?;
                p.step
            }
            _ => 0,
        };
        let mut step = skip;
        // The run's first step, when it falls in this epoch: (its time, its images).
        let mut first_step: Option<(Duration, usize)> = None;
        let mut run_step = |images: Tensor, labels: &[u32]| -> Result<()> {
            let n = labels.len();
            clock.before_step();
            let y = Tensor::from_u32(&gpu, labels, &[n])?;
            let w = ones(&gpu, n)?;
            let mut tape = Tape::new();
            let x = tape.input(images);
            let seed = step_seed(o.seed, (epoch * steps + step) as u64);
            let logits = if cached {
                model.head(&mut tape, x, true, seed)?
            } else {
                model.forward(&mut tape, x, true, seed)?
            };
            let loss = tape.softmax_xent(logits, &y, &w, 1.0)?;
            let (lt, zt) = (tape.tensor(loss).clone(), tape.tensor(logits).clone());
            let grads = tape.backward(&[loss])?;
            optimizer.step(&model.params, &grads, lr)?;
            if !base_frozen {
                model.base_changed();
            }
            sums.add(&lt, &zt, &y, &w, n)?;
            gpu.flush()?; // one submit per step; no readback
            if let Some(d) = clock.after_step(&gpu)? {
                first_step = Some((d, n));
            }
            step += 1;
            callbacks.batch(&BatchLogs {
                epoch: epoch + 1,
                epochs: o.epochs,
                step,
                steps_per_epoch: steps,
                progress: (epoch * steps + step) as f64 / total_steps as f64,
                lr: lr as f64,
                lambda: None,
                elapsed: clock.elapsed(),
                one_time: clock.one_time(),
            });
            if stop_requested() {
                let state = TrainState {
                    params: &model.params,
                    optimizer,
                    info: &info,
                    run: &run_id,
                    record: Some(&record),
                };
                callbacks.interrupt(&state, epoch, &sums.partial(step)?)?;
                return Err(interrupted(epoch + 1, step, steps));
            }
            Ok(())
        };
        if let Some(cache) = &train_cache {
            let order = train_loader.epoch_order(epoch as u64);
            for chunk in order.chunks(o.batch).skip(skip) {
                let (f, l) = cache.gather(chunk);
                if l.is_empty() {
                    continue;
                }
                run_step(
                    Tensor::from_slice(&gpu, &f, &[l.len(), model.feature_dim()])?,
                    &l,
                )?;
            }
        } else {
            // The loader decodes the batches it skips: at most one epoch's decoding, once.
            for batch in train_loader.epoch(epoch as u64).skip(skip) {
                let batch = batch?;
                if batch.is_empty() {
                    continue;
                }
                run_step(
                    Tensor::from_slice(&gpu, &batch.images, &batch.shape())?,
                    &batch.labels,
                )?;
            }
        }
        let (train_loss, train_acc) = sums.read()?;
        let at = BadLoss {
            epoch: epoch + 1,
            first_bad_step: sums.first_bad()?,
            steps,
            lr: lr as f64,
        };
        check_loss("training", train_loss as f64, &at)?;
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_acc) = match val {
            Some(v) => {
                let (l, a) = match &val_cache {
                    Some(cache) => eval_features(model, cache, o.batch)?,
                    None => evaluate_loss_acc(model, v, &eval_t, o)?,
                };
                (Some(l as f64), Some(a as f64))
            }
            None => (None, None),
        };
        if let Some(l) = val_loss {
            // Validation batches are not steps: name no step.
            let at = BadLoss {
                first_bad_step: None,
                ..at
            };
            check_loss("validation", l, &at)?;
        }
        let done = (epoch + 1) * steps;
        let logs = EpochLogs {
            method: super::FINE_TUNE.into(),
            epoch: epoch + 1,
            epochs: o.epochs,
            steps: done,
            progress: done as f64 / total_steps as f64,
            lr: lr as f64,
            lambda: None,
            train_loss: train_loss as f64,
            train_acc: train_acc as f64,
            val_loss,
            val_acc,
            domain_loss: None,
            adapt_loss: None,
            domain_acc: None,
            target_acc: None,
            entropy: None,
            im: None,
            snd: None,
            ensv: None,
            ensv_soft: None,
            mixval: None,
            pixel_kappa: None,
            dev: None,
            source_confidence: None,
            domain_shift: None,
            seconds,
            images_per_s: steady_rate(train.len(), seconds, first_step),
            feature_cache: cached,
            score_probs: None,
        };
        history.epochs.push(logs.clone());
        let earlier = &history.epochs;
        let record = || epochs_record(earlier);
        let state = TrainState {
            params: &model.params,
            optimizer,
            info: &info,
            run: &run_id,
            record: Some(&record),
        };
        if callbacks.epoch(&logs, &state)? == Control::Stop {
            break;
        }
    }
    history.skipped = match &train_cache {
        Some(cache) => cache.skipped.clone(),
        None => train_loader.skipped(),
    };
    callbacks.end(&history)?;
    Ok(history)
}

/// Images per second of an epoch of `images` in `seconds`, leaving out the run's first step
/// (kernel compilation) when it fell in this epoch; with that step alone, its own rate.
pub(crate) fn steady_rate(images: usize, seconds: f64, first: Option<(Duration, usize)>) -> f64 {
    match first {
        Some((d, n)) if images > n && seconds > d.as_secs_f64() => {
            (images - n) as f64 / (seconds - d.as_secs_f64())
        }
        _ => images as f64 / seconds.max(1e-9),
    }
}

/// A run's steady rate and one-time cost: (images per second over all its training steps
/// without the first, the first step's time beyond a steady step of its size, seconds per
/// epoch without that cost) for `images` trained in `step_seconds`, the run's `first` step,
/// and `epoch_seconds` summed over `epochs` epochs.
pub(crate) fn run_rates(
    images: usize,
    step_seconds: f64,
    first: Option<(Duration, usize)>,
    epoch_seconds: f64,
    epochs: usize,
) -> (f64, f64, f64) {
    let images_per_s = steady_rate(images, step_seconds, first);
    let warmup = first.map_or(0.0, |(d, n)| {
        (d.as_secs_f64() - n as f64 / images_per_s.max(1e-9)).max(0.0)
    });
    (
        images_per_s,
        warmup,
        (epoch_seconds - warmup) / epochs.max(1) as f64,
    )
}

/// A fine-tuning run's record in its resume checkpoints: the epochs so far.
fn epochs_record(epochs: &[EpochLogs]) -> Result<checkpoint::RunRecord> {
    let mut r = checkpoint::RunRecord::default();
    r.metadata
        .insert("epochs".into(), super::epoch_record::to_json(epochs)?);
    Ok(r)
}
