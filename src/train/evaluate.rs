//! Evaluation and prediction with a saved transfer-learning classifier.

use crate::autograd::Tape;
use crate::data::{folder, Dataset, Loader, LoaderOptions, Transform};
use crate::models::classifier::{self, Classifier, HeadConfig};
use crate::models::file::{self, ModelInfo};
use crate::ops::softmax_xent;
use crate::{DType, Error, Gpu, Result, Tensor};
use std::path::Path;

/// Load a model file written by `fine-tune`.
pub fn load_classifier(gpu: &Gpu, path: &Path) -> Result<(Classifier, ModelInfo)> {
    let (info, ck) = file::load(path)?;
    if info.architecture != classifier::ARCHITECTURE {
        return Err(Error::input(format!(
            "{}: a `{}` model; this command needs a `{}` model from `dak fine-tune`",
            path.display(),
            info.architecture,
            classifier::ARCHITECTURE
        )));
    }
    let config: HeadConfig = serde_json::from_value(info.config.clone()).map_err(|e| {
        Error::input(format!(
            "{}: unreadable head configuration ({e})",
            path.display()
        ))
    })?;
    let mut model = Classifier::new(gpu, config, 0)?;
    ck.restore(&mut model.params, path)?;
    Ok((model, info))
}

/// The evaluation transform a model was trained with.
pub fn eval_transform(info: &ModelInfo) -> Result<Transform> {
    let size = info.input_size as u32;
    Ok(Transform::eval(size, size).with_preprocess(info.preprocess.parse()?))
}

/// Accuracy, per-class accuracy and confusion matrix on a labelled dataset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub images: usize,
    pub accuracy: f64,
    /// (class, accuracy, images) per class; accuracy is NaN-free (0 images gives 0).
    pub per_class: Vec<(String, f64, usize)>,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<u32>>,
    pub classes: Vec<String>,
    /// Files skipped because they could not be decoded (`skip_bad`).
    pub skipped: Vec<String>,
}

/// Predicted class of every image of `ds`, in dataset order of the batches (with indices).
fn predictions(
    model: &Classifier,
    ds: &Dataset,
    t: &Transform,
    batch: usize,
    skip_bad: bool,
) -> Result<(Vec<(usize, u32)>, Vec<String>)> {
    let gpu = model.params.get(model.fc1.weight).value.gpu().clone();
    let opts = LoaderOptions {
        batch_size: batch,
        shuffle: false,
        skip_bad,
        ..LoaderOptions::default()
    };
    let loader = Loader::new(ds.clone(), t.clone(), opts)?;
    let mut out = Vec::with_capacity(ds.len());
    for b in loader.epoch(0) {
        let b = b?;
        if b.is_empty() {
            continue;
        }
        let n = b.len();
        let mut tape = Tape::no_grad();
        let x = tape.input(Tensor::from_slice(&gpu, &b.images, &b.shape())?);
        let z = model.forward(&mut tape, x, false, 0)?;
        let labels = Tensor::from_u32(&gpu, &vec![0; n], &[n])?;
        let w = Tensor::from_slice(&gpu, &vec![0.0; n], &[n])?;
        let counts = Tensor::zeros_of(&gpu, &[2], DType::U32)?;
        let pred =
            softmax_xent::argmax_correct(tape.tensor(z), &labels, &w, &counts)?.to_vec_u32()?;
        out.extend(b.indices.iter().copied().zip(pred));
    }
    Ok((out, loader.skipped()))
}

/// Evaluate on a class-per-folder directory whose classes match the model's.
pub fn evaluate(
    model: &Classifier,
    info: &ModelInfo,
    data: &Path,
    batch: usize,
    skip_bad: bool,
) -> Result<EvalReport> {
    let ds = Dataset::from_dir(data)?;
    folder::check_same_classes("model", &info.classes, ds.name(), ds.classes())?;
    let (preds, skipped) = predictions(model, &ds, &eval_transform(info)?, batch, skip_bad)?;
    let k = info.classes.len();
    let mut confusion = vec![vec![0u32; k]; k];
    for (i, p) in &preds {
        let truth = ds.label(*i).expect("labelled dataset") as usize;
        confusion[truth][*p as usize] += 1;
    }
    let correct: u32 = (0..k).map(|c| confusion[c][c]).sum();
    let per_class = (0..k)
        .map(|c| {
            let n: u32 = confusion[c].iter().sum();
            (
                info.classes[c].clone(),
                if n == 0 {
                    0.0
                } else {
                    confusion[c][c] as f64 / n as f64
                },
                n as usize,
            )
        })
        .collect();
    Ok(EvalReport {
        images: preds.len(),
        accuracy: correct as f64 / preds.len().max(1) as f64,
        per_class,
        confusion,
        classes: info.classes.clone(),
        skipped,
    })
}

/// One image's top classes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub file: String,
    /// (class, probability), most likely first.
    pub top: Vec<(String, f32)>,
}

/// Softmax probabilities of a row of logits.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = row.iter().map(|&v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Top-`k` classes of each image file.
pub fn predict(
    model: &Classifier,
    info: &ModelInfo,
    files: &[std::path::PathBuf],
    k: usize,
) -> Result<Vec<Prediction>> {
    let gpu = model.params.get(model.fc1.weight).value.gpu().clone();
    predict_with(&gpu, files, &eval_transform(info)?, &info.classes, k, |x| {
        let mut tape = Tape::no_grad();
        let xv = tape.input(x.clone());
        let z = model.forward(&mut tape, xv, false, 0)?;
        Ok(tape.tensor(z).clone())
    })
}

/// Top-`k` classes of each file, with `logits` mapping an image batch to [N, classes].
pub fn predict_with(
    gpu: &Gpu,
    files: &[std::path::PathBuf],
    transform: &Transform,
    classes: &[String],
    k: usize,
    logits: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Prediction>> {
    let ds = Dataset::from_files("images", classes.to_vec(), files.to_vec(), None)?;
    let opts = LoaderOptions {
        batch_size: 16,
        shuffle: false,
        ..LoaderOptions::default()
    };
    let loader = Loader::new(ds.clone(), transform.clone(), opts)?;
    let mut out = Vec::new();
    for b in loader.epoch(0) {
        let b = b?;
        let z = logits(&Tensor::from_slice(gpu, &b.images, &b.shape())?)?.to_vec()?;
        for (row, &i) in z.chunks(classes.len()).zip(&b.indices) {
            let p = softmax(row);
            let mut order: Vec<usize> = (0..classes.len()).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            let top = order
                .iter()
                .take(k.max(1))
                .map(|&c| (classes[c].clone(), p[c]))
                .collect();
            out.push(Prediction {
                file: ds.describe(i),
                top,
            });
        }
    }
    Ok(out)
}
