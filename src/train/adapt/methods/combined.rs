//! A sum of methods (`dann+mcc`, `cdan-e+mcc`): every part's losses with the part's own
//! trade-off.
//!
//! # Paper
//!
//! Jin, Wang, Long & Wang, *Minimum Class Confusion for Versatile Domain Adaptation*, ECCV 2020,
//! Table 5, where MCC is added to DANN and CDAN with weight 1. Each part keeps the defaults of
//! its own file (`dann.rs`: the paper; `cdan.rs`, `mcc.rs`: TLlib).
//!
//! # Loss
//!
//! Every part's loss roots on the same tape, each with its own trade-off; the parts share the
//! step's features and logits:
//!
//! ```text
//! L_y = mean_s CE(z_s, y_s)       source rows    Tape::softmax_xent_smoothed (the step)
//! L_d = DANN's domain loss        dann+mcc       dann.rs: Tape::bce / ops::bce
//! L_d = CDAN+E's domain loss      cdan-e+mcc     cdan.rs: Tape::bce_weighted / ops::bce
//! L_c = MCC's loss, weight 1      both           mcc.rs: Tape::confusion_loss / ops::confusion
//! L   = L_y + L_d + L_c
//! ```
//!
//! The heads and fixed tensors are the union of the parts' (a head two parts name is added
//! once); the λ schedule applies to the gradient reversal only. The epoch reports the parts'
//! domain losses and domain accuracy, and the sum of all roots as the adaptation loss.
//!
//! # Shapes
//!
//! As each part's (`dann.rs`, `cdan.rs`, `mcc.rs`): n = n_s + n_t rows (64 + 64), features
//! `[n, dim]`, class logits `[n, classes]`, one `[1]` loss per root.
//!
//! # Defaults
//!
//! The parts' own: DANN's weight 1 or CDAN's `cdan::TRADE_OFF` = 1 beside MCC's
//! `mcc::TRADE_OFF` = 1 (Table 5's weight 1) and T = 2.5. The registry (`mod.rs`) lists the sums.
//!
//! # Deviations
//!
//! None beyond the parts' (see `dann.rs`, `cdan.rs` and `mcc.rs`).
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = load_mnist_mnistm()?;
//! let mut model = Dann::digits(&gpu, data.classes(), 0)?;
//! // "dann+mcc" or "cdan-e+mcc".
//! let config = AdaptConfig {
//!     method: Method::parse("dann+mcc", "--method")?,
//!     ..Default::default()
//! };
//! let history = model.fit(&data, &config, &mut [])?;
//! println!("target accuracy {:?}", history.last().and_then(|e| e.target_acc));
//! # Ok(()) }
//! ```

use super::{AdaptMethod, MethodLosses, MethodState, StepContext};
use crate::autograd::Tape;
use crate::error::Result;
use crate::models::dann::DannConfig;
use crate::models::{Dann as Net, HeadConfig};

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
