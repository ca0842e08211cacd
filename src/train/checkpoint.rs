//! Checkpoints: parameters (and optimizer state, for resuming) in one `.safetensors` file with a
//! string metadata map. Written atomically (temporary file + rename). Readable by Python's
//! safetensors, so models move to PyTorch as they are.

use crate::autograd::Params;
use crate::models::file::{check_classes, ModelInfo};
use crate::optim::Optimizer;
use crate::{Error, Gpu, Result, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Metadata key naming the file format, and its value.
pub const FORMAT_KEY: &str = "format";
/// The value of [`FORMAT_KEY`].
pub const FORMAT: &str = "dak";
/// Metadata key of the format version.
pub const VERSION_KEY: &str = "format_version";
/// The format version this dak writes and reads.
pub const VERSION: &str = "1";
/// Prefix of optimizer-state tensor names.
const OPTIM_PREFIX: &str = "optimizer.";

/// A file's tensors on the host, by name, and its metadata.
pub struct Checkpoint {
    /// Tensors by name: shape and values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// String metadata of the file header.
    pub metadata: BTreeMap<String, String>,
}

/// Save `params` (and `optimizer` state if given) with `metadata` to `path`, atomically.
pub fn save(
    path: &Path,
    params: &Params,
    optimizer: Option<&Optimizer>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut host: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (_, p) in params.iter() {
        host.push((p.name.clone(), p.value.shape().to_vec(), p.value.to_vec()?));
    }
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    meta.insert(FORMAT_KEY.into(), FORMAT.into());
    meta.insert(VERSION_KEY.into(), VERSION.into());
    if let Some(opt) = optimizer {
        for (name, t) in opt.named_state(params) {
            host.push((
                format!("{OPTIM_PREFIX}{name}"),
                t.shape().to_vec(),
                t.to_vec()?,
            ));
        }
        meta.insert("optimizer.rule".into(), opt.rule.name().into());
        meta.insert("optimizer.steps".into(), opt.steps.to_string());
    }
    let views = host
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(data))
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::runtime(format!("{}: tensor `{name}`: {e}", path.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::runtime(format!("{}: could not serialise: {e}", path.display())))?;
    crate::io::write_atomic(path, &bytes)
}

/// Metadata key of the number of epochs a resume checkpoint has done.
const EPOCH_KEY: &str = "epoch";

/// Metadata keys of what run wrote a resume checkpoint: its method and training images.
const RUN_METHOD_KEY: &str = "run.method";
const RUN_IMAGES_KEY: &str = "run.images";

/// Which run a resume checkpoint belongs to: `method` (`fine-tune`, `dann`, `source-only`)
/// and the number of training images it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId {
    /// The training method.
    pub method: String,
    /// Training images (source images for adaptation).
    pub images: usize,
}

/// Save a resume checkpoint: parameters, optimizer state, the model's description, the run
/// it belongs to and the number of epochs done.
pub fn save_resume(
    path: &Path,
    params: &Params,
    optimizer: &Optimizer,
    info: &ModelInfo,
    run: &RunId,
    epochs_done: usize,
) -> Result<()> {
    let mut meta = info.to_metadata()?;
    meta.insert(EPOCH_KEY.into(), epochs_done.to_string());
    meta.insert(RUN_METHOD_KEY.into(), run.method.clone());
    meta.insert(RUN_IMAGES_KEY.into(), run.images.to_string());
    save(path, params, Some(optimizer), &meta)
}

/// Errors unless the checkpoint was written by a run like `run` (when it says which).
fn check_run(ck: &Checkpoint, path: &Path, run: &RunId) -> Result<()> {
    if !ck.metadata.contains_key(EPOCH_KEY) {
        return Err(Error::input(format!(
            "--resume {}: a model file, not a resume checkpoint (<out stem>.resume.safetensors); to start from its weights use --init",
            path.display()
        )));
    }
    if let Some(m) = ck
        .metadata
        .get(RUN_METHOD_KEY)
        .filter(|m| **m != run.method)
    {
        return Err(Error::input(format!(
            "--resume {}: written by a `{m}` run, this is a `{}` run; resume with the same command",
            path.display(),
            run.method
        )));
    }
    let images = ck
        .metadata
        .get(RUN_IMAGES_KEY)
        .and_then(|n| n.parse::<usize>().ok());
    if let Some(n) = images.filter(|n| *n != run.images) {
        return Err(Error::input(format!(
            "--resume {}: trained on {n} images, this run has {}; resume with the same data (and --limit, --skip-bad)",
            path.display(),
            run.images
        )));
    }
    Ok(())
}

/// Restore a checkpoint written by [`save_resume`] into `params` and `optimizer` (the model
/// must have the same classes and parameters, the run the same method and image count);
/// returns the number of epochs done.
pub fn load_resume(
    path: &Path,
    params: &mut Params,
    optimizer: &mut Optimizer,
    classes: &[String],
    run: &RunId,
) -> Result<usize> {
    let ck = load(path)?;
    check_run(&ck, path, run)?;
    check_classes(&ck, path, classes)?;
    ck.restore(params, path)?;
    let gpu = params
        .iter()
        .next()
        .map(|(_, p)| p.value.gpu().clone())
        .ok_or_else(|| Error::input("resume: the model has no parameters"))?;
    ck.restore_optimizer(&gpu, optimizer, params)?;
    Ok(ck
        .metadata
        .get(EPOCH_KEY)
        .and_then(|e| e.parse().ok())
        .unwrap_or(0))
}

/// Read a `.safetensors` file (f32, f16 or bf16 tensors) into host memory.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes).map_err(|why| {
        Error::input(format!("{}: not a readable safetensors file ({why}); was it truncated or is it another format?", path.display()))
    })
}

fn parse(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
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
    Ok(Checkpoint { tensors, metadata })
}

impl Checkpoint {
    /// Copy every parameter of `params` from this checkpoint, by name, checking shapes.
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

    /// Restore optimizer state saved with `save(.., Some(optimizer), ..)`.
    pub fn restore_optimizer(
        &self,
        gpu: &Gpu,
        optimizer: &mut Optimizer,
        params: &Params,
    ) -> Result<()> {
        let steps = self
            .metadata
            .get("optimizer.steps")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut named = BTreeMap::new();
        for (name, (shape, data)) in &self.tensors {
            if let Some(rest) = name.strip_prefix(OPTIM_PREFIX) {
                named.insert(rest.to_string(), Tensor::from_slice(gpu, data, shape)?);
            }
        }
        optimizer.load_state(params, steps, &named)
    }
}
