// loss.complement_xent_fwd — cross-entropy against the complement of each row's label:
// L = scale · Σ_i w_i·ℓ_i / max(Σ_i w_i, 1),
//   ℓ_i = -log(min(q_i + 1e-6, 1)),  q_i = 1 - softmax(z_i)[y_i] = Σ_{c≠y_i} e^{z_ic - m_i} / s_i,
// over logits z [B, C], labels y [B] (u32) and per-sample weights w [B] (0/1 masks). q is summed over the other classes, not taken as 1 - p,
// so it stays exact when p is near 1 (where the 1e-6 shift dominates). Max-subtracted.
// One workgroup of 256: thread t handles rows t, t+256, ...; then a tree reduction of the
// weighted losses and the weights. Writes loss[0]. Grid (1).

struct P { rows: u32, classes: u32, scale: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

const EPS: f32 = 1e-6;

var<workgroup> lsum: array<f32, 256>;
var<workgroup> wsum: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    var wacc = 0.0;
    for (var i = lid.x; i < p.rows; i += 256u) {
        let base = i * p.classes;
        var m = z[base];
        for (var c = 1u; c < p.classes; c++) { m = max(m, z[base + c]); }
        let label = min(labels[i], p.classes - 1u);
        var rest = 0.0;
        for (var c = 0u; c < p.classes; c++) {
            if (c != label) { rest += exp(z[base + c] - m); }
        }
        let q = rest / (rest + exp(z[base + label] - m));
        let li = -log(min(q + EPS, 1.0));
        acc += w[i] * li;
        wacc += w[i];
    }
    lsum[lid.x] = acc;
    wsum[lid.x] = wacc;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) {
            lsum[lid.x] += lsum[lid.x + stride];
            wsum[lid.x] += wsum[lid.x + stride];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) { loss[0] = p.scale * lsum[0] / max(wsum[0], 1.0); }
}
