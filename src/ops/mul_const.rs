//! The element-wise product `y = x ⊙ c` with a constant `c` of `x`'s shape, and its gradient
//! `dx = dy ⊙ c` (the constant gets none).

use super::grid_1d;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    len: u32,
    _a: [u32; 3],
}

/// `y = x ⊙ c` with a constant `c` of `x`'s shape.
pub fn mul_const(x: &Tensor, c: &Tensor) -> Result<Tensor> {
    launch(
        x,
        c,
        "elementwise/mul_const_fwd.wgsl",
        "product with a constant",
    )
}

/// Gradient of [`mul_const`] w.r.t. `x`: `dx = dy ⊙ c`.
pub fn mul_const_backward(dy: &Tensor, c: &Tensor) -> Result<Tensor> {
    launch(
        dy,
        c,
        "elementwise/mul_const_bwd.wgsl",
        "product with a constant backward",
    )
}

fn launch(x: &Tensor, c: &Tensor, file: &str, op: &str) -> Result<Tensor> {
    x.expect_dtype(DType::F32, op)?;
    c.expect_dtype(DType::F32, op)?;
    c.expect_shape(x.shape(), op, "constant")?;
    if x.numel() == 0 {
        return Err(Error::input(format!("{op}: empty input")));
    }
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape(), DType::F32)?;
    let p = P {
        len: x.numel() as u32,
        _a: [0; 3],
    };
    gpu.dispatch(
        file,
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), c.binding(), y.binding()],
        grid_1d(x.numel()),
    )?;
    Ok(y)
}

/// Plain-Rust oracle (f32 data, f64 products).
pub mod reference {
    /// (rows, cols) of the product with a constant: one short row, 3 x 1024, and a row longer than
    /// a workgroup's lanes.
    pub const SHAPES: &[(usize, usize)] = &[(1, 7), (3, 1024), (2, 4097)];

    /// `x ⊙ c` (also the backward, with `dy` for `x`).
    pub fn mul_const(x: &[f32], c: &[f32]) -> Vec<f32> {
        x.iter()
            .zip(c)
            .map(|(&a, &b)| (a as f64 * b as f64) as f32)
            .collect()
    }
}
