// pool.gap_fwd — global average pooling [N, C, H, W] -> [N, C]:
// Y[nc] = (1 / (H*W)) * sum_(h, w) X[nc, h, w], summed in a fixed order.
// One invocation per plane; workgroup 256; 2-D grid over N*C planes.

struct Gap { planes: u32, hw: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Gap;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.planes) { return; }
    let base = i * p.hw;
    var acc = 0.0;
    for (var j = 0u; j < p.hw; j++) {
        acc += x[base + j];
    }
    y[i] = acc / f32(p.hw);
}
