// elementwise.bias_grad, subgroup reduction — db[c] = Σ dy over every element of channel c, for
// adapters with subgroups: as bias_grad.wgsl (strided partial sums, MIRROR reads), but the 256
// partials are reduced with subgroupAdd and one workgroup barrier instead of an 8-level tree
// (on llvmpipe each barrier switches every SIMD batch of the workgroup, and with few elements
// per channel the tree cost more than the sums). One workgroup of 256 per channel; grid (channels).

struct P { outer: u32, channels: u32, inner: u32, shift: u32 } // shift: log2 of the mirror's width

override MIRROR: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;
@group(0) @binding(3) var dy_m: texture_2d<f32>;

var<workgroup> partial: array<f32, 256>;

fn ld(i: u32) -> f32 {
    if (MIRROR) {
        return textureLoad(dy_m, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
    }
    return dy[i];
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let c = wid.x;
    // lane position (o, r) and its step of 256 elements, split once
    var o = lid / p.inner;
    var r = lid % p.inner;
    let step_o = 256u / p.inner;
    let step_r = 256u % p.inner;
    var acc = 0.0;
    while (o < p.outer) {
        acc += ld((o * p.channels + c) * p.inner + r);
        r += step_r;
        o += step_o;
        if (r >= p.inner) { r -= p.inner; o += 1u; }
    }
    let s = subgroupAdd(acc);
    if (sg_lane == 0u) { partial[lid / sg_size] = s; }
    workgroupBarrier();
    if (lid == 0u) {
        var t = 0.0;
        for (var i = 0u; i < 256u / sg_size; i++) { t += partial[i]; }
        db[c] = t;
    }
}
