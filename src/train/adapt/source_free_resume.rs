//! What a source-free run's resume checkpoint holds beyond a source-based run's record
//! (`resume.rs`): the validator it was written for, the training steps done, the `--init` model
//! (`--select safe` may hand it back) and, inside an epoch, that epoch's pseudo-labels: they
//! were made from the model at the epoch's start, which a resumed run no longer has.

use super::methods::SourceFree;
use super::resume::{self, damaged, SoFar};
use super::Select;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Dann;
use crate::tensor::Tensor;
use crate::train::checkpoint::{RunId, RunRecord};

/// What a source-free run's resume checkpoints say about it: its method and target images.
pub fn run_id(method: SourceFree, target: &Dataset) -> RunId {
    RunId {
        method: method.name().into(),
        images: target.len(),
    }
}

/// Keys of what a source-free run records beyond a source-based run's record.
const SELECT_KEY: &str = "select";
const STEPS_KEY: &str = "steps";
const INIT_PREFIX: &str = "init";
const INIT_PROBS: &str = "init_probs";
const PSEUDO_LABELS: &str = "pseudo_labels";

/// The --init model's parameters and score-set probabilities (what `--select safe` may hand
/// back).
pub(super) type Init = (Vec<Tensor>, Vec<f32>);

/// What a source-free run's resume record holds beyond a source-based run's: the training
/// steps done (single-image batches are skipped, so they do not follow from the batches
/// done), the --init model (`--select safe`) and, inside an epoch, that epoch's pseudo-labels:
/// they were made from the model at the epoch's start, which a resumed run no longer has.
pub(super) struct SourceFreeState<'a> {
    pub steps: usize,
    pub init: Option<&'a Init>,
    pub pseudo: Option<&'a [u32]>,
}

/// A source-free run's resume record: the one a source-based run writes (`resume.rs`) and
/// `state`, with the validator it was written for.
pub(super) fn run_record(
    model: &Dann,
    so_far: SoFar,
    select: Select,
    state: &SourceFreeState,
) -> Result<RunRecord> {
    let mut r = resume::record(model, so_far, None)?;
    r.metadata.insert(SELECT_KEY.into(), select.name().into());
    r.metadata.insert(STEPS_KEY.into(), state.steps.to_string());
    if let Some((params, probs)) = state.init {
        resume::record_params(&mut r, INIT_PREFIX, model, params)?;
        r.tensors.push(resume::flat(INIT_PROBS, probs));
    }
    if let Some(labels) = state.pseudo {
        // Class indices are exact in f32, the record's type.
        let values: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        r.tensors.push(resume::flat(PSEUDO_LABELS, &values));
    }
    Ok(r)
}

/// What [`run_record`] kept beyond a source-based run's record, read back.
pub(super) struct Continued {
    pub steps: usize,
    pub init: Option<Init>,
    pub pseudo: Option<Vec<u32>>,
}

/// Reads back what [`run_record`] added for a run on `images` target images; refuses a
/// record written for another validator (its selection state would not be this one's).
pub(super) fn read_record(
    model: &Dann,
    r: &RunRecord,
    select: Select,
    checkpoint: &std::path::Path,
    images: usize,
) -> Result<Continued> {
    let name = select.name();
    match r.metadata.get(SELECT_KEY) {
        Some(s) if s == name => {}
        Some(s) => {
            return Err(Error::input(format!(
                "--resume {}: written by a run with --select {s}, this one has --select {name}; resume with the same command",
                checkpoint.display()
            )));
        }
        None => return Err(damaged("select")),
    }
    let steps = r
        .metadata
        .get(STEPS_KEY)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| damaged("steps"))?;
    let init = match select {
        Select::Safe => {
            let probs = r
                .tensor(INIT_PROBS)
                .ok_or_else(|| damaged("the --init model"))?;
            let params = resume::restore_params(model, r, INIT_PREFIX)?;
            Some((params, probs.to_vec()))
        }
        _ => None,
    };
    let classes = model.config.classes as f32;
    let pseudo = match r.tensor(PSEUDO_LABELS) {
        Some(v)
            if v.len() != images
                || v.iter()
                    .any(|&l| !(0.0..classes).contains(&l) || l.fract() != 0.0) =>
        {
            return Err(damaged("pseudo-labels"))
        }
        Some(v) => Some(v.iter().map(|&l| l as u32).collect()),
        None => None,
    };
    Ok(Continued {
        steps,
        init,
        pseudo,
    })
}
