// batch_norm.grad_input — the input gradient. With batch statistics (`batch` = 1: training),
// dx = γ_c/σ_c · (g − dβ_c/M − x̂·dγ_c/M), σ_c = √(σ²_c + ε), x̂ = (x − μ_c)/σ_c: the statistics
// depend on x, so every element's gradient reads the channel sums (batch_norm.grad_sums). With
// fixed statistics (`batch` = 0: evaluation mode, running statistics), dx = γ_c/σ_c · g. g = dy,
// or with `relu` (the forward's ReLU fused in) dy where γ_c·x̂ + β_c > 0, else 0, recomputed
// from x as normalize computes it. Grid as in normalize.wgsl: (ceil(inner/256), channels,
// outer) with `rows`, else grid_1d's flat 2-D grid.

struct P { total: u32, channels: u32, inner: u32, batch: u32, eps: f32, count: f32, relu: u32, rows: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read> dbeta: array<f32>;
@group(0) @binding(9) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    if (p.rows == 1u) {
        let c = wid.y;
        let ch = Channel(mean[c], inverseSqrt(var_[c] + p.eps), gamma[c], beta[c], dgamma[c], dbeta[c]);
        if (gid.x >= p.inner) { return; }
        let i = (wid.z * p.channels + c) * p.inner + gid.x;
        dx[i] = grad(dy[i], x[i], ch);
        return;
    }
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.total) { return; }
    let c = (i / p.inner) % p.channels;
    let ch = Channel(mean[c], inverseSqrt(var_[c] + p.eps), gamma[c], beta[c], dgamma[c], dbeta[c]);
    dx[i] = grad(dy[i], x[i], ch);
}

struct Channel { mu: f32, inv_std: f32, gamma: f32, beta: f32, dgamma: f32, dbeta: f32 }

fn grad(dy: f32, x: f32, ch: Channel) -> f32 {
    let xhat = (x - ch.mu) * ch.inv_std;
    var g = dy;
    if (p.relu == 1u && ch.gamma * xhat + ch.beta <= 0.0) { g = 0.0; }
    if (p.batch == 1u) {
        g = g - ch.dbeta / p.count - xhat * ch.dgamma / p.count;
    }
    return ch.gamma * ch.inv_std * g;
}
