// batch_norm.normalize — y = γ_c·(x − μ_c)/√(σ²_c + ε) + β_c, then ReLU if `relu` is set, for x
// viewed as [outer, channels, inner]: the batch statistics in training, the running ones in
// evaluation. One invocation per element, 256 per workgroup; 2-D grid (grid_1d of the total).

struct P { total: u32, channels: u32, inner: u32, relu: u32, eps: f32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> var_: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.total) { return; }
    let c = (i / p.inner) % p.channels;
    var v = gamma[c] * (x[i] - mean[c]) * inverseSqrt(var_[c] + p.eps) + beta[c];
    if (p.relu == 1u) { v = max(v, 0.0); }
    y[i] = v;
}
