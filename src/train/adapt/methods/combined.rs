//! A sum of methods (`dann+mcc`, `cdan-e+mcc`): every part's losses with the part's own
//! trade-off, as in MCC's paper (Jin et al., ECCV 2020, Table 5), where MCC is added to DANN
//! and CDAN with weight 1.

use super::{AdaptMethod, MethodLosses, MethodState, StepContext};
use crate::autograd::Tape;
use crate::models::dann::DannConfig;
use crate::models::{Dann as Net, HeadConfig};
use crate::Result;

pub(super) struct Combined {
    pub name: &'static str,
    pub parts: &'static [&'static dyn AdaptMethod],
}

impl AdaptMethod for Combined {
    fn name(&self) -> &'static str {
        self.name
    }
    fn reference(&self) -> &'static str {
        "Jin et al., Minimum Class Confusion for Versatile Domain Adaptation, ECCV 2020 (MCC added to another method)"
    }
    fn needs_target(&self) -> bool {
        self.parts.iter().any(|p| p.needs_target())
    }
    fn adversarial(&self) -> bool {
        self.parts.iter().any(|p| p.adversarial())
    }
    fn heads(&self, feature_dim: usize, config: &DannConfig) -> Vec<HeadConfig> {
        let mut heads: Vec<HeadConfig> = Vec::new();
        for h in self.parts.iter().flat_map(|p| p.heads(feature_dim, config)) {
            if !heads.iter().any(|have| have.name == h.name) {
                heads.push(h);
            }
        }
        heads
    }
    fn state(&self, model: &Net, seed: u64) -> Result<MethodState> {
        let mut state = MethodState::default();
        for p in self.parts {
            state.extend(p.state(model, seed)?);
        }
        Ok(state)
    }
    fn losses(&self, tape: &mut Tape, c: &StepContext) -> Result<MethodLosses> {
        let mut sum = MethodLosses::default();
        for p in self.parts {
            sum.extend(p.losses(tape, c)?);
        }
        Ok(sum)
    }
}
