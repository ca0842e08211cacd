//! TENT: test-time adaptation of the BatchNorm layers by entropy minimisation.
//!
//! # Paper
//!
//! Wang, Shelhamer, Liu, Olshausen & Darrell, *Tent: Fully Test-Time Adaptation by Entropy
//! Minimization*, ICLR 2021; defaults from the authors' `DequanWang/tent`, ImageNet setting.
//!
//! # Loss
//!
//! Only the BatchNorm layers adapt: they normalise with the statistics of the target batch in
//! front of them, and their affine parameters γ/β are trained to make the predictions
//! confident; every other parameter is frozen (no gradient is computed for it):
//!
//! ```text
//! p_i = softmax(f_θ(x_i)),  BN with batch statistics, θ = {γ, β} of every BN   Tape::batch_norm
//! L   = mean_i H(p_i)                        Tape::info_max / ops::info_max (diversity weight 0)
//! ```
//!
//! # Shapes
//!
//! Images `[B, 3, S, S]`, logits `[B, K]`, L `[1]`; the trained parameters are every BN's γ and β
//! `[channels]` (`Dann::bn_prefixes`).
//!
//! # Defaults
//!
//! One pass over the target images (`--epochs 1`), batch 64, SGD with momentum 0.9 at a
//! constant lr 0.00025 ([`LR`]), no weight decay, no Nesterov; entropy weight 1.
//!
//! # Deviations
//!
//! TENT drops the running statistics and always normalises with the batch's; a dak model must
//! also predict one image at a time, so the running statistics keep moving (momentum 0.1)
//! while the pass runs and end as the target's, which is what evaluation, `predict` and
//! `export` use afterwards. The reported accuracy is that of the adapted model after the pass,
//! not TENT's online accuracy on each batch before its update. Episodic resets are a matter of
//! starting again from the same `--init`.
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! // A model with BatchNorm layers: a ResNet backbone, or trained with `--recipe shot`.
//! let mut model = Dann::load(&gpu, "resnet50-amazon.safetensors")?;
//! let data = TargetData { target: Dataset::from_dir("photos/webcam")?, target_eval: None };
//! let config = SourceFreeConfig::new(SourceFree::parse("tent", "--method")?, model.backbone());
//! let history = model.adapt_source_free(&data, &config, &mut [])?;
//! println!("{} epochs (epoch 0 is the model as loaded)", history.len());
//! model.save("adapted.safetensors")?;
//! # Ok(()) }
//! ```

use super::{LossWeights, SourceFreeDefaults, SourceFreeMethod};
use crate::autograd::{Tape, Var};
use crate::error::{Error, Result};
use crate::models::{Backbone, Dann};
use crate::tensor::Tensor;

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
    fn balances_classes(&self) -> bool {
        // Entropy alone. (Measured on MNIST -> MNIST-M: one TENT pass gained 8-12 points while
        // the pixel-neighbour kappa fell, the neighbourhoods there following the background
        // photos a better model learns to ignore; the check is for SHOT's diversity term.)
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
