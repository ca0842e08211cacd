// optim.sgd — PyTorch-style SGD with momentum, Nesterov and L2 weight decay, in place:
//   d = g + wd·w;  v = μ·v + d;  w -= lr · (nesterov ? d + μ·v : v)   (μ = 0: plain SGD)
// lr arrives per call in the uniform, so a schedule never rebuilds a pipeline.
// One invocation per parameter; 2-D grid as in elementwise/bias_act.wgsl.

struct P { n: u32, lr: f32, momentum: f32, weight_decay: f32, nesterov: u32, shift: u32, _b: u32, _c: u32 }

// MIRROR (CPU adapters): g, w and v are read from r32float mirrors (Gpu::mirror; shift = log2 of
// their width), vectorised fetches instead of llvmpipe's per-lane storage-load loops.
override MIRROR: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var g_m: texture_2d<f32>;
@group(0) @binding(5) var w_m: texture_2d<f32>;
@group(0) @binding(6) var v_m: texture_2d<f32>;

fn at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    var gi: f32; var wi: f32; var vi: f32;
    if (MIRROR) {
        gi = textureLoad(g_m, at(i), 0).x; wi = textureLoad(w_m, at(i), 0).x; vi = textureLoad(v_m, at(i), 0).x;
    } else {
        gi = g[i]; wi = w[i]; vi = v[i];
    }
    let d = gi + p.weight_decay * wi;
    let vel = p.momentum * vi + d;
    v[i] = vel;
    let step = select(vel, d + p.momentum * vel, p.nesterov != 0u);
    w[i] = wi - p.lr * step;
}
