//! MDD (Zhang et al., *Bridging Theory and Algorithm for Domain Adaptation*, ICML 2019), as in
//! TLlib's `ClassificationMarginDisparityDiscrepancy` and its `mdd.py` example. An adversary
//! head `adversary` of the label head's shape (hidden sizes `label_hidden`, `classes` outputs,
//! no dropout) reads the features through gradient reversal. With `ŷ = argmax` of the label
//! head's logits (no gradient) and `z'` the adversary's logits:
//!
//! ```text
//! L_transfer = trade_off · (γ · CE(z'_s, ŷ_s) - mean_t log(min(1 - softmax(z'_t)[ŷ_t] + 1e-6, 1)))
//! ```
//!
//! added to the source cross-entropy (TLlib: `transfer_loss = -mdd(...)`), γ = 4 (the margin),
//! trade-off 1. The adversary minimises it (agrees with the label head on the source, disagrees
//! on the target); the features, through the reversal, maximise it. The epoch's domain loss is
//! `L_transfer`; there is no domain classifier, so no domain accuracy is reported.
//!
//! Deviations: TLlib's reversal coefficient is a warm start `0.1 · (2/(1 + e^{-i/1000}) - 1)`
//! by iteration i (0.046 after 1,000 iterations, 0.09 after 3,000); dak reverses with
//! `0.1 · λ_p`, λ_p = 2/(1 + e^{-10p}) - 1 the shared schedule by training progress p: the same
//! shape, capped at TLlib's 0.1, independent of the run's length. TLlib's heads are
//! bottleneck-1024-ReLU-Dropout(0.5)-classes on ResNet-50; dak's adversary copies dak's label
//! head (100-100-classes on digits, linear from the 256-d bottleneck on VGG16).

use super::{AdaptMethod, Counted, MethodLosses, StepContext};
use crate::autograd::{Lambda, Tape};
use crate::models::dann::DannConfig;
use crate::models::{HeadConfig, Model};
use crate::ops::softmax_xent;
use crate::{Result, Tensor};

/// The margin γ weighting the source disparity (TLlib `--margin 4.`).
pub const MARGIN: f32 = 4.0;
/// Weight of the transfer loss next to the source cross-entropy (TLlib `--trade-off 1.`).
pub const TRADE_OFF: f32 = 1.0;
/// The reversal coefficient's cap (TLlib's warm start `hi = 0.1`), times λ_p.
pub const GRL_MAX: f32 = 0.1;
/// The adversary head's name (its parameters are `adversary.fc1.weight`, ...).
pub const ADVERSARY: &str = "adversary";

pub(super) struct Mdd;

impl AdaptMethod for Mdd {
    fn name(&self) -> &'static str {
        "mdd"
    }
    fn reference(&self) -> &'static str {
        "Zhang et al., Bridging Theory and Algorithm for Domain Adaptation, ICML 2019"
    }
    fn needs_target(&self) -> bool {
        true
    }
    fn adversarial(&self) -> bool {
        true
    }
    fn heads(&self, feature_dim: usize, config: &DannConfig) -> Vec<HeadConfig> {
        vec![HeadConfig {
            name: ADVERSARY.to_string(),
            input: feature_dim,
            hidden: config.label_hidden.clone(),
            outputs: config.classes,
            dropout: 0.0,
        }]
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        let gpu = c.model.gpu();
        let n = c.n_source + c.n_target;
        // Pseudo-labels: the label head's argmax on every row, on the GPU, no gradient.
        let pred = softmax_xent::argmax(tape.tensor(c.logits))?;
        let mut source = vec![1.0f32; c.n_source];
        source.resize(n, 0.0);
        let target: Vec<f32> = source.iter().map(|w| 1.0 - w).collect();
        let source = Tensor::from_slice(gpu, &source, &[n])?;
        let target = Tensor::from_slice(gpu, &target, &[n])?;
        // λ is set for this step before its forward; the backward of the same step reads it.
        let lambda = Lambda::new(GRL_MAX * c.lambda.get());
        let reversed = tape.grad_reverse(c.features, &lambda);
        let z = c
            .model
            .head_logits(tape, ADVERSARY, reversed, Some(c.train_seed))?;
        let disparity_s = tape.softmax_xent(z, &pred, &source, TRADE_OFF * MARGIN)?;
        let disparity_t = tape.complement_xent(z, &pred, &target, TRADE_OFF)?;
        Ok(MethodLosses {
            roots: vec![disparity_s, disparity_t],
            counted: vec![
                Counted::DomainLoss(disparity_s),
                Counted::DomainLoss(disparity_t),
            ],
        })
    }
}
