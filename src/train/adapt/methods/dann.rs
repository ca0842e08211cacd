//! DANN: the domain head behind gradient reversal classifies every row's domain.
//!
//! # Paper
//!
//! Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand & Lempitsky,
//! *Domain-Adversarial Training of Neural Networks*, JMLR 17(59), 2016. dak's defaults are the
//! paper's (DESIGN §6, `docs/dann.md`): its digits network and its λ_p and learning-rate
//! schedules.
//!
//! # Loss
//!
//! The domain head behind gradient reversal (coefficient λ_p from the schedule) classifies
//! every row's domain, binary cross-entropy with logits (0 source, 1 target), weight 1. Rows
//! are source first; d_i is row i's domain:
//!
//! ```text
//! L_y = mean_s CE(z_s, y_s)            source rows        Tape::softmax_xent_smoothed (the step)
//! f'  = GRL_λ(f)                       -λ_p·grad back     Tape::grad_reverse (Dann::domain_logits)
//! z_d = domain head(f')                dense layers       Tape::dense
//! L_d = 1 · mean_i BCE(z_d,i, d_i)     all rows           Tape::bce / ops::bce
//! L   = L_y + L_d
//! ```
//!
//! The epoch reports L_d as the domain loss and the domain head's accuracy
//! (`ops::bce::binary_correct`).
//!
//! # Shapes
//!
//! n = n_s + n_t rows (64 + 64): features f `[n, dim]` (768 on the digits network, the 256-d
//! bottleneck on VGG16), class logits z `[n, classes]`, domain logits z_d and domains d `[n, 1]`,
//! L_d `[1]`.
//!
//! # Defaults
//!
//! Weight 1 on L_d (the literal in `losses`). The shared `AdaptConfig` settings are the
//! paper's: λ_p = λ_max·(2/(1 + e^{-10p}) - 1) by training progress p, λ_max = 1
//! (`LambdaSchedule::Dann`); SGD momentum 0.9 at lr 0.01/(1 + 10p)^0.75 (`LrSchedule::Dann`);
//! 64 source + 64 target rows a step. The domain head (`DannConfig::paper`): 100-1 on digits,
//! 1024-1024-1 with dropout 0.5 on VGG16 and ResNets.
//!
//! # Deviations
//!
//! None in the loss or the schedules. The photo network is DESIGN §6's (a VGG16 or ResNet base
//! with a 256-d bottleneck) where the paper's Office-31 experiments use AlexNet.
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = load_mnist_mnistm()?;
//! let mut model = Dann::digits(&gpu, data.classes(), 0)?;
//! // DANN is the default method (`Method::DANN`).
//! let config = AdaptConfig {
//!     method: Method::parse("dann", "--method")?,
//!     ..Default::default()
//! };
//! let history = model.fit(&data, &config, &mut [])?;
//! println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
//! # Ok(()) }
//! ```

use super::{AdaptMethod, Counted, MethodLosses, StepContext};
use crate::autograd::Tape;
use crate::error::Result;
use crate::models::Model;
use crate::tensor::Tensor;

pub(super) struct Dann;

impl AdaptMethod for Dann {
    fn name(&self) -> &'static str {
        "dann"
    }
    fn reference(&self) -> &'static str {
        "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016"
    }
    fn needs_target(&self) -> bool {
        true
    }
    fn adversarial(&self) -> bool {
        true
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        let n = c.n_source + c.n_target;
        let mut d = vec![0.0f32; c.n_source];
        d.resize(n, 1.0);
        let domains = Tensor::from_slice(c.model.gpu(), &d, &[n, 1])?;
        let dz = c
            .model
            .domain_logits(tape, c.features, c.lambda, Some(c.train_seed))?;
        let domain_loss = tape.bce(dz, &domains, 1.0)?;
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
