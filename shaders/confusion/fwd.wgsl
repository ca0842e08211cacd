// confusion.fwd — C[i, j] = Σ_b w[b]·P[b, i]·P[b, j]: the class-confusion matrix (P·w)ᵀ·P of
// probabilities P [B, K] with per-sample weights w [B] (Jin et al. ECCV 2020, eq. 5).
// K×K is small (classes²) and B is a batch: one invocation per (i, j) looping over B beats a
// tiled GEMM's packing passes here. 256 per workgroup; 2-D grid (grid_1d of K·K).

struct P { rows: u32, classes: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    let k = p.classes;
    if (o >= k * k) { return; }
    let i = o / k;
    let j = o % k;
    var s = 0.0;
    for (var b = 0u; b < p.rows; b++) { s += w[b] * x[b * k + i] * x[b * k + j]; }
    c[o] = s;
}
