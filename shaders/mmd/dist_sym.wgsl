// mmd.dist_sym — first half of the Gram-path gradient of the pairwise squared distances:
// S[i, j] = dD[i, j] + dD[j, i] and its row sums r[i] = Σ_j S[i, j], from upstream dD [n, n].
// Then dx = 2·(r ⊙ x - S·x) (the GEMM S·x, then mmd/dist_bwd_gram.wgsl).
// One invocation per row i (n is a batch, ≤ a few hundred); grid_1d of n.

struct P { n: u32, dim: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dd: array<f32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> r: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    var sum = 0.0;
    for (var j = 0u; j < p.n; j++) {
        let v = dd[i * p.n + j] + dd[j * p.n + i];
        s[i * p.n + j] = v;
        sum += v;
    }
    r[i] = sum;
}
