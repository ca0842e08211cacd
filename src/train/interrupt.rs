//! Stopping a run on request (Ctrl-C / SIGTERM in the CLI): the training loops check a flag
//! after every step — a host-side load, no GPU work — and end the run with
//! [`Error::Interrupted`] after telling their callbacks, which write a resume checkpoint of
//! that step (`Checkpoints::on_interrupt`).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every running training loop of this process to stop after its current step.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested (and not yet cleared).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Clears a stop request (before a new run in the same process).
pub fn clear() {
    STOP.store(false, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to [`request_stop`]; a second signal ends the process at once
/// (exit code 130). Installing twice is harmless.
pub fn install_signal_handler() -> Result<()> {
    match ctrlc::set_handler(|| {
        if stop_requested() {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping after the current step (press Ctrl-C again to quit now)");
        request_stop();
    }) {
        Ok(()) | Err(ctrlc::Error::MultipleHandlers) => Ok(()),
        Err(e) => Err(Error::runtime(format!(
            "could not install the Ctrl-C handler: {e}"
        ))),
    }
}

/// The error a loop returns when it stops on request in `epoch` (counted from 1) after
/// `step` of `steps` steps.
pub(crate) fn interrupted(epoch: usize, step: usize, steps: usize) -> Error {
    Error::Interrupted(format!(
        "interrupted in epoch {epoch} after step {step} of {steps}"
    ))
}

/// A loss that is NaN, infinite or above this is taken as divergence.
pub const LOSS_LIMIT: f64 = 1e4;

/// Where a loss is checked: the epoch, the first bad step the GPU-side watch
/// ([`crate::ops::watch`]) recorded, the epoch's steps and learning rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BadLoss {
    pub epoch: usize,
    pub first_bad_step: Option<u32>,
    pub steps: usize,
    pub lr: f64,
}

/// `Err(Error::Diverged)` when an epoch's mean `loss` (named `which`) is not usable or a step
/// of it was. The watch flag and the sums are read once, at the end of the epoch.
pub(crate) fn check_loss(which: &str, loss: f64, at: &BadLoss) -> Result<()> {
    let mean_ok = loss.is_finite() && loss <= LOSS_LIMIT;
    if mean_ok && at.first_bad_step.is_none() {
        return Ok(());
    }
    let what = if !loss.is_finite() {
        format!("became {loss}")
    } else if !mean_ok {
        format!("exploded to {loss:.3e} (limit {LOSS_LIMIT:e})")
    } else {
        format!("went over {LOSS_LIMIT:e} (epoch mean {loss:.3e})")
    };
    let step = at
        .first_bad_step
        .map_or(String::new(), |s| format!(" at step {s} of {}", at.steps));
    Err(Error::Diverged(format!(
        "training diverged in epoch {}{step}: the {which} loss {what}; nothing of this epoch was saved; try a lower learning rate (--lr, this epoch used {:.3e})",
        at.epoch, at.lr
    )))
}

/// `Err(Error::Diverged)` when the network has collapsed: every one of `rows` (at least two)
/// scored images got the same logits (`spread`, [`crate::train::adapt::scores::CandidateScores::logit_spread`],
/// at most 1e-6), so the outputs no longer depend on the images — dead ReLUs after an
/// adversarial gradient blew up, in an epoch whose losses all stayed finite. Saturated
/// probabilities with differing logits (early BatchNorm statistics) are not a collapse.
pub(crate) fn check_collapse(spread: f64, rows: usize, at: &BadLoss, hint: &str) -> Result<()> {
    if rows < 2 || spread > COLLAPSE_SPREAD {
        return Ok(());
    }
    Err(Error::Diverged(format!(
        "training collapsed in epoch {}: all {rows} scored target images get the same logits, so the network no longer looks at its input; nothing of this epoch was saved; {hint} (this epoch used --lr {:.3e})",
        at.epoch, at.lr
    )))
}

/// Logits whose largest range across images is under this fraction of their size are one
/// output for every image.
const COLLAPSE_SPREAD: f64 = 1e-6;

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> BadLoss {
        BadLoss {
            epoch: 3,
            first_bad_step: None,
            steps: 10,
            lr: 0.01,
        }
    }

    #[test]
    fn identical_logits_are_a_collapse_and_varied_ones_are_not() {
        let err = check_collapse(0.0, 4, &at(), "lower it").unwrap_err();
        assert!(matches!(err, Error::Diverged(_)), "{err}");
        assert!(err.to_string().contains("epoch 3"), "{err}");
        assert!(err.to_string().contains("all 4 scored"), "{err}");
        assert!(check_collapse(1e-3, 4, &at(), "").is_ok());
        // One row (or none) says nothing.
        assert!(check_collapse(0.0, 1, &at(), "").is_ok());
        assert!(check_collapse(0.0, 0, &at(), "").is_ok());
    }
}
