//! The one callback trait of every training loop (`Classifier::fit` and `Dann::fit`): called
//! when a run begins, after every optimizer step, after every epoch and when the run ends. The
//! CLI's progress bar, JSONL writer, early stopping and checkpoints are implementations of it;
//! so is anything a caller writes to log, plot, stop early or save.
//!
//! ```
//! use dak::train::{Callback, Control, EpochLogs, TrainState};
//!
//! /// Stops once the domain classifier is fooled (accuracy near chance).
//! struct StopWhenAligned;
//!
//! impl Callback for StopWhenAligned {
//!     fn on_epoch_end(&mut self, logs: &EpochLogs, _: &TrainState) -> dak::Result<Control> {
//!         let aligned = logs.domain_acc.is_some_and(|a| (a - 0.5).abs() < 0.02);
//!         Ok(if aligned { Control::Stop } else { Control::Continue })
//!     }
//! }
//! ```

use std::path::Path;
use std::time::Duration;

use super::checkpoint;
use super::logs::{EpochLogs, History};
use crate::autograd::Params;
use crate::error::Result;
use crate::models::file::{self, ModelInfo};
use crate::optim::Optimizer;

/// Whether training goes on after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this epoch (the run still ends normally: selection, summary, `on_train_end`).
    Stop,
}

/// What a run is, told to callbacks before its first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// `fine-tune`, `dann` or `source-only`.
    pub method: String,
    /// Epochs of the whole run (the number of the last epoch).
    pub epochs: usize,
    /// Epochs already done before this call (non-zero when resuming).
    pub first_epoch: usize,
    /// Steps of the next epoch already done (a run resumed after an interruption inside it).
    pub first_step: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
}

/// Where a run is after one optimizer step. Nothing is read back from the GPU per step, so
/// this holds what the host knows; losses and accuracies arrive with [`EpochLogs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchLogs {
    /// Epoch counted from 1.
    pub epoch: usize,
    /// Epochs of the whole run.
    pub epochs: usize,
    /// Step inside the epoch, counted from 1.
    pub step: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Training progress p in [0, 1] after this step.
    pub progress: f64,
    /// Learning rate of this step.
    pub lr: f64,
    /// Gradient-reversal coefficient of this step (adaptation runs only).
    pub lambda: Option<f64>,
    /// Time since the run began.
    pub elapsed: Duration,
    /// The part of `elapsed` that was one-time work (the first step's kernel compilation, a
    /// feature cache): left out of speed estimates, which then cover the steps after the first.
    pub one_time: Duration,
}

/// The model being trained, as a callback may save it.
pub struct TrainState<'a> {
    /// The parameters as they are after the epoch.
    pub params: &'a Params,
    /// The optimizer and its state.
    pub optimizer: &'a Optimizer,
    /// The model's description (what its model file stores besides the tensors).
    pub info: &'a ModelInfo,
    /// The run (method, training images), recorded in resume checkpoints.
    pub run: &'a checkpoint::RunId,
    /// What else the run needs to resume exactly (its epochs and selection state), made only
    /// when a resume checkpoint is written.
    pub record: Option<&'a dyn Fn() -> Result<checkpoint::RunRecord>>,
}

impl TrainState<'_> {
    /// Writes the model as it is now: a dak model file that `Classifier::load`, `Dann::load`
    /// and `dak evaluate` read.
    pub fn save_model(&self, path: &Path) -> Result<()> {
        file::save(path, self.params, self.info)
    }

    /// Writes a resume checkpoint: parameters, optimizer state, the number of epochs done
    /// and, inside an interrupted epoch, how far it got (`FitOptions::resume` continues from
    /// it).
    pub fn save_resume(
        &self,
        path: &Path,
        epochs_done: usize,
        partial: Option<&checkpoint::Partial>,
    ) -> Result<()> {
        checkpoint::save_resume(
            path,
            self.params,
            self.optimizer,
            self.info,
            self.run,
            epochs_done,
            partial,
            self.record.map(|r| r()).transpose()?.as_ref(),
        )
    }
}

/// Hooks called by the training loops. Every method has a default that does nothing.
pub trait Callback {
    /// Before the first step.
    fn on_train_begin(&mut self, _run: &RunInfo) -> Result<()> {
        Ok(())
    }
    /// Before a phase of one-time work that takes a while without steps (building the
    /// feature cache): `what` says what it is, for a progress line.
    fn on_phase(&mut self, _what: &str) {}
    /// Before the first step of a resumed run, with the epochs it had finished before the
    /// interruption (what a callback that keeps a best score or a patience count needs to
    /// continue as the uninterrupted run would).
    fn on_resume(&mut self, _earlier: &[EpochLogs]) {}
    /// After each optimizer step.
    fn on_batch_end(&mut self, _logs: &BatchLogs) {}
    /// After each epoch and its evaluation. Returning [`Control::Stop`] ends the run here.
    fn on_epoch_end(&mut self, _logs: &EpochLogs, _state: &TrainState) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the run, with every epoch's logs (and, for adaptation, the run summary).
    fn on_train_end(&mut self, _history: &History) -> Result<()> {
        Ok(())
    }
    /// When a stop was requested (Ctrl-C) inside an epoch, after its last finished step:
    /// `epochs_done` finished epochs and `partial` of the next (checkpoints save it here).
    fn on_interrupt(
        &mut self,
        _state: &TrainState,
        _epochs_done: usize,
        _partial: &checkpoint::Partial,
    ) -> Result<()> {
        Ok(())
    }
}

/// A callback from a closure over each epoch's logs (Keras's `LambdaCallback`).
///
/// ```
/// use dak::train::{on_epoch_end, Control};
/// let mut print = on_epoch_end(|logs| {
///     println!("epoch {}: loss {:.3}", logs.epoch, logs.train_loss);
///     Control::Continue
/// });
/// # let _: &mut dyn dak::train::Callback = &mut print;
/// ```
pub fn on_epoch_end<F: FnMut(&EpochLogs) -> Control>(f: F) -> EpochFn<F> {
    EpochFn(f)
}

/// See [`on_epoch_end`].
pub struct EpochFn<F>(F);

impl<F: FnMut(&EpochLogs) -> Control> Callback for EpochFn<F> {
    fn on_epoch_end(&mut self, logs: &EpochLogs, _: &TrainState) -> Result<Control> {
        Ok((self.0)(logs))
    }
}

/// The loops' side: call every callback in order.
pub(crate) struct Callbacks<'a, 'b>(pub &'a mut [&'b mut dyn Callback]);

impl Callbacks<'_, '_> {
    pub fn phase(&mut self, what: &str) {
        self.0.iter_mut().for_each(|cb| cb.on_phase(what))
    }
    pub fn begin(&mut self, run: &RunInfo) -> Result<()> {
        self.0.iter_mut().try_for_each(|cb| cb.on_train_begin(run))
    }

    pub fn resumed(&mut self, earlier: &[EpochLogs]) {
        if !earlier.is_empty() {
            self.0.iter_mut().for_each(|cb| cb.on_resume(earlier))
        }
    }

    pub fn batch(&mut self, logs: &BatchLogs) {
        for cb in self.0.iter_mut() {
            cb.on_batch_end(logs);
        }
    }

    /// Every callback sees the epoch; any `Stop` stops the run.
    pub fn epoch(&mut self, logs: &EpochLogs, state: &TrainState) -> Result<Control> {
        let mut control = Control::Continue;
        for cb in self.0.iter_mut() {
            if cb.on_epoch_end(logs, state)? == Control::Stop {
                control = Control::Stop;
            }
        }
        Ok(control)
    }

    pub fn interrupt(
        &mut self,
        state: &TrainState,
        epochs_done: usize,
        partial: &checkpoint::Partial,
    ) -> Result<()> {
        self.0
            .iter_mut()
            .try_for_each(|cb| cb.on_interrupt(state, epochs_done, partial))
    }

    pub fn end(&mut self, history: &History) -> Result<()> {
        self.0
            .iter_mut()
            .try_for_each(|cb| cb.on_train_end(history))
    }
}
