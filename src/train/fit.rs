//! `fit` for the transfer-learning classifier: frozen (or partly unfrozen) VGG16 base, new head,
//! augmentation, validation, callbacks. With a frozen base and no augmentation, base features
//! are computed once and every epoch trains the head alone from them (the feature cache).

use super::{Callback, Control, EpochReport, History};
use crate::autograd::{Params, Tape};
use crate::data::{Dataset, Loader, LoaderOptions, Transform};
use crate::models::classifier::Classifier;
use crate::models::vgg16;
use crate::ops::{elementwise as ew, softmax_xent};
use crate::optim::{Optimizer, Rule, Schedule};
use crate::{DType, Error, Gpu, Result, Tensor};
use std::time::Instant;

/// Which part of the base trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freeze {
    /// Only the head trains (the usual first stage).
    Base,
    /// Everything trains.
    None,
    /// Blocks `b..=5` of VGG16 train with the head (the low-learning-rate second stage).
    FromBlock(usize),
}

impl Freeze {
    /// Apply to a classifier's parameters.
    pub fn apply(self, params: &mut Params, backbone_lr_mult: f32) -> Result<()> {
        params.unfreeze("")?;
        params.set_lr_mult("features", backbone_lr_mult);
        match self {
            Freeze::None => {}
            Freeze::Base => {
                params.freeze("features")?;
            }
            Freeze::FromBlock(b) => {
                if !(1..=5).contains(&b) {
                    return Err(Error::input(format!(
                        "--unfreeze block{b}: VGG16 has blocks 1 to 5"
                    )));
                }
                params.freeze("features")?;
                for block in b..=5 {
                    for prefix in vgg16::block_prefixes(block) {
                        params.unfreeze(&prefix)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Settings of one `fit`.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub rule: Rule,
    pub schedule: Schedule,
    pub seed: u64,
    /// Training transform (random when augmenting) and evaluation transform.
    pub train_transform: Transform,
    pub eval_transform: Transform,
    /// Use the feature cache when the base is frozen and the training transform is not random.
    pub cache: bool,
    pub workers: usize,
    pub skip_bad: bool,
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

fn ones(gpu: &Gpu, n: usize) -> Result<Tensor> {
    Tensor::from_slice(gpu, &vec![1.0; n], &[n])
}

/// Per-step seed for dropout masks.
pub(crate) fn step_seed(seed: u64, step: u64) -> u32 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.wrapping_mul(0xBF58_476D_1CE4_E5B9)) as u32
}

/// Running sums of one epoch, kept on the GPU (read once per epoch).
struct Sums {
    loss: Tensor,
    counts: Tensor,
    seen: usize,
}

impl Sums {
    fn new(gpu: &Gpu) -> Result<Sums> {
        Ok(Sums {
            loss: Tensor::zeros(gpu, &[1])?,
            counts: Tensor::zeros_of(gpu, &[2], DType::U32)?,
            seen: 0,
        })
    }
    fn add(
        &mut self,
        loss: &Tensor,
        logits: &Tensor,
        labels: &Tensor,
        weights: &Tensor,
        n: usize,
    ) -> Result<()> {
        ew::axpby(n as f32, loss, 1.0, &self.loss)?;
        softmax_xent::argmax_correct(logits, labels, weights, &self.counts)?;
        self.seen += n;
        Ok(())
    }
    /// (mean loss, accuracy)
    fn read(&self) -> Result<(f32, f32)> {
        let loss = self.loss.to_vec()?[0] / self.seen.max(1) as f32;
        let c = self.counts.to_vec_u32()?;
        Ok((loss, c[0] as f32 / c[1].max(1) as f32))
    }
}

/// Pooled base features and labels of a whole dataset (no gradients), on the host.
fn extract_features(
    model: &Classifier,
    ds: &Dataset,
    o: &FitOptions,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let gpu = model.params.get(model.fc1.weight).value.gpu().clone();
    let mut feats = Vec::with_capacity(ds.len() * vgg16::FEATURES);
    let mut labels = Vec::with_capacity(ds.len());
    for batch in loader(ds, &o.eval_transform, o, false)?.epoch(0) {
        let batch = batch?;
        let mut tape = Tape::no_grad();
        let x = tape.input(Tensor::from_slice(&gpu, &batch.images, &batch.shape())?);
        let f = model.features(&mut tape, x)?;
        feats.extend(tape.tensor(f).to_vec()?);
        labels.extend(batch.labels);
    }
    Ok((feats, labels))
}

/// Train `model` on `train`, validating on `val` each epoch. Callbacks see every epoch and may
/// stop training. Parameters must already be frozen as wanted (see `Freeze::apply`).
pub fn fit(
    model: &Classifier,
    train: &Dataset,
    val: Option<&Dataset>,
    o: &FitOptions,
    optimizer: &mut Optimizer,
    first_epoch: usize,
    callbacks: &mut [&mut dyn Callback],
) -> Result<History> {
    let gpu = model.params.get(model.fc1.weight).value.gpu().clone();
    if train.labels().is_none() {
        return Err(Error::input(format!(
            "{}: training needs labelled images (class folders)",
            train.name()
        )));
    }
    let base_frozen = model
        .params
        .iter()
        .filter(|(_, p)| p.name.starts_with("features"))
        .all(|(_, p)| !p.trainable);
    let cached = o.cache && base_frozen && !o.train_transform.is_random();
    let train_cache = if cached {
        Some(extract_features(model, train, o)?)
    } else {
        None
    };
    let val_cache = match (cached, val) {
        (true, Some(v)) => Some(extract_features(model, v, o)?),
        _ => None,
    };
    let train_loader = loader(train, &o.train_transform, o, true)?;
    let steps = train.len().div_ceil(o.batch);
    let total_steps = (o.epochs * steps).max(1);
    let mut history = History::default();
    for epoch in first_epoch..o.epochs {
        let start = Instant::now();
        let progress = (epoch * steps) as f32 / total_steps as f32;
        let lr = o.schedule.lr(o.lr, progress, epoch);
        let mut sums = Sums::new(&gpu)?;
        let mut step = 0u64;
        let mut run_step = |images: Tensor, labels: &[u32]| -> Result<()> {
            let n = labels.len();
            let y = Tensor::from_u32(&gpu, labels, &[n])?;
            let w = ones(&gpu, n)?;
            let mut tape = Tape::new();
            let x = tape.input(images);
            let seed = step_seed(o.seed, (epoch * steps) as u64 + step);
            let logits = if cached {
                model.head(&mut tape, x, true, seed)?
            } else {
                model.forward(&mut tape, x, true, seed)?
            };
            let loss = tape.softmax_xent(logits, &y, &w, 1.0)?;
            let (lt, zt) = (tape.tensor(loss).clone(), tape.tensor(logits).clone());
            let grads = tape.backward(&[loss])?;
            optimizer.step(&model.params, &grads, lr)?;
            sums.add(&lt, &zt, &y, &w, n)?;
            gpu.flush()?; // one submit per step; no readback
            step += 1;
            for cb in callbacks.iter_mut() {
                cb.on_batch_end(epoch, step as usize, steps);
            }
            Ok(())
        };
        if let Some((feats, labels)) = &train_cache {
            let order = train_loader.epoch_order(epoch as u64);
            for chunk in order.chunks(o.batch) {
                let mut f = Vec::with_capacity(chunk.len() * vgg16::FEATURES);
                let mut l = Vec::with_capacity(chunk.len());
                for &i in chunk {
                    let i = i as usize;
                    f.extend_from_slice(&feats[i * vgg16::FEATURES..(i + 1) * vgg16::FEATURES]);
                    l.push(labels[i]);
                }
                run_step(
                    Tensor::from_slice(&gpu, &f, &[chunk.len(), vgg16::FEATURES])?,
                    &l,
                )?;
            }
        } else {
            for batch in train_loader.epoch(epoch as u64) {
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
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_acc) = match val {
            Some(v) => {
                let (l, a) = match &val_cache {
                    Some((f, l)) => eval_features(model, f, l, o.batch)?,
                    None => evaluate_loss_acc(model, v, &o.eval_transform, o)?,
                };
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let report = EpochReport {
            epoch: epoch + 1,
            epochs: o.epochs,
            train_loss,
            train_acc,
            val_loss,
            val_acc,
            lr,
            seconds,
            images_per_s: train.len() as f64 / seconds.max(1e-9),
            feature_cache: cached,
        };
        history.epochs.push(report.clone());
        let mut stop = false;
        for cb in callbacks.iter_mut() {
            stop |= cb.on_epoch_end(&report, &model.params, optimizer)? == Control::Stop;
        }
        if stop {
            break;
        }
    }
    Ok(history)
}

/// Head-only evaluation from cached features: (mean loss, accuracy).
fn eval_features(
    model: &Classifier,
    feats: &[f32],
    labels: &[u32],
    batch: usize,
) -> Result<(f32, f32)> {
    let gpu = model.params.get(model.fc1.weight).value.gpu().clone();
    let mut sums = Sums::new(&gpu)?;
    for (fc, lc) in feats
        .chunks(batch * vgg16::FEATURES)
        .zip(labels.chunks(batch))
    {
        let n = lc.len();
        let mut tape = Tape::no_grad();
        let x = tape.input(Tensor::from_slice(&gpu, fc, &[n, vgg16::FEATURES])?);
        let z = model.head(&mut tape, x, false, 0)?;
        let (y, w) = (Tensor::from_u32(&gpu, lc, &[n])?, ones(&gpu, n)?);
        let loss = softmax_xent::forward(tape.tensor(z), &y, &w, 1.0)?;
        sums.add(&loss, tape.tensor(z), &y, &w, n)?;
        gpu.flush()?;
    }
    sums.read()
}

/// Mean loss and accuracy of `model` on a labelled dataset.
pub fn evaluate_loss_acc(
    model: &Classifier,
    ds: &Dataset,
    t: &Transform,
    o: &FitOptions,
) -> Result<(f32, f32)> {
    let gpu = model.params.get(model.fc1.weight).value.gpu().clone();
    let mut sums = Sums::new(&gpu)?;
    for batch in loader(ds, t, o, false)?.epoch(0) {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        let n = batch.len();
        let mut tape = Tape::no_grad();
        let x = tape.input(Tensor::from_slice(&gpu, &batch.images, &batch.shape())?);
        let z = model.forward(&mut tape, x, false, 0)?;
        let (y, w) = (Tensor::from_u32(&gpu, &batch.labels, &[n])?, ones(&gpu, n)?);
        let loss = softmax_xent::forward(tape.tensor(z), &y, &w, 1.0)?;
        sums.add(&loss, tape.tensor(z), &y, &w, n)?;
        gpu.flush()?;
    }
    sums.read()
}
