//! DANN (Ganin et al., *Domain-Adversarial Training of Neural Networks*, JMLR 2016): the domain
//! head behind gradient reversal (coefficient λ_p from the schedule) classifies every row's
//! domain, binary cross-entropy with logits (0 source, 1 target), weight 1.

use super::{AdaptMethod, StepContext};
use crate::autograd::{Tape, Var};
use crate::models::Model;
use crate::ops::{bce, elementwise as ew};
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
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<Vec<Var>> {
        let n = c.n_source + c.n_target;
        let mut d = vec![0.0f32; c.n_source];
        d.resize(n, 1.0);
        let domains = Tensor::from_slice(c.model.gpu(), &d, &[n, 1])?;
        let dz = c
            .model
            .domain_logits(tape, c.features, c.lambda, Some(c.train_seed))?;
        let domain_loss = tape.bce(dz, &domains, 1.0)?;
        bce::binary_correct(tape.tensor(dz), &domains, &c.acc.domain_counts)?;
        ew::accumulate(&c.acc.domain_loss, tape.tensor(domain_loss))?;
        Ok(vec![domain_loss])
    }
}
