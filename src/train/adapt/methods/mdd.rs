//! MDD: an adversary head disagrees with the label head on the target, agrees on the source.
//!
//! # Paper
//!
//! Zhang, Liu, Long & Jordan, *Bridging Theory and Algorithm for Domain Adaptation*, ICML 2019.
//! dak follows TLlib's `ClassificationMarginDisparityDiscrepancy` (`tllib/alignment/mdd.py`)
//! and its `mdd.py` example (`examples/domain_adaptation/image_classification/mdd.py`:
//! `--margin 4.`, `--trade-off 1.`, the reversal's warm start capped at 0.1).
//!
//! # Loss
//!
//! An adversary head `adversary` of the label head's shape (hidden sizes `label_hidden`,
//! `classes` outputs, no dropout) reads the features through gradient reversal. With `ŷ = argmax`
//! of the label head's logits (no gradient) and `z'` the adversary's logits:
//!
//! ```text
//! L_transfer = trade_off · (γ · CE(z'_s, ŷ_s) - mean_t log(min(1 - softmax(z'_t)[ŷ_t] + 1e-6, 1)))
//! ```
//!
//! added to the source cross-entropy (TLlib: `transfer_loss = -mdd(...)`), γ = 4 (the margin),
//! trade-off 1. Term by term, over all rows (source first):
//!
//! ```text
//! L_y = mean_s CE(z_s, y_s)            source rows        Tape::softmax_xent_smoothed (the step)
//! ŷ   = argmax_c z                     no gradient        ops::softmax_xent::argmax
//! f'  = GRL(f), coefficient 0.1·λ_p    GRL_MAX·λ_p        Tape::grad_reverse
//! z'  = adversary(f')                  dense layers       Dann::head_logits (Tape::dense)
//! L_s = 1 · γ · mean_s CE(z'_s, ŷ_s)   weights 1/0        Tape::softmax_xent / ops::softmax_xent
//! L_t = 1 · mean_t -log(min(1 - softmax(z'_t)[ŷ_t] + 1e-6, 1))
//!                                      weights 0/1    Tape::complement_xent / ops::complement_xent
//! L   = L_y + L_s + L_t                (L_transfer = L_s + L_t)
//! ```
//!
//! The adversary minimises L_transfer (agrees with the label head on the source, disagrees on
//! the target); the features, through the reversal, maximise it. The epoch's domain loss is
//! `L_transfer`; there is no domain classifier, so no domain accuracy is reported.
//!
//! # Shapes
//!
//! n = n_s + n_t rows (64 + 64): features f `[n, dim]`, label logits z and adversary logits z'
//! `[n, classes]`, ŷ `[n]` (u32), the source / target row weights `[n]`, L_s and L_t `[1]`.
//!
//! # Defaults
//!
//! [`MARGIN`] γ = 4 (TLlib `--margin 4.`); [`TRADE_OFF`] = 1 (TLlib `--trade-off 1.`);
//! [`GRL_MAX`] = 0.1 (TLlib's warm-start cap `hi = 0.1`), times the shared λ_p; the adversary
//! head [`ADVERSARY`] copies the label head's sizes.
//!
//! # Deviations
//!
//! TLlib's reversal coefficient is a warm start `0.1 · (2/(1 + e^{-i/1000}) - 1)` by iteration
//! i (0.046 after 1,000 iterations, 0.09 after 3,000); dak reverses with `0.1 · λ_p`,
//! λ_p = 2/(1 + e^{-10p}) - 1 the shared schedule by training progress p: the same shape,
//! capped at TLlib's 0.1, independent of the run's length. TLlib's heads are
//! bottleneck-1024-ReLU-Dropout(0.5)-classes on ResNet-50; dak's adversary copies dak's label
//! head (100-100-classes on digits, linear from the 256-d bottleneck on VGG16). The optimizer is
//! dak's shared one (SGD momentum 0.9, no weight decay, lr 0.01/(1 + 10p)^0.75 by progress p,
//! 64 + 64 rows) where TLlib's `mdd.py` uses Nesterov SGD, weight decay 5e-4,
//! lr 0.004·(1 + 0.0002·i)^-0.75 by iteration i and batches of 32.
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = load_mnist_mnistm()?;
//! let mut model = Dann::digits(&gpu, data.classes(), 0)?;
//! // `fit` adds the adversary head (saved with the model).
//! let config = AdaptConfig {
//!     method: Method::parse("mdd", "--method")?,
//!     ..Default::default()
//! };
//! let history = model.fit(&data, &config, &mut [])?;
//! println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
//! # Ok(()) }
//! ```

use super::{AdaptMethod, Counted, MethodLosses, StepContext};
use crate::autograd::{Lambda, Tape};
use crate::error::Result;
use crate::models::dann::DannConfig;
use crate::models::{HeadConfig, Model};
use crate::ops::softmax_xent;
use crate::tensor::Tensor;

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
