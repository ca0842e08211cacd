//! Pooling over NCHW tensors: 2-D max pooling (kernel k, stride s, no padding) that saves its
//! argmax for the backward pass, and global average pooling `[N, C, H, W] -> [N, C]`.
//! Flatten is a free reshape ([`Tensor::reshape`]).
//!
//! Max-pool backward gathers: each input element sums the gradients of the windows whose saved
//! argmax is that element, so overlapping windows (3x3 stride 2) need no atomics.

use super::grid_1d;
use crate::{DType, Error, Result, Tensor};

/// Shapes of one max-pool: input `[n, c, h, w]`, output `[n, c, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub oh: usize,
    pub ow: usize,
}

impl PoolGeometry {
    /// Check an NCHW input shape against a `k`x`k` window with stride `stride`.
    pub fn new(x_shape: &[usize], k: usize, stride: usize, op: &str) -> Result<PoolGeometry> {
        let [n, c, h, w] = match *x_shape {
            [a, b, c, d] => [a, b, c, d],
            _ => {
                return Err(Error::input(format!(
                    "{op}: input must be 4-D (NCHW), got shape {x_shape:?}"
                )))
            }
        };
        if k == 0 || stride == 0 {
            return Err(Error::input(format!(
                "{op}: kernel {k} and stride {stride} must be at least 1"
            )));
        }
        if x_shape.contains(&0) || k > h || k > w {
            return Err(Error::input(format!(
                "{op}: window {k}x{k} does not fit input {x_shape:?}: the output would be empty"
            )));
        }
        Ok(PoolGeometry {
            n,
            c,
            h,
            w,
            k,
            stride,
            oh: (h - k) / stride + 1,
            ow: (w - k) / stride + 1,
        })
    }
    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }
    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.oh, self.ow]
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        self.n * self.c * self.oh * self.ow
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolUniform {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    k: u32,
    s: u32,
    _pad: u32,
}

impl PoolUniform {
    fn new(g: &PoolGeometry) -> PoolUniform {
        PoolUniform {
            planes: (g.n * g.c) as u32,
            h: g.h as u32,
            w: g.w as u32,
            oh: g.oh as u32,
            ow: g.ow as u32,
            k: g.k as u32,
            s: g.stride as u32,
            _pad: 0,
        }
    }
}

/// Max pooling forward: returns Y `[N, C, oH, oW]` and the argmax `[N, C, oH, oW]` (u32, the
/// index `iy*W + ix` inside each input plane of the first maximum in row-major window order).
pub fn max_pool2d(x: &Tensor, k: usize, stride: usize) -> Result<(Tensor, Tensor)> {
    const OP: &str = "max_pool2d";
    let g = PoolGeometry::new(x.shape(), k, stride, OP)?;
    x.expect_dtype(DType::F32, OP)?;
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, &g.y_shape(), DType::F32)?;
    let arg = Tensor::uninit(gpu, &g.y_shape(), DType::U32)?;
    gpu.dispatch(
        "pool/max_fwd.wgsl",
        &[],
        bytemuck::bytes_of(&PoolUniform::new(&g)),
        &[x.binding(), y.binding(), arg.binding()],
        grid_1d(g.y_len()),
    )?;
    Ok((y, arg))
}

/// Max pooling backward: dX `[N, C, H, W]` (`x_shape`) from dY and the saved argmax.
pub fn max_pool2d_backward(
    dy: &Tensor,
    argmax: &Tensor,
    x_shape: &[usize],
    k: usize,
    stride: usize,
) -> Result<Tensor> {
    const OP: &str = "max_pool2d backward";
    let g = PoolGeometry::new(x_shape, k, stride, OP)?;
    dy.expect_dtype(DType::F32, OP)?;
    argmax.expect_dtype(DType::U32, OP)?;
    dy.expect_shape(&g.y_shape(), OP, "output gradient")?;
    argmax.expect_shape(&g.y_shape(), OP, "argmax")?;
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, &g.x_shape(), DType::F32)?;
    gpu.dispatch(
        "pool/max_bwd.wgsl",
        &[],
        bytemuck::bytes_of(&PoolUniform::new(&g)),
        &[dy.binding(), argmax.binding(), dx.binding()],
        grid_1d(g.x_len()),
    )?;
    Ok(dx)
}

fn nchw(shape: &[usize], op: &str) -> Result<(usize, usize)> {
    match *shape {
        [n, c, h, w] => Ok((n * c, h * w)),
        _ => Err(Error::input(format!(
            "{op}: input must be 4-D (NCHW), got shape {shape:?}"
        ))),
    }
}

/// Global average pooling `[N, C, H, W] -> [N, C]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    const OP: &str = "global_avg_pool";
    let (planes, hw) = nchw(x.shape(), OP)?;
    x.expect_dtype(DType::F32, OP)?;
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, &x.shape()[..2], DType::F32)?;
    let u = [planes as u32, hw as u32, 0, 0];
    gpu.dispatch(
        "pool/gap_fwd.wgsl",
        &[],
        bytemuck::cast_slice(&u),
        &[x.binding(), y.binding()],
        grid_1d(planes),
    )?;
    Ok(y)
}

/// Global average pooling backward: dX `[N, C, H, W]` (`x_shape`) = dY `[N, C]` / (H·W).
pub fn global_avg_pool_backward(dy: &Tensor, x_shape: &[usize]) -> Result<Tensor> {
    const OP: &str = "global_avg_pool backward";
    let (planes, hw) = nchw(x_shape, OP)?;
    dy.expect_dtype(DType::F32, OP)?;
    dy.expect_shape(&x_shape[..2], OP, "output gradient")?;
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, x_shape, DType::F32)?;
    let u = [planes as u32, hw as u32, 0, 0];
    gpu.dispatch(
        "pool/gap_bwd.wgsl",
        &[],
        bytemuck::cast_slice(&u),
        &[dy.binding(), dx.binding()],
        grid_1d(planes * hw),
    )?;
    Ok(dx)
}

/// Plain-Rust oracles.
pub mod reference {
    use super::PoolGeometry;

    /// Max pooling: (Y, argmax as `iy*W + ix` of the first maximum in the window).
    pub fn max_pool2d(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        let mut y = Vec::with_capacity(g.y_len());
        let mut arg = Vec::with_capacity(g.y_len());
        for plane in 0..g.n * g.c {
            let xp = &x[plane * g.h * g.w..(plane + 1) * g.h * g.w];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut best_at = oy * g.stride * g.w + ox * g.stride;
                    for dy in 0..g.k {
                        for dx in 0..g.k {
                            let at = (oy * g.stride + dy) * g.w + ox * g.stride + dx;
                            if xp[at] > xp[best_at] {
                                best_at = at;
                            }
                        }
                    }
                    y.push(xp[best_at]);
                    arg.push(best_at as u32);
                }
            }
        }
        (y, arg)
    }

    /// Max pooling backward: each output's gradient goes to its argmax (summed where windows
    /// overlap).
    pub fn max_pool2d_backward(g: &PoolGeometry, dy: &[f32], arg: &[u32]) -> Vec<f32> {
        let mut dx = vec![0f64; g.x_len()];
        let plane_out = g.oh * g.ow;
        for (o, (&d, &a)) in dy.iter().zip(arg).enumerate() {
            dx[(o / plane_out) * g.h * g.w + a as usize] += d as f64;
        }
        dx.into_iter().map(|v| v as f32).collect()
    }

    /// Global average pooling over planes of `hw` elements.
    pub fn global_avg_pool(x: &[f32], hw: usize) -> Vec<f32> {
        x.chunks(hw)
            .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / hw as f64) as f32)
            .collect()
    }

    pub fn global_avg_pool_backward(dy: &[f32], hw: usize) -> Vec<f32> {
        dy.iter()
            .flat_map(|&d| std::iter::repeat_n((d as f64 / hw as f64) as f32, hw))
            .collect()
    }
}
