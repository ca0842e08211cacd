//! The VGG16 feature extractor of a DANN (the Office-31 setting of DESIGN §6): the VGG16 base
//! (`features.*`, torchvision names, so ImageNet weights or a fine-tuned dak classifier load
//! into it), global average pooling to 512 values, then an optional bottleneck
//! `bottleneck.fc1` Dense(512 → n, ReLU). The bottleneck lives outside `features` so that the
//! backbone learning-rate multiplier leaves it at the full rate, as in the usual DANN recipe.
//! Weights load with [`vgg16::load_base_weights`] (ImageNet files, or any dak model built on
//! VGG16: only `features.*` is read).

use super::chunks;
use super::vgg16::{self, Vgg16};
use crate::autograd::{Params, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::{Dense, DenseConfig, Init};

/// VGG16 base + GAP (+ bottleneck).
#[derive(Clone)]
pub struct VggFeatures {
    /// The 13 convolutions and 5 pools.
    pub base: std::sync::Arc<Vgg16>,
    /// Dense(512 → n, ReLU) after the pooling, when configured.
    pub bottleneck: Option<Dense>,
}

impl std::fmt::Debug for VggFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VggFeatures")
            .field("bottleneck", &self.bottleneck)
            .finish()
    }
}

impl VggFeatures {
    /// Creates `features.*` (seeded He) and, when `bottleneck > 0`, `bottleneck.fc1`.
    pub fn new(
        gpu: &Gpu,
        params: &mut Params,
        bottleneck: usize,
        init: &mut Init,
    ) -> Result<VggFeatures> {
        let base = Vgg16::new(gpu, params, init)?;
        let bottleneck = match bottleneck {
            0 => None,
            n => Some(Dense::new(
                gpu,
                params,
                "bottleneck.fc1",
                DenseConfig::relu(vgg16::FEATURES, n),
                init,
            )?),
        };
        Ok(VggFeatures {
            base: std::sync::Arc::new(base),
            bottleneck,
        })
    }

    /// Feature size: the bottleneck's width, else 512.
    pub fn dim(&self) -> usize {
        self.bottleneck.map_or(vgg16::FEATURES, |b| b.outputs)
    }

    /// Images [B, 3, S, S] (S a multiple of 32) → features [B, dim].
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        let pooled_base = |t: &mut Tape, v| {
            let map = self.base.forward(t, params, v)?;
            t.global_avg_pool(map)
        };
        let gpu = tape.tensor(x).gpu().clone();
        let parts = chunks::count(&gpu, "vgg16 base", tape.tensor(x), pooled_base)?;
        let pooled = tape.chunked(x, parts, pooled_base)?;
        match &self.bottleneck {
            Some(b) => b.forward(tape, params, pooled),
            None => Ok(pooled),
        }
    }
}
