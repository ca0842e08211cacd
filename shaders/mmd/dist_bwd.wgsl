// mmd.dist_bwd — dx[i, c] = 2·Σ_j (dD[i, j] + dD[j, i])·(x[i, c] - x[j, c]), the gradient of
// mmd.dist with respect to x [n, dim] given upstream dD [n, n].
// One invocation per element of x; 2-D grid (grid_1d of n·dim).

struct P { n: u32, dim: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dd: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    if (o >= p.n * p.dim) { return; }
    let i = o / p.dim;
    let c = o % p.dim;
    let xi = x[o];
    var s = 0.0;
    for (var j = 0u; j < p.n; j++) {
        s += (dd[i * p.n + j] + dd[j * p.n + i]) * (xi - x[j * p.dim + c]);
    }
    dx[o] = 2.0 * s;
}
