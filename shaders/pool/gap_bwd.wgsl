// pool.gap_bwd — global average pooling backward: dX[nc, h, w] = dY[nc] / (H*W).
// One invocation per input element; workgroup 256; 2-D grid over N*C*H*W.

struct Gap { planes: u32, hw: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Gap;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.planes * p.hw) { return; }
    dx[i] = dy[i / p.hw] / f32(p.hw);
}
