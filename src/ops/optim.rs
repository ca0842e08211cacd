//! Optimizer update kernels: SGD (momentum, Nesterov, weight decay) and Adam, in place; per
//! parameter, or over every parameter of a model at once in flat buffers (`*_multi`).

use super::grid_1d;
use crate::error::{Error, Result};
use crate::gpu::{Binding, GpuTexture};
use crate::tensor::Tensor;

/// SGD hyper-parameters (PyTorch semantics, dampening 0).
#[derive(Debug, Clone, Copy)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor.
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
}

/// Adam hyper-parameters; `step` is the 1-based step number (for bias correction).
#[derive(Debug, Clone, Copy)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// 1-based step number.
    pub step: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdP {
    n: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
    shift: u32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamP {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bc1: f32,
    bc2: f32,
    weight_decay: f32,
    shift: u32,
    _pad: [u32; 3],
}

fn same_size(ts: &[&Tensor], op: &str) -> Result<()> {
    if ts.iter().any(|t| t.numel() != ts[0].numel()) {
        let shapes: Vec<_> = ts.iter().map(|t| t.shape().to_vec()).collect();
        return Err(Error::input(format!(
            "{op}: parameter, gradient and state differ in size: {shapes:?}"
        )));
    }
    Ok(())
}

/// One SGD step on `w` given gradient `g` and velocity state `v` (zeros at start).
pub fn sgd_step(w: &Tensor, g: &Tensor, v: &Tensor, h: Sgd) -> Result<()> {
    same_size(&[w, g, v], "sgd")?;
    let p = SgdP {
        n: w.numel() as u32,
        lr: h.lr,
        momentum: h.momentum,
        weight_decay: h.weight_decay,
        nesterov: h.nesterov as u32,
        shift: 0,
        _pad: [0; 2],
    };
    let mirrors = super::Mirrors::of(&[g, w, v])?;
    let p = SgdP {
        shift: mirrors.shift,
        ..p
    };
    let bindings = mirrors.after(&[g.binding(), w.binding(), v.binding()]);
    w.gpu().dispatch(
        "optim/sgd.wgsl",
        &[mirrors.constant()],
        bytemuck::bytes_of(&p),
        &bindings,
        grid_1d(w.numel()),
    )
}

/// One Adam step on `w` with moment states `m`, `v` (zeros at start).
pub fn adam_step(w: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, h: Adam) -> Result<()> {
    same_size(&[w, g, m, v], "adam")?;
    if h.step == 0 {
        return Err(Error::input("adam: step numbers start at 1"));
    }
    let p = AdamP {
        n: w.numel() as u32,
        lr: h.lr,
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        bc1: 1.0 - h.beta1.powi(h.step as i32),
        bc2: 1.0 - h.beta2.powi(h.step as i32),
        weight_decay: h.weight_decay,
        shift: 0,
        _pad: [0; 3],
    };
    let mirrors = super::Mirrors::of(&[g, w, m, v])?;
    let p = AdamP {
        shift: mirrors.shift,
        ..p
    };
    let bindings = mirrors.after(&[g.binding(), w.binding(), m.binding(), v.binding()]);
    w.gpu().dispatch(
        "optim/adam.wgsl",
        &[mirrors.constant()],
        bytemuck::bytes_of(&p),
        &bindings,
        grid_1d(w.numel()),
    )
}

/// Elements per block of the multi-parameter kernels: each parameter of a flat layout starts
/// on a block, and the learning-rate table has one multiplier per block.
pub const BLOCK: usize = 256;

fn check_table(w: &Tensor, scale: &Tensor, op: &str) -> Result<()> {
    if !w.numel().is_multiple_of(BLOCK) {
        return Err(Error::input(format!(
            "{op}: flat buffers hold whole blocks of {BLOCK} elements; got {}",
            w.numel()
        )));
    }
    if scale.numel() < w.numel().div_ceil(BLOCK) {
        return Err(Error::input(format!(
            "{op}: {} learning-rate multipliers for {} blocks",
            scale.numel(),
            w.numel().div_ceil(BLOCK)
        )));
    }
    Ok(())
}

/// The multi kernels' inputs as textures (`MIRROR`): rgba32float mirrors of the flat buffers
/// and an r32float one of the table on CPU adapters; 1x1 dummies elsewhere or when one does not
/// fit. Returns (textures in binding order, shift, MIRROR).
fn flat_mirrors(flat: &[&Tensor], table: &Tensor) -> Result<(Vec<GpuTexture>, u32, bool)> {
    let gpu = table.gpu();
    if gpu.cpu_paths() {
        let mut textures = Vec::with_capacity(flat.len() + 1);
        let mut shift = 0;
        for t in flat {
            match gpu.mirror_rgba(t.buffer(), t.numel(), "flat optimizer buffer")? {
                Some(m) => {
                    shift = m.shift;
                    textures.push(m.texture);
                }
                None => break,
            }
        }
        if textures.len() == flat.len() {
            if let Some(m) = gpu.mirror(table.buffer(), table.numel(), "learning-rate table")? {
                textures.push(m.texture);
                return Ok((textures, shift, true));
            }
        }
    }
    let mut textures = flat
        .iter()
        .map(|_| gpu.texture(1, 1, "unused mirror"))
        .collect::<Result<Vec<_>>>()?;
    textures.push(gpu.texture_r32(1, 1, "unused mirror")?);
    Ok((textures, 0, false))
}

/// Dispatch a multi kernel: `buffers` then the mirror textures; one invocation per vec4.
fn dispatch_multi(
    file: &str,
    w: &Tensor,
    uniform: &[u8],
    buffers: &[Binding<'_>],
    textures: &[GpuTexture],
    mirror: bool,
) -> Result<()> {
    let bindings: Vec<Binding<'_>> = buffers
        .iter()
        .copied()
        .chain(textures.iter().map(Binding::Texture))
        .collect();
    w.gpu().dispatch(
        file,
        &[("MIRROR", if mirror { 1.0 } else { 0.0 })],
        uniform,
        &bindings,
        super::grid_1d_64(w.numel() / 4),
    )
}

/// One SGD step over many parameters in flat buffers (`optim/sgd_multi.wgsl`): block `b` of
/// 256 elements uses learning rate `h.lr * scale[b]`, a negative multiplier leaves the block
/// alone. Element by element the same arithmetic as [`sgd_step`].
pub fn sgd_step_multi(w: &Tensor, g: &Tensor, v: &Tensor, scale: &Tensor, h: Sgd) -> Result<()> {
    same_size(&[w, g, v], "sgd")?;
    check_table(w, scale, "sgd")?;
    let (textures, shift, mirror) = flat_mirrors(&[g, w, v], scale)?;
    let p = SgdP {
        n: (w.numel() / 4) as u32,
        lr: h.lr,
        momentum: h.momentum,
        weight_decay: h.weight_decay,
        nesterov: h.nesterov as u32,
        shift,
        _pad: [0; 2],
    };
    let buffers = [g.binding(), w.binding(), v.binding(), scale.binding()];
    let file = "optim/sgd_multi.wgsl";
    dispatch_multi(file, w, bytemuck::bytes_of(&p), &buffers, &textures, mirror)
}

/// One Adam step over many parameters in flat buffers (`optim/adam_multi.wgsl`), learning
/// rates per block as in [`sgd_step_multi`]; element by element the same as [`adam_step`].
pub fn adam_step_multi(
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    scale: &Tensor,
    h: Adam,
) -> Result<()> {
    same_size(&[w, g, m, v], "adam")?;
    check_table(w, scale, "adam")?;
    if h.step == 0 {
        return Err(Error::input("adam: step numbers start at 1"));
    }
    let (textures, shift, mirror) = flat_mirrors(&[g, w, m, v], scale)?;
    let p = AdamP {
        n: (w.numel() / 4) as u32,
        lr: h.lr,
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        bc1: 1.0 - h.beta1.powi(h.step as i32),
        bc2: 1.0 - h.beta2.powi(h.step as i32),
        weight_decay: h.weight_decay,
        shift,
        _pad: [0; 3],
    };
    let buffers = [
        g.binding(),
        w.binding(),
        m.binding(),
        v.binding(),
        scale.binding(),
    ];
    let file = "optim/adam_multi.wgsl";
    dispatch_multi(file, w, bytemuck::bytes_of(&p), &buffers, &textures, mirror)
}

/// Plain-Rust oracles, updating in place like the kernels.
pub mod reference {
    use super::{Adam, Sgd};

    /// One SGD update of `w` with velocity `v`.
    pub fn sgd_step(w: &mut [f32], g: &[f32], v: &mut [f32], h: Sgd) {
        for i in 0..w.len() {
            let d = g[i] + h.weight_decay * w[i];
            v[i] = h.momentum * v[i] + d;
            let step = if h.nesterov {
                d + h.momentum * v[i]
            } else {
                v[i]
            };
            w[i] -= h.lr * step;
        }
    }

    /// One Adam update of `w` with moments `m` and `v`.
    pub fn adam_step(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: Adam) {
        let bc1 = 1.0 - (h.beta1 as f64).powi(h.step as i32);
        let bc2 = 1.0 - (h.beta2 as f64).powi(h.step as i32);
        for i in 0..w.len() {
            let d = (g[i] + h.weight_decay * w[i]) as f64;
            let mi = h.beta1 as f64 * m[i] as f64 + (1.0 - h.beta1 as f64) * d;
            let vi = h.beta2 as f64 * v[i] as f64 + (1.0 - h.beta2 as f64) * d * d;
            m[i] = mi as f32;
            v[i] = vi as f32;
            w[i] = (w[i] as f64 - h.lr as f64 * (mi / bc1) / ((vi / bc2).sqrt() + h.eps as f64))
                as f32;
        }
    }
}
