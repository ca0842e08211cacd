//! Evaluation (accuracy, per-class accuracy, confusion matrix) and prediction (top classes of
//! image files) for any [`Model`]: a fine-tuned [`Classifier`], an adapted [`Dann`], or VGG16
//! with its ImageNet classifier.

use std::path::PathBuf;

use crate::data::{folder, Dataset, Loader, LoaderOptions, Transform};
use crate::error::{Error, Result};
use crate::models::{Classifier, Dann, Model};
use crate::ops::softmax_xent;
use crate::tensor::{DType, Tensor};

/// Settings of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Images per batch.
    pub batch: usize,
    /// Skip images that fail to decode (listed in the report) instead of stopping.
    pub skip_bad: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            batch: 32,
            skip_bad: false,
        }
    }
}

/// Accuracy, per-class accuracy and confusion matrix on a labelled dataset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// (class, accuracy, images) per class; a class without images has accuracy 0.
    pub per_class: Vec<(String, f64, usize)>,
    /// `confusion[true][predicted]`: images of class `true` predicted as `predicted`.
    pub confusion: Vec<Vec<u32>>,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Files skipped because they could not be decoded (`skip_bad`).
    pub skipped: Vec<String>,
}

/// (dataset index, predicted class) of every image read, and the files skipped.
type Predictions = (Vec<(usize, u32)>, Vec<String>);

/// Predicted class of every image of `ds`, with its index (batches in dataset order).
fn predictions(
    model: &(impl Model + ?Sized),
    ds: &Dataset,
    t: &Transform,
    o: &EvalOptions,
) -> Result<Predictions> {
    let gpu = model.gpu();
    let opts = LoaderOptions {
        batch_size: o.batch,
        shuffle: false,
        skip_bad: o.skip_bad,
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
        let z = model.logits(&Tensor::from_slice(gpu, &b.images, &b.shape())?)?;
        // argmax_correct returns the argmax of every row; zero weights count nothing.
        let labels = Tensor::from_u32(gpu, &vec![0; n], &[n])?;
        let w = Tensor::from_slice(gpu, &vec![0.0; n], &[n])?;
        let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
        let pred = softmax_xent::argmax_correct(&z, &labels, &w, &counts)?.to_vec_u32()?;
        out.extend(b.indices.iter().copied().zip(pred));
    }
    Ok((out, loader.skipped()))
}

/// Evaluates `model` on a labelled dataset whose classes match the model's.
pub fn evaluate(
    model: &(impl Model + ?Sized),
    ds: &Dataset,
    o: &EvalOptions,
) -> Result<EvalReport> {
    if o.batch == 0 {
        return Err(Error::input("--batch must be at least 1"));
    }
    if ds.labels().is_none() {
        return Err(Error::input(format!(
            "{}: evaluation needs labelled images (a class-per-folder directory)",
            ds.name()
        )));
    }
    let classes = model.info().classes;
    folder::check_same_classes("model", &classes, ds.name(), ds.classes())?;
    let (preds, skipped) = predictions(model, ds, &model.eval_transform()?, o)?;
    let k = classes.len();
    let mut confusion = vec![vec![0u32; k]; k];
    for (i, p) in &preds {
        let truth = ds.label(*i).expect("labelled dataset") as usize;
        confusion[truth][*p as usize] += 1;
    }
    let correct: u32 = (0..k).map(|c| confusion[c][c]).sum();
    let per_class = (0..k)
        .map(|c| {
            let n: u32 = confusion[c].iter().sum();
            let acc = if n == 0 {
                0.0
            } else {
                confusion[c][c] as f64 / n as f64
            };
            (classes[c].clone(), acc, n as usize)
        })
        .collect();
    Ok(EvalReport {
        images: preds.len(),
        accuracy: correct as f64 / preds.len().max(1) as f64,
        per_class,
        confusion,
        classes,
        skipped,
    })
}

/// One image's top classes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    /// The image file.
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
    model: &(impl Model + ?Sized),
    files: &[PathBuf],
    k: usize,
) -> Result<Vec<Prediction>> {
    let classes = model.info().classes;
    let ds = Dataset::from_files("images", classes.clone(), files.to_vec(), None)?;
    let opts = LoaderOptions {
        batch_size: 16,
        shuffle: false,
        ..LoaderOptions::default()
    };
    let loader = Loader::new(ds.clone(), model.eval_transform()?, opts)?;
    let mut out = Vec::new();
    for b in loader.epoch(0) {
        let b = b?;
        let x = Tensor::from_slice(model.gpu(), &b.images, &b.shape())?;
        let z = model.logits(&x)?.to_vec()?;
        for (row, &i) in z.chunks(classes.len()).zip(&b.indices) {
            if !row.iter().all(|v| v.is_finite()) {
                return Err(Error::runtime(format!(
                    "{}: the model's outputs are not finite numbers (NaN or infinity); its weights are broken, e.g. saved from a diverged run; retrain with a lower --lr",
                    ds.describe(i)
                )));
            }
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

impl Classifier {
    /// Accuracy, per-class accuracy and confusion matrix on a labelled dataset with the
    /// model's classes (Keras: `model.evaluate`).
    pub fn evaluate(&self, data: &Dataset) -> Result<EvalReport> {
        evaluate(self, data, &EvalOptions::default())
    }

    /// Top-`k` classes and probabilities of each image file (Keras: `model.predict`).
    pub fn predict(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        predict(self, files, k)
    }
}

impl Dann {
    /// Accuracy, per-class accuracy and confusion matrix on a labelled dataset with the
    /// model's classes (e.g. the target domain's test images).
    pub fn evaluate(&self, data: &Dataset) -> Result<EvalReport> {
        evaluate(self, data, &EvalOptions::default())
    }

    /// Top-`k` classes and probabilities of each image file.
    pub fn predict(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        predict(self, files, k)
    }
}
