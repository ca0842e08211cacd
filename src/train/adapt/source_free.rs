//! Source-free adaptation: a trained model meets a new domain with unlabelled target images
//! only; the source data is never read. The methods ([`SourceFree`]: SHOT, TENT, one file
//! each in `methods/`) say what trains and which losses a target batch gets; this file runs
//! the epochs.
//!
//! Epoch 0 is the model as it was given: evaluated and scored like every later epoch and a
//! candidate of every validator, so a run whose adaptation hurts can hand the starting model
//! back (a faithful SHOT can end below its own source model). Each epoch of a method with
//! pseudo-labels starts with one evaluation pass over the whole target set (running BN
//! statistics) and the nearest-centroid clustering of its features ([`crate::ops::centroids`]),
//! then one pass of training steps over the target set in a seeded order. Per step nothing is
//! read back: the loss is summed on the GPU and read once per epoch.
//!
//! Resume checkpoints are written and read as a source-based run's (`fit.rs`, `resume.rs`),
//! with what only a source-free run adds to the record (`source_free_resume.rs`), so that a
//! resumed run ends bit for bit as the uninterrupted one.

use std::time::Instant;

use super::ensv::{self, EpochPool};
use super::ensv_hard::argmax_rows;
pub use super::methods::{LossWeights, SourceFree, SourceFreeDefaults, SourceFreeMethod};
use super::neighbours::KappaChange;
use super::resume::{self, damaged};
use super::scores::{accuracy, score_candidate, ScoreSets};
pub use super::source_free_resume::run_id;
use super::source_free_resume::{read_record, run_record, SourceFreeState};
use super::step::{restore, snapshot};
use super::{AdaptConfig, LrSchedule, Select};
use crate::autograd::Tape;
use crate::data::{Dataset, Loader, LoaderOptions};
use crate::error::{Error, Result};
use crate::models::file::Provenance;
use crate::models::{Backbone, Dann, Model};
use crate::ops::{centroids, elementwise as ew, prob, softmax_xent};
use crate::optim::{Optimizer, Rule};
use crate::tensor::{DType, Tensor};
use crate::train::callback::Callbacks;
use crate::train::checkpoint::{self, Partial, ResumePoint};
use crate::train::clock::RunClock;
use crate::train::fit::steady_rate;
use crate::train::interrupt::{check_loss, interrupted, stop_requested, BadLoss};
use crate::train::{
    BatchLogs, Callback, Control, EpochLogs, History, RunInfo, RunSummary, TrainState,
};

/// Tag of the seeded target subset scored each epoch.
const TAG_SCORES: u64 = 0x5343_4f52;

/// Everything that shapes a source-free run besides the model and the data. Start from
/// [`SourceFreeConfig::new`]: each method has its own defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFreeConfig {
    /// The method.
    pub method: SourceFree,
    /// Passes over the target images.
    pub epochs: usize,
    /// Target images per step.
    pub batch: usize,
    /// Seed of the batch order and of the scored subset.
    pub seed: u64,
    /// Base learning rate.
    pub lr: f32,
    /// How the learning rate evolves.
    pub lr_schedule: LrSchedule,
    /// SGD momentum.
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Learning-rate multiplier of the base network (the part before the bottleneck).
    pub backbone_lr_mult: f32,
    /// Weights of the method's losses.
    pub weights: LossWeights,
    /// Which epoch's parameters the model keeps (epoch 0, the model as given, included);
    /// default `safe` ([`keep_init`]).
    pub select: Select,
    /// Skip images that fail to decode instead of stopping.
    pub skip_bad: bool,
    /// Data-loading threads (0 = one per core).
    pub workers: usize,
    /// Images per evaluation batch.
    pub eval_batch: usize,
    /// Target images the label-free scores read.
    pub score_samples: usize,
    /// Continue from this resume checkpoint (`<out stem>.resume.safetensors` of an
    /// interrupted run of the same method, data and `--select`).
    pub resume: Option<std::path::PathBuf>,
}

impl SourceFreeConfig {
    /// `method`'s defaults for a model on `backbone`.
    pub fn new(method: SourceFree, backbone: Backbone) -> SourceFreeConfig {
        let d = method.get().defaults(backbone);
        SourceFreeConfig {
            method,
            epochs: d.epochs,
            batch: d.batch,
            seed: 0,
            lr: d.lr,
            lr_schedule: match d.decay {
                true => LrSchedule::Dann,
                false => LrSchedule::Constant,
            },
            momentum: d.momentum,
            nesterov: d.nesterov,
            weight_decay: d.weight_decay,
            backbone_lr_mult: d.backbone_lr_mult,
            weights: d.weights,
            select: Select::Safe,
            skip_bad: false,
            workers: 0,
            eval_batch: 250,
            score_samples: 1000,
            resume: None,
        }
    }

    /// What the shared evaluation code reads (batch size, threads, bad files).
    pub(crate) fn eval_config(&self) -> AdaptConfig {
        AdaptConfig {
            seed: self.seed,
            skip_bad: self.skip_bad,
            workers: self.workers,
            eval_batch: self.eval_batch,
            score_samples: self.score_samples,
            select: self.select,
            ..AdaptConfig::default()
        }
    }

    /// Checks the numbers and the validator.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch < 2 || self.eval_batch == 0 {
            return Err(Error::input(
                "--epochs must be at least 1 and --batch at least 2 (a batch's statistics need two images)",
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::input(format!(
                "--lr must be a positive number, got {}",
                self.lr
            )));
        }
        if self.score_samples < 2 {
            return Err(Error::input("--score-samples must be at least 2"));
        }
        check_select(self.select)
    }
}

/// Refuses the validators that need labelled source images (`source-val`, `dev`).
pub fn check_select(select: Select) -> Result<()> {
    match select {
        Select::SourceVal | Select::Dev => Err(Error::input(format!(
            "--select {} reads labelled source images, which a source-free run never has; use safe (the default), last, entropy, im, snd, ensv, ensv-soft or mixval",
            select.name()
        ))),
        _ => Ok(()),
    }
}

/// The source-free safety rule (`--select safe`, the default): the last epoch replaces the
/// `--init` model (epoch 0) unless
/// 1. its MixVal score is below epoch 0's, or
/// 2. its predictions split the target's pixel neighbourhoods: `κ` fell by more than two
///    standard errors (`change`, [`super::neighbours`]) — SHOT's class balancing under label
///    shift does this, and MixVal does not see it.
///
/// The validators built on confidence (entropy, IM, SND, EnsV) are what SHOT and TENT
/// maximise, so they rank every adapted epoch above the start even when it collapsed; MixVal's
/// probes (is a mixture of two target images classed as its dominant image?) and the pixel
/// neighbourhoods are not a training signal. Returns whether to hand back epoch 0, and why.
pub fn keep_init(
    first: &EpochLogs,
    last: &EpochLogs,
    change: Option<KappaChange>,
) -> (bool, String) {
    let e = last.epoch;
    let split = change.filter(KappaChange::significant_drop).map(|c| {
        format!(
            "its predictions split the target's pixel neighbourhoods (kappa {:.3} -> {:.3}, more than {} standard errors of {:.3}; class balancing under label shift does this)",
            c.before,
            c.after,
            super::neighbours::DROP_SE,
            c.se
        )
    });
    match (first.mixval, last.mixval, split) {
        (Some(a), Some(b), split) if b < a => (
            true,
            format!(
                "the --init model kept: epoch {e}'s MixVal {b:.3} is below the --init model's {a:.3}{}",
                split.map_or(String::new(), |s| format!(", and {s}"))
            ),
        ),
        (_, _, Some(s)) => (true, format!("the --init model kept: epoch {e}'s {s}")),
        (Some(a), Some(b), None) => (
            false,
            format!("epoch {e} kept: its MixVal {b:.3} is at least the --init model's {a:.3}{}",
                change.map_or(String::new(), |c| format!(
                    ", and its pixel-neighbour kappa ({:.3} -> {:.3}) did not fall significantly",
                    c.before, c.after
                ))),
        ),
        _ => (
            false,
            format!("epoch {e} kept: no MixVal probe could be made"),
        ),
    }
}

/// The target images of a source-free run.
#[derive(Debug, Clone)]
pub struct TargetData {
    /// Target images for training (labels, if any, are dropped before training).
    pub target: Dataset,
    /// Labelled target images to report accuracy on (never used for training or selection).
    pub target_eval: Option<Dataset>,
}

impl Dann {
    /// Adapts the model to `data.target` without any source image (SHOT or TENT, as
    /// `config.method` says), evaluating after every epoch; epoch 0 (the model as given) is a
    /// candidate of `config.select`. At the end the model holds the selected parameters. With
    /// `config.resume` it continues an interrupted run from the checkpoint a
    /// [`crate::train::callbacks::Checkpoints`] callback wrote.
    ///
    /// ```no_run
    /// use dak::prelude::*;
    /// # fn main() -> dak::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let mut model = Dann::load(&gpu, "source-only.safetensors")?;
    /// let target = dak::data::Dataset::from_dir("photos/webcam")?;
    /// let config = SourceFreeConfig::new(SourceFree::SHOT, model.backbone());
    /// let data = TargetData { target, target_eval: None };
    /// let history = model.adapt_source_free(&data, &config, &mut [])?;
    /// model.save("adapted.safetensors")?;
    /// # Ok(()) }
    /// ```
    pub fn adapt_source_free(
        &mut self,
        data: &TargetData,
        config: &SourceFreeConfig,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        config.validate()?;
        check_data(self, data)?;
        config.method.get().prepare(self)?;
        for prefix in self.base_prefixes() {
            self.params.set_lr_mult(prefix, config.backbone_lr_mult);
        }
        let mut opt = Optimizer::new(Rule::Sgd {
            momentum: config.momentum,
            nesterov: config.nesterov,
            weight_decay: config.weight_decay,
        });
        // After `prepare`: the checkpoint's optimizer state is that of the trained parameters.
        let resume_at = match &config.resume {
            Some(path) => checkpoint::load_resume(
                path,
                &mut self.params,
                &mut opt,
                &self.classes,
                &run_id(config.method, &data.target),
            )?,
            None => ResumePoint::default(),
        };
        let (history, why) = run(
            self,
            data,
            config,
            opt,
            resume_at,
            &mut Callbacks(callbacks),
        )?;
        // The lineage: this run, and the record of the model it started from.
        let summary = history
            .summary
            .as_ref()
            .expect("a finished run has a summary");
        let target = serde_json::json!({ "target": data.target.name(), "source": null });
        let mut p = Provenance::new(
            "library: Dann::adapt_source_free".into(),
            config.method.name(),
            config.seed,
            target,
        );
        p.adapted_from = self.provenance.take().map(Box::new);
        p.epoch = Some(summary.selected.epoch);
        p.selection = Some(serde_json::json!({
            "validator": config.select.name(),
            "score": config.select.score(&summary.selected),
            "candidates": "epoch 0 (the model as given) to the last",
            "why": why,
        }));
        self.provenance = Some(p);
        Ok(history)
    }

    /// Names of every BatchNorm's γ/β prefix (`bn1`, `layer1.0.bn2`, `bottleneck.bn1`, ...);
    /// empty for a network without BatchNorm.
    pub fn bn_prefixes(&self) -> Vec<String> {
        match &self.features {
            crate::models::dann::Features::ResNet(f) => {
                let mut names: Vec<String> =
                    f.base.config.sites().into_iter().map(|s| s.bn).collect();
                if f.bottleneck.as_ref().is_some_and(|(_, bn)| bn.is_some()) {
                    names.push("bottleneck.bn1".into());
                }
                names
            }
            crate::models::dann::Features::Digits(f) if f.bottleneck.is_some() => {
                vec!["bottleneck.bn1".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// Checks the target sets against the model.
fn check_data(model: &Dann, data: &TargetData) -> Result<()> {
    if data.target.len() < 2 {
        return Err(Error::input(format!(
            "{}: {} target image(s); source-free adaptation needs at least 2",
            data.target.name(),
            data.target.len()
        )));
    }
    for ds in [Some(&data.target), data.target_eval.as_ref()]
        .into_iter()
        .flatten()
    {
        if ds.labels().is_some() {
            crate::data::folder::check_same_classes(
                "the model",
                &model.classes,
                ds.name(),
                ds.classes(),
            )?;
        }
    }
    Ok(())
}

/// Pseudo-labels of every image of `target` (by index): one evaluation pass (running BN
/// statistics, no gradient), then two rounds of nearest-centroid clustering of the features.
pub fn pseudo_labels(
    model: &Dann,
    target: &Dataset,
    config: &SourceFreeConfig,
) -> Result<Vec<u32>> {
    let classes = model.config.classes;
    let loader = Loader::new(
        target.clone(),
        model.eval_transform()?,
        LoaderOptions {
            batch_size: config.eval_batch,
            shuffle: false,
            workers: config.workers,
            skip_bad: config.skip_bad,
            ..Default::default()
        },
    )?;
    let (mut rows, mut order) = (Vec::new(), Vec::new());
    for batch in loader.epoch(0) {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        let x = Tensor::from_slice(model.gpu(), &batch.images, &batch.shape())?;
        let (f, z) = model.features_and_logits(&x)?;
        rows.push(centroids::Rows {
            unit: centroids::unit_rows_with_one(&f)?,
            probs: prob::softmax_t(&z, 1.0)?,
        });
        order.extend(batch.indices);
        model.gpu().flush()?;
    }
    let found = centroids::labels(&rows, classes, CLUSTER_ROUNDS)?;
    let mut labels = vec![0u32; target.len()];
    for (i, l) in order.into_iter().zip(found) {
        labels[i] = l;
    }
    Ok(labels)
}

/// Rounds of the clustering: one from the soft predictions, one from its labels (SHOT).
pub const CLUSTER_ROUNDS: usize = 2;

/// Loss sums and counts of one epoch, on the GPU.
pub(crate) struct EpochSums {
    loss: Tensor,
    agree: Tensor,
    steps: usize,
    /// Unit weights of the agreement count, kept while the batch size stays the same.
    ones: Option<Tensor>,
}

impl EpochSums {
    /// Zero sums.
    pub(crate) fn new(gpu: &crate::gpu::Gpu) -> Result<EpochSums> {
        Ok(EpochSums {
            loss: Tensor::zeros(gpu, &[1])?,
            agree: Tensor::zeros_of(gpu, &[2], DType::U32)?,
            steps: 0,
            ones: None,
        })
    }

    /// The epoch so far, `batches` batches in (one readback, at an interruption); the steps
    /// trained come last.
    fn partial(&self, batches: usize) -> Result<Partial> {
        Partial::of(batches, &[&self.loss, &self.agree], &[self.steps as u32])
    }

    /// Continues the sums of the epoch an interrupted run saved.
    fn restore(&mut self, p: &Partial) -> Result<()> {
        let [steps] = p.restore(&[&self.loss, &self.agree])?;
        self.steps = steps as usize;
        Ok(())
    }

    /// `n` unit weights, uploaded once per batch size rather than every step.
    fn ones(&mut self, gpu: &crate::gpu::Gpu, n: usize) -> Result<Tensor> {
        if self.ones.as_ref().is_none_or(|t| t.numel() != n) {
            self.ones = Some(Tensor::from_slice(gpu, &vec![1.0; n], &[n])?);
        }
        Ok(self.ones.clone().expect("just set"))
    }
}

/// The run behind [`Dann::adapt_source_free`], from the start or from `resume_at`.
fn run(
    model: &Dann,
    data: &TargetData,
    config: &SourceFreeConfig,
    mut opt: Optimizer,
    resume_at: ResumePoint,
    callbacks: &mut Callbacks,
) -> Result<(History, Option<String>)> {
    let gpu = model.gpu();
    let method = config.method;
    let info = model.info();
    let eval = config.eval_config();
    let target = data.target.without_labels();
    let sets = ScoreSets {
        target: target.sample_keyed(config.score_samples, &[config.seed, TAG_SCORES]),
        dev: None,
    };
    let loader = Loader::new(
        target.clone(),
        model.eval_transform()?,
        LoaderOptions {
            batch_size: config.batch,
            shuffle: true,
            seed: config.seed,
            workers: config.workers,
            skip_bad: config.skip_bad,
            ..Default::default()
        },
    )?;
    let steps_per_epoch = loader.batches_per_epoch();
    let total_steps = steps_per_epoch * config.epochs;
    let run_id = run_id(method, &target);
    let mut pool = EpochPool::new(model.config.classes, config.select.pools());
    let continued = match resume::restore(model, &resume_at.record, &mut pool)? {
        Some(r) => Some((
            r,
            read_record(
                model,
                &resume_at.record,
                config.select,
                config.resume.as_deref().unwrap_or(std::path::Path::new("")),
                target.len(),
            )?,
        )),
        None if config.resume.is_some() => return Err(damaged("missing")),
        None => None,
    };
    // A resumed run goes on after the epochs its checkpoint finished (epoch 0, the model as
    // given, is always among them), inside the next one when it stopped there.
    let done = resume_at.epochs;
    let first = match continued {
        Some(_) => done + 1,
        None => 0,
    };
    let needed = done + usize::from(resume_at.partial.is_some());
    if needed > config.epochs {
        return Err(Error::input(format!(
            "--resume: the checkpoint has trained into epoch {needed}; ask for at least {needed} epochs"
        )));
    }
    // The score set's pixel neighbourhoods, fixed for the run: every epoch's κ, and the
    // safety rule's label-shift check.
    let graph = super::scores::pixel_graph(model, &sets.target, &eval)?;
    let mut clock = RunClock::start();
    callbacks.begin(&RunInfo {
        method: method.name().into(),
        epochs: config.epochs,
        first_epoch: done,
        first_step: resume_at.partial.as_ref().map_or(0, |p| p.step),
        steps_per_epoch,
    })?;
    let mut history = History::default();
    let mut best: resume::Best = None;
    let (mut last_probs, mut best_probs) = (Vec::new(), Vec::new());
    let (mut images_total, mut step_seconds_total, mut warmup) = (0usize, 0f64, None);
    let mut step_no = 0usize;
    // The --init model's parameters and score-set predictions (the safety rule may return it).
    let mut init = None;
    // The interrupted epoch's pseudo-labels.
    let mut resumed_pseudo = None;
    if let Some((r, c)) = continued {
        history.epochs = r.epochs;
        best = r.best;
        best_probs = r.best_probs;
        last_probs = r.last_probs;
        step_no = c.steps;
        init = c.init;
        resumed_pseudo = c.pseudo;
        callbacks.resumed(&history.epochs);
    }
    for epoch in first..=config.epochs {
        let t0 = Instant::now();
        let mut sums = EpochSums::new(gpu)?;
        let (mut lr, mut images, mut first_step) = (0f32, 0usize, None);
        // The interrupted epoch goes on after its last step, with its sums so far and that
        // step's learning rate (the one it reports if no step is left).
        let skip = match (&resume_at.partial, epoch == first) {
            (Some(p), true) => {
                sums.restore(p)?;
                if sums.steps > 0 {
                    lr = config
                        .lr_schedule
                        .at(config.lr, step_no as f32 / total_steps as f32);
                }
                p.step
            }
            _ => 0,
        };
        if epoch > 0 {
            let pseudo = match method.get().pseudo_labels() {
                true if skip > 0 => Some(
                    resumed_pseudo
                        .take()
                        .ok_or_else(|| damaged("pseudo-labels"))?,
                ),
                true => {
                    callbacks.phase("clustering the target features for pseudo-labels");
                    Some(pseudo_labels(model, &target, config)?)
                }
                false => None,
            };
            for (k, batch) in (skip..).zip(loader.epoch_from(epoch as u64 - 1, skip)) {
                let batch = batch?;
                // A batch's statistics need two rows (SHOT skips single-image batches too).
                if batch.len() < 2 {
                    continue;
                }
                // The authors count the step before scheduling it: progress 1/T .. T/T.
                let p = (step_no + 1) as f32 / total_steps as f32;
                lr = config.lr_schedule.at(config.lr, p);
                let labels = pseudo
                    .as_ref()
                    .map(|l| batch.indices.iter().map(|&i| l[i]).collect::<Vec<u32>>());
                clock.before_step();
                let step = TargetStep {
                    batch: &batch,
                    labels: labels.as_deref(),
                    train_seed: crate::train::fit::step_seed(config.seed, step_no as u64),
                };
                train_step(model, config, &mut opt, &mut sums, step, lr)?;
                if let Some(d) = clock.after_step(gpu)? {
                    first_step = Some((d, batch.len()));
                }
                step_no += 1;
                images += batch.len();
                callbacks.batch(&BatchLogs {
                    epoch,
                    epochs: config.epochs,
                    step: k + 1,
                    steps_per_epoch,
                    progress: step_no as f64 / total_steps as f64,
                    lr: lr as f64,
                    lambda: None,
                    elapsed: clock.elapsed(),
                    one_time: clock.one_time(),
                });
                if stop_requested() {
                    let so_far = (&history.epochs, &best, &best_probs, &last_probs, &pool);
                    let kept = SourceFreeState {
                        steps: step_no,
                        init: init.as_ref(),
                        pseudo: pseudo.as_deref(),
                    };
                    let record = || run_record(model, so_far, config.select, &kept);
                    let state = TrainState {
                        params: &model.params,
                        optimizer: &opt,
                        info: &info,
                        run: &run_id,
                        record: Some(&record),
                    };
                    callbacks.interrupt(&state, epoch - 1, &sums.partial(k + 1)?)?;
                    return Err(interrupted(epoch, k + 1, steps_per_epoch));
                }
            }
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        images_total += images;
        step_seconds_total += train_seconds;
        warmup = warmup.or(first_step);
        let (train_loss, train_acc) = read_sums(&sums, method, epoch, steps_per_epoch, lr)?;
        let target_acc = match &data.target_eval {
            Some(ds) => accuracy(model, ds, &eval)?,
            None => None,
        };
        let mut s = score_candidate(model, &sets, &eval)?;
        let probs = std::mem::take(&mut s.probs);
        let pixel_kappa = graph
            .as_ref()
            .and_then(|g| g.kappa(&argmax_rows(&probs, model.config.classes)));
        let logs = EpochLogs {
            method: method.name().to_string(),
            epoch,
            epochs: config.epochs,
            steps: step_no,
            progress: step_no as f64 / total_steps as f64,
            lr: lr as f64,
            train_loss,
            train_acc,
            target_acc,
            entropy: Some(s.entropy),
            im: Some(s.im),
            snd: Some(s.snd),
            mixval: s.mixval,
            pixel_kappa,
            seconds: t0.elapsed().as_secs_f64(),
            images_per_s: steady_rate(images, train_seconds, first_step),
            score_probs: Some(std::sync::Arc::new(probs.clone())),
            ..EpochLogs::default()
        };
        if let Some(score) = config.select.score(&logs) {
            if best.as_ref().is_none_or(|b| score > b.1) {
                best = Some((history.epochs.len(), score, snapshot(model)?));
                best_probs = probs.clone();
            }
        }
        pool.push(model, probs.clone())?;
        if epoch == 0 && config.select == Select::Safe {
            init = Some((snapshot(model)?, probs.clone()));
        }
        last_probs = probs;
        history.epochs.push(logs.clone());
        let so_far = (&history.epochs, &best, &best_probs, &last_probs, &pool);
        let kept = SourceFreeState {
            steps: step_no,
            init: init.as_ref(),
            pseudo: None,
        };
        let record = || run_record(model, so_far, config.select, &kept);
        let state = TrainState {
            params: &model.params,
            optimizer: &opt,
            info: &info,
            run: &run_id,
            record: Some(&record),
        };
        if callbacks.epoch(&logs, &state)? == Control::Stop {
            break;
        }
    }
    let last_labels = argmax_rows(&last_probs, model.config.classes);
    let mut selected_probs = match best {
        Some(_) => best_probs,
        None => last_probs,
    };
    let (ensv_hard, ensv_soft) = (pool.hard_scores(), pool.soft_scores());
    if config.select.pools() {
        for (e, (h, s)) in history
            .epochs
            .iter_mut()
            .zip(ensv_hard.iter().zip(&ensv_soft))
        {
            e.ensv = Some(*h);
            e.ensv_soft = Some(*s);
        }
        let scores = match config.select {
            Select::EnsvSoft => &ensv_soft,
            _ => &ensv_hard,
        };
        if let Some(i) = ensv::best(scores) {
            pool.restore(model, i)?;
            selected_probs = pool.probs(i).to_vec();
            best = Some((i, scores[i], Vec::new()));
        }
    }
    let last = history.epochs.last().cloned().expect("epoch 0 at least");
    let mut safe_why = None;
    if let (Select::Safe, Some((params, probs))) = (config.select, init) {
        let classes = model.config.classes;
        // Only for a loss with a diversity term, the damage the check is for (methods/*.rs).
        let change = graph
            .as_ref()
            .filter(|_| method.get().balances_classes())
            .and_then(|g| g.compare(&argmax_rows(&probs, classes), &last_labels, config.seed));
        let (back, why) = keep_init(&history.epochs[0], &last, change);
        safe_why = Some(why);
        if back {
            best = Some((0, 0.0, params));
            selected_probs = probs;
        }
    }
    let selected = match &best {
        Some((i, _, params)) => {
            if !params.is_empty() {
                restore(model, params)?;
            }
            history.epochs[*i].clone()
        }
        None => last.clone(),
    };
    let epochs_run = history.len();
    let epoch_seconds: f64 = history.epochs.iter().map(|m| m.seconds).sum();
    let (images_per_s, warmup_seconds, seconds_per_epoch) = crate::train::fit::run_rates(
        images_total,
        step_seconds_total,
        warmup,
        epoch_seconds,
        epochs_run,
    );
    history.summary = Some(RunSummary {
        kind: "summary",
        method: method.name().to_string(),
        seed: config.seed,
        epochs_run,
        select: config.select.name().to_string(),
        target_test_acc: selected.target_acc,
        selected,
        last,
        source_test_acc: None,
        pad_before: None,
        pad_after: None,
        seconds: clock.elapsed().as_secs_f64(),
        seconds_per_epoch,
        images_per_s,
        warmup_seconds,
        ensv: ensv_hard,
        ensv_soft,
        selected_probs,
        classes: model.config.classes,
    });
    callbacks.end(&history)?;
    Ok((history, safe_why))
}

/// One target batch of a source-free step: its images and, when the method uses them, its
/// pseudo-labels.
pub(crate) struct TargetStep<'a> {
    pub batch: &'a crate::data::Batch,
    pub labels: Option<&'a [u32]>,
    /// New every step: draws the bottleneck's dropout masks (networks that have one).
    pub train_seed: u32,
}

/// One optimizer step on a target batch. The loss and the agreement with the pseudo-labels
/// are summed on the GPU.
pub(crate) fn train_step(
    model: &Dann,
    config: &SourceFreeConfig,
    opt: &mut Optimizer,
    sums: &mut EpochSums,
    step: TargetStep,
    lr: f32,
) -> Result<()> {
    let TargetStep {
        batch,
        labels,
        train_seed,
    } = step;
    let gpu = model.gpu();
    let x = Tensor::from_slice(gpu, &batch.images, &batch.shape())?;
    let pseudo = labels
        .map(|l| Tensor::from_u32(gpu, l, &[l.len()]))
        .transpose()?;
    let mut tape = Tape::new();
    let xv = tape.input(x);
    let f = model.training_features(&mut tape, xv, train_seed)?;
    let z = model.label_logits(&mut tape, f)?;
    let roots = config
        .method
        .get()
        .losses(&mut tape, z, pseudo.as_ref(), &config.weights)?;
    for &r in &roots {
        ew::accumulate(&sums.loss, tape.tensor(r))?;
    }
    if let Some(p) = &pseudo {
        let w = sums.ones(gpu, batch.len())?;
        softmax_xent::argmax_correct(tape.tensor(z), p, &w, &sums.agree)?;
    }
    let grads = tape.backward(&roots)?;
    opt.step(&model.params, &grads, lr)?;
    sums.steps += 1;
    gpu.sync()
}

/// The epoch's mean loss and agreement with the pseudo-labels (0 without them); epoch 0
/// trains nothing and reports zeros.
fn read_sums(
    sums: &EpochSums,
    method: SourceFree,
    epoch: usize,
    steps_per_epoch: usize,
    lr: f32,
) -> Result<(f64, f64)> {
    if sums.steps == 0 {
        return Ok((0.0, 0.0));
    }
    let loss = f64::from(sums.loss.to_vec()?[0]) / sums.steps as f64;
    check_loss(
        method.name(),
        loss,
        &BadLoss {
            epoch,
            first_bad_step: None,
            steps: steps_per_epoch,
            lr: lr as f64,
        },
    )?;
    let c = sums.agree.to_vec_u32()?;
    let agree = match c[1] {
        0 => 0.0,
        n => f64::from(c[0]) / f64::from(n),
    };
    Ok((loss, agree))
}

/// What one step's backward gives when `features` [rows, dim] stand in for the feature
/// extractor's output: the gradient of every trainable parameter it reaches, by name, and of
/// the features. `pseudo` holds the rows' pseudo-labels (methods that use them). Call after
/// the method's `prepare` froze what it keeps fixed; nothing is updated. Checks a method's
/// losses against a reference (`tests/it/train/adapt/source_free.rs`).
pub fn gradients_from_features(
    model: &Dann,
    config: &SourceFreeConfig,
    features: &Tensor,
    pseudo: Option<&[u32]>,
) -> Result<(Vec<(String, Tensor)>, Tensor)> {
    let gpu = model.gpu();
    let pseudo = pseudo
        .map(|l| Tensor::from_u32(gpu, l, &[l.len()]))
        .transpose()?;
    let mut tape = Tape::new();
    let f = tape.input_with_grad(features.clone());
    let z = model.label_logits(&mut tape, f)?;
    let roots = config
        .method
        .get()
        .losses(&mut tape, z, pseudo.as_ref(), &config.weights)?;
    let (grads, df) = tape.backward_to(&roots, &[f])?;
    let named = grads
        .into_iter()
        .map(|(id, g)| (model.params.get(id).name.clone(), g))
        .collect();
    let df = match df.into_iter().next().flatten() {
        Some(d) => d,
        None => Tensor::zeros(gpu, features.shape())?,
    };
    Ok((named, df))
}
