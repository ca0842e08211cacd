//! CDAN and CDAN+E: a domain head conditioned on the predictions, through the multilinear map
//! of the features and the class probabilities.
//!
//! # Paper
//!
//! Long, Cao, Wang & Jordan, *Conditional Adversarial Domain Adaptation*, NeurIPS 2018. dak
//! follows TLlib's `ConditionalDomainAdversarialLoss` (`tllib/alignment/cdan.py`) and its
//! `examples/domain_adaptation/image_classification/cdan.py` (`--trade-off 1.`,
//! `--randomized-dim 1024`); the rule that picks the randomized map is the paper's.
//!
//! # Loss
//!
//! The domain head (`conditional`) sees the multilinear map of the features f (behind gradient
//! reversal, coefficient λ from the schedule) and the detached softmax predictions g (T = 1) of
//! every row — the flattened outer product g ⊗ f when classes·dim ≤ 4096, else the randomized
//! map (f·R_f) ⊙ (g·R_g) / √d with fixed Gaussian R_f, R_g and d = 1024 (the paper's rule).
//! Binary cross-entropy with logits (0 source, 1 target), mean over all rows, trade-off 1.
//! CDAN+E weighs each row's loss by 1 + e^{-H(g)} (detached), normalised to mean 1 over the
//! batch. Rows are source first; d_i is row i's domain:
//!
//! ```text
//! L_y = mean_s CE(z_s, y_s)            source rows        Tape::softmax_xent_smoothed (the step)
//! g   = softmax(z), T = 1              detached           ops::prob::softmax_t
//! f'  = GRL_λ(f)                       λ_p, as DANN       Tape::grad_reverse
//! h   = g ⊗ f'                         classes·dim ≤ 4096 Tape::outer_const / ops::outer
//! fR  = f'·R_f                         otherwise          Tape::dense (R_f a constant weight)
//! gR  = g·R_g / √d                     otherwise          ops::matmul::gemm, elementwise::scale
//! h   = fR ⊙ gR                        otherwise          Tape::mul_const / ops::mul_const
//! z_d = conditional head(h)            dense layers       Dann::head_logits (Tape::dense)
//! L_d = 1 · mean_i BCE(z_d,i, d_i)     cdan               Tape::bce / ops::bce
//! L_d = 1 · Σ_i w_i·BCE(z_d,i, d_i)/n  cdan-e             Tape::bce_weighted / ops::bce
//! e_i = 1 + e^{-H(g_i)}                detached           ops::prob::entropy
//! w_i = n·e_i / Σ_j e_j                mean 1             ops::prob::entropy_weights
//! L   = L_y + L_d
//! ```
//!
//! The epoch reports L_d as the domain loss and the conditional head's domain accuracy.
//!
//! # Shapes
//!
//! n = n_s + n_t rows (64 + 64): f `[n, dim]`, z and g `[n, classes]`; h `[n, classes·dim]` when
//! classes·dim ≤ [`MAP_LIMIT`], else `[n, 1024]` ([`RANDOM_DIM`]) from the state's R_fᵀ `[d, dim]`
//! ([`RF`], a dense layer's weight layout) and R_g `[classes, d]` ([`RG`]); z_d and d `[n, 1]`, w
//! `[n]`; L_d `[1]`. The digits network (768 × 10) and VGG16 on Office-31 (256 × 31) both take the
//! randomized map.
//!
//! # Defaults
//!
//! [`TRADE_OFF`] = 1 (TLlib `--trade-off 1.`), [`MAP_LIMIT`] = 4096 (the paper's rule),
//! [`RANDOM_DIM`] = 1024 (the paper's and TLlib's d), T = 1. R_f and R_g are N(0, 1), drawn once
//! per run from the run's seed (the method's `state`: never trained or saved, the same on
//! resume). The λ_p schedule and the optimizer are the shared `AdaptConfig` ones, as DANN's.
//!
//! # Deviations
//!
//! The domain head ([`HEAD`], "conditional") has dak's per-backbone domain-head sizes
//! (`domain_hidden`, `domain_dropout`; TLlib uses 1024-1024 with batch norm everywhere);
//! TLlib picks the randomized map by a flag, dak by the paper's 4096 rule. The optimizer is
//! dak's shared one (SGD momentum 0.9, no weight decay, lr 0.01/(1 + 10p)^0.75 by progress p,
//! 64 + 64 rows) where TLlib's `cdan.py` uses Nesterov SGD, weight decay 1e-3,
//! lr 0.01·(1 + 0.001·i)^-0.75 by iteration i and batches of 32.
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = load_mnist_mnistm()?;
//! let mut model = Dann::digits(&gpu, data.classes(), 0)?;
//! // "cdan", or "cdan-e" for CDAN+E; `fit` adds the conditional head.
//! let config = AdaptConfig {
//!     method: Method::parse("cdan-e", "--method")?,
//!     ..Default::default()
//! };
//! let history = model.fit(&data, &config, &mut [])?;
//! println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
//! # Ok(()) }
//! ```

use super::{AdaptMethod, Counted, MethodLosses, MethodState, StepContext};
use crate::autograd::{Tape, Var};
use crate::error::{Error, Result};
use crate::models::dann::DannConfig;
use crate::models::{Dann as Net, HeadConfig, Model};
use crate::nn::Init;
use crate::ops::matmul::{self, Gemm};
use crate::ops::{elementwise as ew, prob};
use crate::tensor::Tensor;

/// Widest outer product fed to the domain head; wider maps are randomized (the paper's rule).
pub const MAP_LIMIT: usize = 4096;
/// Width d of the randomized map (the paper's and TLlib's 1024).
pub const RANDOM_DIM: usize = 1024;
/// Name of the conditional domain head.
pub const HEAD: &str = "conditional";
/// State: R_fᵀ [d, dim] (a dense layer's weight layout, so `f·R_f` is a dense forward).
pub const RF: &str = "cdan.rf";
/// State: R_g [classes, d].
pub const RG: &str = "cdan.rg";
/// Weight of the domain loss next to the source cross-entropy (TLlib `--trade-off 1.`).
pub const TRADE_OFF: f32 = 1.0;

/// Whether features of width `dim` with `classes` classes take the randomized map.
pub fn randomized(dim: usize, classes: usize) -> bool {
    dim * classes > MAP_LIMIT
}

/// Width of the map the conditional head reads.
pub fn map_width(dim: usize, classes: usize) -> usize {
    match randomized(dim, classes) {
        true => RANDOM_DIM,
        false => dim * classes,
    }
}

/// `cdan` (`entropy: false`) and `cdan-e` (`entropy: true`).
pub(super) struct Cdan {
    pub entropy: bool,
}

impl AdaptMethod for Cdan {
    fn name(&self) -> &'static str {
        match self.entropy {
            true => "cdan-e",
            false => "cdan",
        }
    }
    fn reference(&self) -> &'static str {
        "Long et al., Conditional Adversarial Domain Adaptation, NeurIPS 2018"
    }
    fn needs_target(&self) -> bool {
        true
    }
    fn adversarial(&self) -> bool {
        true
    }
    fn heads(&self, feature_dim: usize, config: &DannConfig) -> Vec<HeadConfig> {
        vec![HeadConfig {
            name: HEAD.to_string(),
            input: map_width(feature_dim, config.classes),
            hidden: config.domain_hidden.clone(),
            outputs: 1,
            dropout: config.domain_dropout,
        }]
    }
    fn state(&self, model: &Net, seed: u64) -> Result<MethodState> {
        let (dim, classes) = (model.features.dim(), model.config.classes);
        let mut state = MethodState::default();
        if randomized(dim, classes) {
            let mut init = Init::new(seed ^ 0x4344_414E);
            let rf = init.normal_std(RANDOM_DIM * dim, 1.0);
            let rg = init.normal_std(classes * RANDOM_DIM, 1.0);
            let gpu = model.gpu();
            state.insert(RF, Tensor::from_slice(gpu, &rf, &[RANDOM_DIM, dim])?);
            state.insert(RG, Tensor::from_slice(gpu, &rg, &[classes, RANDOM_DIM])?);
        }
        Ok(state)
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        let n = c.n_source + c.n_target;
        let gpu = c.model.gpu();
        let mut d = vec![0.0f32; c.n_source];
        d.resize(n, 1.0);
        let domains = Tensor::from_slice(gpu, &d, &[n, 1])?;
        // The predictions condition the domain head but get no gradient from it.
        let g = prob::softmax_t(tape.tensor(c.logits), 1.0)?;
        let f = tape.grad_reverse(c.features, c.lambda);
        let h = multilinear_map(tape, f, &g, c.state)?;
        let dz = c.model.head_logits(tape, HEAD, h, Some(c.train_seed))?;
        let domain_loss = match self.entropy {
            true => {
                let w = prob::entropy_weights(&prob::entropy(&g)?)?;
                tape.bce_weighted(dz, &domains, &w, TRADE_OFF)?
            }
            false => tape.bce(dz, &domains, TRADE_OFF)?,
        };
        Ok(MethodLosses {
            roots: vec![domain_loss],
            counted: vec![
                Counted::DomainAccuracy {
                    logits: dz,
                    domains,
                },
                Counted::DomainLoss(domain_loss),
            ],
        })
    }
}

/// The map of features `f` [n, dim] (a tape value) and constant probabilities `g`
/// [n, classes]: the outer product, or the randomized map with the state's R_f, R_g.
pub fn multilinear_map(tape: &mut Tape, f: Var, g: &Tensor, state: &MethodState) -> Result<Var> {
    let [n, dim] = *tape.tensor(f).shape() else {
        return Err(Error::input("CDAN: features must be [rows, dim]"));
    };
    let classes = g.shape().last().copied().unwrap_or(0);
    if !randomized(dim, classes) {
        return tape.outer_const(f, g);
    }
    // f·R_f: a dense layer whose weight is a constant (no weight-gradient work).
    let rf = tape.input(state.get(RF)?.clone());
    let fr = tape.dense(f, rf, None, false)?;
    let rg = state.get(RG)?;
    let shape = Gemm {
        m: n,
        n: RANDOM_DIM,
        k: classes,
        trans_a: false,
        trans_b: false,
        relu: false,
    };
    let gr = matmul::gemm(
        g,
        rg,
        None,
        shape,
        matmul::Variant::for_gemm(g.gpu(), &shape),
    )?;
    let gr = ew::scale(&gr, 1.0 / (RANDOM_DIM as f32).sqrt())?;
    tape.mul_const(fr, &gr)
}
