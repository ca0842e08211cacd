//! [`Checkpoints`]: the model after every epoch, the best one, and a resume checkpoint.

use std::path::PathBuf;

use crate::train::{Callback, Control, EpochLogs, TrainState};
use crate::Result;

/// Writes the model every epoch to `last`, to `best` when the validation accuracy improves
/// (without validation data, only `last`), and a resume checkpoint (parameters, optimizer
/// state, epoch) to `resume`.
pub struct Checkpoints {
    /// The model after the latest epoch.
    pub last: PathBuf,
    /// The model with the best validation accuracy so far.
    pub best: PathBuf,
    /// The resume checkpoint (`FitOptions::resume`).
    pub resume: PathBuf,
    best_acc: f64,
}

impl Checkpoints {
    /// Paths derived from `out`: `out`, `<stem>.best.safetensors`, `<stem>.resume.safetensors`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        let out = out.into();
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "model".into());
        let dir = out.parent().map(PathBuf::from).unwrap_or_default();
        Checkpoints {
            best: dir.join(format!("{stem}.best.safetensors")),
            resume: dir.join(format!("{stem}.resume.safetensors")),
            last: out,
            best_acc: f64::NEG_INFINITY,
        }
    }
}

impl Callback for Checkpoints {
    fn on_epoch_end(&mut self, m: &EpochLogs, state: &TrainState) -> Result<Control> {
        state.save_model(&self.last)?;
        if let Some(acc) = m.val_acc {
            if acc > self.best_acc {
                self.best_acc = acc;
                state.save_model(&self.best)?;
            }
        }
        state.save_resume(&self.resume, m.epoch)?;
        Ok(Control::Continue)
    }
}
