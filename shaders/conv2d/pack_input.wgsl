// conv2d.pack_input — packs an NCHW activation into the zero-padded NHWC rgba32float texture the
// texture-operand conv kernels gather from (see scripts/gen_conv2d_tex.py):
//   texel (px*C4 + q, n*Hp + py) = (X[n, 4q..4q+4, iy, ix]) where py = top + iy*dy, px = left + ix*dx,
//   zero at every other (py, px) and in channels >= C.
// dy = dx = 1 for the forward pass and the weight gradient; the input gradient packs dY with the
// stride as (dy, dx) (override DILATED), which inserts the zeros a strided convolution skipped.
// The source is read from its r32float mirror (Gpu::mirror), not from the storage buffer.
// One invocation per texel; lanes run along padded columns (neighbouring lanes read neighbouring
// source values) and the image and channel quad come from the workgroup id, so no lane divides
// (llvmpipe scalarises vector integer division). Workgroup 8x8; grid (ceil(Wp/8), ceil(Hp/8), N*C4).

struct P {
    n: u32, c: u32, h: u32, w: u32,          // source [N, C, H, W]
    c4: u32, hp: u32, wp: u32, top: u32,     // texels per pixel; padded rows and columns; row offset
    left: u32, dy: u32, dx: u32, shift: u32, // column offset; placement step per source row/column; log2 mirror width
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

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    if (gid.x >= p.wp || gid.y >= p.hp) { return; }
    let n = wid.z / p.c4;
    let q = wid.z % p.c4;
    let iy = source(gid.y, p.top, p.dy, p.h);
    let ix = source(gid.x, p.left, p.dx, p.w);
    var v = vec4<f32>(0.0);
    if (iy >= 0 && ix >= 0) {
        for (var j = 0u; j < 4u; j++) {
            let c = 4u * q + j;
            if (c < p.c) { v[j] = ld(((n * p.c + c) * p.h + u32(iy)) * p.w + u32(ix)); }
        }
    }
    textureStore(out, vec2<i32>(i32(gid.x * p.c4 + q), i32(n * p.hp + gid.y)), v);
}
