//! The packed operands of the texture variant (`texture.rs`): how an activation is laid into
//! the zero-padded NHWC texture ([`Placement`]), the textures themselves, and the r32float
//! mirrors of storage buffers that the packing kernels read.

use super::Geometry;
use crate::error::Result;
use crate::gpu::{Gpu, GpuTexture, Mirror};
use crate::tensor::Tensor;

/// How an activation is laid into the padded NHWC texture: source `[n, c, h, w]`, padded size
/// `hp` x `wp`, offset (`top`, `left`), one source row/column every `step` texture rows/columns.
#[derive(Clone, Copy)]
pub(super) struct Placement {
    pub(super) src: [usize; 4],
    pub(super) hp: usize,
    pub(super) wp: usize,
    pub(super) top: usize,
    pub(super) left: usize,
    pub(super) step: (usize, usize),
}

impl Placement {
    pub(super) fn c4(&self) -> usize {
        self.src[1].div_ceil(4)
    }
    pub(super) fn size(&self) -> (usize, usize) {
        (self.wp * self.c4(), self.src[0] * self.hp)
    }
    /// Whether the packing grid (images x channel quads on one axis) is within dispatch limits.
    pub(super) fn grid_fits(&self) -> bool {
        self.src[0] * self.c4() <= 65535
    }
    /// The input of the forward pass and the weight gradient.
    pub(super) fn input(g: &Geometry) -> Placement {
        let (ph, pw) = g.spec.padding;
        Placement {
            src: g.x_shape(),
            hp: g.h + 2 * ph,
            wp: g.w + 2 * pw,
            top: ph,
            left: pw,
            step: (1, 1),
        }
    }
    /// dY for the input gradient: dilated by the stride, padded by k-1-p, sized so that a
    /// stride-1 convolution yields H x W.
    pub(super) fn output_grad(g: &Geometry) -> Option<Placement> {
        let (ph, pw) = g.spec.padding;
        (ph < g.kh && pw < g.kw).then(|| Placement {
            src: g.y_shape(),
            hp: g.h + g.kh - 1,
            wp: g.w + g.kw - 1,
            top: g.kh - 1 - ph,
            left: g.kw - 1 - pw,
            step: g.spec.stride,
        })
    }
}

/// The r32float mirror of `t` that a packing kernel reads (the caller checked it fits).
pub(super) fn mirror(t: &Tensor, what: &str) -> Result<Mirror> {
    t.gpu().mirror(t.buffer(), t.numel(), what)?.ok_or_else(|| {
        crate::error::Error::gpu(format!("{what}: {:?} does not fit a texture", t.shape()))
    })
}

/// An rgba32float texture of `w` x `h` texels.
pub(super) fn texture(gpu: &Gpu, (w, h): (usize, usize), what: &str) -> Result<GpuTexture> {
    gpu.texture(w as u32, h as u32, what)
}
