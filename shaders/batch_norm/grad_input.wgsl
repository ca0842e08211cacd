// batch_norm.grad_input — the input gradient. With batch statistics (`batch` = 1: training),
// dx = γ_c/σ_c · (dy − dβ_c/M − x̂·dγ_c/M), σ_c = √(σ²_c + ε), x̂ = (x − μ_c)/σ_c: the statistics
// depend on x, so every element's gradient reads the channel sums (batch_norm.grad_sums). With
// fixed statistics (`batch` = 0: evaluation mode, running statistics), dx = γ_c/σ_c · dy. One
// invocation per element, 256 per workgroup; 2-D grid (grid_1d of the total).

struct P { total: u32, channels: u32, inner: u32, batch: u32, eps: f32, count: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.total) { return; }
    let c = (i / p.inner) % p.channels;
    let inv_std = inverseSqrt(var_[c] + p.eps);
    var g = dy[i];
    if (p.batch == 1u) {
        let xhat = (x[i] - mean[c]) * inv_std;
        g = g - dbeta[c] / p.count - xhat * dgamma[c] / p.count;
    }
    dx[i] = gamma[c] * inv_std * g;
}
