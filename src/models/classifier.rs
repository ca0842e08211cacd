//! The transfer-learning classifier users know from Keras: a VGG16 base (frozen by default),
//! global average pooling, Dense(hidden, ReLU), Dropout, Dense(classes) + softmax.
//!
//! ```no_run
//! use dak::models::{Classifier, ClassifierSpec, Weights};
//! # fn main() -> dak::Result<()> {
//! let gpu = dak::Gpu::new()?;
//! let classes: Vec<String> = ["cat", "dog"].map(String::from).to_vec();
//! let mut model = Classifier::vgg16(&gpu, &ClassifierSpec {
//!     classes,
//!     weights: Weights::File("weights/vgg16.safetensors".into()), // timm or torchvision names
//!     input_size: 224,
//!     ..Default::default()
//! })?;
//! model.freeze("features")?; // `layer.trainable = False` for every base layer
//! model.save("cats-dogs.safetensors")?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use super::file::{self, ModelInfo};
use super::file::{read_tensors, TensorFile};
use super::vgg16::{self, Vgg16};
use super::Model;
use crate::autograd::{Params, Tape, Var};
use crate::data::Preprocess;
use crate::nn::{Dense, DenseInit, Dropout, Init};
use crate::{Error, Gpu, Result, Tensor};

/// Architecture name stored in model files.
pub const ARCHITECTURE: &str = "vgg16-gap-head";

/// Sizes of the head.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    /// Units of the hidden dense layer (Keras example: 1024).
    pub hidden: usize,
    /// Dropout rate after the hidden layer (0 disables it).
    pub dropout: f32,
    /// Number of classes.
    pub classes: usize,
}

/// Where the base's weights come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Weights {
    /// Seeded He initialisation (training from scratch, or tests without weights).
    #[default]
    None,
    /// ImageNet weights: a `.safetensors` file with timm (`vgg16.tv_in1k`) or torchvision
    /// names (see `weights/README.md`); only `features.*` is used.
    File(PathBuf),
}

/// Everything [`Classifier::vgg16`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierSpec {
    /// Class names in label order (a dataset's `classes()`).
    pub classes: Vec<String>,
    /// Base weights.
    pub weights: Weights,
    /// Square input side in pixels, a multiple of 32 (224 for ImageNet weights).
    pub input_size: usize,
    /// Hidden units of the head.
    pub hidden: usize,
    /// Dropout rate of the head.
    pub dropout: f32,
    /// Pixel preprocessing; `None` picks the weights file's own (a dak model), else `imagenet`
    /// with weights and `unit` without.
    pub preprocess: Option<Preprocess>,
    /// Seed of the initial weights (the head, and the base without weights).
    pub seed: u64,
}

impl Default for ClassifierSpec {
    fn default() -> Self {
        ClassifierSpec {
            classes: Vec::new(),
            weights: Weights::None,
            input_size: 224,
            hidden: 1024,
            dropout: 0.5,
            preprocess: None,
            seed: 0,
        }
    }
}

impl ClassifierSpec {
    /// Checks the settings without touching the GPU (`Classifier::vgg16` calls it too).
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 || !self.input_size.is_multiple_of(32) {
            return Err(Error::input(format!(
                "--input-size {}: VGG16 needs a multiple of 32 (32, 64, ..., 224)",
                self.input_size
            )));
        }
        if self.classes.len() < 2 {
            return Err(Error::input(format!(
                "a classifier needs at least 2 classes, got {}",
                self.classes.len()
            )));
        }
        if let Weights::File(path) = &self.weights {
            if !path.is_file() {
                return Err(Error::input(format!(
                    "--weights {}: file not found; pass VGG16 ImageNet weights (.safetensors, see weights/README.md) or `none`",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

/// Which part of the base trains (`dak fine-tune --freeze` / `--unfreeze blockN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freeze {
    /// Only the head trains (the usual first stage).
    Base,
    /// Everything trains.
    None,
    /// Blocks `b..=5` of VGG16 train with the head (the low-learning-rate second stage).
    FromBlock(usize),
}

/// VGG16 base + GAP + Dense(hidden, ReLU) + Dropout + Dense(classes).
pub struct Classifier {
    /// Every parameter: `features.*` (the base) and `head.*`.
    pub params: Params,
    /// The convolutional base.
    pub base: Vgg16,
    /// Hidden dense layer of the head.
    pub fc1: Dense,
    /// Dropout after `fc1`.
    pub dropout: Dropout,
    /// Output layer (logits).
    pub fc2: Dense,
    /// Sizes of the head.
    pub config: HeadConfig,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Square input side in pixels.
    pub input_size: usize,
    /// Pixel preprocessing the base expects.
    pub preprocess: Preprocess,
    /// How the model was made (stored in its file; `None` until a run says).
    pub provenance: Option<crate::models::file::Provenance>,
    gpu: Gpu,
}

impl Classifier {
    /// The Keras recipe: VGG16 base (`include_top=False`) with `spec.weights`, then
    /// GAP + Dense(hidden, ReLU) + Dropout + Dense(classes). Everything is trainable until
    /// [`Classifier::freeze`] says otherwise.
    pub fn vgg16(gpu: &Gpu, spec: &ClassifierSpec) -> Result<Classifier> {
        spec.validate()?;
        let config = HeadConfig {
            hidden: spec.hidden,
            dropout: spec.dropout,
            classes: spec.classes.len(),
        };
        let mut model = Classifier::new(gpu, config, spec.seed)?;
        model.classes = spec.classes.clone();
        model.input_size = spec.input_size;
        // Unless given: what a dak model file was trained with, ImageNet's for ImageNet files,
        // `unit` for a fresh base.
        let stored = match &spec.weights {
            Weights::File(path) => {
                vgg16::load_base_weights_and_preprocess(path, &mut model.params)?.1
            }
            Weights::None => None,
        };
        model.preprocess = match (spec.preprocess, &spec.weights) {
            (Some(p), _) => p,
            (None, Weights::None) => Preprocess::Unit,
            (None, Weights::File(_)) => stored.unwrap_or(Preprocess::Imagenet),
        };
        Ok(model)
    }

    /// A classifier with a He-initialised base and a new head, for classes named `0`, `1`, ...,
    /// 224x224 ImageNet-preprocessed inputs. [`Classifier::vgg16`] is the usual way in.
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
            classes: (0..config.classes).map(|c| c.to_string()).collect(),
            input_size: 224,
            preprocess: Preprocess::Imagenet,
            provenance: None,
            gpu: gpu.clone(),
        })
    }

    /// Freezes every parameter under `prefix` — `features` is the whole base, `features.24`
    /// one layer, `head` the head — so it gets no gradient and no update. Keras:
    /// `layer.trainable = False`.
    pub fn freeze(&mut self, prefix: &str) -> Result<()> {
        self.params.freeze(prefix).map(drop)
    }

    /// Makes every parameter under `prefix` trainable again.
    pub fn unfreeze(&mut self, prefix: &str) -> Result<()> {
        self.params.unfreeze(prefix).map(drop)
    }

    /// Sets what trains by VGG16 block: the head always, plus none, all or blocks `b..=5` of
    /// the base.
    pub fn set_trainable(&mut self, freeze: Freeze) -> Result<()> {
        self.params.unfreeze("")?;
        match freeze {
            Freeze::None => {}
            Freeze::Base => self.freeze("features")?,
            Freeze::FromBlock(b) => {
                if !(1..=5).contains(&b) {
                    return Err(Error::input(format!(
                        "--unfreeze block{b}: VGG16 has blocks 1 to 5"
                    )));
                }
                self.freeze("features")?;
                for prefix in (b..=5).flat_map(vgg16::block_prefixes) {
                    self.unfreeze(&prefix)?;
                }
            }
        }
        Ok(())
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

    /// Writes the model file (atomically): weights plus everything `load` needs.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        file::save(path.as_ref(), &self.params, &Model::info(self))
    }

    /// Reads a model file written by [`Classifier::save`] or `dak fine-tune`.
    pub fn load(gpu: &Gpu, path: impl AsRef<Path>) -> Result<Classifier> {
        let path = path.as_ref();
        let (info, ck) = file::load(path)?;
        Classifier::from_file(gpu, info, &ck, path)
    }

    /// Builds the model a loaded file describes.
    pub(crate) fn from_file(
        gpu: &Gpu,
        info: ModelInfo,
        ck: &TensorFile,
        path: &Path,
    ) -> Result<Classifier> {
        if info.architecture != ARCHITECTURE {
            return Err(Error::input(format!(
                "{}: a `{}` model; this needs a `{ARCHITECTURE}` model from `dak fine-tune`",
                path.display(),
                info.architecture,
            )));
        }
        let config: HeadConfig = serde_json::from_value(info.config.clone()).map_err(|e| {
            Error::input(format!(
                "{}: unreadable head configuration ({e})",
                path.display()
            ))
        })?;
        let mut model = Classifier::new(gpu, config, 0)?;
        ck.restore(&mut model.params, path)?;
        model.classes = info.classes;
        model.input_size = info.input_size;
        model.preprocess = info.preprocess.parse()?;
        model.provenance = info.provenance;
        Ok(model)
    }

    /// Copies every weight from a dak model file with the same classes and sizes (e.g. the
    /// head trained in a first stage), keeping this model's settings.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ck = read_tensors(path)?;
        file::check_classes(&ck, path, &self.classes)?;
        ck.restore(&mut self.params, path)
    }
}

impl Model for Classifier {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            architecture: ARCHITECTURE.into(),
            config: serde_json::to_value(self.config).expect("plain JSON"),
            classes: self.classes.clone(),
            input_size: self.input_size,
            preprocess: self.preprocess.name().to_string(),
            provenance: self.provenance.clone(),
        }
    }

    fn logits(&self, images: &Tensor) -> Result<Tensor> {
        let mut tape = Tape::no_grad();
        let x = tape.input(images.clone());
        let z = self.forward(&mut tape, x, false, 0)?;
        Ok(tape.tensor(z).clone())
    }

    fn gpu(&self) -> &Gpu {
        &self.gpu
    }
}
