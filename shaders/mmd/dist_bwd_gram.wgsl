// mmd.dist_bwd_gram — dx[i, c] = 2·(r[i]·x[i, c] - SX[i, c]): the gradient of the pairwise
// squared distances with respect to x [n, dim], from r [n] and SX = S·x [n, dim]
// (S = dD + dDᵀ, r its row sums; mmd/dist_sym.wgsl and the GEMM). Since
// Σ_j S_ij (x_i - x_j) = r_i x_i - (S·x)_i, this equals mmd/dist_bwd.wgsl's direct sum.
// One invocation per element of x; 2-D grid (grid_1d of n·dim).

struct P { n: u32, dim: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> sx: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    if (o >= p.n * p.dim) { return; }
    dx[o] = 2.0 * (r[o / p.dim] * x[o] - sx[o]);
}
