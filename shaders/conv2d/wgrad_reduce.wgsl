// conv2d.wgrad_reduce — sums the split-K partials of the weight gradient:
// dW[i] = sum_(z < splits) part[z * total + i], total = Co*Ci*kH*kW (OIHW order).
// One invocation per weight element, summing in a fixed order (deterministic, no atomics).
// Workgroup 256; 2-D grid: i = gid.y * (num_workgroups.x * 256) + gid.x.

struct P { total: u32, splits: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.total) { return; }
    var acc = 0.0;
    for (var z = 0u; z < p.splits; z++) {
        acc += part[z * p.total + i];
    }
    dw[i] = acc;
}
