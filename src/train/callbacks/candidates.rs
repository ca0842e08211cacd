//! [`CandidateStore`]: every epoch's model of an adaptation run, kept as a selection candidate
//! (`dak adapt --candidates DIR`) with what the run measured of it, so `dak select` can rank
//! it with any validator later without training again.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::adapt::candidates::{CachedScores, SCORING};
use crate::train::{Callback, Control, EpochLogs, RunInfo, TrainState};

/// Writes the model after every epoch to `DIR/<method>/epoch-<NNN>.safetensors` and its
/// scores beside it (`epoch-<NNN>.scores.json`, when the epoch was scored), atomically: a
/// candidate file is whole or absent.
pub struct CandidateStore {
    dir: PathBuf,
    method: String,
    /// Epoch and path of every candidate written by this run, in order.
    pub written: Vec<(usize, PathBuf)>,
}

impl CandidateStore {
    /// A store under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CandidateStore {
            dir: dir.into(),
            method: String::new(),
            written: Vec::new(),
        }
    }

    /// The file of `method`'s candidate after `epoch`, relative to the store's folder.
    pub fn relative_path(method: &str, epoch: usize) -> PathBuf {
        Path::new(method).join(format!("epoch-{epoch:03}.safetensors"))
    }
}

impl Callback for CandidateStore {
    fn on_train_begin(&mut self, run: &RunInfo) -> Result<()> {
        self.method = run.method.clone();
        self.written.clear();
        let dir = self.dir.join(&self.method);
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::runtime(format!(
                "--candidates: cannot create {}: {e}",
                dir.display()
            ))
        })
    }

    fn on_epoch_end(&mut self, logs: &EpochLogs, state: &TrainState) -> Result<Control> {
        let rel = Self::relative_path(&self.method, logs.epoch);
        let file = self.dir.join(&rel);
        state.save_model(&file)?;
        if let (Some(probs), Some(entropy), Some(im), Some(snd)) =
            (&logs.score_probs, logs.entropy, logs.im, logs.snd)
        {
            CachedScores {
                scoring: SCORING,
                entropy,
                im,
                snd,
                mixval: logs.mixval,
                dev: logs.dev,
                source_val_acc: logs.val_acc,
                target_acc: logs.target_acc,
                source_confidence: logs.source_confidence,
                domain_shift: logs.domain_shift,
                probs: probs.to_vec(),
            }
            .write(&file)?;
        }
        self.written.push((logs.epoch, rel));
        Ok(Control::Continue)
    }
}
