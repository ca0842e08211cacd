#!/usr/bin/env python3
"""Generates the texture-operand conv2d shaders for CPU adapters (llvmpipe/lavapipe):

    shaders/conv2d/fwd_igemm_tex_s{8,16}.wgsl     forward (and, on repacked operands, input gradient)
    shaders/conv2d/wgrad_splitk_tex_s{8,16}.wgsl  weight gradient, split-K partials

Why textures: llvmpipe turns every storage-buffer load into a loop over the lanes with a
branch, a bounds check and a store-to-stack per lane, while `textureLoad` is a vectorised
fetch. Both GEMM operands are packed into rgba32float textures first (pack_*.wgsl), laid out so
that one texel holds the 4 reduction steps a k-step needs and zero padding is real memory: the
inner loop has no bounds checks and no divisions.

    input texture  X~ [N*Hp rows, Wp*C4 texels]: texel (px*C4 + c/4, n*Hp + py) = X[n, c..c+4, py-top, px-left]
                   (zero outside the image, in padded channels, and, for the input gradient,
                   between the positions a stride produced: dY dilated by the stride)
    weight texture W~ [kH*kW*C4*4 rows, columns/4 texels]: row k' = ((ky*kW + kx)*C4 + c/4)*4 + c%4,
                   texel (col/4, k') = W[col..col+4, c, ky, kx]; the input gradient reads the
                   forward pass's texture transposed (override W_T), so no flipped copy is packed
    dY texture     D~ [Co*GR rows, GW texels]: the pixel groups g = p/4 of channel co at
                   (g % GW, co*GR + g / GW) = dY[co, p..p+4] (zero past P); or, when oH*oW is a
                   multiple of 4 (override NCHW_DY), dY's own NCHW buffer copied into an
                   rgba32float mirror, where 4 consecutive pixels of a plane already are one texel

GEMM views, the same register blocking as matmul.sgbc_tex (one subgroup = one workgroup computes
64 rows x 8*sg columns; lane l owns all 64 rows x columns [8l, 8l+8) in 128 named vec4
accumulators; per k-step of 4 each row's A vec4 is broadcast from the lane that loaded it).
The forward kernel also comes as `fwd_igemm_n4_tex_s*` with 4 columns per lane (32 or 64
columns per tile), and the weight gradient as `wgrad_splitk_m32_tex_s*` with 32 rows (output
channels) per tile, for layers with few output channels (DANN's 32-channel convolutions):

    forward  Y[P, Co]  = X~-gather[P, K'] . W~[K', Co]     rows = output pixels, columns = Co
    wgrad    dW[Co, K'] = D~[Co, P] . X~-gather[P, K']     rows = Co, columns = K', P split in chunks

Edit here, then run:
    python3 scripts/gen_conv2d_tex.py
"""
from pathlib import Path
import sys
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sgbc_block import accumulators, fma_block  # noqa: E402
from conv2d_tex_narrow import forward_n6, forward_narrow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "shaders" / "conv2d"
TM = 64    # rows per workgroup (= per subgroup)
COLS = 8   # columns per lane

UNIFORM = """struct ConvTex {
    m: u32, ncol: u32, c4: u32, kh: u32,   // GEMM rows and columns; texels per input pixel; kernel height
    kw: u32, oh: u32, ow: u32, sh: u32,    // kernel width; output size; vertical stride
    sw: u32, hp: u32, flags: u32, chunk: u32, // horizontal stride; padded input rows per image; bit 0 bias, bit 1 ReLU; split-K pixels
    gw: u32, gr: u32, p: u32, maxrow: u32, // dY texture width and rows per channel; pixels P; last input-texture row
    plane4: u32, shift: u32, pw: u32, ph: u32, // NCHW_DY: texels per dY plane (oH*oW/4); log2 of the mirror's width; pooled size (fused pool; wgrad: pw = C)
}"""


W_T_HEADER = """// W_T (the input gradient): wt is the forward pass's weight texture of the layer, read
// transposed: the reduction runs over its output channels (texel columns) and the GEMM columns
// over its input channels (rows) at the flipped tap, so no flipped copy of W is packed.
"""

W_T_OVERRIDE = """
override W_T: bool = false;
"""


POOL_HEADER = """// FUSED 2x2/2 MAX-POOL (conv2d.fwd.igemm_pool_tex): rows are ordered by pooling window, row
// p = pixel (p & 3), row-major, of window p >> 2 (m = 4*N*pH*pW, pH = floor(oH/2)); the store
// takes the window's maximum of (acc + bias), then the ReLU (max and ReLU commute), and writes
// the pooled Yp[n, co, py, px] and its argmax (index oy*oW + ox in the conv-output plane, the
// first maximum in row-major order, as pool/max_fwd.wgsl): the unpooled output is never written.
// The bottom row / right column of an odd output is in no window and is not computed.
"""

POOL_STORE = """@group(0) @binding(5) var<storage, read_write> arg: array<u32>;

fn store_pool(p: u32, co: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) {
    let pohw = s.ph * s.pw;
    let win = p >> 2u;
    let q = win % pohw;
    let at0 = 2u * (q / s.pw) * s.ow + 2u * (q % s.pw);
    let base = (win / pohw) * s.ncol * pohw + q;
    for (var j = 0u; j < 4u; j++) {
        if (co + j < s.ncol) {
            let bv = select(0.0, bias[min(co + j, arrayLength(&bias) - 1u)], (s.flags & 1u) != 0u);
            var best = v0[j] + bv;
            var at = at0;
            let e1 = v1[j] + bv;
            if (e1 > best) { best = e1; at = at0 + 1u; }
            let e2 = v2[j] + bv;
            if (e2 > best) { best = e2; at = at0 + s.ow; }
            let e3 = v3[j] + bv;
            if (e3 > best) { best = e3; at = at0 + s.ow + 1u; }
            if ((s.flags & 2u) != 0u) { best = max(best, 0.0); }
            y[base + (co + j) * pohw] = best;
            arg[base + (co + j) * pohw] = at;
        }
    }
}
"""


def forward(sg: int, pool: bool = False) -> str:
    rpl = TM // sg
    tn = COLS * sg
    out = []
    w = out.append
    pool_header = POOL_HEADER if pool else ""
    pool_store = POOL_STORE
    w(f"""// conv2d.fwd.igemm_tex (subgroup size {sg}) — conv2d forward as an implicit GEMM with both
// operands in rgba32float textures, for CPU adapters. GENERATED by scripts/gen_conv2d_tex.py: edit that.
// Y[n, co, oy, ox] = sum_(ky,kx,c) X~[n, oy*sh + ky, ox*sw + kx, c] * W~[(ky,kx,c), co] (+ bias[co]) (ReLU)
// X~ is the zero-padded NHWC input texture (pack_input.wgsl), W~ the weight texture (pack_weight.wgsl):
// no bounds checks, no divisions in the loop. The input gradient runs this kernel too, on dY
// dilated by the stride and padded by k-1-p, with flipped, transposed weights and stride 1.
// Rows = output pixels (N*oH*oW), columns = output channels; one {sg}-lane subgroup computes
// {TM} pixels x {tn} channels, lane l owning columns [{COLS}l, {COLS}l+{COLS}) of all {TM} rows.
// Grid (ceil(Co/{tn}), ceil(P/{TM})), workgroup ({sg}).
{pool_header}{"" if pool else W_T_HEADER}
{UNIFORM}
{"" if pool else W_T_OVERRIDE}
@group(0) @binding(0) var<uniform> s: ConvTex;
@group(0) @binding(1) var xt: texture_2d<f32>;
@group(0) @binding(2) var wt: texture_2d<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
{pool_store if pool else ""}
fn store(p: u32, co: u32, v: vec4<f32>) {{
    let ohw = s.oh * s.ow;
    let base = (p / ohw) * s.ncol * ohw + p % ohw;
    for (var j = 0u; j < 4u; j++) {{
        if (co + j < s.ncol) {{
            var r = v[j];
            let bv = bias[min(co + j, arrayLength(&bias) - 1u)];
            if ((s.flags & 1u) != 0u) {{ r += bv; }}
            if ((s.flags & 2u) != 0u) {{ r = max(r, 0.0); }}
            y[base + (co + j) * ohw] = r;
        }}
    }}
}}

@compute @workgroup_size({sg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{
    let row0 = wid.y * {TM}u;
    let col = wid.x * {tn}u + lane * {COLS}u;
    let ohw = s.oh * s.ow;""")
    for i in range(rpl):
        if pool:
            # Row p is pixel (p & 3) in row-major order of pooling window p >> 2.
            w(f"    let p{i} = min(row0 + {i * sg}u + lane, s.m - 1u); let w{i} = p{i} >> 2u; let q{i} = w{i} % (s.ph * s.pw);")
            w(f"    let bx{i} = i32((2u * (q{i} % s.pw) + (p{i} & 1u)) * s.sw * s.c4);"
              f" let by{i} = i32((w{i} / (s.ph * s.pw)) * s.hp + (2u * (q{i} / s.pw) + ((p{i} >> 1u) & 1u)) * s.sh);")
        else:
            w(f"    let p{i} = min(row0 + {i * sg}u + lane, s.m - 1u); let q{i} = p{i} % ohw;")
            w(f"    let bx{i} = i32((q{i} % s.ow) * s.sw * s.c4); let by{i} = i32((p{i} / ohw) * s.hp + (q{i} / s.ow) * s.sh);")
    w("    let tx = i32(col / 4u);")
    if not pool:
        w("    // W_T: rows per tap of the forward texture (input channels rounded up to 4) and the")
        w("    // lane's column texels clamped to them (the store drops columns >= ncol).")
        w("    let wc = i32((s.ncol + 3u) / 4u) * 4;")
        for h in range(COLS // 4):
            w(f"    let wx{h} = 4 * min(tx + {h}, wc / 4 - 1);")
    accumulators(w, TM, COLS // 4)
    # One flat loop over the k-steps (nested loops cost LLVM minutes of compile time with 512
    # loop-carried values): (dx, oy) walk the kernel window, cq counts texels within a pixel.
    w("""    let steps = i32(s.kh * s.kw * s.c4);
    let row_end = i32(s.kw * s.c4);
    var dx = 0;
    var oy = 0;
    var kx = 0; // W_T: the tap's column and the texel within the pixel (dx = kx*c4 + cq)
    var cq = 0;
    for (var kr = 0; kr < 4 * steps; kr += 4) {""")
    for i in range(rpl):
        w(f"        let a{i} = textureLoad(xt, vec2<i32>(bx{i} + dx, by{i} + oy), 0);")
    if pool:
        for q in range(4):
            for h in range(COLS // 4):
                w(f"        let b{q}_{h} = textureLoad(wt, vec2<i32>(tx + {h}, kr + {q}), 0);")
    else:
        # W_T: input channels 4(tx+h)..+3 of the flipped tap are 4 rows of the forward texture,
        # each a texel of 4 output channels (the reduction index): a 4x4 transpose in registers.
        w("        let wr = ((i32(s.kh) - 1 - oy) * i32(s.kw) + i32(s.kw) - 1 - kx) * wc;")
        for h in range(COLS // 4):
            for q in range(4):
                w(f"        let t{q}_{h} = textureLoad(wt, select(vec2<i32>(tx + {h}, kr + {q}), vec2<i32>(cq, wr + wx{h} + {q}), W_T), 0);")
        for q in range(4):
            for h in range(COLS // 4):
                w(f"        let b{q}_{h} = select(t{q}_{h}, vec4<f32>(t0_{h}[{q}], t1_{h}[{q}], t2_{h}[{q}], t3_{h}[{q}]), W_T);")
    fma_block(w, sg, TM, COLS // 4)
    w("""        dx += 1;
        cq += 1;
        if (cq == i32(s.c4)) { cq = 0; kx += 1; }
        if (dx == row_end) { dx = 0; oy += 1; kx = 0; }
    }""")
    if pool:
        # m is a multiple of 4 and row0 of 64: a window's 4 rows are all valid or all past m.
        for r in range(0, TM, 4):
            stores = " ".join(f"store_pool(row0 + {r}u, {'col + %du' % (4 * h) if h else 'col'}, "
                              f"c{r}_{h}, c{r + 1}_{h}, c{r + 2}_{h}, c{r + 3}_{h});"
                              for h in range(COLS // 4))
            w(f"    if (row0 + {r}u < s.m) {{ {stores} }}")
    else:
        for r in range(TM):
            stores = " ".join(f"store(row0 + {r}u, {'col + %du' % (4 * h) if h else 'col'}, c{r}_{h});"
                              for h in range(COLS // 4))
            w(f"    if (row0 + {r}u < s.m) {{ {stores} }}")
    w("}")
    text = "\n".join(out) + "\n"
    if pool:
        # The W_T counters serve only the input gradient, which never runs a pooled kernel.
        for line in ("    var kx = 0; // W_T: the tap's column and the texel within the pixel (dx = kx*c4 + cq)\n",
                     "    var cq = 0;\n", "        cq += 1;\n",
                     "        if (cq == i32(s.c4)) { cq = 0; kx += 1; }\n"):
            assert line in text, line
            text = text.replace(line, "", 1)
        text = text.replace("oy += 1; kx = 0; }", "oy += 1; }", 1)
    return text


BM_HEADER = """// BATCH-MAJOR ROWS (conv2d.*.igemm_tex, `_bm` kernels): row p = output pixel p / N of image
// p % N (N = s.gw), so a 64-row tile holds one or two output pixels of many images, and the
// k-loop visits only the kernel taps that reach the data of the padded input for some row of
// the tile (data rows s.chunk..=s.gr, columns s.p..=s.maxrow, in padded pixels): the taps on
// zero padding, 56% of the multiply-adds of the digits conv2's input gradient (dY 8x8 padded
// to 16x16 for a 12x12 output), are skipped instead of multiplied by zero.
"""


def forward_bm(sg: int) -> str:
    """The 4- or 8-column forward kernel (COLS) with batch-major rows and a per-tile tap range."""
    text = forward(sg)
    text = text.replace("// Grid (", BM_HEADER + "// Grid (", 1)
    rpl = TM // sg
    for i in range(rpl):
        old = (f"    let p{i} = min(row0 + {i * sg}u + lane, s.m - 1u); let q{i} = p{i} % ohw;\n"
               f"    let bx{i} = i32((q{i} % s.ow) * s.sw * s.c4); let by{i} = i32((p{i} / ohw) * s.hp + (q{i} / s.ow) * s.sh);")
        new = (f"    let p{i} = min(row0 + {i * sg}u + lane, s.m - 1u); let q{i} = p{i} / s.gw;\n"
               f"    let bx{i} = i32((q{i} % s.ow) * s.sw * s.c4); let by{i} = i32((p{i} % s.gw) * s.hp + (q{i} / s.ow) * s.sh);")
        assert old in text, i
        text = text.replace(old, new, 1)
    old = """    let steps = i32(s.kh * s.kw * s.c4);
    let row_end = i32(s.kw * s.c4);
    var dx = 0;
    var oy = 0;
    var kx = 0; // W_T: the tap's column and the texel within the pixel (dx = kx*c4 + cq)
    var cq = 0;
    for (var kr = 0; kr < 4 * steps; kr += 4) {"""
    new = """    // Taps (ky, kx) that reach the data for some pixel of this tile (pixels qa..=qb).
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
        let kr = 4 * (oy * row_texels + dx);"""
    assert old in text
    text = text.replace(old, new, 1)
    old = """        if (dx == row_end) { dx = 0; oy += 1; kx = 0; }"""
    new = """        if (dx == dx1) { dx = dx0; oy += 1; kx = kx0; }"""
    assert old in text
    text = text.replace(old, new, 1)
    old = "    let base = (p / ohw) * s.ncol * ohw + p % ohw;"
    assert old in text
    text = text.replace(old, "    let base = (p % s.gw) * s.ncol * ohw + p / s.gw;", 1)
    return text


def wgrad(sg: int) -> str:
    rpl = TM // sg
    tn = COLS * sg
    out = []
    w = out.append
    w(f"""// conv2d.wgrad.splitk_tex (subgroup size {sg}) — conv2d weight gradient as a split-K GEMM with both
// operands in rgba32float textures, for CPU adapters. GENERATED by scripts/gen_conv2d_tex.py: edit that.
// part[z, co, k'] = sum over the pixels p of chunk z of D~[co, p] * X~[n, oy*sh + ky, ox*sw + kx, c],
// k' = ((ky*kW + kx)*C4 + c/4)*4 + c%4; wgrad_tex_reduce.wgsl sums the chunks into OIHW order.
// OIHW (one chunk): the store writes dW[co, c, ky, kx] itself (part = dW; s.pw = C, the input
// channels), so no partials buffer, mirror or reduction pass (VGG16's layers from 8x8 down).
// D~ holds dY by channel in groups of 4 pixels (pack_dy.wgsl); X~ is the padded NHWC input
// texture (pack_input.wgsl). Rows = output channels, columns = k'; one {sg}-lane subgroup computes
// {TM} channels x {tn} columns. Pixels step 4 at a time without divisions; pixels past P read
// zeros from D~ (their X~ reads are clamped to the texture).
// POOLED_DY (the fused conv + ReLU + 2x2/2 pool layer, oH even, oW a multiple of 4): dyt holds
// pooled-window pairs (pool/max_relu_grad_pairs.wgsl: texel (g0, g1, arg0, arg1) per two
// adjacent windows, mirror layout, s.plane4 / 2 texels per channel plane) and each group of 4
// pixels takes its dY from one texel: the masked gradient where the pixel is its window's
// argmax, else 0. dZ itself is never written.
// Grid (ceil(K'/{tn}), ceil(Co/{TM}), chunks), workgroup ({sg}).

{UNIFORM}

override NCHW_DY: bool = false;
override POOLED_DY: bool = false;
override OIHW: bool = false;

@group(0) @binding(0) var<uniform> s: ConvTex;
@group(0) @binding(1) var dyt: texture_2d<f32>;
@group(0) @binding(2) var xt: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// Columns col..col+3 of row (output channel) `row`; with OIHW they are input channels oc..oc+3
// of one tap, at dW offset row*C*kH*kW + oo (+ kH*kW per channel).
fn store(base: u32, row: u32, col: u32, v: vec4<f32>, oc: u32, oo: u32) {{
    let khw = s.kh * s.kw;
    for (var j = 0u; j < 4u; j++) {{
        if (col + j < s.ncol) {{
            if (OIHW) {{
                if (oc + j < s.pw) {{ part[row * s.pw * khw + oo + j * khw] = v[j]; }}
            }} else {{
                part[base + row * s.ncol + col + j] = v[j];
            }}
        }}
    }}
}}

// Coordinates of flat texel t in the NCHW_DY mirror.
fn mirror_at(t: u32) -> vec2<i32> {{
    return vec2<i32>(i32(t & ((1u << s.shift) - 1u)), i32(t >> s.shift));
}}

// POOLED_DY: dY of the 4 pixels at in-plane index at..at+3 from their window pair's texel.
fn unpool(e: vec4<f32>, at: f32) -> vec4<f32> {{
    return vec4<f32>(select(0.0, e.x, e.z == at), select(0.0, e.x, e.z == at + 1.0),
                     select(0.0, e.y, e.w == at + 2.0), select(0.0, e.y, e.w == at + 3.0));
}}

// Texture coordinates of pixel p's window origin in X~.
fn origin(n: u32, oy: u32, ox: u32) -> vec2<i32> {{
    return vec2<i32>(i32(ox * s.sw * s.c4), i32(min(n * s.hp + oy * s.sh, s.maxrow)));
}}

@compute @workgroup_size({sg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{
    let row0 = wid.y * {TM}u;
    let col = wid.x * {tn}u + lane * 8u;
    let last_t = s.ncol / 4u - 1u;""")
    for i in range(rpl):
        w(f"    let co{i} = min(row0 + {i * sg}u + lane, s.m - 1u);")
        w(f"    let ay{i} = i32(co{i} * s.gr); let ao{i} = co{i} * s.plane4;")
    for h in range(2):
        w(f"    let t{h} = min(col / 4u + {h}u, last_t); let kyx{h} = t{h} / s.c4;")
        w(f"    let d{h} = vec2<i32>(i32((kyx{h} % s.kw) * s.c4 + t{h} % s.c4), i32(kyx{h} / s.kw));")
        w(f"    let oc{h} = 4u * (t{h} % s.c4); let oo{h} = oc{h} * s.kh * s.kw + kyx{h};")
    w("""    let p0 = wid.z * s.chunk;
    let p1 = min(p0 + s.chunk, s.p);
    let ohw = s.oh * s.ow;
    var n = p0 / ohw;
    var oy = (p0 % ohw) / s.ow;
    var ox = p0 % s.ow;
    var g = p0 / 4u;
    var gx = i32(g % s.gw);
    var gy = i32(g / s.gw);
    // NCHW_DY: flat mirror texel of (image n, channel 0, this pixel group); r4 = group in the plane
    var r4 = (p0 % ohw) / 4u;
    var tg = n * s.m * s.plane4 + r4;""")
    accumulators(w, TM, COLS // 4)
    w("""    for (var pp = p0; pp < p1; pp += 4u) {""")
    w("        // POOLED_DY: this group's window-pair texel (channel 0) and in-plane index.")
    w("        let pt = n * s.m * (s.plane4 >> 1u) + (oy >> 1u) * (s.ow >> 2u) + (ox >> 2u);")
    w("        let at = f32(oy * s.ow + ox);")
    for i in range(rpl):
        w(f"        let e{i} = textureLoad(dyt, select(select(vec2<i32>(gx, ay{i} + gy), mirror_at(tg + ao{i}), NCHW_DY),"
          f" mirror_at(pt + (ao{i} >> 1u)), POOLED_DY), 0);")
        w(f"        let a{i} = select(e{i}, unpool(e{i}, at), POOLED_DY);")
    for q in range(4):
        w(f"        let o{q} = origin(n, oy, ox);")
        for h in range(2):
            w(f"        let b{q}_{h} = textureLoad(xt, o{q} + d{h}, 0);")
        w("""        ox += 1u;
        if (ox == s.ow) { ox = 0u; oy += 1u; if (oy == s.oh) { oy = 0u; n += 1u; } }""")
    fma_block(w, sg, TM, COLS // 4)
    w("""        gx += 1;
        if (u32(gx) == s.gw) { gx = 0; gy += 1; }
        tg += 1u;
        r4 += 1u;
        if (r4 == s.plane4) { r4 = 0u; tg += (s.m - 1u) * s.plane4; }
    }
    let base = wid.z * s.m * s.ncol;""")
    for r in range(TM):
        w(f"    if (row0 + {r}u < s.m) {{ store(base, row0 + {r}u, col, c{r}_0, oc0, oo0);"
          f" store(base, row0 + {r}u, col + 4u, c{r}_1, oc1, oo1); }}")
    w("}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for sg in (8, 16):
        (OUT / f"fwd_igemm_tex_s{sg}.wgsl").write_text(forward(sg))
        (OUT / f"wgrad_splitk_tex_s{sg}.wgsl").write_text(wgrad(sg))
        (OUT / f"fwd_igemm_pool_tex_s{sg}.wgsl").write_text(
            forward(sg, True).replace("conv2d.fwd.igemm_tex (", "conv2d.fwd.igemm_pool_tex ("))
    COLS = 4
    for sg in (8, 16):
        (OUT / f"fwd_igemm_n4_tex_s{sg}.wgsl").write_text(
            forward(sg).replace("conv2d.fwd.igemm_tex (", "conv2d.fwd.igemm_tex, 4 columns per lane ("))
        (OUT / f"fwd_igemm_n4_pool_tex_s{sg}.wgsl").write_text(
            forward(sg, True).replace("conv2d.fwd.igemm_tex (", "conv2d.fwd.igemm_pool_tex, 4 columns per lane ("))
    for sg in (8, 16):
        (OUT / f"fwd_igemm_n4_bm_tex_s{sg}.wgsl").write_text(
            forward_bm(sg).replace("conv2d.fwd.igemm_tex (", "conv2d.fwd.igemm_tex, 4 columns per lane, batch-major rows ("))
    for sg in (8, 16):
        for n, scalar in ((2, False), (3, True)):
            what = f"{n} columns per lane"
            (OUT / f"fwd_igemm_n{n}_tex_s{sg}.wgsl").write_text(forward_narrow(
                forward(sg), sg, False, scalar).replace("conv2d.fwd.igemm_tex (", f"conv2d.fwd.igemm_tex, {what} ("))
            (OUT / f"fwd_igemm_n{n}_pool_tex_s{sg}.wgsl").write_text(forward_narrow(
                forward(sg, True), sg, True, scalar).replace("conv2d.fwd.igemm_tex (", f"conv2d.fwd.igemm_pool_tex, {what} ("))
            (OUT / f"fwd_igemm_n{n}_bm_tex_s{sg}.wgsl").write_text(forward_narrow(
                forward_bm(sg), sg, False, scalar).replace("conv2d.fwd.igemm_tex (", f"conv2d.fwd.igemm_tex, {what}, batch-major rows ("))
    for sg in (8, 16):
        (OUT / f"fwd_igemm_n6_tex_s{sg}.wgsl").write_text(
            forward_n6(forward(sg), sg, False).replace("conv2d.fwd.igemm_tex (", "conv2d.fwd.igemm_tex, 6 columns per lane ("))
        (OUT / f"fwd_igemm_n6_pool_tex_s{sg}.wgsl").write_text(
            forward_n6(forward(sg, True), sg, True).replace("conv2d.fwd.igemm_tex (", "conv2d.fwd.igemm_pool_tex, 6 columns per lane ("))
    COLS, TM = 8, 32
    for sg in (8, 16):
        (OUT / f"wgrad_splitk_m32_tex_s{sg}.wgsl").write_text(
            wgrad(sg).replace("conv2d.wgrad.splitk_tex (", "conv2d.wgrad.splitk_tex, 32 rows ("))
    # 48 rows: layers with 33-48 output channels (the digits network's conv2) fill the tile.
    COLS, TM = 8, 48
    for sg in (8, 16):
        (OUT / f"wgrad_splitk_m48_tex_s{sg}.wgsl").write_text(
            wgrad(sg).replace("conv2d.wgrad.splitk_tex (", "conv2d.wgrad.splitk_tex, 48 rows ("))
