// batch_norm.stats — per channel c of x viewed as [outer, channels, inner] (NCHW: [N, C, H*W];
// BatchNorm1d: [N, C, 1]): mean μ_c and the biased variance σ²_c = Σ(x − μ)² / M over the
// M = outer·inner elements, two passes over the channel (the mean first, then the squared
// deviations: no cancellation of E[x²] − μ²). With `update` set, thread 0 also moves the
// running statistics PyTorch's way: r_μ ← (1 − m)·r_μ + m·μ, r_σ² ← (1 − m)·r_σ² + m·σ²·M/(M − 1)
// (the unbiased variance; M = 1 keeps σ²). One workgroup of WG per channel (a power of two up to 256:
// 256 on GPUs, one subgroup on CPU adapters, where each barrier of a larger workgroup costs a
// switch between its parts): strided partial
// sums in f32, then a tree reduction in workgroup memory. Grid (channels).

struct P { outer: u32, channels: u32, inner: u32, update: u32, momentum: f32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> var_: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn reduce(lane: u32) -> f32 {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) { partial[lane] += partial[lane + s]; }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    let m = p.outer * p.inner;
    // Rows of the channel one after another when a row fills the workgroup (no integer
    // division per element: CPU adapters run it lane by lane), else the flat index.
    let rows = p.inner >= WG;
    var acc = 0.0;
    if (rows) {
        for (var o = 0u; o < p.outer; o++) {
            let row = (o * p.channels + c) * p.inner;
            for (var r = lid.x; r < p.inner; r += WG) { acc += x[row + r]; }
        }
    } else {
        for (var k = lid.x; k < m; k += WG) {
            let o = k / p.inner;
            acc += x[(o * p.channels + c) * p.inner + k % p.inner];
        }
    }
    partial[lid.x] = acc;
    let mu = reduce(lid.x) / f32(m);
    var sq = 0.0;
    if (rows) {
        for (var o = 0u; o < p.outer; o++) {
            let row = (o * p.channels + c) * p.inner;
            for (var r = lid.x; r < p.inner; r += WG) {
                let d = x[row + r] - mu;
                sq += d * d;
            }
        }
    } else {
        for (var k = lid.x; k < m; k += WG) {
            let o = k / p.inner;
            let d = x[(o * p.channels + c) * p.inner + k % p.inner] - mu;
            sq += d * d;
        }
    }
    partial[lid.x] = sq;
    let v = reduce(lid.x) / f32(m);
    if (lid.x == 0u) {
        mean[c] = mu;
        var_[c] = v;
        if (p.update == 1u) {
            var unbiased = v;
            if (m > 1u) { unbiased = v * f32(m) / f32(m - 1u); }
            running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mu;
            running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
        }
    }
}
