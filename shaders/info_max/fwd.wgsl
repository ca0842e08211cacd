// info_max.fwd — the information-maximisation loss of probabilities P [R, C] (softmax rows):
//   p̄[k] = (1/R)·Σ_i P[i, k],   H(q) = -Σ_k q_k·ln(q_k + 1e-5),
//   L = w_ent·(1/R)·Σ_i H(P[i, :]) - w_div·H(p̄)
//     = w_div·Σ_k p̄_k·ln(p̄_k + ε) - (w_ent/R)·Σ_ik P[i, k]·ln(P[i, k] + ε),
// writes mean [C] = p̄ and loss[0] = L. One workgroup of 256: thread t owns the classes
// t, t+256, ... and walks their columns (neighbouring threads read neighbouring elements of a
// row), summing each column (p̄) and its Σ p·ln(p + ε); then a tree reduction of both terms in
// workgroup memory (no subgroup operations). Grid (1).

struct P { rows: u32, classes: u32, w_ent: f32, w_div: f32, use_dl: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

const EPS: f32 = 1e-5;

var<workgroup> ent: array<f32, 256>;
var<workgroup> div: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let inv_r = 1.0 / f32(p.rows);
    var e = 0.0;
    var d = 0.0;
    for (var k = lid.x; k < p.classes; k += 256u) {
        var s = 0.0;
        var ek = 0.0;
        for (var r = 0u; r < p.rows; r++) {
            let v = x[r * p.classes + k];
            s += v;
            ek += v * log(v + EPS);
        }
        let q = s * inv_r;
        mean[k] = q;
        e += ek;
        d += q * log(q + EPS);
    }
    ent[lid.x] = e;
    div[lid.x] = d;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) {
            ent[lid.x] += ent[lid.x + stride];
            div[lid.x] += div[lid.x + stride];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) { loss[0] = p.w_div * div[0] - p.w_ent * inv_r * ent[0]; }
}
