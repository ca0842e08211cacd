//! `dak bench model --model vgg16|resnet50|...`: whole-model throughput of the
//! transfer-learning classifier —
//! inference, frozen-base training, whole-network training and cached-feature head training —
//! in images per second, and where one whole-network training step spends its GPU time, layer
//! by layer (forward and backward), from per-dispatch timestamps.

use crate::autograd::Tape;
use crate::error::Result;
use crate::gpu::DispatchTime;
use crate::gpu::Gpu;
use crate::models::classifier::{BaseKind, Classifier, HeadConfig};
use crate::models::Freeze;
use crate::optim::{Optimizer, Rule};
use crate::tensor::Tensor;
use std::time::Instant;

/// Images per second of each mode.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelBench {
    /// Model name.
    pub model: String,
    /// Square input side.
    pub input: usize,
    /// Images per step.
    pub batch: usize,
    /// Forward passes without gradients.
    pub inference_img_s: f64,
    /// Training steps with the base frozen.
    pub frozen_base_train_img_s: f64,
    /// Training steps through the whole network.
    pub whole_network_train_img_s: f64,
    /// Head training steps from cached base features.
    pub cached_head_train_img_s: f64,
    /// One-time cost of compiling every pipeline the modes use.
    pub warmup_s: f64,
    /// Most bytes of GPU buffers in use during one whole-network training step (parameters,
    /// optimizer state, activations kept for the backward, gradients, scratch).
    pub peak_train_bytes: u64,
    /// Time per layer of one whole-network training step.
    pub layers: Vec<LayerTime>,
    /// Time per kernel of the same step, slowest first.
    pub kernels: Vec<KernelTime>,
    /// Every dispatch of the same step in order (kernel, layer label, seconds).
    pub dispatches: Vec<DispatchTime>,
    /// Packed inputs kept for the weight gradient over the whole benchmark: budget, peak, reuse.
    pub input_cache: crate::gpu::InputCacheStats,
}

/// Time of one layer in a profiled step (its dispatches run alone, wall clock).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerTime {
    /// The layer (`features.0`, `head.fc1`, `maxpool 64x32x32`), `optimizer`, or `(other)`
    /// for unlabelled work (pooling to features, the loss).
    pub layer: String,
    /// Milliseconds of the layer's forward dispatches.
    pub forward_ms: f64,
    /// Milliseconds of its backward dispatches (`<layer> (bwd)` labels).
    pub backward_ms: f64,
    /// How many dispatches the layer ran, both directions.
    pub dispatches: usize,
}

/// Time of one kernel (shader file) summed over a profiled step: which kernels to work on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KernelTime {
    /// Shader file, e.g. `conv2d/fwd_igemm_tex_s8.wgsl`.
    pub kernel: String,
    /// Milliseconds over all its dispatches in the step.
    pub ms: f64,
    /// How many times it ran.
    pub dispatches: usize,
}

/// Runs `step` with every dispatch run and timed alone (`Gpu::start_profile`) and sums the
/// times per layer, in the order the layers first ran, and per kernel, slowest first.
pub fn profile(gpu: &Gpu, step: impl FnOnce() -> Result<()>) -> Result<StepProfile> {
    gpu.start_profile()?;
    let ran = step();
    let times = gpu.finish_profile()?;
    ran?;
    let mut kernels: Vec<KernelTime> = Vec::new();
    for t in &times {
        match kernels.iter_mut().find(|k| k.kernel == t.kernel) {
            Some(k) => {
                k.ms += t.seconds * 1e3;
                k.dispatches += 1;
            }
            None => kernels.push(KernelTime {
                kernel: t.kernel.clone(),
                ms: t.seconds * 1e3,
                dispatches: 1,
            }),
        }
    }
    kernels.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    let mut layers: Vec<LayerTime> = Vec::new();
    let times_kept = times.clone();
    for t in times {
        let label = t.label.unwrap_or_else(|| "(other)".to_string());
        let (layer, backward) = match label.strip_suffix(" (bwd)") {
            Some(l) => (l.to_string(), true),
            None => (label, false),
        };
        let i = match layers.iter().position(|l| l.layer == layer) {
            Some(i) => i,
            None => {
                layers.push(LayerTime {
                    layer,
                    forward_ms: 0.0,
                    backward_ms: 0.0,
                    dispatches: 0,
                });
                layers.len() - 1
            }
        };
        let ms = t.seconds * 1e3;
        if backward {
            layers[i].backward_ms += ms;
        } else {
            layers[i].forward_ms += ms;
        }
        layers[i].dispatches += 1;
    }
    Ok(StepProfile {
        layers,
        kernels,
        dispatches: times_kept,
    })
}

/// One profiled step three ways: per layer, per kernel, and every dispatch in order.
pub struct StepProfile {
    /// Time per layer, in the order the layers first ran.
    pub layers: Vec<LayerTime>,
    /// Time per kernel, slowest first.
    pub kernels: Vec<KernelTime>,
    /// Every dispatch in the order it ran (kernel, label, seconds): `--json` only.
    pub dispatches: Vec<DispatchTime>,
}

pub(crate) fn images(n: usize, side: usize) -> Vec<f32> {
    (0..n * 3 * side * side)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5)
        .collect()
}

/// Time `steps` runs of `step` (after one warm-up run) and return images per second.
pub(crate) fn throughput(
    gpu: &Gpu,
    batch: usize,
    steps: usize,
    mut step: impl FnMut() -> Result<()>,
) -> Result<f64> {
    step()?;
    gpu.sync()?;
    let start = Instant::now();
    for _ in 0..steps {
        step()?;
        gpu.flush()?;
    }
    gpu.sync()?;
    Ok((batch * steps) as f64 / start.elapsed().as_secs_f64())
}

/// Benchmark VGG16 + GAP + Dense(1024) + Dense(10) at `input`x`input`, batch `batch`.
pub fn vgg16(gpu: &Gpu, input: usize, batch: usize, steps: usize) -> Result<ModelBench> {
    classifier(gpu, BaseKind::Vgg16, input, batch, steps)
}

/// Benchmark the fine-tuning classifier on `base` (+ GAP + Dense(1024) + Dense(10)) at
/// `input`x`input`, batch `batch`. A ResNet's BN trains on batch statistics in whole-network
/// training and runs folded into the convolutions with the base frozen and in inference.
pub fn classifier(
    gpu: &Gpu,
    base: BaseKind,
    input: usize,
    batch: usize,
    steps: usize,
) -> Result<ModelBench> {
    let warm = Instant::now();
    let mut model = Classifier::new_on(
        gpu,
        base,
        HeadConfig {
            hidden: 1024,
            dropout: 0.5,
            classes: 10,
        },
        0,
    )?;
    let x = Tensor::from_slice(gpu, &images(batch, input), &[batch, 3, input, input])?;
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let y = Tensor::from_u32(gpu, &labels, &[batch])?;
    let w = Tensor::from_slice(gpu, &vec![1.0; batch], &[batch])?;
    let mut optimizer = Optimizer::new(Rule::adam());
    let train_step = |model: &Classifier,
                      optimizer: &mut Optimizer,
                      input: &Tensor,
                      head_only: bool|
     -> Result<()> {
        let mut tape = Tape::new();
        let xv = tape.input(input.clone());
        let z = if head_only {
            model.head(&mut tape, xv, true, 1)?
        } else {
            model.forward(&mut tape, xv, true, 1)?
        };
        let loss = tape.softmax_xent(z, &y, &w, 1.0)?;
        let grads = tape.backward(&[loss])?;
        optimizer.step(&model.params, &grads, 1e-4)
    };
    // Warm up every pipeline once so compile time is reported apart.
    model.set_trainable(Freeze::None)?;
    train_step(&model, &mut optimizer, &x, false)?;
    gpu.sync()?;
    let warmup_s = warm.elapsed().as_secs_f64();
    gpu.reset_peak_memory();
    let step = profile(gpu, || train_step(&model, &mut optimizer, &x, false))?;
    let peak_train_bytes = gpu.stats().peak_live_bytes;

    let inference = throughput(gpu, batch, steps, || {
        let mut tape = Tape::no_grad();
        let xv = tape.input(x.clone());
        model.forward(&mut tape, xv, false, 0).map(drop)
    })?;
    let whole = throughput(gpu, batch, steps, || {
        train_step(&model, &mut optimizer, &x, false)
    })?;
    model.set_trainable(Freeze::Base)?;
    let frozen = throughput(gpu, batch, steps, || {
        train_step(&model, &mut optimizer, &x, false)
    })?;
    let dim = model.feature_dim();
    let feat_values: Vec<f32> = (0..batch * dim).map(|i| (i % 17) as f32 / 17.0).collect();
    let feats = Tensor::from_slice(gpu, &feat_values, &[batch, dim])?;
    let cached = throughput(gpu, batch, steps * 10, || {
        train_step(&model, &mut optimizer, &feats, true)
    })?;
    Ok(ModelBench {
        model: format!("{}-gap-1024-10", base.name()),
        input,
        batch,
        inference_img_s: inference,
        frozen_base_train_img_s: frozen,
        whole_network_train_img_s: whole,
        cached_head_train_img_s: cached,
        warmup_s,
        peak_train_bytes,
        layers: step.layers,
        kernels: step.kernels,
        dispatches: step.dispatches,
        input_cache: gpu.input_cache_stats(),
    })
}
