// elementwise.bias_grad — db[c] = Σ dy over every element of channel c (all rows, all of inner).
// dy viewed as [outer, channels, inner] (dense: [B, C, 1]; NCHW: [N, C, H*W]).
// One workgroup of 256 per channel: strided partial sums (f32), then a tree reduction in
// workgroup memory. The (outer, inner) position steps without division (llvmpipe scalarises
// vector integer division). MIRROR (CPU adapters): dy is read from an r32float mirror of its
// buffer (Gpu::mirror) instead of the storage binding, which is then a dummy. Grid (channels).

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    // lane position (o, r) and its step of 256 elements, split once
    var o = lid.x / p.inner;
    var r = lid.x % p.inner;
    let step_o = 256u / p.inner;
    let step_r = 256u % p.inner;
    var acc = 0.0;
    while (o < p.outer) {
        acc += ld((o * p.channels + c) * p.inner + r);
        r += step_r;
        o += step_o;
        if (r >= p.inner) { r -= p.inner; o += 1u; }
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
        workgroupBarrier();
    }
    if (lid.x == 0u) { db[c] = partial[0]; }
}
