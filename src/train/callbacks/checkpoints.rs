//! [`Checkpoints`]: the model after every epoch, the best one, and a resume checkpoint.

use std::path::PathBuf;

use crate::train::checkpoint::Partial;
use crate::train::{Callback, Control, EpochLogs, TrainState};
use crate::Result;

/// Writes the model every epoch to `last`, to `best` when the validation accuracy improves
/// (without validation data, only `last`), and a resume checkpoint (parameters, optimizer
/// state, epoch) to `resume`. What was written is recorded (`written_*`), so a caller
/// announces only files that exist.
pub struct Checkpoints {
    /// The model after the latest epoch.
    pub last: PathBuf,
    /// The model with the best validation accuracy so far.
    pub best: PathBuf,
    /// The resume checkpoint (`FitOptions::resume`, `AdaptConfig::resume`).
    pub resume: PathBuf,
    /// Whether `last` and `best` are written (false: only the resume checkpoint).
    models: bool,
    best_acc: f64,
    /// Epoch of the latest model written to `last`.
    pub written_last: Option<usize>,
    /// Epoch and validation accuracy of the model written to `best`.
    pub written_best: Option<(usize, f64)>,
    /// Epochs done in the latest resume checkpoint written.
    pub written_resume: Option<usize>,
    /// Steps into the next epoch of that checkpoint, when it was written at an interruption.
    pub written_resume_step: Option<usize>,
}

impl Checkpoints {
    /// Paths derived from `out`: `out`, `<stem>.best.safetensors`, `<stem>.resume.safetensors`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        let out = out.into();
        Checkpoints {
            best: sibling(&out, "best"),
            resume: Self::resume_path(&out),
            last: out,
            models: true,
            best_acc: f64::NEG_INFINITY,
            written_last: None,
            written_best: None,
            written_resume: None,
            written_resume_step: None,
        }
    }

    /// Only the resume checkpoint next to `out` (adaptation writes its model at the end).
    pub fn resume_only(out: impl Into<PathBuf>) -> Self {
        Checkpoints {
            models: false,
            ..Self::new(out)
        }
    }

    /// `<stem>.resume.safetensors` next to `out`.
    pub fn resume_path(out: &std::path::Path) -> PathBuf {
        sibling(out, "resume")
    }
}

fn sibling(out: &std::path::Path, tag: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    let dir = out.parent().map(PathBuf::from).unwrap_or_default();
    dir.join(format!("{stem}.{tag}.safetensors"))
}

impl Callback for Checkpoints {
    fn on_epoch_end(&mut self, m: &EpochLogs, state: &TrainState) -> Result<Control> {
        if self.models {
            state.save_model(&self.last)?;
            self.written_last = Some(m.epoch);
            if let Some(acc) = m.val_acc {
                if acc > self.best_acc {
                    self.best_acc = acc;
                    state.save_model(&self.best)?;
                    self.written_best = Some((m.epoch, acc));
                }
            }
        }
        state.save_resume(&self.resume, m.epoch, None)?;
        self.written_resume = Some(m.epoch);
        self.written_resume_step = None;
        Ok(Control::Continue)
    }

    fn on_interrupt(&mut self, state: &TrainState, epochs: usize, partial: &Partial) -> Result<()> {
        state.save_resume(&self.resume, epochs, Some(partial))?;
        self.written_resume = Some(epochs);
        self.written_resume_step = Some(partial.step);
        Ok(())
    }
}
