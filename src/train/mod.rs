//! Training support: fit loops (fine-tune, adapt), per-epoch reports, callbacks, metrics,
//! curves, checkpoints, evaluation.
pub mod adapt;
/// Callbacks of the domain-adaptation loop (its epoch metrics differ from `fit`'s).
pub mod adapt_callbacks;
pub mod callbacks;
pub mod checkpoint;
pub mod evaluate;
pub mod fit;
pub mod metrics;
pub mod plot;

use crate::autograd::Params;
use crate::optim::Optimizer;
use crate::Result;

/// What one epoch of supervised training measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f32,
    pub train_acc: f32,
    pub val_loss: Option<f32>,
    pub val_acc: Option<f32>,
    pub lr: f32,
    pub seconds: f64,
    pub images_per_s: f64,
    /// Whether the head trained from cached base features this epoch.
    pub feature_cache: bool,
}

/// Every epoch's report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct History {
    pub epochs: Vec<EpochReport>,
}

/// Whether training goes on after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Called during `fit`: log, plot, checkpoint or stop early.
pub trait Callback {
    /// After each optimizer step (`step` counts from 1 within the epoch).
    fn on_batch_end(&mut self, _epoch: usize, _step: usize, _steps: usize) {}
    /// After each epoch, with the parameters and optimizer as they are now.
    fn on_epoch_end(
        &mut self,
        report: &EpochReport,
        params: &Params,
        optimizer: &Optimizer,
    ) -> Result<Control>;
}
