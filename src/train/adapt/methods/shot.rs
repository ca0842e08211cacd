//! SHOT: the source model's classifier head stays fixed; the features learn to suit it.
//!
//! # Paper
//!
//! Liang, Hu & Feng, *Do We Really Need to Access the Source Data? Source Hypothesis Transfer
//! for Unsupervised Domain Adaptation*, ICML 2020; defaults from the authors'
//! `tim-learn/SHOT`, `uda_digit.py` and `image_target.py`.
//!
//! # Loss
//!
//! The source model's classifier head is the *hypothesis* and stays frozen; the feature
//! extractor (and its bottleneck) learns, from unlabelled target images alone, to produce
//! features the hypothesis reads confidently and diversely, with self-supervised labels:
//!
//! ```text
//! p_i   = softmax(h(g(x_i)))        g trains, h frozen      [B, K], inside ops::info_max
//! L_ent = mean_i H(p_i)             confident per image     Tape::info_max / ops::info_max
//! L_div = H(mean_i p_i)             diverse over the batch  Tape::info_max / ops::info_max
//! L_pl  = mean_i CE(p_i, ŷ_i)       pseudo-labels ŷ         Tape::softmax_xent / ops::softmax_xent
//! L     = ent_par · (L_ent − L_div) + β · L_pl
//! ```
//!
//! L_ent and L_div are one op (`ent_par · L_ent − ent_par · L_div`, one loss root); L_pl is a
//! second root, present when β > 0 ([`shot_losses`]).
//!
//! The pseudo-labels ŷ are made at the start of every epoch from the whole target set in
//! evaluation mode: features f = g(x) get a 1 appended and unit length, class centroids are the
//! probability-weighted means of them, each image takes its nearest centroid in cosine
//! distance; a second round from those labels (`ops::centroids`, on the GPU).
//!
//! # Shapes
//!
//! Features `[B, d]` (d = the bottleneck, 256, or the digits network's 768), logits `[B, K]`,
//! pseudo-labels ŷ `[B]` (u32) with row weights `[B]` of 1, each loss `[1]`. The clustering, per
//! evaluation batch of R images: unit rows `[R, d + 1]`, probabilities `[R, K]`, centroids
//! `[K, d + 1]`, similarities `[R, K]`.
//!
//! # Defaults
//!
//! [`BETA`] β = 0.3 (`cls_par`), [`IM_WEIGHT`] ent_par = 1, SGD (momentum 0.9, Nesterov,
//! weight decay 1e-3, which the authors' learning-rate scheduler sets before every step),
//! lr 0.01 decayed as lr·(1 + 10p)^-0.75, batch 64; 15 epochs for photo backbones with the
//! base at a tenth of the rate (`image_target.py`), 30 epochs for digits at the full rate
//! (`uda_digit.py`). Two clustering rounds per epoch.
//!
//! # Deviations
//!
//! The authors' digits script clusters over every class in its first round; dak drops classes
//! that no image is predicted as in every round, as their image script does (a class without
//! images has no centroid). The frozen hypothesis is a dak model's whole label head: one linear
//! layer for a `--recipe shot` source model (SHOT's), three dense layers for the paper's digits
//! network. `--recipe shot` reproduces SHOT's bottleneck (Linear + BatchNorm1d, then on the
//! digits network dropout 0.5 in training, as the authors' `digit/network.py`; their photo
//! network defines the dropout and never applies it), weight-normalised head and label
//! smoothing.
//!
//! Limit: L_div pushes the batch's mean prediction towards uniform, so under label shift (a
//! target whose classes are far from equally frequent) SHOT moves correct answers to rare
//! classes: on the selection suite's `mnist-to-mnist-labelshift` -21 to -26 points on three
//! seeds (PyTorch's SHOT alike), and `--select safe` kept one of the three (docs/source_free.md).
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! // A model trained on the source (e.g. `--method source-only --recipe shot`); no source
//! // image is read from here on.
//! let mut model = Dann::load(&gpu, "source-only.safetensors")?;
//! let data = TargetData { target: Dataset::from_dir("photos/webcam")?, target_eval: None };
//! let config = SourceFreeConfig::new(SourceFree::parse("shot", "--method")?, model.backbone());
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

/// Weight of the pseudo-label cross-entropy (`cls_par`; the authors' digits and Office runs).
pub const BETA: f32 = 0.3;
/// Weight of the information-maximisation loss (`ent_par`).
pub const IM_WEIGHT: f32 = 1.0;

pub(in crate::train::adapt) struct Shot;

impl SourceFreeMethod for Shot {
    fn name(&self) -> &'static str {
        "shot"
    }
    fn reference(&self) -> &'static str {
        "Liang et al., Do We Really Need to Access the Source Data? Source Hypothesis Transfer for Unsupervised Domain Adaptation, ICML 2020"
    }
    fn defaults(&self, backbone: Backbone) -> SourceFreeDefaults {
        let digits = backbone == Backbone::Digits;
        SourceFreeDefaults {
            epochs: if digits { 30 } else { 15 },
            batch: 64,
            lr: 0.01,
            decay: true,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-3,
            backbone_lr_mult: if digits { 1.0 } else { 0.1 },
            weights: LossWeights {
                im: IM_WEIGHT,
                pseudo_label: BETA,
            },
        }
    }
    fn prepare(&self, model: &mut Dann) -> Result<()> {
        // The hypothesis (label head) is fixed; nothing but the features trains. The domain
        // head and any method head are never used here: frozen, no work spent on them.
        model.params.unfreeze("")?;
        model.params.freeze("label")?;
        model.params.freeze("domain")?;
        let heads: Vec<String> = model.config.heads.iter().map(|h| h.name.clone()).collect();
        for h in heads {
            model.params.freeze(&h)?;
        }
        Ok(())
    }
    fn pseudo_labels(&self) -> bool {
        true
    }
    fn balances_classes(&self) -> bool {
        // The information-maximisation loss's −H(mean p).
        true
    }
    fn losses(
        &self,
        tape: &mut Tape,
        logits: Var,
        pseudo: Option<&Tensor>,
        w: &LossWeights,
    ) -> Result<Vec<Var>> {
        shot_losses(tape, logits, pseudo, w.im, w.pseudo_label)
    }
}

/// SHOT's loss roots on class logits [rows, classes]: `im_weight · (mean H(p) − H(mean p))`
/// and, with pseudo-labels and `beta` > 0, `beta · CE(logits, pseudo)`.
pub fn shot_losses(
    tape: &mut Tape,
    logits: Var,
    pseudo: Option<&Tensor>,
    im_weight: f32,
    beta: f32,
) -> Result<Vec<Var>> {
    let mut roots = vec![tape.info_max(logits, im_weight, im_weight)?];
    if beta > 0.0 {
        let labels = pseudo.ok_or_else(|| Error::runtime("SHOT's step needs pseudo-labels"))?;
        let rows = labels.numel();
        let ones = Tensor::from_slice(labels.gpu(), &vec![1.0; rows], &[rows])?;
        roots.push(tape.softmax_xent(logits, labels, &ones, beta)?);
    }
    Ok(roots)
}
