//! The tape: records each op of a forward pass in execution order; `backward` walks it in
//! reverse with ONE `match` over a closed `Op` enum, accumulating fan-in gradients and freeing
//! each saved tensor as soon as it has been used.
//!
//! A value that depends on no trainable parameter does not require a gradient, and an op whose
//! inputs all do not require gradients is not recorded at all: a frozen backbone costs exactly
//! its forward kernels, and frozen weights never get a weight-gradient kernel.

use super::params::{ParamId, Params};
use crate::error::{Error, Result};
use crate::ops::elementwise as ew;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::sync::Arc;

mod backward;
mod batch_norm;
mod bce;
mod chunked;
mod complement_xent;
mod confusion;
mod conv2d;
mod elementwise;
mod grad_reverse;
mod info_max;
mod matmul;
mod mmd;
mod mul_const;
mod op;
mod outer;
mod pool;
mod prob;
mod softmax_xent;
mod views;
mod weight_norm;

use op::Op;

pub use batch_norm::BnStats;
pub use grad_reverse::Lambda;

/// What a backward pass returns: each trainable parameter's gradient, and the gradient of
/// each input asked for (None where nothing flowed into it).
pub type Gradients = (BTreeMap<ParamId, Tensor>, Vec<Option<Tensor>>);

/// A value on the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var(usize);

struct Value {
    tensor: Tensor,
    requires_grad: bool,
    param: Option<ParamId>,
}

struct Node {
    op: Op,
    input: Var,
    output: Var,
    /// The device's dispatch label when the node was recorded (the layer); its backward
    /// dispatches carry `<label> (bwd)`.
    label: Option<Arc<str>>,
}

/// Counts of what the tape did, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapeStats {
    /// Ops recorded for backward.
    pub recorded: usize,
    /// Ops run without recording (no input needed a gradient).
    pub skipped: usize,
}

/// Records a forward pass and runs its backward.
pub struct Tape {
    values: Vec<Value>,
    nodes: Vec<Node>,
    grad_enabled: bool,
    stats: TapeStats,
    /// Parameter gradients that chunked sub-graphs returned during `backward_to`.
    chunk_param_grads: BTreeMap<ParamId, Tensor>,
}

impl Tape {
    /// A tape that records (training).
    pub fn new() -> Self {
        Tape {
            values: Vec::new(),
            nodes: Vec::new(),
            grad_enabled: true,
            stats: TapeStats::default(),
            chunk_param_grads: BTreeMap::new(),
        }
    }

    /// A tape that records nothing and keeps no activations (evaluation, prediction).
    pub fn no_grad() -> Self {
        Tape {
            grad_enabled: false,
            ..Tape::new()
        }
    }

    /// What the tape has recorded and skipped so far.
    pub fn stats(&self) -> TapeStats {
        self.stats
    }

    /// The tensor behind a value.
    pub fn tensor(&self, v: Var) -> &Tensor {
        &self.values[v.0].tensor
    }

    /// Whether `v` depends on a trainable parameter (and so needs a gradient).
    pub fn requires_grad(&self, v: Var) -> bool {
        self.values[v.0].requires_grad
    }

    fn push(&mut self, tensor: Tensor, requires_grad: bool, param: Option<ParamId>) -> Var {
        self.values.push(Value {
            tensor,
            requires_grad: requires_grad && self.grad_enabled,
            param,
        });
        Var(self.values.len() - 1)
    }

    /// Whether this tape records gradients (a training step), not [`Tape::no_grad`].
    pub fn records(&self) -> bool {
        self.grad_enabled
    }

    /// A constant input (images, features): never gets a gradient.
    pub fn input(&mut self, t: Tensor) -> Var {
        self.push(t, false, None)
    }

    /// An input whose gradient [`Tape::backward_to`] returns (checks of what flows into it).
    pub fn input_with_grad(&mut self, t: Tensor) -> Var {
        self.push(t, true, None)
    }

    /// A parameter: requires a gradient exactly when it is trainable.
    pub fn param(&mut self, params: &Params, id: ParamId) -> Var {
        let p = params.get(id);
        self.push(p.value.clone(), p.trainable, Some(id))
    }

    fn record(&mut self, op: Op, input: Var, out: Tensor) -> Var {
        let label = out.gpu().label();
        let output = self.push(out, true, None);
        self.nodes.push(Node {
            op,
            input,
            output,
            label,
        });
        self.stats.recorded += 1;
        output
    }

    fn constant(&mut self, out: Tensor) -> Var {
        self.stats.skipped += 1;
        self.push(out, false, None)
    }

    /// How every recorder ends: `out`, computed from `input` (and the op's other operands),
    /// joins the tape as a recorded node when `needed` (a gradient can flow back to one of the
    /// op's operands), else as a constant; `op` (what the backward needs) is built only then.
    fn join(&mut self, needed: bool, input: Var, out: Tensor, op: impl FnOnce() -> Op) -> Var {
        match needed {
            true => self.record(op(), input, out),
            false => self.constant(out),
        }
    }

    /// Backpropagate from loss values (each a root with upstream gradient 1; use the loss
    /// `scale` for coefficients). Returns the gradient of every trainable parameter reached.
    /// Consumes the tape: saved tensors are freed as soon as they have been used.
    pub fn backward(self, losses: &[Var]) -> Result<BTreeMap<ParamId, Tensor>> {
        Ok(self.backward_to(losses, &[])?.0)
    }

    /// [`Tape::backward`], also returning the gradient of each of `inputs` (None where nothing
    /// flowed into it).
    pub fn backward_to(self, losses: &[Var], inputs: &[Var]) -> Result<Gradients> {
        self.backward_seeded(losses, Vec::new(), inputs)
    }

    /// [`Tape::backward_to`] from `losses` (upstream gradient 1) and from `seeds`: values
    /// whose upstream gradient is given (a chunk's output, with its rows of the gradient).
    pub(super) fn backward_seeded(
        mut self,
        losses: &[Var],
        seeds: Vec<(Var, Tensor)>,
        inputs: &[Var],
    ) -> Result<Gradients> {
        let mut grads: Vec<Option<Tensor>> = vec![None; self.values.len()];
        let mut roots = vec![false; self.values.len()];
        for &l in losses {
            roots[l.0] = true;
        }
        for (v, g) in seeds {
            self.accumulate(&mut grads, v, g)?;
        }
        let mut param_grads = BTreeMap::new();
        while let Some(node) = self.nodes.pop() {
            let out = node.output.0;
            let dy = grads[out].take();
            if dy.is_none() && !roots[out] {
                continue; // nothing flows back through this node
            }
            let gpu = self.values[out].tensor.gpu().clone();
            let bwd_label = node.label.as_ref().map(|l| format!("{l} (bwd)"));
            let _label = gpu.scoped_label(bwd_label.as_deref());
            let needs_x = self.values[node.input.0].requires_grad;
            let input = node.input;
            let dx = self.node_backward(node, dy, roots[out], needs_x, &mut grads)?;
            // The node's output is no longer needed by anyone below.
            self.values[out].requires_grad = false;
            if let (true, Some(dx)) = (needs_x, dx) {
                self.accumulate(&mut grads, input, dx)?;
            }
        }
        let wanted: Vec<Option<Tensor>> = inputs.iter().map(|v| grads[v.0].take()).collect();
        // Gradients that chunked sub-graphs returned during the walk.
        for (id, g) in std::mem::take(&mut self.chunk_param_grads) {
            add_param_grad(&mut param_grads, id, g)?;
        }
        for (i, g) in grads.into_iter().enumerate() {
            if let (Some(g), Some(id)) = (g, self.values[i].param) {
                add_param_grad(&mut param_grads, id, g)?;
            }
        }
        Ok((param_grads, wanted))
    }

    /// Add `g` into the gradient slot of `v` (fan-in accumulates).
    fn accumulate(&self, grads: &mut [Option<Tensor>], v: Var, g: Tensor) -> Result<()> {
        match &mut grads[v.0] {
            None => grads[v.0] = Some(g),
            Some(existing) => add_into(existing, &g)?,
        }
        Ok(())
    }
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

/// `sum += g`: in place, unless `sum` is shared (a node handed the same gradient tensor to two
/// inputs, as the residual add does), which then becomes a new tensor so the other holder keeps
/// its values.
fn add_into(sum: &mut Tensor, g: &Tensor) -> Result<()> {
    if sum.is_shared() {
        *sum = ew::add(sum, g, false)?;
        Ok(())
    } else {
        ew::accumulate(sum, g)
    }
}

/// Adds `g` to the gradient of parameter `id` (a parameter used on several tapes).
fn add_param_grad(grads: &mut BTreeMap<ParamId, Tensor>, id: ParamId, g: Tensor) -> Result<()> {
    match grads.get_mut(&id) {
        Some(existing) => add_into(existing, &g),
        None => {
            grads.insert(id, g);
            Ok(())
        }
    }
}

fn ensure_root(is_root: bool, what: &str) -> Result<()> {
    if is_root {
        Ok(())
    } else {
        Err(Error::input(format!(
            "{what} is a loss: pass it to backward() as a root"
        )))
    }
}
