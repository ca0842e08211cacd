//! A BatchNorm1d over features [B, n] (the bottlenecks of TLlib's and SHOT's recipes), its
//! parameters `<prefix>.weight`/`.bias` and running statistics `<prefix>.running_mean`/
//! `.running_var` in torchvision's names. BN follows the tape: batch statistics (moving the
//! running ones) on a tape that records gradients while γ trains; the running statistics
//! otherwise (evaluation, prediction, a frozen BN).

use crate::autograd::{BnStats, ParamId, Params, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// A BatchNorm1d, as parameter ids.
#[derive(Debug, Clone, Copy)]
pub struct Bn1d {
    gamma: ParamId,
    beta: ParamId,
    mean: ParamId,
    var: ParamId,
}

impl Bn1d {
    /// γ = 1, β = 0, running mean 0 and variance 1 (PyTorch's initialisation) for `n` features.
    pub fn new(gpu: &Gpu, params: &mut Params, prefix: &str, n: usize) -> Result<Bn1d> {
        // Four buffers: a cloned Tensor shares its buffer, and γ and the running variance
        // both start at 1 but move apart (the optimizer moves one, the batches the other).
        let ones = || Tensor::from_slice(gpu, &vec![1.0; n], &[n]);
        Ok(Bn1d {
            gamma: params.add(&format!("{prefix}.weight"), ones()?)?,
            beta: params.add(&format!("{prefix}.bias"), Tensor::zeros(gpu, &[n])?)?,
            mean: params
                .add_buffer(&format!("{prefix}.running_mean"), Tensor::zeros(gpu, &[n])?)?,
            var: params.add_buffer(&format!("{prefix}.running_var"), ones()?)?,
        })
    }

    /// `x` [B, n] normalised (then ReLU when `relu`).
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var, relu: bool) -> Result<Var> {
        let gamma = tape.param(params, self.gamma);
        let beta = tape.param(params, self.beta);
        let (mean, var) = (&params.get(self.mean).value, &params.get(self.var).value);
        let stats = if tape.records() && params.get(self.gamma).trainable {
            BnStats::Batch {
                running: Some((mean, var)),
            }
        } else {
            BnStats::Fixed { mean, var }
        };
        tape.batch_norm(x, gamma, beta, stats, relu)
    }
}
