// optim.sgd — PyTorch-style SGD with momentum, Nesterov and L2 weight decay, in place:
//   d = g + wd·w;  v = μ·v + d;  w -= lr · (nesterov ? d + μ·v : v)   (μ = 0: plain SGD)
// lr arrives per call in the uniform, so a schedule never rebuilds a pipeline.
// One invocation per parameter; 2-D grid as in elementwise/bias_act.wgsl.

struct P { n: u32, lr: f32, momentum: f32, weight_decay: f32, nesterov: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    let d = g[i] + p.weight_decay * w[i];
    let vel = p.momentum * v[i] + d;
    v[i] = vel;
    let step = select(vel, d + p.momentum * vel, p.nesterov != 0u);
    w[i] = w[i] - p.lr * step;
}
