//! The sizes of a convolution: stride and padding ([`Spec`]) and every checked dimension
//! ([`Geometry`]), with the errors that name the layer when a shape does not fit.

use crate::error::{Error, Result};

/// Stride and zero padding of a convolution (dilation is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spec {
    /// (vertical, horizontal) stride, both at least 1.
    pub stride: (usize, usize),
    /// (vertical, horizontal) zero padding on each side.
    pub padding: (usize, usize),
}

impl Spec {
    /// The same stride and padding in both directions.
    pub const fn new(stride: usize, padding: usize) -> Spec {
        Spec {
            stride: (stride, stride),
            padding: (padding, padding),
        }
    }
}

/// Every size of one convolution, checked: input `[n, ci, h, w]`, weight `[co, ci, kh, kw]`,
/// output `[n, co, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub ci: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub co: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Stride and padding.
    pub spec: Spec,
}

fn dims4(shape: &[usize], op: &str, name: &str) -> Result<[usize; 4]> {
    match *shape {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(Error::input(format!(
            "{op}: {name} must be 4-D, got shape {shape:?}"
        ))),
    }
}

impl Geometry {
    /// Check an input shape `[N, Ci, H, W]` against a weight shape `[Co, Ci, kH, kW]` and a
    /// spec; `op` names the operation in the error message.
    pub fn new(x_shape: &[usize], w_shape: &[usize], spec: Spec, op: &str) -> Result<Geometry> {
        let [n, ci, h, w] = dims4(x_shape, op, "input (NCHW)")?;
        let [co, wci, kh, kw] = dims4(w_shape, op, "weight (OIHW)")?;
        if x_shape.contains(&0) || w_shape.contains(&0) {
            return Err(Error::input(format!(
                "{op}: zero-sized input {x_shape:?} or weight {w_shape:?}"
            )));
        }
        if wci != ci {
            return Err(Error::input(format!(
                "{op}: input {x_shape:?} has {ci} channels but weight {w_shape:?} expects {wci}"
            )));
        }
        let (sh, sw) = spec.stride;
        let (ph, pw) = spec.padding;
        if sh == 0 || sw == 0 {
            return Err(Error::input(format!(
                "{op}: stride {sh}x{sw} must be at least 1"
            )));
        }
        if kh > h + 2 * ph || kw > w + 2 * pw {
            return Err(Error::input(format!(
                "{op}: kernel {kh}x{kw} is larger than the padded input {}x{} (input {x_shape:?}, padding {ph}x{pw}): the output would be empty",
                h + 2 * ph,
                w + 2 * pw
            )));
        }
        let g = Geometry {
            n,
            ci,
            h,
            w,
            co,
            kh,
            kw,
            oh: (h + 2 * ph - kh) / sh + 1,
            ow: (w + 2 * pw - kw) / sw + 1,
            spec,
        };
        let biggest = [g.x_len(), g.y_len(), g.w_len()]
            .into_iter()
            .max()
            .unwrap_or(0);
        if biggest >= u32::MAX as usize / 2 {
            return Err(Error::input(format!(
                "{op}: input {x_shape:?} with weight {w_shape:?} is too large for 32-bit indexing"
            )));
        }
        Ok(g)
    }

    /// Input shape [N, Ci, H, W].
    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.ci, self.h, self.w]
    }
    /// Weight shape [Co, Ci, kH, kW].
    pub fn w_shape(&self) -> [usize; 4] {
        [self.co, self.ci, self.kh, self.kw]
    }
    /// Output shape [N, Co, oH, oW].
    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.co, self.oh, self.ow]
    }
    /// Input elements.
    pub fn x_len(&self) -> usize {
        self.n * self.ci * self.h * self.w
    }
    /// Weight elements.
    pub fn w_len(&self) -> usize {
        self.co * self.ci * self.kh * self.kw
    }
    /// Output elements.
    pub fn y_len(&self) -> usize {
        self.n * self.co * self.oh * self.ow
    }
    /// Floating-point operations of one pass (forward, dgrad and wgrad all do the same work).
    pub fn flops(&self) -> f64 {
        2.0 * self.y_len() as f64 * (self.ci * self.kh * self.kw) as f64
    }
    /// A short label, e.g. `32x64x32x32 -> 64 k3x3 s1 p1`.
    pub fn label(&self) -> String {
        format!(
            "{}x{}x{}x{} -> {} k{}x{} s{} p{}",
            self.n,
            self.ci,
            self.h,
            self.w,
            self.co,
            self.kh,
            self.kw,
            self.spec.stride.0,
            self.spec.padding.0
        )
    }
}
