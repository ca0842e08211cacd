//! `dak evaluate` and `dak predict`.

use super::print_table;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::{self, Model};
use crate::train::evaluate::{self, EvalOptions, EvalReport};
use std::path::PathBuf;

/// Arguments of `dak evaluate`.
#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// A model written by `dak fine-tune` or `dak adapt` (f32, f16 or bf16 tensors, computed in f32).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Labelled images: one sub-folder per class, the same classes as the model.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Skip images that fail to decode (listed) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dak predict`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["model", "weights"])))]
pub struct PredictArgs {
    /// A model written by `dak fine-tune` or `dak adapt` (f32, f16 or bf16 tensors, computed in f32).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Plain VGG16 ImageNet weights (timm or torchvision names; f32, f16 or bf16): predict the
    /// 1,000 ImageNet classes.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Image files to classify.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

fn to_json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::runtime(e.to_string()))
}

/// Runs `dak evaluate`.
pub fn run_evaluate(a: &EvaluateArgs) -> Result<()> {
    run_evaluate_with(a, &Gpu::new)
}

/// [`run_evaluate`] on the device `open_gpu` gives, opened only after the model file's header,
/// the folder, its classes and every image have passed their checks.
pub fn run_evaluate_with(a: &EvaluateArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    super::skip_bad_hint(run_evaluate_checked(a, open_gpu))
}

fn run_evaluate_checked(a: &EvaluateArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    use crate::models::expect::{check, Expect};
    let options = EvalOptions {
        batch: a.batch,
        skip_bad: a.skip_bad,
    };
    crate::validate::count("--batch", a.batch, 1)?;
    let header = check("--model", &a.model, Expect::DakModel)?;
    let ds = Dataset::from_dir(&a.data)?;
    if let Some(classes) = header.classes() {
        crate::data::folder::check_same_classes(
            &format!("--model {}", a.model.display()),
            &classes,
            &format!("--data {}", a.data.display()),
            ds.classes(),
        )?;
    }
    let (ds, skipped) = ds.check_images(a.skip_bad)?;
    let gpu = open_gpu()?;
    super::warn_slow_backend(&gpu);
    let model = models::load(&gpu, &a.model)?;
    let mut report = evaluate::evaluate(&*model, &ds, &options)?;
    report.skipped.splice(0..0, skipped);
    if a.json {
        println!("{}", to_json(&evaluation_json(&report, a))?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// `evaluate --json` (docs/json.md): objects throughout; `per_class`, dak 0.1's positional
/// `[class, accuracy, images]` triples, is kept for one release.
fn evaluation_json(r: &EvalReport, a: &EvaluateArgs) -> serde_json::Value {
    let class_accuracy: Vec<serde_json::Value> = r
        .per_class
        .iter()
        .map(|(class, accuracy, images)| {
            serde_json::json!({ "class": class, "images": images, "accuracy": accuracy })
        })
        .collect();
    serde_json::json!({
        "type": "evaluation",
        "model": a.model,
        "data": a.data,
        "images": r.images,
        "accuracy": r.accuracy,
        "classes": r.classes,
        "class_accuracy": class_accuracy,
        "confusion": r.confusion,
        "skipped": r.skipped,
        "per_class": r.per_class,
    })
}

/// One `predict --json` record: `top_k` as objects; `top`, dak 0.1's positional
/// `[class, probability]` pairs, is kept for one release.
fn prediction_json(p: &evaluate::Prediction) -> serde_json::Value {
    let top_k: Vec<serde_json::Value> = p
        .top
        .iter()
        .map(|(class, probability)| serde_json::json!({ "class": class, "probability": probability }))
        .collect();
    serde_json::json!({ "type": "prediction", "file": p.file, "top_k": top_k, "top": p.top })
}

fn print_report(r: &EvalReport) {
    println!("accuracy {:.2}% on {} images", r.accuracy * 100.0, r.images);
    let rows: Vec<Vec<String>> = r
        .per_class
        .iter()
        .map(|(c, acc, n)| vec![c.clone(), n.to_string(), format!("{:.2}%", acc * 100.0)])
        .collect();
    print_table(&["class", "images", "accuracy"], &rows);
    println!("confusion matrix (rows: true class, columns: predicted):");
    let mut header = vec![""];
    header.extend(r.classes.iter().map(String::as_str));
    let rows: Vec<Vec<String>> = r
        .confusion
        .iter()
        .zip(&r.classes)
        .map(|(row, c)| {
            std::iter::once(c.clone())
                .chain(row.iter().map(u32::to_string))
                .collect()
        })
        .collect();
    print_table(&header, &rows);
    if !r.skipped.is_empty() {
        println!(
            "skipped {} unreadable file(s): {}",
            r.skipped.len(),
            r.skipped.join(", ")
        );
    }
}

/// Runs `dak predict`.
pub fn run_predict(a: &PredictArgs) -> Result<()> {
    run_predict_with(a, &Gpu::new)
}

/// [`run_predict`] on the device `open_gpu` gives, opened only after the weights file's header
/// and every image file have passed their checks.
pub fn run_predict_with(a: &PredictArgs, open_gpu: &dyn Fn() -> Result<Gpu>) -> Result<()> {
    use crate::models::expect::{check, Expect};
    crate::validate::count("--top-k", a.top_k, 1)?;
    match (&a.model, &a.weights) {
        (Some(path), _) => check("--model", path, Expect::DakModel)?,
        (None, Some(path)) => check("--weights", path, Expect::Imagenet)?,
        (None, None) => return Err(Error::input("pass --model MODEL or --weights FILE")),
    };
    for image in &a.images {
        crate::validate::input_file("IMAGE", image, "an image file (PNG, JPEG, ...)")?;
        crate::data::decode::check_file(image)?;
    }
    let gpu = open_gpu()?;
    super::warn_slow_backend(&gpu);
    let model: Box<dyn Model> = match (&a.model, &a.weights) {
        (Some(path), _) => models::load(&gpu, path)?,
        (None, Some(path)) => models::load_imagenet(&gpu, path)?,
        (None, None) => return Err(Error::input("pass --model MODEL or --weights FILE")),
    };
    let preds = evaluate::predict(&*model, &a.images, a.top_k)?;
    if a.json {
        let records: Vec<serde_json::Value> = preds.iter().map(prediction_json).collect();
        println!("{}", to_json(&records)?);
        return Ok(());
    }
    for p in preds {
        let top: Vec<String> = p
            .top
            .iter()
            .map(|(c, prob)| format!("{c} {:.1}%", prob * 100.0))
            .collect();
        println!("{}: {}", p.file, top.join(", "));
    }
    Ok(())
}
