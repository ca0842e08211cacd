// prob.entropy_bwd — dP[r, c] = -dH[r]·(ln(P + 1e-5) + P / (P + 1e-5)), the gradient of
// prob.entropy_fwd. One invocation per element; 256 per workgroup; 2-D grid (grid_1d).

struct P { rows: u32, classes: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.rows * p.classes) { return; }
    let v = x[i];
    dx[i] = -dh[i / p.classes] * (log(v + 1e-5) + v / (v + 1e-5));
}
