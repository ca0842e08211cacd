//! [`Progress`]: a live bar with ETA on a terminal (stderr) and one plain line per epoch
//! (stdout) either way.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::train::{BatchLogs, Callback, Control, EpochLogs, History, RunInfo, TrainState};

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

/// `dak fine-tune`'s epoch line: losses, accuracies, learning rate, speed.
pub fn fit_epoch_line(m: &EpochLogs) -> String {
    let val = match (m.val_loss, m.val_acc) {
        (Some(l), Some(a)) => format!("  val loss {l:.4} acc {:.2}%", a * 100.0),
        _ => String::new(),
    };
    format!(
        "epoch {}/{}  loss {:.4} acc {:.2}%{val}  lr {:.2e}  {:.1} s ({:.0} img/s{})",
        m.epoch,
        m.epochs,
        m.train_loss,
        m.train_acc * 100.0,
        m.lr,
        m.seconds,
        m.images_per_s,
        if m.feature_cache {
            ", cached features"
        } else {
            ""
        }
    )
}

/// `dak adapt`'s epoch line: accuracies, domain accuracy, lambda, learning rate, losses, scores.
pub fn adapt_epoch_line(m: &EpochLogs) -> String {
    format!(
        "[{}] epoch {:>3}/{}  src {}  tgt {}  dom {}  λ {:.3}  lr {:.5}  loss y {:.4} d {} a {}  H {}  IM {}  SND {}  {:.1}s {:.0} img/s",
        m.method,
        m.epoch,
        m.epochs,
        pct(Some(m.train_acc)),
        pct(m.target_acc),
        pct(m.domain_acc),
        m.lambda.unwrap_or(0.0),
        m.lr,
        m.train_loss,
        opt(m.domain_loss, 4),
        opt(m.adapt_loss, 4),
        opt(m.entropy, 3),
        opt(m.im, 3),
        opt(m.snd, 3),
        m.seconds,
        m.images_per_s
    )
}

/// Prints progress: a live line with a bar and ETA on a terminal (stderr), one plain line per
/// epoch (stdout) either way, and a closing line for adaptation runs.
pub struct Progress {
    live: bool,
    last_draw: Option<Instant>,
    run: Option<RunInfo>,
}

impl Progress {
    /// Live progress when stderr is a terminal.
    pub fn new() -> Self {
        Self::with_live(std::io::stderr().is_terminal())
    }

    /// Live progress on or off.
    pub fn with_live(live: bool) -> Self {
        Progress {
            live,
            last_draw: None,
            run: None,
        }
    }

    fn clear(&self) {
        if self.live {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Callback for Progress {
    fn on_train_begin(&mut self, run: &RunInfo) -> Result<()> {
        match (run.first_epoch, run.first_step) {
            (0, 0) => {}
            (e, 0) => println!("resuming after epoch {e}"),
            (e, s) => println!(
                "resuming after epoch {e} and step {s} of {} of epoch {}",
                run.steps_per_epoch,
                e + 1
            ),
        }
        self.run = Some(run.clone());
        Ok(())
    }

    fn on_phase(&mut self, what: &str) {
        println!("{what}");
    }

    fn on_batch_end(&mut self, s: &BatchLogs) {
        if !self.live {
            return;
        }
        // Redraw at most five times a second, and always at the end of an epoch.
        if self
            .last_draw
            .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
            && s.step != s.steps_per_epoch
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let (method, first, first_step) = self.run.as_ref().map_or(("", 0, 0), |r| {
            (r.method.as_str(), r.first_epoch, r.first_step)
        });
        // Steps done and left in this call (a resumed run starts `first_step` steps after
        // `first` epochs).
        let done = ((s.epoch - 1).saturating_sub(first) * s.steps_per_epoch + s.step)
            .saturating_sub(first_step);
        let left = (s.epochs * s.steps_per_epoch)
            .saturating_sub((s.epoch - 1) * s.steps_per_epoch + s.step);
        // The first step (kernel compilation) is in `one_time`; the rate is that of the rest.
        let steady = s.elapsed.saturating_sub(s.one_time);
        let eta = match done > 1 {
            true => clock(steady.mul_f64(left as f64 / (done - 1) as f64)),
            false => "--".into(),
        };
        let width = 24;
        let filled = width * s.step.min(s.steps_per_epoch) / s.steps_per_epoch.max(1);
        eprint!(
            "\r\x1b[2K[{}] epoch {}/{} [{}{}] {}/{} steps  elapsed {}  ETA {}",
            method,
            s.epoch,
            s.epochs,
            "#".repeat(filled),
            "-".repeat(width - filled),
            s.step,
            s.steps_per_epoch,
            clock(s.elapsed),
            eta
        );
        let _ = std::io::stderr().flush();
    }

    fn on_epoch_end(&mut self, m: &EpochLogs, _: &TrainState) -> Result<Control> {
        self.clear();
        if m.is_adaptation() {
            println!("{}", adapt_epoch_line(m));
        } else {
            println!("{}", fit_epoch_line(m));
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, history: &History) -> Result<()> {
        self.clear();
        if let Some(s) = &history.summary {
            println!(
                "[{}] done in {}: selected epoch {} by `{}`: target {}  source {}  PAD {} -> {}",
                s.method,
                clock(Duration::from_secs_f64(s.seconds)),
                s.selected.epoch,
                s.select,
                pct(s.target_test_acc),
                pct(s.source_test_acc),
                opt(s.pad_before.map(|p| p.pad), 3),
                opt(s.pad_after.map(|p| p.pad), 3),
            );
        }
        Ok(())
    }
}
