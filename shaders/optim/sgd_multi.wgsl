// optim.sgd_multi — optim.sgd over many parameters at once, one dispatch per step: the
// parameters, gradients and velocities of a whole model laid out back to back in flat buffers
// (src/optim/flat.rs), each parameter starting on a 256-element block, and a table with one
// learning-rate multiplier per block (the per-group rates: a backbone's 0.1x); a negative
// multiplier skips the block (a parameter without a gradient this step):
//   lr = p.lr · scale[i / 256];  d = g + wd·w;  v = μ·v + d;  w -= lr · (nesterov ? d + μ·v : v)
// The same arithmetic as optim/sgd.wgsl with the same f32 learning rate (p.lr · scale is one
// rounded product, as the host's lr · lr_mult), so the result equals the per-parameter kernel's.
// Four elements per invocation (vec4 loads and stores: llvmpipe runs each storage access as a
// per-lane loop, so a quarter of the accesses); workgroup 64 = one block; 2-D grid flattened
// with num_workgroups.x. p.n is the number of vec4s (the flat buffers hold whole blocks).

struct P { n: u32, lr: f32, momentum: f32, weight_decay: f32, nesterov: u32, shift: u32, _b: u32, _c: u32 }

// MIRROR (CPU adapters): g, w and v are read from rgba32float mirrors (Gpu::mirror_rgba, texel
// t = elements 4t..4t+4) and the table from an r32float one, all `1 << shift` texels wide.
override MIRROR: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var g_m: texture_2d<f32>;
@group(0) @binding(6) var w_m: texture_2d<f32>;
@group(0) @binding(7) var v_m: texture_2d<f32>;
@group(0) @binding(8) var s_m: texture_2d<f32>;

fn at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 64u + gid.x;
    if (i >= p.n) { return; }
    var gi: vec4<f32>; var wi: vec4<f32>; var vi: vec4<f32>; var si: f32;
    if (MIRROR) {
        si = textureLoad(s_m, at(i >> 6u), 0).x;
        gi = textureLoad(g_m, at(i), 0); wi = textureLoad(w_m, at(i), 0); vi = textureLoad(v_m, at(i), 0);
    } else {
        si = scale[i >> 6u];
        gi = g[i]; wi = w[i]; vi = v[i];
    }
    if (si < 0.0) { return; }
    let lr = p.lr * si;
    let d = gi + p.weight_decay * wi;
    let vel = p.momentum * vi + d;
    v[i] = vel;
    let step = select(vel, d + p.momentum * vel, p.nesterov != 0u);
    w[i] = wi - lr * step;
}
