// elementwise.add — y = a + b, then ReLU when `relu` is set: a residual block's join in one pass
// (instead of a copy, an accumulate and a ReLU: 3 memory accesses per element, not 7).
// MIRROR (CPU adapters): a and b are read from r32float mirrors of their buffers (Gpu::mirror),
// vectorised texel fetches instead of llvmpipe's per-lane storage-load loops; the storage
// bindings are then dummies, and the other way round.
// One invocation per element; 2-D grid as in bias_act.wgsl.
// Lengths that are a multiple of 4 take the generated vec4 kernel (`_x4`, wgsl-gen/src/elementwise.rs).

struct P { n: u32, shift: u32, relu: u32, _c: u32 } // shift: log2 of the mirrors' width

override MIRROR: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var a_m: texture_2d<f32>;
@group(0) @binding(5) var b_m: texture_2d<f32>;

fn at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    var v: f32;
    if (MIRROR) {
        v = textureLoad(a_m, at(i), 0).x + textureLoad(b_m, at(i), 0).x;
    } else {
        v = a[i] + b[i];
    }
    if (p.relu == 1u) { v = max(v, 0.0); }
    y[i] = v;
}
