//! DAN (Long et al., *Learning Transferable Features with Deep Adaptation Networks*, ICML 2015),
//! as in TLlib's `dan.py`: the multi-kernel MMD between the source and the target rows'
//! features, five Gaussian kernels with bandwidths `α · μ`, α ∈ {2⁻³ … 2¹}, μ the batch's mean
//! squared distance (detached), trade-off 1, and TLlib's default linear-time estimator when
//! both domains have as many rows (the quadratic one otherwise, e.g. a short last batch). No
//! adversary and no extra head. Deviation: the paper adapts several layers (fc6-fc8 of AlexNet);
//! like TLlib, dak adapts the features the label head reads (the bottleneck on VGG16).

use super::{AdaptMethod, MethodLosses, StepContext};
use crate::autograd::Tape;
use crate::models::Model;
use crate::ops::mmd;
use crate::{Result, Tensor};

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
