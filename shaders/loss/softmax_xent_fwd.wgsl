// loss.softmax_xent_fwd — L = scale · Σ_i w_i·(logsumexp(z_i) - z_i[y_i]) / max(Σ_i w_i, 1)
// over logits z [B, C], labels y [B] (u32), per-sample weights w [B] (0/1 masks: a mixed batch
// counts only its labelled rows). Max-subtracted, so ±1e4 logits stay finite. With label smoothing
// ε > 0 the target is (1-ε)·onehot(y) + ε/C: ℓ_i = (1-ε)·(lse - z_y) + ε·(lse - mean_c z_c).
// One workgroup of 256: thread t handles rows t, t+256, ...; then a tree reduction of the
// weighted losses and the weights. Writes loss[0]. Grid (1).

struct P { rows: u32, classes: u32, scale: f32, smoothing: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

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
        var s = 0.0;
        var zsum = 0.0;
        for (var c = 0u; c < p.classes; c++) {
            s += exp(z[base + c] - m);
            zsum += z[base + c];
        }
        let label = min(labels[i], p.classes - 1u);
        let lse = log(s) + m;
        var li = lse - z[base + label];
        if (p.smoothing > 0.0) {
            li = (1.0 - p.smoothing) * li + p.smoothing * (lse - zsum / f32(p.classes));
        }
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
