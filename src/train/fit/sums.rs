//! What one epoch of fine-tuning measures: loss and accuracy sums kept on the GPU and read
//! once, on the training batches and on a validation set.

use super::{loader, FitOptions};
use crate::autograd::Tape;
use crate::data::{Dataset, Transform};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::{Classifier, Model};
use crate::ops::{elementwise as ew, softmax_xent, watch};
use crate::tensor::{DType, Tensor};
use crate::train::checkpoint::Partial;
use crate::train::interrupt::LOSS_LIMIT;

/// Per-sample weights of 1.
pub(super) fn ones(gpu: &Gpu, n: usize) -> Result<Tensor> {
    Tensor::from_slice(gpu, &vec![1.0; n], &[n])
}

/// Running sums of one epoch, kept on the GPU (read once per epoch).
pub(super) struct Sums {
    loss: Tensor,
    counts: Tensor,
    seen: usize,
    /// The first step (from 1) whose loss was unusable, kept on the GPU.
    first_bad: Tensor,
    steps: u32,
}

impl Sums {
    pub fn new(gpu: &Gpu) -> Result<Sums> {
        Ok(Sums {
            loss: Tensor::zeros(gpu, &[1])?,
            counts: Tensor::zeros_of(gpu, &[2], DType::U32)?,
            seen: 0,
            first_bad: watch::new_flag(gpu)?,
            steps: 0,
        })
    }
    pub fn add(
        &mut self,
        loss: &Tensor,
        logits: &Tensor,
        labels: &Tensor,
        weights: &Tensor,
        n: usize,
    ) -> Result<()> {
        ew::axpby(n as f32, loss, 1.0, &self.loss)?;
        self.steps += 1;
        watch::note(loss, LOSS_LIMIT as f32, self.steps, &self.first_bad)?;
        softmax_xent::argmax_correct(logits, labels, weights, &self.counts)?;
        self.seen += n;
        Ok(())
    }
    /// The epoch so far, `steps` steps in (one readback, at an interruption); the host's
    /// counts of images and steps come last.
    pub fn partial(&self, steps: usize) -> Result<Partial> {
        let sums = [&self.loss, &self.counts, &self.first_bad];
        Partial::of(steps, &sums, &[self.seen as u32, self.steps])
    }

    /// Continues the epoch an interrupted run saved.
    pub fn restore(&mut self, p: &Partial) -> Result<()> {
        let [seen, steps] = p.restore(&[&self.loss, &self.counts, &self.first_bad])?;
        self.seen = seen as usize;
        self.steps = steps;
        Ok(())
    }

    /// The first batch (counted from 1) whose loss was NaN, infinite or over the limit.
    pub fn first_bad(&self) -> Result<Option<u32>> {
        watch::read(&self.first_bad)
    }
    /// (mean loss, accuracy)
    pub fn read(&self) -> Result<(f32, f32)> {
        let loss = self.loss.to_vec()?[0] / self.seen.max(1) as f32;
        let c = self.counts.to_vec_u32()?;
        Ok((loss, c[0] as f32 / c[1].max(1) as f32))
    }
}

/// Mean loss and accuracy of `model` on a labelled dataset.
pub(super) fn evaluate_loss_acc(
    model: &Classifier,
    ds: &Dataset,
    t: &Transform,
    o: &FitOptions,
) -> Result<(f32, f32)> {
    let gpu = model.gpu();
    let mut sums = Sums::new(gpu)?;
    for batch in loader(ds, t, o, false)?.epoch(0) {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        let n = batch.len();
        let mut tape = Tape::no_grad();
        let x = tape.input(Tensor::from_slice(gpu, &batch.images, &batch.shape())?);
        let z = model.forward(&mut tape, x, false, 0)?;
        let (y, w) = (Tensor::from_u32(gpu, &batch.labels, &[n])?, ones(gpu, n)?);
        let loss = softmax_xent::forward(tape.tensor(z), &y, &w, 1.0)?;
        sums.add(&loss, tape.tensor(z), &y, &w, n)?;
        gpu.flush()?;
    }
    sums.read()
}
