//! Pieces shared by the storage-buffer conv2d generators (scripts/gen_conv2d.py): the uniform
//! and the per-pass table. The module docs of the Python, which the kernels' headers repeat:
//!
//! Two kinds of kernel, each for the three passes (forward, input gradient, weight gradient):
//!
//! - `*_tiled.wgsl`: shared-memory 64x64 tiles, 16x16 threads, 4x4 per thread (for real GPUs);
//! - `*_sgbc_s{8,16}.wgsl`: one subgroup per 64-row tile, register blocking with
//!   subgroupBroadcast and named vec4 accumulators (for CPU adapters; WGSL has no macros and
//!   subgroupBroadcast needs a constant lane, so the unrolled kernel is written out once per
//!   subgroup size).
//!
//! The im2col matrix is never materialised: each kernel gathers it in its load step. The passes:
//!
//! ```text
//! forward  C[P, Co]  = im2col(X)[P, K] . W[Co, K]^T          P = N*oH*oW, K = Ci*kH*kW
//! dgrad    dX[Q, Ci] = col(dY)[Q, K'] . W'[K', Ci]            Q = N*H*W,   K' = Co*kH*kW
//!          (col(dY)[q, (co,ky,kx)] = dY[n, co, (y+ph-ky)/sh, (x+pw-kx)/sw] when the division is
//!           exact and in range, else 0: the "flipped weights" convolution gathered per input pixel)
//! wgrad    dW[Co, K] = dY[Co, P] . im2col(X)[P, K], P split into chunks (one partial per chunk,
//!          summed by wgrad_reduce.wgsl)
//! ```

pub(crate) const UNIFORM: &str = r#"struct Conv {
    n: u32, ci: u32, h: u32, w: u32,            // input X [N, Ci, H, W]
    co: u32, kh: u32, kw: u32, oh: u32,         // weight W [Co, Ci, kH, kW]; output [N, Co, oH, oW]
    ow: u32, sh: u32, sw: u32, ph: u32,         // stride (sh, sw), zero padding (ph, pw)
    pw: u32, flags: u32, chunk: u32, _pad: u32, // flags: bit 0 bias, bit 1 ReLU; chunk: split-K length
}"#;

/// The three passes of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    Fwd,
    Dgrad,
    Wgrad,
}

/// What a pass's kernels of both kinds share: header text, bindings and GEMM extents.
pub(crate) struct PassInfo {
    pub title: &'static str,
    pub formula: &'static str,
    pub gemm: &'static str,
    pub bindings: &'static str,
    /// GEMM rows.
    pub m: &'static str,
    /// GEMM columns.
    pub ncols: &'static str,
}

impl Pass {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pass::Fwd => "fwd",
            Pass::Dgrad => "dgrad",
            Pass::Wgrad => "wgrad",
        }
    }

    pub(crate) fn info(self) -> PassInfo {
        match self {
            Pass::Fwd => PassInfo {
                title: "conv2d forward",
                formula: "Y[n, co, oy, ox] = sum_k im2col(X)[p, k] * W[co, k] (+ bias[co]) (ReLU); p = (n, oy, ox), k = (ci, ky, kx)",
                gemm: "rows = output pixels P = N*oH*oW, columns = Co, reduction K = Ci*kH*kW",
                bindings: r#"@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;"#,
                m: "s.n * s.oh * s.ow",
                ncols: "s.co",
            },
            Pass::Dgrad => PassInfo {
                title: "conv2d input gradient",
                formula: "dX[n, ci, y, x] = sum_(co,ky,kx) dY[n, co, (y+ph-ky)/sh, (x+pw-kx)/sw] * W[co, ci, ky, kx] (exact, in-range divisions only)",
                gemm: "rows = input pixels Q = N*H*W, columns = Ci, reduction K' = Co*kH*kW",
                bindings: r#"@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;"#,
                m: "s.n * s.h * s.w",
                ncols: "s.ci",
            },
            Pass::Wgrad => PassInfo {
                title: "conv2d weight gradient (split-K partials)",
                formula: "part[z, co, k] = sum_(p in chunk z) dY[n, co, oy, ox] * im2col(X)[p, k]; p = (n, oy, ox), k = (ci, ky, kx)",
                gemm: "rows = Co, columns = K = Ci*kH*kW, reduction P = N*oH*oW split into chunks of s.chunk (grid z)",
                bindings: r#"@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> xin: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;"#,
                m: "s.co",
                ncols: "s.ci * s.kh * s.kw",
            },
        }
    }
}

/// The registry id (`dak kernels list`) of the kernel in file `stem`, for its header:
/// `fwd_igemm_pool_tiled` → `conv2d.fwd_pool.igemm_tiled`, `dgrad_igemm_sgbc_s16` →
/// `conv2d.dgrad.igemm_sgbc` (the subgroup size is a file of the kernel, not another kernel).
pub(crate) fn kernel_id(stem: &str) -> String {
    let stem = match stem.rsplit_once("_s") {
        Some((head, sg)) if !sg.is_empty() && sg.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => stem,
    };
    let (pass, rest) = stem.split_once('_').expect("<pass>_<algo>...");
    match rest.replace("_pool", "") {
        plain if plain != rest => format!("conv2d.{pass}_pool.{plain}"),
        _ => format!("conv2d.{pass}.{rest}"),
    }
}
