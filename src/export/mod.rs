//! Models leaving dak: an ONNX file for serving runtimes (ONNX Runtime, TensorRT, OpenVINO,
//! tract, browsers) and model files with f16 tensors (half the size).
//!
//! Export reads the model file alone — no GPU — and rebuilds the inference graph from the
//! description in its metadata ([`crate::models::graph`]).
//!
//! ```no_run
//! use dak::export::{self, OnnxOptions, Source};
//! # fn main() -> dak::Result<()> {
//! let source = export::load(&Source::Model("dann-mnistm.safetensors".into()))?;
//! export::write_onnx(&source, &OnnxOptions::default(), "dann-mnistm.onnx".as_ref())?;
//! # Ok(()) }
//! ```

pub mod onnx;
pub mod proto;

pub use onnx::{Batch, OnnxOptions, Output};

use crate::error::{Error, Result};
use crate::models::file::{self, StoreType, TensorFile};
use crate::models::graph::{self, InferenceGraph};
use prost::Message;
use std::path::{Path, PathBuf};

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A model file written by dak (`fine-tune`, `adapt`, or a resume checkpoint).
    Model(PathBuf),
    /// Plain VGG16 ImageNet weights (timm or torchvision names) with their classifier.
    Weights(PathBuf),
}

/// A model read for export: its graph and its tensors.
pub struct Loaded {
    /// Where it came from.
    pub source: Source,
    /// The inference graph.
    pub graph: InferenceGraph,
    /// The tensors (and the file's metadata).
    pub file: TensorFile,
}

/// Reads the model and describes its graph, checking every tensor the graph needs.
pub fn load(source: &Source) -> Result<Loaded> {
    let (graph, file) = match source {
        Source::Model(path) => {
            let (info, mut file) = file::load(path)?;
            fold_weight_norm(&mut file);
            (graph::describe(&info, &file, path)?, file)
        }
        Source::Weights(path) => {
            let file = file::read_tensors(path)?;
            (graph::describe_imagenet(&file, path)?, file)
        }
    };
    Ok(Loaded {
        source: source.clone(),
        graph,
        file,
    })
}

/// Adds `X.weight = g·V/‖V‖` for every weight-normalised layer (`X.weight_v`, `X.weight_g`)
/// the file holds, so that the graph reads one plain weight per dense layer.
fn fold_weight_norm(file: &mut TensorFile) {
    let layers: Vec<String> = file
        .tensors
        .keys()
        .filter_map(|k| k.strip_suffix(".weight_v").map(str::to_string))
        .filter(|l| !file.tensors.contains_key(&format!("{l}.weight")))
        .collect();
    for layer in layers {
        let (Some((shape, v)), Some((_, g))) = (
            file.tensors.get(&format!("{layer}.weight_v")),
            file.tensors.get(&format!("{layer}.weight_g")),
        ) else {
            continue;
        };
        let Some(&cols) = shape.last().filter(|&&c| c > 0) else {
            continue;
        };
        let w = crate::ops::weight_norm::reference::forward(v, g, cols);
        let entry = (shape.clone(), w);
        file.tensors.insert(format!("{layer}.weight"), entry);
    }
}

/// Writes the ONNX model to `path` (atomically). Returns the file size in bytes.
pub fn write_onnx(model: &Loaded, options: &OnnxOptions, path: &Path) -> Result<usize> {
    let proto = onnx::to_onnx(&model.graph, &model.file, options)?;
    let bytes = proto.encode_to_vec();
    // Protobuf messages are limited to 2 GiB; VGG16 with its classifier is about 0.55 GB.
    if bytes.len() >= i32::MAX as usize {
        return Err(Error::input(format!(
            "{}: the model is {} bytes, over ONNX's 2 GiB limit for one file; use --dtype f16",
            path.display(),
            bytes.len()
        )));
    }
    crate::io::write_atomic(path, &bytes)?;
    Ok(bytes.len())
}

/// Writes the model as a safetensors file with `store` tensors (atomically): a dak model keeps
/// its description (optimizer state of a resume checkpoint is dropped); plain weights keep their
/// names and metadata. Returns the file size in bytes.
pub fn write_safetensors(model: &Loaded, store: StoreType, path: &Path) -> Result<usize> {
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = model
        .file
        .tensors
        .iter()
        .filter(|(name, _)| match model.source {
            Source::Model(_) => !name.starts_with("optimizer."),
            Source::Weights(_) => true,
        })
        .map(|(name, (shape, data))| (name.clone(), shape.clone(), data.clone()))
        .collect();
    let metadata = match model.source {
        Source::Model(_) => model.graph.info.to_metadata()?,
        Source::Weights(_) => model.file.metadata.clone(),
    };
    file::write_tensors(path, &tensors, &metadata, store)?;
    std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .map_err(|e| Error::io(path, e))
}
