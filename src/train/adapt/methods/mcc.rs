//! MCC: minimum class confusion of the target rows' predictions.
//!
//! # Paper
//!
//! Jin, Wang, Long & Wang, *Minimum Class Confusion for Versatile Domain Adaptation*, ECCV
//! 2020. dak follows TLlib's `MinimumClassConfusionLoss` (`tllib/self_training/mcc.py`) and its
//! `examples/domain_adaptation/image_classification/mcc.py` (`--temperature 2.5`,
//! `--trade-off 1.`).
//!
//! # Loss
//!
//! On the target rows' predictions at temperature T = 2.5, per-sample weights 1 + e^{-H}
//! (detached) normalised to sum B, the class-confusion matrix C = (P·w)ᵀ·P with rows
//! normalised to sum 1, loss (ΣC - trace C) / classes, added to the source cross-entropy with
//! trade-off 1 (TLlib's default). No adversary, no extra head. Rows are source first, so the
//! target rows are n_s..n_s + n_t:
//!
//! ```text
//! L_y = mean_s CE(z_s, y_s)            source rows        Tape::softmax_xent_smoothed (the step)
//! z_t = rows n_s..n_s + n_t of z       target rows        Tape::rows
//! P   = softmax(z_t / T)               T = 2.5            Tape::softmax_t / ops::prob::softmax_t
//! H   = -Σ_c P·ln(P + 1e-5)            of a detached P    Tape::detach, Tape::entropy / ops::prob
//! w   = B·(1 + e^{-H}) / Σ(1 + e^{-H}) constants, sum B   ops::prob::entropy_weights
//! C   = (P·w)ᵀ·P                       [K, K]             Tape::confusion / ops::confusion::matrix
//! L_c = 1 · (ΣC̃ - trace C̃) / K         C̃: rows sum to 1   Tape::confusion_loss / ops::confusion
//! L   = L_y + L_c
//! ```
//!
//! The epoch reports L_c as the adaptation loss; there is no domain loss or domain accuracy.
//! [`mcc_loss`] is the same loss on any rows of any logits (`combined.rs` adds it to DANN and
//! CDAN+E).
//!
//! # Shapes
//!
//! Class logits z `[n_s + n_t, K]` (64 + 64 rows, K classes); z_t, P `[B, K]` with B = n_t; H and w
//! `[B]`; C `[K, K]`; L_c `[1]`.
//!
//! # Defaults
//!
//! [`TEMPERATURE`] = 2.5 (the paper's and TLlib's, for Office-31 and digits alike);
//! [`TRADE_OFF`] = 1 (TLlib `--trade-off 1.`); the entropy's 1e-5 is TLlib's.
//!
//! # Deviations
//!
//! TLlib divides C by its row sums with broadcasting, which normalises columns; C is
//! symmetric, so the loss and its gradient equal the paper's row normalisation
//! (`docs/methods.md`). The optimizer is dak's shared one (SGD momentum 0.9, no weight decay,
//! lr 0.01/(1 + 10p)^0.75 by progress p, 64 + 64 rows) where TLlib's `mcc.py` uses Nesterov
//! SGD, weight decay 1e-3, lr 0.005·(1 + 0.001·i)^-0.75 by iteration i and batches of 36.
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = load_mnist_mnistm()?;
//! let mut model = Dann::digits(&gpu, data.classes(), 0)?;
//! let config = AdaptConfig {
//!     method: Method::parse("mcc", "--method")?,
//!     ..Default::default()
//! };
//! let history = model.fit(&data, &config, &mut [])?;
//! println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
//! # Ok(()) }
//! ```

use super::{AdaptMethod, MethodLosses, StepContext};
use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::ops::prob;

/// Softmax temperature of the paper and TLlib (2.5 for Office-31 and digits alike).
pub const TEMPERATURE: f32 = 2.5;
/// Weight of the MCC loss next to the source cross-entropy (TLlib `--trade-off 1.`).
pub const TRADE_OFF: f32 = 1.0;

pub(super) struct Mcc;

impl AdaptMethod for Mcc {
    fn name(&self) -> &'static str {
        "mcc"
    }
    fn reference(&self) -> &'static str {
        "Jin et al., Minimum Class Confusion for Versatile Domain Adaptation, ECCV 2020"
    }
    fn needs_target(&self) -> bool {
        true
    }
    fn adversarial(&self) -> bool {
        false
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        Ok(MethodLosses::roots(vec![mcc_loss(
            tape, c.logits, c.n_source, c.n_target,
        )?]))
    }
}

/// The MCC loss of rows `start..start + count` of `logits`, times [`TRADE_OFF`].
pub fn mcc_loss(tape: &mut Tape, logits: Var, start: usize, count: usize) -> Result<Var> {
    let zt = tape.rows(logits, start, count)?;
    let p = tape.softmax_t(zt, TEMPERATURE)?;
    // The weights are constants: the entropy is taken of a detached copy.
    let pd = tape.detach(p);
    let h = tape.entropy(pd)?;
    let w = prob::entropy_weights(tape.tensor(h))?;
    let conf = tape.confusion(p, &w)?;
    tape.confusion_loss(conf, TRADE_OFF)
}
