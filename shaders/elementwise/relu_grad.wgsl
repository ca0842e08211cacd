// elementwise.relu_grad — dx = dy where y > 0, else 0 (y is the ReLU output saved in forward).
// One invocation per element; 2-D grid as in bias_act.wgsl.

struct P { n: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    dx[i] = select(0.0, dy[i], y[i] > 0.0);
}
