//! Up-front checks of weights files: only the safetensors header is read (a VGG16 file is
//! 500 MB; its header a few kB), and a file of the wrong kind is refused in one line before
//! the GPU is opened — a digits model where VGG16 is expected says so, instead of listing the
//! 26 tensors it lacks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::classifier::{is_classifier, ARCHITECTURE as CLASSIFIER, RESNET_ARCHITECTURE};
use crate::error::{Error, Result};

/// What a file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// VGG16 convolutional weights (`features.*`, torchvision shapes): ImageNet weights or a
    /// dak model built on VGG16.
    Vgg16Base,
    /// An ImageNet classifier as published: VGG16 with its classifier (timm or torchvision
    /// names) or a ResNet with its `fc`.
    Imagenet,
    /// A ResNet base of this shape: ImageNet weights (an `fc` is ignored) or a dak model
    /// built on it.
    ResNetBase(super::resnet::ResNetConfig),
    /// A dak model file of any architecture (`evaluate`, `predict --model`).
    DakModel,
    /// A dak model of the fine-tuning classifier (`--init`).
    Classifier,
    /// A resume checkpoint of this architecture prefix (`vgg16-gap-head`, `dann-`).
    Resume(&'static str),
}

/// A safetensors header: tensor shapes by name and the string metadata.
#[derive(Debug, Default)]
pub struct Header {
    /// Tensor shapes by name.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// `__metadata__` entries.
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    /// The architecture a dak model file names, if it is one.
    pub fn architecture(&self) -> Option<&str> {
        self.metadata.get("architecture").map(String::as_str)
    }
    /// The epochs a resume checkpoint has done, if it is one.
    pub fn resume_epoch(&self) -> Option<usize> {
        self.metadata.get("epoch").and_then(|e| e.parse().ok())
    }
    /// Class names of a dak model file.
    pub fn classes(&self) -> Option<Vec<String>> {
        serde_json::from_str(self.metadata.get("classes")?).ok()
    }
}

/// Reads the header of the safetensors file at `path`.
pub fn read_header(path: &Path) -> Result<Header> {
    let bad = |why: String| {
        Error::input(format!(
            "{}: not a readable safetensors file ({why}); was it truncated or is it another format?",
            path.display()
        ))
    };
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| bad("shorter than 8 bytes".into()))?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 || n + 8 > size {
        return Err(bad(format!("header length {n} does not fit the file")));
    }
    let mut json = vec![0u8; n as usize];
    f.read_exact(&mut json).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| bad(format!("header: {e}")))?;
    let map = value
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let mut h = Header::default();
    for (name, v) in map {
        if name == "__metadata__" {
            for (k, s) in v.as_object().into_iter().flatten() {
                h.metadata
                    .insert(k.clone(), s.as_str().unwrap_or_default().to_string());
            }
            continue;
        }
        let shape = v["shape"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_u64())
                    .map(|d| d as usize)
                    .collect()
            })
            .ok_or_else(|| bad(format!("tensor `{name}` has no shape")))?;
        h.shapes.insert(name.clone(), shape);
    }
    Ok(h)
}

/// VGG16's convolution shapes by torchvision name.
fn vgg16_convs() -> Vec<(String, Vec<usize>)> {
    let cfg = [
        (0, 3, 64),
        (2, 64, 64),
        (5, 64, 128),
        (7, 128, 128),
        (10, 128, 256),
    ];
    let more = [
        (12, 256, 256),
        (14, 256, 256),
        (17, 256, 512),
        (19, 512, 512),
    ];
    let last = [
        (21, 512, 512),
        (24, 512, 512),
        (26, 512, 512),
        (28, 512, 512),
    ];
    cfg.iter()
        .chain(&more)
        .chain(&last)
        .map(|&(i, ci, co)| (format!("features.{i}.weight"), vec![co, ci, 3, 3]))
        .collect()
}

/// Whether the header is a torchvision-layout ResNet's (stem `conv1` 7x7, `layer1`).
pub fn is_resnet(h: &Header) -> bool {
    h.shapes
        .get("conv1.weight")
        .is_some_and(|s| s.len() == 4 && s[1] == 3)
        && h.shapes.contains_key("layer1.0.conv1.weight")
}

fn kind_of(h: &Header) -> String {
    match h.architecture() {
        Some(a) if h.resume_epoch().is_some() => format!("a dak `{a}` resume checkpoint"),
        Some(a) => format!("a dak `{a}` model"),
        None => {
            let some: Vec<&str> = h.shapes.keys().map(String::as_str).take(3).collect();
            format!("a file with tensors like {}", some.join(", "))
        }
    }
}

/// Checks that the file given to `flag` is what `want` says, from its header alone.
pub fn check(flag: &str, path: &Path, want: Expect) -> Result<Header> {
    crate::validate::input_file(flag, path, "an existing .safetensors file")?;
    // The file's own complaint, with the flag that named it.
    let h = read_header(path).map_err(|e| match e {
        Error::Input(why) => Error::input(format!("{flag} {why}")),
        e => e,
    })?;
    let refuse = |what: &str| {
        Err(Error::input(format!(
            "{flag} {}: {}, not {what}",
            path.display(),
            kind_of(&h)
        )))
    };
    match want {
        Expect::Imagenet if is_resnet(&h) && !h.shapes.contains_key("fc.weight") => {
            return refuse("a ResNet with its ImageNet classifier (`fc.weight`); fine-tune a base without it with --backbone");
        }
        Expect::Imagenet if is_resnet(&h) => {}
        Expect::Vgg16Base | Expect::Imagenet => {
            let convs_ok = vgg16_convs()
                .iter()
                .all(|(n, s)| h.shapes.get(n).is_some_and(|got| got == s));
            if !convs_ok {
                let what = if want == Expect::Imagenet {
                    "ImageNet weights: a ResNet (`conv1`, `layer1..4`, `fc`) or VGG16 (13 convolutions `features.*` and its classifier) in torchvision or timm names"
                } else {
                    "VGG16 weights (13 convolutions `features.*` in torchvision shapes); pass VGG16 ImageNet weights or a dak model built on VGG16"
                };
                return refuse(what);
            }
            let top = ["head.fc.weight", "classifier.6.weight"]
                .iter()
                .any(|n| h.shapes.get(*n).is_some_and(|s| s.first() == Some(&1000)));
            if want == Expect::Imagenet && !top {
                return refuse("VGG16 with its ImageNet classifier (timm `head.fc` or torchvision `classifier.6`, 1000 classes); use --model for a dak model");
            }
        }
        Expect::DakModel if h.architecture().is_none() => {
            return refuse("a dak model (pass plain VGG16 ImageNet weights with --weights)");
        }
        Expect::Classifier if !h.architecture().is_some_and(is_classifier) => {
            return refuse(&format!(
                "a `{CLASSIFIER}` or `{RESNET_ARCHITECTURE}` model from `dak fine-tune`"
            ));
        }
        Expect::ResNetBase(want) => {
            if !is_resnet(&h) {
                return refuse(&format!(
                    "{} weights (`conv1`, `bn1`, `layer1..4` in torchvision or timm names)",
                    want.name()
                ));
            }
            let found =
                super::resnet::ResNetConfig::from_shapes(|name| h.shapes.get(name).cloned(), path)?;
            want.expect_same(&found, flag, path)?;
        }
        Expect::Resume(arch) => {
            let same = h.architecture().is_some_and(|a| a.starts_with(arch));
            if h.resume_epoch().is_none() || !same {
                let hint = if h.resume_epoch().is_none() && h.architecture().is_some() {
                    "; to start from a model's weights use --init (fine-tune) instead"
                } else {
                    ""
                };
                return refuse(&format!(
                    "a resume checkpoint of this command (`{arch}*`, written as <out stem>.resume.safetensors){hint}"
                ));
            }
        }
        _ => {}
    }
    Ok(h)
}
