// confusion.bwd — dP[b, k] = w[b]·Σ_j (dC[k, j] + dC[j, k])·P[b, j], the gradient of
// confusion.fwd with respect to P (w is detached: no gradient).
// One invocation per element of P [B, K]; 256 per workgroup; 2-D grid (grid_1d of B·K).

struct P { rows: u32, classes: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> dc: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    let k = p.classes;
    if (o >= p.rows * k) { return; }
    let b = o / k;
    let c = o % k;
    var s = 0.0;
    for (var j = 0u; j < k; j++) { s += (dc[c * k + j] + dc[j * k + c]) * x[b * k + j]; }
    dx[o] = w[b] * s;
}
