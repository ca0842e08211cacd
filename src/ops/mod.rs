//! Ops: one file per op family, each with its GPU launch code (forward and backward) and a
//! plain-Rust `reference` module (f32 data, f64 accumulation) that serves as the oracle.
pub mod batch_norm;
pub mod bce;
pub mod centroids;
pub mod complement_xent;
pub mod confusion;
pub mod conv2d;
pub mod elementwise;
pub mod info_max;
pub mod matmul;
pub mod mmd;
pub mod mul_const;
pub mod optim;
pub mod outer;
pub mod pool;
pub mod pool_relu;
pub mod prob;
pub mod softmax_xent;
pub mod watch;
pub mod weight_norm;

/// Workgroups for one invocation per element at 256 per workgroup, spread over a 2-D grid so
/// that more than 65535 workgroups fit (shaders flatten with `num_workgroups.x`).
pub(crate) fn grid_1d(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(256).max(1);
    let x = groups.min(65535);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

/// Workgroups of 64 for `n` invocations on a 2-D grid (flattened with `num_workgroups.x`).
pub(crate) fn grid_1d_64(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(64).max(1);
    let x = groups.min(65535);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

/// Texture copies of a kernel's input buffers for its `MIRROR` override: on CPU adapters
/// (llvmpipe compiles every storage load into a per-lane loop, a texel fetch is vectorised)
/// each input is copied into an r32float mirror ([`crate::gpu::Gpu::mirror`]) and the kernel
/// reads those; elsewhere, or when one does not fit, the kernel reads its storage bindings and
/// the texture bindings are 1x1 dummies.
pub(crate) struct Mirrors {
    /// One texture per input, in order: the mirror or a dummy.
    pub textures: Vec<crate::gpu::GpuTexture>,
    /// log2 of the mirrors' width (the kernel's `shift` uniform).
    pub shift: u32,
    /// The value of the kernel's `MIRROR` override.
    pub on: bool,
}

impl Mirrors {
    pub(crate) fn of(inputs: &[&crate::tensor::Tensor]) -> crate::error::Result<Mirrors> {
        let gpu = inputs[0].gpu();
        let on = gpu.cpu_paths() && inputs.iter().all(|t| gpu.can_mirror(t.numel()));
        let mut textures = Vec::with_capacity(inputs.len());
        let mut shift = 0;
        for t in inputs {
            match on {
                true => {
                    let m = gpu
                        .mirror(t.buffer(), t.numel(), "kernel input")?
                        .ok_or_else(|| {
                            crate::error::Error::gpu(format!(
                                "{:?} does not fit a texture",
                                t.shape()
                            ))
                        })?;
                    shift = m.shift;
                    textures.push(m.texture);
                }
                false => textures.push(gpu.texture_r32(1, 1, "unused mirror")?),
            }
        }
        Ok(Mirrors {
            textures,
            shift,
            on,
        })
    }

    /// The `MIRROR` override constant.
    pub(crate) fn constant(&self) -> (&'static str, f64) {
        ("MIRROR", if self.on { 1.0 } else { 0.0 })
    }

    /// A kernel's bindings: its `buffers` (in binding order), then the mirror textures.
    pub(crate) fn after<'a>(
        &'a self,
        buffers: &[crate::gpu::Binding<'a>],
    ) -> Vec<crate::gpu::Binding<'a>> {
        let mirrors = self.textures.iter().map(crate::gpu::Binding::Texture);
        buffers.iter().copied().chain(mirrors).collect()
    }
}
