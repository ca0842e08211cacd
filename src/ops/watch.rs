//! Divergence watch: a flag on the GPU that names the first step of an epoch whose loss was
//! NaN, infinite or above a limit. One tiny dispatch per watched loss and step, read once at
//! the end of the epoch with the loss sums, so the fit loops add no readback per step.

use super::grid_1d;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    step: u32,
    limit: f32,
    _pad: u32,
}

/// The flag's value while no bad step was seen.
const NONE: u32 = u32::MAX;

/// A fresh flag: no bad step yet.
pub fn new_flag(gpu: &Gpu) -> Result<Tensor> {
    Tensor::from_u32(gpu, &[NONE], &[1])
}

/// `flag ← min(flag, step)` when any value of `x` is not finite or above `limit` in magnitude.
pub fn note(x: &Tensor, limit: f32, step: u32, flag: &Tensor) -> Result<()> {
    debug_assert_eq!(flag.dtype(), DType::U32);
    let p = Params {
        n: x.numel() as u32,
        step,
        limit,
        _pad: 0,
    };
    x.gpu().dispatch(
        "watch/first_bad.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), flag.binding()],
        grid_1d(x.numel()),
    )
}

/// The first bad step recorded in `flag`, if any (one readback).
pub fn read(flag: &Tensor) -> Result<Option<u32>> {
    let v = flag.to_vec_u32()?[0];
    Ok((v != NONE).then_some(v))
}

/// Plain-Rust oracle.
pub mod reference {
    /// The first step (of `(step, values)` pairs, in any order) with a value that is not
    /// finite or above `limit` in magnitude.
    pub fn first_bad(steps: &[(u32, Vec<f32>)], limit: f32) -> Option<u32> {
        steps
            .iter()
            .filter(|(_, v)| v.iter().any(|x| !x.is_finite() || x.abs() > limit))
            .map(|(s, _)| *s)
            .min()
    }
}
