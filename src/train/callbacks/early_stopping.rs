//! [`EarlyStopping`]: stop when a score has not improved for a number of epochs.

use crate::error::Result;
use crate::train::{Callback, Control, EpochLogs, TrainState};

/// Stops when the monitored score has not improved for `patience` epochs. By default the
/// score is the validation accuracy, or minus the training loss when there is no validation
/// set; [`EarlyStopping::monitor`] picks another (never target accuracy in adaptation: target
/// labels are for reporting only).
pub struct EarlyStopping {
    patience: usize,
    score: fn(&EpochLogs) -> f64,
    best: f64,
    since_best: usize,
}

fn default_score(m: &EpochLogs) -> f64 {
    m.val_acc.unwrap_or(-m.train_loss)
}

impl EarlyStopping {
    /// Stop after `patience` epochs without improvement of the default score.
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            score: default_score,
            best: f64::NEG_INFINITY,
            since_best: 0,
        }
    }

    /// Monitor `score` instead (higher is better), e.g. `|m| m.snd.unwrap_or(f64::NAN)`.
    /// A NaN score never counts as an improvement.
    pub fn monitor(mut self, score: fn(&EpochLogs) -> f64) -> Self {
        self.score = score;
        self
    }
}

impl EarlyStopping {
    fn update(&mut self, m: &EpochLogs) {
        let score = (self.score)(m);
        if score > self.best {
            self.best = score;
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
    }
}

impl Callback for EarlyStopping {
    fn on_resume(&mut self, earlier: &[EpochLogs]) {
        earlier.iter().for_each(|m| self.update(m));
    }

    fn on_epoch_end(&mut self, m: &EpochLogs, _: &TrainState) -> Result<Control> {
        self.update(m);
        if self.since_best >= self.patience {
            println!(
                "early stopping: no improvement for {} epoch(s)",
                self.patience
            );
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }
}
