// batch_norm.normalize — y = γ_c·x̂ + β_c with x̂ = (x − μ_c)/√(σ²_c + ε), then ReLU if `relu` is
// set, for x viewed as [outer, channels, inner]: the batch statistics in training, the running
// ones in evaluation. (grad_sums and grad_input recompute γ_c·x̂ + β_c in this order for the
// ReLU's mask.) With `rows` (the launcher's choice when a row fills a workgroup) the grid is
// (ceil(inner/256), channels, outer): the channel comes from the workgroup id, no integer
// division per element; otherwise one flat index per element on grid_1d's 2-D grid.

struct P { total: u32, channels: u32, inner: u32, relu: u32, eps: f32, _count: f32, _r: u32, rows: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> var_: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    if (p.rows == 1u) {
        let c = wid.y;
        let mu = mean[c];
        let inv_std = inverseSqrt(var_[c] + p.eps);
        let g = gamma[c];
        let b = beta[c];
        if (gid.x >= p.inner) { return; }
        let i = (wid.z * p.channels + c) * p.inner + gid.x;
        y[i] = apply(x[i], mu, inv_std, g, b);
        return;
    }
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.total) { return; }
    let c = (i / p.inner) % p.channels;
    y[i] = apply(x[i], mean[c], inverseSqrt(var_[c] + p.eps), gamma[c], beta[c]);
}

fn apply(x: f32, mu: f32, inv_std: f32, g: f32, b: f32) -> f32 {
    let xhat = (x - mu) * inv_std;
    var v = g * xhat + b;
    if (p.relu == 1u) { v = max(v, 0.0); }
    return v;
}
