//! One optimizer dispatch per step (issue 16): every trainable parameter's slot in flat
//! buffers — parameters, gradients, optimizer state — each starting on a 256-element block,
//! and a table with one learning-rate multiplier per block (`optim/*_multi.wgsl`).
//!
//! A step copies each gradient and parameter into its slot (buffer copies, recorded in stream
//! order: on lavapipe a copy is a memcpy, a dispatch a fan-out over the worker threads), runs
//! one kernel over all of them, and copies the parameters back. The state (velocity, Adam's
//! moments) lives only in the flat buffers while the layout holds; [`Flat::take_state`] gives
//! it back per parameter (checkpoints, a change of the trainable set).

use crate::autograd::{ParamId, Params};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::optim::BLOCK;
use crate::tensor::{DType, Tensor};
use std::collections::{BTreeMap, HashMap};

/// The slots of one set of trainable parameters.
pub(super) struct Flat {
    /// (parameter, first element, length), in the order of the store.
    slots: Vec<(ParamId, usize, usize)>,
    /// Parameters and gradients of the step being taken.
    pub w: Tensor,
    pub g: Tensor,
    /// Optimizer state, one flat tensor per slot kind (velocity; or m and v).
    pub state: Vec<Tensor>,
    /// Which slots have been updated at least once (only those have state worth saving).
    seen: Vec<bool>,
    /// Learning-rate tables by pattern (per slot: the multiplier's bits, or none when the
    /// parameter has no gradient this step). Steps alternate between few patterns (a DANN step
    /// and a source-only step), so each table is written once.
    tables: HashMap<Vec<Option<u32>>, Tensor>,
}

/// The trainable parameters in store order with their lengths: the key of a layout.
pub(super) fn trainable(params: &Params) -> Vec<(ParamId, usize)> {
    params
        .iter()
        .filter(|(_, p)| p.trainable)
        .map(|(id, p)| (id, p.value.numel()))
        .collect()
}

fn copy(src: &Tensor, from: usize, dst: &Tensor, to: usize, len: usize) -> Result<()> {
    src.gpu().copy(
        src.buffer(),
        4 * from as u64,
        dst.buffer(),
        4 * to as u64,
        4 * len as u64,
    )
}

impl Flat {
    /// Slots for `set`, with state taken from `state` where it has an entry (moved out of it),
    /// zeros elsewhere; `None` when the flat buffers would exceed one storage binding.
    pub fn new(
        gpu: &Gpu,
        set: &[(ParamId, usize)],
        slots_per_param: usize,
        state: &mut BTreeMap<ParamId, Vec<Tensor>>,
    ) -> Result<Option<Flat>> {
        let mut slots = Vec::with_capacity(set.len());
        let mut total = 0;
        for &(id, len) in set {
            slots.push((id, total, len));
            total += len.next_multiple_of(BLOCK);
        }
        if total == 0 || 4 * total as u64 > gpu.max_binding_bytes() {
            return Ok(None);
        }
        let zeros = || Tensor::zeros(gpu, &[total]);
        let flat_state = (0..slots_per_param)
            .map(|_| zeros())
            .collect::<Result<Vec<_>>>()?;
        let mut seen = vec![false; slots.len()];
        for (i, &(id, at, len)) in slots.iter().enumerate() {
            if let Some(saved) = state.remove(&id) {
                for (flat, t) in flat_state.iter().zip(&saved) {
                    copy(t, 0, flat, at, len)?;
                }
                seen[i] = true;
            }
        }
        Ok(Some(Flat {
            slots,
            w: zeros()?,
            g: zeros()?,
            state: flat_state,
            seen,
            tables: HashMap::new(),
        }))
    }

    /// Whether this layout is the one for `set`.
    pub fn matches(&self, set: &[(ParamId, usize)]) -> bool {
        self.slots.len() == set.len()
            && self
                .slots
                .iter()
                .zip(set)
                .all(|(&(id, _, len), &(sid, slen))| id == sid && len == slen)
    }

    /// Copies the parameters that have a gradient and their gradients into their slots and
    /// returns the learning-rate table for this step (`lr_mult` per block, -1 for the blocks of
    /// parameters without a gradient), or `None` when no parameter has one.
    pub fn gather(
        &mut self,
        params: &Params,
        grads: &BTreeMap<ParamId, Tensor>,
    ) -> Result<Option<Tensor>> {
        let mut pattern = Vec::with_capacity(self.slots.len());
        for (i, &(id, at, len)) in self.slots.iter().enumerate() {
            match grads.get(&id) {
                Some(g) => {
                    if g.numel() != len {
                        return Err(crate::error::Error::input(format!(
                            "optimizer: gradient of `{}` has shape {:?}, the parameter {:?}",
                            params.get(id).name,
                            g.shape(),
                            params.get(id).value.shape()
                        )));
                    }
                    copy(g, 0, &self.g, at, len)?;
                    copy(&params.get(id).value, 0, &self.w, at, len)?;
                    self.seen[i] = true;
                    pattern.push(Some(params.get(id).lr_mult.to_bits()));
                }
                None => pattern.push(None),
            }
        }
        if pattern.iter().all(Option::is_none) {
            return Ok(None);
        }
        if let Some(t) = self.tables.get(&pattern) {
            return Ok(Some(t.clone()));
        }
        let blocks = self.w.numel() / BLOCK;
        let mut table = vec![-1f32; blocks];
        for (&(_, at, len), mult) in self.slots.iter().zip(&pattern) {
            if let Some(bits) = mult {
                table[at / BLOCK..(at + len).div_ceil(BLOCK)].fill(f32::from_bits(*bits));
            }
        }
        let t = Tensor::from_slice(self.w.gpu(), &table, &[blocks])?;
        if self.tables.len() >= 16 {
            self.tables.clear();
        }
        self.tables.insert(pattern, t.clone());
        Ok(Some(t))
    }

    /// Copies the updated parameters (those with a gradient) back into the store.
    pub fn scatter(&self, params: &Params, grads: &BTreeMap<ParamId, Tensor>) -> Result<()> {
        for &(id, at, len) in &self.slots {
            if grads.contains_key(&id) {
                copy(&self.w, at, &params.get(id).value, 0, len)?;
            }
        }
        Ok(())
    }

    /// The state of every slot updated at least once, as new tensors shaped like the parameters.
    pub fn take_state(&self, params: &Params) -> Result<Vec<(ParamId, Vec<Tensor>)>> {
        let mut out = Vec::new();
        for (&(id, at, len), _) in self.slots.iter().zip(&self.seen).filter(|(_, s)| **s) {
            let shape = params.get(id).value.shape();
            let mut slots = Vec::with_capacity(self.state.len());
            for flat in &self.state {
                let t = Tensor::uninit(flat.gpu(), shape, DType::F32)?;
                copy(flat, at, &t, 0, len)?;
                slots.push(t);
            }
            out.push((id, slots));
        }
        Ok(out)
    }
}
