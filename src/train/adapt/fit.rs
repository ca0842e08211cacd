//! `Dann::fit`: the epoch loop of an adaptation run — batches, schedules, per-epoch
//! evaluation, label-free selection, the run summary — with callbacks at every step and epoch.

use std::time::Instant;

use super::ensv::{self, EpochPool};
use super::resume;
use super::scores::{accuracy, proxy_a_distance, score_candidate, ScoreSets};
use super::step::{restore, snapshot, step, EpochAccumulators, StepBatch, StepSetup};
use super::{validate_model, AdaptConfig, MethodState, Select};
use crate::autograd::Lambda;
use crate::data::{AdaptData, Dataset, DomainLoader, DomainLoaderOptions, Loader, LoaderOptions};
use crate::error::{Error, Result};
use crate::models::{Dann, Model};
use crate::optim::{Optimizer, Rule};
use crate::train::callback::Callbacks;
use crate::train::checkpoint::{self, RunId};
use crate::train::clock::RunClock;
use crate::train::fit::steady_rate;
use crate::train::interrupt::{check_collapse, check_loss, interrupted, stop_requested, BadLoss};
use crate::train::metrics::ProxyADistance;
use crate::train::{
    BatchLogs, Callback, Control, EpochLogs, History, RunInfo, RunSummary, TrainState,
};

/// Tags of the seeded subsets scored each epoch and used for the proxy A-distance.
const TAG_SCORES: u64 = 0x5343_4f52;
const TAG_PAD: u64 = 0x5041_4453;
const TAG_DEV_HELD_OUT: u64 = 0x4445_5648;

/// Most held-out source images DEV scores per epoch: half the default score set, which keeps
/// DEV's share of an epoch small while its weighted mean still averages hundreds of images.
const DEV_SAMPLES: usize = 500;

/// The sets every epoch's candidate is scored on (see [`ScoreSets`]): `score_samples` target
/// training images; for DEV, up to [`DEV_SAMPLES`] held-out labelled source images (the `--source-val-split` part, else `--source-test`). `None`
/// without a target.
pub(crate) fn score_sets(
    data: &AdaptData,
    source_val: Option<&Dataset>,
    config: &AdaptConfig,
) -> Option<ScoreSets> {
    let n = config.score_samples;
    let target = data.target.as_ref()?.without_labels();
    let held_out = source_val.or(data.source_eval.as_ref());
    let n_dev = n.min(DEV_SAMPLES);
    Some(ScoreSets {
        target: target.sample_keyed(n, &[config.seed, TAG_SCORES]),
        dev: held_out.map(|h| h.sample_keyed(n_dev, &[config.seed, TAG_DEV_HELD_OUT])),
    })
}

/// Where the batches come from: half source / half target when the method needs target rows,
/// source only otherwise.
struct Batches {
    domain: Option<DomainLoader>,
    source: Loader,
    steps_per_epoch: usize,
}

impl Batches {
    fn new(
        model: &Dann,
        data: &AdaptData,
        target: Option<&Dataset>,
        c: &AdaptConfig,
    ) -> Result<Self> {
        let tf = model.eval_transform()?;
        let domain = match (c.method.get().needs_target(), target) {
            (true, Some(t)) => Some(DomainLoader::new(
                data.source.clone(),
                t.clone(),
                tf.clone(),
                DomainLoaderOptions {
                    batch_size_per_domain: c.batch,
                    seed: c.seed,
                    workers: c.workers,
                    prefetch: 2,
                    skip_bad: c.skip_bad,
                },
            )?),
            _ => None,
        };
        let source = Loader::new(
            data.source.clone(),
            tf,
            LoaderOptions {
                batch_size: c.batch,
                shuffle: true,
                seed: c.seed,
                workers: c.workers,
                skip_bad: c.skip_bad,
                ..Default::default()
            },
        )?;
        let steps_per_epoch = match &domain {
            Some(l) => l.steps_per_source_pass(),
            None => source.batches_per_epoch(),
        };
        Ok(Batches {
            domain,
            source,
            steps_per_epoch,
        })
    }

    /// Images that could not be decoded, sorted, each once.
    fn skipped(&self) -> Vec<String> {
        let mut skipped = self.source.skipped();
        if let Some(l) = &self.domain {
            skipped.extend(l.skipped());
        }
        skipped.sort();
        skipped.dedup();
        skipped
    }
}

impl Dann {
    /// Trains by `config.method` on `data` — labelled source batches, plus unlabelled target
    /// batches for DANN — evaluating after every epoch (target accuracy when target labels
    /// exist, entropy / IM / SND of the target predictions). At the end the model holds the
    /// parameters `config.select` chose. Callbacks see every step and epoch and may stop the
    /// run. Keras: `history = model.fit(source_data, target_data)`.
    ///
    /// ```no_run
    /// use dak::prelude::*;
    /// # fn main() -> dak::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let data = load_mnist_mnistm()?;
    /// let mut dann = Dann::digits(&gpu, data.classes(), 0)?;
    /// let history = dann.fit(&data, &AdaptConfig { epochs: 10, ..Default::default() }, &mut [])?;
    /// println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
    /// # Ok(()) }
    /// ```
    pub fn fit(
        &mut self,
        data: &AdaptData,
        config: &AdaptConfig,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        validate_model(self, config, data)?;
        // The method's heads exist before the optimizer and any resume checkpoint see them.
        let state = config.method.prepare(self, config.seed)?;
        for prefix in self.base_prefixes() {
            self.params.set_lr_mult(prefix, config.backbone_lr_mult);
        }
        let mut opt = Optimizer::new(Rule::Sgd {
            momentum: config.momentum,
            nesterov: false,
            weight_decay: 0.0,
        });
        let resume_at = match &config.resume {
            Some(path) => checkpoint::load_resume(
                path,
                &mut self.params,
                &mut opt,
                &self.classes,
                &run_id(config, data),
            )?,
            None => checkpoint::ResumePoint::default(),
        };
        let first_epoch = resume_at.epochs;
        let has_record = resume_at.record.metadata.contains_key("epochs");
        if first_epoch > 0 && !has_record && config.select != Select::Last {
            return Err(Error::input(format!(
                "--resume: this checkpoint was written by an older dak without the run's selection state; --select {} cannot continue it (start again, or use --select last)",
                config.select.name()
            )));
        }
        // A finished run's checkpoint with its record only needs finishing (a --compare
        // resumed after the method ended); one without it has nothing left to do.
        let finished_with_record = first_epoch == config.epochs && has_record;
        if first_epoch >= config.epochs && !finished_with_record {
            return Err(Error::input(format!(
                "the resume checkpoint has done {first_epoch} epoch(s) already; ask for more than {first_epoch} epochs"
            )));
        }
        run(
            self,
            data,
            config,
            opt,
            &state,
            resume_at,
            &mut Callbacks(callbacks),
        )
    }
}

/// What an adaptation run's resume checkpoints say about it.
fn run_id(config: &AdaptConfig, data: &AdaptData) -> RunId {
    RunId {
        method: config.method.name().into(),
        images: data.source.len(),
    }
}

/// The run behind [`Dann::fit`].
fn run(
    model: &Dann,
    data: &AdaptData,
    config: &AdaptConfig,
    mut opt: Optimizer,
    state: &MethodState,
    resume_at: checkpoint::ResumePoint,
    callbacks: &mut Callbacks,
) -> Result<History> {
    let first_epoch = resume_at.epochs;
    // Steps of `first_epoch` an interrupted run had done already.
    let first_skip = resume_at.partial.as_ref().map_or(0, |p| p.step);
    let mut clock = RunClock::start();
    // `--select source-val`: train on the rest of the source, score the held-out part.
    let train_data;
    let (data, source_val) = match super::source_split(config, data)? {
        Some((train, val)) => {
            train_data = AdaptData {
                source: train,
                ..data.clone()
            };
            (&train_data, Some(val))
        }
        None => (data, None),
    };
    let gpu = model.gpu();
    let method = config.method;
    let info = model.info();
    let target_train = data.target.as_ref().map(|t| t.without_labels());
    let score_sets = score_sets(data, source_val.as_ref(), config);
    let score_set = score_sets.as_ref().map(|s| &s.target);
    let pad_source = data
        .source_eval
        .as_ref()
        .unwrap_or(&data.source)
        .sample_keyed(config.score_samples, &[config.seed, TAG_PAD]);
    let measure_pad = |model: &Dann| -> Result<Option<ProxyADistance>> {
        match (&score_set, config.pad) {
            (Some(t), true) => proxy_a_distance(model, &pad_source, t, config).map(Some),
            _ => Ok(None),
        }
    };
    let run_id = run_id(config, data);
    let mut pool = EpochPool::new(model.config.classes, config.select.pools());
    let restored = resume::restore(model, &resume_at.record, &mut pool)?;
    // A resumed run's "before" is the one its checkpoint recorded (none in older ones).
    let pad_before = match (first_epoch, &restored) {
        (0, _) => measure_pad(model)?,
        (_, Some(r)) => r.pad_before,
        (_, None) => None,
    };

    let batches = Batches::new(model, data, target_train.as_ref(), config)?;
    let steps_per_epoch = batches.steps_per_epoch;
    let total_steps = steps_per_epoch * config.epochs;
    let mut step_no = first_epoch * steps_per_epoch + first_skip;
    let mut stream = batches.domain.as_ref().map(|l| l.stream(step_no as u64));
    let lambda = Lambda::new(0.0);
    callbacks.begin(&RunInfo {
        method: method.name().into(),
        epochs: config.epochs,
        first_epoch,
        first_step: first_skip,
        steps_per_epoch,
    })?;

    let mut history = History::default();
    let mut best: resume::Best = None;
    // The score-set predictions of the last and of the best epoch so far.
    let (mut last_probs, mut best_probs) = (Vec::new(), Vec::new());
    if let Some(r) = restored {
        history.epochs = r.epochs;
        best = r.best;
        best_probs = r.best_probs;
        last_probs = r.last_probs;
        callbacks.resumed(&history.epochs);
    }
    let mut images_total = 0usize;
    // Seconds spent in training steps (all epochs), and the run's first step (its time and
    // images): the one-time kernel compile and warm-up, kept out of the steady rates.
    let (mut step_seconds_total, mut warmup) = (0f64, None);
    for epoch in first_epoch..config.epochs {
        let t0 = Instant::now();
        let acc = EpochAccumulators::new(gpu)?;
        let skip = match (&resume_at.partial, epoch == first_epoch) {
            (Some(p), true) => {
                acc.restore(p)?;
                p.step
            }
            _ => 0,
        };
        let (mut lr, mut lam) = (config.lr, 0.0f32);
        let mut images = 0usize;
        // The run's first step, when it falls in this epoch: (its time, its images).
        let mut first_step = None;
        let so_far = (&history.epochs, &best, &best_probs, &last_probs, &pool);
        let record = || resume::record(model, so_far, pad_before);
        let mut run_step = |k: usize, b: &StepBatch, opt: &mut Optimizer| -> Result<()> {
            let p = step_no as f32 / total_steps as f32;
            lr = config.lr_schedule.at(config.lr, p);
            lam = match method.get().adversarial() {
                true => config.lambda.at(p),
                false => 0.0,
            };
            lambda.set(lam);
            let seed = crate::train::fit::step_seed(config.seed, step_no as u64);
            clock.before_step();
            let setup = StepSetup {
                model,
                method,
                state,
                lambda: &lambda,
                train_seed: seed,
            };
            step(&setup, opt, &acc, b, lr)?;
            if let Some(d) = clock.after_step(gpu)? {
                first_step = Some((d, b.n_source + b.n_target));
            }
            step_no += 1;
            images += b.n_source + b.n_target;
            callbacks.batch(&BatchLogs {
                epoch: epoch + 1,
                epochs: config.epochs,
                step: k + 1,
                steps_per_epoch,
                progress: step_no as f64 / total_steps as f64,
                lr: lr as f64,
                lambda: Some(lam as f64),
                elapsed: clock.elapsed(),
                one_time: clock.one_time(),
            });
            if stop_requested() {
                let state = TrainState {
                    params: &model.params,
                    optimizer: opt,
                    info: &info,
                    run: &run_id,
                    record: Some(&record),
                };
                callbacks.interrupt(&state, epoch, &acc.partial(k + 1)?)?;
                return Err(interrupted(epoch + 1, k + 1, steps_per_epoch));
            }
            Ok(())
        };
        match stream.as_mut() {
            Some(stream) => {
                for k in skip..steps_per_epoch {
                    let b = stream.next().unwrap_or_else(|| {
                        Err(Error::runtime("the domain batch stream ended early"))
                    })?;
                    if b.n_source == 0 {
                        continue;
                    }
                    let sb = StepBatch {
                        images: &b.images,
                        n_source: b.n_source,
                        n_target: b.n_target,
                        source_labels: &b.source_labels,
                    };
                    run_step(k, &sb, &mut opt)?;
                }
            }
            None => {
                for (k, b) in batches.source.epoch(epoch as u64).enumerate().skip(skip) {
                    let b = b?;
                    if b.is_empty() {
                        continue;
                    }
                    let sb = StepBatch {
                        images: &b.images,
                        n_source: b.len(),
                        n_target: 0,
                        source_labels: &b.labels,
                    };
                    run_step(k, &sb, &mut opt)?;
                }
            }
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        images_total += images;
        step_seconds_total += train_seconds;
        warmup = warmup.or(first_step);

        let means = acc.read(
            steps_per_epoch,
            method.get().adversarial(),
            method.get().needs_target(),
        )?;
        let at = BadLoss {
            epoch: epoch + 1,
            first_bad_step: means.first_bad_label,
            steps: steps_per_epoch,
            lr: lr as f64,
        };
        check_loss("label", means.label_loss, &at)?;
        // The watch covers every loss of the method (the domain loss among them).
        let at = BadLoss {
            first_bad_step: means.first_bad_adapt,
            ..at
        };
        if let Some((domain_loss, _)) = means.domain {
            check_loss("domain", domain_loss, &at)?;
        }
        if let Some(l) = means.adapt_loss {
            check_loss(method.name(), l, &at)?;
        }
        let target_acc = match &data.target_eval {
            Some(ds) => accuracy(model, ds, config)?,
            None => None,
        };
        let (scores, probs) = match &score_sets {
            Some(sets) => {
                let mut s = score_candidate(model, sets, config)?;
                let probs = std::mem::take(&mut s.probs);
                let hint = match method.get().adversarial() {
                    true => "try a lower learning rate or adaptation weight (--lr, --lambda-max or --constant-lambda)",
                    false => "try a lower learning rate (--lr)",
                };
                let rows = probs.len() / model.config.classes.max(1);
                check_collapse(s.logit_spread, rows, &at, hint)?;
                (Some(s), probs)
            }
            None => (None, Vec::new()),
        };
        let logs = EpochLogs {
            method: method.name().to_string(),
            epoch: epoch + 1,
            epochs: config.epochs,
            steps: step_no,
            progress: step_no as f64 / total_steps as f64,
            lr: lr as f64,
            lambda: Some(lam as f64),
            train_loss: means.label_loss,
            train_acc: means.source_acc,
            val_loss: None,
            val_acc: match &source_val {
                Some(ds) => accuracy(model, ds, config)?,
                None => None,
            },
            domain_loss: means.domain.map(|d| d.0),
            adapt_loss: means.adapt_loss,
            domain_acc: means.domain.and_then(|d| d.1),
            target_acc,
            entropy: scores.as_ref().map(|s| s.entropy),
            im: scores.as_ref().map(|s| s.im),
            snd: scores.as_ref().map(|s| s.snd),
            ensv: None,
            ensv_soft: None,
            mixval: scores.as_ref().and_then(|s| s.mixval),
            pixel_kappa: None,
            dev: scores.as_ref().and_then(|s| s.dev),
            source_confidence: scores.as_ref().and_then(|s| s.source_confidence),
            domain_shift: scores.as_ref().and_then(|s| s.domain_shift),
            seconds: t0.elapsed().as_secs_f64(),
            images_per_s: steady_rate(images, train_seconds, first_step),
            feature_cache: false,
            score_probs: (!probs.is_empty()).then(|| std::sync::Arc::new(probs.clone())),
        };
        // Keep the best parameters by the label-free rule (EnsV: every epoch, ranked at the end).
        if let Some(s) = config.select.score(&logs) {
            if best.as_ref().is_none_or(|b| s > b.1) {
                best = Some((history.epochs.len(), s, snapshot(model)?));
                best_probs = probs.clone();
            }
        }
        if score_sets.is_some() {
            pool.push(model, probs.clone())?;
        }
        last_probs = probs;
        history.epochs.push(logs.clone());
        let so_far = (&history.epochs, &best, &best_probs, &last_probs, &pool);
        let record = || resume::record(model, so_far, pad_before);
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
    drop(stream);
    history.skipped = batches.skipped();

    let mut selected_probs = match best {
        Some(_) => best_probs,
        None => last_probs,
    };
    // Every epoch's EnsV scores (hard and soft) go into the summary; the epochs' own logs get
    // them only when the run selects by them, so callbacks and the history see the same epochs.
    let (mut ensv_hard, mut ensv_soft) = (Vec::new(), Vec::new());
    if score_sets.is_some() {
        ensv_hard = pool.hard_scores();
        ensv_soft = pool.soft_scores();
        if config.select.pools() {
            // A resumed run scores only the epochs it trained itself.
            let scored = history.epochs.len() - ensv_hard.len().min(history.epochs.len());
            for (e, (h, s)) in history.epochs[scored..]
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
                best = Some((scored + i, scores[i], Vec::new()));
            }
        }
    }
    let last = history.epochs.last().cloned().expect("at least one epoch");
    let selected = match &best {
        Some((epoch, _, params)) => {
            if !params.is_empty() {
                restore(model, params)?;
            }
            history.epochs[*epoch].clone()
        }
        None => last.clone(),
    };
    let source_test_acc = match &data.source_eval {
        Some(ds) => accuracy(model, ds, config)?,
        None => None,
    };
    let pad_after = measure_pad(model)?;
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
        source_test_acc,
        pad_before,
        pad_after,
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
    Ok(history)
}
