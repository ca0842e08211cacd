//! DANN (Ganin et al., JMLR 2016): a feature extractor G_f shared by a label predictor G_y and,
//! behind a gradient-reversal layer, a domain classifier G_d.
//!
//! ```text
//! x ─ features (backbone) ─┬─ label head ────────────── class logits [B, classes]
//!                          └─ GRL(λ) ─ domain head ──── domain logit [B, 1] (0 source, 1 target)
//! ```
//!
//! The backbone is a swappable piece ([`Backbone`] / [`Features`]): the paper's digits network,
//! or a VGG16 base + global average pooling (+ a bottleneck), see [`super::dann_vgg`].
//! Parameter names: `features.conv1.weight` (digits) or `features.0.weight` (VGG16, torchvision
//! names), `bottleneck.fc1.weight`, `label.fc1.weight`, `domain.fc1.weight`, ...

use std::path::Path;

use crate::autograd::{Lambda, Params, Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::file::TensorFile;
use crate::models::file::{self, ModelInfo, Provenance as ModelProvenance};
use crate::models::Model;
use crate::nn::{Dropout, Init};
use crate::tensor::Tensor;

pub use super::dann_config::{shot_recipe, DannConfig, HeadConfig};
pub use super::dann_nets::{Backbone, DigitsFeatures, Features, Mlp};

/// A DANN: parameters plus the three parts.
pub struct Dann {
    /// Every parameter: `features.*`, `label.*`, `domain.*`.
    pub params: Params,
    /// The feature extractor G_f.
    pub features: Features,
    /// The label predictor G_y.
    pub label: Mlp,
    /// The domain classifier G_d (behind the gradient reversal).
    pub domain: Mlp,
    /// The heads of `config.heads`, in the same order.
    pub heads: Vec<Mlp>,
    /// Sizes, as stored in the model file.
    pub config: DannConfig,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// How the model was made (stored in its file; `None` until a run says).
    pub provenance: Option<ModelProvenance>,
    gpu: Gpu,
}

impl Dann {
    /// The paper's digits network (MNIST -> MNIST-M: 28x28 inputs) for `classes`, seeded.
    ///
    /// ```no_run
    /// # fn main() -> dak::Result<()> {
    /// let gpu = dak::Gpu::new()?;
    /// let data = dak::data::load_mnist_mnistm()?;
    /// let dann = dak::models::Dann::digits(&gpu, data.classes(), 0)?;
    /// # Ok(()) }
    /// ```
    pub fn digits(gpu: &Gpu, classes: &[String], seed: u64) -> Result<Dann> {
        Dann::paper(gpu, Backbone::Digits, classes, seed)
    }

    /// A VGG16 DANN (DESIGN §6, Office-31 setting) for `classes`: the base from `weights`
    /// (ImageNet VGG16 with timm/torchvision names, or any dak model built on VGG16; `None`
    /// starts from seeded He initialisation), inputs `input_size` square (a multiple of 32), a
    /// `bottleneck`-wide layer after the pooling (0 for none).
    pub fn vgg16(
        gpu: &Gpu,
        classes: &[String],
        weights: Option<&Path>,
        input_size: usize,
        bottleneck: usize,
        seed: u64,
    ) -> Result<Dann> {
        let mut config = DannConfig::paper(Backbone::Vgg16, classes.len());
        config.input_size = Some(input_size);
        config.bottleneck = bottleneck;
        let mut model = Dann::new(gpu, config, classes.to_vec(), seed)?;
        if let Some(w) = weights {
            super::vgg16::load_base_weights(w, &mut model.params)?;
        }
        Ok(model)
    }

    /// A ResNet DANN for `classes` as `config` describes it (`config.backbone` a ResNet name;
    /// input size and bottleneck from it): the base from `weights` (ImageNet ResNet with
    /// torchvision/timm names, or a dak model built on the same ResNet; `None` starts from
    /// torchvision's seeded initialisation).
    pub fn resnet(
        gpu: &Gpu,
        config: &DannConfig,
        classes: &[String],
        weights: Option<&Path>,
        seed: u64,
    ) -> Result<Dann> {
        let mut model = Dann::new(gpu, config.clone(), classes.to_vec(), seed)?;
        let base = match &model.features {
            super::dann_nets::Features::ResNet(f) => f.base.clone(),
            _ => {
                return Err(Error::input(format!(
                    "Dann::resnet: `{}` is not a ResNet backbone",
                    config.backbone
                )))
            }
        };
        if let Some(w) = weights {
            base.load_weights(w, &mut model.params)?;
        }
        Ok(model)
    }

    /// Freezes the BN layers of a ResNet base (γ/β fixed, running statistics used in
    /// training too: `--bn frozen`); the bottleneck's BN keeps training. Nothing for other
    /// backbones.
    pub fn freeze_base_bn(&mut self) -> Result<()> {
        if let super::dann_nets::Features::ResNet(f) = &self.features {
            let names: Vec<String> = f.base.config.sites().into_iter().map(|s| s.bn).collect();
            for bn in names {
                self.params.freeze(&bn)?;
            }
        }
        Ok(())
    }

    /// The parameter prefixes of the backbone's base (what `backbone_lr_mult` scales).
    pub fn base_prefixes(&self) -> Vec<&'static str> {
        match &self.features {
            super::dann_nets::Features::ResNet(_) => {
                super::resnet::ResNetConfig::prefixes().to_vec()
            }
            _ => vec!["features"],
        }
    }

    /// The paper's heads on `backbone` for `classes`, seeded.
    pub fn paper(gpu: &Gpu, backbone: Backbone, classes: &[String], seed: u64) -> Result<Dann> {
        let config = DannConfig::paper(backbone, classes.len());
        Dann::new(gpu, config, classes.to_vec(), seed)
    }

    /// A freshly initialised network (seeded He / Glorot; biases zero).
    pub fn new(gpu: &Gpu, mut config: DannConfig, classes: Vec<String>, seed: u64) -> Result<Dann> {
        config.validate()?;
        let backbone = Backbone::parse(&config.backbone)?;
        if config.classes < 2 || config.classes != classes.len() {
            return Err(Error::input(format!(
                "a DANN needs at least 2 classes and one name per class (got {} classes, {} names)",
                config.classes,
                classes.len()
            )));
        }
        let mut params = Params::new();
        let mut init = Init::new(seed);
        let features = Features::new(
            backbone,
            gpu,
            &mut params,
            "features",
            (
                config.bottleneck,
                config.bottleneck_linear,
                config.bottleneck_plain,
            ),
            &mut init,
        )?;
        let sizes = |hidden: &[usize], out: usize| {
            let mut s = vec![features.dim()];
            s.extend_from_slice(hidden);
            s.push(out);
            s
        };
        let mut label = Mlp::new(
            gpu,
            &mut params,
            "label",
            &sizes(&config.label_hidden, config.classes),
            0.0,
            &mut init,
        )?;
        if config.label_weight_norm {
            label.weight_norm_last(gpu, &mut params, "label")?;
        }
        let domain = Mlp::new(
            gpu,
            &mut params,
            "domain",
            &sizes(&config.domain_hidden, 1),
            config.domain_dropout,
            &mut init,
        )?;
        let heads = std::mem::take(&mut config.heads);
        let mut model = Dann {
            params,
            features,
            label,
            domain,
            heads: Vec::new(),
            config,
            classes,
            provenance: None,
            gpu: gpu.clone(),
        };
        model.attach_heads(&heads, &mut init)?;
        Ok(model)
    }

    /// Adds every head of `heads` the network does not have yet (by name), initialised from
    /// `seed` (He / Glorot, biases zero). Existing parameters keep their ids.
    pub fn add_heads(&mut self, heads: &[HeadConfig], seed: u64) -> Result<()> {
        self.attach_heads(heads, &mut Init::new(seed))
    }

    fn attach_heads(&mut self, heads: &[HeadConfig], init: &mut Init) -> Result<()> {
        for h in heads {
            if self.config.heads.iter().any(|have| have.name == h.name) {
                continue;
            }
            if h.input == 0 || h.outputs == 0 || !(0.0..1.0).contains(&h.dropout) {
                return Err(Error::input(format!(
                    "head `{}`: needs inputs and outputs and a dropout in [0, 1)",
                    h.name
                )));
            }
            let mut sizes = vec![h.input];
            sizes.extend_from_slice(&h.hidden);
            sizes.push(h.outputs);
            let mlp = Mlp::new(
                &self.gpu,
                &mut self.params,
                &h.name,
                &sizes,
                h.dropout,
                init,
            )?;
            self.heads.push(mlp);
            self.config.heads.push(h.clone());
        }
        Ok(())
    }

    /// The head a method added under `name`.
    pub fn head(&self, name: &str) -> Result<&Mlp> {
        self.config
            .heads
            .iter()
            .position(|h| h.name == name)
            .map(|i| &self.heads[i])
            .ok_or_else(|| {
                Error::runtime(format!(
                    "the network has no `{name}` head (the method adds it before training)"
                ))
            })
    }

    /// `x` through the head called `name` (no gradient reversal; `train_seed` turns its
    /// dropout on).
    pub fn head_logits(
        &self,
        tape: &mut Tape,
        name: &str,
        x: Var,
        train_seed: Option<u32>,
    ) -> Result<Var> {
        self.head(name)?.forward(tape, &self.params, x, train_seed)
    }

    /// Which backbone the feature extractor is.
    pub fn backbone(&self) -> Backbone {
        self.features.backbone()
    }

    /// Images [B, 3, S, S] → features [B, dim].
    pub fn features(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        self.features.forward(tape, &self.params, x)
    }

    /// [`Dann::features`] in a training step: then the bottleneck's dropout, if the network
    /// has one (`DannConfig::bottleneck_dropout`), with masks drawn from `train_seed` (new
    /// every step). Evaluation, scoring and export use [`Dann::features`].
    pub fn training_features(&self, tape: &mut Tape, x: Var, train_seed: u32) -> Result<Var> {
        let f = self.features(tape, x)?;
        let dropout = Dropout {
            rate: self.config.bottleneck_dropout,
        };
        // A mask of its own: the domain head's dropout draws from `train_seed` itself.
        dropout.forward(tape, f, true, train_seed ^ 0xB077_1E4E)
    }

    /// Features → class logits [B, classes].
    pub fn label_logits(&self, tape: &mut Tape, features: Var) -> Result<Var> {
        self.label.forward(tape, &self.params, features, None)
    }

    /// Features → gradient reversal (coefficient `lambda`) → domain logit [B, 1].
    /// `train_seed` (new every step) turns the domain head's dropout on.
    pub fn domain_logits(
        &self,
        tape: &mut Tape,
        features: Var,
        lambda: &Lambda,
        train_seed: Option<u32>,
    ) -> Result<Var> {
        let reversed = tape.grad_reverse(features, lambda);
        self.domain
            .forward(tape, &self.params, reversed, train_seed)
    }

    /// Class logits of a batch of images without recording anything (evaluation).
    pub fn predict_logits(&self, images: &Tensor) -> Result<Tensor> {
        let mut tape = Tape::no_grad();
        let x = tape.input(images.clone());
        let f = self.features(&mut tape, x)?;
        let z = self.label_logits(&mut tape, f)?;
        Ok(tape.tensor(z).clone())
    }

    /// Features and class logits of a batch of images in one pass, without recording anything.
    pub fn features_and_logits(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut tape = Tape::no_grad();
        let x = tape.input(images.clone());
        let f = self.features(&mut tape, x)?;
        let z = self.label_logits(&mut tape, f)?;
        Ok((tape.tensor(f).clone(), tape.tensor(z).clone()))
    }

    /// Features of a batch of images without recording anything.
    pub fn extract_features(&self, images: &Tensor) -> Result<Tensor> {
        let mut tape = Tape::no_grad();
        let x = tape.input(images.clone());
        let f = self.features(&mut tape, x)?;
        Ok(tape.tensor(f).clone())
    }

    /// Writes the model file (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        file::save(path.as_ref(), &self.params, &self.info())
    }

    /// Reads a model file written by [`Dann::save`] or `dak adapt`.
    pub fn load(gpu: &Gpu, path: impl AsRef<Path>) -> Result<Dann> {
        let path = path.as_ref();
        let (info, ck) = file::load(path)?;
        Dann::from_file(gpu, info, &ck, path)
    }

    /// Builds the model a loaded file describes.
    pub(crate) fn from_file(
        gpu: &Gpu,
        info: ModelInfo,
        ck: &TensorFile,
        path: &Path,
    ) -> Result<Dann> {
        let Some(backbone) = info.architecture.strip_prefix("dann-") else {
            return Err(Error::input(format!(
                "{}: architecture `{}` is not a DANN (expected dann-<backbone>)",
                path.display(),
                info.architecture
            )));
        };
        let config: DannConfig = serde_json::from_value(info.config.clone()).map_err(|e| {
            Error::input(format!(
                "{}: unreadable DANN configuration ({e})",
                path.display()
            ))
        })?;
        if config.backbone != backbone {
            return Err(Error::input(format!(
                "{}: architecture says backbone `{backbone}`, the configuration `{}`",
                path.display(),
                config.backbone
            )));
        }
        let mut model = Dann::new(gpu, config, info.classes.clone(), 0)?;
        ck.restore(&mut model.params, path)?;
        model.provenance = info.provenance;
        Ok(model)
    }
}

impl Model for Dann {
    fn info(&self) -> ModelInfo {
        let backbone = self.backbone();
        ModelInfo {
            architecture: backbone.architecture(),
            config: serde_json::to_value(&self.config).expect("plain JSON"),
            classes: self.classes.clone(),
            input_size: self.config.input_size(),
            preprocess: self
                .config
                .preprocess
                .clone()
                .unwrap_or_else(|| backbone.preprocess().name().to_string()),
            provenance: self.provenance.clone(),
        }
    }

    fn logits(&self, images: &Tensor) -> Result<Tensor> {
        self.predict_logits(images)
    }

    fn gpu(&self) -> &Gpu {
        &self.gpu
    }
}
