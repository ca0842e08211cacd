//! VGG16 (Simonyan & Zisserman 2014): 13 3x3 convolutions with ReLU and 5 2x2 max-pools, with
//! torchvision's parameter names (`features.{0,2,5,..,28}.{weight,bias}`), so the public
//! ImageNet weights (timm `vgg16.tv_in1k` or a torchvision state_dict as safetensors) load as
//! they are.

use crate::autograd::{Params, Tape, Var};
use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::file::TensorFile;
use crate::nn::{Conv2d, Conv2dConfig, Init, MaxPool2d};
use crate::ops::conv2d::Spec;
use std::path::Path;

/// Output channels per conv, 0 = max-pool (torchvision's configuration "D").
pub(crate) const CONFIG: [usize; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

/// Channels of the last feature map.
pub const FEATURES: usize = 512;

enum Layer {
    Conv(Conv2d),
    Pool(MaxPool2d),
}

/// The convolutional base of VGG16 (`include_top=False`).
pub struct Vgg16 {
    layers: Vec<Layer>,
}

/// Parameter-name prefixes of block `b` (1-5), e.g. block 5 = `features.24/26/28`.
pub fn block_prefixes(b: usize) -> Vec<String> {
    let mut index = 0;
    let mut block = 1;
    let mut out = Vec::new();
    for &c in &CONFIG {
        if c == 0 {
            block += 1;
            index += 1;
        } else {
            if block == b {
                out.push(format!("features.{index}"));
            }
            index += 2; // conv + ReLU in torchvision's Sequential
        }
    }
    out
}

impl Vgg16 {
    /// Build the base with seeded He initialisation (`--weights none`), registering
    /// `features.*` parameters in `params`.
    pub fn new(gpu: &Gpu, params: &mut Params, init: &mut Init) -> Result<Vgg16> {
        let mut layers = Vec::new();
        let mut channels = 3;
        let mut index = 0;
        for &c in &CONFIG {
            if c == 0 {
                layers.push(Layer::Pool(MaxPool2d {
                    kernel: 2,
                    stride: 2,
                }));
                index += 1;
            } else {
                let name = format!("features.{index}");
                let conv = Conv2d::new(
                    gpu,
                    params,
                    &name,
                    Conv2dConfig::relu(channels, c, 3, Spec::new(1, 1)),
                    init,
                )?;
                layers.push(Layer::Conv(conv));
                channels = c;
                index += 2;
            }
        }
        Ok(Vgg16 { layers })
    }

    /// Feature map [N, 512, H/32, W/32] of images [N, 3, H, W].
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        let shape = tape.tensor(x).shape().to_vec();
        check_input(&shape)?;
        let mut h = x;
        let mut layers = self.layers.iter().peekable();
        while let Some(layer) = layers.next() {
            h = match (layer, layers.peek()) {
                // A block's last convolution and its pool run as one fused op.
                (Layer::Conv(c), Some(Layer::Pool(p))) => {
                    layers.next();
                    c.forward_pooled(tape, params, h, p)?
                }
                (Layer::Conv(c), _) => c.forward(tape, params, h)?,
                (Layer::Pool(p), _) => p.forward(tape, h)?,
            };
        }
        Ok(h)
    }
}

/// VGG16 takes 3-channel images whose sides are multiples of 32 (five 2x2 pools).
pub fn check_input(shape: &[usize]) -> Result<()> {
    match shape {
        [_, 3, h, w] if h % 32 == 0 && w % 32 == 0 && *h > 0 && *w > 0 => Ok(()),
        _ => Err(Error::input(format!(
            "VGG16 needs images [N, 3, H, W] with H and W multiples of 32 (e.g. --input-size 32, 64 or 224), got {shape:?}"
        ))),
    }
}

/// Which naming a weights file uses for the ImageNet classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightNames {
    /// timm `vgg16.tv_in1k`: `pre_logits.fc1` `[4096,512,7,7]`, `pre_logits.fc2`, `head.fc`.
    Timm,
    /// torchvision state_dict: `classifier.{0,3,6}`.
    Torchvision,
    /// Only `features.*` (a base without classifier).
    FeaturesOnly,
}

/// Detect the naming from a file's tensor names.
pub fn detect_names(ck: &TensorFile) -> WeightNames {
    if ck.tensors.contains_key("pre_logits.fc1.weight") || ck.tensors.contains_key("head.fc.weight")
    {
        WeightNames::Timm
    } else if ck.tensors.contains_key("classifier.0.weight") {
        WeightNames::Torchvision
    } else {
        WeightNames::FeaturesOnly
    }
}

/// Load ImageNet weights for the base from `path` into `params` (every `features.*` tensor,
/// checked by name and shape). Returns the naming found.
pub fn load_base_weights(path: &Path, params: &mut Params) -> Result<WeightNames> {
    load_base_weights_and_preprocess(path, params).map(|(names, _)| names)
}

/// [`load_base_weights`], also returning the pixel preprocessing the file's model was trained
/// with when the file is a dak model (ImageNet files carry none): a base trained from scratch
/// on `unit` inputs must keep getting them.
pub fn load_base_weights_and_preprocess(
    path: &Path,
    params: &mut Params,
) -> Result<(WeightNames, Option<Preprocess>)> {
    let ck = super::file::read_tensors(path)?;
    let names = detect_names(&ck);
    if !ck.tensors.keys().any(|k| k.starts_with("features.")) {
        let some: Vec<&str> = ck.tensors.keys().map(String::as_str).take(5).collect();
        return Err(Error::input(format!(
            "{}: no `features.*` tensors, so not VGG16 weights with timm/torchvision names (found e.g. {})",
            path.display(),
            some.join(", ")
        )));
    }
    ck.restore_prefix(params, "features.", path)?;
    let preprocess = match super::file::stored_info(&ck, path)? {
        Some(info) => Some(info.preprocess.parse()?),
        None => None,
    };
    Ok((names, preprocess))
}

#[cfg(test)]
mod tests {
    use super::block_prefixes;

    #[test]
    fn blocks_follow_torchvision_indices() {
        assert_eq!(block_prefixes(1), ["features.0", "features.2"]);
        assert_eq!(block_prefixes(2), ["features.5", "features.7"]);
        assert_eq!(
            block_prefixes(4),
            ["features.17", "features.19", "features.21"]
        );
        assert_eq!(
            block_prefixes(5),
            ["features.24", "features.26", "features.28"]
        );
    }
}
