//! `dak select DIR`: re-score the candidates `dak adapt --candidates DIR` kept, with any
//! validator, without training again.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::train::adapt::candidates::CandidateIndex;
use crate::train::adapt::ensv_hard::argmax_rows;
use crate::train::adapt::rescore::{self, Pick, Rescored};
use crate::train::adapt::Select;

/// Arguments of `dak select`.
#[derive(clap::Args, Debug, Clone)]
pub struct SelectArgs {
    /// A folder written by `dak adapt --candidates DIR` (or its candidates.json).
    #[arg(value_name = "DIR")]
    pub candidates: PathBuf,
    /// Validators to pick with, comma-separated, or `all`: last, entropy, im, snd, source-val,
    /// ensv, ensv-soft, mixval, dev, safe.
    #[arg(long, value_name = "LIST", default_value = "safe")]
    pub select: String,
    /// Copy the candidate the first validator picks to this model file.
    #[arg(long, value_name = "MODEL")]
    pub out: Option<PathBuf>,
    /// Report target accuracy on these labelled images instead of the run's --target-test
    /// (reporting only: no validator reads target labels).
    #[arg(long, value_name = "DIR")]
    pub target_test: Option<PathBuf>,
    /// Print every candidate's scores and every pick as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --json, add each candidate's predicted class on every score-set image
    /// (`"votes"`), to study selection rules offline.
    #[arg(long, requires = "json")]
    pub votes: bool,
    /// Measure every candidate again (load it and run the scoring passes) instead of reading
    /// the scores its run kept beside it.
    #[arg(long)]
    pub rescore: bool,
    /// Data-loading threads (0 = one per CPU core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

/// The validators `list` names (`all`: every one but `last`).
pub fn parse_validators(list: &str) -> Result<Vec<Select>> {
    if list.trim() == "all" {
        return Ok(Select::ALL
            .into_iter()
            .filter(|s| *s != Select::Last)
            .collect());
    }
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim) {
        let s = Select::parse(name, "--select")?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Runs `dak select`.
pub fn run(args: &SelectArgs) -> Result<()> {
    run_with(args, &Gpu::new)
}

/// [`run`] on the device `open_gpu` gives, opened only after every argument and file passed.
pub fn run_with(args: &SelectArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    let validators = parse_validators(&args.select)?;
    crate::validate::workers("--workers", args.workers)?;
    let (index, root) = CandidateIndex::read(&args.candidates, "dak select")?;
    if let Some(out) = &args.out {
        crate::validate::output_file("--out", out)?;
        let index_file = root.join(crate::train::adapt::candidates::INDEX);
        let files: Vec<PathBuf> = index
            .runs
            .iter()
            .flat_map(|r| &r.candidates)
            .map(|c| root.join(&c.file))
            .chain([index_file])
            .collect();
        let inputs: Vec<(&str, &std::path::Path)> = files
            .iter()
            .map(|f| ("the candidates folder", f.as_path()))
            .collect();
        crate::validate::distinct_files(&[("--out", out)], &inputs)?;
    }
    let mut spec = index.data.clone();
    if let Some(dir) = &args.target_test {
        spec.target_test = Some(dir.clone());
    }
    let (data, _) = spec.load()?.check_images(index.skip_bad)?;
    // `all` means every validator that can score this run; a named one must.
    let validators: Vec<Select> = match args.select.trim() {
        "all" => validators
            .into_iter()
            .filter(|v| check_validator(*v, &index, &data).is_ok())
            .collect(),
        _ => {
            for v in &validators {
                check_validator(*v, &index, &data)?;
            }
            validators
        }
    };
    // A swapped --target-test changes what is reported: measure again.
    let use_cache = !args.rescore && args.target_test.is_none();
    let rescored = rescore::rescore(open_gpu, index, &root, &data, args.workers, use_cache)?;
    let picks: Vec<Pick> = validators
        .iter()
        .map(|v| rescored.pick(*v))
        .collect::<Result<_>>()?;
    if args.json {
        println!("{}", to_json(&rescored, &picks, args.votes));
    } else {
        print_picks(&rescored, &picks);
    }
    if let (Some(out), Some(first)) = (&args.out, picks.first()) {
        let file = rescored
            .candidate(&first.method, first.epoch)
            .map(|c| root.join(&c.file))
            .ok_or_else(|| Error::runtime("dak select: the picked candidate has no file"))?;
        let bytes = std::fs::read(&file)
            .map_err(|e| Error::runtime(format!("reading {}: {e}", file.display())))?;
        crate::io::write_atomic(out, &bytes)?;
        if !args.json {
            println!(
                "[{}] epoch {} (picked by {}) written to {}",
                first.method,
                first.epoch,
                first.validator,
                out.display()
            );
        }
    }
    Ok(())
}

/// A validator that cannot score these candidates, refused before any work.
fn check_validator(v: Select, index: &CandidateIndex, data: &crate::data::AdaptData) -> Result<()> {
    match v {
        Select::Dev if index.source_val_split.is_none() && data.source_eval.is_none() => {
            Err(Error::input(
                "--select dev needs held-out labelled source images, and this run had neither --source-test nor --source-val-split; pick another validator",
            ))
        }
        Select::SourceVal if index.source_val_split.is_none() => Err(Error::input(
            "--select source-val needs the run's held-out source split (dak adapt --source-val-split F); pick another validator",
        )),
        _ => Ok(()),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn print_picks(r: &Rescored, picks: &[Pick]) {
    let all: Vec<&rescore::Scored> = r.runs.iter().flatten().collect();
    println!(
        "{} candidates ({} methods) from {}",
        all.len(),
        r.runs.len(),
        r.index.command
    );
    let mut rows: Vec<Vec<String>> = picks
        .iter()
        .map(|p| {
            vec![
                p.validator.clone(),
                p.method.clone(),
                p.epoch.to_string(),
                pct(p.target_acc),
            ]
        })
        .collect();
    // Reporting only: what the labels say, beside the label-free picks.
    if let Some(best) = all
        .iter()
        .filter(|s| s.logs.target_acc.is_some())
        .max_by(|a, b| a.logs.target_acc.partial_cmp(&b.logs.target_acc).unwrap())
    {
        rows.push(vec![
            "(oracle: target labels)".into(),
            best.logs.method.clone(),
            best.logs.epoch.to_string(),
            pct(best.logs.target_acc),
        ]);
    }
    super::print_table(&["validator", "method", "epoch", "target acc"], &rows);
    for p in picks {
        if let Some(why) = &p.why {
            println!("{}: {why}", p.validator);
        }
    }
}

fn to_json(r: &Rescored, picks: &[Pick], votes: bool) -> String {
    let candidates: Vec<serde_json::Value> = r
        .runs
        .iter()
        .flatten()
        .map(|s| {
            let l = &s.logs;
            let mut v = serde_json::json!({
                "method": l.method,
                "epoch": l.epoch,
                "file": s.file,
                "target_acc": l.target_acc,
                "entropy": l.entropy,
                "im": l.im,
                "snd": l.snd,
                "ensv": l.ensv,
                "ensv_soft": l.ensv_soft,
                "mixval": l.mixval,
                "dev": l.dev,
                "source_val_acc": l.val_acc,
            });
            if votes {
                v["votes"] = serde_json::json!(argmax_rows(&s.probs, r.classes));
            }
            v
        })
        .collect();
    let v = serde_json::json!({
        "type": "selection",
        "command": r.index.command,
        "seed": r.index.seed,
        "candidates": candidates,
        "picks": picks,
    });
    serde_json::to_string_pretty(&v).expect("plain JSON")
}
