//! [`Checkpoints`]: the model after every epoch, the best one, and a resume checkpoint.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::train::checkpoint::Partial;
use crate::train::{Callback, Control, EpochLogs, TrainState};

/// Writes the model every epoch to `last`, to `best` when the validation accuracy improves
/// (without validation data, only `last`), and a resume checkpoint (parameters, optimizer
/// state, epoch) to `resume`: after the first and the last epoch, and in between at most once
/// every [`Checkpoints::resume_every`] (an interruption writes one at once, so Ctrl-C loses
/// nothing; a killed process loses at most that long). The models come first: on a disk
/// that fills up, the last epoch's resume checkpoint (the larger file, parameters and
/// momentum) is the one given up, with a warning. What was written is recorded
/// (`written_*`), so a caller announces only files that exist.
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
    /// Least time between two resume checkpoints at epoch ends (default
    /// [`RESUME_EVERY_SECONDS`]).
    pub resume_every: Duration,
    resume_written_at: Option<Instant>,
}

/// Default least seconds between two epoch-end resume checkpoints: a 200-epoch head run with
/// 1-second epochs rewrote ~38 GB of checkpoints when every epoch wrote one.
pub const RESUME_EVERY_SECONDS: u64 = 60;

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
            resume_every: Duration::from_secs(RESUME_EVERY_SECONDS),
            resume_written_at: None,
        }
    }

    /// The same, with resume checkpoints at most every `every` at epoch ends.
    pub fn with_resume_every(mut self, every: Duration) -> Self {
        self.resume_every = every;
        self
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
    fn on_resume(&mut self, earlier: &[EpochLogs]) {
        // The best model file holds the best epoch before the interruption: only a better one
        // replaces it.
        for acc in earlier.iter().filter_map(|e| e.val_acc) {
            self.best_acc = self.best_acc.max(acc);
        }
    }

    fn on_epoch_end(&mut self, m: &EpochLogs, state: &TrainState) -> Result<Control> {
        if self.models {
            // The files say which epoch they hold.
            let mut info = state.info.clone();
            if let Some(p) = info.provenance.as_mut() {
                p.epoch = Some(m.epoch);
            }
            let state = &TrainState {
                info: &info,
                ..*state
            };
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
        // A source-free run's epoch 0 is the model as given: nothing trained, nothing to resume.
        if m.epoch == 0 {
            return Ok(Control::Continue);
        }
        let last_epoch = m.epoch >= m.epochs;
        let due = self
            .resume_written_at
            .is_none_or(|t| t.elapsed() >= self.resume_every);
        if !(last_epoch || due) {
            return Ok(Control::Continue);
        }
        match state.save_resume(&self.resume, m.epoch, None) {
            Ok(()) => {
                self.written_resume = Some(m.epoch);
                self.written_resume_step = None;
                self.resume_written_at = Some(Instant::now());
            }
            // The run is complete: its model matters, its resume checkpoint does not.
            Err(e) if last_epoch => {
                eprintln!("warning: the last epoch's resume checkpoint was not written ({e}); the run is complete without it");
            }
            Err(e) => return Err(e),
        }
        Ok(Control::Continue)
    }

    fn on_interrupt(&mut self, state: &TrainState, epochs: usize, partial: &Partial) -> Result<()> {
        state.save_resume(&self.resume, epochs, Some(partial))?;
        self.written_resume = Some(epochs);
        self.written_resume_step = Some(partial.step);
        Ok(())
    }
}
