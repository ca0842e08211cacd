//! Elementwise ops: bias + activation, bias gradient, ReLU backward, scale/accumulate, dropout.

use super::{grid_1d, grid_1d_64};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Four {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

fn f(x: f32) -> u32 {
    x.to_bits()
}

/// Whether `n` values go through the `_x4` kernels (vec4 loads, no texture mirrors): on CPU
/// adapters a quarter of the per-lane load loops, faster than the mirrors with their copies.
fn by_fours(n: usize) -> bool {
    n.is_multiple_of(4)
}

/// Launches `elementwise/<stem>_x4.wgsl` over `n` values (a multiple of 4) with the uniform
/// `(n / 4, 0, flag, 0)` that its `P` reads.
fn dispatch_x4(
    gpu: &crate::gpu::Gpu,
    stem: &str,
    n: usize,
    flag: u32,
    bindings: &[crate::gpu::Binding<'_>],
) -> Result<()> {
    let p = Four {
        a: (n / 4) as u32,
        b: 0,
        c: flag,
        d: 0,
    };
    gpu.dispatch(
        &dak_wgsl_gen::elementwise_x4_path(stem),
        &[],
        bytemuck::bytes_of(&p),
        bindings,
        grid_1d_64(n / 4),
    )
}

/// Channel layout of a tensor for per-channel ops: (outer, channels, inner).
/// Dense `[B, C]` is (B, C, 1); NCHW `[N, C, H, W]` is (N, C, H·W).
pub fn channel_layout(t: &Tensor) -> (usize, usize, usize) {
    match *t.shape() {
        [c] => (1, c, 1),
        [b, c] => (b, c, 1),
        [n, c, h] => (n, c, h),
        [n, c, h, w] => (n, c, h * w),
        _ => unreachable!("tensors are 1-4-D"),
    }
}

/// `y = act(x + bias[channel])`; `bias` may be absent (then only the activation).
pub fn bias_act(x: &Tensor, bias: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    x.expect_dtype(DType::F32, "bias_act")?;
    let gpu = x.gpu();
    let (_, channels, inner) = channel_layout(x);
    if let Some(b) = bias {
        b.expect_shape(&[channels], "bias_act", "bias")?;
    }
    let dummy;
    let b = match bias {
        Some(b) => b,
        None => {
            dummy = Tensor::uninit(gpu, &[1], DType::F32)?;
            &dummy
        }
    };
    let y = Tensor::uninit(gpu, x.shape(), DType::F32)?;
    let flags = bias.is_some() as u32 | (relu as u32) << 1;
    let p = Four {
        a: x.numel() as u32,
        b: channels as u32,
        c: inner as u32,
        d: flags,
    };
    gpu.dispatch(
        "elementwise/bias_act.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), b.binding(), y.binding()],
        grid_1d(x.numel()),
    )?;
    Ok(y)
}

/// `db[c] = Σ dy` over every element of channel `c`.
pub fn bias_grad(dy: &Tensor) -> Result<Tensor> {
    let gpu = dy.gpu();
    let (outer, channels, inner) = channel_layout(dy);
    let db = Tensor::uninit(gpu, &[channels], DType::F32)?;
    let m = super::Mirrors::of(&[dy])?;
    let p = Four {
        a: outer as u32,
        b: channels as u32,
        c: inner as u32,
        d: m.shift,
    };
    let bindings = m.after(&[dy.binding(), db.binding()]);
    // CPU adapters reduce with subgroupAdd (fewer barriers); the order is fixed per subgroup size.
    let file = if gpu.cpu_paths() && gpu.has_subgroups() {
        "elementwise/bias_grad_sg.wgsl"
    } else {
        "elementwise/bias_grad.wgsl"
    };
    gpu.dispatch(
        file,
        &[m.constant()],
        bytemuck::bytes_of(&p),
        &bindings,
        [channels as u32, 1, 1],
    )?;
    Ok(db)
}

/// ReLU backward: `dx = dy · [y > 0]`, with `y` the saved ReLU output.
pub fn relu_grad(dy: &Tensor, y: &Tensor) -> Result<Tensor> {
    y.expect_shape(dy.shape(), "relu backward", "saved output")?;
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, dy.shape(), DType::F32)?;
    let n = dy.numel();
    if by_fours(n) {
        dispatch_x4(
            gpu,
            "relu_grad",
            n,
            0,
            &[dy.binding(), y.binding(), dx.binding()],
        )?;
        return Ok(dx);
    }
    let m = super::Mirrors::of(&[dy, y])?;
    let p = Four {
        a: dy.numel() as u32,
        b: m.shift,
        c: 0,
        d: 0,
    };
    let bindings = m.after(&[dy.binding(), y.binding(), dx.binding()]);
    gpu.dispatch(
        "elementwise/relu_grad.wgsl",
        &[m.constant()],
        bytemuck::bytes_of(&p),
        &bindings,
        grid_1d(dy.numel()),
    )?;
    Ok(dx)
}

/// `a + b` (same shapes), then ReLU if `relu`: a residual join in one pass.
pub fn add(a: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    b.expect_shape(a.shape(), "add", "second operand")?;
    let gpu = a.gpu();
    let y = Tensor::uninit(gpu, a.shape(), DType::F32)?;
    let n = a.numel();
    if by_fours(n) {
        dispatch_x4(
            gpu,
            "add",
            n,
            relu as u32,
            &[a.binding(), b.binding(), y.binding()],
        )?;
        return Ok(y);
    }
    let m = super::Mirrors::of(&[a, b])?;
    let p = Four {
        a: a.numel() as u32,
        b: m.shift,
        c: relu as u32,
        d: 0,
    };
    let bindings = m.after(&[a.binding(), b.binding(), y.binding()]);
    gpu.dispatch(
        "elementwise/add.wgsl",
        &[m.constant()],
        bytemuck::bytes_of(&p),
        &bindings,
        grid_1d(a.numel()),
    )?;
    Ok(y)
}

/// `y ← alpha·x + beta·y` in place (beta = 0 ignores y's contents).
pub fn axpby(alpha: f32, x: &Tensor, beta: f32, y: &Tensor) -> Result<()> {
    if x.numel() != y.numel() {
        return Err(Error::input(format!(
            "axpby: x {:?} and y {:?} differ in size",
            x.shape(),
            y.shape()
        )));
    }
    let gpu = x.gpu();
    let n = x.numel();
    let (file, count, grid) = match by_fours(n) {
        true => (
            dak_wgsl_gen::elementwise_x4_path("axpby"),
            n / 4,
            grid_1d_64(n / 4),
        ),
        false => ("elementwise/axpby.wgsl".to_string(), n, grid_1d(n)),
    };
    let p = Four {
        a: count as u32,
        b: f(alpha),
        c: f(beta),
        d: 0,
    };
    gpu.dispatch(
        &file,
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), y.binding()],
        grid,
    )
}

/// `alpha·x` as a new tensor (gradient reversal uses it with alpha = -lambda).
pub fn scale(x: &Tensor, alpha: f32) -> Result<Tensor> {
    let y = Tensor::uninit(x.gpu(), x.shape(), DType::F32)?;
    axpby(alpha, x, 0.0, &y)?;
    Ok(y)
}

/// `y ← y + x` (fan-in gradient accumulation).
pub fn accumulate(y: &Tensor, x: &Tensor) -> Result<()> {
    axpby(1.0, x, 1.0, y)
}

/// Inverted dropout with a mask that is a pure function of (seed, index). Backward is the
/// same call on the upstream gradient with the same seed and rate.
pub fn dropout(x: &Tensor, rate: f32, seed: u32) -> Result<Tensor> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::input(format!(
            "dropout: rate {rate} must be in [0, 1)"
        )));
    }
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape(), DType::F32)?;
    let p = Four {
        a: x.numel() as u32,
        b: seed,
        c: f(rate),
        d: 0,
    };
    gpu.dispatch(
        "elementwise/dropout.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), y.binding()],
        grid_1d(x.numel()),
    )?;
    Ok(y)
}

/// Plain-Rust oracles.
pub mod reference {
    /// Shapes of the per-channel kernels (bias_act, bias_grad, relu_grad): channels at dim 1.
    pub const SHAPES: &[&[usize]] = &[
        &[7],
        &[1, 1],
        &[3, 5],
        &[3, 7],
        &[31, 33],
        &[2, 3, 5, 7],
        &[1, 3, 1, 1],
        &[65, 129],
        &[3, 7, 40, 41], // past two rows of a texture mirror (16,384 values per row on lavapipe)
    ];
    /// Flat lengths: odd ones (one past a workgroup of 256, and a small one), and multiples of
    /// 4 (the `_x4` kernels: one past a workgroup of 64 vec4s, and two vec4s).
    pub const LENGTHS: &[usize] = &[1001, 7, 1028, 8];

    /// `a + b`, then ReLU if `relu`.
    pub fn add(a: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
        a.iter()
            .zip(b)
            .map(|(x, y)| if relu { (x + y).max(0.0) } else { x + y })
            .collect()
    }

    /// `act(x + bias[(i / inner) % channels])`.
    pub fn bias_act(
        x: &[f32],
        bias: Option<&[f32]>,
        channels: usize,
        inner: usize,
        relu: bool,
    ) -> Vec<f32> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let v = v + bias.map_or(0.0, |b| b[(i / inner) % channels]);
                if relu {
                    v.max(0.0)
                } else {
                    v
                }
            })
            .collect()
    }

    /// `db[c] = Σ dy` over channel `c` of an (outer, channels, inner) layout.
    pub fn bias_grad(dy: &[f32], outer: usize, channels: usize, inner: usize) -> Vec<f32> {
        (0..channels)
            .map(|c| {
                let mut acc = 0f64;
                for o in 0..outer {
                    for r in 0..inner {
                        acc += dy[(o * channels + c) * inner + r] as f64;
                    }
                }
                acc as f32
            })
            .collect()
    }

    /// `dx = dy` where `y > 0`, else 0.
    pub fn relu_grad(dy: &[f32], y: &[f32]) -> Vec<f32> {
        dy.iter()
            .zip(y)
            .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
            .collect()
    }

    /// The dropout mask hash, identical to the shader's.
    pub fn dropout_keep(i: u32, seed: u32, rate: f32) -> bool {
        fn mix(v: u32) -> u32 {
            let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
            let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
            (w >> 22) ^ w
        }
        let u = (mix(i ^ mix(seed)) >> 8) as f32 / 16_777_216.0;
        u >= rate
    }

    /// Inverted dropout with the kernel's hash of (`seed`, index).
    pub fn dropout(x: &[f32], rate: f32, seed: u32) -> Vec<f32> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                if dropout_keep(i as u32, seed, rate) {
                    v / (1.0 - rate)
                } else {
                    0.0
                }
            })
            .collect()
    }
}
