// batch_norm.grad_sums — per channel c: dβ_c = Σ g and dγ_c = Σ g·x̂ with x̂ = (x − μ_c)/√(σ²_c + ε),
// over the M = outer·inner elements of the channel (x, dy viewed as [outer, channels, inner]),
// g = dy, or with `relu` (the forward's ReLU fused in) g = dy where γ_c·x̂ + β_c > 0, else 0: the
// mask is recomputed from x, so no pass over the ReLU's output is needed.
// One workgroup of WG per channel (a power of two up to 256:
// 256 on GPUs, one subgroup on CPU adapters, where each barrier of a larger workgroup costs a
// switch between its parts): strided partial sums in f32, then tree reductions in
// workgroup memory. Grid (channels).

struct P { outer: u32, channels: u32, inner: u32, relu: u32, eps: f32, _b: u32, _c: u32, _d: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;

var<workgroup> sum_dy: array<f32, 256>;
var<workgroup> sum_dyx: array<f32, 256>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    let m = p.outer * p.inner;
    let mu = mean[c];
    let inv_std = inverseSqrt(var_[c] + p.eps);
    let g_c = gamma[c];
    let b_c = beta[c];
    let relu = p.relu == 1u;
    var a = 0.0;
    var b = 0.0;
    // Rows one after another when a row fills the workgroup (no integer division per element),
    // else the flat index.
    let rows = p.inner >= WG;
    let per_row = select(m, p.inner, rows);
    let row_count = select(1u, p.outer, rows);
    for (var o = 0u; o < row_count; o++) {
        for (var r = lid.x; r < per_row; r += WG) {
            var i = (o * p.channels + c) * p.inner + r;
            if (!rows) { i = ((r / p.inner) * p.channels + c) * p.inner + r % p.inner; }
            let xhat = (x[i] - mu) * inv_std;
            var g = dy[i];
            if (relu && g_c * xhat + b_c <= 0.0) { g = 0.0; }
            a += g;
            b += g * xhat;
        }
    }
    sum_dy[lid.x] = a;
    sum_dyx[lid.x] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            sum_dy[lid.x] += sum_dy[lid.x + s];
            sum_dyx[lid.x] += sum_dyx[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        dbeta[c] = sum_dy[0];
        dgamma[c] = sum_dyx[0];
    }
}
