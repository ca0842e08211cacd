// confusion.loss_bwd — dC[i, j] = scale / K · (C_ii / r_i² - δ_ij / r_i), the gradient of
// confusion.loss_fwd (r_i = Σ_j C_ij). One invocation per element of C [K, K], each summing
// its row (K is small); 256 per workgroup; 2-D grid (grid_1d of K·K).

struct P { classes: u32, scale: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> dc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    let k = p.classes;
    if (o >= k * k) { return; }
    let i = o / k;
    let j = o % k;
    var r = 0.0;
    for (var q = 0u; q < k; q++) { r += c[i * k + q]; }
    r = max(r, 1e-30);
    let diag = select(0.0, 1.0 / r, i == j);
    dc[o] = p.scale / f32(k) * (c[i * k + i] / (r * r) - diag);
}
