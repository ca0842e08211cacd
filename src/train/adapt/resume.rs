//! What an adaptation run writes into its resume checkpoint besides parameters and optimizer
//! state, and reads back, so that a resumed run ends exactly as the uninterrupted one: every
//! epoch logged so far (the plot, the final table and `epochs_run` count them all), the
//! proxy A-distance before training, and the selection state of `--select`: the best epoch
//! so far with its parameters (BN running statistics included) and score-set probabilities
//! (entropy, IM, SND, MixVal, DEV, source-val), every epoch's probabilities and parameters
//! (EnsV), the last epoch's probabilities. A source-free run adds its own state to the same
//! record (`source_free.rs`).

use super::ensv::EpochPool;
use super::step::snapshot;
use crate::error::{Error, Result};
use crate::models::Dann;
use crate::tensor::Tensor;
use crate::train::checkpoint::RunRecord;
use crate::train::epoch_record;
use crate::train::metrics::ProxyADistance;
use crate::train::EpochLogs;
use serde::Serialize;

/// The best epoch so far: its index in the run's epochs, its score and its parameters.
pub(super) type Best = Option<(usize, f64, Vec<Tensor>)>;

/// A run's state at an epoch end, as the loop keeps it: its epochs, the best one so far, the
/// best and the last epoch's score-set probabilities, the EnsV pool.
pub(super) type SoFar<'a> = (
    &'a Vec<EpochLogs>,
    &'a Best,
    &'a Vec<f32>,
    &'a Vec<f32>,
    &'a EpochPool,
);

/// A run's state read back from a resume checkpoint.
pub(super) struct Restored {
    pub epochs: Vec<EpochLogs>,
    pub best: Best,
    pub best_probs: Vec<f32>,
    pub last_probs: Vec<f32>,
    pub pad_before: Option<ProxyADistance>,
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::runtime(e.to_string()))
}

/// The error of a record that cannot be read back.
pub(super) fn damaged(what: &str) -> Error {
    Error::input(format!(
        "--resume: the checkpoint's run record is damaged ({what}); start again"
    ))
}

/// A host tensor of a record: `values` as one row named `name`.
pub(super) fn flat(name: &str, values: &[f32]) -> (String, Vec<usize>, Vec<f32>) {
    (name.to_string(), vec![values.len()], values.to_vec())
}

/// Records `params`, a snapshot of `model`, as tensors `<prefix>.<name>`: the parameters
/// training changes and the BN running statistics the forward pass moves (frozen ones are
/// the model's own and are not repeated).
pub(super) fn record_params(
    r: &mut RunRecord,
    prefix: &str,
    model: &Dann,
    params: &[Tensor],
) -> Result<()> {
    for ((_, p), t) in model.params.iter().zip(params) {
        if p.trainable || p.buffer {
            r.tensors
                .push(flat(&format!("{prefix}.{}", p.name), &t.to_vec()?));
        }
    }
    Ok(())
}

/// A snapshot of `model` with the values [`record_params`] wrote under `prefix` in place
/// (a parameter without a recorded value keeps the model's: frozen ones, and BN statistics
/// in checkpoints from before they were recorded).
pub(super) fn restore_params(model: &Dann, r: &RunRecord, prefix: &str) -> Result<Vec<Tensor>> {
    let mut params = snapshot(model)?;
    for ((_, p), t) in model.params.iter().zip(params.iter_mut()) {
        if let Some(v) = r.tensor(&format!("{prefix}.{}", p.name)) {
            *t = Tensor::from_slice(p.value.gpu(), v, p.value.shape())?;
        }
    }
    Ok(params)
}

/// The record of a run so far (host copies; written only with a resume checkpoint).
pub(super) fn record(
    model: &Dann,
    (epochs, best, best_probs, last_probs, pool): SoFar,
    pad_before: Option<ProxyADistance>,
) -> Result<RunRecord> {
    let mut r = RunRecord::default();
    r.metadata
        .insert("epochs".into(), epoch_record::to_json(epochs)?);
    r.metadata.insert("pad_before".into(), json(&pad_before)?);
    r.tensors.push(flat("last_probs", last_probs));
    if let Some((epoch, score, params)) = best {
        // The score as bits: the resumed run compares later scores with exactly this one.
        let best = (*epoch, score.to_bits());
        r.metadata.insert("best".into(), json(&best)?);
        r.tensors.push(flat("best_probs", best_probs));
        record_params(&mut r, "best", model, params)?;
    }
    r.metadata.insert("pool".into(), pool.len().to_string());
    for i in 0..pool.len() {
        r.tensors
            .push(flat(&format!("pool.{i}.probs"), pool.probs(i)));
        for ((_, p), v) in model.params.iter().zip(pool.params(i)) {
            if let Some(v) = v {
                r.tensors.push(flat(&format!("pool.{i}.{}", p.name), v));
            }
        }
    }
    Ok(r)
}

/// Reads a record back: the epochs, the best epoch (its parameters as GPU tensors, frozen
/// ones from the model as it is) and the pool's candidates pushed into `pool`. `None` for a
/// checkpoint without a record (written before records existed).
pub(super) fn restore(
    model: &Dann,
    r: &RunRecord,
    pool: &mut EpochPool,
) -> Result<Option<Restored>> {
    let Some(epochs) = r.metadata.get("epochs") else {
        return Ok(None);
    };
    let mut epochs = epoch_record::from_json(epochs).ok_or_else(|| damaged("epochs"))?;
    let pad_before = match r.metadata.get("pad_before") {
        Some(p) => serde_json::from_str(p).map_err(|_| damaged("pad_before"))?,
        None => None,
    };
    let n_pool: usize = match r.metadata.get("pool") {
        Some(n) => n.parse().map_err(|_| damaged("pool"))?,
        None => 0,
    };
    for i in 0..n_pool {
        let probs = r
            .tensor(&format!("pool.{i}.probs"))
            .ok_or_else(|| damaged("pool"))?;
        let params = model
            .params
            .iter()
            .map(|(_, p)| {
                r.tensor(&format!("pool.{i}.{}", p.name))
                    .map(<[f32]>::to_vec)
            })
            .collect();
        pool.push_host(probs.to_vec(), params);
    }
    for (i, e) in epochs.iter_mut().enumerate().take(n_pool) {
        e.score_probs = Some(std::sync::Arc::new(pool.probs(i).to_vec()));
    }
    let best = match r.metadata.get("best") {
        None => None,
        Some(b) => {
            let (epoch, bits): (usize, u64) =
                serde_json::from_str(b).map_err(|_| damaged("best"))?;
            let params = restore_params(model, r, "best")?;
            Some((epoch, f64::from_bits(bits), params))
        }
    };
    let tensor = |name: &str| r.tensor(name).map(<[f32]>::to_vec).unwrap_or_default();
    Ok(Some(Restored {
        epochs,
        best,
        best_probs: tensor("best_probs"),
        last_probs: tensor("last_probs"),
        pad_before,
    }))
}
