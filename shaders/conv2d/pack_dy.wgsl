// conv2d.pack_dy — packs the output gradient dY [N, Co, oH, oW] by channel, 4 pixels per texel,
// for the texture-operand weight gradient (see scripts/gen_conv2d_tex.py): with pixel groups
// g = p/4 over p = (n, oy, ox), texel (g % GW, co*GR + g / GW) = (dY[co, 4g..4g+4]), zero past P.
// One invocation per texel; workgroup 8x8; grid (ceil(GW/8), ceil(Co*GR/8)).

struct P { co: u32, ohw: u32, p: u32, gw: u32, gr: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.gw || gid.y >= p.co * p.gr) { return; }
    let co = gid.y / p.gr;
    let g = (gid.y % p.gr) * p.gw + gid.x;
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let px = 4u * g + j;
        if (px < p.p) { v[j] = dy[((px / p.ohw) * p.co + co) * p.ohw + px % p.ohw]; }
    }
    textureStore(out, vec2<i32>(gid.xy), v);
}
