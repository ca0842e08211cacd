//! dak's model file: one `.safetensors` whose `__metadata__` says everything `evaluate` and
//! `predict` need — architecture, class names, input size, preprocessing — plus a format
//! version. Readable by Python's safetensors, so the weights move to PyTorch as they are.

use crate::autograd::Params;
use crate::train::checkpoint::{self, Checkpoint};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// What a model file says about the model, besides its tensors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// Architecture name, e.g. `vgg16-gap-head` or `dann-digits`.
    pub architecture: String,
    /// Architecture parameters (layer sizes, dropout, ...), free-form JSON.
    pub config: serde_json::Value,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Square input side in pixels.
    pub input_size: usize,
    /// Preprocessing mode: `imagenet`, `caffe` or `unit`.
    pub preprocess: String,
}

const INFO_KEY: &str = "dak.model";

impl ModelInfo {
    /// The metadata entries that describe the model in a safetensors header.
    pub fn to_metadata(&self) -> Result<BTreeMap<String, String>> {
        let json = serde_json::to_string(self).map_err(|e| Error::runtime(e.to_string()))?;
        let mut meta = BTreeMap::from([(INFO_KEY.to_string(), json)]);
        // Flat copies for people who read the header with other tools.
        meta.insert("architecture".into(), self.architecture.clone());
        meta.insert(
            "classes".into(),
            serde_json::to_string(&self.classes).unwrap_or_default(),
        );
        meta.insert("input_size".into(), self.input_size.to_string());
        meta.insert("preprocess".into(), self.preprocess.clone());
        Ok(meta)
    }
}

/// Write `params` and `info` to `path` (atomically).
pub fn save(path: &Path, params: &Params, info: &ModelInfo) -> Result<()> {
    checkpoint::save(path, params, None, &info.to_metadata()?)
}

/// Read a model file: its description and its tensors (on the host).
pub fn load(path: &Path) -> Result<(ModelInfo, Checkpoint)> {
    let ck = checkpoint::load(path)?;
    let info = stored_info(&ck, path)?.ok_or_else(|| {
        Error::input(format!(
            "{}: a safetensors file without dak's model description; pass weights with --weights, or a model saved by dak",
            path.display()
        ))
    })?;
    let version = ck
        .metadata
        .get(checkpoint::VERSION_KEY)
        .map(String::as_str)
        .unwrap_or("?");
    if version != checkpoint::VERSION {
        return Err(Error::input(format!(
            "{}: model format version {version}; this dak reads version {}",
            path.display(),
            checkpoint::VERSION
        )));
    }
    Ok((info, ck))
}

/// The model description stored in a checkpoint's metadata, if it has one.
pub fn stored_info(ck: &Checkpoint, path: &Path) -> Result<Option<ModelInfo>> {
    let Some(json) = ck.metadata.get(INFO_KEY) else {
        return Ok(None);
    };
    serde_json::from_str(json).map(Some).map_err(|e| {
        Error::input(format!(
            "{}: unreadable model description ({e})",
            path.display()
        ))
    })
}

/// Errors unless the checkpoint at `path` (if it describes its model) has these classes.
pub fn check_classes(ck: &Checkpoint, path: &Path, classes: &[String]) -> Result<()> {
    match stored_info(ck, path)? {
        Some(saved) if saved.classes != classes => Err(Error::input(format!(
            "{}: trained on classes {:?}, the training data has {:?}",
            path.display(),
            saved.classes,
            classes
        ))),
        _ => Ok(()),
    }
}
