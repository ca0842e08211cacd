// prob.entropy_weights — w[r] = R·(1 + e^{-H[r]}) / Σ_k (1 + e^{-H[k]}) over entropies H [R]:
// confident samples weigh more, the weights sum to R (Jin et al. ECCV 2020, eq. 3-4;
// Long et al. 2018's entropy conditioning is the same up to the normalisation to mean 1).
// One workgroup of 256: thread t handles rows t, t+256, ...; a tree sum; then the division.
// Grid (1).

struct P { rows: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = lid.x; i < p.rows; i += 256u) {
        let v = 1.0 + exp(-h[i]);
        w[i] = v;
        acc += v;
    }
    part[lid.x] = acc;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) { part[lid.x] += part[lid.x + stride]; }
        workgroupBarrier();
    }
    let k = f32(p.rows) / part[0];
    for (var i = lid.x; i < p.rows; i += 256u) { w[i] = w[i] * k; }
}
