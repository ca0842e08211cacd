//! Shared-memory tiled implicit-GEMM conv2d kernels for real GPUs (scripts/gen_conv2d.py,
//! `tiled`): `<pass>_<algo>[_pool]_tiled.wgsl`.

use crate::conv2d::{Pass, UNIFORM};
use crate::Generated;

/// One row of the table: a kernel file.
struct Row {
    pass: Pass,
    /// Forward only: with the fused 2x2/2 max-pool.
    pool: bool,
    file: &'static str,
}

const TABLE: &[Row] = &[
    Row {
        pass: Pass::Fwd,
        pool: false,
        file: "fwd_igemm_tiled",
    },
    Row {
        pass: Pass::Fwd,
        pool: true,
        file: "fwd_igemm_pool_tiled",
    },
    Row {
        pass: Pass::Dgrad,
        pool: false,
        file: "dgrad_igemm_tiled",
    },
    Row {
        pass: Pass::Wgrad,
        pool: false,
        file: "wgrad_splitk_tiled",
    },
];

pub(crate) fn generated() -> Vec<Generated> {
    TABLE
        .iter()
        .map(|r| Generated {
            path: format!("conv2d/{}.wgsl", r.file),
            kernels: vec![crate::conv2d::kernel_id(r.file)],
            source: tiled(r.pass, r.pool, r.file),
            family: "conv2d tiled",
            row: format!(
                "pass={} pool={}",
                r.pass.name(),
                if r.pool { "yes" } else { "no" }
            ),
        })
        .collect()
}

const STORE_FWD: &str = r#"fn store(p: u32, co: u32, v: f32) {
    let ohw = s.oh * s.ow;
    var r = v;
    let bv = bias[min(co, arrayLength(&bias) - 1u)];
    if ((s.flags & 1u) != 0u) { r += bv; }
    if ((s.flags & 2u) != 0u) { r = max(r, 0.0); }
    y[((p / ohw) * s.co + co) * ohw + p % ohw] = r;
}"#;

const STORE_DGRAD: &str = r#"fn store(q: u32, ci: u32, v: f32) {
    let hw = s.h * s.w;
    dx[((q / hw) * s.ci + ci) * hw + q % hw] = v;
}"#;

const STORE_WGRAD: &str = r#"fn store(co: u32, k: u32, v: f32, z: u32) {
    part[(z * s.co + co) * (s.ci * s.kh * s.kw) + k] = v;
}"#;

// The fused 2x2/2 max-pool of the forward (conv2d.fwd_pool.igemm_tiled): rows are ordered by
// pooling window, and each thread owns the 4 rows of one window, so the pool is a max over its
// own accumulators.
const POOL_NOTE: &str = r#"// FUSED 2x2/2 MAX-POOL (conv2d.fwd_pool.igemm_tiled): rows are ordered by pooling window, row
// p = pixel (p & 3), row-major, of window p >> 2 (m = 4*N*pH*pW, pH = floor(oH/2)), and a
// thread owns the 4 rows of one window (rows 4ty+i), so the store takes the window's maximum of
// (acc + bias), then the ReLU (max and ReLU commute), and writes the pooled Yp[n, co, py, px]
// and its argmax (index oy*oW + ox in the conv-output plane, the first maximum in row-major
// order, as pool/max_fwd.wgsl): the unpooled output is never written. The bottom row / right
// column of an odd output is in no window and is not computed."#;

const POOL_PIECES: &str = r#"// Conv-output pixel (n, oy, ox), as n*oH*oW + oy*oW + ox, of row p of the pooled GEMM; past
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
}"#;

/// The operand gathers of each pass: A and B of the GEMM view, zero past every edge.
fn loads(pass: Pass) -> &'static str {
    match pass {
        Pass::Fwd => {
            r#"// A[p, k] = im2col(X): zero outside the input (padding) and past the edges.
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
}"#
        }
        Pass::Dgrad => {
            r#"// A[q, (co,ky,kx)] = dY[n, co, (y+ph-ky)/sh, (x+pw-kx)/sw] if exact and in range, else 0.
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
}"#
        }
        Pass::Wgrad => {
            r#"// A[co, p] = dY[n, co, oy, ox].
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
}"#
        }
    }
}

/// The tiled kernel of a pass; `pool` (forward only): with the fused 2x2/2 max-pool.
fn tiled(pass: Pass, pool: bool, name: &str) -> String {
    let id = super::conv2d::kernel_id(name);
    let d = pass.info();
    let rows = if pool { "4ty+i" } else { "ty+16i" };
    let m = if pool {
        "4u * s.n * (s.oh / 2u) * (s.ow / 2u)"
    } else {
        d.m
    };
    let row_of = if pool {
        "conv_row(row0 + e / 16u)"
    } else {
        "row0 + e / 16u"
    };
    let a_row = if pool { "4u * ty + i" } else { "ty + 16u * i" };
    let arg = if pool {
        "\n@group(0) @binding(5) var<storage, read_write> arg: array<u32>;"
    } else {
        ""
    };
    let bindings = format!("{}{arg}", d.bindings);
    let (krange, store_call, mut grid, mut store) = match pass {
        Pass::Wgrad => (
            "    let kbegin = wid.z * s.chunk;\n    let kend = min(kbegin + s.chunk, s.n * s.oh * s.ow);"
                .to_string(),
            "store(row, col, acc[i][j], wid.z);",
            "Grid (ceil(K/64), ceil(Co/64), splits)",
            STORE_WGRAD,
        ),
        Pass::Fwd | Pass::Dgrad => {
            let fwd = pass == Pass::Fwd;
            let kk = if fwd {
                "s.ci * s.kh * s.kw"
            } else {
                "s.co * s.kh * s.kw"
            };
            (
                format!("    let kbegin = 0u;\n    let kend = {kk};"),
                "store(row, col, acc[i][j]);",
                if fwd {
                    "Grid (ceil(Co/64), ceil(P/64))"
                } else {
                    "Grid (ceil(Ci/64), ceil(Q/64))"
                },
                if fwd { STORE_FWD } else { STORE_DGRAD },
            )
        }
    };
    if pool {
        grid = "Grid (ceil(Co/64), ceil(4*N*pH*pW/64))";
        store = POOL_PIECES;
    }
    let note = if pool {
        format!("\n{POOL_NOTE}")
    } else {
        String::new()
    };
    let store_loop = if pool {
        r#"    let win = (row0 >> 2u) + ty;
    if (4u * win < m) {
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tx + 16u * j;
            if (col < ncols) {
                store_pool(win, col, acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
            }
        }
    }"#
        .to_string()
    } else {
        format!(
            r#"    for (var i = 0u; i < 4u; i++) {{
        let row = row0 + ty + 16u * i;
        for (var j = 0u; j < 4u; j++) {{
            let col = col0 + tx + 16u * j;
            if (row < m && col < ncols) {{
                {store_call}
            }}
        }}
    }}"#
        )
    };
    let (title, formula, gemm, ncols) = (d.title, d.formula, d.gemm, d.ncols);
    let loads = loads(pass);
    format!(
        r#"// {id} ({name}) — {title}, implicit GEMM with shared-memory tiles
// (for real GPUs). GENERATED by wgsl-gen (src/conv2d_tiled.rs): edit that.
// {formula}
// GEMM view: {gemm}. Layouts: NCHW activations, OIHW weights; im2col is gathered in the load
// step, never materialised.
// Workgroup 16x16 threads computes a 64x64 tile; each thread a 4x4 block (rows {rows}, columns
// tx+16j). The reduction walks in steps of 16: a 64x16 A tile and a 16x64 B tile are staged in
// workgroup memory (zeros past every edge). {grid}.{note}

{UNIFORM}

@group(0) @binding(0) var<uniform> s: Conv;
{bindings}

var<workgroup> a_tile: array<array<f32, 65>, 16>; // [k][row]
var<workgroup> b_tile: array<array<f32, 65>, 16>; // [k][col]

{loads}

{store}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let tx = lid.x;
    let ty = lid.y;
    let row0 = wid.y * 64u;
    let col0 = wid.x * 64u;
    let flat = ty * 16u + tx;
    let m = {m};
    let ncols = {ncols};
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
"#
    )
}
