//! The networks: VGG16 (torchvision names), the transfer-learning [`Classifier`], VGG16 with
//! its ImageNet classifier, [`Dann`]; dak's model file; and [`Model`], what evaluation and
//! prediction need from any of them.
//!
//! Training methods (`fit`) and evaluation (`evaluate`, `predict`) are added to these types
//! by `train/`, the layer above, so one type carries the whole Keras-like surface.

pub mod bn1d;
pub mod chunks;
pub mod classifier;
pub mod dann;
pub mod dann_classifier;
mod dann_config;
mod dann_nets;
pub mod dann_resnet;
pub mod dann_vgg;
pub mod expect;
pub mod file;
pub mod graph;
pub mod imagenet;
pub mod imagenet_resnet;
mod layer;
pub mod resnet;
pub mod vgg16;

pub use classifier::{Classifier, ClassifierSpec, Freeze, Weights};
pub use dann::{Backbone, Dann, HeadConfig};
pub use file::ModelInfo;

use std::path::Path;

use crate::data::Transform;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// A trained image classifier, as evaluation and prediction see it.
pub trait Model {
    /// What the model file says: classes, input size, preprocessing.
    fn info(&self) -> ModelInfo;

    /// Class logits [N, classes] of images [N, 3, S, S], recording nothing for gradients.
    fn logits(&self, images: &Tensor) -> Result<Tensor>;

    /// The device holding the parameters.
    fn gpu(&self) -> &Gpu;

    /// How images are prepared for it: resize + center crop to the input size, then the
    /// model's preprocessing.
    fn eval_transform(&self) -> Result<Transform> {
        let info = self.info();
        let side = info.input_size as u32;
        Ok(Transform::eval(side, side).with_preprocess(info.preprocess.parse()?))
    }
}

/// Reads any dak model file — a fine-tuned [`Classifier`] or an adapted [`Dann`] — by the
/// architecture its metadata names.
pub fn load(gpu: &Gpu, path: impl AsRef<Path>) -> Result<Box<dyn Model>> {
    let path = path.as_ref();
    let (info, ck) = file::load(path)?;
    if classifier::is_classifier(&info.architecture) {
        Ok(Box::new(Classifier::from_file(gpu, info, &ck, path)?))
    } else if info.architecture.starts_with("dann-") {
        Ok(Box::new(Dann::from_file(gpu, info, &ck, path)?))
    } else {
        Err(Error::input(format!(
            "{}: unknown architecture `{}`; this dak reads `{}`, `{}` and `dann-<backbone>` models",
            path.display(),
            info.architecture,
            classifier::ARCHITECTURE,
            classifier::RESNET_ARCHITECTURE
        )))
    }
}

/// An ImageNet classifier from public weights (`predict --weights`), by what the file holds: a
/// ResNet (`conv1`, `layer1..4`, `fc`) or VGG16 with its classifier.
pub fn load_imagenet(gpu: &Gpu, path: &Path) -> Result<Box<dyn Model>> {
    if expect::is_resnet(&expect::read_header(path)?) {
        Ok(Box::new(imagenet_resnet::ImagenetResNet::load(gpu, path)?))
    } else {
        Ok(Box::new(imagenet::ImagenetVgg16::load(gpu, path)?))
    }
}
