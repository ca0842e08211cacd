//! The batch-norm recorder: [`Tape::batch_norm`] (ops/batch_norm.rs does the work).

use super::{Op, Tape, Var};
use crate::error::Result;
use crate::ops::batch_norm as bn;
use crate::tensor::Tensor;

/// Which statistics a batch norm normalises with.
pub enum BnStats<'a> {
    /// Training mode: the batch's own statistics (the gradient flows through them); with
    /// `running`, its (mean, variance) move by [`bn::MOMENTUM`].
    Batch {
        /// The running statistics to update, if any.
        running: Option<(&'a Tensor, &'a Tensor)>,
    },
    /// Evaluation mode (or frozen statistics with trainable γ/β): these fixed ones.
    Fixed {
        /// Mean per channel.
        mean: &'a Tensor,
        /// Variance per channel.
        var: &'a Tensor,
    },
}

impl Tape {
    /// `y = γ·(x − μ)/√(σ² + ε) + β` per channel of `x` (`[N, C]` or `[N, C, H, W]`), then ReLU
    /// if `relu`; `gamma`/`beta` are `[C]` (parameters or constants).
    pub fn batch_norm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        stats: BnStats,
        relu: bool,
    ) -> Result<Var> {
        let xt = self.tensor(x).clone();
        let (mean, var, batch_stats) = match stats {
            BnStats::Batch { running } => {
                let s = bn::stats(&xt, running, bn::MOMENTUM)?;
                (s.mean, s.var, true)
            }
            BnStats::Fixed { mean, var } => (mean.clone(), var.clone(), false),
        };
        let y = bn::normalize(
            &xt,
            &mean,
            &var,
            self.tensor(gamma),
            self.tensor(beta),
            bn::EPS,
            relu,
        )?;
        let needed = [x, gamma, beta].iter().any(|&v| self.requires_grad(v));
        let op = || Op::BatchNorm {
            gamma,
            beta,
            mean,
            var,
            batch_stats,
            relu,
            saved_x: xt,
        };
        Ok(self.join(needed, x, y, op))
    }
}
