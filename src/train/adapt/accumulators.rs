//! The epoch's GPU-side sums (losses, counts, the first bad step), which the step and the
//! methods add to and the epoch reads once at its end (or at an interruption, to resume).

use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::watch;
use crate::tensor::{DType, Tensor};
use crate::train::checkpoint::Partial;
use std::cell::Cell;

/// GPU-side sums of one epoch: read once at its end.
pub(crate) struct EpochAccumulators {
    pub(super) label_loss: Tensor,
    pub(super) domain_loss: Tensor,
    pub(super) source_counts: Tensor,
    pub(super) domain_counts: Tensor,
    pub(super) adapt_loss: Tensor,
    /// The first step (from 1) whose label loss / a method loss was unusable (GPU-side flags).
    pub(super) bad_label: Tensor,
    pub(super) bad_adapt: Tensor,
    pub(super) steps: Cell<u32>,
}

/// The epoch's means, read from the accumulators.
pub(crate) struct EpochMeans {
    pub label_loss: f64,
    pub source_acc: f64,
    /// Mean domain loss and domain accuracy (adversarial methods only).
    pub domain: Option<(f64, Option<f64>)>,
    /// Mean sum of the method's own losses (methods with target rows only).
    pub adapt_loss: Option<f64>,
    /// The first step whose label loss, or one of the method's losses, was NaN, infinite or
    /// over the limit.
    pub first_bad_label: Option<u32>,
    pub first_bad_adapt: Option<u32>,
}

impl EpochAccumulators {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(EpochAccumulators {
            label_loss: Tensor::zeros(gpu, &[1])?,
            domain_loss: Tensor::zeros(gpu, &[1])?,
            source_counts: Tensor::zeros_of(gpu, &[2], DType::U32)?,
            domain_counts: Tensor::zeros_of(gpu, &[2], DType::U32)?,
            adapt_loss: Tensor::zeros(gpu, &[1])?,
            bad_label: watch::new_flag(gpu)?,
            bad_adapt: watch::new_flag(gpu)?,
            steps: Cell::new(0),
        })
    }

    /// The GPU-side sums, in a fixed order (with the host's step count last).
    fn tensors(&self) -> [&Tensor; 7] {
        [
            &self.label_loss,
            &self.domain_loss,
            &self.source_counts,
            &self.domain_counts,
            &self.adapt_loss,
            &self.bad_label,
            &self.bad_adapt,
        ]
    }

    /// The epoch so far, `steps` steps in (one readback, at an interruption).
    pub fn partial(&self, steps: usize) -> Result<Partial> {
        Partial::of(steps, &self.tensors(), &[self.steps.get()])
    }

    /// Continues the epoch an interrupted run saved.
    pub fn restore(&self, p: &Partial) -> Result<()> {
        let [count] = p.restore(&self.tensors())?;
        self.steps.set(count);
        Ok(())
    }

    /// Means over `steps` steps; the domain part only when `adversarial`, the method's loss
    /// only when `adapts` (its steps hold target rows).
    pub fn read(&self, steps: usize, adversarial: bool, adapts: bool) -> Result<EpochMeans> {
        let steps = steps.max(1) as f64;
        let sc = self.source_counts.to_vec_u32()?;
        let domain = if adversarial {
            let dc = self.domain_counts.to_vec_u32()?;
            Some((
                self.domain_loss.to_vec()?[0] as f64 / steps,
                accuracy_of((dc[0], dc[1])),
            ))
        } else {
            None
        };
        Ok(EpochMeans {
            label_loss: self.label_loss.to_vec()?[0] as f64 / steps,
            source_acc: accuracy_of((sc[0], sc[1])).unwrap_or(0.0),
            domain,
            first_bad_label: watch::read(&self.bad_label)?,
            first_bad_adapt: match adapts {
                true => watch::read(&self.bad_adapt)?,
                false => None,
            },
            adapt_loss: match adapts {
                true => Some(self.adapt_loss.to_vec()?[0] as f64 / steps),
                false => None,
            },
        })
    }
}

/// `correct / total`, or `None` when nothing was counted.
pub(super) fn accuracy_of(c: (u32, u32)) -> Option<f64> {
    (c.1 > 0).then(|| c.0 as f64 / c.1 as f64)
}
