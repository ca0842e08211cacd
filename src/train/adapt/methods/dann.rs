//! DANN (Ganin et al., *Domain-Adversarial Training of Neural Networks*, JMLR 2016): the domain
//! head behind gradient reversal (coefficient λ_p from the schedule) classifies every row's
//! domain, binary cross-entropy with logits (0 source, 1 target), weight 1.

use super::{AdaptMethod, Counted, MethodLosses, StepContext};
use crate::autograd::Tape;
use crate::models::Model;
use crate::{Result, Tensor};

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
