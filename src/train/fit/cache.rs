//! The feature cache: with a frozen base and no augmentation, the base's pooled features are
//! computed once and every epoch trains (and validates) the head alone from them.

use super::sums::{ones, Sums};
use super::{loader, FitOptions};
use crate::autograd::Tape;
use crate::data::{Dataset, Transform};
use crate::error::Result;
use crate::models::{Classifier, Model};
use crate::ops::softmax_xent;
use crate::tensor::Tensor;

/// Pooled base features and labels of a whole dataset, computed once (no gradients), on the
/// host.
pub(super) struct FeatureCache {
    feats: Vec<f32>,
    /// Values per image in `feats`.
    dim: usize,
    labels: Vec<u32>,
    /// Row of each dataset image in `feats`; `None` for an unreadable image skipped.
    rows: Vec<Option<usize>>,
    /// Images that could not be decoded (`skip_bad`).
    pub skipped: Vec<String>,
}

impl FeatureCache {
    pub fn new(model: &Classifier, ds: &Dataset, t: &Transform, o: &FitOptions) -> Result<Self> {
        let gpu = model.gpu();
        let mut cache = FeatureCache {
            feats: Vec::with_capacity(ds.len() * model.feature_dim()),
            dim: model.feature_dim(),
            labels: Vec::with_capacity(ds.len()),
            rows: vec![None; ds.len()],
            skipped: Vec::new(),
        };
        let images = loader(ds, t, o, false)?;
        for batch in images.epoch(0) {
            let batch = batch?;
            if batch.is_empty() {
                continue;
            }
            let mut tape = Tape::no_grad();
            let x = tape.input(Tensor::from_slice(gpu, &batch.images, &batch.shape())?);
            let f = model.features(&mut tape, x)?;
            cache.feats.extend(tape.tensor(f).to_vec()?);
            for (&i, &label) in batch.indices.iter().zip(&batch.labels) {
                cache.rows[i] = Some(cache.labels.len());
                cache.labels.push(label);
            }
        }
        cache.skipped = images.skipped();
        Ok(cache)
    }

    /// Features and labels of the dataset images `indices` (skipped images left out).
    pub fn gather(&self, indices: &[u32]) -> (Vec<f32>, Vec<u32>) {
        let d = self.dim;
        let mut f = Vec::with_capacity(indices.len() * d);
        let mut l = Vec::with_capacity(indices.len());
        for row in indices.iter().filter_map(|&i| self.rows[i as usize]) {
            f.extend_from_slice(&self.feats[row * d..(row + 1) * d]);
            l.push(self.labels[row]);
        }
        (f, l)
    }
}

/// Head-only evaluation from cached features: (mean loss, accuracy).
pub(super) fn eval_features(
    model: &Classifier,
    cache: &FeatureCache,
    batch: usize,
) -> Result<(f32, f32)> {
    let gpu = model.gpu();
    let mut sums = Sums::new(gpu)?;
    for (fc, lc) in cache
        .feats
        .chunks(batch * cache.dim)
        .zip(cache.labels.chunks(batch))
    {
        let n = lc.len();
        let mut tape = Tape::no_grad();
        let x = tape.input(Tensor::from_slice(gpu, fc, &[n, cache.dim])?);
        let z = model.head(&mut tape, x, false, 0)?;
        let (y, w) = (Tensor::from_u32(gpu, lc, &[n])?, ones(gpu, n)?);
        let loss = softmax_xent::forward(tape.tensor(z), &y, &w, 1.0)?;
        sums.add(&loss, tape.tensor(z), &y, &w, n)?;
        gpu.flush()?;
    }
    sums.read()
}
