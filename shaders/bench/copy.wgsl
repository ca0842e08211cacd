// bench.copy — bandwidth roof: dst[i] = src[i] as vec4 (16 bytes read + 16 written per
// invocation). One invocation per vec4; workgroup 256; 2-D grid flattened with num_workgroups.

struct P { n4: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n4) { return; }
    dst[i] = src[i];
}
