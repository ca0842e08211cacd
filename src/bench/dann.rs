//! `dak bench model digits`: the DANN digits network of the bundled MNIST → MNIST-M benchmark —
//! DANN steps (source + target rows, both losses), source-only steps and inference, in images
//! per second, one DANN step's time per layer, and optionally another method's steps
//! (`--method NAME`) with their cost relative to a DANN step.

use super::model::{images, profile, throughput, KernelTime, LayerTime};
use crate::autograd::Lambda;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::{Backbone, Dann};
use crate::optim::{Optimizer, Rule};
use crate::tensor::Tensor;
use crate::train::adapt::step::{step, EpochAccumulators, StepBatch, StepSetup};
use crate::train::Method;
use std::time::Instant;

/// Images per second of each mode (a DANN step's images are source and target rows together).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DannBench {
    /// `dann-digits`.
    pub model: String,
    /// Images per domain per step.
    pub batch_per_domain: usize,
    /// DANN training: label loss on the source rows, domain loss through the reversal on all.
    pub dann_train_img_s: f64,
    /// Source-only training on batches of `batch_per_domain` source images.
    pub source_only_train_img_s: f64,
    /// Class predictions.
    pub inference_img_s: f64,
    /// The method asked for with `--method` (source and target rows, its losses), if any:
    /// its name, its training img/s, and a step's time relative to a DANN step.
    pub method: Option<MethodBench>,
    /// One-time cost of compiling every pipeline the modes use.
    pub warmup_s: f64,
    /// Time per layer of one DANN step.
    pub layers: Vec<LayerTime>,
    /// Time per kernel of the same step, slowest first.
    pub kernels: Vec<KernelTime>,
    /// Every dispatch of the same step in order (kernel, layer label, seconds).
    pub dispatches: Vec<crate::gpu::DispatchTime>,
    /// Packed inputs kept for the weight gradient over the whole benchmark: budget, peak, reuse.
    pub input_cache: crate::gpu::InputCacheStats,
}

/// Training throughput of one adaptation method.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodBench {
    /// Registry name.
    pub method: String,
    /// Training images per second (source and target rows together).
    pub train_img_s: f64,
    /// Time of one of its steps over the time of one DANN step.
    pub step_vs_dann: f64,
}

/// Benchmark the paper's digits DANN (28x28, 10 classes) with `batch` images per domain, and
/// `method`'s steps when given.
pub fn digits(gpu: &Gpu, batch: usize, steps: usize, method: Option<Method>) -> Result<DannBench> {
    let warm = Instant::now();
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let mut model = Dann::paper(gpu, Backbone::Digits, &classes, 0)?;
    let dann_state = Method::DANN.prepare(&mut model, 0)?;
    let method_state = match method {
        Some(m) => m.prepare(&mut model, 0)?,
        None => Default::default(),
    };
    let side = model.config.input_size();
    let pixels = images(2 * batch, side);
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let mut opt = Optimizer::new(Rule::sgd_momentum());
    let acc = EpochAccumulators::new(gpu)?;
    let lambda = Lambda::new(0.5);
    let mut n = 0u32;
    let mut train = |opt: &mut Optimizer, n_target: usize, m: Method| -> Result<()> {
        n += 1;
        let b = StepBatch {
            images: &pixels[..(batch + n_target) * 3 * side * side],
            n_source: batch,
            n_target,
            source_labels: &labels,
        };
        let state = match m == Method::DANN {
            true => &dann_state,
            false => &method_state,
        };
        let setup = StepSetup {
            model: &model,
            method: m,
            state,
            lambda: &lambda,
            train_seed: n,
        };
        step(&setup, opt, &acc, &b, 1e-3)
    };
    let dann_m = Method::DANN;
    train(&mut opt, batch, dann_m)?;
    train(&mut opt, 0, dann_m)?;
    if let Some(m) = method {
        train(&mut opt, batch, m)?;
    }
    let x = Tensor::from_slice(gpu, &pixels, &[2 * batch, 3, side, side])?;
    model.predict_logits(&x)?;
    gpu.sync()?;
    let warmup_s = warm.elapsed().as_secs_f64();

    let step_profile = profile(gpu, || train(&mut opt, batch, dann_m))?;
    let dann = throughput(gpu, 2 * batch, steps, || train(&mut opt, batch, dann_m))?;
    let source_only = throughput(gpu, batch, steps, || train(&mut opt, 0, dann_m))?;
    let method = match method {
        Some(m) => {
            let img_s = throughput(gpu, 2 * batch, steps, || train(&mut opt, batch, m))?;
            Some(MethodBench {
                method: m.name().into(),
                train_img_s: img_s,
                step_vs_dann: dann / img_s,
            })
        }
        None => None,
    };
    let inference = throughput(gpu, 2 * batch, steps, || model.predict_logits(&x).map(drop))?;
    Ok(DannBench {
        model: "dann-digits".into(),
        batch_per_domain: batch,
        dann_train_img_s: dann,
        source_only_train_img_s: source_only,
        inference_img_s: inference,
        method,
        warmup_s,
        layers: step_profile.layers,
        kernels: step_profile.kernels,
        dispatches: step_profile.dispatches,
        input_cache: gpu.input_cache_stats(),
    })
}
