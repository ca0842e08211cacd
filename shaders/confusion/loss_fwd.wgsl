// confusion.loss_fwd — L = scale · (ΣC̃ - trace C̃) / K with C̃ = C with rows normalised to sum 1,
// C [K, K] non-negative. Since every row of C̃ sums to 1, L = scale · Σ_i (1 - C_ii / r_i) / K,
// r_i = Σ_j C_ij. One workgroup of 256: thread t handles rows t, t+256, ...; a tree sum.
// Writes loss[0]. Grid (1).

struct P { classes: u32, scale: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let k = p.classes;
    var acc = 0.0;
    for (var i = lid.x; i < k; i += 256u) {
        var r = 0.0;
        for (var j = 0u; j < k; j++) { r += c[i * k + j]; }
        acc += 1.0 - c[i * k + i] / max(r, 1e-30);
    }
    part[lid.x] = acc;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) { part[lid.x] += part[lid.x + stride]; }
        workgroupBarrier();
    }
    if (lid.x == 0u) { loss[0] = p.scale * part[0] / f32(k); }
}
