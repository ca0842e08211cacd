//! Resume checkpoints: a model file (`models::file`) plus optimizer state and the number of
//! epochs done, in one `.safetensors` file. Written atomically (temporary file + rename).
//! Readable by Python's safetensors, so models move to PyTorch as they are.

use crate::autograd::Params;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::expect::{read_header, Header};
use crate::models::file::{self, check_classes, host_params, ModelInfo, StoreType};
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::models::file::{read_tensors as load, TensorFile as Checkpoint};
pub use crate::models::file::{FORMAT, FORMAT_KEY, VERSION, VERSION_KEY};

/// Prefix of optimizer-state tensor names.
const OPTIM_PREFIX: &str = "optimizer.";

/// Save `params` (and `optimizer` state if given) with `metadata` to `path`, atomically.
pub fn save(
    path: &Path,
    params: &Params,
    optimizer: Option<&Optimizer>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    save_with(path, params, optimizer, metadata, Vec::new())
}

/// [`save`] with `extra` host tensors beside the parameters.
fn save_with(
    path: &Path,
    params: &Params,
    optimizer: Option<&Optimizer>,
    metadata: &BTreeMap<String, String>,
    extra: Vec<(String, Vec<usize>, Vec<f32>)>,
) -> Result<()> {
    let mut host = host_params(params)?;
    host.extend(extra);
    let mut meta = metadata.clone();
    if let Some(opt) = optimizer {
        for (name, t) in opt.named_state(params)? {
            host.push((
                format!("{OPTIM_PREFIX}{name}"),
                t.shape().to_vec(),
                t.to_vec()?,
            ));
        }
        meta.insert("optimizer.rule".into(), opt.rule.name().into());
        meta.insert("optimizer.steps".into(), opt.steps.to_string());
    }
    file::write_tensors(path, &host, &meta, StoreType::F32)
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

/// Metadata keys of an interrupted epoch: its steps done and its GPU-side sums so far.
const PARTIAL_STEP_KEY: &str = "partial.step";
const PARTIAL_SUMS_KEY: &str = "partial.sums";

/// How far an interrupted run got into the epoch after its finished ones: the steps done and
/// the epoch's sums so far (the accumulators' words, f32 as bits), so that the resumed epoch
/// reports the same means as an uninterrupted one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Partial {
    /// Steps of the epoch done.
    pub step: usize,
    /// The epoch's accumulators, as their fit loop writes and reads them.
    pub sums: Vec<u32>,
}

impl Partial {
    /// The epoch so far, `step` steps in: the words of its GPU-side `sums` (read back once, at
    /// the interruption), then the host's `counts`.
    pub(crate) fn of(step: usize, sums: &[&Tensor], counts: &[u32]) -> Result<Partial> {
        let mut words = Vec::new();
        for t in sums {
            words.extend(t.to_words()?);
        }
        words.extend_from_slice(counts);
        Ok(Partial { step, sums: words })
    }

    /// Writes the GPU-side sums [`Partial::of`] stored back into `sums` (the same tensors, in
    /// the same order) and returns the host's `N` counts.
    pub(crate) fn restore<const N: usize>(&self, sums: &[&Tensor]) -> Result<[u32; N]> {
        let want = sums.iter().map(|t| t.numel()).sum::<usize>() + N;
        if want != self.sums.len() {
            return Err(Error::input(format!(
                "--resume: the interrupted epoch holds {} sums, this run keeps {want}; resume with the same version and method",
                self.sums.len()
            )));
        }
        let mut at = 0;
        for t in sums {
            t.write_words(&self.sums[at..at + t.numel()])?;
            at += t.numel();
        }
        Ok(self.sums[at..].try_into().expect("N words are left"))
    }
}

/// What a run keeps in its resume checkpoint besides parameters and optimizer state, so that
/// the resumed run ends as the uninterrupted one would: the epochs it has logged and its
/// selection state (the best epoch's parameters, every epoch's score-set probabilities...).
/// Stored as tensors named `run.<name>` and metadata keys `run.<key>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunRecord {
    /// Metadata entries (without the `run.` prefix).
    pub metadata: BTreeMap<String, String>,
    /// Host tensors (name without the `run.` prefix, shape, values).
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl RunRecord {
    /// The tensor `name`, if recorded.
    pub fn tensor(&self, name: &str) -> Option<&[f32]> {
        self.tensors
            .iter()
            .find(|t| t.0 == name)
            .map(|t| t.2.as_slice())
    }
}

/// Prefix of a run record's tensors and metadata keys.
const RECORD_PREFIX: &str = "run.";

/// Where a resumed run continues: after `epochs` finished epochs, and `partial` steps into
/// the next one when it was interrupted there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResumePoint {
    /// Epochs finished.
    pub epochs: usize,
    /// The interrupted epoch, if any.
    pub partial: Option<Partial>,
    /// What the run recorded beside its parameters (empty for checkpoints that hold none).
    pub record: RunRecord,
}

/// Save a resume checkpoint: parameters, optimizer state, the model's description, the run
/// it belongs to, the number of epochs done and, after an interruption inside an epoch, how
/// far into it the run got.
#[allow(clippy::too_many_arguments)] // one checkpoint's parts; TrainState::save_resume bundles them
pub fn save_resume(
    path: &Path,
    params: &Params,
    optimizer: &Optimizer,
    info: &ModelInfo,
    run: &RunId,
    epochs_done: usize,
    partial: Option<&Partial>,
    record: Option<&RunRecord>,
) -> Result<()> {
    let mut meta = info.to_metadata()?;
    let mut extra = Vec::new();
    if let Some(r) = record {
        for (k, v) in &r.metadata {
            meta.insert(format!("{RECORD_PREFIX}{k}"), v.clone());
        }
        for (name, shape, values) in &r.tensors {
            extra.push((
                format!("{RECORD_PREFIX}{name}"),
                shape.clone(),
                values.clone(),
            ));
        }
    }
    meta.insert(EPOCH_KEY.into(), epochs_done.to_string());
    if let Some(p) = partial {
        meta.insert(PARTIAL_STEP_KEY.into(), p.step.to_string());
        let words: Vec<String> = p.sums.iter().map(u32::to_string).collect();
        meta.insert(PARTIAL_SUMS_KEY.into(), words.join(","));
    }
    meta.insert(RUN_METHOD_KEY.into(), run.method.clone());
    meta.insert(RUN_IMAGES_KEY.into(), run.images.to_string());
    save_with(path, params, Some(optimizer), &meta, extra)
}

/// The method of the run that wrote the resume checkpoint whose header is `header` (`None`
/// when it does not say: checkpoints from before runs were recorded).
pub fn run_method(header: &Header) -> Option<&str> {
    header.metadata.get(RUN_METHOD_KEY).map(String::as_str)
}

/// [`load_resume`]'s check that the checkpoint at `path` belongs to `run`, from its header
/// alone: a command refuses a wrong checkpoint before it opens the GPU.
pub fn check_resume_run(path: &Path, run: &RunId) -> Result<()> {
    check_run(&read_header(path)?.metadata, path, run)
}

/// Errors unless the checkpoint whose metadata is `metadata` was written by a run like `run`
/// (when it says which).
fn check_run(metadata: &BTreeMap<String, String>, path: &Path, run: &RunId) -> Result<()> {
    if !metadata.contains_key(EPOCH_KEY) {
        return Err(Error::input(format!(
            "--resume {}: a model file, not a resume checkpoint (<out stem>.resume.safetensors); to start from its weights use --init",
            path.display()
        )));
    }
    if let Some(m) = metadata.get(RUN_METHOD_KEY).filter(|m| **m != run.method) {
        return Err(Error::input(format!(
            "--resume {}: written by a `{m}` run, this is a `{}` run; resume with the same command",
            path.display(),
            run.method
        )));
    }
    let images = metadata
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
/// returns where the run continues.
pub fn load_resume(
    path: &Path,
    params: &mut Params,
    optimizer: &mut Optimizer,
    classes: &[String],
    run: &RunId,
) -> Result<ResumePoint> {
    let ck = load(path)?;
    check_run(&ck.metadata, path, run)?;
    check_classes(&ck, path, classes)?;
    ck.restore(params, path)?;
    let gpu = params
        .iter()
        .next()
        .map(|(_, p)| p.value.gpu().clone())
        .ok_or_else(|| Error::input("resume: the model has no parameters"))?;
    ck.restore_optimizer(&gpu, optimizer, params)?;
    let epochs = ck
        .metadata
        .get(EPOCH_KEY)
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let partial = match ck.metadata.get(PARTIAL_STEP_KEY) {
        None => None,
        Some(step) => {
            let bad = || {
                Error::input(format!(
                    "--resume {}: its interrupted-epoch record is damaged; resume from an epoch-end checkpoint or start again",
                    path.display()
                ))
            };
            let sums = ck
                .metadata
                .get(PARTIAL_SUMS_KEY)
                .ok_or_else(bad)?
                .split(',')
                .filter(|w| !w.is_empty())
                .map(|w| w.parse::<u32>().map_err(|_| bad()))
                .collect::<Result<Vec<u32>>>()?;
            Some(Partial {
                step: step.parse().map_err(|_| bad())?,
                sums,
            })
        }
    };
    let mut record = RunRecord::default();
    for (key, value) in &ck.metadata {
        if let Some(k) = key.strip_prefix(RECORD_PREFIX) {
            if key != RUN_METHOD_KEY && key != RUN_IMAGES_KEY {
                record.metadata.insert(k.to_string(), value.clone());
            }
        }
    }
    for (name, (shape, data)) in &ck.tensors {
        if let Some(n) = name.strip_prefix(RECORD_PREFIX) {
            record
                .tensors
                .push((n.to_string(), shape.clone(), data.clone()));
        }
    }
    Ok(ResumePoint {
        epochs,
        partial,
        record,
    })
}

impl Checkpoint {
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
