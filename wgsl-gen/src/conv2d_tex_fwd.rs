//! The texture-operand forward (scripts/gen_conv2d_tex.py `forward`/`forward_bm` and
//! scripts/conv2d_tex_narrow.py): one generator for every tile family, parameterised by the
//! lane's column layout (`Cols`) and the row order (`Order`).
//!
//! The Python writes the 4- and 8-column kernels and derives the batch-major, 2-, 3- and
//! 6-column ones by rewriting that text; here each of those rewrites is a parameter: a lane owns
//! a list of accumulator groups (vec4, vec2 or f32, `Group`), and every place the Python
//! rewrote (accumulators, weight loads, multiply-adds, stores, store functions, W_T rows) is
//! written per group. No text substitution remains.

use crate::conv2d_tex_uniform::UNIFORM;
use crate::sgbc_block::{accumulators, fma_block, fma_block_from, Acc};
use crate::text::Out;

/// Rows (output pixels) per workgroup (= per subgroup).
const TM: usize = 64;

/// Columns per lane: 8 and 4 (vec4 groups), and the narrow layouts for layers whose output
/// channels fill less than a 4- or 8-column tile: 6 (vec4 + vec2), 2 (vec2), 3 (vec2 + f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cols {
    /// 8 columns per lane (two vec4 groups): the default tile.
    N8,
    /// 4 columns per lane.
    N4,
    /// 6 columns per lane (vec4 + vec2).
    N6,
    /// 2 columns per lane.
    N2,
    /// 3 columns per lane (vec2 + f32).
    N3,
}

/// How GEMM rows map to output pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Row p = output pixel p (n, oy, ox) in NCHW order.
    Pixel,
    /// Rows ordered by 2x2/2 pooling window, with the fused max-pool in the store.
    Pool,
    /// Row p = output pixel p / N of image p % N, with a per-tile tap range.
    BatchMajor,
    /// Row p = output pixel p, for 1x1 convolutions with stride 1 and no padding: the input is
    /// read from the rgba mirror of its own NCHW buffer (4 consecutive pixels of one channel per
    /// texel), so no operand is packed; a lane loads 4 consecutive rows per 16-row block.
    Nchw,
}

/// One accumulator group of a lane.
struct Group {
    acc: Acc,
    /// The group's first column (a WGSL expression in main).
    col: &'static str,
    /// Its weight texel column (forward weight texture).
    texel: &'static str,
}

const V4_0: Group = Group {
    acc: Acc::Vec4,
    col: "col",
    texel: "tx + 0",
};
const V4_1: Group = Group {
    acc: Acc::Vec4,
    col: "col + 4u",
    texel: "tx + 1",
};

impl Cols {
    /// Output columns per lane.
    pub fn n(self) -> usize {
        match self {
            Cols::N8 => 8,
            Cols::N4 => 4,
            Cols::N6 => 6,
            Cols::N2 => 2,
            Cols::N3 => 3,
        }
    }

    /// The lane's groups. 6 columns: [4l, 4l+4) in a vec4 and [4sg + 2l, 4sg + 2l + 2) in a vec2
    /// (weights: the .xy or .zw half of texel 4sg/4 + l/2). 2 columns: [2l, 2l+2) in a vec2
    /// (weights: the .xy or .zw half of texel l/2); 3 adds column 2sg + l in an f32 (weights:
    /// component l % 4 of its texel).
    fn groups(self) -> Vec<Group> {
        let v2 = |col, texel| Group {
            acc: Acc::Vec2,
            col,
            texel,
        };
        let f32_col3 = Group {
            acc: Acc::F32,
            col: "col3",
            texel: "tz",
        };
        match self {
            Cols::N8 => vec![V4_0, V4_1],
            Cols::N4 => vec![V4_0],
            Cols::N6 => vec![V4_0, v2("col2", "tx2")],
            Cols::N2 => vec![v2("col", "tx")],
            Cols::N3 => vec![v2("col", "tx"), f32_col3],
        }
    }

    /// Columns per lane starting at `col` (lane * this).
    fn contiguous(self) -> usize {
        match self {
            Cols::N8 => 8,
            Cols::N4 | Cols::N6 => 4,
            Cols::N2 | Cols::N3 => 2,
        }
    }

    /// The tile's columns in the header.
    fn describe(self, sg: usize) -> String {
        let tn = self.n() * sg;
        match self {
            Cols::N8 | Cols::N4 => {
                let c = self.n();
                format!("{TM} pixels x {tn} channels, lane l owning columns [{c}l, {c}l+{c}) of all {TM} rows.")
            }
            Cols::N6 => format!(
                "{TM} pixels x {tn} channels, lane l owning columns [4l, 4l+4) and\n// [{} + 2l, {} + 2l + 2) of all {TM} rows (6 columns per lane).",
                4 * sg,
                4 * sg
            ),
            Cols::N2 => format!(
                "{TM} pixels x {tn} channels,\n// lane l owning columns [2l, 2l+2) of all {TM} rows (2 columns per lane)."
            ),
            Cols::N3 => format!(
                "{TM} pixels x {tn} channels,\n// lane l owning columns [2l, 2l+2) and {} + l of all {TM} rows (3 columns per lane).",
                2 * sg
            ),
        }
    }
}

/// Store-function name suffix of a group type: `store`, `store2`, `store1`.
fn store_suffix(acc: Acc) -> &'static str {
    match acc {
        Acc::Vec4 => "",
        Acc::Vec2 => "2",
        Acc::F32 => "1",
    }
}

/// A group's accumulator as a store argument (the 1-column stores take a vec2).
fn store_arg(acc: Acc, c: &str) -> String {
    match acc {
        Acc::F32 => format!("vec2<f32>({c})"),
        _ => c.to_string(),
    }
}

const W_T_HEADER: &str = r#"// W_T (the input gradient): wt is the forward pass's weight texture of the layer, read
// transposed: the reduction runs over its output channels (texel columns) and the GEMM columns
// over its input channels (rows) at the flipped tap, so no flipped copy of W is packed.
"#;

const W_T_OVERRIDE: &str = "\noverride W_T: bool = false;\n";

const POOL_HEADER: &str = r#"// FUSED 2x2/2 MAX-POOL (conv2d.fwd_pool.igemm_tex): rows are ordered by pooling window, row
// p = pixel (p & 3), row-major, of window p >> 2 (m = 4*N*pH*pW, pH = floor(oH/2)); the store
// takes the window's maximum of (acc + bias), then the ReLU (max and ReLU commute), and writes
// the pooled Yp[n, co, py, px] and its argmax (index oy*oW + ox in the conv-output plane, the
// first maximum in row-major order, as pool/max_fwd.wgsl): the unpooled output is never written.
// The bottom row / right column of an odd output is in no window and is not computed.
"#;

const BM_HEADER: &str = r#"// BATCH-MAJOR ROWS (conv2d.*.igemm_tex, `_bm` kernels): row p = output pixel p / N of image
// p % N (N = s.gw), so a 64-row tile holds one or two output pixels of many images, and the
// k-loop visits only the kernel taps that reach the data of the padded input for some row of
// the tile (data rows s.chunk..=s.gr, columns s.p..=s.maxrow, in padded pixels): the taps on
// zero padding, 56% of the multiply-adds of the digits conv2's input gradient (dY 8x8 padded
// to 16x16 for a 12x12 output), are skipped instead of multiplied by zero.
"#;

/// The pooled store of `n` columns (`vec`: the accumulator type it takes).
fn store_pool_fn(suffix: &str, vec: &str, n: usize) -> String {
    format!(
        r#"fn store_pool{suffix}(p: u32, co: u32, v0: {vec}, v1: {vec}, v2: {vec}, v3: {vec}) {{
    let pohw = s.ph * s.pw;
    let win = p >> 2u;
    let q = win % pohw;
    let at0 = 2u * (q / s.pw) * s.ow + 2u * (q % s.pw);
    let base = (win / pohw) * s.ncol * pohw + q;
    for (var j = 0u; j < {n}u; j++) {{
        if (co + j < s.ncol) {{
            let bv = select(0.0, bias[min(co + j, arrayLength(&bias) - 1u)], (s.flags & 1u) != 0u);
            var best = v0[j] + bv;
            var at = at0;
            let e1 = v1[j] + bv;
            if (e1 > best) {{ best = e1; at = at0 + 1u; }}
            let e2 = v2[j] + bv;
            if (e2 > best) {{ best = e2; at = at0 + s.ow; }}
            let e3 = v3[j] + bv;
            if (e3 > best) {{ best = e3; at = at0 + s.ow + 1u; }}
            if ((s.flags & 2u) != 0u) {{ best = max(best, 0.0); }}
            y[base + (co + j) * pohw] = best;
            arg[base + (co + j) * pohw] = at;
        }}
    }}
}}
"#
    )
}

/// The plain store of `n` columns; batch-major rows address the output by (p % N, p / N). The
/// NCHW kernels' row p is pixel (p % ohw) of image p / ohw of the A operand's oH x oW plane,
/// written at (oy * sh, ox * sw) of an output plane of s.hp x s.gw pixels: the forward has the
/// same plane and stride 1; the input gradient of a strided 1x1 layer writes dY's pixels where
/// its stride read X (the caller zeroes dX first: no stride reads the rest).
fn store_fn(suffix: &str, vec: &str, n: usize, order: Order) -> String {
    let (plane, base) = match order {
        Order::BatchMajor => ("ohw", "(p % s.gw) * s.ncol * ohw + p / s.gw"),
        Order::Nchw => (
            "plane",
            "(p / ohw) * s.ncol * plane + (q / s.ow) * s.sh * s.gw + (q % s.ow) * s.sw",
        ),
        _ => ("ohw", "(p / ohw) * s.ncol * ohw + p % ohw"),
    };
    let strided = match order {
        Order::Nchw => "\n    let plane = s.hp * s.gw;\n    let q = p % ohw;",
        _ => "",
    };
    format!(
        r#"fn store{suffix}(p: u32, co: u32, v: {vec}) {{
    let ohw = s.oh * s.ow;{strided}
    let base = {base};
    for (var j = 0u; j < {n}u; j++) {{
        if (co + j < s.ncol) {{
            var r = v[j];
            let bv = bias[min(co + j, arrayLength(&bias) - 1u)];
            if ((s.flags & 1u) != 0u) {{ r += bv; }}
            if ((s.flags & 2u) != 0u) {{ r = max(r, 0.0); }}
            y[base + (co + j) * {plane}] = r;
        }}
    }}
}}
"#
    )
}

const NCHW_HEADER: &str = r#"// NCHW INPUT (1x1 kernel, no padding, forward stride 1; `_nchw` kernels): xt is the rgba32float mirror
// of the input's own NCHW buffer (texel t = values 4t..4t+4, at (t & (2^shift - 1), t >> shift)),
// with C and H*W multiples of 4, so a texel is 4 consecutive pixels of one channel and the GEMM
// reads its A operand without packing. Lane l loads rows 4g..4g+4 of each 4-row group
// g = l + k*sg (4 texels per k-step: 4 channels x 4 pixels) and transposes them in registers
// into one vec4 of 4 channels per row; row r is then broadcast from lane (r/4) % sg. The input
// gradient of a 1x1 layer without padding runs this kernel on dY's mirror with W_T, any stride:
// the store writes row (oy, ox) at (oy*sh, ox*sw) of dX's s.hp x s.gw plane.
"#;

/// Coordinates of a flat texel in a mirror texture (the NCHW kernels).
const MIRROR_AT: &str = r#"
fn mirror_at(t: u32) -> vec2<i32> {
    return vec2<i32>(i32(t & ((1u << s.shift) - 1u)), i32(t >> s.shift));
}
"#;

/// The tap-range prologue of batch-major rows (replaces the plain k-loop head).
const BM_LOOP_HEAD: &str = r#"    // Taps (ky, kx) that reach the data for some pixel of this tile (pixels qa..=qb).
    let qa = row0 / s.gw;
    let qb = min(row0 + 63u, s.m - 1u) / s.gw;
    let ya = i32(qa / s.ow);
    let yb = i32(qb / s.ow);
    var xa = i32(qa % s.ow);
    var xb = i32(qb % s.ow);
    if (ya != yb) { xa = 0; xb = i32(s.ow) - 1; }
    let ky0 = max(i32(s.chunk) - yb * i32(s.sh), 0);
    let ky1 = min(i32(s.gr) - ya * i32(s.sh) + 1, i32(s.kh));
    let kx0 = max(i32(s.p) - xb * i32(s.sw), 0);
    let kx1 = min(i32(s.maxrow) - xa * i32(s.sw) + 1, i32(s.kw));
    let row_texels = i32(s.kw * s.c4);
    let dx0 = kx0 * i32(s.c4);
    let dx1 = kx1 * i32(s.c4);
    let steps = select(0, (ky1 - ky0) * (dx1 - dx0), ky1 > ky0 && kx1 > kx0);
    var dx = dx0;
    var oy = ky0;
    var kx = kx0; // W_T: the tap's column and the texel within the pixel (dx = kx*c4 + cq)
    var cq = 0;
    for (var t = 0; t < steps; t++) {
        let kr = 4 * (oy * row_texels + dx);"#;

pub(crate) fn forward(sg: usize, cols: Cols, order: Order) -> String {
    let pool = order == Order::Pool;
    let bm = order == Order::BatchMajor;
    let nchw = order == Order::Nchw;
    let rpl = TM / sg;
    let tn = cols.n() * sg;
    let groups = cols.groups();
    let accs: Vec<Acc> = groups.iter().map(|g| g.acc).collect();
    let mut o = Out::new();

    // Header.
    let kind = if pool {
        "fwd_pool.igemm_tex"
    } else {
        "fwd.igemm_tex"
    };
    let mut what = String::new();
    if cols != Cols::N8 {
        what += &format!(", {} columns per lane", cols.n());
    }
    if bm {
        what += ", batch-major rows";
    }
    if nchw {
        what += ", 1x1 on the NCHW input";
    }
    let tile = cols.describe(sg);
    let bm_header = match order {
        Order::BatchMajor => BM_HEADER,
        Order::Nchw => NCHW_HEADER,
        _ => "",
    };
    let order_header = if pool { POOL_HEADER } else { W_T_HEADER };
    // The input gradient (W_T) never runs a pooled kernel.
    let w_t_override = if pool { "" } else { W_T_OVERRIDE };
    let pool_store = if pool {
        format!(
            "@group(0) @binding(5) var<storage, read_write> arg: array<u32>;\n\n{}",
            store_pool_fn("", "vec4<f32>", 4)
        )
    } else {
        String::new()
    };
    // The full-width store, then narrow copies for the narrow groups (a 4-column store would
    // overwrite the next lane's columns). The 6-column pooled kernel also keeps a plain 2-column
    // store (unused, as the Python wrote it).
    let mut stores = store_fn("", "vec4<f32>", 4, order);
    for g in &groups {
        if g.acc == Acc::Vec4 {
            continue;
        }
        let (suffix, n) = (store_suffix(g.acc), g.acc.width());
        let f = if pool {
            store_pool_fn(suffix, "vec2<f32>", n)
        } else {
            store_fn(suffix, "vec2<f32>", n, order)
        };
        stores += &format!("\n{f}");
    }
    if pool && cols == Cols::N6 {
        stores += &format!("\n{}", store_fn("2", "vec2<f32>", 2, order));
    }
    if nchw {
        stores += MIRROR_AT;
    }
    let contig = cols.contiguous();
    o.w(format!(
        r#"// conv2d.{kind}{what} (subgroup size {sg}) — conv2d forward as an implicit GEMM with both
// operands in rgba32float textures, for CPU adapters. GENERATED by wgsl-gen (src/conv2d_tex_fwd.rs): edit that.
// Y[n, co, oy, ox] = sum_(ky,kx,c) X~[n, oy*sh + ky, ox*sw + kx, c] * W~[(ky,kx,c), co] (+ bias[co]) (ReLU)
// X~ is the zero-padded NHWC input texture (pack_input.wgsl), W~ the weight texture (pack_weight.wgsl):
// no bounds checks, no divisions in the loop. The input gradient runs this kernel too, on dY
// dilated by the stride and padded by k-1-p, with flipped, transposed weights and stride 1.
// Rows = output pixels (N*oH*oW), columns = output channels; one {sg}-lane subgroup computes
// {tile}
{bm_header}// Grid (ceil(Co/{tn}), ceil(P/{TM})), workgroup ({sg}).
{order_header}
{UNIFORM}
{w_t_override}
@group(0) @binding(0) var<uniform> s: ConvTex;
@group(0) @binding(1) var xt: texture_2d<f32>;
@group(0) @binding(2) var wt: texture_2d<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
{pool_store}
{stores}
@compute @workgroup_size({sg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{
    let row0 = wid.y * {TM}u;
    let col = wid.x * {tn}u + lane * {contig}u;"#
    ));
    // Column bases of the groups that do not start at `col`, and the half-texel selector.
    for g in &groups {
        match g.acc {
            Acc::Vec4 => {}
            Acc::Vec2 => {
                if g.col != "col" {
                    o.w(format!(
                        "    let {} = wid.x * {tn}u + {}u + lane * 2u;",
                        g.col,
                        4 * sg
                    ));
                    o.w(format!("    let {} = i32({} / 4u);", g.texel, g.col));
                }
                o.w("    let even = (lane & 1u) == 0u;");
            }
            Acc::F32 => {
                o.w(format!(
                    "    let {} = wid.x * {tn}u + {}u + lane;",
                    g.col,
                    2 * sg
                ));
                o.w(format!("    let {} = i32({} / 4u);", g.texel, g.col));
            }
        }
    }
    o.w("    let ohw = s.oh * s.ow;");
    for i in 0..rpl {
        let r = i * sg;
        match order {
            Order::Pool => {
                // Row p is pixel (p & 3) in row-major order of pooling window p >> 2.
                o.w(format!("    let p{i} = min(row0 + {r}u + lane, s.m - 1u); let w{i} = p{i} >> 2u; let q{i} = w{i} % (s.ph * s.pw);"));
                o.w(format!("    let bx{i} = i32((2u * (q{i} % s.pw) + (p{i} & 1u)) * s.sw * s.c4); let by{i} = i32((w{i} / (s.ph * s.pw)) * s.hp + (2u * (q{i} / s.pw) + ((p{i} >> 1u) & 1u)) * s.sh);"));
            }
            Order::Pixel => {
                o.w(format!(
                    "    let p{i} = min(row0 + {r}u + lane, s.m - 1u); let q{i} = p{i} % ohw;"
                ));
                o.w(format!("    let bx{i} = i32((q{i} % s.ow) * s.sw * s.c4); let by{i} = i32((p{i} / ohw) * s.hp + (q{i} / s.ow) * s.sh);"));
            }
            Order::BatchMajor => {
                o.w(format!(
                    "    let p{i} = min(row0 + {r}u + lane, s.m - 1u); let q{i} = p{i} / s.gw;"
                ));
                o.w(format!("    let bx{i} = i32((q{i} % s.ow) * s.sw * s.c4); let by{i} = i32((p{i} % s.gw) * s.hp + (q{i} / s.ow) * s.sh);"));
            }
            Order::Nchw => {}
        }
    }
    if nchw {
        // The first mirror texel (channel 0) of each 4-row group the lane loads (m is a
        // multiple of 4; groups past m load the last one and are not stored).
        o.w("    // Texels of channel 0 of the lane's 4-row groups; a channel further is s.plane4 on.");
        for sl in 0..rpl / 4 {
            o.w(format!(
                "    let g{sl} = min(row0 + {}u + 4u * lane, s.m - 4u); var xg{sl} = (g{sl} / ohw) * s.c4 * 4u * s.plane4 + (g{sl} % ohw) / 4u;",
                4 * sl * sg
            ));
        }
    }
    o.w("    let tx = i32(col / 4u);");
    if !pool {
        o.w("    // W_T: rows per tap of the forward texture (input channels rounded up to 4) and the");
        o.w("    // lane's column texels clamped to them (the store drops columns >= ncol).");
        o.w("    let wc = i32((s.ncol + 3u) / 4u) * 4;");
        // W_T rows of each group's columns in the forward texture.
        for (h, g) in groups.iter().enumerate() {
            match g.acc {
                Acc::Vec4 => o.w(format!("    let wx{h} = 4 * min(tx + {h}, wc / 4 - 1);")),
                Acc::Vec2 => {
                    o.w(format!("    let wy0 = min(i32({}), wc - 1);", g.col));
                    o.w(format!("    let wy1 = min(i32({}) + 1, wc - 1);", g.col));
                }
                Acc::F32 => o.w(format!("    let wz = min(i32({}), wc - 1);", g.col)),
            }
        }
    }
    accumulators(&mut o, TM, &accs);
    // One flat loop over the k-steps (nested loops cost LLVM minutes of compile time with 512
    // loop-carried values): (dx, oy) walk the kernel window, cq counts texels within a pixel.
    if bm {
        o.w(BM_LOOP_HEAD);
    } else if nchw {
        o.w("    let steps = i32(s.c4);\n    let oy = 0;\n    let kx = 0;\n    var cq = 0; // W_T: the texel within the pixel");
        o.w("    for (var kr = 0; kr < 4 * steps; kr += 4) {");
    } else {
        o.w("    let steps = i32(s.kh * s.kw * s.c4);\n    let row_end = i32(s.kw * s.c4);\n    var dx = 0;\n    var oy = 0;");
        // The W_T counters serve only the input gradient, which never runs a pooled kernel.
        if !pool {
            o.w("    var kx = 0; // W_T: the tap's column and the texel within the pixel (dx = kx*c4 + cq)\n    var cq = 0;");
        }
        o.w("    for (var kr = 0; kr < 4 * steps; kr += 4) {");
    }
    if nchw {
        for sl in 0..rpl / 4 {
            for j in 0..4 {
                o.w(format!("        let e{sl}_{j} = textureLoad(xt, mirror_at(xg{sl} + {j}u * s.plane4), 0);"));
            }
            for i in 0..4 {
                o.w(format!(
                    "        let a{} = vec4<f32>(e{sl}_0[{i}], e{sl}_1[{i}], e{sl}_2[{i}], e{sl}_3[{i}]);",
                    4 * sl + i
                ));
            }
        }
    } else {
        for i in 0..rpl {
            o.w(format!(
                "        let a{i} = textureLoad(xt, vec2<i32>(bx{i} + dx, by{i} + oy), 0);"
            ));
        }
    }
    if pool {
        weights_pool(&mut o, &groups);
    } else {
        weights_w_t(&mut o, &groups);
    }
    if nchw {
        // Row r: group r/4 = lane + slot*sg, component r%4 of the slot.
        fma_block_from(&mut o, TM, &accs, |r| {
            let g = r / 4;
            (4 * (g / sg) + r % 4, g % sg)
        });
    } else {
        fma_block(&mut o, sg, TM, &accs);
    }
    if nchw {
        let next: Vec<String> = (0..rpl / 4)
            .map(|sl| format!("xg{sl} += 4u * s.plane4;"))
            .collect();
        o.w(format!("        {}\n        cq += 1;\n    }}", next.join(" ")));
    } else if bm {
        o.w("        dx += 1;\n        cq += 1;\n        if (cq == i32(s.c4)) { cq = 0; kx += 1; }\n        if (dx == dx1) { dx = dx0; oy += 1; kx = kx0; }\n    }");
    } else if pool {
        o.w("        dx += 1;\n        if (dx == row_end) { dx = 0; oy += 1; }\n    }");
    } else {
        o.w("        dx += 1;\n        cq += 1;\n        if (cq == i32(s.c4)) { cq = 0; kx += 1; }\n        if (dx == row_end) { dx = 0; oy += 1; kx = 0; }\n    }");
    }
    if pool {
        // m is a multiple of 4 and row0 of 64: a window's 4 rows are all valid or all past m.
        for r in (0..TM).step_by(4) {
            let stores: Vec<String> = groups
                .iter()
                .enumerate()
                .map(|(h, g)| {
                    let vs: Vec<String> = (r..r + 4)
                        .map(|rr| store_arg(g.acc, &format!("c{rr}_{h}")))
                        .collect();
                    format!(
                        "store_pool{}(row0 + {r}u, {}, {});",
                        store_suffix(g.acc),
                        g.col,
                        vs.join(", ")
                    )
                })
                .collect();
            o.w(format!(
                "    if (row0 + {r}u < s.m) {{ {} }}",
                stores.join(" ")
            ));
        }
    } else {
        for r in 0..TM {
            let stores: Vec<String> = groups
                .iter()
                .enumerate()
                .map(|(h, g)| {
                    format!(
                        "store{}(row0 + {r}u, {}, {});",
                        store_suffix(g.acc),
                        g.col,
                        store_arg(g.acc, &format!("c{r}_{h}"))
                    )
                })
                .collect();
            o.w(format!(
                "    if (row0 + {r}u < s.m) {{ {} }}",
                stores.join(" ")
            ));
        }
    }
    o.w("}");
    o.finish()
}

/// Weight loads of the pooled kernels: straight texel fetches (no W_T).
fn weights_pool(o: &mut Out, groups: &[Group]) {
    for q in 0..4 {
        for (h, g) in groups.iter().enumerate() {
            if g.acc == Acc::Vec4 {
                o.w(format!(
                    "        let b{q}_{h} = textureLoad(wt, vec2<i32>({}, kr + {q}), 0);",
                    g.texel
                ));
            }
        }
    }
    for (h, g) in groups.iter().enumerate() {
        for q in 0..4 {
            match g.acc {
                Acc::Vec4 => {}
                Acc::Vec2 => o.w(format!(
                    "        let h{q} = textureLoad(wt, vec2<i32>({}, kr + {q}), 0); let b{q}_{h} = select(h{q}.zw, h{q}.xy, even);",
                    g.texel
                )),
                Acc::F32 => o.w(format!(
                    "        let b{q}_{h} = textureLoad(wt, vec2<i32>({}, kr + {q}), 0)[col3 & 3u];",
                    g.texel
                )),
            }
        }
    }
}

/// Weight loads of the unpooled kernels, with the W_T alternative: the GEMM columns are rows of
/// the forward texture at the flipped tap, each a texel of the 4 reduction values of this
/// k-step, so a vec4 group is a 4x4 transpose in registers; loads that W_T leaves dead are
/// dropped.
fn weights_w_t(o: &mut Out, groups: &[Group]) {
    o.w("        let wr = ((i32(s.kh) - 1 - oy) * i32(s.kw) + i32(s.kw) - 1 - kx) * wc;");
    let v4: Vec<(usize, &Group)> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.acc == Acc::Vec4)
        .collect();
    for &(h, g) in &v4 {
        for q in 0..4 {
            o.w(format!("        let t{q}_{h} = textureLoad(wt, select(vec2<i32>({}, kr + {q}), vec2<i32>(cq, wr + wx{h} + {q}), W_T), 0);", g.texel));
        }
    }
    for q in 0..4 {
        for &(h, _) in &v4 {
            o.w(format!("        let b{q}_{h} = select(t{q}_{h}, vec4<f32>(t0_{h}[{q}], t1_{h}[{q}], t2_{h}[{q}], t3_{h}[{q}]), W_T);"));
        }
    }
    for (h, g) in groups.iter().enumerate() {
        match g.acc {
            Acc::Vec4 => {}
            Acc::Vec2 => {
                for q in 0..4 {
                    o.w(format!("        let h{q} = textureLoad(wt, select(vec2<i32>({}, kr + {q}), vec2<i32>(cq, wr + wy{}), W_T), 0);", g.texel, q.min(1)));
                }
                for q in 0..4 {
                    o.w(format!("        let b{q}_{h} = select(select(h{q}.zw, h{q}.xy, even), vec2<f32>(h0[{q}], h1[{q}]), W_T);"));
                }
            }
            Acc::F32 => {
                for q in 0..4 {
                    o.w(format!("        let z{q} = textureLoad(wt, select(vec2<i32>({}, kr + {q}), vec2<i32>(cq, wr + wz), W_T), 0);", g.texel));
                }
                for q in 0..4 {
                    o.w(format!(
                        "        let b{q}_{h} = select(z{q}[col3 & 3u], z0[{q}], W_T);"
                    ));
                }
            }
        }
    }
}
