// optim.adam_multi — optim.adam over many parameters at once, one dispatch per step: flat
// buffers of parameters, gradients and both moments (src/optim/flat.rs), each parameter starting
// on a 256-element block, and one learning-rate multiplier per block (negative: skip the block):
//   lr = p.lr · scale[i / 256];  d = g + wd·w;  m = β1·m + (1-β1)·d;  v = β2·v + (1-β2)·d²
//   w -= lr · (m / bc1) / (sqrt(v / bc2) + ε)
// The same arithmetic as optim/adam.wgsl with the same f32 learning rate.
// Four elements per invocation (vec4 loads and stores, as optim/sgd_multi.wgsl); workgroup 64 =
// one block; 2-D grid flattened with num_workgroups.x; p.n is the number of vec4s.

struct P { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, weight_decay: f32, shift: u32, _a: u32, _b: u32, _c: u32 }

// MIRROR (CPU adapters): g, w, m and v are read from rgba32float mirrors (Gpu::mirror_rgba) and
// the table from an r32float one.
override MIRROR: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
@group(0) @binding(6) var g_m: texture_2d<f32>;
@group(0) @binding(7) var w_m: texture_2d<f32>;
@group(0) @binding(8) var m_m: texture_2d<f32>;
@group(0) @binding(9) var v_m: texture_2d<f32>;
@group(0) @binding(10) var s_m: texture_2d<f32>;

fn at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 64u + gid.x;
    if (i >= p.n) { return; }
    var g0: vec4<f32>; var w0: vec4<f32>; var m0: vec4<f32>; var v0: vec4<f32>; var si: f32;
    if (MIRROR) {
        si = textureLoad(s_m, at(i >> 6u), 0).x;
        g0 = textureLoad(g_m, at(i), 0); w0 = textureLoad(w_m, at(i), 0);
        m0 = textureLoad(m_m, at(i), 0); v0 = textureLoad(v_m, at(i), 0);
    } else {
        si = scale[i >> 6u];
        g0 = g[i]; w0 = w[i]; m0 = m[i]; v0 = v[i];
    }
    if (si < 0.0) { return; }
    let lr = p.lr * si;
    let d = g0 + p.weight_decay * w0;
    let mi = p.beta1 * m0 + (1.0 - p.beta1) * d;
    let vi = p.beta2 * v0 + (1.0 - p.beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] = w0 - lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
}
