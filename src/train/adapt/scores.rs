//! What an adaptation run measures besides its training losses: accuracy on labelled sets
//! (counted on the GPU, one read), the label-free scores of the target predictions, and the
//! proxy A-distance between the domains' features.

use super::AdaptConfig;
use crate::data::{Dataset, Loader, LoaderOptions};
use crate::models::{Dann, Model};
use crate::ops::softmax_xent;
use crate::train::metrics::{self, ProxyADistance};
use crate::{DType, Result, Tensor};

/// Runs `f` on every evaluation batch of `ds` (images uploaded as [n, 3, S, S]).
fn for_batches(
    model: &Dann,
    ds: &Dataset,
    config: &AdaptConfig,
    mut f: impl FnMut(&Tensor, &[u32]) -> Result<()>,
) -> Result<()> {
    let opts = LoaderOptions {
        batch_size: config.eval_batch,
        shuffle: false,
        workers: config.workers,
        skip_bad: config.skip_bad,
        ..Default::default()
    };
    let loader = Loader::new(ds.clone(), model.eval_transform()?, opts)?;
    for batch in loader.epoch(0) {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        let x = Tensor::from_slice(model.gpu(), &batch.images, &batch.shape())?;
        f(&x, &batch.labels)?;
    }
    Ok(())
}

/// Correct and counted predictions of `model` on labelled `ds` (counted on the GPU, one read).
pub fn count_correct(model: &Dann, ds: &Dataset, config: &AdaptConfig) -> Result<(u32, u32)> {
    let gpu = model.gpu();
    let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
    for_batches(model, ds, config, |x, labels| {
        let z = model.predict_logits(x)?;
        let y = Tensor::from_u32(gpu, labels, &[labels.len()])?;
        let w = Tensor::from_slice(gpu, &vec![1.0; labels.len()], &[labels.len()])?;
        softmax_xent::argmax_correct(&z, &y, &w, &counts)?;
        gpu.flush()
    })?;
    let c = counts.to_vec_u32()?;
    Ok((c[0], c[1]))
}

/// `correct / total`, or `None` when nothing was counted.
pub(super) fn accuracy_of(c: (u32, u32)) -> Option<f64> {
    (c.1 > 0).then(|| c.0 as f64 / c.1 as f64)
}

/// Accuracy of `model` on labelled `ds`.
pub(super) fn accuracy(model: &Dann, ds: &Dataset, config: &AdaptConfig) -> Result<Option<f64>> {
    Ok(accuracy_of(count_correct(model, ds, config)?))
}

/// Mean entropy, information maximisation and soft neighbourhood density of the predictions
/// of `model` on `ds`, and the predictions (class probabilities, one row per image).
pub(super) fn label_free(
    model: &Dann,
    ds: &Dataset,
    config: &AdaptConfig,
) -> Result<([f64; 3], Vec<f32>)> {
    let c = model.config.classes;
    let mut p = Vec::new();
    for_batches(model, ds, config, |x, _| {
        let z = model.predict_logits(x)?;
        p.extend(metrics::softmax_rows(&z.to_vec()?, c));
        Ok(())
    })?;
    let scores = [
        metrics::mean_entropy(&p, c),
        metrics::information_maximization(&p, c),
        metrics::soft_neighborhood_density(&p, c, metrics::SND_TEMPERATURE),
    ];
    Ok((scores, p))
}

/// Backbone features of `model` on `ds`.
fn features(model: &Dann, ds: &Dataset, config: &AdaptConfig) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for_batches(model, ds, config, |x, _| {
        out.extend(model.extract_features(x)?.to_vec()?);
        Ok(())
    })?;
    Ok(out)
}

/// Proxy A-distance between the features of `source` and `target` images.
pub(super) fn proxy_a_distance(
    model: &Dann,
    source: &Dataset,
    target: &Dataset,
    config: &AdaptConfig,
) -> Result<ProxyADistance> {
    let fs = features(model, source, config)?;
    let ft = features(model, target, config)?;
    metrics::proxy_a_distance(&fs, &ft, model.features.dim(), config.seed)
}
