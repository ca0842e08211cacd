//! `dak bench model --model digits --method shot|tent`: what a source-free epoch costs next to
//! a source-only epoch on the same number of images. A SHOT epoch is its training steps plus,
//! once, the pseudo-labels of the whole target set (an evaluation pass and the clustering);
//! a source-only epoch is its steps alone.

use super::model::{images, throughput};
use crate::data::{Batch, Dataset};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::{Backbone, Dann};
use crate::optim::{Optimizer, Rule};
use crate::train::adapt::source_free::{pseudo_labels, train_step, EpochSums, TargetStep};
use crate::train::adapt::step::{step, EpochAccumulators, StepBatch, StepSetup};
use crate::train::adapt::{SourceFree, SourceFreeConfig};
use crate::train::Method;
use std::time::Instant;

/// One source-free method's cost on the digits network.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceFreeBench {
    /// `shot` or `tent`.
    pub method: String,
    /// Images per step.
    pub batch: usize,
    /// Images of the epoch (the bundled target's 4,000 by default).
    pub images: usize,
    /// The method's training steps, images per second.
    pub train_img_s: f64,
    /// Source-only training steps on as many images per step, images per second.
    pub source_only_img_s: f64,
    /// Seconds of the per-epoch pseudo-labels (evaluation pass and clustering), 0 without.
    pub pseudo_label_s: f64,
    /// One epoch of the method over one source-only epoch of as many images.
    pub epoch_vs_source_only: f64,
}

/// Times `method` on the digits network (10 classes) with `batch` images per step over an
/// epoch of `n` in-memory images.
pub fn digits(
    gpu: &Gpu,
    method: SourceFree,
    batch: usize,
    steps: usize,
    n: usize,
) -> Result<SourceFreeBench> {
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let mut model = Dann::paper(gpu, Backbone::Digits, &classes, 0)?;
    let side = model.config.input_size();
    let pixels = images(batch, side);
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    // Source-only steps first, on the network as it trains on the source.
    let mut opt = Optimizer::new(Rule::sgd_momentum());
    let acc = EpochAccumulators::new(gpu)?;
    let lambda = crate::autograd::Lambda::new(0.0);
    let b = StepBatch {
        images: &pixels,
        n_source: batch,
        n_target: 0,
        source_labels: &labels,
    };
    let mut k = 0;
    let source_only = throughput(gpu, batch, steps, || {
        k += 1;
        let setup = StepSetup {
            model: &model,
            method: Method::SOURCE_ONLY,
            state: &Default::default(),
            lambda: &lambda,
            train_seed: k,
        };
        step(&setup, &mut opt, &acc, &b, 1e-3)
    })?;
    // Then the method's steps and its per-epoch pseudo-labels.
    let config = SourceFreeConfig {
        batch,
        ..SourceFreeConfig::new(method, Backbone::Digits)
    };
    method.get().prepare(&mut model)?;
    let mut opt = Optimizer::new(Rule::sgd_momentum());
    let mut sums = EpochSums::new(gpu)?;
    let target_batch = Batch {
        images: pixels.clone(),
        labels: Vec::new(),
        indices: (0..batch).collect(),
        height: side as u32,
        width: side as u32,
    };
    let pseudo = method.get().pseudo_labels().then_some(labels.as_slice());
    let train_img_s = throughput(gpu, batch, steps, || {
        let step = TargetStep {
            batch: &target_batch,
            labels: pseudo,
            train_seed: 7,
        };
        train_step(&model, &config, &mut opt, &mut sums, step, 1e-3)
    })?;
    let pseudo_label_s = match method.get().pseudo_labels() {
        true => {
            let target = in_memory(n, side)?;
            pseudo_labels(&model, &target, &config)?; // compiles its kernels
            let t = Instant::now();
            pseudo_labels(&model, &target, &config)?;
            t.elapsed().as_secs_f64()
        }
        false => 0.0,
    };
    let so_epoch = n as f64 / source_only;
    Ok(SourceFreeBench {
        method: method.name().into(),
        batch,
        images: n,
        train_img_s,
        source_only_img_s: source_only,
        pseudo_label_s,
        epoch_vs_source_only: (n as f64 / train_img_s + pseudo_label_s) / so_epoch,
    })
}

/// `n` small coloured in-memory images of `side` pixels.
fn in_memory(n: usize, side: usize) -> Result<Dataset> {
    let imgs = (0..n)
        .map(|i| {
            image::RgbImage::from_fn(side as u32, side as u32, |x, y| {
                let v = (i as u32 * 31 + x * 7 + y * 13) % 256;
                image::Rgb([v as u8, (v * 3 % 256) as u8, (255 - v) as u8])
            })
        })
        .collect();
    Dataset::from_images("bench target", Vec::new(), imgs, None)
}
