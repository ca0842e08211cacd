// mmd.dist_gram — D[i, j] = max(G[i, i] + G[j, j] - 2·G[i, j], 0), D[i, i] = 0: the pairwise
// squared distances of the rows of x [n, dim] from their Gram matrix G = x·xᵀ [n, n] (computed
// by the tiled GEMM, which is where the work is). The clamp removes the small negatives that
// cancellation leaves for near rows; the diagonal is set exactly.
// One invocation per element of D [n, n]; 2-D grid (grid_1d of n·n).

struct P { n: u32, dim: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    if (o >= p.n * p.n) { return; }
    let i = o / p.n;
    let j = o % p.n;
    var s = 0.0;
    if (i != j) {
        s = max(g[i * p.n + i] + g[j * p.n + j] - 2.0 * g[o], 0.0);
    }
    d[o] = s;
}
