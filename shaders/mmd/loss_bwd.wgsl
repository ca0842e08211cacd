// mmd.loss_bwd — dD[i, j] = scale · M_ij · Σ_k -exp(-D_ij / (2 α_k μ)) / (2 α_k μ), the gradient
// of mmd.loss_fwd with respect to D with μ (from mu[0]) held constant (detached, as in TLlib).
// One invocation per element of D [n, n]; 2-D grid (grid_1d of n·n).

struct P { n: u32, kernels: u32, scale: f32, _a: u32, alphas: array<vec4<f32>, 2> }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> d: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read> mu: array<f32>;
@group(0) @binding(4) var<storage, read_write> dd: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    if (o >= p.n * p.n) { return; }
    let b = mu[0];
    var g = 0.0;
    if (m[o] != 0.0) {
        for (var u = 0u; u < p.kernels; u++) {
            let s = 2.0 * p.alphas[u / 4u][u % 4u] * b;
            g -= exp(-d[o] / s) / s;
        }
    }
    dd[o] = p.scale * m[o] * g;
}
