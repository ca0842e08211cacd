//! VGG16 with its ImageNet classifier (fc6 -> fc7 -> fc8, 1,000 classes) for prediction with the
//! public weights as they are. fc6's weight (4096 x 25088 f32, 411 MB) exceeds the storage
//! binding limit of many adapters (128 MiB on lavapipe), so it is split by output rows into
//! chunks that fit, and the chunk outputs are placed side by side.

use super::chunks;
use super::file::ModelInfo;
use super::file::{read_tensors, TensorFile};
use super::vgg16::{self, Vgg16, WeightNames};
use super::Model;
use crate::autograd::{Params, Tape};
use crate::data::{Preprocess, Transform};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Init;
use crate::ops::matmul::{self, Variant};
use crate::tensor::Tensor;
use std::path::Path;

/// The 1,000 ImageNet-1k class names in label order (`weights/imagenet_classes.txt`).
pub fn class_names() -> Vec<String> {
    include_str!("../../weights/imagenet_classes.txt")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Input side the classifier was trained for (its 7x7 feature map).
pub const INPUT: usize = 224;

/// One dense layer whose weight may be split into row chunks.
struct SplitDense {
    chunks: Vec<(Tensor, Tensor)>,
}

impl SplitDense {
    fn new(gpu: &Gpu, w: &[f32], b: &[f32], outputs: usize, inputs: usize) -> Result<SplitDense> {
        let max_rows = ((gpu.max_binding_bytes() as usize / 4) / inputs).max(1);
        let rows = max_rows.min(outputs);
        let mut chunks = Vec::new();
        for start in (0..outputs).step_by(rows) {
            let end = (start + rows).min(outputs);
            let wt = Tensor::from_slice(
                gpu,
                &w[start * inputs..end * inputs],
                &[end - start, inputs],
            )?;
            let bt = Tensor::from_slice(gpu, &b[start..end], &[end - start])?;
            chunks.push((wt, bt));
        }
        Ok(SplitDense { chunks })
    }

    fn forward(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        let variant = Variant::default_for(x.gpu());
        let parts: Vec<Tensor> = self
            .chunks
            .iter()
            .map(|(w, b)| matmul::dense_forward(x, w, Some(b), relu, variant))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = parts.iter().collect();
        Tensor::concat_columns(&refs)
    }
}

/// VGG16 with the ImageNet classifier, for inference.
pub struct ImagenetVgg16 {
    params: Params,
    base: Vgg16,
    fc6: SplitDense,
    fc7: SplitDense,
    fc8: SplitDense,
    gpu: Gpu,
}

fn tensor<'a>(ck: &'a TensorFile, name: &str, numel: usize, path: &Path) -> Result<&'a [f32]> {
    let (shape, data) = ck.tensors.get(name).ok_or_else(|| {
        Error::input(format!(
            "{}: missing tensor `{name}` of the ImageNet classifier",
            path.display()
        ))
    })?;
    if data.len() != numel {
        return Err(Error::input(format!(
            "{}: tensor `{name}` has shape {shape:?} ({} values), expected {numel}",
            path.display(),
            data.len()
        )));
    }
    Ok(data)
}

/// The names of fc6, fc7 and fc8 in a weights file (timm or torchvision naming).
pub fn classifier_names(file: &TensorFile, path: &Path) -> Result<[&'static str; 3]> {
    match vgg16::detect_names(file) {
        WeightNames::Timm => Ok(["pre_logits.fc1", "pre_logits.fc2", "head.fc"]),
        WeightNames::Torchvision => Ok(["classifier.0", "classifier.3", "classifier.6"]),
        WeightNames::FeaturesOnly => Err(Error::input(format!(
            "{}: VGG16 weights without the ImageNet classifier (no `pre_logits.fc1` or `classifier.0`); pass a dak model with --model instead",
            path.display()
        ))),
    }
}

impl ImagenetVgg16 {
    /// Load the whole network from timm- or torchvision-named weights.
    pub fn load(gpu: &Gpu, path: impl AsRef<Path>) -> Result<ImagenetVgg16> {
        let path = path.as_ref();
        let ck = read_tensors(path)?;
        let names = classifier_names(&ck, path)?;
        let mut params = Params::new();
        let base = Vgg16::new(gpu, &mut params, &mut Init::new(0))?;
        ck.restore_prefix(&mut params, "features.", path)?;
        let sizes = [(4096, 512 * 7 * 7), (4096, 4096), (1000, 4096)];
        let mut layers = Vec::new();
        for (name, (out, inp)) in names.iter().zip(sizes) {
            let w = tensor(&ck, &format!("{name}.weight"), out * inp, path)?;
            let b = tensor(&ck, &format!("{name}.bias"), out, path)?;
            layers.push(SplitDense::new(gpu, w, b, out, inp)?);
        }
        let fc8 = layers.pop().expect("three layers");
        let fc7 = layers.pop().expect("three layers");
        let fc6 = layers.pop().expect("three layers");
        Ok(ImagenetVgg16 {
            params,
            base,
            fc6,
            fc7,
            fc8,
            gpu: gpu.clone(),
        })
    }

    /// Logits [N, 1000] of images [N, 3, 224, 224] (ImageNet preprocessing).
    pub fn logits(&self, images: &Tensor) -> Result<Tensor> {
        let [n, 3, h, w] = *images.shape() else {
            return Err(Error::input(format!(
                "expected images [N, 3, 224, 224], got {:?}",
                images.shape()
            )));
        };
        if h != INPUT || w != INPUT {
            return Err(Error::input(format!(
                "the ImageNet classifier needs 224x224 inputs, got {h}x{w}"
            )));
        }
        let mut tape = Tape::no_grad();
        let x = tape.input(images.clone());
        let base = |t: &mut Tape, v| self.base.forward(t, &self.params, v);
        let parts = chunks::count(&self.gpu, "vgg16 base", images, base)?;
        let f = tape.chunked(x, parts, base)?;
        let flat = tape.tensor(f).reshape(&[n, 512 * 7 * 7])?;
        let h6 = self.fc6.forward(&flat, true)?;
        let h7 = self.fc7.forward(&h6, true)?;
        self.fc8.forward(&h7, false)
    }
}

/// The description of VGG16 with its ImageNet classifier (it has no dak model file).
pub fn model_info() -> ModelInfo {
    ModelInfo {
        architecture: "vgg16-imagenet".into(),
        config: serde_json::Value::Null,
        classes: class_names(),
        input_size: INPUT,
        preprocess: Preprocess::Imagenet.name().into(),
        provenance: None,
    }
}

impl Model for ImagenetVgg16 {
    fn info(&self) -> ModelInfo {
        model_info()
    }

    fn logits(&self, images: &Tensor) -> Result<Tensor> {
        ImagenetVgg16::logits(self, images)
    }

    fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// torchvision's evaluation: resize so the crop is 87.5% of the image, center crop 224.
    fn eval_transform(&self) -> Result<Transform> {
        Ok(eval_transform())
    }
}

/// torchvision's ImageNet evaluation transform: resize the shorter side to 256 (the crop is
/// 87.5% of it), center crop 224, ImageNet mean and std.
pub fn eval_transform() -> Transform {
    let side = INPUT as u32;
    Transform::eval(side, side)
        .with_crop_fraction(0.875)
        .with_preprocess(Preprocess::Imagenet)
}
