// conv2d.pack_input — packs an NCHW activation into the zero-padded NHWC rgba32float texture the
// texture-operand conv kernels gather from (see scripts/gen_conv2d_tex.py):
//   texel (px*C4 + q, n*Hp + py) = (X[n, 4q..4q+4, iy, ix]) where py = top + iy*dy, px = left + ix*dx,
//   zero at every other (py, px) and in channels >= C.
// dy = dx = 1 for the forward pass and the weight gradient; the input gradient packs dY with the
// stride as (dy, dx), which inserts the zeros a strided convolution skipped.
// One invocation per texel; workgroup 8x8; grid (ceil(width/8), ceil(height/8)).

struct P {
    n: u32, c: u32, h: u32, w: u32,          // source [N, C, H, W]
    c4: u32, hp: u32, wp: u32, top: u32,     // texels per pixel; padded rows and columns; row offset
    left: u32, dy: u32, dx: u32, _pad: u32,  // column offset; placement step (stride) per source row/column
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

// Source coordinate of padded position `pos`, or -1 where the texture holds a zero.
fn source(pos: u32, offset: u32, step: u32, len: u32) -> i32 {
    if (pos < offset) { return -1; }
    let d = pos - offset;
    if (d % step != 0u || d / step >= len) { return -1; }
    return i32(d / step);
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.wp * p.c4 || gid.y >= p.n * p.hp) { return; }
    let q = gid.x % p.c4;
    let iy = source(gid.y % p.hp, p.top, p.dy, p.h);
    let ix = source(gid.x / p.c4, p.left, p.dx, p.w);
    var v = vec4<f32>(0.0);
    if (iy >= 0 && ix >= 0) {
        let n = gid.y / p.hp;
        for (var j = 0u; j < 4u; j++) {
            let c = 4u * q + j;
            if (c < p.c) { v[j] = src[((n * p.c + c) * p.h + u32(iy)) * p.w + u32(ix)]; }
        }
    }
    textureStore(out, vec2<i32>(gid.xy), v);
}
