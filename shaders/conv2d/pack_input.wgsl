// conv2d.pack_input — packs an NCHW activation into the zero-padded NHWC rgba32float texture the
// texture-operand conv kernels gather from (see scripts/gen_conv2d_tex.py):
//   texel (px*C4 + q, n*Hp + py) = (X[n, 4q..4q+4, iy, ix]) where py = top + iy*dy, px = left + ix*dx,
//   zero at every other (py, px) and in channels >= C.
// dy = dx = 1 for the forward pass and the weight gradient; the input gradient packs dY with the
// stride as (dy, dx) (override DILATED), which inserts the zeros a strided convolution skipped.
// The source is read from its r32float mirror (Gpu::mirror), not from the storage buffer.
// One invocation per texel; lanes run along padded columns (neighbouring lanes read neighbouring
// source values). Positions (image n, channel quad q, padded row, padded column) are numbered
// flat, 64 per workgroup, so small padded maps (VGG16's 2x2 layers at 32x32 input: 4x4 padded)
// do not leave most lanes of a workgroup idle, as an 8x8 workgroup per map did (llvmpipe runs
// idle lanes at full cost). Indices are split with float divisions (`div`, as
// pack_input_x4.wgsl), exact below 2^23 positions; past that, integer divisions (scalarised on
// llvmpipe, but exact). Workgroup 64; 2-D grid of ceil(total/64) workgroups, flattened with
// num_workgroups.x.

struct P {
    n: u32, c: u32, h: u32, w: u32,          // source [N, C, H, W]
    c4: u32, hp: u32, wp: u32, top: u32,     // texels per pixel; padded rows and columns; row offset
    left: u32, dy: u32, dx: u32, shift: u32, // column offset; placement step per source row/column; log2 mirror width
    total: u32, _a: u32, _b: u32, _c: u32,   // N*C4*Hp*Wp positions
}

override DILATED: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

// Source value at flat index i, read from its r32float mirror (Gpu::mirror): a vectorised texel
// fetch instead of llvmpipe's per-lane storage-load loop.
fn ld(i: u32) -> f32 {
    return textureLoad(src, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
}

// Source coordinate of padded position `pos`, or -1 where the texture holds a zero.
fn source(pos: u32, offset: u32, step: u32, len: u32) -> i32 {
    if (pos < offset) { return -1; }
    var d = pos - offset;
    if (DILATED) {
        if (d % step != 0u) { return -1; }
        d = d / step;
    }
    return select(-1, i32(d), d < len);
}

// floor(a / b): for a < 2^23, a + 0.5 is exact in f32 and at least 0.5 away from every
// multiple of b, so a correctly rounded quotient truncates to the right integer; the select
// steps correct a quotient one off (a compiler that divides through an approximate reciprocal).
fn div(a: u32, b: u32) -> u32 {
    if (p.total >= 8388608u) { return a / b; }
    var q = u32((f32(a) + 0.5) / f32(b));
    q = select(q, q - 1u, q * b > a);
    return select(q, q + 1u, (q + 1u) * b <= a);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = (wid.y * nwg.x + wid.x) * 64u + lane;
    if (t >= p.total) { return; }
    let map = p.hp * p.wp;
    let plane = div(t, map);
    let pos = t - plane * map;
    let py = div(pos, p.wp);
    let px = pos - py * p.wp;
    let n = div(plane, p.c4);
    let q = plane - n * p.c4;
    let iy = source(py, p.top, p.dy, p.h);
    let ix = source(px, p.left, p.dx, p.w);
    var v = vec4<f32>(0.0);
    if (iy >= 0 && ix >= 0) {
        for (var j = 0u; j < 4u; j++) {
            let c = 4u * q + j;
            if (c < p.c) { v[j] = ld(((n * p.c + c) * p.h + u32(iy)) * p.w + u32(ix)); }
        }
    }
    textureStore(out, vec2<i32>(i32(px * p.c4 + q), i32(n * p.hp + py)), v);
}
