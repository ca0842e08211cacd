// info_max.bwd — gradient of info_max.fwd with respect to the logits, from the probabilities
// P [R, C], the mean p̄ [C] and the upstream dL (dl[0] when use_dl, else 1: a root):
//   a(q)   = -ln(q + 1e-5) - q/(q + 1e-5)                        (dH/dq_k)
//   g[i,k] = (1/R)·(w_ent·a(P[i, k]) - w_div·a(p̄_k))             (dL/dP[i, k])
//   dz[i,j] = dL·P[i, j]·(g[i, j] - Σ_k P[i, k]·g[i, k])          (through the softmax)
// One workgroup of 64 per row; the lanes stride over the classes and tree-reduce in workgroup
// memory (no subgroup operations). Two details keep confident rows exact, where P[i, j] ≈ 1 and
// g[i, j] - Σ P·g is a small difference of two values near g[i, j]:
// - the row is renormalised by S = Σ_k P[i, k] (a software exp and division leave S off 1 by a
//   few 1e-6, which would add (S - 1)·g[i, j] to that difference);
// - the dot is refined once: d1 = Σ P·g / S, then d2 = Σ P·(g - d1) / S, whose terms are
//   small and exact where it matters, and dz = dL·P/S·((g - d1) - d2).
// dz holds g, then g - d1, then the result. Grid (R) on a 2-D grid (flattened with
// num_workgroups.x).

struct P { rows: u32, classes: u32, w_ent: f32, w_div: f32, use_dl: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> dl: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;

const EPS: f32 = 1e-5;

var<workgroup> part: array<vec2<f32>, 64>;

fn d_entropy(q: f32) -> f32 {
    return -log(q + EPS) - q / (q + EPS);
}

/// The sum of `v` over the workgroup's 64 lanes (every lane gets it).
fn sum64(lane: u32, v: vec2<f32>) -> vec2<f32> {
    part[lane] = v;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (lane < stride) { part[lane] += part[lane + stride]; }
        workgroupBarrier();
    }
    let total = part[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let r = wg.y * nwg.x + wg.x;
    if (r >= p.rows) { return; }
    let base = r * p.classes;
    let inv_r = 1.0 / f32(p.rows);
    var acc = vec2(0.0, 0.0);
    for (var k = lid.x; k < p.classes; k += 64u) {
        let v = x[base + k];
        let g = (p.w_ent * d_entropy(v) - p.w_div * d_entropy(mean[k])) * inv_r;
        dz[base + k] = g;
        acc += vec2(v * g, v);
    }
    let sums = sum64(lid.x, acc);
    let inv_s = 1.0 / sums.y;
    let d1 = sums.x * inv_s;
    var acc2 = 0.0;
    for (var k = lid.x; k < p.classes; k += 64u) {
        let gc = dz[base + k] - d1;
        dz[base + k] = gc;
        acc2 += x[base + k] * gc;
    }
    let d2 = sum64(lid.x, vec2(acc2, 0.0)).x * inv_s;
    var up = 1.0;
    if (p.use_dl != 0u) { up = dl[0]; }
    let k_up = up * inv_s;
    for (var k = lid.x; k < p.classes; k += 64u) {
        dz[base + k] = k_up * x[base + k] * (dz[base + k] - d2);
    }
}
