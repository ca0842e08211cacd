//! Optimizers over a `Params` store: per-parameter state on the GPU, learning-rate multipliers
//! per parameter, and nothing at all for frozen parameters (they have no gradients).

pub mod schedule;

pub use schedule::Schedule;

use crate::autograd::{ParamId, Params};
use crate::ops::optim::{self as kernels, Adam, Sgd};
use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;

/// Which update rule, with its hyper-parameters (the learning rate comes per step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Stochastic gradient descent with momentum.
    Sgd {
        /// Momentum factor.
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
        /// L2 weight decay.
        weight_decay: f32,
    },
    /// Adam (Kingma & Ba).
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator epsilon.
        eps: f32,
        /// L2 weight decay.
        weight_decay: f32,
    },
}

impl Rule {
    /// SGD with momentum 0.9 (the DANN recipe).
    pub fn sgd_momentum() -> Rule {
        Rule::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
    /// Adam with the usual defaults.
    pub fn adam() -> Rule {
        Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
    fn state_slots(&self) -> usize {
        match self {
            Rule::Sgd { .. } => 1,
            Rule::Adam { .. } => 2,
        }
    }
    /// `sgd` or `adam`.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Sgd { .. } => "sgd",
            Rule::Adam { .. } => "adam",
        }
    }
}

/// An optimizer: a rule plus per-parameter state, created on first use.
pub struct Optimizer {
    /// The update rule.
    pub rule: Rule,
    /// Steps taken so far (Adam's bias correction uses it).
    pub steps: u32,
    state: BTreeMap<ParamId, Vec<Tensor>>,
}

impl Optimizer {
    /// An optimizer with no state yet.
    pub fn new(rule: Rule) -> Self {
        Optimizer {
            rule,
            steps: 0,
            state: BTreeMap::new(),
        }
    }

    /// Apply one update with base learning rate `lr` to every parameter that has a gradient.
    pub fn step(
        &mut self,
        params: &Params,
        grads: &BTreeMap<ParamId, Tensor>,
        lr: f32,
    ) -> Result<()> {
        self.steps += 1;
        // Profiles show the update under one name.
        let _label = grads
            .values()
            .next()
            .map(|g| g.gpu().scoped_label(Some("optimizer")));
        for (&id, g) in grads {
            let p = params.get(id);
            if !p.trainable {
                continue;
            }
            let slots = self.rule.state_slots();
            let state = match self.state.entry(id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    (0..slots)
                        .map(|_| Tensor::zeros(p.value.gpu(), p.value.shape()))
                        .collect::<Result<Vec<_>>>()?,
                ),
            };
            let lr = lr * p.lr_mult;
            match self.rule {
                Rule::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                } => kernels::sgd_step(
                    &p.value,
                    g,
                    &state[0],
                    Sgd {
                        lr,
                        momentum,
                        nesterov,
                        weight_decay,
                    },
                )?,
                Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                } => kernels::adam_step(
                    &p.value,
                    g,
                    &state[0],
                    &state[1],
                    Adam {
                        lr,
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                        step: self.steps,
                    },
                )?,
            }
        }
        Ok(())
    }

    /// State tensors by parameter name, for checkpoints (`<name>.<slot>`).
    pub fn named_state(&self, params: &Params) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (id, slots) in &self.state {
            for (i, t) in slots.iter().enumerate() {
                out.push((format!("{}.{}", params.get(*id).name, i), t.clone()));
            }
        }
        out
    }

    /// Restore state saved by `named_state` (shapes are checked against the parameters).
    pub fn load_state(
        &mut self,
        params: &Params,
        steps: u32,
        named: &BTreeMap<String, Tensor>,
    ) -> Result<()> {
        self.steps = steps;
        self.state.clear();
        for (id, p) in params.iter() {
            let slots: Option<Vec<Tensor>> = (0..self.rule.state_slots())
                .map(|i| named.get(&format!("{}.{}", p.name, i)).cloned())
                .collect();
            if let Some(slots) = slots {
                for t in &slots {
                    if t.shape() != p.value.shape() {
                        return Err(Error::input(format!(
                            "optimizer state for `{}` has shape {:?}, the parameter {:?}",
                            p.name,
                            t.shape(),
                            p.value.shape()
                        )));
                    }
                }
                self.state.insert(id, slots);
            }
        }
        Ok(())
    }
}
