// conv2d.pack_dy — packs the output gradient dY [N, Co, oH, oW] by channel, 4 pixels per texel,
// for the texture-operand weight gradient (see scripts/gen_conv2d_tex.py): with pixel groups
// g = p/4 over p = (n, oy, ox), texel (g % GW, co*GR + g / GW) = (dY[co, 4g..4g+4]), zero past P.
// One invocation per texel; workgroup 8x8; grid (ceil(GW/8), ceil(GR/8), Co): the channel comes
// from the workgroup id and each texel divides once (llvmpipe scalarises vector division).

struct P { co: u32, ohw: u32, p: u32, gw: u32, gr: u32, shift: u32, _b: u32, _c: u32 } // shift: log2 mirror width

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

// Source value at flat index i, read from its r32float mirror (Gpu::mirror): a vectorised texel
// fetch instead of llvmpipe's per-lane storage-load loop.
fn ld(i: u32) -> f32 {
    return textureLoad(src, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.gw || gid.y >= p.gr) { return; }
    let co = gid.z;
    let g = gid.y * p.gw + gid.x;
    var n = 4u * g / p.ohw;
    var r = 4u * g - n * p.ohw;
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (4u * g + j < p.p) { v[j] = ld((n * p.co + co) * p.ohw + r); }
        r += 1u;
        if (r == p.ohw) { r = 0u; n += 1u; }
    }
    textureStore(out, vec2<i32>(i32(gid.x), i32(co * p.gr + gid.y)), v);
}
