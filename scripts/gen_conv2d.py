#!/usr/bin/env python3
"""Generates the implicit-GEMM conv2d shaders under shaders/conv2d/.

Two kinds of kernel, each for the three passes (forward, input gradient, weight gradient):

- `*_tiled.wgsl`: shared-memory 64x64 tiles, 16x16 threads, 4x4 per thread (for real GPUs);
- `*_sgbc_s{8,16}.wgsl`: one subgroup per 64-row tile, register blocking with subgroupBroadcast
  and named vec4 accumulators (for CPU adapters; WGSL has no macros and subgroupBroadcast needs
  a constant lane, so the unrolled kernel is written out here once per subgroup size).

The im2col matrix is never materialised: each kernel gathers it in its load step. The passes:

    forward  C[P, Co]  = im2col(X)[P, K] . W[Co, K]^T          P = N*oH*oW, K = Ci*kH*kW
    dgrad    dX[Q, Ci] = col(dY)[Q, K'] . W'[K', Ci]            Q = N*H*W,   K' = Co*kH*kW
             (col(dY)[q, (co,ky,kx)] = dY[n, co, (y+ph-ky)/sh, (x+pw-kx)/sw] when the division is
              exact and in range, else 0: the "flipped weights" convolution gathered per input pixel)
    wgrad    dW[Co, K] = dY[Co, P] . im2col(X)[P, K], P split into chunks (one partial per chunk,
             summed by wgrad_reduce.wgsl)

Edit here, then run:
    python3 scripts/gen_conv2d.py
"""
from pathlib import Path
import sys
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sgbc_block import accumulators, fma_block  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "shaders" / "conv2d"
TM = 64  # rows per sgbc workgroup (= per subgroup)

UNIFORM = """struct Conv {
    n: u32, ci: u32, h: u32, w: u32,            // input X [N, Ci, H, W]
    co: u32, kh: u32, kw: u32, oh: u32,         // weight W [Co, Ci, kH, kW]; output [N, Co, oH, oW]
    ow: u32, sh: u32, sw: u32, ph: u32,         // stride (sh, sw), zero padding (ph, pw)
    pw: u32, flags: u32, chunk: u32, _pad: u32, // flags: bit 0 bias, bit 1 ReLU; chunk: split-K length
}"""

# ---------------------------------------------------------------------------------------------
# Per-pass pieces shared by both kinds.

PASSES = {
    "fwd": dict(
        title="conv2d forward",
        formula="Y[n, co, oy, ox] = sum_k im2col(X)[p, k] * W[co, k] (+ bias[co]) (ReLU); p = (n, oy, ox), k = (ci, ky, kx)",
        gemm="rows = output pixels P = N*oH*oW, columns = Co, reduction K = Ci*kH*kW",
        bindings="""@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;""",
        m="s.n * s.oh * s.ow",
        ncols="s.co",
    ),
    "dgrad": dict(
        title="conv2d input gradient",
        formula="dX[n, ci, y, x] = sum_(co,ky,kx) dY[n, co, (y+ph-ky)/sh, (x+pw-kx)/sw] * W[co, ci, ky, kx] (exact, in-range divisions only)",
        gemm="rows = input pixels Q = N*H*W, columns = Ci, reduction K' = Co*kH*kW",
        bindings="""@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;""",
        m="s.n * s.h * s.w",
        ncols="s.ci",
    ),
    "wgrad": dict(
        title="conv2d weight gradient (split-K partials)",
        formula="part[z, co, k] = sum_(p in chunk z) dY[n, co, oy, ox] * im2col(X)[p, k]; p = (n, oy, ox), k = (ci, ky, kx)",
        gemm="rows = Co, columns = K = Ci*kH*kW, reduction P = N*oH*oW split into chunks of s.chunk (grid z)",
        bindings="""@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> xin: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;""",
        m="s.co",
        ncols="s.ci * s.kh * s.kw",
    ),
}

FILE = {
    ("fwd", "tiled"): "fwd_igemm_tiled.wgsl",
    ("fwd_pool", "tiled"): "fwd_igemm_pool_tiled.wgsl",
    ("dgrad", "tiled"): "dgrad_igemm_tiled.wgsl",
    ("wgrad", "tiled"): "wgrad_splitk_tiled.wgsl",
    ("fwd", "sgbc"): "fwd_igemm_sgbc_s{sg}.wgsl",
    ("dgrad", "sgbc"): "dgrad_igemm_sgbc_s{sg}.wgsl",
    ("wgrad", "sgbc"): "wgrad_splitk_sgbc_s{sg}.wgsl",
}

STORE_FWD = """fn store(p: u32, co: u32, v: f32) {
    let ohw = s.oh * s.ow;
    var r = v;
    let bv = bias[min(co, arrayLength(&bias) - 1u)];
    if ((s.flags & 1u) != 0u) { r += bv; }
    if ((s.flags & 2u) != 0u) { r = max(r, 0.0); }
    y[((p / ohw) * s.co + co) * ohw + p % ohw] = r;
}"""

STORE_DGRAD = """fn store(q: u32, ci: u32, v: f32) {
    let hw = s.h * s.w;
    dx[((q / hw) * s.ci + ci) * hw + q % hw] = v;
}"""

STORE_WGRAD = """fn store(co: u32, k: u32, v: f32, z: u32) {
    part[(z * s.co + co) * (s.ci * s.kh * s.kw) + k] = v;
}"""

# The fused 2x2/2 max-pool of the forward (conv2d.fwd_pool.igemm_tiled): rows are ordered by
# pooling window, and each thread owns the 4 rows of one window, so the pool is a max over its
# own accumulators.
POOL_NOTE = """// FUSED 2x2/2 MAX-POOL (conv2d.fwd_pool.igemm_tiled): rows are ordered by pooling window, row
// p = pixel (p & 3), row-major, of window p >> 2 (m = 4*N*pH*pW, pH = floor(oH/2)), and a
// thread owns the 4 rows of one window (rows 4ty+i), so the store takes the window's maximum of
// (acc + bias), then the ReLU (max and ReLU commute), and writes the pooled Yp[n, co, py, px]
// and its argmax (index oy*oW + ox in the conv-output plane, the first maximum in row-major
// order, as pool/max_fwd.wgsl): the unpooled output is never written. The bottom row / right
// column of an odd output is in no window and is not computed."""

POOL_PIECES = """// Conv-output pixel (n, oy, ox), as n*oH*oW + oy*oW + ox, of row p of the pooled GEMM; past
// the last row, an index load_a reads as zero.
fn conv_row(p: u32) -> u32 {
    let pw = s.ow / 2u;
    let pohw = (s.oh / 2u) * pw;
    if (p >= 4u * s.n * pohw) { return 0xffffffffu; }
    let win = p >> 2u;
    let q = win % pohw;
    let oy = 2u * (q / pw) + ((p >> 1u) & 1u);
    let ox = 2u * (q % pw) + (p & 1u);
    return (win / pohw) * s.oh * s.ow + oy * s.ow + ox;
}

// The window of rows 4*win .. 4*win+3 (accumulators v[0..4]) at output channel co.
fn store_pool(win: u32, co: u32, v0: f32, v1: f32, v2: f32, v3: f32) {
    let pw = s.ow / 2u;
    let pohw = (s.oh / 2u) * pw;
    let q = win % pohw;
    let at0 = 2u * (q / pw) * s.ow + 2u * (q % pw);
    let bv = select(0.0, bias[min(co, arrayLength(&bias) - 1u)], (s.flags & 1u) != 0u);
    var best = v0 + bv;
    var at = at0;
    if (v1 + bv > best) { best = v1 + bv; at = at0 + 1u; }
    if (v2 + bv > best) { best = v2 + bv; at = at0 + s.ow; }
    if (v3 + bv > best) { best = v3 + bv; at = at0 + s.ow + 1u; }
    if ((s.flags & 2u) != 0u) { best = max(best, 0.0); }
    let o = ((win / pohw) * s.co + co) * pohw + q;
    y[o] = best;
    arg[o] = at;
}"""

# ---------------------------------------------------------------------------------------------
# Shared-memory tiled kernels (real GPUs).

TILED_LOADS = {
    "fwd": """// A[p, k] = im2col(X): zero outside the input (padding) and past the edges.
fn load_a(p: u32, k: u32, kend: u32) -> f32 {
    if (p >= s.n * s.oh * s.ow || k >= kend) { return 0.0; }
    let ohw = s.oh * s.ow;
    let khw = s.kh * s.kw;
    let pix = p % ohw;
    let r = k % khw;
    let iy = i32((pix / s.ow) * s.sh + r / s.kw) - i32(s.ph);
    let ix = i32((pix % s.ow) * s.sw + r % s.kw) - i32(s.pw);
    if (iy < 0 || ix < 0 || u32(iy) >= s.h || u32(ix) >= s.w) { return 0.0; }
    return xin[(((p / ohw) * s.ci + k / khw) * s.h + u32(iy)) * s.w + u32(ix)];
}

// B[k, co] = W[co, k] (OIHW is [Co, K] row-major).
fn load_b(k: u32, co: u32, kend: u32) -> f32 {
    if (co >= s.co || k >= kend) { return 0.0; }
    return wt[co * (s.ci * s.kh * s.kw) + k];
}""",
    "dgrad": """// A[q, (co,ky,kx)] = dY[n, co, (y+ph-ky)/sh, (x+pw-kx)/sw] if exact and in range, else 0.
fn load_a(q: u32, k: u32, kend: u32) -> f32 {
    if (q >= s.n * s.h * s.w || k >= kend) { return 0.0; }
    let hw = s.h * s.w;
    let khw = s.kh * s.kw;
    let pix = q % hw;
    let r = k % khw;
    let uy = i32(pix / s.w + s.ph) - i32(r / s.kw);
    let ux = i32(pix % s.w + s.pw) - i32(r % s.kw);
    if (uy < 0 || ux < 0 || u32(uy) % s.sh != 0u || u32(ux) % s.sw != 0u) { return 0.0; }
    let oy = u32(uy) / s.sh;
    let ox = u32(ux) / s.sw;
    if (oy >= s.oh || ox >= s.ow) { return 0.0; }
    return dy[(((q / hw) * s.co + k / khw) * s.oh + oy) * s.ow + ox];
}

// B[(co,ky,kx), ci] = W[co, ci, ky, kx].
fn load_b(k: u32, ci: u32, kend: u32) -> f32 {
    if (ci >= s.ci || k >= kend) { return 0.0; }
    let khw = s.kh * s.kw;
    return wt[((k / khw) * s.ci + ci) * khw + k % khw];
}""",
    "wgrad": """// A[co, p] = dY[n, co, oy, ox].
fn load_a(co: u32, p: u32, kend: u32) -> f32 {
    if (co >= s.co || p >= kend) { return 0.0; }
    let ohw = s.oh * s.ow;
    return dy[((p / ohw) * s.co + co) * ohw + p % ohw];
}

// B[p, k] = im2col(X)[p, k].
fn load_b(p: u32, k: u32, kend: u32) -> f32 {
    if (k >= s.ci * s.kh * s.kw || p >= kend) { return 0.0; }
    let ohw = s.oh * s.ow;
    let khw = s.kh * s.kw;
    let pix = p % ohw;
    let r = k % khw;
    let iy = i32((pix / s.ow) * s.sh + r / s.kw) - i32(s.ph);
    let ix = i32((pix % s.ow) * s.sw + r % s.kw) - i32(s.pw);
    if (iy < 0 || ix < 0 || u32(iy) >= s.h || u32(ix) >= s.w) { return 0.0; }
    return xin[(((p / ohw) * s.ci + k / khw) * s.h + u32(iy)) * s.w + u32(ix)];
}""",
}


def tiled(pas: str, pool: bool = False) -> str:
    """The tiled kernel of a pass; `pool` (forward only): with the fused 2x2/2 max-pool."""
    d = PASSES[pas]
    name = FILE[("fwd_pool" if pool else pas, "tiled")].replace(".wgsl", "")
    rows = "4ty+i" if pool else "ty+16i"
    m = "4u * s.n * (s.oh / 2u) * (s.ow / 2u)" if pool else d["m"]
    row_of = "conv_row(row0 + e / 16u)" if pool else "row0 + e / 16u"
    a_row = "4u * ty + i" if pool else "ty + 16u * i"
    bindings = d["bindings"] + (
        "\n@group(0) @binding(5) var<storage, read_write> arg: array<u32>;" if pool else "")
    if pas == "wgrad":
        krange = """    let kbegin = wid.z * s.chunk;
    let kend = min(kbegin + s.chunk, s.n * s.oh * s.ow);"""
        store_call = "store(row, col, acc[i][j], wid.z);"
        grid = "Grid (ceil(K/64), ceil(Co/64), splits)"
        store = STORE_WGRAD
    else:
        kk = "s.ci * s.kh * s.kw" if pas == "fwd" else "s.co * s.kh * s.kw"
        krange = f"""    let kbegin = 0u;
    let kend = {kk};"""
        store_call = "store(row, col, acc[i][j]);"
        grid = "Grid (ceil(Co/64), ceil(P/64))" if pas == "fwd" else "Grid (ceil(Ci/64), ceil(Q/64))"
        store = STORE_FWD if pas == "fwd" else STORE_DGRAD
    if pool:
        grid = "Grid (ceil(Co/64), ceil(4*N*pH*pW/64))"
        store = POOL_PIECES
    note = "\n" + POOL_NOTE if pool else ""
    if pool:
        store_loop = """    let win = (row0 >> 2u) + ty;
    if (4u * win < m) {
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tx + 16u * j;
            if (col < ncols) {
                store_pool(win, col, acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
            }
        }
    }"""
    else:
        store_loop = f"""    for (var i = 0u; i < 4u; i++) {{
        let row = row0 + ty + 16u * i;
        for (var j = 0u; j < 4u; j++) {{
            let col = col0 + tx + 16u * j;
            if (row < m && col < ncols) {{
                {store_call}
            }}
        }}
    }}"""
    return f"""// {name} — {d['title']}, implicit GEMM with shared-memory tiles
// (for real GPUs). GENERATED by scripts/gen_conv2d.py: edit that.
// {d['formula']}
// GEMM view: {d['gemm']}. Layouts: NCHW activations, OIHW weights; im2col is gathered in the load
// step, never materialised.
// Workgroup 16x16 threads computes a 64x64 tile; each thread a 4x4 block (rows {rows}, columns
// tx+16j). The reduction walks in steps of 16: a 64x16 A tile and a 16x64 B tile are staged in
// workgroup memory (zeros past every edge). {grid}.{note}

{UNIFORM}

@group(0) @binding(0) var<uniform> s: Conv;
{bindings}

var<workgroup> a_tile: array<array<f32, 65>, 16>; // [k][row]
var<workgroup> b_tile: array<array<f32, 65>, 16>; // [k][col]

{TILED_LOADS[pas]}

{store}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let tx = lid.x;
    let ty = lid.y;
    let row0 = wid.y * 64u;
    let col0 = wid.x * 64u;
    let flat = ty * 16u + tx;
    let m = {m};
    let ncols = {d['ncols']};
{krange}
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = kbegin; k0 < kend; k0 += 16u) {{
        for (var i = 0u; i < 4u; i++) {{
            let e = flat + i * 256u;
            a_tile[e % 16u][e / 16u] = load_a({row_of}, k0 + e % 16u, kend);
            b_tile[e / 64u][e % 64u] = load_b(k0 + e / 64u, col0 + e % 64u, kend);
        }}
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {{
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {{
                av[i] = a_tile[kk][{a_row}];
                bv[i] = b_tile[kk][tx + 16u * i];
            }}
            for (var i = 0u; i < 4u; i++) {{
                for (var j = 0u; j < 4u; j++) {{
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }}
            }}
        }}
        workgroupBarrier();
    }}
{store_loop}
}}
"""


# ---------------------------------------------------------------------------------------------
# Subgroup-broadcast register-blocked kernels (CPU adapters).

NEXT_K = """// Step (outer, ky, kx) to the next reduction index in (outer, ky, kx) order, without division.
fn next_k(t: vec3<u32>) -> vec3<u32> {
    let wrap_x = t.z + 1u == s.kw;
    let yy = select(t.y, t.y + 1u, wrap_x);
    let wrap_y = wrap_x && yy == s.kh;
    return vec3<u32>(select(t.x, t.x + 1u, wrap_y), select(yy, 0u, wrap_y), select(t.z + 1u, 0u, wrap_x));
}"""

NEXT_P = """// Step (n, oy, ox) to the next output pixel, without division.
fn next_p(t: vec3<u32>) -> vec3<u32> {
    let wrap_x = t.z + 1u == s.ow;
    let yy = select(t.y, t.y + 1u, wrap_x);
    let wrap_y = wrap_x && yy == s.oh;
    return vec3<u32>(select(t.x, t.x + 1u, wrap_y), select(yy, 0u, wrap_y), select(t.z + 1u, 0u, wrap_x));
}"""

LDX = """// X at flat index `idx` whose (row, column) inside its plane is (iy, ix); 0 outside (padding).
fn ldx(idx: i32, iy: i32, ix: i32, valid: bool) -> f32 {
    let ok = valid && u32(iy) < s.h && u32(ix) < s.w;
    return select(0.0, xin[select(0u, u32(idx), ok)], ok);
}"""

LDY = """// dY[base + oy*oW + ox] with (oy, ox) = (uy/sh, ux/sw) when exact and in range, else 0.
fn ldy(base: u32, uy: i32, ux: i32, valid: bool) -> f32 {
    var oy = u32(uy);
    var ox = u32(ux);
    var ok = valid && uy >= 0 && ux >= 0;
    if (STRIDED) {
        ok = ok && oy % s.sh == 0u && ox % s.sw == 0u;
        oy = oy / s.sh;
        ox = ox / s.sw;
    }
    ok = ok && oy < s.oh && ox < s.ow;
    return select(0.0, dy[select(0u, base + oy * s.ow + ox, ok)], ok);
}"""

SG_STORE = {
    "fwd": """fn store(p: u32, co: u32, v: vec4<f32>) {
    let ohw = s.oh * s.ow;
    let base = (p / ohw) * s.co * ohw + p % ohw;
    for (var j = 0u; j < 4u; j++) {
        if (co + j < s.co) {
            var r = v[j];
            let bv = bias[min(co + j, arrayLength(&bias) - 1u)];
            if ((s.flags & 1u) != 0u) { r += bv; }
            if ((s.flags & 2u) != 0u) { r = max(r, 0.0); }
            y[base + (co + j) * ohw] = r;
        }
    }
}""",
    "dgrad": """fn store(q: u32, ci: u32, v: vec4<f32>) {
    let hw = s.h * s.w;
    let base = (q / hw) * s.ci * hw + q % hw;
    for (var j = 0u; j < 4u; j++) {
        if (ci + j < s.ci) { dx[base + (ci + j) * hw] = v[j]; }
    }
}""",
    "wgrad": """fn store(co: u32, k: u32, v: vec4<f32>, z: u32) {
    let nk = s.ci * s.kh * s.kw;
    for (var j = 0u; j < 4u; j++) {
        if (k + j < nk) { part[(z * s.co + co) * nk + k + j] = v[j]; }
    }
}""",
}


def sg_pieces(pas: str, sg: int, cp: int):
    """Returns (helpers, prologue lines, k-range, per-step lines, store suffix)."""
    rpl = TM // sg
    pro, step = [], []
    p, st = pro.append, step.append
    if pas == "fwd":
        helpers = NEXT_K + "\n\n" + LDX
        p("    let m = s.n * s.oh * s.ow;")
        p("    let ohw = s.oh * s.ow;")
        p("    let hw = s.h * s.w;")
        p("    let kk = s.ci * s.kh * s.kw;")
        for i in range(rpl):
            p(f"    let p{i} = min(row0 + {i * sg}u + lane, m - 1u);")
            p(f"    let q{i} = p{i} % ohw;")
            p(f"    let iy{i} = i32((q{i} / s.ow) * s.sh) - i32(s.ph);")
            p(f"    let ix{i} = i32((q{i} % s.ow) * s.sw) - i32(s.pw);")
            p(f"    let ro{i} = i32((p{i} / ohw) * s.ci * hw) + iy{i} * i32(s.w) + ix{i};")
        for j in range(cp):
            p(f"    let wb{j} = min(col + {j}u, s.co - 1u) * kk;")
        p("    var t = vec3<u32>(0u);")
        krange = ("0u", "kk")
        st("        let t0 = t; let t1 = next_k(t0); let t2 = next_k(t1); let t3 = next_k(t2); t = next_k(t3);")
        for q in range(4):
            st(f"        let ky{q} = i32(t{q}.y); let kx{q} = i32(t{q}.z); let kv{q} = k + {q}u < kk;")
            st(f"        let ko{q} = i32(t{q}.x * hw) + ky{q} * i32(s.w) + kx{q}; let kc{q} = min(k + {q}u, kk - 1u);")
        for i in range(rpl):
            args = ", ".join(f"ldx(ro{i} + ko{q}, iy{i} + ky{q}, ix{i} + kx{q}, kv{q})" for q in range(4))
            st(f"        let a{i} = vec4<f32>({args});")
        for q in range(4):
            for h in range(cp // 4):
                args = ", ".join(f"wt[wb{4 * h + j} + kc{q}]" for j in range(4))
                st(f"        let b{q}_{h} = vec4<f32>({args});")
        store_tail = ""
    elif pas == "dgrad":
        helpers = NEXT_K + "\n\n" + LDY
        p("    let m = s.n * s.h * s.w;")
        p("    let hw = s.h * s.w;")
        p("    let ohw = s.oh * s.ow;")
        p("    let khw = s.kh * s.kw;")
        p("    let kk = s.co * khw;")
        for i in range(rpl):
            p(f"    let p{i} = min(row0 + {i * sg}u + lane, m - 1u);")
            p(f"    let q{i} = p{i} % hw;")
            p(f"    let ty{i} = i32(q{i} / s.w + s.ph);")
            p(f"    let tx{i} = i32(q{i} % s.w + s.pw);")
            p(f"    let ro{i} = (p{i} / hw) * s.co * ohw;")
        for j in range(cp):
            p(f"    let cb{j} = min(col + {j}u, s.ci - 1u) * khw;")
        p("    var t = vec3<u32>(0u);")
        krange = ("0u", "kk")
        st("        let t0 = t; let t1 = next_k(t0); let t2 = next_k(t1); let t3 = next_k(t2); t = next_k(t3);")
        for q in range(4):
            st(f"        let ky{q} = i32(t{q}.y); let kx{q} = i32(t{q}.z); let kv{q} = k + {q}u < kk;")
            st(f"        let do{q} = min(t{q}.x, s.co - 1u) * ohw;"
               f" let wk{q} = min(t{q}.x, s.co - 1u) * s.ci * khw + t{q}.y * s.kw + t{q}.z;")
        for i in range(rpl):
            args = ", ".join(f"ldy(ro{i} + do{q}, ty{i} - ky{q}, tx{i} - kx{q}, kv{q})" for q in range(4))
            st(f"        let a{i} = vec4<f32>({args});")
        for q in range(4):
            for h in range(cp // 4):
                args = ", ".join(f"wt[cb{4 * h + j} + wk{q}]" for j in range(4))
                st(f"        let b{q}_{h} = vec4<f32>({args});")
        store_tail = ""
    else:  # wgrad
        helpers = NEXT_P + "\n\n" + LDX
        p("    let ohw = s.oh * s.ow;")
        p("    let hw = s.h * s.w;")
        p("    let khw = s.kh * s.kw;")
        p("    let nk = s.ci * khw;")
        p("    let kbegin = wid.z * s.chunk;")
        p("    let kend = min(kbegin + s.chunk, s.n * ohw);")
        for i in range(rpl):
            p(f"    let ro{i} = min(row0 + {i * sg}u + lane, s.co - 1u) * ohw;")
        for j in range(cp):
            p(f"    let kc{j} = min(col + {j}u, nk - 1u);")
            p(f"    let cy{j} = i32((kc{j} % khw) / s.kw); let cx{j} = i32((kc{j} % khw) % s.kw);")
            p(f"    let xo{j} = i32((kc{j} / khw) * hw) + cy{j} * i32(s.w) + cx{j};")
        p("    let pix0 = kbegin % ohw;")
        p("    var t = vec3<u32>(kbegin / ohw, pix0 / s.ow, pix0 % s.ow);")
        krange = ("kbegin", "kend")
        st("        let t0 = t; let t1 = next_p(t0); let t2 = next_p(t1); let t3 = next_p(t2); t = next_p(t3);")
        for q in range(4):
            st(f"        let pv{q} = k + {q}u < kend;"
               f" let db{q} = select(0u, t{q}.x * s.co * ohw + t{q}.y * s.ow + t{q}.z, pv{q});")
            st(f"        let iy{q} = i32(t{q}.y * s.sh) - i32(s.ph); let ix{q} = i32(t{q}.z * s.sw) - i32(s.pw);"
               f" let xb{q} = i32(t{q}.x * s.ci * hw) + iy{q} * i32(s.w) + ix{q};")
        st("        let pmask = vec4<bool>(pv0, pv1, pv2, pv3);")
        for i in range(rpl):
            args = ", ".join(f"dy[ro{i} + db{q}]" for q in range(4))
            st(f"        let a{i} = select(vec4<f32>(0.0), vec4<f32>({args}), pmask);")
        for q in range(4):
            for h in range(cp // 4):
                args = ", ".join(
                    f"ldx(xb{q} + xo{4 * h + j}, iy{q} + cy{4 * h + j}, ix{q} + cx{4 * h + j}, pv{q})"
                    for j in range(4))
                st(f"        let b{q}_{h} = vec4<f32>({args});")
        store_tail = ", wid.z"
    return helpers, pro, krange, step, store_tail


def sgbc(pas: str, sg: int, cp: int) -> str:
    d = PASSES[pas]
    tn = cp * sg
    nh = cp // 4
    helpers, pro, (kb, ke), step, store_tail = sg_pieces(pas, sg, cp)
    rows_what = {"fwd": "output pixels", "dgrad": "input pixels", "wgrad": "output channels"}[pas]
    cols_what = {"fwd": "output channels", "dgrad": "input channels", "wgrad": "(ci, ky, kx) columns"}[pas]
    grid = {
        "fwd": f"Grid (ceil(Co/{tn}), ceil(P/{TM}))",
        "dgrad": f"Grid (ceil(Ci/{tn}), ceil(Q/{TM}))",
        "wgrad": f"Grid (ceil(K/{tn}), ceil(Co/{TM}), splits)",
    }[pas]
    strided = "\noverride STRIDED: bool = true; // false: stride 1, no division in the gather\n" if pas == "dgrad" else ""
    out = []
    w = out.append
    w(f"""// {FILE[(pas, 'sgbc')].format(sg=sg).replace('.wgsl', '')} — {d['title']}, implicit GEMM with register blocking
// and subgroupBroadcast, for CPU adapters (llvmpipe/lavapipe), subgroup size {sg}.
// GENERATED by scripts/gen_conv2d.py: edit that.
// {d['formula']}
// GEMM view: {d['gemm']}. Layouts: NCHW activations, OIHW weights; im2col is gathered in the load
// step (reduction indices are stepped without division), never materialised.
// One workgroup = one {sg}-lane subgroup computes {TM} {rows_what} x {tn} {cols_what}; lane l owns all
// {TM} rows x columns [{cp}l, {cp}l+{cp}) in {TM * nh} named vec4 accumulators. Per reduction step of 4
// ("ik" order): lane l gathers rows r*{sg}+l as vec4 over the 4 steps and its {cp} columns of the
// other operand; each row's vec4 is broadcast from the lane that loaded it and multiplied into
// that row's accumulators. Rows/columns past the edge are clamped for loading and skipped when
// storing; reduction indices past the end are masked to zero. {grid}, workgroup ({sg}).

{UNIFORM}
{strided}
@group(0) @binding(0) var<uniform> s: Conv;
{d['bindings']}

{helpers}

{SG_STORE[pas]}

@compute @workgroup_size({sg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{
    let row0 = wid.y * {TM}u;
    let col = wid.x * {tn}u + lane * {cp}u;""")
    out.extend(pro)
    accumulators(w, TM, nh)
    w(f"    for (var k = {kb}; k < {ke}; k += 4u) {{")
    out.extend(step)
    fma_block(w, sg, TM, nh)
    w("    }")
    m = d["m"]
    w(f"    let m_rows = {m};")
    for r in range(TM):
        stores = " ".join(f"store(row0 + {r}u, col + {4 * h}u, c{r}_{h}{store_tail});" for h in range(nh))
        w(f"    if (row0 + {r}u < m_rows) {{ {stores} }}")
    w("}")
    return "\n".join(out) + "\n"


# Columns per lane: 8 at subgroup size 8 (64 columns per workgroup), 4 at 16 (also 64), so a
# workgroup covers the 64 output channels of a typical layer either way.
COLS = {8: 8, 16: 4}

if __name__ == "__main__":
    import os, sys
    if len(sys.argv) > 1:  # experiments: gen_conv2d.py PASS SG TM COLS OUTFILE
        pas, sg, tm, cp, out = sys.argv[1:6]
        TM = int(tm)
        Path(out).write_text(sgbc(pas, int(sg), int(cp)))
        sys.exit(0)
    for pas in ("fwd", "dgrad", "wgrad"):
        (OUT / FILE[(pas, "tiled")]).write_text(tiled(pas))
        if pas == "fwd":
            (OUT / FILE[("fwd_pool", "tiled")]).write_text(tiled(pas, pool=True))
        for sg, cp in COLS.items():
            (OUT / FILE[(pas, "sgbc")].format(sg=sg)).write_text(sgbc(pas, sg, cp))
