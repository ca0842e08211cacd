//! Ops: one file per op family, each with its GPU launch code (forward and backward) and a
//! plain-Rust `reference` module (f32 data, f64 accumulation) that serves as the oracle.
pub mod bce;
pub mod conv2d;
pub mod elementwise;
pub mod matmul;
pub mod optim;
pub mod pool;
pub mod softmax_xent;

/// Workgroups for one invocation per element at 256 per workgroup, spread over a 2-D grid so
/// that more than 65535 workgroups fit (shaders flatten with `num_workgroups.x`).
pub(crate) fn grid_1d(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(256).max(1);
    let x = groups.min(65535);
    [x as u32, groups.div_ceil(x) as u32, 1]
}
