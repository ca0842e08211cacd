// loss.bce_weighted_fwd — L = scale · Σ_i w_i·[max(x,0) - x·t + log(1 + exp(-|x|))] / N:
// binary cross-entropy with logits and constant per-sample weights w (e.g. entropy
// weights), mean over all N samples as PyTorch's `weight=` with reduction 'mean'.
// x, t, w: [N]. One workgroup of 256 with a tree reduction; writes loss[0]. Grid (1).

struct P { n: u32, scale: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = lid.x; i < p.n; i += 256u) {
        let v = x[i];
        acc += w[i] * (max(v, 0.0) - v * t[i] + log(1.0 + exp(-abs(v))));
    }
    part[lid.x] = acc;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) { part[lid.x] += part[lid.x + stride]; }
        workgroupBarrier();
    }
    if (lid.x == 0u) { loss[0] = p.scale * part[0] / f32(max(p.n, 1u)); }
}
