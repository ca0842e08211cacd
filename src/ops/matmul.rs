//! Matrix multiply in the three forms a dense layer needs, on one GEMM entry point:
//! `C[M,N] = op(A)·op(B) (+ bias) (ReLU)`, where op transposes by reading, never by copying.
//!
//! - forward  `Y = X·Wᵀ + b`  : A = X [B, in], B = W [out, in] read transposed
//! - backward `dX = dY·W`     : plain
//! - backward `dW = dYᵀ·X`    : A = dY [B, out] read transposed

use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, GpuTexture};
use crate::tensor::Tensor;
use std::sync::Arc;

/// GEMM kernel variants. Ids are stable: tests, `dak bench` and tuning caches use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// One invocation per output: the GPU-side oracle and fallback.
    Naive,
    /// Shared-memory 64x64 tiles, 4x4 per thread: the choice on real GPUs.
    Tiled,
    /// Subgroup-broadcast register blocking, 64x(8·subgroup) tiles, B from a storage buffer.
    Subgroup,
    /// The same with B packed into an rgba32float texture first: the choice on CPU adapters
    /// (texture reads are much cheaper than storage reads in llvmpipe).
    SubgroupTexture,
}

impl Variant {
    /// Every variant, oracle first.
    pub const ALL: [Variant; 4] = [
        Variant::Naive,
        Variant::Tiled,
        Variant::Subgroup,
        Variant::SubgroupTexture,
    ];

    /// The stable id, e.g. `matmul.tiled_64x64`.
    pub fn id(self) -> &'static str {
        match self {
            Variant::Naive => "matmul.naive",
            Variant::Tiled => "matmul.tiled_64x64",
            Variant::Subgroup => "matmul.sgbc_64x8sg",
            Variant::SubgroupTexture => "matmul.sgbc_tex_64x8sg",
        }
    }

    /// The variant with this id.
    pub fn from_id(id: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.id() == id)
    }

    /// Kernels one GEMM launches with this variant when neither operand's packing is cached (the
    /// texture variant packs both operands first; a packed operand is reused while its tensor is
    /// unchanged, see `pack`).
    pub fn dispatches(self) -> u64 {
        if self == Variant::SubgroupTexture {
            3
        } else {
            1
        }
    }

    /// Whether this variant can run on `gpu`.
    pub fn supported(self, gpu: &Gpu) -> bool {
        match self {
            Variant::Subgroup | Variant::SubgroupTexture => {
                gpu.has_subgroups() && matches!(gpu.subgroup_size(), 8 | 16)
            }
            _ => true,
        }
    }

    /// The default for an adapter: the `dak tune` winner when the tuning cache has one for
    /// this adapter (see [`crate::tune`]), else register blocking on CPU adapters (shared
    /// memory is slow there) and shared-memory tiling on real GPUs.
    pub fn default_for(gpu: &Gpu) -> Variant {
        if let Some(v) = Variant::tuned(gpu, "matmul") {
            return v;
        }
        Variant::rule_for(gpu)
    }

    /// The variant for one GEMM: the tuned winner of its shape bucket, else [`Self::default_for`].
    pub fn for_gemm(gpu: &Gpu, g: &Gemm) -> Variant {
        let flops = 2.0 * (g.m * g.n * g.k) as f64;
        Variant::tuned(gpu, &format!("matmul/{}", crate::tune::bucket(flops)))
            .unwrap_or_else(|| Variant::default_for(gpu))
    }

    /// The variant for the three GEMMs of a dense layer, which all have the same `flops`
    /// (2·batch·in·out): the tuned winner of their bucket, else [`Self::default_for`], except
    /// that on CPU adapters a layer under [`SMALL_DENSE_FLOPS`] runs the storage-buffer kernel:
    /// packing both operands costs two more dispatches, more than the texture reads save on a
    /// GEMM that small (the digits heads' 100 -> 100, -> 10, -> 1: 0.3-0.7 ms instead of 0.6-1.0).
    pub fn for_dense(gpu: &Gpu, flops: f64) -> Variant {
        if let Some(v) = Variant::tuned(gpu, &format!("matmul/{}", crate::tune::bucket(flops))) {
            return v;
        }
        match Variant::default_for(gpu) {
            Variant::SubgroupTexture
                if gpu.is_cpu()
                    && flops < SMALL_DENSE_FLOPS
                    && Variant::Subgroup.supported(gpu) =>
            {
                Variant::Subgroup
            }
            v => v,
        }
    }

    fn tuned(gpu: &Gpu, key: &str) -> Option<Variant> {
        crate::tune::choice(gpu, key)
            .and_then(Variant::from_id)
            .filter(|v| v.supported(gpu))
    }

    /// The built-in rule, without the tuning cache.
    pub fn rule_for(gpu: &Gpu) -> Variant {
        if gpu.is_cpu() && Variant::SubgroupTexture.supported(gpu) {
            Variant::SubgroupTexture
        } else {
            Variant::Tiled
        }
    }

    fn shader(self, gpu: &Gpu) -> (&'static str, usize, usize) {
        match self {
            Variant::Naive => ("matmul/naive.wgsl", 16, 16),
            Variant::Tiled => ("matmul/tiled.wgsl", 64, 64),
            Variant::Subgroup if gpu.subgroup_size() == 16 => ("matmul/sgbc_s16.wgsl", 128, 64),
            Variant::Subgroup => ("matmul/sgbc_s8.wgsl", 64, 64),
            Variant::SubgroupTexture if gpu.subgroup_size() == 16 => {
                ("matmul/sgbc_tex_s16.wgsl", 128, 64)
            }
            Variant::SubgroupTexture => ("matmul/sgbc_tex_s8.wgsl", 64, 64),
        }
    }
}

/// Dense layers below this many FLOPs per GEMM skip the texture packing on CPU adapters
/// ([`Variant::for_dense`]).
pub const SMALL_DENSE_FLOPS: f64 = 4e6;

/// Shapes and options of one GEMM call.
#[derive(Debug, Clone, Copy)]
pub struct Gemm {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Reduction length.
    pub k: usize,
    /// A is stored [K, M] and read transposed.
    pub trans_a: bool,
    /// B is stored [N, K] and read transposed.
    pub trans_b: bool,
    /// Apply ReLU to the output.
    pub relu: bool,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ShapeUniform {
    m: u32,
    n: u32,
    k: u32,
    /// bit 0: add bias, bit 1: ReLU.
    flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PackUniform {
    k: u32,
    n: u32,
    width: u32,
    height: u32,
    shift: u32,
    _pad: [u32; 3],
}

/// `C = op(A)·op(B) (+ bias) (ReLU)` into a new [M, N] tensor.
pub fn gemm(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: Gemm,
    variant: Variant,
) -> Result<Tensor> {
    let gpu = a.gpu();
    if a.numel() != g.m * g.k || b.numel() != g.k * g.n {
        return Err(Error::input(format!(
            "matmul: operands {:?} and {:?} do not match M={} N={} K={}",
            a.shape(),
            b.shape(),
            g.m,
            g.n,
            g.k
        )));
    }
    if let Some(bias) = bias {
        bias.expect_shape(&[g.n], "matmul", "bias")?;
    }
    if !variant.supported(gpu) {
        return Err(Error::input(format!(
            "{} is not supported on this adapter",
            variant.id()
        )));
    }
    let c = Tensor::uninit(gpu, &[g.m, g.n], crate::tensor::DType::F32)?;
    // A kernel always reads a bias binding; a dummy stands in when there is none.
    let dummy;
    let bias_t = match bias {
        Some(t) => t,
        None => {
            dummy = Tensor::uninit(gpu, &[1], crate::tensor::DType::F32)?;
            &dummy
        }
    };
    let mut variant = variant;
    let (_, tile_n, _) = variant.shader(gpu);
    let (tex_w, tex_h) = (
        (g.n.div_ceil(tile_n) * tile_n / 4) as u32,
        g.k.next_multiple_of(4) as u32,
    );
    let (a_w, a_h) = (g.k.div_ceil(4) as u32, g.m as u32);
    if variant == Variant::SubgroupTexture
        && (tex_w.max(tex_h).max(a_w).max(a_h) > gpu.max_texture_side()
            || !gpu.can_mirror(a.numel())
            || !gpu.can_mirror(b.numel()))
    {
        variant = Variant::Subgroup; // an operand does not fit one texture: read the buffers
    }
    let (file, tile_n, tile_m) = variant.shader(gpu);
    let flags = bias.is_some() as u32 | (g.relu as u32) << 1;
    let uniform = ShapeUniform {
        m: g.m as u32,
        n: g.n as u32,
        k: g.k as u32,
        flags,
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let grid = [g.n.div_ceil(tile_n) as u32, g.m.div_ceil(tile_m) as u32, 1];
    let ta = ("TRANS_A", flag(g.trans_a));
    let tb = ("TRANS_B", flag(g.trans_b));
    if variant == Variant::SubgroupTexture {
        // op(B) [K, N] as texels of 4 columns; op(A) [M, K] the same way with (rows, columns)
        // = (M, K): texels of 4 consecutive k, which is what a k-step of 4 reads per row.
        let b_tex = pack(b, (g.k, g.n), g.trans_b, (tex_w, tex_h), "matmul B operand")?;
        let a_tex = pack(a, (g.m, g.k), g.trans_a, (a_w, a_h), "matmul A operand")?;
        let bindings = [
            Binding::Texture(&a_tex),
            Binding::Texture(&b_tex),
            bias_t.binding(),
            c.binding(),
        ];
        gpu.dispatch(file, &[], bytemuck::bytes_of(&uniform), &bindings, grid)?;
    } else {
        let bindings = [a.binding(), b.binding(), bias_t.binding(), c.binding()];
        gpu.dispatch(
            file,
            &[ta, tb],
            bytemuck::bytes_of(&uniform),
            &bindings,
            grid,
        )?;
    }
    Ok(c)
}

/// [`pack_now`], reused while `t` is unchanged (`Gpu::derived_texture_budgeted`, within the
/// input-cache budget): a frozen or evaluated layer's weight is packed once, and operands that
/// several GEMMs share are packed once per step (a label head and a domain head read the same features in
/// their forwards and their weight gradients).
fn pack(
    t: &Tensor,
    (rows, cols): (usize, usize),
    trans: bool,
    (width, height): (u32, u32),
    what: &str,
) -> Result<Arc<GpuTexture>> {
    let tag = format!("matmul operand {rows}x{cols} trans={trans} in {width}x{height}");
    let bytes = 16 * u64::from(width) * u64::from(height); // rgba32float
    t.gpu()
        .derived_texture_budgeted(t.buffer(), &tag, bytes, || {
            pack_now(t, (rows, cols), trans, (width, height), what)
        })
}

/// Packs `op(t)` ([rows, cols], stored transposed when `trans`) into a `size` rgba32float texture
/// of 4 consecutive columns per texel, zero outside the matrix.
fn pack_now(
    t: &Tensor,
    (rows, cols): (usize, usize),
    trans: bool,
    (width, height): (u32, u32),
    what: &str,
) -> Result<GpuTexture> {
    let gpu = t.gpu();
    let tex = gpu.texture(width, height, what)?;
    let m = gpu
        .mirror(t.buffer(), t.numel(), what)?
        .ok_or_else(|| Error::gpu(format!("{what}: {:?} does not fit a texture", t.shape())))?;
    let uniform = PackUniform {
        k: rows as u32,
        n: cols as u32,
        width,
        height,
        shift: m.shift,
        _pad: [0; 3],
    };
    gpu.dispatch(
        "matmul/pack_b.wgsl",
        &[("TRANS_B", if trans { 1.0 } else { 0.0 })],
        bytemuck::bytes_of(&uniform),
        &[Binding::Texture(&m.texture), Binding::Texture(&tex)],
        if trans {
            [height.div_ceil(8), width.div_ceil(8), 1]
        } else {
            [width.div_ceil(8), height.div_ceil(8), 1]
        },
    )?;
    Ok(tex)
}

fn dims2(t: &Tensor, op: &str, name: &str) -> Result<(usize, usize)> {
    match t.shape() {
        [r, c] => Ok((*r, *c)),
        s => Err(Error::input(format!(
            "{op}: {name} must be 2-D, got shape {s:?}"
        ))),
    }
}

/// Dense forward `Y[B,out] = X[B,in]·W[out,in]ᵀ (+ b[out]) (ReLU)`.
pub fn dense_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    relu: bool,
    variant: Variant,
) -> Result<Tensor> {
    let (batch, inp) = dims2(x, "dense forward", "input")?;
    let (out, w_in) = dims2(w, "dense forward", "weight")?;
    if w_in != inp {
        return Err(Error::input(format!(
            "dense forward: input {:?} does not match weight {:?} (in features {inp} vs {w_in})",
            x.shape(),
            w.shape()
        )));
    }
    gemm(
        x,
        w,
        b,
        Gemm {
            m: batch,
            n: out,
            k: inp,
            trans_a: false,
            trans_b: true,
            relu,
        },
        variant,
    )
}

/// Dense input gradient `dX[B,in] = dY[B,out]·W[out,in]`.
pub fn dense_backward_input(dy: &Tensor, w: &Tensor, variant: Variant) -> Result<Tensor> {
    let (batch, out) = dims2(dy, "dense backward", "output gradient")?;
    let (w_out, inp) = dims2(w, "dense backward", "weight")?;
    if w_out != out {
        return Err(Error::input(format!(
            "dense backward: output gradient {:?} does not match weight {:?}",
            dy.shape(),
            w.shape()
        )));
    }
    gemm(
        dy,
        w,
        None,
        Gemm {
            m: batch,
            n: inp,
            k: out,
            trans_a: false,
            trans_b: false,
            relu: false,
        },
        variant,
    )
}

/// Dense weight gradient `dW[out,in] = dY[B,out]ᵀ·X[B,in]`.
pub fn dense_backward_weight(dy: &Tensor, x: &Tensor, variant: Variant) -> Result<Tensor> {
    let (batch, out) = dims2(dy, "dense weight gradient", "output gradient")?;
    let (x_batch, inp) = dims2(x, "dense weight gradient", "input")?;
    if x_batch != batch {
        return Err(Error::input(format!(
            "dense weight gradient: output gradient {:?} and input {:?} differ in batch size",
            dy.shape(),
            x.shape()
        )));
    }
    gemm(
        dy,
        x,
        None,
        Gemm {
            m: out,
            n: inp,
            k: batch,
            trans_a: true,
            trans_b: false,
            relu: false,
        },
        variant,
    )
}

/// The GEMM's oracle (f32 data, f64 accumulation) and the shapes every harness checks its
/// kernels on. [`reference::gemm_at`] is the exact value of one output element; [`reference::gemm`]
/// is it at every element. The tests and `dak kernels check` compare whole outputs on the tiny
/// [`reference::CASES`]; `dak bench` samples `gemm_at` on its large shapes.
pub mod reference {
    use super::Gemm;

    /// One GEMM the kernels are checked on: the call and whether it adds a bias.
    #[derive(Debug, Clone, Copy)]
    pub struct Case {
        /// Shapes, operand forms and ReLU.
        pub gemm: Gemm,
        /// Add a bias row.
        pub bias: bool,
    }

    /// (trans_a, trans_b): the three forms a dense layer uses.
    type Form = (bool, bool);
    /// Plain: the input gradient `dY·W`.
    const NN: Form = (false, false);
    /// B read transposed: the forward `X·Wᵀ`.
    const NT: Form = (false, true);
    /// A read transposed: the weight gradient `dYᵀ·X`.
    const TN: Form = (true, false);

    const fn case(m: usize, n: usize, k: usize, form: Form, bias: bool, relu: bool) -> Case {
        Case {
            gemm: Gemm {
                m,
                n,
                k,
                trans_a: form.0,
                trans_b: form.1,
                relu,
            },
            bias,
        }
    }

    /// Awkward GEMMs, the one list `tests/it/ops/matmul.rs` and `dak kernels check matmul` run every
    /// variant on: sizes just off the 64-tile (and its 32 and 128 neighbours), M, N or K of 1,
    /// a long reduction, each dense-layer form with and without bias and ReLU; (m, n, k, form,
    /// bias, relu).
    pub const CASES: &[Case] = &[
        case(33, 65, 31, NT, true, true),
        case(1, 129, 65, NN, false, false),
        case(70, 3, 7, TN, true, false),
        case(2, 10, 300, NT, true, true),
        // Skinny and square.
        case(1, 1, 1, NT, true, true),
        case(1, 129, 65, NT, true, true),
        case(129, 1, 33, NT, true, true),
        case(64, 128, 64, NT, true, true),
        case(33, 65, 200, NT, true, true),
        // Operands longer than two rows of a texture mirror (16,384 floats per row on
        // lavapipe), with a partial last row, in every form: the texture variant's
        // buffer-to-texture copies.
        case(70, 67, 515, NT, false, false),
        case(70, 67, 515, TN, false, false),
        case(70, 67, 515, NN, false, false),
        // Every size of 1, 2, 3, 7, 31, 33, 63, 65, 127, 129 as M, N and K, in the three forms.
        case(1, 31, 65, NN, false, false),
        case(1, 31, 65, NT, true, false),
        case(1, 31, 65, TN, false, true),
        case(3, 33, 127, NN, true, false),
        case(3, 33, 127, NT, false, false),
        case(3, 33, 127, TN, true, true),
        case(7, 63, 129, NN, false, false),
        case(7, 63, 129, NT, true, false),
        case(7, 63, 129, TN, false, true),
        case(31, 65, 2, NN, true, false),
        case(31, 65, 2, NT, false, false),
        case(31, 65, 2, TN, true, true),
        case(33, 127, 1, NN, false, false),
        case(33, 127, 1, NT, true, false),
        case(33, 127, 1, TN, false, true),
        case(63, 129, 3, NN, true, false),
        case(63, 129, 3, NT, false, false),
        case(63, 129, 3, TN, true, true),
        case(65, 2, 7, NN, false, false),
        case(65, 2, 7, NT, true, false),
        case(65, 2, 7, TN, false, true),
        case(127, 1, 31, NN, true, false),
        case(127, 1, 31, NT, false, false),
        case(127, 1, 31, TN, true, true),
        case(129, 3, 33, NN, false, false),
        case(129, 3, 33, NT, true, false),
        case(129, 3, 33, TN, false, true),
        case(2, 7, 63, NN, true, false),
        case(2, 7, 63, NT, false, false),
        case(2, 7, 63, TN, true, true),
    ];

    /// The exact (f64) value of `C[idx]` (row-major [M, N]) of `C = op(A)·op(B) (+bias)(ReLU)`.
    pub fn gemm_at(a: &[f32], b: &[f32], bias: Option<&[f32]>, g: Gemm, idx: usize) -> f64 {
        let (i, j) = (idx / g.n, idx % g.n);
        let mut acc = 0f64;
        for p in 0..g.k {
            let av = if g.trans_a {
                a[p * g.m + i]
            } else {
                a[i * g.k + p]
            };
            let bv = if g.trans_b {
                b[j * g.k + p]
            } else {
                b[p * g.n + j]
            };
            acc += av as f64 * bv as f64;
        }
        if let Some(bias) = bias {
            acc += bias[j] as f64;
        }
        if g.relu {
            acc = acc.max(0.0);
        }
        acc
    }

    /// `C = op(A)·op(B) (+bias)(ReLU)` with f64 accumulators.
    pub fn gemm(a: &[f32], b: &[f32], bias: Option<&[f32]>, g: Gemm) -> Vec<f32> {
        (0..g.m * g.n)
            .map(|idx| gemm_at(a, b, bias, g, idx) as f32)
            .collect()
    }

    /// `Y = X·Wᵀ + b`, X [batch, inp], W [out, inp].
    pub fn dense_forward(
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        batch: usize,
        inp: usize,
        out: usize,
    ) -> Vec<f32> {
        gemm(
            x,
            w,
            b,
            Gemm {
                m: batch,
                n: out,
                k: inp,
                trans_a: false,
                trans_b: true,
                relu: false,
            },
        )
    }

    /// Returns (dX, dW, db) for upstream gradient dY.
    pub fn dense_backward(
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        batch: usize,
        inp: usize,
        out: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let dx = gemm(
            dy,
            w,
            None,
            Gemm {
                m: batch,
                n: inp,
                k: out,
                trans_a: false,
                trans_b: false,
                relu: false,
            },
        );
        let dw = gemm(
            dy,
            x,
            None,
            Gemm {
                m: out,
                n: inp,
                k: batch,
                trans_a: true,
                trans_b: false,
                relu: false,
            },
        );
        let db = (0..out)
            .map(|j| (0..batch).map(|i| dy[i * out + j] as f64).sum::<f64>() as f32)
            .collect();
        (dx, dw, db)
    }
}
