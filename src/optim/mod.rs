//! Optimizers over a `Params` store: per-parameter state on the GPU, learning-rate multipliers
//! per parameter, and nothing at all for frozen parameters (they have no gradients).
//!
//! By default a step is one kernel over every trainable parameter (`flat.rs`: flat buffers and
//! a learning-rate table, `optim.*_multi`); [`Optimizer::per_parameter`] keeps the reference
//! path of one kernel per parameter. Both compute the same values.

mod flat;
pub mod schedule;

pub use schedule::Schedule;

use crate::autograd::{ParamId, Params};
use crate::error::{Error, Result};
use crate::ops::optim::{self as kernels, Adam, Sgd};
use crate::tensor::Tensor;
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
    /// One dispatch over all parameters per step (default) rather than one per parameter.
    pub fused: bool,
    /// Per-parameter state (the per-parameter path, and parameters outside `flat`).
    state: BTreeMap<ParamId, Vec<Tensor>>,
    /// The fused path's flat buffers, holding the state of their parameters.
    flat: Option<flat::Flat>,
}

impl Optimizer {
    /// An optimizer with no state yet.
    pub fn new(rule: Rule) -> Self {
        Optimizer {
            rule,
            steps: 0,
            fused: true,
            state: BTreeMap::new(),
            flat: None,
        }
    }

    /// An optimizer that launches one kernel per parameter (the reference path).
    pub fn per_parameter(rule: Rule) -> Self {
        Optimizer {
            fused: false,
            ..Optimizer::new(rule)
        }
    }

    /// Moves the flat buffers' state back to per-parameter tensors and drops the layout.
    fn unflatten(&mut self, params: &Params) -> Result<()> {
        if let Some(f) = self.flat.take() {
            self.state.extend(f.take_state(params)?);
        }
        Ok(())
    }

    /// The fused step; `false` when it cannot run (no trainable parameter, buffers too large,
    /// a negative learning-rate multiplier) and the per-parameter path must.
    fn step_fused(
        &mut self,
        params: &Params,
        grads: &BTreeMap<ParamId, Tensor>,
        lr: f32,
    ) -> Result<bool> {
        if params
            .iter()
            .any(|(_, p)| !(p.lr_mult >= 0.0 && p.lr_mult.is_finite()))
        {
            return Ok(false);
        }
        let set = flat::trainable(params);
        if !self.flat.as_ref().is_some_and(|f| f.matches(&set)) {
            self.unflatten(params)?;
            let gpu = match params.iter().next() {
                Some((_, p)) => p.value.gpu().clone(),
                None => return Ok(false),
            };
            let slots = self.rule.state_slots();
            self.flat = flat::Flat::new(&gpu, &set, slots, &mut self.state)?;
        }
        let Some(f) = self.flat.as_mut() else {
            return Ok(false);
        };
        let Some(table) = f.gather(params, grads)? else {
            return Ok(true);
        };
        match self.rule {
            Rule::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => kernels::sgd_step_multi(
                &f.w,
                &f.g,
                &f.state[0],
                &table,
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
            } => kernels::adam_step_multi(
                &f.w,
                &f.g,
                &f.state[0],
                &f.state[1],
                &table,
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
        f.scatter(params, grads)?;
        Ok(true)
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
        if self.fused && self.step_fused(params, grads, lr)? {
            return Ok(());
        }
        self.unflatten(params)?;
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
    pub fn named_state(&self, params: &Params) -> Result<Vec<(String, Tensor)>> {
        let mut all: BTreeMap<ParamId, Vec<Tensor>> = self.state.clone();
        if let Some(f) = &self.flat {
            all.extend(f.take_state(params)?);
        }
        let mut out = Vec::new();
        for (id, slots) in &all {
            for (i, t) in slots.iter().enumerate() {
                out.push((format!("{}.{}", params.get(*id).name, i), t.clone()));
            }
        }
        Ok(out)
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
        self.flat = None;
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
