// elementwise.bias_grad — db[c] = Σ dy over every element of channel c (all rows, all of inner).
// dy viewed as [outer, channels, inner] (dense: [B, C, 1]; NCHW: [N, C, H*W]).
// One workgroup of 256 per channel: strided partial sums (f32), then a tree reduction in
// workgroup memory. Grid (channels).

struct P { outer: u32, channels: u32, inner: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    let count = p.outer * p.inner;
    var acc = 0.0;
    for (var j = lid.x; j < count; j += 256u) {
        let o = j / p.inner;
        let r = j % p.inner;
        acc += dy[(o * p.channels + c) * p.inner + r];
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
        workgroupBarrier();
    }
    if (lid.x == 0u) { db[c] = partial[0]; }
}
