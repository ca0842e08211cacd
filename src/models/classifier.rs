//! The transfer-learning classifier users know from Keras: a VGG16 or ResNet base (frozen by
//! default), global average pooling, Dense(hidden, ReLU), Dropout, Dense(classes) + softmax.
//!
//! A ResNet base's BN follows the layer it belongs to: where the base trains and `bn` is
//! [`BnTraining::Train`], batch statistics (PyTorch's `train()`); where it is frozen, the running
//! statistics, folded into the convolutions so no BN kernel runs (Keras runs a frozen layer's BN
//! in inference mode). Evaluation always runs the folded network.
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
use super::resnet::{BnMode, Folded, ResNet, ResNetConfig};
use super::vgg16::{self, Vgg16};
use super::{chunks, Model};
use crate::autograd::{Params, Tape, Var};
use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Dense, DenseConfig, Dropout, Init};
use crate::tensor::Tensor;
use std::sync::{Arc, Mutex};

/// Architecture name stored in model files (VGG16 base).
pub const ARCHITECTURE: &str = "vgg16-gap-head";
/// Architecture name stored in model files of a ResNet base (the ResNet's shape is in the
/// configuration).
pub const RESNET_ARCHITECTURE: &str = "resnet-gap-head";

/// Whether `architecture` names a fine-tuned classifier (any base).
pub fn is_classifier(architecture: &str) -> bool {
    architecture == ARCHITECTURE || architecture == RESNET_ARCHITECTURE
}

/// Which base a classifier is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaseKind {
    /// VGG16 (13 convolutions, no BN).
    #[default]
    Vgg16,
    /// A ResNet of this shape ([`ResNetConfig::named`] for the standard depths).
    ResNet(ResNetConfig),
}

impl BaseKind {
    /// `vgg16`, `resnet18`, `resnet34`, `resnet50`, `resnet101` or `resnet152`.
    pub fn parse(name: &str) -> Result<BaseKind> {
        if name == "vgg16" {
            return Ok(BaseKind::Vgg16);
        }
        ResNetConfig::named(name)
            .map(BaseKind::ResNet)
            .ok_or_else(|| {
                Error::input(format!(
                    "unknown --backbone `{name}`; choose vgg16, {}",
                    super::resnet::NAMES.join(", ")
                ))
            })
    }

    /// The name `parse` reads.
    pub fn name(&self) -> String {
        match self {
            BaseKind::Vgg16 => "vgg16".into(),
            BaseKind::ResNet(c) => c.name(),
        }
    }

    /// Channels of the pooled features.
    pub fn features(&self) -> usize {
        match self {
            BaseKind::Vgg16 => vgg16::FEATURES,
            BaseKind::ResNet(c) => c.features(),
        }
    }
}

/// How a ResNet base's BN behaves where the base trains (`--bn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BnTraining {
    /// Batch statistics, running statistics updated, γ/β trained with their layer.
    #[default]
    Train,
    /// Running statistics, γ/β frozen, even where the convolutions train.
    Frozen,
}

impl BnTraining {
    /// `train` or `frozen`.
    pub fn parse(s: &str) -> Result<BnTraining> {
        match s {
            "train" => Ok(BnTraining::Train),
            "frozen" => Ok(BnTraining::Frozen),
            other => Err(Error::input(format!(
                "--bn {other}: choose train (batch statistics where the base trains) or frozen (running statistics, γ/β fixed)"
            ))),
        }
    }
}

/// The convolutional base.
pub enum Base {
    /// VGG16.
    Vgg16(Vgg16),
    /// A ResNet.
    ResNet(Box<ResNet>),
}

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

/// Everything [`Classifier::with_base`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierSpec {
    /// The base ([`Classifier::vgg16`] and [`Classifier::resnet50`] set it themselves).
    pub base: BaseKind,
    /// How a ResNet base's BN trains where the base trains.
    pub bn: BnTraining,
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
            base: BaseKind::Vgg16,
            bn: BnTraining::Train,
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
    /// Checks the settings without touching the GPU (`Classifier::with_base` calls it too).
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 || !self.input_size.is_multiple_of(32) {
            return Err(Error::input(format!(
                "--input-size {}: {} needs a multiple of 32 (32, 64, ..., 224)",
                self.input_size,
                self.base.name()
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
                    "--weights {}: file not found; pass {} ImageNet weights (.safetensors, see weights/README.md) or `none`",
                    path.display(),
                    self.base.name()
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
    /// Blocks `b..=5` of VGG16 (or stages `layer{b}..layer4` of a ResNet) train with the head
    /// (the low-learning-rate second stage).
    FromBlock(usize),
}

/// VGG16 or ResNet base + GAP + Dense(hidden, ReLU) + Dropout + Dense(classes).
pub struct Classifier {
    /// Every parameter: the base's (`features.*` for VGG16; `conv1`, `bn1`, `layer1..4` for a
    /// ResNet, with the BN running statistics as buffers) and `head.*`. After writing base
    /// weights here directly, call [`Classifier::base_changed`].
    pub params: Params,
    /// The convolutional base.
    pub base: Base,
    /// How a ResNet base's BN trains.
    pub bn: BnTraining,
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
    /// A ResNet base with BN folded, made when first needed and dropped when the base changes.
    folded: Mutex<Option<Arc<Folded>>>,
    gpu: Gpu,
}

impl Classifier {
    /// The Keras recipe: VGG16 base (`include_top=False`) with `spec.weights`, then
    /// GAP + Dense(hidden, ReLU) + Dropout + Dense(classes). Everything is trainable until
    /// [`Classifier::freeze`] says otherwise.
    pub fn vgg16(gpu: &Gpu, spec: &ClassifierSpec) -> Result<Classifier> {
        Classifier::with_base(
            gpu,
            &ClassifierSpec {
                base: BaseKind::Vgg16,
                ..spec.clone()
            },
        )
    }

    /// The same recipe on ResNet-50 (`keras.applications.ResNet50(include_top=False)`):
    /// torchvision or timm weights in `spec.weights`.
    pub fn resnet50(gpu: &Gpu, spec: &ClassifierSpec) -> Result<Classifier> {
        let config = ResNetConfig::named("resnet50").expect("a standard depth");
        Classifier::with_base(
            gpu,
            &ClassifierSpec {
                base: BaseKind::ResNet(config),
                ..spec.clone()
            },
        )
    }

    /// The recipe on the base `spec.base` names.
    pub fn with_base(gpu: &Gpu, spec: &ClassifierSpec) -> Result<Classifier> {
        spec.validate()?;
        let config = HeadConfig {
            hidden: spec.hidden,
            dropout: spec.dropout,
            classes: spec.classes.len(),
        };
        let mut model = Classifier::new_on(gpu, spec.base, config, spec.seed)?;
        model.classes = spec.classes.clone();
        model.input_size = spec.input_size;
        model.bn = spec.bn;
        // Unless given: what a dak model file was trained with, ImageNet's for ImageNet files,
        // `unit` for a fresh base.
        let stored = match (&spec.weights, &model.base) {
            (Weights::File(path), Base::Vgg16(_)) => {
                vgg16::load_base_weights_and_preprocess(path, &mut model.params)?.1
            }
            (Weights::File(path), Base::ResNet(net)) => {
                net.load_weights(path, &mut model.params)?
            }
            (Weights::None, _) => None,
        };
        model.preprocess = match (spec.preprocess, &spec.weights) {
            (Some(p), _) => p,
            (None, Weights::None) => Preprocess::Unit,
            (None, Weights::File(_)) => stored.unwrap_or(Preprocess::Imagenet),
        };
        Ok(model)
    }

    /// A classifier with a He-initialised VGG16 base and a new head, for classes named `0`,
    /// `1`, ..., 224x224 ImageNet-preprocessed inputs. [`Classifier::vgg16`] is the usual way in.
    pub fn new(gpu: &Gpu, config: HeadConfig, seed: u64) -> Result<Classifier> {
        Classifier::new_on(gpu, BaseKind::Vgg16, config, seed)
    }

    /// [`Classifier::new`] on any base (a ResNet with torchvision's initialisation).
    pub fn new_on(gpu: &Gpu, kind: BaseKind, config: HeadConfig, seed: u64) -> Result<Classifier> {
        let mut params = Params::new();
        let mut init = Init::new(seed);
        let base = match kind {
            BaseKind::Vgg16 => Base::Vgg16(Vgg16::new(gpu, &mut params, &mut init)?),
            BaseKind::ResNet(c) => {
                Base::ResNet(Box::new(ResNet::new(gpu, &mut params, &c, &mut init)?))
            }
        };
        let fc1 = Dense::new(
            gpu,
            &mut params,
            "head.fc1",
            DenseConfig::relu(kind.features(), config.hidden),
            &mut init,
        )?;
        let fc2 = Dense::new(
            gpu,
            &mut params,
            "head.fc2",
            DenseConfig::linear(config.hidden, config.classes),
            &mut init,
        )?;
        Ok(Classifier {
            params,
            base,
            bn: BnTraining::Train,
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
            folded: Mutex::new(None),
            gpu: gpu.clone(),
        })
    }

    /// Which base this is.
    pub fn base_kind(&self) -> BaseKind {
        match &self.base {
            Base::Vgg16(_) => BaseKind::Vgg16,
            Base::ResNet(net) => BaseKind::ResNet(net.config),
        }
    }

    /// Channels of the pooled features the head reads.
    pub fn feature_dim(&self) -> usize {
        self.base_kind().features()
    }

    /// The parameter prefixes of the base.
    pub fn base_prefixes(&self) -> Vec<&'static str> {
        match &self.base {
            Base::Vgg16(_) => vec!["features"],
            Base::ResNet(_) => ResNetConfig::prefixes().to_vec(),
        }
    }

    /// Whether `name` is a parameter of the base.
    pub fn in_base(&self, name: &str) -> bool {
        self.base_prefixes()
            .iter()
            .any(|p| crate::autograd::params::under_prefix(name, p))
    }

    /// True when no parameter of the base trains.
    pub fn base_frozen(&self) -> bool {
        self.params
            .iter()
            .filter(|(_, p)| self.in_base(&p.name))
            .all(|(_, p)| !p.trainable)
    }

    /// Drops what was derived from the base's weights (a ResNet's folded BN): call it after
    /// changing base parameters or running statistics other than through this type.
    pub fn base_changed(&self) {
        *self.folded.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The ResNet base with BN folded, from the current weights (made once, kept until
    /// [`Classifier::base_changed`]).
    fn folded(&self, net: &ResNet) -> Result<Arc<Folded>> {
        let mut slot = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = slot.as_ref() {
            return Ok(f.clone());
        }
        let f = Arc::new(net.fold(&self.params)?);
        *slot = Some(f.clone());
        Ok(f)
    }

    /// Freezes every parameter under `prefix` — `features` is the whole base, `features.24`
    /// one layer, `head` the head — so it gets no gradient and no update. Keras:
    /// `layer.trainable = False`.
    pub fn freeze(&mut self, prefix: &str) -> Result<()> {
        self.base_changed();
        self.params.freeze(prefix).map(drop)
    }

    /// Makes every parameter under `prefix` trainable again.
    pub fn unfreeze(&mut self, prefix: &str) -> Result<()> {
        self.base_changed();
        self.params.unfreeze(prefix).map(drop)
    }

    /// Sets what trains: the head always, plus none, all or the blocks from `b` on of the base
    /// (VGG16 blocks 1-5, ResNet stages `layer1`-`layer4`); with [`BnTraining::Frozen`] no BN
    /// γ/β trains.
    pub fn set_trainable(&mut self, freeze: Freeze) -> Result<()> {
        self.params.unfreeze("")?;
        match freeze {
            Freeze::None => {}
            Freeze::Base => self.freeze_base()?,
            Freeze::FromBlock(b) => {
                self.freeze_base()?;
                let prefixes: Vec<String> = match &self.base {
                    Base::Vgg16(_) if (1..=5).contains(&b) => {
                        (b..=5).flat_map(vgg16::block_prefixes).collect()
                    }
                    Base::ResNet(_) if (1..=4).contains(&b) => {
                        (b..=4).map(|s| format!("layer{s}")).collect()
                    }
                    Base::Vgg16(_) => {
                        return Err(Error::input(format!(
                            "--unfreeze block{b}: VGG16 has blocks 1 to 5"
                        )))
                    }
                    Base::ResNet(_) => {
                        return Err(Error::input(format!(
                            "--unfreeze layer{b}: a ResNet has stages layer1 to layer4"
                        )))
                    }
                };
                for prefix in prefixes {
                    self.unfreeze(&prefix)?;
                }
            }
        }
        if let (Base::ResNet(net), BnTraining::Frozen) = (&self.base, self.bn) {
            let names: Vec<String> = net.config.sites().into_iter().map(|s| s.bn).collect();
            for bn in names {
                self.freeze(&bn)?;
            }
        }
        Ok(())
    }

    fn freeze_base(&mut self) -> Result<()> {
        for prefix in self.base_prefixes() {
            self.freeze(prefix)?;
        }
        Ok(())
    }

    /// Pooled base features [N, C] of images [N, 3, H, W]; `training` runs a trainable
    /// ResNet's BN on batch statistics (as [`BnTraining`] says).
    /// The batch runs through the base in chunks where it would not fit the device at once
    /// ([`chunks`]).
    pub fn features_in(&self, tape: &mut Tape, x: Var, training: bool) -> Result<Var> {
        let key = format!("classifier base {}", self.base_kind().name());
        let parts = chunks::count(self.gpu(), &key, tape.tensor(x), |t, v| {
            self.pooled_base(t, v, false)
        })?;
        let batch_bn = matches!(self.base, Base::ResNet(_)) && self.bn == BnTraining::Train;
        if training && !self.base_frozen() && batch_bn {
            chunks::note_batch_statistics(tape.tensor(x).shape()[0], parts);
        }
        tape.chunked(x, parts, |t, v| self.pooled_base(t, v, training))
    }

    /// The base and its global average pooling, on one chunk.
    fn pooled_base(&self, tape: &mut Tape, x: Var, training: bool) -> Result<Var> {
        let map = match &self.base {
            Base::Vgg16(net) => net.forward(tape, &self.params, x)?,
            Base::ResNet(net) if training && !self.base_frozen() => {
                let mode = match self.bn {
                    BnTraining::Train => BnMode::Batch,
                    BnTraining::Frozen => BnMode::Running,
                };
                if mode == BnMode::Batch {
                    self.base_changed(); // the running statistics move
                }
                net.forward(tape, &self.params, x, mode)?
            }
            Base::ResNet(net) => {
                let folded = self.folded(net)?;
                net.forward_folded(tape, &folded, x)?
            }
        };
        tape.global_avg_pool(map)
    }

    /// Pooled base features in evaluation mode ([`Classifier::features_in`]).
    pub fn features(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        self.features_in(tape, x, false)
    }

    /// Logits [N, classes] from pooled features.
    pub fn head(&self, tape: &mut Tape, features: Var, training: bool, seed: u32) -> Result<Var> {
        let h = self.fc1.forward(tape, &self.params, features)?;
        let h = self.dropout.forward(tape, h, training, seed)?;
        self.fc2.forward(tape, &self.params, h)
    }

    /// Logits [N, classes] from images; `training` enables dropout and batch-statistics BN.
    pub fn forward(&self, tape: &mut Tape, x: Var, training: bool, seed: u32) -> Result<Var> {
        let f = self.features_in(tape, x, training)?;
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
        if !is_classifier(&info.architecture) {
            return Err(Error::input(format!(
                "{}: a `{}` model; this needs a `{ARCHITECTURE}` or `{RESNET_ARCHITECTURE}` model from `dak fine-tune`",
                path.display(),
                info.architecture,
            )));
        }
        let unreadable = |e: serde_json::Error| {
            Error::input(format!(
                "{}: unreadable model configuration ({e})",
                path.display()
            ))
        };
        let config: HeadConfig = serde_json::from_value(info.config.clone()).map_err(unreadable)?;
        let kind = match info.architecture.as_str() {
            RESNET_ARCHITECTURE => BaseKind::ResNet(
                serde_json::from_value(info.config["resnet"].clone()).map_err(unreadable)?,
            ),
            _ => BaseKind::Vgg16,
        };
        let mut model = Classifier::new_on(gpu, kind, config, 0)?;
        if let Some(bn) = info.config.get("bn") {
            model.bn = serde_json::from_value(bn.clone()).map_err(unreadable)?;
        }
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
        self.base_changed();
        ck.restore(&mut self.params, path)
    }
}

impl Model for Classifier {
    fn info(&self) -> ModelInfo {
        let mut config = serde_json::to_value(self.config).expect("plain JSON");
        let architecture = match &self.base {
            Base::Vgg16(_) => ARCHITECTURE,
            Base::ResNet(net) => {
                config["resnet"] = serde_json::to_value(net.config).expect("plain JSON");
                config["bn"] = serde_json::to_value(self.bn).expect("plain JSON");
                RESNET_ARCHITECTURE
            }
        };
        ModelInfo {
            architecture: architecture.into(),
            config,
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
