// mmd.loss_fwd — multi-kernel MMD from pairwise squared distances D [n, n] and the estimator's
// index matrix M [n, n]: μ = max(mean(D), 1e-20), L = scale · Σ_ij M_ij Σ_k exp(-D_ij / (2 α_k μ)).
// Writes loss[0] and the bandwidth base mu[0] = μ (a constant for the backward: detached).
// One workgroup of 256, two tree sums. Grid (1).

struct P { n: u32, kernels: u32, scale: f32, _a: u32, alphas: array<vec4<f32>, 2> }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> d: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> mu: array<f32>;

var<workgroup> part: array<f32, 256>;
var<workgroup> base: f32;

fn tree(lid: u32) {
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid < stride) { part[lid] += part[lid + stride]; }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let nn = p.n * p.n;
    var acc = 0.0;
    for (var o = lid.x; o < nn; o += 256u) { acc += d[o]; }
    part[lid.x] = acc;
    tree(lid.x);
    if (lid.x == 0u) { base = max(part[0] / f32(nn), 1e-20); }
    workgroupBarrier();
    let b = base;
    acc = 0.0;
    for (var o = lid.x; o < nn; o += 256u) {
        let w = m[o];
        if (w != 0.0) {
            var k = 0.0;
            for (var u = 0u; u < p.kernels; u++) {
                k += exp(-d[o] / (2.0 * p.alphas[u / 4u][u % 4u] * b));
            }
            acc += w * k;
        }
    }
    workgroupBarrier();
    part[lid.x] = acc;
    tree(lid.x);
    if (lid.x == 0u) {
        loss[0] = p.scale * part[0];
        mu[0] = b;
    }
}
