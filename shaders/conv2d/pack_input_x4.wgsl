// conv2d.pack_input_x4 — the same zero-padded NHWC rgba32float texture as pack_input.wgsl, for
// the common case of no dilation and W a multiple of 4, four source columns per invocation:
//   texel (px*C4 + q, n*Hp + py) = (X[n, 4q..4q+4, py - top, px - left]), zero in the padding
//   and in channels >= C.
// The source is read from its rgba32float mirror (Gpu::mirror_rgba: texel t holds values
// 4t..4t+3, i.e. 4 neighbouring columns of one row, as W % 4 == 0): one fetch per channel gives
// 4 pixels, and a 4x4 transpose turns 4 channels x 4 pixels into 4 NHWC texels, a quarter of the
// fetches of pack_input.wgsl (each a gather on llvmpipe).
// Invocation gx of a row: in a data row, gx < W/4 packs source columns 4gx..4gx+3 and the others
// zero the padding columns (the k-th of them: k < left ? k : W + k); in a padding row every
// invocation zeroes columns 4gx..4gx+3. Positions (image n, channel quad q, row, gx) are numbered
// flat, 64 per workgroup, so small images do not leave most lanes of a workgroup idle (llvmpipe
// runs idle lanes at full cost). Indices are split with float divisions (`div`), exact below
// 2^23 positions (the caller checks; vector integer division is scalarised on llvmpipe).
// POOLED (the input gradient of a fused conv + ReLU + 2x2/2 pool layer, H even): the source is
// dZ given as its pooled gradient's window pairs (pool/max_relu_grad_pairs.wgsl: texel
// (g0, g1, arg0, arg1) per two adjacent windows, H/2 * W/4 texels per channel plane); the 4
// pixels of a source texel are rebuilt from one pair texel (the gradient where the pixel is its
// window's argmax, else 0), so dZ itself is never written.
// Workgroup 64; 2-D grid of ceil(total/64) workgroups, flattened with num_workgroups.x.

struct P {
    n: u32, c: u32, h: u32, w: u32,       // source [N, C, H, W]
    c4: u32, hp: u32, wp: u32, top: u32,  // texels per pixel; padded rows and columns; row offset
    left: u32, shift: u32, total: u32, _b: u32, // column offset; log2 mirror width; N*C4*positions
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

override POOLED: bool = false;
// DATA_ONLY: only the data positions (H rows x W/4 quads per plane) are visited; the padding of
// the texture (Gpu::border_scratch) still holds the zeros an earlier full pack wrote.
override DATA_ONLY: bool = false;

// Texel t of the rgba mirror: values 4t..4t+3 of the source.
fn ld4(t: u32) -> vec4<f32> {
    return textureLoad(src, vec2<i32>(i32(t & ((1u << p.shift) - 1u)), i32(t >> p.shift)), 0);
}

// Source values 4t..4t+3 (one row, 4 columns); POOLED: rebuilt from window-pair texel t,
// `at` being the in-plane index of the first of the 4 pixels.
fn src4(t: u32, at: f32) -> vec4<f32> {
    let e = ld4(t);
    if (!POOLED) { return e; }
    return vec4<f32>(select(0.0, e.x, e.z == at), select(0.0, e.x, e.z == at + 1.0),
                     select(0.0, e.y, e.w == at + 2.0), select(0.0, e.y, e.w == at + 3.0));
}

// floor(a / b) for a < 2^23: a + 0.5 is exact in f32 and at least 0.5 away from every multiple
// of b, so a correctly rounded quotient truncates to the right integer; the select steps correct
// a quotient one off (a compiler that divides through an approximate reciprocal).
fn div(a: u32, b: u32) -> u32 {
    var q = u32((f32(a) + 0.5) / f32(b));
    q = select(q, q - 1u, q * b > a);
    return select(q, q + 1u, (q + 1u) * b <= a);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = (wid.y * nwg.x + wid.x) * 64u + lane;
    if (t >= p.total) { return; }
    let quads = p.w / 4u;
    let per_row = select((p.wp + 3u) / 4u, quads, DATA_ONLY);
    let positions = per_row * select(p.hp, p.h, DATA_ONLY);
    let plane = div(t, positions);
    let pos = t - plane * positions;
    let y = div(pos, per_row);
    let gid = vec2<u32>(pos - y * per_row, y + select(0u, p.top, DATA_ONLY));
    let n = div(plane, p.c4);
    let q = plane - n * p.c4;
    let data_row = gid.y >= p.top && gid.y < p.top + p.h;
    let data = data_row && gid.x < quads;
    var v0 = vec4<f32>(0.0); var v1 = vec4<f32>(0.0); var v2 = vec4<f32>(0.0); var v3 = vec4<f32>(0.0);
    var px0 = 4u * gid.x;
    if (data) {
        // Channel c of source row iy, columns 4gx..4gx+3, is mirror texel (plane(c) + iy*W)/4 + gx.
        let iy = gid.y - p.top;
        // Rows of source texels per channel plane: H, or H/2 rows of window pairs (POOLED).
        let rows = select(p.h, p.h >> 1u, POOLED);
        let t0 = ((n * p.c + 4u * q) * rows + select(iy, iy >> 1u, POOLED)) * quads + gid.x;
        let plane = rows * quads;
        let last = ((n + 1u) * p.c * rows) * quads - 1u; // clamp: channels past C are zeroed below
        let at = f32(iy * p.w + 4u * gid.x);
        let c0 = src4(t0, at);
        let c1 = src4(min(t0 + plane, last), at);
        let c2 = src4(min(t0 + 2u * plane, last), at);
        let c3 = src4(min(t0 + 3u * plane, last), at);
        let keep = vec4<u32>(4u * q) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.c);
        let z = vec4<f32>(0.0);
        v0 = select(z, vec4<f32>(c0.x, c1.x, c2.x, c3.x), keep);
        v1 = select(z, vec4<f32>(c0.y, c1.y, c2.y, c3.y), keep);
        v2 = select(z, vec4<f32>(c0.z, c1.z, c2.z, c3.z), keep);
        v3 = select(z, vec4<f32>(c0.w, c1.w, c2.w, c3.w), keep);
        px0 = p.left + 4u * gid.x;
    }
    let row = i32(n * p.hp + gid.y);
    if (data || !data_row) {
        // Four consecutive padded columns (data, or a whole padding row).
        if (px0 < p.wp) { textureStore(out, vec2<i32>(i32(px0 * p.c4 + q), row), v0); }
        if (px0 + 1u < p.wp) { textureStore(out, vec2<i32>(i32((px0 + 1u) * p.c4 + q), row), v1); }
        if (px0 + 2u < p.wp) { textureStore(out, vec2<i32>(i32((px0 + 2u) * p.c4 + q), row), v2); }
        if (px0 + 3u < p.wp) { textureStore(out, vec2<i32>(i32((px0 + 3u) * p.c4 + q), row), v3); }
    } else {
        // Padding columns of a data row: the k-th is k (left) or W + k (right).
        let k0 = 4u * (gid.x - quads);
        for (var j = 0u; j < 4u; j++) {
            let k = k0 + j;
            let px = select(p.w + k, k, k < p.left);
            if (px < p.wp) { textureStore(out, vec2<i32>(i32(px * p.c4 + q), row), vec4<f32>(0.0)); }
        }
    }
}
