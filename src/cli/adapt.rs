//! `dak adapt`: DANN (or the source-only baseline) from a labelled source to a target domain.
//! Without `--source`/`--target` it runs the bundled MNIST → MNIST-M benchmark, built in memory.

use std::path::{Path, PathBuf};

use crate::data::{AdaptData, PairSpec};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::dann::DannConfig;
use crate::models::file::Provenance;
use crate::models::{Backbone, Dann};
use crate::train::adapt::candidates::{self, Candidate, CandidateIndex, RunCandidates};
use crate::train::adapt::{self, compare, AdaptConfig, LambdaSchedule, LrSchedule, Method, Select};
use crate::train::callbacks::{CandidateStore, Checkpoints, Progress};
use crate::train::{plot, Callback, EpochLogs, RunSummary};

pub use super::adapt_args::AdaptArgs;

/// The sets the arguments name.
pub fn pair_spec(args: &AdaptArgs) -> PairSpec {
    PairSpec {
        source: args.source.clone(),
        target: args.target.clone(),
        target_test: args.target_test.clone(),
        source_test: args.source_test.clone(),
        limit: args.limit,
    }
}

/// The datasets the arguments name (or the bundled benchmark).
pub fn load_data(args: &AdaptArgs) -> Result<AdaptData> {
    pair_spec(args).load()
}

/// The validator `--select` names, or the default: `safe` with `--compare`, else `last`.
pub fn select_name(args: &AdaptArgs) -> String {
    match (&args.select, &args.compare) {
        (Some(s), _) => s.clone(),
        (None, Some(_)) => "safe".into(),
        (None, None) => "last".into(),
    }
}

/// The configuration the arguments describe (`--compare` replaces its method per run).
pub fn config(args: &AdaptArgs) -> Result<AdaptConfig> {
    let method = Method::parse(args.method.as_deref().unwrap_or("dann"), "--method")?;
    let select = Select::parse(&select_name(args), "--select")?;
    Ok(AdaptConfig {
        method,
        epochs: args.epochs.unwrap_or(10),
        batch: args.batch,
        seed: args.seed,
        lr: args.lr.unwrap_or(0.01),
        lr_schedule: if args.constant_lr {
            LrSchedule::Constant
        } else {
            LrSchedule::Dann
        },
        lambda: match args.constant_lambda {
            Some(v) => LambdaSchedule::Constant(v),
            None => LambdaSchedule::Dann {
                max: args.lambda_max.unwrap_or(1.0),
            },
        },
        momentum: args.momentum,
        // A pretrained base moves at a tenth of the head's rate (DESIGN §6).
        backbone_lr_mult: args.backbone_lr_mult.unwrap_or(if args.weights.is_some() {
            0.1
        } else {
            1.0
        }),
        select,
        source_val_split: args.source_val_split,
        skip_bad: args.skip_bad,
        workers: args.workers,
        score_samples: args.score_samples,
        pad: !args.no_pad,
        resume: args.resume.clone(),
        ..AdaptConfig::default()
    })
}

/// The network the arguments describe, checked before any data is read (`classes` is a
/// placeholder until the data is known).
pub fn model_config(args: &AdaptArgs, classes: usize) -> Result<DannConfig> {
    let backbone = Backbone::parse(&args.backbone)?;
    if let Some(r) = args.recipe.as_deref().filter(|r| *r != "shot") {
        return Err(Error::input(format!(
            "--recipe {r}: unknown; the one recipe is `shot` (SHOT's source training)"
        )));
    }
    let shot = args.recipe.is_some();
    if backbone == Backbone::Digits
        && (args.weights.is_some() || (args.bottleneck.is_some() && !shot))
    {
        return Err(Error::input(
            "--weights and --bottleneck apply to --backbone vgg16 or resnet* (or --bottleneck with --recipe shot); the digits network trains from scratch",
        ));
    }
    if let Some(w) = args.weights.as_ref().filter(|w| !w.is_file()) {
        return Err(Error::input(format!(
            "--weights {}: no such file (ImageNet VGG16 or ResNet safetensors, or a dak model)",
            w.display()
        )));
    }
    let bn = crate::models::classifier::BnTraining::parse(&args.bn)?;
    if bn == crate::models::classifier::BnTraining::Frozen && backbone.resnet().is_none() {
        return Err(Error::input(format!(
            "--bn frozen applies to a ResNet backbone; `{}` has no BatchNorm",
            backbone.name()
        )));
    }
    let mut c = DannConfig::paper(backbone, classes);
    c.input_size = args.input_size.or(c.input_size);
    c.bottleneck = args.bottleneck.unwrap_or(c.bottleneck);
    if shot {
        c = crate::models::dann::shot_recipe(c, args.bottleneck)?;
    }
    c.validate()?;
    Ok(c)
}

/// A freshly initialised network for `classes` (every method of a run starts from it).
fn new_model(args: &AdaptArgs, gpu: &Gpu, classes: &[String]) -> Result<Dann> {
    let c = model_config(args, classes.len())?;
    match Backbone::parse(&c.backbone)? {
        Backbone::Vgg16 => Dann::vgg16(
            gpu,
            classes,
            args.weights.as_deref(),
            c.input_size(),
            c.bottleneck,
            args.seed,
        ),
        Backbone::ResNet(_) => {
            let mut model = Dann::resnet(gpu, &c, classes, args.weights.as_deref(), args.seed)?;
            if args.bn == "frozen" {
                model.freeze_base_bn()?;
            }
            Ok(model)
        }
        // The paper's digits network, or SHOT's recipe on it.
        Backbone::Digits => Dann::new(gpu, c, classes.to_vec(), args.seed),
    }
}

/// The record of how this run's models are made (`ModelInfo::provenance`).
fn provenance(args: &AdaptArgs, method: &str, seed: u64) -> Provenance {
    let spec = pair_spec(args).absolute();
    let data = match spec.source {
        None => serde_json::json!("bundled MNIST -> MNIST-M"),
        Some(_) => serde_json::to_value(&spec).expect("plain JSON"),
    };
    let mut p = Provenance::new(super::command_line(), method, seed, data);
    p.parent = args.weights.as_ref().map(|w| {
        std::path::absolute(w)
            .unwrap_or_else(|_| w.clone())
            .display()
            .to_string()
    });
    p
}

/// `out` with `-tag` before the extension (`model.safetensors` → `model-tag.safetensors`).
fn sibling(out: &Path, tag: &str) -> PathBuf {
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let name = match out.extension() {
        Some(ext) => format!("{stem}-{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{tag}"),
    };
    out.with_file_name(name)
}

pub use super::adapt_summary::print_summary;

/// Every check that needs no GPU and no data: numbers, output paths, weights and resume files.
fn check_args(args: &AdaptArgs) -> Result<()> {
    use crate::models::expect::{check, Expect};
    use crate::validate::{count, number, number_opt, output_file, output_opt, Range};
    if let Some(e) = args.epochs {
        count("--epochs", e, 1)?;
    }
    count("--batch", args.batch, 1)?;
    count("--score-samples", args.score_samples, 2)?;
    crate::validate::workers("--workers", args.workers)?;
    if let Some(n) = args.limit {
        count("--limit", n, 1)?;
    }
    number_opt("--lr", args.lr.map(f64::from), Range::Positive)?;
    number_opt(
        "--source-val-split",
        args.source_val_split,
        Range::Open(0.0, 1.0),
    )?;
    // The reversed gradient is λ times the domain loss's: past ~10 it swamps the label loss
    // and the features collapse (a run at 1e30 ended at chance, entropy ln 10, exit 0).
    number_opt(
        "--lambda-max",
        args.lambda_max.map(f64::from),
        Range::Closed(0.0, 10.0),
    )?;
    number_opt(
        "--constant-lambda",
        args.constant_lambda.map(f64::from),
        Range::Closed(0.0, 10.0),
    )?;
    number(
        "--momentum",
        args.momentum.into(),
        Range::HalfOpen(0.0, 1.0),
    )?;
    number_opt(
        "--backbone-lr-mult",
        args.backbone_lr_mult.map(f64::from),
        Range::NonNegative,
    )?;
    check_conflicts(args)?;
    output_file("--out", &args.out)?;
    if let Some(dir) = &args.candidates {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::input(format!(
                "--candidates {}: is a file; give a folder (created if missing)",
                dir.display()
            )));
        }
    }
    output_opt("--metrics", args.metrics.as_deref())?;
    output_opt("--plot", args.plot.as_deref())?;
    check_files_apart(args)?;
    if let Some(w) = &args.weights {
        let want = match Backbone::parse(&args.backbone)?.resnet() {
            Some(config) => Expect::ResNetBase(config),
            None => Expect::Vgg16Base,
        };
        check("--weights", w, want)?;
    }
    if let Some(r) = &args.resume {
        let header = check("--resume", r, Expect::Resume("dann-"))?;
        let run = crate::train::checkpoint::run_method(&header);
        if let Some(m) = run.and_then(crate::train::adapt::SourceFree::find) {
            return Err(Error::input(format!(
                "--resume {}: the checkpoint of a source-free `{}` run; continue it with the command that run printed (`dak adapt --source-free --init MODEL ... --resume {0}`), or drop --resume",
                r.display(),
                m.name()
            )));
        }
        if let Some(list) = &args.compare {
            let own: Vec<PathBuf> = compare::parse_list(list)?
                .iter()
                .map(|m| Checkpoints::resume_path(&sibling(&args.out, m.name())))
                .collect();
            if !own
                .iter()
                .any(|c| crate::validate::resolved(c) == crate::validate::resolved(r))
            {
                return Err(Error::input(format!(
                    "--resume {}: with --compare, pass the checkpoint of one of its methods ({}), as the interrupted run printed",
                    r.display(),
                    own.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The checkpoint a `--compare` method resumes from: its own, when the comparison is resumed
/// and the method had written one (finished methods are only finished; the rest start).
fn compare_resume(args: &AdaptArgs, method: &str) -> Option<PathBuf> {
    args.resume.as_ref()?;
    let ckpt = Checkpoints::resume_path(&sibling(&args.out, method));
    ckpt.is_file().then_some(ckpt)
}

/// Refuses flags that contradict each other (one line each, before any work).
fn check_conflicts(args: &AdaptArgs) -> Result<()> {
    if args.target_unlabelled {
        return Err(Error::input(
            "--target-unlabelled is for --source-free runs; a source-based run already reads a --target whose sub-folders are not the source's classes as unlabelled images",
        ));
    }
    if let Some(init) = &args.init {
        return Err(Error::input(format!(
            "--init {}: adapting a model you have is --source-free (add it, and drop --source); to start a source-based run from a model's base use --weights",
            init.display()
        )));
    }
    if let Some(m) = args
        .method
        .as_deref()
        .and_then(crate::train::adapt::SourceFree::find)
    {
        return Err(Error::input(format!(
            "--method {0} adapts without the source: use --source-free --init MODEL --method {0} (and no --source)",
            m.name()
        )));
    }
    if let (Some(m), Some(list)) = (&args.method, &args.compare) {
        return Err(Error::input(format!(
            "--method {m} with --compare {list}: --compare trains source-only and each method it lists; put {m} in the list and drop --method"
        )));
    }
    if let (Some(c), Some(m)) = (args.constant_lambda, args.lambda_max) {
        return Err(Error::input(format!(
            "--constant-lambda {c} with --lambda-max {m}: one fixes the coefficient, the other ends its schedule; keep one"
        )));
    }
    Ok(())
}

/// Refuses outputs that collide with each other (the files `--out` implies included: each
/// `--compare` method's model and every resume checkpoint) or with an input.
fn check_files_apart(args: &AdaptArgs) -> Result<()> {
    use crate::validate::distinct_files;
    let mut derived: Vec<(String, PathBuf)> = Vec::new();
    let models: Vec<(String, PathBuf)> = match &args.compare {
        Some(list) => compare::parse_list(list)?
            .iter()
            .map(|m| {
                let path = sibling(&args.out, m.name());
                (
                    format!("--out (the {} model {})", m.name(), path.display()),
                    path,
                )
            })
            .collect(),
        None => Vec::new(),
    };
    for (_, path) in models
        .iter()
        .chain([(String::new(), args.out.clone())].iter())
    {
        let ckpt = Checkpoints::resume_path(path);
        derived.push((
            format!("--out (its resume checkpoint {})", ckpt.display()),
            ckpt,
        ));
    }
    let explicit: Vec<(&str, &Path)> = [
        ("--out", Some(args.out.as_path())),
        ("--metrics", args.metrics.as_deref()),
        ("--plot", args.plot.as_deref()),
    ]
    .into_iter()
    .filter_map(|(f, p)| p.map(|p| (f, p)))
    .collect();
    let mut outputs = explicit.clone();
    outputs.extend(
        models
            .iter()
            .chain(&derived)
            .map(|(f, p)| (f.as_str(), p.as_path())),
    );
    let weights: Vec<(&str, &Path)> = args
        .weights
        .iter()
        .map(|w| ("--weights", w.as_path()))
        .collect();
    distinct_files(&outputs, &weights)?;
    // Continuing a run rewrites its own checkpoint; no other output may be that file.
    let resume: Vec<(&str, &Path)> = args
        .resume
        .iter()
        .map(|r| ("--resume", r.as_path()))
        .collect();
    distinct_files(&explicit, &resume)
}

/// Runs `dak adapt`.
pub fn run(args: &AdaptArgs) -> Result<()> {
    run_with(args, &Gpu::new)
}

/// The arguments with `--weights none` read as no weights (the word `dak fine-tune` takes for
/// a base from seeded initialisation).
fn normalised(args: &AdaptArgs) -> AdaptArgs {
    let mut a = args.clone();
    if a.weights.as_deref() == Some(Path::new("none")) {
        a.weights = None;
    }
    a
}

/// [`run`] on the device `open_gpu` gives, called only once every argument, file and image
/// has passed its checks.
pub fn run_with(args: &AdaptArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    super::skip_bad_hint(run_checked(args, open_gpu))
}

fn run_checked(args: &AdaptArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    if args.source_free {
        return super::adapt_source_free::run_with(args, open_gpu);
    }
    let args = &normalised(args);
    check_args(args)?;
    let base = config(args)?;
    let methods = match &args.compare {
        Some(list) => compare::parse_list(list)?,
        None => vec![base.method],
    };
    let backbone = Backbone::parse(&args.backbone)?;
    model_config(args, 2)?;
    let (data, skipped_up_front) = load_data(args)?.check_images(args.skip_bad)?;
    if !skipped_up_front.is_empty() {
        println!(
            "skipping {} unreadable image(s): {}",
            skipped_up_front.len(),
            skipped_up_front.join(", ")
        );
    }
    let mut base = base;
    // Held-out source images that nothing reads are training images lost.
    if let Some(f) = args.source_val_split {
        let reads = matches!(base.select, Select::SourceVal | Select::Dev)
            || (base.select == Select::Safe && args.compare.is_some());
        if !reads && args.candidates.is_none() {
            println!(
                "warning: --source-val-split {f} holds out source images that --select {} does not read (only the metrics' source_val_acc and dev columns do); drop it to train on them, or keep --candidates DIR to select by dev later",
                base.select.name()
            );
        }
    }
    // The safety rule compares source-only's confidence on the target with that on held-out
    // source images: hold a tenth out when there are none (and the source can spare them).
    if base.select == Select::Safe
        && args.compare.is_some()
        && base.source_val_split.is_none()
        && data.source_eval.is_none()
        && data.source.split(0.1, base.seed).is_ok()
    {
        base.source_val_split = Some(0.1);
        println!(
            "--select safe: holding out a tenth of the source to compare source-only's confidence on it with that on the target (--source-test DIR uses your own held-out images instead)"
        );
    }
    let configs: Vec<AdaptConfig> = methods
        .iter()
        .map(|&method| AdaptConfig {
            method,
            resume: match args.compare {
                Some(_) => compare_resume(args, method.name()),
                None => base.resume.clone(),
            },
            ..base.clone()
        })
        .collect();
    // Check every run before the first one starts.
    for c in &configs {
        adapt::validate(c, &data)?;
    }
    let gpu = open_gpu()?;
    super::print_run_header(&gpu);
    println!(
        "adapt: {} source images ({} classes), {} target images{}, backbone {}, {} epochs, batch {} per domain, seed {}, on {}",
        data.source.len(),
        data.source.classes().len(),
        data.target.as_ref().map_or(0, |t| t.len()),
        data.target_eval
            .as_ref()
            .map_or(String::new(), |t| format!(" ({} labelled for reporting)", t.len())),
        backbone.name(),
        base.epochs,
        base.batch,
        base.seed,
        gpu.adapter().name
    );
    let mut jsonl = super::metrics_writer(args.metrics.as_deref(), args.resume.is_some())?;
    let mut progress = Progress::new();
    let mut runs = Vec::new();
    let mut stored = Vec::new();
    crate::train::interrupt::install_signal_handler()?;
    for c in &configs {
        let path = match args.compare {
            Some(_) => sibling(&args.out, c.method.name()),
            None => args.out.clone(),
        };
        let mut ckpt = Checkpoints::resume_only(&path)
            .with_resume_every(std::time::Duration::from_secs(args.checkpoint_every));
        let mut store = args.candidates.as_ref().map(CandidateStore::new);
        let mut callbacks: Vec<&mut dyn Callback> = vec![&mut progress, &mut ckpt];
        callbacks.extend(jsonl.as_mut().map(|j| j as &mut dyn Callback));
        callbacks.extend(store.as_mut().map(|s| s as &mut dyn Callback));
        // Every method starts from the same seeded weights.
        let mut model = new_model(args, &gpu, data.classes())?;
        model.provenance = Some(provenance(args, c.method.name(), c.seed));
        let result = model.fit(&data, c, &mut callbacks);
        let resume = super::resume_left(&ckpt, args.resume.as_deref());
        let history = match result {
            Ok(h) => h,
            Err(e) => return super::explain_stop(Err(e), resume, None, &[]),
        };
        if let (Some(p), Some(summary)) = (model.provenance.as_mut(), &history.summary) {
            p.epoch = Some(summary.selected.epoch);
            p.selection = Some(serde_json::json!({
                "validator": c.select.name(),
                "score": c.select.score(&summary.selected),
            }));
        }
        model.save(&path)?;
        println!("[{}] model written to {}", c.method.name(), path.display());
        if let Some(epoch) = ckpt.written_resume {
            println!(
                "[{}] resume checkpoint (epoch {epoch}) written to {}",
                c.method.name(),
                ckpt.resume.display()
            );
        }
        if !history.skipped.is_empty() {
            println!(
                "[{}] skipped {} more image(s) that failed to decode: {}",
                c.method.name(),
                history.skipped.len(),
                history.skipped.join(", ")
            );
        }
        runs.push(history);
        if let Some(s) = store {
            stored.push(RunCandidates {
                method: c.method.name().to_string(),
                candidates: s
                    .written
                    .into_iter()
                    .map(|(epoch, file)| Candidate { epoch, file })
                    .collect(),
            });
        }
    }
    if let Some(dir) = &args.candidates {
        CandidateIndex {
            kind: "candidates".into(),
            version: candidates::VERSION,
            data: pair_spec(args).absolute(),
            skip_bad: args.skip_bad,
            seed: base.seed,
            score_samples: base.score_samples,
            source_val_split: base.source_val_fraction(),
            command: super::command_line(),
            runs: stored,
        }
        .write(dir)?;
        println!(
            "candidates (every epoch of every method) written to {}; `dak select {}` re-scores them",
            dir.display(),
            dir.display()
        );
    }
    let summaries: Vec<RunSummary> = runs.iter().filter_map(|h| h.summary.clone()).collect();
    if args.compare.is_some() {
        let picked = compare::pick(&summaries, base.select);
        let chosen = summaries
            .get(picked)
            .ok_or_else(|| Error::runtime("--compare: no run finished"))?;
        let from = sibling(&args.out, &chosen.method);
        let why = (base.select == Select::Safe).then(|| compare::safe_decision(&summaries).why);
        let score = compare::scores(&summaries, base.select)
            .get(picked)
            .copied()
            .flatten();
        crate::models::file::copy_with_info(&from, &args.out, |info| {
            if let Some(p) = info.provenance.as_mut() {
                p.selection = Some(serde_json::json!({
                    "validator": base.select.name(),
                    "among": summaries.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
                    "score": score,
                    "why": why,
                }));
            }
        })?;
        println!(
            "[{}] selected by {} (epoch {}); model written to {}",
            chosen.method,
            base.select.name(),
            chosen.selected.epoch,
            args.out.display()
        );
        if base.select == Select::Safe {
            println!("    {}", compare::safe_decision(&summaries).why);
        }
        if let Some(j) = jsonl.as_mut() {
            j.write(&compare::record(&summaries, base.select, picked, base.seed))?;
        }
    }
    if let Some(p) = &args.plot {
        let series: Vec<(&str, &[EpochLogs])> = runs
            .iter()
            .zip(&methods)
            .map(|(h, m)| (m.name(), h.epochs.as_slice()))
            .collect();
        plot::write_png(p, &series)?;
        println!("plot written to {}", p.display());
    }
    println!();
    print_summary(&summaries);
    Ok(())
}
