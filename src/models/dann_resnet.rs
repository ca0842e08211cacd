//! The ResNet feature extractor of a DANN (TLlib's ImageNet-backbone setting): a torchvision
//! ResNet base (`conv1`, `bn1`, `layer1..4`: ImageNet weights or a dak model built on the same
//! ResNet load into it), global average pooling, then a bottleneck `bottleneck.fc1`
//! Dense(C → n) + `bottleneck.bn1` BatchNorm1d + ReLU, as TLlib's `ImageClassifier` has it
//! (without the ReLU in SHOT's recipe).
//!
//! BN follows the tape: on a tape that records gradients (a training step, one forward over
//! the concatenated source + target batch, so both domains share the statistics, TLlib's
//! recipe) every BN whose γ trains uses the batch statistics and moves its running ones; on a
//! tape without gradients (evaluation, prediction, selection) the running statistics.

use super::bn1d::Bn1d;
use super::chunks;
use super::resnet::{BnMode, ResNet, ResNetConfig};
use crate::autograd::{Params, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::{Dense, DenseConfig, DenseInit, Init};

/// ResNet base + GAP (+ bottleneck).
#[derive(Clone)]
pub struct ResNetFeatures {
    /// The convolutional base.
    pub base: std::sync::Arc<ResNet>,
    /// Dense(C → n) and its BatchNorm1d, then ReLU (unless `linear`), when configured.
    /// (No BatchNorm in the `plain` bottleneck of a fine-tuned classifier's head: Dense + ReLU.)
    pub bottleneck: Option<(Dense, Option<Bn1d>)>,
    /// The bottleneck ends at its BN, without ReLU (SHOT's recipe).
    pub linear: bool,
}

impl std::fmt::Debug for ResNetFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResNetFeatures")
            .field("base", &self.base.config)
            .field("bottleneck", &self.bottleneck.as_ref().map(|b| b.0.outputs))
            .finish()
    }
}

impl ResNetFeatures {
    /// Creates the base (torchvision's initialisation) and, when `bottleneck > 0`,
    /// `bottleneck.fc1` and `bottleneck.bn1`.
    pub fn new(
        gpu: &Gpu,
        params: &mut Params,
        config: &ResNetConfig,
        (bottleneck, linear, plain): (usize, bool, bool),
        init: &mut Init,
    ) -> Result<ResNetFeatures> {
        let base = ResNet::new(gpu, params, config, init)?;
        let bottleneck = match bottleneck {
            0 => None,
            n => {
                let fc = Dense::new(
                    gpu,
                    params,
                    "bottleneck.fc1",
                    DenseConfig::linear(config.features(), n)
                        .relu_if(plain)
                        .start(DenseInit::He),
                    init,
                )?;
                let bn = match plain {
                    true => None,
                    false => Some(Bn1d::new(gpu, params, "bottleneck.bn1", n)?),
                };
                Some((fc, bn))
            }
        };
        Ok(ResNetFeatures {
            base: std::sync::Arc::new(base),
            bottleneck,
            linear,
        })
    }

    /// Feature size: the bottleneck's width, else the base's channels.
    pub fn dim(&self) -> usize {
        self.bottleneck
            .as_ref()
            .map_or(self.base.config.features(), |b| b.0.outputs)
    }

    /// Images [B, 3, S, S] (S a multiple of 32) → features [B, dim].
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        let training = tape.records();
        let mode = if training {
            BnMode::Batch
        } else {
            BnMode::Running
        };
        let pooled_base = |t: &mut Tape, v, mode| {
            let map = self.base.forward(t, params, v, mode)?;
            t.global_avg_pool(map)
        };
        let gpu = tape.tensor(x).gpu().clone();
        let key = self.base.config.name();
        let parts = chunks::count(&gpu, &key, tape.tensor(x), |t, v| {
            pooled_base(t, v, BnMode::Running)
        })?;
        if mode == BnMode::Batch {
            chunks::note_batch_statistics(tape.tensor(x).shape()[0], parts);
        }
        let pooled = tape.chunked(x, parts, |t, v| pooled_base(t, v, mode))?;
        let Some((fc, bn)) = &self.bottleneck else {
            return Ok(pooled);
        };
        let h = fc.forward(tape, params, pooled)?;
        match bn {
            Some(bn) => bn.forward(tape, params, h, !self.linear),
            None => Ok(h), // Dense + ReLU (its ReLU fused in the Dense)
        }
    }
}
