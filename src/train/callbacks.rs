//! The callbacks the CLI uses; library users can write their own (`Callback`).

use super::{Callback, Control, EpochReport};
use crate::autograd::Params;
use crate::models::file::{self, ModelInfo};
use crate::optim::Optimizer;
use crate::{Error, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Prints one line per epoch; on a terminal also a live line with step, rate and ETA.
pub struct Progress {
    live: bool,
    epoch_start: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            live: std::io::stderr().is_terminal(),
            epoch_start: Instant::now(),
        }
    }
}

impl Callback for Progress {
    fn on_batch_end(&mut self, epoch: usize, step: usize, steps: usize) {
        if step == 1 {
            self.epoch_start = Instant::now();
        }
        if self.live {
            let elapsed = self.epoch_start.elapsed().as_secs_f64();
            let eta = elapsed / step as f64 * (steps - step.min(steps)) as f64;
            eprint!(
                "\r  epoch {} step {step}/{steps}  {:.1} s elapsed, ETA {eta:.0} s   ",
                epoch + 1,
                elapsed
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn on_epoch_end(&mut self, r: &EpochReport, _: &Params, _: &Optimizer) -> Result<Control> {
        if self.live {
            eprint!("\r{:78}\r", "");
        }
        let val = match (r.val_loss, r.val_acc) {
            (Some(l), Some(a)) => format!("  val loss {l:.4} acc {:.2}%", a * 100.0),
            _ => String::new(),
        };
        println!(
            "epoch {}/{}  loss {:.4} acc {:.2}%{val}  lr {:.2e}  {:.1} s ({:.0} img/s{})",
            r.epoch,
            r.epochs,
            r.train_loss,
            r.train_acc * 100.0,
            r.lr,
            r.seconds,
            r.images_per_s,
            if r.feature_cache {
                ", cached features"
            } else {
                ""
            }
        );
        Ok(Control::Continue)
    }
}

/// Appends one JSON object per epoch to a file (`--metrics FILE.jsonl`).
pub struct JsonLines {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonLines {
    pub fn create(path: PathBuf) -> Result<Self> {
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(JsonLines { path, file })
    }

    /// Write any serialisable value as one line.
    pub fn write(&mut self, value: &impl serde::Serialize) -> Result<()> {
        let line = serde_json::to_string(value).map_err(|e| Error::runtime(e.to_string()))?;
        writeln!(self.file, "{line}").map_err(|e| Error::io(&self.path, e))
    }
}

impl Callback for JsonLines {
    fn on_epoch_end(&mut self, r: &EpochReport, _: &Params, _: &Optimizer) -> Result<Control> {
        self.write(r)?;
        Ok(Control::Continue)
    }
}

/// Stops when validation accuracy (or training loss without validation) has not improved for
/// `patience` epochs.
pub struct EarlyStopping {
    pub patience: usize,
    best: f32,
    since_best: usize,
}

impl EarlyStopping {
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            best: f32::NEG_INFINITY,
            since_best: 0,
        }
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, r: &EpochReport, _: &Params, _: &Optimizer) -> Result<Control> {
        let score = r.val_acc.unwrap_or(-r.train_loss);
        if score > self.best {
            self.best = score;
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
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

/// Writes the last model every epoch, the best (by validation accuracy) when it improves, and
/// a resume checkpoint (parameters + optimizer state + epoch).
pub struct Checkpoints {
    pub last: PathBuf,
    pub best: PathBuf,
    pub resume: PathBuf,
    pub info: ModelInfo,
    best_acc: f32,
}

impl Checkpoints {
    /// Paths derived from `out`: `out`, `<stem>.best.safetensors`, `<stem>.resume.safetensors`.
    pub fn new(out: PathBuf, info: ModelInfo) -> Self {
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "model".into());
        let dir = out.parent().map(PathBuf::from).unwrap_or_default();
        Checkpoints {
            best: dir.join(format!("{stem}.best.safetensors")),
            resume: dir.join(format!("{stem}.resume.safetensors")),
            last: out,
            info,
            best_acc: f32::NEG_INFINITY,
        }
    }
}

impl Callback for Checkpoints {
    fn on_epoch_end(
        &mut self,
        r: &EpochReport,
        params: &Params,
        optimizer: &Optimizer,
    ) -> Result<Control> {
        file::save(&self.last, params, &self.info)?;
        if let Some(acc) = r.val_acc {
            if acc > self.best_acc {
                self.best_acc = acc;
                file::save(&self.best, params, &self.info)?;
            }
        }
        let meta = std::collections::BTreeMap::from([
            ("epoch".to_string(), r.epoch.to_string()),
            (
                "dak.model".to_string(),
                serde_json::to_string(&self.info).unwrap_or_default(),
            ),
        ]);
        super::checkpoint::save(&self.resume, params, Some(optimizer), &meta)?;
        Ok(Control::Continue)
    }
}
