//! One adaptation optimizer step (the source label loss plus the method's losses) and
//! parameter snapshots for label-free model selection.

pub(crate) use super::accumulators::EpochAccumulators;
use super::methods::{Counted, Method, MethodState, StepContext};
use crate::autograd::{Lambda, Tape, Var};
use crate::error::{Error, Result};
use crate::models::{Dann, Model};
use crate::ops::{bce, elementwise as ew, softmax_xent, watch};
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use crate::train::interrupt::LOSS_LIMIT;

/// What every loss of one adaptation step reads: the model, the method and its heads' state,
/// the gradient-reversal coefficient and the step's dropout seed.
pub(crate) struct StepSetup<'a> {
    pub model: &'a Dann,
    pub method: Method,
    pub state: &'a MethodState,
    /// The gradient-reversal coefficient of adversarial methods (read at backward time).
    pub lambda: &'a Lambda,
    /// New every step: draws the domain head's dropout masks.
    pub train_seed: u32,
}

/// One step's images: `n_source` labelled source rows first, then `n_target` target rows.
pub(crate) struct StepBatch<'a> {
    pub images: &'a [f32],
    pub n_source: usize,
    pub n_target: usize,
    pub source_labels: &'a [u32],
}

/// One training step: label loss on the source rows, plus the method's losses when there are
/// target rows; sums and counts go to `acc`.
pub(crate) fn step(
    setup: &StepSetup,
    opt: &mut Optimizer,
    acc: &EpochAccumulators,
    b: &StepBatch,
    lr: f32,
) -> Result<()> {
    let model = setup.model;
    let gpu = model.gpu();
    let side = model.config.input_size();
    let (n_source, n) = (b.n_source, b.n_source + b.n_target);
    let x = Tensor::from_slice(gpu, b.images, &[n, 3, side, side])?;
    let mut labels = b.source_labels.to_vec();
    labels.resize(n, 0);

    let mut tape = Tape::new();
    let xv = tape.input(x);
    let f = model.training_features(&mut tape, xv, setup.train_seed)?;
    let roots = step_losses(&mut tape, setup, acc, f, &labels, n_source)?;
    let grads = tape.backward(&roots)?;
    opt.step(&model.params, &grads, lr)?;
    // One submit per step; wait so that progress and timing are honest.
    gpu.sync()
}

/// The losses of one step on features `f` (source rows first): the label loss of the first
/// `n_source` rows (`labels` has one entry per row; the target rows' are ignored), plus the
/// method's losses when there are target rows. Counts and sums go to `acc`.
fn step_losses(
    tape: &mut Tape,
    setup: &StepSetup,
    acc: &EpochAccumulators,
    f: Var,
    labels: &[u32],
    n_source: usize,
) -> Result<Vec<Var>> {
    let StepSetup {
        model,
        method,
        state,
        lambda,
        train_seed,
    } = *setup;
    let gpu = model.gpu();
    let n = labels.len();
    let mut weights = vec![1.0f32; n_source];
    weights.resize(n, 0.0);
    let labels = Tensor::from_u32(gpu, labels, &[n])?;
    let weights = Tensor::from_slice(gpu, &weights, &[n])?;
    let z = model.label_logits(tape, f)?;
    let smoothing = model.config.label_smoothing;
    let label_loss = tape.softmax_xent_smoothed(z, &labels, &weights, 1.0, smoothing)?;
    softmax_xent::argmax_correct(tape.tensor(z), &labels, &weights, &acc.source_counts)?;
    ew::accumulate(&acc.label_loss, tape.tensor(label_loss))?;
    let step_no = acc.steps.get() + 1;
    acc.steps.set(step_no);
    let limit = LOSS_LIMIT as f32;
    watch::note(tape.tensor(label_loss), limit, step_no, &acc.bad_label)?;
    let mut roots = vec![label_loss];
    if n > n_source {
        let ctx = StepContext {
            model,
            features: f,
            logits: z,
            n_source,
            n_target: n - n_source,
            lambda,
            train_seed,
            state,
        };
        let losses = method.get().losses(tape, &ctx)?;
        for counted in &losses.counted {
            match counted {
                Counted::DomainLoss(l) => ew::accumulate(&acc.domain_loss, tape.tensor(*l))?,
                Counted::DomainAccuracy { logits, domains } => {
                    bce::binary_correct(tape.tensor(*logits), domains, &acc.domain_counts)?
                }
            }
        }
        for &l in &losses.roots {
            ew::accumulate(&acc.adapt_loss, tape.tensor(l))?;
            watch::note(tape.tensor(l), limit, step_no, &acc.bad_adapt)?;
        }
        roots.extend(losses.roots);
    }
    Ok(roots)
}

/// What one step's backward gives when `features` [rows, dim] (source rows first) stand in for
/// the feature extractor's output: the gradient of every parameter it reaches, by name, and
/// of the features (after any gradient reversal). `labels` holds the source rows' labels.
/// Checks a method's losses against a reference (`tests/it/train/adapt/methods/`); nothing is updated.
pub fn gradients_from_features(
    model: &Dann,
    method: Method,
    state: &MethodState,
    features: &Tensor,
    labels: &[u32],
    lambda: f32,
    train_seed: u32,
) -> Result<(Vec<(String, Tensor)>, Tensor)> {
    let rows = features.shape().first().copied().unwrap_or(0);
    let n_source = labels.len();
    if n_source == 0 || n_source > rows {
        return Err(Error::input(format!(
            "{n_source} source labels for {rows} feature rows"
        )));
    }
    let mut all = labels.to_vec();
    all.resize(rows, 0);
    let acc = EpochAccumulators::new(model.gpu())?;
    let mut tape = Tape::new();
    let f = tape.input_with_grad(features.clone());
    let lambda = Lambda::new(lambda);
    let setup = StepSetup {
        model,
        method,
        state,
        lambda: &lambda,
        train_seed,
    };
    let roots = step_losses(&mut tape, &setup, &acc, f, &all, n_source)?;
    let (grads, df) = tape.backward_to(&roots, &[f])?;
    let named = grads
        .into_iter()
        .map(|(id, g)| (model.params.get(id).name.clone(), g))
        .collect();
    let df = df.into_iter().next().flatten();
    let df = match df {
        Some(d) => d,
        None => Tensor::zeros(model.gpu(), features.shape())?,
    };
    Ok((named, df))
}

/// Copies of every parameter (GPU-side, in stream order).
pub(super) fn snapshot(model: &Dann) -> Result<Vec<Tensor>> {
    model
        .params
        .iter()
        .map(|(_, p)| p.value.deep_clone())
        .collect()
}

/// Writes a snapshot back into the parameters.
pub(super) fn restore(model: &Dann, saved: &[Tensor]) -> Result<()> {
    for ((_, p), s) in model.params.iter().zip(saved) {
        let bytes = p.value.numel() as u64 * 4;
        p.value
            .gpu()
            .copy(s.buffer(), 0, p.value.buffer(), 0, bytes)?;
    }
    Ok(())
}
