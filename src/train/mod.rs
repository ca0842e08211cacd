//! Training: the fit loops (`Classifier::fit` for transfer learning, `Dann::fit` for domain
//! adaptation), what they report ([`EpochLogs`], [`History`]), the one [`Callback`] trait and
//! the CLI's callbacks, evaluation and prediction, adaptation metrics, curves and checkpoints.

pub mod adapt;
pub mod callback;
pub mod callbacks;
pub mod checkpoint;
mod clock;
mod epoch_record;
pub mod evaluate;
pub mod fit;
pub mod interrupt;
pub mod logs;
pub mod metrics;
pub mod plot;

pub use adapt::{AdaptConfig, LambdaSchedule, LrSchedule, Method, Select};
pub use callback::{on_epoch_end, BatchLogs, Callback, Control, EpochFn, RunInfo, TrainState};
pub use evaluate::{EvalOptions, EvalReport, Prediction};
pub use fit::{Augment, FitOptions};
pub use logs::{EpochLogs, History, RunSummary, FINE_TUNE};
