//! What an adaptation run measures besides its training losses: accuracy on labelled sets
//! (counted on the GPU, one read), every validator's score of the model as it is
//! ([`score_candidate`]: the same code at the end of each epoch and in `dak select`), and the
//! proxy A-distance between the domains' features.

use super::accumulators::accuracy_of;
use super::{dev, mixval, neighbours, AdaptConfig};
use crate::data::{Dataset, Loader, LoaderOptions};
use crate::error::Result;
use crate::models::{Dann, Model};
use crate::ops::softmax_xent;
use crate::tensor::{DType, Tensor};
use crate::train::metrics::{self, ProxyADistance};

/// Runs `f` on every evaluation batch of `ds` (images uploaded as [n, 3, S, S]; the host
/// copy and the labels beside them).
fn for_batches(
    model: &Dann,
    ds: &Dataset,
    config: &AdaptConfig,
    mut f: impl FnMut(&Tensor, &[f32], &[u32]) -> Result<()>,
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
        f(&x, &batch.images, &batch.labels)?;
    }
    Ok(())
}

/// Correct and counted predictions of `model` on labelled `ds` (counted on the GPU, one read).
pub fn count_correct(model: &Dann, ds: &Dataset, config: &AdaptConfig) -> Result<(u32, u32)> {
    let gpu = model.gpu();
    let counts = Tensor::zeros_of(gpu, &[2], DType::U32)?;
    for_batches(model, ds, config, |x, _, labels| {
        let z = model.predict_logits(x)?;
        let y = Tensor::from_u32(gpu, labels, &[labels.len()])?;
        let w = Tensor::from_slice(gpu, &vec![1.0; labels.len()], &[labels.len()])?;
        softmax_xent::argmax_correct(&z, &y, &w, &counts)?;
        gpu.flush()
    })?;
    let c = counts.to_vec_u32()?;
    Ok((c[0], c[1]))
}

/// Accuracy of `model` on labelled `ds`.
pub(super) fn accuracy(model: &Dann, ds: &Dataset, config: &AdaptConfig) -> Result<Option<f64>> {
    Ok(accuracy_of(count_correct(model, ds, config)?))
}

/// The sets a candidate is scored on, drawn once per run (seeded).
pub struct ScoreSets {
    /// Target training images, unlabelled: entropy, IM, SND, MixVal, EnsV.
    pub target: Dataset,
    /// DEV's held-out labelled source images (a sample), when the run has some.
    pub dev: Option<Dataset>,
}

/// What every validator reads of one candidate (the model as it is).
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateScores {
    /// Mean entropy, information maximisation, soft neighbourhood density.
    pub entropy: f64,
    /// See [`metrics::information_maximization`].
    pub im: f64,
    /// See [`metrics::soft_neighborhood_density`].
    pub snd: f64,
    /// MixVal ([`mixval`]); `None` when no probe could be made.
    pub mixval: Option<f64>,
    /// DEV's risk ([`dev`], lower is better); `None` without held-out source images.
    pub dev: Option<f64>,
    /// Mean and standard error of the top class probability on the held-out source images
    /// (DEV's held-out set): how sure the model is in its own domain, which the safety rule
    /// compares with its confidence on the target. `None` without held-out source images.
    pub source_confidence: Option<(f64, f64)>,
    /// How well the held-out source images and the target score set can be told apart, on the
    /// model's features and on its class probabilities (the safety rule's covariate-shift
    /// test). `None` without held-out source images.
    pub domain_shift: Option<metrics::DomainShift>,
    /// Class probabilities on the target score set, one row per image (EnsV's input).
    pub probs: Vec<f32>,
    /// How much the logits vary across the score set's images, relative to their size: the
    /// largest per-class range over the largest magnitude. 0 when every image gets the very
    /// same logits — a dead network (saturated probabilities alone are not that).
    pub logit_spread: f64,
}

/// Scores `model` on `sets`: one pass over the target score set (logits, features for DEV,
/// MixVal's probes beside each batch) and, for DEV, one over the held-out source images.
pub fn score_candidate(
    model: &Dann,
    sets: &ScoreSets,
    config: &AdaptConfig,
) -> Result<CandidateScores> {
    let c = model.config.classes;
    let mut probs = Vec::new();
    let mut target_features = Vec::new();
    let mut mix = mixval::MixCounts::default();
    let gpu = model.gpu();
    let mut range = vec![(f32::INFINITY, f32::NEG_INFINITY); c];
    for_batches(model, &sets.target, config, |x, images, _| {
        let (f, z) = model.features_and_logits(x)?;
        let z = z.to_vec()?;
        for row in z.chunks(c) {
            for (r, &v) in range.iter_mut().zip(row) {
                *r = (r.0.min(v), r.1.max(v));
            }
        }
        let p = metrics::softmax_rows(&z, c);
        let pseudo = super::ensv_hard::argmax_rows(&p, c);
        let n = pseudo.len();
        let (probe_images, rows) = mixval::probes(images, n);
        let mut probe_pred = vec![None; n];
        if !rows.is_empty() {
            let mut shape = x.shape().to_vec();
            shape[0] = rows.len();
            let probe = Tensor::from_slice(gpu, &probe_images, &shape)?;
            let zp = model.predict_logits(&probe)?.to_vec()?;
            for (&i, row) in rows.iter().zip(zp.chunks(c)) {
                probe_pred[i] = super::ensv_hard::argmax_rows(row, c).first().copied();
            }
        }
        mix.add(&pseudo, &probe_pred);
        if sets.dev.is_some() {
            target_features.extend(f.to_vec()?);
        }
        probs.extend(p);
        Ok(())
    })?;
    let (mut source_confidence, mut domain_shift) = (None, None);
    let dev = match &sets.dev {
        Some(held_out) => {
            let (mut fv, mut pv, mut labels) = (Vec::new(), Vec::new(), Vec::new());
            for_batches(model, held_out, config, |x, _, y| {
                let (f, z) = model.features_and_logits(x)?;
                fv.extend(f.to_vec()?);
                pv.extend(metrics::softmax_rows(&z.to_vec()?, c));
                labels.extend_from_slice(y);
                Ok(())
            })?;
            source_confidence = confidence(&pv, c);
            let on_features = dev::cross_fit(&fv, &target_features, model.features.dim());
            let on_classes = dev::cross_fit(&pv, &probs, c);
            if let (Some(f), Some(p)) = (&on_features, &on_classes) {
                domain_shift = Some(metrics::DomainShift {
                    feature_error: f.error,
                    class_error: p.error,
                    rows: (labels.len(), probs.len() / c),
                });
            }
            on_features.and_then(|f| dev::risk(&f.weights, &dev::losses(&pv, c, &labels)))
        }
        None => None,
    };
    let widest = range.iter().map(|r| (r.1 - r.0) as f64).fold(0.0, f64::max);
    let largest = range
        .iter()
        .map(|r| r.0.abs().max(r.1.abs()) as f64)
        .fold(0.0, f64::max);
    Ok(CandidateScores {
        logit_spread: widest / largest.max(1.0),
        entropy: metrics::mean_entropy(&probs, c),
        im: metrics::information_maximization(&probs, c),
        snd: metrics::soft_neighborhood_density(&probs, c, metrics::SND_TEMPERATURE),
        mixval: mix.score(),
        dev,
        source_confidence,
        domain_shift,
        probs,
    })
}

/// The pixel-neighbour graph of `set` as the model sees it (the evaluation transform), each
/// image [`neighbours::shrink`]ed; one pass, once per run. `None` for too few images.
pub fn pixel_graph(
    model: &Dann,
    set: &Dataset,
    config: &AdaptConfig,
) -> Result<Option<neighbours::PixelGraph>> {
    let (mut rows, mut n) = (Vec::new(), 0);
    for_batches(model, set, config, |x, images, _| {
        let &[b, c, h, w] = x.shape() else {
            return Err(crate::error::Error::runtime(format!(
                "pixel graph: images of shape {:?}, expected [n, c, h, w]",
                x.shape()
            )));
        };
        for image in images.chunks(c * h * w).take(b) {
            rows.extend(neighbours::shrink(image, c, h, w));
        }
        n += b;
        Ok(())
    })?;
    Ok(neighbours::PixelGraph::build(&rows, n))
}

/// Mean and standard error of each row's top probability (rows of `classes`); `None` for fewer
/// than 2 rows.
pub fn confidence(probs: &[f32], classes: usize) -> Option<(f64, f64)> {
    let top: Vec<f64> = probs
        .chunks(classes)
        .map(|r| r.iter().fold(0f32, |a, &v| a.max(v)) as f64)
        .collect();
    let n = top.len();
    if n < 2 {
        return None;
    }
    let mean = top.iter().sum::<f64>() / n as f64;
    let var = top.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, (var / n as f64).sqrt()))
}

/// Backbone features of `model` on `ds`.
fn features(model: &Dann, ds: &Dataset, config: &AdaptConfig) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for_batches(model, ds, config, |x, _, _| {
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
