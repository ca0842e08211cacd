// elementwise.axpby — y = alpha·x + beta·y, in place on y. beta = 0 ignores y's old contents
// (so y may be uninitialised): this is `scale` (y = alpha·x) and, with beta = 1, accumulate.
// One invocation per element; 2-D grid as in bias_act.wgsl.
// Lengths that are a multiple of 4 take the generated vec4 kernel (`_x4`, wgsl-gen/src/elementwise.rs).

struct P { n: u32, alpha: f32, beta: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    var v = p.alpha * x[i];
    if (p.beta != 0.0) { v += p.beta * y[i]; }
    y[i] = v;
}
