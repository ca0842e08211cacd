//! A ResNet with its classifier `fc` as torchvision or timm save it (`resnet50.tv_in1k`), for
//! prediction with the public weights as they are: every BN is folded into its convolution at
//! load, so inference runs convolutions, residual adds, pools and one dense layer.

use super::chunks;
use super::file::{read_tensors, ModelInfo, TensorFile};
use super::imagenet::{self, INPUT};
use super::resnet::{Folded, ResNet, ResNetConfig};
use super::Model;
use crate::autograd::{Params, Tape};
use crate::data::{Preprocess, Transform};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Init;
use crate::ops::matmul::{self, Variant};
use crate::tensor::Tensor;
use std::path::Path;

/// A ResNet with its `fc`, BN folded.
pub struct ImagenetResNet {
    base: ResNet,
    folded: Folded,
    fc_weight: Tensor,
    fc_bias: Tensor,
    classes: Vec<String>,
    gpu: Gpu,
}

/// The classifier's weight `[classes, features]` and bias `[classes]` from `fc.*`.
fn classifier<'a>(
    ck: &'a TensorFile,
    features: usize,
    path: &Path,
) -> Result<(usize, &'a [f32], &'a [f32])> {
    let missing = |name: &str| {
        Error::input(format!(
            "{}: no tensor `{name}` (the ImageNet classifier); for a ResNet without it, fine-tune with `dak fine-tune --backbone` instead",
            path.display()
        ))
    };
    let (wshape, w) = ck
        .tensors
        .get("fc.weight")
        .ok_or_else(|| missing("fc.weight"))?;
    let (_, b) = ck
        .tensors
        .get("fc.bias")
        .ok_or_else(|| missing("fc.bias"))?;
    match wshape.as_slice() {
        [classes, f] if *f == features && b.len() == *classes && *classes >= 2 => {
            Ok((*classes, w, b))
        }
        _ => Err(Error::input(format!(
            "{}: tensor `fc.weight` has shape {wshape:?} and `fc.bias` {} values; this ResNet's features need [classes, {features}] and [classes]",
            path.display(),
            b.len()
        ))),
    }
}

impl ImagenetResNet {
    /// Loads the network from torchvision- or timm-named weights (f32, f16 or bf16).
    pub fn load(gpu: &Gpu, path: impl AsRef<Path>) -> Result<ImagenetResNet> {
        let path = path.as_ref();
        let ck = read_tensors(path)?;
        let config = ResNetConfig::from_tensors(&ck, path)?;
        let (classes, w, b) = classifier(&ck, config.features(), path)?;
        let mut params = Params::new();
        let base = ResNet::new(gpu, &mut params, &config, &mut Init::new(0))?;
        ck.restore(&mut params, path)?;
        let folded = base.fold(&params)?;
        let names = model_info(&config, classes).classes;
        Ok(ImagenetResNet {
            base,
            folded,
            fc_weight: Tensor::from_slice(gpu, w, &[classes, config.features()])?,
            fc_bias: Tensor::from_slice(gpu, b, &[classes])?,
            classes: names,
            gpu: gpu.clone(),
        })
    }

    /// Its shape.
    pub fn config(&self) -> &ResNetConfig {
        &self.base.config
    }
}

/// The description of a ResNet with its classifier (it has no dak model file): ImageNet's
/// class names for 1,000 classes, else `0`, `1`, ...
pub fn model_info(config: &ResNetConfig, classes: usize) -> ModelInfo {
    ModelInfo {
        architecture: format!("{}-imagenet", config.name()),
        config: serde_json::to_value(config).expect("plain JSON"),
        classes: if classes == 1000 {
            imagenet::class_names()
        } else {
            (0..classes).map(|c| c.to_string()).collect()
        },
        input_size: INPUT,
        preprocess: Preprocess::Imagenet.name().into(),
        provenance: None,
    }
}

impl Model for ImagenetResNet {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            classes: self.classes.clone(),
            ..model_info(&self.base.config, self.classes.len())
        }
    }

    fn logits(&self, images: &Tensor) -> Result<Tensor> {
        let mut tape = Tape::no_grad();
        let x = tape.input(images.clone());
        let pooled_base = |t: &mut Tape, v| {
            let map = self.base.forward_folded(t, &self.folded, v)?;
            t.global_avg_pool(map)
        };
        let key = format!("{} folded", self.base.config.name());
        let parts = chunks::count(&self.gpu, &key, images, pooled_base)?;
        let pooled = tape.chunked(x, parts, pooled_base)?;
        let _label = self.gpu.scoped_label(Some("fc"));
        matmul::dense_forward(
            tape.tensor(pooled),
            &self.fc_weight,
            Some(&self.fc_bias),
            false,
            Variant::default_for(&self.gpu),
        )
    }

    fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// torchvision's evaluation: resize so the crop is 87.5% of the image, center crop 224.
    fn eval_transform(&self) -> Result<Transform> {
        Ok(imagenet::eval_transform())
    }
}
