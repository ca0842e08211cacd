//! DAN: the multi-kernel MMD between the source and the target rows' features.
//!
//! # Paper
//!
//! Long, Cao, Wang & Jordan, *Learning Transferable Features with Deep Adaptation Networks*,
//! ICML 2015. dak follows TLlib's `MultipleKernelMaximumMeanDiscrepancy`
//! (`tllib/alignment/dan.py`) and its `examples/domain_adaptation/image_classification/dan.py`:
//! Gaussian kernels `2^k`, k = -3..1, the linear-time estimator, `--trade-off 1.`.
//!
//! # Loss
//!
//! The multi-kernel MMD between the source and the target rows' features, five Gaussian
//! kernels with bandwidths `α · μ`, α ∈ {2⁻³ … 2¹}, μ the batch's mean squared distance
//! (detached), trade-off 1, and TLlib's default linear-time estimator when both domains have
//! as many rows (the quadratic one otherwise, e.g. a short last batch). No adversary and no
//! extra head. Rows are source first:
//!
//! ```text
//! L_y = mean_s CE(z_s, y_s)            source rows        Tape::softmax_xent_smoothed (the step)
//! D   = ‖f_i - f_j‖² for all row pairs Gram matrix        Tape::sq_distances / ops::mmd
//! μ   = mean(D)                        detached           ops::mmd::loss
//! M   = linear index (n_s = n_t)       constant           ops::mmd::linear_index
//! M   = quadratic index (otherwise)    constant           ops::mmd::quadratic_index
//! L_m = 1 · Σ_ij M_ij Σ_k exp(-D_ij / (2·α_k·μ))          Tape::mk_mmd / ops::mmd::loss
//! L   = L_y + L_m
//! ```
//!
//! The epoch reports L_m as the adaptation loss; there is no domain loss or domain accuracy.
//!
//! # Shapes
//!
//! n = n_s + n_t rows (64 + 64): features f `[n, dim]` (768 on the digits network, the 256-d
//! bottleneck on VGG16), D and M `[n, n]`, L_m `[1]`.
//!
//! # Defaults
//!
//! [`ALPHAS`] = 2⁻³, 2⁻², 2⁻¹, 1, 2 (TLlib's kernel multipliers `2^k`, k = -3..1);
//! [`TRADE_OFF`] = 1 (TLlib `--trade-off 1.`); the linear-time estimator whenever
//! n_s = n_t (TLlib's default, `--non-linear` off).
//!
//! # Deviations
//!
//! The paper adapts several layers (fc6-fc8 of AlexNet); like TLlib, dak adapts the features
//! the label head reads (the bottleneck on VGG16). TLlib adds the constant `2 / (b - 1)` to the
//! loss; a constant changes no gradient, so it is left out. The optimizer is dak's shared one
//! (SGD momentum 0.9, no weight decay, lr 0.01/(1 + 10p)^0.75 by progress p, 64 + 64 rows)
//! where TLlib's `dan.py` uses Nesterov SGD, weight decay 5e-4, lr 0.003·(1 + 0.0003·i)^-0.75
//! by iteration i and batches of 32.
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
//!     method: Method::parse("dan", "--method")?,
//!     ..Default::default()
//! };
//! let history = model.fit(&data, &config, &mut [])?;
//! println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
//! # Ok(()) }
//! ```

use super::{AdaptMethod, MethodLosses, StepContext};
use crate::autograd::Tape;
use crate::error::Result;
use crate::models::Model;
use crate::ops::mmd;
use crate::tensor::Tensor;

/// TLlib's kernel multipliers `2^k`, k = -3..1.
pub const ALPHAS: [f32; 5] = [0.125, 0.25, 0.5, 1.0, 2.0];
/// Weight of the MMD next to the source cross-entropy (TLlib `--trade-off 1.`).
pub const TRADE_OFF: f32 = 1.0;

pub(super) struct Dan;

impl AdaptMethod for Dan {
    fn name(&self) -> &'static str {
        "dan"
    }
    fn reference(&self) -> &'static str {
        "Long et al., Learning Transferable Features with Deep Adaptation Networks, ICML 2015"
    }
    fn needs_target(&self) -> bool {
        true
    }
    fn adversarial(&self) -> bool {
        false
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        let index = match c.n_source == c.n_target {
            true => mmd::linear_index(c.n_source)?,
            false => mmd::quadratic_index(c.n_source, c.n_target)?,
        };
        let n = c.n_source + c.n_target;
        let index = Tensor::from_slice(c.model.gpu(), &index, &[n, n])?;
        let d = tape.sq_distances(c.features)?;
        Ok(MethodLosses::roots(vec![
            tape.mk_mmd(d, &index, &ALPHAS, TRADE_OFF)?
        ]))
    }
}
