// loss.bce_weighted_bwd — dx_i = scale · w_i · (sigmoid(x_i) - t_i) / N (gradient of
// bce_weighted_fwd; the weights are constants). sigmoid as in bce_bwd.wgsl (no overflow).
// One invocation per element; 256 per workgroup; 2-D grid as in elementwise/bias_act.wgsl.

struct P { n: u32, scale: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    let v = x[i];
    let e = exp(-abs(v));
    let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
    dx[i] = p.scale * w[i] * (sig - t[i]) / f32(p.n);
}
