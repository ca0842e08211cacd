//! Callbacks: what a fit loop tells the outside world each step and each epoch. The progress
//! printer and the JSONL metrics writer are callbacks; so is anything a caller wants to add
//! (early stopping, custom logging).

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::adapt::{EpochMetrics, RunSummary};
use crate::{Error, Result};

/// Whether training goes on after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Where a run is, for live progress.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    /// Epoch counted from 1.
    pub epoch: usize,
    pub epochs: usize,
    /// Step inside the epoch, counted from 1.
    pub step: usize,
    pub steps_per_epoch: usize,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// Hooks called by the fit loop. Every method has a default that does nothing.
pub trait Callback {
    /// A run (one method) begins.
    fn on_run_start(&mut self, _method: &str, _epochs: usize) -> Result<()> {
        Ok(())
    }
    /// After each optimizer step (nothing has been read back from the GPU).
    fn on_step(&mut self, _info: &StepInfo) {}
    /// After each epoch's evaluation.
    fn on_epoch_end(&mut self, _metrics: &EpochMetrics) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the run, with the summary.
    fn on_run_end(&mut self, _summary: &RunSummary) -> Result<()> {
        Ok(())
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// One line per epoch: accuracies, domain accuracy, lambda, learning rate, losses, scores.
pub fn epoch_line(m: &EpochMetrics) -> String {
    format!(
        "[{}] epoch {:>3}/{}  src {}  tgt {}  dom {}  λ {:.3}  lr {:.5}  loss y {:.4} d {}  H {:.3}  IM {}  SND {}  {:.1}s {:.0} img/s",
        m.method,
        m.epoch,
        m.epochs,
        pct(Some(m.source_acc)),
        pct(m.target_acc),
        pct(m.domain_acc),
        m.lambda,
        m.lr,
        m.label_loss,
        opt(m.domain_loss, 4),
        m.entropy.unwrap_or(f64::NAN),
        opt(m.im, 3),
        opt(m.snd, 3),
        m.seconds,
        m.images_per_s
    )
}

/// Prints progress: a live line with ETA on a terminal (stderr), one plain line per epoch
/// (stdout) either way.
pub struct ProgressPrinter {
    live: bool,
    last_draw: Option<Instant>,
    method: String,
}

impl ProgressPrinter {
    /// Live progress when stderr is a terminal.
    pub fn new() -> Self {
        Self::with_live(std::io::stderr().is_terminal())
    }

    pub fn with_live(live: bool) -> Self {
        ProgressPrinter {
            live,
            last_draw: None,
            method: String::new(),
        }
    }

    fn clear(&self) {
        if self.live {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Default for ProgressPrinter {
    fn default() -> Self {
        Self::new()
    }
}

impl Callback for ProgressPrinter {
    fn on_run_start(&mut self, method: &str, _epochs: usize) -> Result<()> {
        self.method = method.to_string();
        Ok(())
    }

    fn on_step(&mut self, s: &StepInfo) {
        if !self.live {
            return;
        }
        if self
            .last_draw
            .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
            && s.step != s.steps_per_epoch
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let done = (s.epoch - 1) * s.steps_per_epoch + s.step;
        let total = s.epochs * s.steps_per_epoch;
        let eta = s
            .elapsed
            .mul_f64((total - done) as f64 / done.max(1) as f64);
        let width = 24;
        let filled = width * s.step / s.steps_per_epoch.max(1);
        eprint!(
            "\r\x1b[2K[{}] epoch {}/{} [{}{}] {}/{} steps  elapsed {}  ETA {}",
            self.method,
            s.epoch,
            s.epochs,
            "#".repeat(filled),
            "-".repeat(width - filled),
            s.step,
            s.steps_per_epoch,
            clock(s.elapsed),
            clock(eta)
        );
        let _ = std::io::stderr().flush();
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics) -> Result<Control> {
        self.clear();
        println!("{}", epoch_line(m));
        Ok(Control::Continue)
    }

    fn on_run_end(&mut self, s: &RunSummary) -> Result<()> {
        self.clear();
        let sel = &s.selected;
        println!(
            "[{}] done in {}: selected epoch {} by `{}`: target {}  source {}  PAD {} -> {}",
            s.method,
            clock(Duration::from_secs_f64(s.seconds)),
            sel.epoch,
            s.select,
            pct(s.target_test_acc),
            pct(s.source_test_acc),
            opt(s.pad_before.map(|p| p.pad), 3),
            opt(s.pad_after.map(|p| p.pad), 3),
        );
        Ok(())
    }
}

/// Writes one JSON object per epoch (`"type": "epoch"`) and per run summary
/// (`"type": "summary"`) to a JSONL file, flushed after each line so it can be followed live.
pub struct JsonlWriter {
    path: PathBuf,
    file: File,
}

impl JsonlWriter {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(JsonlWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one object.
    pub fn write_value(&mut self, value: &serde_json::Value) -> Result<()> {
        let line = serde_json::to_string(value).expect("plain JSON");
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

impl Callback for JsonlWriter {
    fn on_epoch_end(&mut self, m: &EpochMetrics) -> Result<Control> {
        self.write_value(&serde_json::to_value(m).expect("plain JSON"))?;
        Ok(Control::Continue)
    }

    fn on_run_end(&mut self, s: &RunSummary) -> Result<()> {
        self.write_value(&serde_json::to_value(s).expect("plain JSON"))
    }
}
