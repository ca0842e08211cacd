//! TENT (Wang, Shelhamer, Liu, Olshausen & Darrell, *Tent: Fully Test-Time Adaptation by
//! Entropy Minimization*, ICLR 2021; defaults from the authors' `DequanWang/tent`, ImageNet
//! setting).
//!
//! Only the BatchNorm layers adapt: they normalise with the statistics of the target batch in
//! front of them, and their affine parameters γ/β are trained to make the predictions
//! confident; every other parameter is frozen (no gradient is computed for it):
//!
//! ```text
//! p_i = softmax(f_θ(x_i)),  BN with batch statistics, θ = {γ, β} of every BN
//! L   = mean_i H(p_i)                                   ops::info_max (diversity weight 0)
//! ```
//!
//! Shapes: logits [B, K]. Defaults: one pass over the target images (`--epochs 1`), batch 64,
//! SGD with momentum 0.9 at a constant lr 0.00025, no weight decay.
//!
//! Deviations: TENT drops the running statistics and always normalises with the batch's; a
//! dak model must also predict one image at a time, so the running statistics keep moving
//! (momentum 0.1) while the pass runs and end as the target's, which is what evaluation,
//! `predict` and `export` use afterwards. The reported accuracy is that of the adapted model
//! after the pass, not TENT's online accuracy on each batch before its update. Episodic
//! resets are a matter of starting again from the same `--init`.

use super::{LossWeights, SourceFreeDefaults, SourceFreeMethod};
use crate::autograd::{Tape, Var};
use crate::models::{Backbone, Dann};
use crate::{Error, Result, Tensor};

/// Learning rate of the authors' ImageNet runs (batch 64).
pub const LR: f32 = 0.00025;

pub(in crate::train::adapt) struct Tent;

impl SourceFreeMethod for Tent {
    fn name(&self) -> &'static str {
        "tent"
    }
    fn reference(&self) -> &'static str {
        "Wang et al., Tent: Fully Test-Time Adaptation by Entropy Minimization, ICLR 2021"
    }
    fn defaults(&self, _backbone: Backbone) -> SourceFreeDefaults {
        SourceFreeDefaults {
            epochs: 1,
            batch: 64,
            lr: LR,
            decay: false,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            backbone_lr_mult: 1.0,
            weights: LossWeights {
                im: 1.0,
                pseudo_label: 0.0,
            },
        }
    }
    fn prepare(&self, model: &mut Dann) -> Result<()> {
        let bns = model.bn_prefixes();
        if bns.is_empty() {
            return Err(Error::input(format!(
                "--method tent adapts BatchNorm layers, and the {} network has none; use --method shot, or a model on a ResNet backbone or trained with --recipe shot",
                model.backbone().name()
            )));
        }
        model.params.freeze("")?;
        for bn in &bns {
            model.params.unfreeze(bn)?;
        }
        Ok(())
    }
    fn pseudo_labels(&self) -> bool {
        false
    }
    fn losses(
        &self,
        tape: &mut Tape,
        logits: Var,
        _pseudo: Option<&Tensor>,
        w: &LossWeights,
    ) -> Result<Vec<Var>> {
        Ok(vec![tape.info_max(logits, w.im, 0.0)?])
    }
}
