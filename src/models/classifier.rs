//! The transfer-learning classifier users know from Keras: a VGG16 base (frozen by default),
//! global average pooling, Dense(hidden, ReLU), Dropout, Dense(classes) + softmax.

use super::vgg16::{self, Vgg16};
use crate::autograd::{Params, Tape, Var};
use crate::nn::{Dense, DenseInit, Dropout, Init};
use crate::{Gpu, Result};

/// Architecture name stored in model files.
pub const ARCHITECTURE: &str = "vgg16-gap-head";

/// Sizes of the head.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    pub hidden: usize,
    pub dropout: f32,
    pub classes: usize,
}

/// VGG16 base + GAP + Dense(hidden, ReLU) + Dropout + Dense(classes).
pub struct Classifier {
    pub params: Params,
    pub base: Vgg16,
    pub fc1: Dense,
    pub dropout: Dropout,
    pub fc2: Dense,
    pub config: HeadConfig,
}

impl Classifier {
    /// A classifier with a He-initialised base (load weights into `params` afterwards) and a new head.
    pub fn new(gpu: &Gpu, config: HeadConfig, seed: u64) -> Result<Classifier> {
        let mut params = Params::new();
        let mut init = Init::new(seed);
        let base = Vgg16::new(gpu, &mut params, &mut init)?;
        let fc1 = Dense::new(
            gpu,
            &mut params,
            "head.fc1",
            vgg16::FEATURES,
            config.hidden,
            true,
            DenseInit::He,
            &mut init,
        )?;
        let fc2 = Dense::new(
            gpu,
            &mut params,
            "head.fc2",
            config.hidden,
            config.classes,
            false,
            DenseInit::Glorot,
            &mut init,
        )?;
        Ok(Classifier {
            params,
            base,
            fc1,
            dropout: Dropout {
                rate: config.dropout,
            },
            fc2,
            config,
        })
    }

    /// Pooled base features [N, 512] of images [N, 3, H, W].
    pub fn features(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let map = self.base.forward(tape, &self.params, x)?;
        tape.global_avg_pool(map)
    }

    /// Logits [N, classes] from pooled features.
    pub fn head(&self, tape: &mut Tape, features: Var, training: bool, seed: u32) -> Result<Var> {
        let h = self.fc1.forward(tape, &self.params, features)?;
        let h = self.dropout.forward(tape, h, training, seed)?;
        self.fc2.forward(tape, &self.params, h)
    }

    /// Logits [N, classes] from images.
    pub fn forward(&self, tape: &mut Tape, x: Var, training: bool, seed: u32) -> Result<Var> {
        let f = self.features(tape, x)?;
        self.head(tape, f, training, seed)
    }
}
