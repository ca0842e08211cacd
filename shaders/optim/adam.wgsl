// optim.adam — Adam (Kingma & Ba) with L2 weight decay, in place:
//   d = g + wd·w;  m = β1·m + (1-β1)·d;  v = β2·v + (1-β2)·d²
//   w -= lr · (m / bc1) / (sqrt(v / bc2) + ε),  bc1 = 1-β1^t, bc2 = 1-β2^t (computed on the host)
// One invocation per parameter; 2-D grid as in elementwise/bias_act.wgsl.

struct P { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, weight_decay: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    let d = g[i] + p.weight_decay * w[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * d;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
}
