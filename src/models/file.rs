//! dak's model file: one `.safetensors` whose `__metadata__` says everything `evaluate` and
//! `predict` need — architecture, class names, input size, preprocessing — plus a format
//! version. Readable by Python's safetensors, so the weights move to PyTorch as they are.
//!
//! This is also the one place that reads and writes safetensors files: [`read_tensors`] (f32,
//! f16 or bf16 tensors, computed with in f32) and [`write_tensors`] (f32 or f16). Training
//! checkpoints (`train::checkpoint`) are model files with optimizer state added.

use crate::autograd::Params;
use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
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
    /// How the model was made (absent in files from before it was kept, and in models that
    /// dak did not train).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// How a model file was made: enough to tell two files apart and to run the command again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The dak version that wrote it.
    pub dak_version: String,
    /// The command line, as typed.
    pub command: String,
    /// The training method (`fine-tune`, `dann`, `source-only`, ...).
    pub method: String,
    /// The seed of the weights, the batch order and the score set.
    pub seed: u64,
    /// The images it was trained on: the folders (absolute) or the bundled benchmark.
    pub data: serde_json::Value,
    /// The model file it started from (`--weights`, `--init`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The epoch whose parameters these are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    /// How this epoch (and, with `--compare`, this method) was chosen without target labels:
    /// validator, score and, for `safe`, the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<serde_json::Value>,
    /// The record of the model `parent` names, for a model adapted from another one
    /// (`dak adapt --source-free --init`): its method, data and command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapted_from: Option<Box<Provenance>>,
}

impl Provenance {
    /// A record of `command` training `method` on `data` with this dak.
    pub fn new(command: String, method: &str, seed: u64, data: serde_json::Value) -> Provenance {
        Provenance {
            dak_version: env!("CARGO_PKG_VERSION").into(),
            command,
            method: method.into(),
            seed,
            data,
            parent: None,
            epoch: None,
            selection: None,
            adapted_from: None,
        }
    }
}

/// Metadata key of the JSON model description.
pub const INFO_KEY: &str = "dak.model";
/// Metadata key naming the file format, and its value.
pub const FORMAT_KEY: &str = "format";
/// The value of [`FORMAT_KEY`].
pub const FORMAT: &str = "dak";
/// Metadata key of the format version.
pub const VERSION_KEY: &str = "format_version";
/// The format version this dak writes and reads.
pub const VERSION: &str = "1";

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

/// A safetensors file's tensors on the host (as f32, whatever the stored type), by name, and
/// its metadata.
#[derive(Debug, Clone, Default)]
pub struct TensorFile {
    /// Tensors by name: shape and values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// String metadata of the file header.
    pub metadata: BTreeMap<String, String>,
}

/// How tensors are stored in a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// 32-bit floats (what dak computes with).
    F32,
    /// IEEE half precision: half the size; values rounded to 11 significant bits.
    F16,
}

impl StoreType {
    /// Parses `f32` / `f16` (the `--dtype` values).
    pub fn parse(s: &str) -> Result<StoreType> {
        match s {
            "f32" => Ok(StoreType::F32),
            "f16" => Ok(StoreType::F16),
            other => Err(Error::input(format!(
                "--dtype {other}: unknown type; use f32 or f16"
            ))),
        }
    }
}

/// Writes named host tensors with `metadata` (plus dak's format keys) to `path`, atomically.
pub fn write_tensors(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: &BTreeMap<String, String>,
    store: StoreType,
) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, data)| match store {
            StoreType::F32 => bytemuck::cast_slice(data).to_vec(),
            StoreType::F16 => data
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
        })
        .collect();
    let dtype = match store {
        StoreType::F32 => Dtype::F32,
        StoreType::F16 => Dtype::F16,
    };
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    meta.insert(FORMAT_KEY.into(), FORMAT.into());
    meta.insert(VERSION_KEY.into(), VERSION.into());
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            TensorView::new(dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::runtime(format!("{}: tensor `{name}`: {e}", path.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::runtime(format!("{}: could not serialise: {e}", path.display())))?;
    crate::io::write_atomic(path, &bytes)
}

/// One parameter on the host: its name, shape and values.
pub type HostParam = (String, Vec<usize>, Vec<f32>);

/// The parameters' values on the host, by name, in registration order.
pub fn host_params(params: &Params) -> Result<Vec<HostParam>> {
    params
        .iter()
        .map(|(_, p)| Ok((p.name.clone(), p.value.shape().to_vec(), p.value.to_vec()?)))
        .collect()
}

/// Write `params` and `info` to `path` (atomically, f32).
pub fn save(path: &Path, params: &Params, info: &ModelInfo) -> Result<()> {
    write_tensors(
        path,
        &host_params(params)?,
        &info.to_metadata()?,
        StoreType::F32,
    )
}

/// Copies the dak model at `from` to `to` (atomically) with its description changed by
/// `edit` (e.g. the provenance of a pick among several runs); the tensors are unchanged.
pub fn copy_with_info(from: &Path, to: &Path, edit: impl FnOnce(&mut ModelInfo)) -> Result<()> {
    let (mut info, ck) = load(from)?;
    edit(&mut info);
    let mut meta = ck.metadata.clone();
    meta.extend(info.to_metadata()?);
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = ck
        .tensors
        .into_iter()
        .map(|(name, (shape, values))| (name, shape, values))
        .collect();
    write_tensors(to, &tensors, &meta, StoreType::F32)
}

/// Read a `.safetensors` file (f32, f16 or bf16 tensors) into host memory as f32.
pub fn read_tensors(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = parse(&bytes).map_err(|why| {
        Error::input(format!("{}: not a readable safetensors file ({why}); was it truncated or is it another format?", path.display()))
    })?;
    // A NaN or infinite weight (a diverged run, a corrupt copy) would only show up later as
    // garbage predictions; refuse the file here, naming the tensor.
    for (name, (_, data)) in &file.tensors {
        if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(Error::input(format!(
                "{}: tensor `{name}` holds {bad} values; the file was saved from a diverged run or is corrupt (use an earlier model or retrain with a lower --lr)",
                path.display()
            )));
        }
    }
    Ok(file)
}

fn parse(bytes: &[u8]) -> std::result::Result<TensorFile, String> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let metadata = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytemuck::pod_collect_to_vec(view.data()),
            Dtype::F16 => view
                .data()
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => view
                .data()
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(format!(
                    "tensor `{name}` has dtype {other:?}; only F32, F16 and BF16 are supported"
                ))
            }
        };
        tensors.insert(name, (view.shape().to_vec(), data));
    }
    Ok(TensorFile { tensors, metadata })
}

impl TensorFile {
    /// Copy every parameter of `params` from this file, by name, checking shapes.
    pub fn restore(&self, params: &mut Params, origin: &Path) -> Result<()> {
        self.restore_prefix(params, "", origin)
    }

    /// Copy the parameters whose names start with `prefix` (all of them must be present).
    pub fn restore_prefix(&self, params: &mut Params, prefix: &str, origin: &Path) -> Result<()> {
        let mut missing = Vec::new();
        for (_, p) in params.iter().filter(|(_, p)| p.name.starts_with(prefix)) {
            match self.tensors.get(&p.name) {
                None => missing.push(p.name.clone()),
                Some((shape, data)) => {
                    if shape.as_slice() != p.value.shape() {
                        return Err(Error::input(format!(
                            "{}: tensor `{}` has shape {shape:?}, the model expects {:?}",
                            origin.display(),
                            p.name,
                            p.value.shape()
                        )));
                    }
                    p.value.write(data)?;
                }
            }
        }
        if !missing.is_empty() {
            return Err(Error::input(format!(
                "{}: missing {} tensor(s) the model needs: {}",
                origin.display(),
                missing.len(),
                missing.join(", ")
            )));
        }
        Ok(())
    }
}

/// Read a model file: its description and its tensors (on the host).
pub fn load(path: &Path) -> Result<(ModelInfo, TensorFile)> {
    let ck = read_tensors(path)?;
    let info = stored_info(&ck, path)?.ok_or_else(|| {
        Error::input(format!(
            "{}: a safetensors file without dak's model description; pass weights with --weights, or a model saved by dak",
            path.display()
        ))
    })?;
    let version = ck
        .metadata
        .get(VERSION_KEY)
        .map(String::as_str)
        .unwrap_or("?");
    if version != VERSION {
        return Err(Error::input(format!(
            "{}: model format version {version}; this dak reads version {VERSION}",
            path.display(),
        )));
    }
    Ok((info, ck))
}

/// The model description stored in a checkpoint's metadata, if it has one.
pub fn stored_info(ck: &TensorFile, path: &Path) -> Result<Option<ModelInfo>> {
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
pub fn check_classes(ck: &TensorFile, path: &Path, classes: &[String]) -> Result<()> {
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
