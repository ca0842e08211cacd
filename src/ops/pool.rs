//! Pooling over NCHW tensors: 2-D max pooling (kernel k, stride s, no padding) that saves its
//! argmax for the backward pass, and global average pooling `[N, C, H, W] -> [N, C]`.
//! Flatten is a free reshape ([`Tensor::reshape`]).
//!
//! Max-pool backward gathers: each input element sums the gradients of the windows whose saved
//! argmax is that element, so overlapping windows (3x3 stride 2) need no atomics.

use super::{grid_1d, grid_1d_64};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// Shapes of one max-pool: input `[n, c, h, w]`, output `[n, c, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side (padded positions never win the max, as PyTorch pads with −∞).
    pub pad: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl PoolGeometry {
    /// Check an NCHW input shape against a `k`x`k` window with stride `stride`.
    pub fn new(x_shape: &[usize], k: usize, stride: usize, op: &str) -> Result<PoolGeometry> {
        Self::padded(x_shape, k, stride, 0, op)
    }

    /// The same with `pad` rows and columns of padding on every side (at most `k / 2`, as
    /// PyTorch requires, so every window holds an input element): ResNet's 3x3/2 stem pool
    /// pads 1.
    pub fn padded(
        x_shape: &[usize],
        k: usize,
        stride: usize,
        pad: usize,
        op: &str,
    ) -> Result<PoolGeometry> {
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
        if pad > k / 2 {
            return Err(Error::input(format!(
                "{op}: padding {pad} is more than half the {k}x{k} window; use at most {}",
                k / 2
            )));
        }
        if x_shape.contains(&0) || k > h + 2 * pad || k > w + 2 * pad {
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
            pad,
            oh: (h + 2 * pad - k) / stride + 1,
            ow: (w + 2 * pad - k) / stride + 1,
        })
    }
    /// Input shape [N, C, H, W].
    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }
    /// Output shape [N, C, oH, oW].
    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.oh, self.ow]
    }
    /// Input elements.
    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    /// Output elements.
    pub fn y_len(&self) -> usize {
        self.n * self.c * self.oh * self.ow
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct PoolUniform {
    /// First plane of this dispatch (planes beyond the per-dimension workgroup limit are split).
    pub(super) plane0: u32,
    /// Planes in this dispatch.
    pub(super) planes: u32,
    /// 1: one flat index over all planes (small planes), 0: planes on the grid's y axis.
    pub(super) flat: u32,
    /// log2 of the mirror width (kernels with a `MIRROR` override).
    pub(super) shift: u32,
    pub(super) h: u32,
    pub(super) w: u32,
    pub(super) oh: u32,
    pub(super) ow: u32,
    pub(super) k: u32,
    pub(super) s: u32,
    /// Padding (kernels that take no padding see 0).
    pub(super) pad: u32,
    pub(super) _a: u32,
}

impl PoolUniform {
    pub(super) fn new(g: &PoolGeometry) -> PoolUniform {
        PoolUniform {
            plane0: 0,
            planes: 0,
            flat: 0,
            shift: 0,
            h: g.h as u32,
            w: g.w as u32,
            oh: g.oh as u32,
            ow: g.ow as u32,
            k: g.k as u32,
            s: g.stride as u32,
            pad: g.pad as u32,
            _a: 0,
        }
    }
}

/// Dispatch `file` over `planes` planes of `per_plane` invocations each, in workgroups of 64.
/// Planes of 32 or more invocations go on the grid's y axis so kernels need no per-element
/// division (integer division is slow on CPU adapters), in chunks of at most the device's
/// per-dimension workgroup limit; smaller planes use one flat index (one division) so lanes are
/// not left idle. `uniform(plane0, planes, flat)` gives each dispatch's uniform bytes.
pub(super) fn per_plane(
    gpu: &crate::gpu::Gpu,
    file: &str,
    constants: &[(&str, f64)],
    uniform: impl Fn(u32, u32, u32) -> Vec<u8>,
    bindings: &[crate::gpu::Binding<'_>],
    per_plane: usize,
    planes: usize,
) -> Result<()> {
    if per_plane < 32 {
        let u = uniform(0, planes as u32, 1);
        return gpu.dispatch(
            file,
            constants,
            &u,
            bindings,
            grid_1d_64(per_plane * planes),
        );
    }
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let mut plane0 = 0;
    while plane0 < planes {
        let count = (planes - plane0).min(max);
        let groups = [per_plane.div_ceil(64) as u32, count as u32, 1];
        let u = uniform(plane0 as u32, count as u32, 0);
        gpu.dispatch(file, constants, &u, bindings, groups)?;
        plane0 += count;
    }
    Ok(())
}

/// Max pooling forward: returns Y `[N, C, oH, oW]` and the argmax `[N, C, oH, oW]` (u32, the
/// index `iy*W + ix` inside each input plane of the first maximum in row-major window order).
pub fn max_pool2d(x: &Tensor, k: usize, stride: usize) -> Result<(Tensor, Tensor)> {
    max_pool2d_padded(x, k, stride, 0)
}

/// [`max_pool2d`] with `pad` rows and columns of −∞ around each plane (argmax indices stay
/// inside the input plane).
pub fn max_pool2d_padded(
    x: &Tensor,
    k: usize,
    stride: usize,
    pad: usize,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "max_pool2d";
    let g = PoolGeometry::padded(x.shape(), k, stride, pad, OP)?;
    x.expect_dtype(DType::F32, OP)?;
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, &g.y_shape(), DType::F32)?;
    let arg = Tensor::uninit(gpu, &g.y_shape(), DType::U32)?;
    let m = super::Mirrors::of(&[x])?;
    let u = PoolUniform {
        shift: m.shift,
        ..PoolUniform::new(&g)
    };
    let bindings = m.after(&[x.binding(), y.binding(), arg.binding()]);
    per_plane(
        gpu,
        "pool/max_fwd.wgsl",
        &[m.constant()],
        |plane0, planes, flat| {
            bytemuck::bytes_of(&PoolUniform {
                plane0,
                planes,
                flat,
                ..u
            })
            .to_vec()
        },
        &bindings,
        g.oh * g.ow,
        g.n * g.c,
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
    max_pool2d_backward_padded(dy, argmax, x_shape, k, stride, 0)
}

/// [`max_pool2d_backward`] of [`max_pool2d_padded`].
pub fn max_pool2d_backward_padded(
    dy: &Tensor,
    argmax: &Tensor,
    x_shape: &[usize],
    k: usize,
    stride: usize,
    pad: usize,
) -> Result<Tensor> {
    const OP: &str = "max_pool2d backward";
    let g = PoolGeometry::padded(x_shape, k, stride, pad, OP)?;
    dy.expect_dtype(DType::F32, OP)?;
    argmax.expect_dtype(DType::U32, OP)?;
    dy.expect_shape(&g.y_shape(), OP, "output gradient")?;
    argmax.expect_shape(&g.y_shape(), OP, "argmax")?;
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, &g.x_shape(), DType::F32)?;
    let u = PoolUniform::new(&g);
    let uniform = |plane0, planes, flat| {
        bytemuck::bytes_of(&PoolUniform {
            plane0,
            planes,
            flat,
            ..u
        })
        .to_vec()
    };
    let bindings = [dy.binding(), argmax.binding(), dx.binding()];
    if k <= stride && pad == 0 {
        // Non-overlapping windows: each output scatters its window. Zero what no window covers.
        // (The scatter kernel's windows start at the plane's origin: padded pools gather.)
        if k < stride || g.oh * k != g.h || g.ow * k != g.w {
            gpu.zero(dx.buffer());
        }
        per_plane(
            gpu,
            "pool/max_bwd_scatter.wgsl",
            &[],
            uniform,
            &bindings,
            g.oh * g.ow,
            g.n * g.c,
        )?;
    } else {
        per_plane(
            gpu,
            "pool/max_bwd.wgsl",
            &[],
            uniform,
            &bindings,
            g.h * g.w,
            g.n * g.c,
        )?;
    }
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
    per_plane(
        gpu,
        "pool/gap_bwd.wgsl",
        &[],
        |plane0, planes, flat| {
            bytemuck::cast_slice(&[plane0, planes, flat, 0, hw as u32, 0, 0, 0, 0, 0, 0, 0])
                .to_vec()
        },
        &[dy.binding(), dx.binding()],
        hw,
        planes,
    )?;
    Ok(dx)
}

/// Plain-Rust oracles, and the shapes every harness checks the pooling kernels on (the one
/// list each that `tests/it/ops/pool.rs`, `tests/it/ops/conv2d/pooled.rs` and `dak kernels check pool` run).
pub mod reference {
    use super::PoolGeometry;
    use crate::error::Result;

    /// One max pooling: input `[n, c, h, w]`, a `k`x`k` window, stride and padding.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MaxCase {
        /// Input shape `[n, c, h, w]`.
        pub shape: [usize; 4],
        /// Window side.
        pub k: usize,
        /// Stride.
        pub stride: usize,
        /// Padding on every side.
        pub pad: usize,
    }

    impl MaxCase {
        /// The checked geometry; `op` names the caller in an error.
        pub fn geometry(&self, op: &str) -> Result<PoolGeometry> {
            PoolGeometry::padded(&self.shape, self.k, self.stride, self.pad, op)
        }
    }

    const fn max(shape: [usize; 4], k: usize, stride: usize, pad: usize) -> MaxCase {
        MaxCase {
            shape,
            k,
            stride,
            pad,
        }
    }

    /// Max pooling (forward with argmax, backward through it); (shape, k, stride, pad).
    pub const MAX_CASES: &[MaxCase] = &[
        // Unpadded: non-overlapping, overlapping 3x3/2, stride 1, odd sizes, window = input.
        max([2, 3, 8, 8], 2, 2, 0),
        max([1, 2, 9, 7], 3, 2, 0),
        max([2, 1, 5, 6], 3, 1, 0),
        max([1, 4, 7, 5], 2, 3, 0),
        max([3, 2, 4, 4], 4, 1, 0),
        max([1, 1, 1, 1], 1, 1, 0),
        max([2, 3, 16, 12], 2, 2, 0), // planes large enough for the per-plane grid
        max([2, 2, 7, 9], 2, 2, 0), // non-overlapping windows that leave the last row and column out
        max([3, 5, 48, 50], 2, 2, 0), // past two rows of a texture mirror (16,384 values per row)
        max([1, 3, 7, 9], 2, 2, 0), // a partial last window (odd sizes)
        max([2, 3, 17, 15], 3, 2, 0), // overlapping 3x3/2 on a plane for the per-plane grid
        max([1, 3, 16, 18], 2, 2, 0), // an exact 2x2/2 tiling of a large plane
        // Padded: ResNet's stem 3/2/1 on odd and even sizes, batch 1, 3 channels, a window that
        // is mostly padding at the corners, and stride 1 with padding 1 (overlap).
        max([1, 3, 9, 7], 3, 2, 1),
        max([2, 2, 8, 8], 3, 2, 1),
        max([1, 1, 2, 3], 3, 2, 1),
        max([2, 3, 5, 6], 3, 1, 1),
        max([1, 2, 7, 7], 2, 2, 1),
        max([2, 4, 16, 12], 3, 2, 1), // per-plane grid
        max([1, 3, 11, 9], 3, 2, 1),
    ];

    /// The backward of ReLU then max pooling (windows that do not overlap); ([n, c, h, w], k,
    /// stride): odd sides, an exact tiling, windows with gaps (k < s); and shapes the vec4
    /// kernel takes: batch 1 with C = 3, W = 4, the digits layers' 24x24 and 8x8.
    pub const RELU_CASES: &[([usize; 4], usize, usize)] = &[
        ([1, 3, 7, 9], 2, 2),
        ([2, 5, 16, 18], 2, 2),
        ([1, 3, 10, 11], 2, 3),
        ([1, 3, 2, 4], 2, 2),
        ([3, 5, 6, 12], 2, 2),
        ([2, 7, 24, 24], 2, 2),
        ([5, 3, 8, 8], 2, 2),
    ];

    /// Global average pooling inputs: planes of 35 (the per-plane grid), 9 (flat index), one
    /// element, and 2.
    pub const GAP_CASES: &[[usize; 4]] = &[
        [1, 3, 5, 7],
        [2, 3, 3, 3],
        [2, 3, 5, 7],
        [1, 1, 1, 1],
        [3, 8, 1, 2],
    ];

    /// Max pooling: (Y, argmax as `iy*W + ix` of the first maximum in the window).
    pub fn max_pool2d(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        let mut y = Vec::with_capacity(g.y_len());
        let mut arg = Vec::with_capacity(g.y_len());
        for plane in 0..g.n * g.c {
            let xp = &x[plane * g.h * g.w..(plane + 1) * g.h * g.w];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    // The first maximum among the window's positions inside the plane.
                    let mut best_at: Option<usize> = None;
                    for dy in 0..g.k {
                        for dx in 0..g.k {
                            let (iy, ix) = (oy * g.stride + dy, ox * g.stride + dx);
                            if iy < g.pad || ix < g.pad || iy - g.pad >= g.h || ix - g.pad >= g.w {
                                continue;
                            }
                            let at = (iy - g.pad) * g.w + ix - g.pad;
                            if best_at.is_none_or(|b| xp[at] > xp[b]) {
                                best_at = Some(at);
                            }
                        }
                    }
                    let best_at = best_at.expect("a window holds an input element");
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

    /// Backward of ReLU then max pooling: dY goes to the argmax where the pooled output
    /// `y` is positive.
    pub fn max_pool2d_relu_backward(
        g: &PoolGeometry,
        dy: &[f32],
        y: &[f32],
        arg: &[u32],
    ) -> Vec<f32> {
        let masked: Vec<f32> = dy
            .iter()
            .zip(y)
            .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
            .collect();
        max_pool2d_backward(g, &masked, arg)
    }

    /// Global average pooling over planes of `hw` elements.
    pub fn global_avg_pool(x: &[f32], hw: usize) -> Vec<f32> {
        x.chunks(hw)
            .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / hw as f64) as f32)
            .collect()
    }

    /// Gradient of global average pooling: `dy / hw` spread over each plane.
    pub fn global_avg_pool_backward(dy: &[f32], hw: usize) -> Vec<f32> {
        dy.iter()
            .flat_map(|&d| std::iter::repeat_n((d as f64 / hw as f64) as f32, hw))
            .collect()
    }
}
