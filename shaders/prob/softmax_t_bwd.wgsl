// prob.softmax_t_bwd — dz[r, c] = P[r, c]·(dP[r, c] - Σ_k dP[r, k]·P[r, k]) / T, the gradient of
// prob.softmax_t_fwd given its output P [R, C] and upstream dP [R, C].
// One invocation per row; 64 per workgroup; grid (ceil(R/64)).

struct P { rows: u32, classes: u32, inv_t: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.rows) { return; }
    let base = r * p.classes;
    var dot = 0.0;
    for (var c = 0u; c < p.classes; c++) { dot += dy[base + c] * y[base + c]; }
    for (var c = 0u; c < p.classes; c++) {
        dz[base + c] = y[base + c] * (dy[base + c] - dot) * p.inv_t;
    }
}
