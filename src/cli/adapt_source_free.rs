//! `dak adapt --source-free --init MODEL --target DIR`: adapts a model dak trained to a new
//! domain from unlabelled target images alone (SHOT, TENT); the source is never read. Every
//! flag and file is checked before the GPU opens. Like a source-based run it writes
//! `<out stem>.resume.safetensors` and continues from it with `--resume`.

use std::path::{Path, PathBuf};

use super::adapt_args::AdaptArgs;
use crate::data::{load_target, Dataset};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::file::Provenance;
use crate::models::{Backbone, Dann};
use crate::train::adapt::{LrSchedule, Select, SourceFree, SourceFreeConfig, TargetData};
use crate::train::callbacks::{Checkpoints, Progress};
use crate::train::checkpoint;
use crate::train::{plot, Callback};

/// Flags of `dak adapt` that describe training on the source, refused with `--source-free`
/// (name, whether it was given).
fn source_flags(args: &AdaptArgs) -> Vec<(&'static str, bool)> {
    vec![
        ("--source", args.source.is_some()),
        ("--source-test", args.source_test.is_some()),
        ("--compare", args.compare.is_some()),
        ("--weights", args.weights.is_some()),
        ("--bottleneck", args.bottleneck.is_some()),
        ("--input-size", args.input_size.is_some()),
        ("--lambda-max", args.lambda_max.is_some()),
        ("--constant-lambda", args.constant_lambda.is_some()),
        ("--source-val-split", args.source_val_split.is_some()),
        ("--candidates", args.candidates.is_some()),
        ("--backbone", args.backbone != "digits"),
        ("--bn", args.bn != "train"),
        ("--recipe", args.recipe.is_some()),
    ]
}

/// The model file `--init` names, read far enough to check it against the method: its
/// backbone and classes (from the header; the GPU is not open yet), and whether it is a
/// fine-tuned classifier (adapted as the DANN-shaped network it maps onto, written back as a
/// classifier: `models::dann_classifier`).
struct InitModel {
    backbone: Backbone,
    classes: Vec<String>,
    classifier: bool,
    /// Whether it has a BatchNorm (a ResNet base, or a digits network's recipe bottleneck).
    batch_norm: bool,
}

fn read_init(path: &Path) -> Result<InitModel> {
    use crate::models::classifier::{ARCHITECTURE, RESNET_ARCHITECTURE};
    use crate::models::expect::{check, Expect};
    let h = check("--init", path, Expect::DakModel)?;
    let info: crate::models::file::ModelInfo = h
        .metadata
        .get(crate::models::file::INFO_KEY)
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| {
            Error::input(format!(
                "--init {}: no readable dak model description; write it with `dak adapt` or `dak fine-tune`",
                path.display()
            ))
        })?;
    let arch = info.architecture.as_str();
    let unknown = |name: &str| {
        Error::input(format!(
            "--init {}: unknown backbone `{name}` in its architecture `{arch}`",
            path.display()
        ))
    };
    let (backbone, classifier) = match arch {
        ARCHITECTURE => (Backbone::Vgg16, true),
        RESNET_ARCHITECTURE => {
            let resnet: crate::models::resnet::ResNetConfig =
                serde_json::from_value(info.config["resnet"].clone())
                    .map_err(|_| unknown("resnet"))?;
            let name = resnet.name();
            let b = Backbone::parse(&name)
                .ok()
                .filter(|b| b.resnet().as_ref() == Some(&resnet))
                .ok_or_else(|| unknown(&name))?;
            (b, true)
        }
        _ => {
            let Some(name) = arch.strip_prefix("dann-") else {
                return Err(Error::input(format!(
                    "--init {}: a `{arch}` model; source-free adaptation takes a model from `dak adapt` or `dak fine-tune`",
                    path.display()
                )));
            };
            (Backbone::parse(name).map_err(|_| unknown(name))?, false)
        }
    };
    let bottleneck_bn = info.config["bottleneck"].as_u64().unwrap_or(0) > 0
        && !info.config["bottleneck_plain"].as_bool().unwrap_or(false);
    Ok(InitModel {
        batch_norm: backbone.resnet().is_some()
            || (backbone == Backbone::Digits && !classifier && bottleneck_bn),
        backbone,
        classes: info.classes,
        classifier,
    })
}

/// Refuses a `--resume` checkpoint that no source-free run from `init` wrote: a source-based
/// run's, or one of another network or classes. Its method and images are checked once the
/// data is read (`checkpoint::check_resume_run`).
fn check_resume(path: &Path, model: &InitModel, init: &Path) -> Result<()> {
    use crate::models::expect::{check, Expect};
    let header = check("--resume", path, Expect::Resume("dann-"))?;
    if let Some(m) = checkpoint::run_method(&header).filter(|m| SourceFree::find(m).is_none()) {
        return Err(Error::input(format!(
            "--resume {}: the checkpoint of a source-based `{m}` run; a --source-free run continues only its own (<out stem>.resume.safetensors of `dak adapt --source-free`): resume that run without --source-free, or drop --resume",
            path.display()
        )));
    }
    let same_network = header.architecture() == Some(model.backbone.architecture().as_str());
    if !same_network || header.classes().as_ref() != Some(&model.classes) {
        return Err(Error::input(format!(
            "--resume {}: the checkpoint of another network or classes than --init {}; resume with the --init of the run that wrote it",
            path.display(),
            init.display()
        )));
    }
    Ok(())
}

/// Every check that needs no GPU: flags, files, the model's kind against the method.
fn check_args(args: &AdaptArgs) -> Result<(SourceFreeConfig, InitModel)> {
    use crate::validate::{count, number, number_opt, output_file, output_opt, Range};
    for (flag, given) in source_flags(args) {
        if given {
            return Err(Error::input(format!(
                "--source-free with {flag}: a source-free run reads only --init MODEL and target images; drop {flag}"
            )));
        }
    }
    let Some(init) = &args.init else {
        return Err(Error::input(
            "--source-free adapts a model you already have: pass --init MODEL (a model from `dak adapt`, e.g. --method source-only)",
        ));
    };
    if args.target_unlabelled && args.target.is_none() {
        return Err(Error::input(
            "--target-unlabelled says how to read --target DIR; pass --target (without it the run adapts to the bundled MNIST-M images)",
        ));
    }
    let name = args.method.as_deref().unwrap_or("shot");
    let method = match SourceFree::find(name) {
        Some(m) => m,
        None if crate::train::adapt::Method::parse(name, "--method").is_ok() => {
            return Err(Error::input(format!(
                "--method {name} --source-free: {name} trains on the labelled source; source-free methods are {} (or drop --source-free and pass --source DIR)",
                SourceFree::names().join(", ")
            )))
        }
        None => return Err(SourceFree::parse(name, "--method").unwrap_err()),
    };
    if let Some(e) = args.epochs {
        count("--epochs", e, 1)?;
    }
    count("--batch", args.batch, 2)?;
    count("--score-samples", args.score_samples, 2)?;
    crate::validate::workers("--workers", args.workers)?;
    if let Some(n) = args.limit {
        count("--limit", n, 2)?;
    }
    number_opt("--lr", args.lr.map(f64::from), Range::Positive)?;
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
    let select = Select::parse(args.select.as_deref().unwrap_or("safe"), "--select")?;
    crate::train::adapt::source_free::check_select(select)?;
    output_file("--out", &args.out)?;
    output_opt("--metrics", args.metrics.as_deref())?;
    output_opt("--plot", args.plot.as_deref())?;
    let outputs: Vec<(&str, &Path)> = [
        ("--out", Some(args.out.as_path())),
        ("--metrics", args.metrics.as_deref()),
        ("--plot", args.plot.as_deref()),
    ]
    .into_iter()
    .filter_map(|(f, p)| p.map(|p| (f, p)))
    .collect();
    let ckpt = Checkpoints::resume_path(&args.out);
    let ckpt_flag = format!("--out (its resume checkpoint {})", ckpt.display());
    let mut all_outputs = outputs.clone();
    all_outputs.push((ckpt_flag.as_str(), ckpt.as_path()));
    crate::validate::distinct_files(&all_outputs, &[("--init", init.as_path())])?;
    let model = read_init(init)?;
    if let Some(r) = &args.resume {
        // Continuing a run rewrites its own checkpoint; no other output may be that file.
        crate::validate::distinct_files(&outputs, &[("--resume", r.as_path())])?;
        check_resume(r, &model, init)?;
    }
    if method == SourceFree::TENT && !model.batch_norm {
        return Err(Error::input(format!(
            "--method tent adapts BatchNorm layers, and --init {} is a {} network without any; use --method shot, or a model on a ResNet backbone or trained with --recipe shot",
            init.display(),
            model.backbone.name()
        )));
    }
    let mut c = SourceFreeConfig::new(method, model.backbone);
    c.epochs = args.epochs.unwrap_or(c.epochs);
    c.batch = args.batch;
    c.seed = args.seed;
    c.lr = args.lr.unwrap_or(c.lr);
    if args.constant_lr {
        c.lr_schedule = LrSchedule::Constant;
    }
    c.momentum = args.momentum;
    c.backbone_lr_mult = args.backbone_lr_mult.unwrap_or(c.backbone_lr_mult);
    c.select = select;
    c.skip_bad = args.skip_bad;
    c.workers = args.workers;
    c.score_samples = args.score_samples;
    c.resume = args.resume.clone();
    c.validate()?;
    Ok((c, model))
}

/// `--target DIR` of a source-free run: labelled when its sub-folders are exactly the model's
/// classes, unlabelled when it has none. Sub-folders that are none of the classes are refused
/// (unlike a source-based run, which reads them as cameras or sites): the model adapts only to
/// its own classes, and a folder of another label set must not run 30 epochs of SHOT on a
/// task the head cannot name. `--target-unlabelled` says they are not classes.
fn load_target_of(dir: &Path, classes: &[String]) -> Result<Dataset> {
    let tree = crate::data::folder::scan_tree(dir)?;
    if let crate::data::pair::TargetReading::Unlabelled(Some(_)) =
        crate::data::pair::target_reading(&tree, classes)?
    {
        let list = |v: Vec<&str>| match v.len() > 6 {
            true => format!("{}, ... ({} in all)", v[..6].join(", "), v.len()),
            false => v.join(", "),
        };
        return Err(Error::input(format!(
            "--target {}: its sub-folders ({}) are not the --init model's classes ({}); point --target at folders named as those classes or at images without class folders, or add --target-unlabelled if the sub-folders are not classes (cameras, dates)",
            dir.display(),
            list(tree.classes.iter().map(|c| c.name.as_str()).collect()),
            list(classes.iter().map(String::as_str).collect()),
        )));
    }
    load_target(dir, classes)
}

/// The target sets: `--target DIR` ([`load_target_of`], or any images with
/// `--target-unlabelled`) and `--target-test DIR`, or the bundled MNIST-M target.
fn load_data(args: &AdaptArgs, classes: &[String]) -> Result<TargetData> {
    let data = match &args.target {
        Some(dir) => {
            let target = match args.target_unlabelled {
                true => Dataset::from_dir_unlabelled(dir)?,
                false => load_target_of(dir, classes)?,
            };
            let target_eval = match &args.target_test {
                Some(t) => Some(Dataset::from_dir(t)?),
                None => target.labels().is_some().then(|| target.clone()),
            };
            TargetData {
                target,
                target_eval,
            }
        }
        None if args.target_test.is_some() => {
            return Err(Error::input(
                "--target-test needs --target DIR (without it a source-free run adapts to the bundled MNIST-M images)",
            ))
        }
        None => {
            let bundled = crate::data::load_mnist_mnistm()?;
            TargetData {
                target: bundled.target.expect("the bundled benchmark has a target"),
                target_eval: bundled.target_eval,
            }
        }
    };
    if let Some(ds) = data.target_eval.as_ref().filter(|d| d.labels().is_some()) {
        crate::data::folder::check_same_classes(
            "the --init model",
            classes,
            &format!("--target-test {}", ds.name()),
            ds.classes(),
        )?;
    }
    let data = match args.limit {
        Some(n) => TargetData {
            target: data.target.sample(n, 0),
            target_eval: data.target_eval.map(|d| d.sample(n, 0)),
        },
        None => data,
    };
    let mut bad = Vec::new();
    let (target, b) = data.target.check_images(args.skip_bad)?;
    bad.extend(b);
    let target_eval = match data.target_eval {
        Some(d) => {
            let (d, b) = d.check_images(args.skip_bad)?;
            bad.extend(b);
            Some(d)
        }
        None => None,
    };
    if !bad.is_empty() {
        println!(
            "skipping {} unreadable image(s): {}",
            bad.len(),
            bad.join(", ")
        );
    }
    if target.len() < 2 {
        return Err(Error::input(format!(
            "{}: {} target image(s); source-free adaptation needs at least 2",
            target.name(),
            target.len()
        )));
    }
    Ok(TargetData {
        target,
        target_eval,
    })
}

/// The adapted model's record: this run, and the model it started from with that model's
/// own record (method, data, command).
fn provenance(
    args: &AdaptArgs,
    init: &Path,
    parent: Option<Provenance>,
    method: &str,
    seed: u64,
) -> Provenance {
    let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let data = match &args.target {
        Some(t) => serde_json::json!({
            "target": abs(t),
            "target_test": args.target_test.as_ref().map(abs),
            "limit": args.limit,
            "source": null,
        }),
        None => serde_json::json!("bundled MNIST-M (target only)"),
    };
    let mut p = Provenance::new(super::command_line(), method, seed, data);
    p.parent = Some(abs(&init.to_path_buf()).display().to_string());
    p.adapted_from = parent.map(Box::new);
    p
}

/// Runs `dak adapt --source-free` on the device `open_gpu` gives, once every check passed.
pub fn run_with(args: &AdaptArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    let (config, init_model) = check_args(args)?;
    let init = args.init.as_deref().expect("checked");
    let data = load_data(args, &init_model.classes)?;
    if let Some(r) = &args.resume {
        let run = crate::train::adapt::source_free::run_id(config.method, &data.target);
        checkpoint::check_resume_run(r, &run)?;
    }
    let gpu = open_gpu()?;
    super::print_run_header(&gpu);
    let (mut model, classifier_info) = match init_model.classifier {
        true => {
            let (m, info) = crate::models::dann_classifier::load(&gpu, init)?;
            (m, Some(info))
        }
        false => (Dann::load(&gpu, init)?, None),
    };
    let parent = model.provenance.take();
    println!(
        "adapt --source-free: {} from {} ({} backbone, {} classes), {} target images{}, {} epochs, batch {}, lr {}, seed {}, on {}; no source images are read",
        config.method.name(),
        init.display(),
        init_model.backbone.name(),
        init_model.classes.len(),
        data.target.len(),
        data.target_eval
            .as_ref()
            .map_or(String::new(), |t| format!(" ({} labelled for reporting)", t.len())),
        config.epochs,
        config.batch,
        config.lr,
        config.seed,
        gpu.adapter().name
    );
    let mut jsonl = super::metrics_writer(args.metrics.as_deref(), args.resume.is_some())?;
    let mut progress = Progress::new();
    let mut ckpt = Checkpoints::resume_only(&args.out)
        .with_resume_every(std::time::Duration::from_secs(args.checkpoint_every));
    let mut callbacks: Vec<&mut dyn Callback> = vec![&mut progress, &mut ckpt];
    callbacks.extend(jsonl.as_mut().map(|j| j as &mut dyn Callback));
    crate::train::interrupt::install_signal_handler()?;
    let result = model.adapt_source_free(&data, &config, &mut callbacks);
    let resume = super::resume_left(&ckpt, args.resume.as_deref());
    let history = match result {
        Ok(h) => h,
        // The resumed run needs --init too: the model file it adapts and records.
        Err(e) => return super::explain_stop(Err(e), resume, None, &[]),
    };
    let summary = history
        .summary
        .as_ref()
        .expect("a finished run has a summary");
    // The library's record, with the command line, the files and the parent's record.
    let mut p = provenance(args, init, parent, config.method.name(), config.seed);
    let run = model.provenance.take();
    p.epoch = run.as_ref().and_then(|r| r.epoch);
    p.selection = run.and_then(|r| r.selection);
    let why = p
        .selection
        .as_ref()
        .and_then(|s| s["why"].as_str().map(str::to_string));
    match &classifier_info {
        // A fine-tuned classifier goes back as the classifier it was.
        Some(info) => {
            crate::models::dann_classifier::save_as_classifier(&model, info, Some(p), &args.out)?
        }
        None => {
            model.provenance = Some(p);
            model.save(&args.out)?;
        }
    }
    println!(
        "[{}] model (epoch {}{}) written to {}",
        config.method.name(),
        summary.selected.epoch,
        if summary.selected.epoch == 0 {
            ": the --init model, unchanged by adaptation"
        } else {
            ""
        },
        args.out.display()
    );
    if let Some(why) = why {
        println!("    --select safe: {why}");
    }
    if let Some(epoch) = ckpt.written_resume {
        println!(
            "[{}] resume checkpoint (epoch {epoch}) written to {}",
            config.method.name(),
            ckpt.resume.display()
        );
        if let Some(note) = unselected_epoch_note(summary.selected.epoch, epoch, &ckpt.resume) {
            println!("    {note}");
        }
    }
    if let Some(p) = &args.plot {
        plot::write_png(p, &[(config.method.name(), history.epochs.as_slice())])?;
        println!("plot written to {}", p.display());
    }
    println!();
    super::adapt_summary::print_summary(std::slice::from_ref(summary));
    Ok(())
}

/// When the selection handed back an earlier epoch than the last one (the `--init` model,
/// most often), where the last epoch's model still is: the resume checkpoint holds its
/// parameters, and `dak evaluate`, `predict` and `export` read it as a model. A label-free
/// rule can be wrong both ways (docs/source_free.md), so the user keeps both answers.
fn unselected_epoch_note(selected: usize, last: usize, resume: &Path) -> Option<String> {
    (selected < last).then(|| {
        format!(
            "epoch {last} (the last, not selected) is in {0}: `dak evaluate --model {0} --data DIR` (or predict, export) reads it, if you would rather keep it",
            resume.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unselected_last_epoch_is_pointed_at() {
        let r = Path::new("out.resume.safetensors");
        let note = unselected_epoch_note(0, 30, r).unwrap();
        assert!(note.starts_with("epoch 30 (the last, not selected) is in out.resume.safetensors"));
        assert_eq!(unselected_epoch_note(30, 30, r), None);
    }
}
