//! Subgroup-broadcast register-blocked implicit-GEMM conv2d kernels for CPU adapters
//! (scripts/gen_conv2d.py, `sgbc`): `<pass>_<algo>_sgbc_s<sg>.wgsl`.

use crate::conv2d::{Pass, UNIFORM};
use crate::sgbc_block::{accumulators, fma_block, vec4s};
use crate::text::Out;
use crate::Generated;

/// Rows per workgroup (= per subgroup).
const TM: usize = 64;

/// One row of the table: a kernel file.
struct Row {
    pass: Pass,
    sg: usize,
    /// Columns per lane.
    cols: usize,
}

// Columns per lane: 8 at subgroup size 8 (64 columns per workgroup), 4 at 16 (also 64), so a
// workgroup covers the 64 output channels of a typical layer either way.
const TABLE: &[Row] = &[
    Row {
        pass: Pass::Fwd,
        sg: 8,
        cols: 8,
    },
    Row {
        pass: Pass::Fwd,
        sg: 16,
        cols: 4,
    },
    Row {
        pass: Pass::Dgrad,
        sg: 8,
        cols: 8,
    },
    Row {
        pass: Pass::Dgrad,
        sg: 16,
        cols: 4,
    },
    Row {
        pass: Pass::Wgrad,
        sg: 8,
        cols: 8,
    },
    Row {
        pass: Pass::Wgrad,
        sg: 16,
        cols: 4,
    },
];

pub(crate) fn generated() -> Vec<Generated> {
    TABLE
        .iter()
        .map(|r| {
            let name = file_name(r.pass, r.sg);
            Generated {
                path: format!("conv2d/{name}.wgsl"),
                kernels: vec![crate::conv2d::kernel_id(&name)],
                source: sgbc(r.pass, r.sg, r.cols, &name),
                family: "conv2d sgbc",
                row: format!("pass={} cols={} sg={}", r.pass.name(), r.cols, r.sg),
            }
        })
        .collect()
}

fn file_name(pass: Pass, sg: usize) -> String {
    match pass {
        Pass::Fwd => format!("fwd_igemm_sgbc_s{sg}"),
        Pass::Dgrad => format!("dgrad_igemm_sgbc_s{sg}"),
        Pass::Wgrad => format!("wgrad_splitk_sgbc_s{sg}"),
    }
}

const NEXT_K: &str = r#"// Step (outer, ky, kx) to the next reduction index in (outer, ky, kx) order, without division.
fn next_k(t: vec3<u32>) -> vec3<u32> {
    let wrap_x = t.z + 1u == s.kw;
    let yy = select(t.y, t.y + 1u, wrap_x);
    let wrap_y = wrap_x && yy == s.kh;
    return vec3<u32>(select(t.x, t.x + 1u, wrap_y), select(yy, 0u, wrap_y), select(t.z + 1u, 0u, wrap_x));
}"#;

const NEXT_P: &str = r#"// Step (n, oy, ox) to the next output pixel, without division.
fn next_p(t: vec3<u32>) -> vec3<u32> {
    let wrap_x = t.z + 1u == s.ow;
    let yy = select(t.y, t.y + 1u, wrap_x);
    let wrap_y = wrap_x && yy == s.oh;
    return vec3<u32>(select(t.x, t.x + 1u, wrap_y), select(yy, 0u, wrap_y), select(t.z + 1u, 0u, wrap_x));
}"#;

const LDX: &str = r#"// X at flat index `idx` whose (row, column) inside its plane is (iy, ix); 0 outside (padding).
fn ldx(idx: i32, iy: i32, ix: i32, valid: bool) -> f32 {
    let ok = valid && u32(iy) < s.h && u32(ix) < s.w;
    return select(0.0, xin[select(0u, u32(idx), ok)], ok);
}"#;

const LDY: &str = r#"// dY[base + oy*oW + ox] with (oy, ox) = (uy/sh, ux/sw) when exact and in range, else 0.
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
}"#;

fn sg_store(pass: Pass) -> &'static str {
    match pass {
        Pass::Fwd => {
            r#"fn store(p: u32, co: u32, v: vec4<f32>) {
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
}"#
        }
        Pass::Dgrad => {
            r#"fn store(q: u32, ci: u32, v: vec4<f32>) {
    let hw = s.h * s.w;
    let base = (q / hw) * s.ci * hw + q % hw;
    for (var j = 0u; j < 4u; j++) {
        if (ci + j < s.ci) { dx[base + (ci + j) * hw] = v[j]; }
    }
}"#
        }
        Pass::Wgrad => {
            r#"fn store(co: u32, k: u32, v: vec4<f32>, z: u32) {
    let nk = s.ci * s.kh * s.kw;
    for (var j = 0u; j < 4u; j++) {
        if (k + j < nk) { part[(z * s.co + co) * nk + k + j] = v[j]; }
    }
}"#
        }
    }
}

/// The pass-specific parts of the kernel.
struct Pieces {
    helpers: String,
    /// Lines after `let col = ...` (per-lane row and column bases).
    prologue: Vec<String>,
    /// The reduction range of the k-loop.
    krange: (&'static str, &'static str),
    /// Lines at the top of each k-step: the gathers of a{i} and b{q}_{h}.
    step: Vec<String>,
    /// Extra arguments of `store` (wgrad: the split).
    store_tail: &'static str,
}

fn sg_pieces(pass: Pass, sg: usize, cp: usize) -> Pieces {
    let rpl = TM / sg;
    let mut pro: Vec<String> = Vec::new();
    let mut st: Vec<String> = Vec::new();
    let p = |pro: &mut Vec<String>, s: &str| pro.push(s.to_string());
    match pass {
        Pass::Fwd => {
            p(&mut pro, "    let m = s.n * s.oh * s.ow;");
            p(&mut pro, "    let ohw = s.oh * s.ow;");
            p(&mut pro, "    let hw = s.h * s.w;");
            p(&mut pro, "    let kk = s.ci * s.kh * s.kw;");
            for i in 0..rpl {
                let o = i * sg;
                pro.push(format!("    let p{i} = min(row0 + {o}u + lane, m - 1u);"));
                pro.push(format!("    let q{i} = p{i} % ohw;"));
                pro.push(format!(
                    "    let iy{i} = i32((q{i} / s.ow) * s.sh) - i32(s.ph);"
                ));
                pro.push(format!(
                    "    let ix{i} = i32((q{i} % s.ow) * s.sw) - i32(s.pw);"
                ));
                pro.push(format!(
                    "    let ro{i} = i32((p{i} / ohw) * s.ci * hw) + iy{i} * i32(s.w) + ix{i};"
                ));
            }
            for j in 0..cp {
                pro.push(format!("    let wb{j} = min(col + {j}u, s.co - 1u) * kk;"));
            }
            p(&mut pro, "    var t = vec3<u32>(0u);");
            p(&mut st, "        let t0 = t; let t1 = next_k(t0); let t2 = next_k(t1); let t3 = next_k(t2); t = next_k(t3);");
            for q in 0..4 {
                st.push(format!("        let ky{q} = i32(t{q}.y); let kx{q} = i32(t{q}.z); let kv{q} = k + {q}u < kk;"));
                st.push(format!("        let ko{q} = i32(t{q}.x * hw) + ky{q} * i32(s.w) + kx{q}; let kc{q} = min(k + {q}u, kk - 1u);"));
            }
            for i in 0..rpl {
                let args =
                    join4(|q| format!("ldx(ro{i} + ko{q}, iy{i} + ky{q}, ix{i} + kx{q}, kv{q})"));
                st.push(format!("        let a{i} = vec4<f32>({args});"));
            }
            for q in 0..4 {
                for h in 0..cp / 4 {
                    let args = join4(|j| format!("wt[wb{} + kc{q}]", 4 * h + j));
                    st.push(format!("        let b{q}_{h} = vec4<f32>({args});"));
                }
            }
            Pieces {
                helpers: format!("{NEXT_K}\n\n{LDX}"),
                prologue: pro,
                krange: ("0u", "kk"),
                step: st,
                store_tail: "",
            }
        }
        Pass::Dgrad => {
            p(&mut pro, "    let m = s.n * s.h * s.w;");
            p(&mut pro, "    let hw = s.h * s.w;");
            p(&mut pro, "    let ohw = s.oh * s.ow;");
            p(&mut pro, "    let khw = s.kh * s.kw;");
            p(&mut pro, "    let kk = s.co * khw;");
            for i in 0..rpl {
                let o = i * sg;
                pro.push(format!("    let p{i} = min(row0 + {o}u + lane, m - 1u);"));
                pro.push(format!("    let q{i} = p{i} % hw;"));
                pro.push(format!("    let ty{i} = i32(q{i} / s.w + s.ph);"));
                pro.push(format!("    let tx{i} = i32(q{i} % s.w + s.pw);"));
                pro.push(format!("    let ro{i} = (p{i} / hw) * s.co * ohw;"));
            }
            for j in 0..cp {
                pro.push(format!("    let cb{j} = min(col + {j}u, s.ci - 1u) * khw;"));
            }
            p(&mut pro, "    var t = vec3<u32>(0u);");
            p(&mut st, "        let t0 = t; let t1 = next_k(t0); let t2 = next_k(t1); let t3 = next_k(t2); t = next_k(t3);");
            for q in 0..4 {
                st.push(format!("        let ky{q} = i32(t{q}.y); let kx{q} = i32(t{q}.z); let kv{q} = k + {q}u < kk;"));
                st.push(format!("        let do{q} = min(t{q}.x, s.co - 1u) * ohw; let wk{q} = min(t{q}.x, s.co - 1u) * s.ci * khw + t{q}.y * s.kw + t{q}.z;"));
            }
            for i in 0..rpl {
                let args =
                    join4(|q| format!("ldy(ro{i} + do{q}, ty{i} - ky{q}, tx{i} - kx{q}, kv{q})"));
                st.push(format!("        let a{i} = vec4<f32>({args});"));
            }
            for q in 0..4 {
                for h in 0..cp / 4 {
                    let args = join4(|j| format!("wt[cb{} + wk{q}]", 4 * h + j));
                    st.push(format!("        let b{q}_{h} = vec4<f32>({args});"));
                }
            }
            Pieces {
                helpers: format!("{NEXT_K}\n\n{LDY}"),
                prologue: pro,
                krange: ("0u", "kk"),
                step: st,
                store_tail: "",
            }
        }
        Pass::Wgrad => {
            p(&mut pro, "    let ohw = s.oh * s.ow;");
            p(&mut pro, "    let hw = s.h * s.w;");
            p(&mut pro, "    let khw = s.kh * s.kw;");
            p(&mut pro, "    let nk = s.ci * khw;");
            p(&mut pro, "    let kbegin = wid.z * s.chunk;");
            p(&mut pro, "    let kend = min(kbegin + s.chunk, s.n * ohw);");
            for i in 0..rpl {
                let o = i * sg;
                pro.push(format!(
                    "    let ro{i} = min(row0 + {o}u + lane, s.co - 1u) * ohw;"
                ));
            }
            for j in 0..cp {
                pro.push(format!("    let kc{j} = min(col + {j}u, nk - 1u);"));
                pro.push(format!("    let cy{j} = i32((kc{j} % khw) / s.kw); let cx{j} = i32((kc{j} % khw) % s.kw);"));
                pro.push(format!(
                    "    let xo{j} = i32((kc{j} / khw) * hw) + cy{j} * i32(s.w) + cx{j};"
                ));
            }
            p(&mut pro, "    let pix0 = kbegin % ohw;");
            p(
                &mut pro,
                "    var t = vec3<u32>(kbegin / ohw, pix0 / s.ow, pix0 % s.ow);",
            );
            p(&mut st, "        let t0 = t; let t1 = next_p(t0); let t2 = next_p(t1); let t3 = next_p(t2); t = next_p(t3);");
            for q in 0..4 {
                st.push(format!("        let pv{q} = k + {q}u < kend; let db{q} = select(0u, t{q}.x * s.co * ohw + t{q}.y * s.ow + t{q}.z, pv{q});"));
                st.push(format!("        let iy{q} = i32(t{q}.y * s.sh) - i32(s.ph); let ix{q} = i32(t{q}.z * s.sw) - i32(s.pw); let xb{q} = i32(t{q}.x * s.ci * hw) + iy{q} * i32(s.w) + ix{q};"));
            }
            p(
                &mut st,
                "        let pmask = vec4<bool>(pv0, pv1, pv2, pv3);",
            );
            for i in 0..rpl {
                let args = join4(|q| format!("dy[ro{i} + db{q}]"));
                st.push(format!(
                    "        let a{i} = select(vec4<f32>(0.0), vec4<f32>({args}), pmask);"
                ));
            }
            for q in 0..4 {
                for h in 0..cp / 4 {
                    let args = join4(|j| {
                        let c = 4 * h + j;
                        format!("ldx(xb{q} + xo{c}, iy{q} + cy{c}, ix{q} + cx{c}, pv{q})")
                    });
                    st.push(format!("        let b{q}_{h} = vec4<f32>({args});"));
                }
            }
            Pieces {
                helpers: format!("{NEXT_P}\n\n{LDX}"),
                prologue: pro,
                krange: ("kbegin", "kend"),
                step: st,
                store_tail: ", wid.z",
            }
        }
    }
}

/// `f(0), f(1), f(2), f(3)` joined by ", ".
fn join4(f: impl Fn(usize) -> String) -> String {
    (0..4).map(f).collect::<Vec<_>>().join(", ")
}

fn sgbc(pass: Pass, sg: usize, cp: usize, name: &str) -> String {
    let d = pass.info();
    let tn = cp * sg;
    let nh = cp / 4;
    let pieces = sg_pieces(pass, sg, cp);
    let (rows_what, cols_what, grid) = match pass {
        Pass::Fwd => (
            "output pixels",
            "output channels",
            format!("Grid (ceil(Co/{tn}), ceil(P/{TM}))"),
        ),
        Pass::Dgrad => (
            "input pixels",
            "input channels",
            format!("Grid (ceil(Ci/{tn}), ceil(Q/{TM}))"),
        ),
        Pass::Wgrad => (
            "output channels",
            "(ci, ky, kx) columns",
            format!("Grid (ceil(K/{tn}), ceil(Co/{TM}), splits)"),
        ),
    };
    let strided = if pass == Pass::Dgrad {
        "\noverride STRIDED: bool = true; // false: stride 1, no division in the gather\n"
    } else {
        ""
    };
    let (title, formula, gemm, bindings) = (d.title, d.formula, d.gemm, d.bindings);
    let accs = TM * nh;
    let helpers = &pieces.helpers;
    let store = sg_store(pass);
    let id = super::conv2d::kernel_id(name);
    let mut o = Out::new();
    o.w(format!(
        r#"// {id} ({name}) — {title}, implicit GEMM with register blocking
// and subgroupBroadcast, for CPU adapters (llvmpipe/lavapipe), subgroup size {sg}.
// GENERATED by wgsl-gen (src/conv2d_sgbc.rs): edit that.
// {formula}
// GEMM view: {gemm}. Layouts: NCHW activations, OIHW weights; im2col is gathered in the load
// step (reduction indices are stepped without division), never materialised.
// One workgroup = one {sg}-lane subgroup computes {TM} {rows_what} x {tn} {cols_what}; lane l owns all
// {TM} rows x columns [{cp}l, {cp}l+{cp}) in {accs} named vec4 accumulators. Per reduction step of 4
// ("ik" order): lane l gathers rows r*{sg}+l as vec4 over the 4 steps and its {cp} columns of the
// other operand; each row's vec4 is broadcast from the lane that loaded it and multiplied into
// that row's accumulators. Rows/columns past the edge are clamped for loading and skipped when
// storing; reduction indices past the end are masked to zero. {grid}, workgroup ({sg}).

{UNIFORM}
{strided}
@group(0) @binding(0) var<uniform> s: Conv;
{bindings}

{helpers}

{store}

@compute @workgroup_size({sg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{
    let row0 = wid.y * {TM}u;
    let col = wid.x * {tn}u + lane * {cp}u;"#
    ));
    for l in &pieces.prologue {
        o.w(l);
    }
    accumulators(&mut o, TM, &vec4s(nh));
    let (kb, ke) = pieces.krange;
    o.w(format!("    for (var k = {kb}; k < {ke}; k += 4u) {{"));
    for l in &pieces.step {
        o.w(l);
    }
    fma_block(&mut o, sg, TM, &vec4s(nh));
    o.w("    }");
    o.w(format!("    let m_rows = {};", d.m));
    for r in 0..TM {
        let stores: Vec<String> = (0..nh)
            .map(|h| {
                format!(
                    "store(row0 + {r}u, col + {}u, c{r}_{h}{});",
                    4 * h,
                    pieces.store_tail
                )
            })
            .collect();
        o.w(format!(
            "    if (row0 + {r}u < m_rows) {{ {} }}",
            stores.join(" ")
        ));
    }
    o.w("}");
    o.finish()
}
