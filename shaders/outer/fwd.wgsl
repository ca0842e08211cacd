// outer.fwd — y[b, c·D + j] = g[b, c] · f[b, j]: the flattened outer product of each row of
// a constant g [N, C] (class probabilities) and of the features f [N, D].
// One invocation per output element; 256 per workgroup; 2-D grid as in elementwise/bias_act.wgsl.

struct P { rows: u32, classes: u32, dim: u32, _a: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    let width = p.classes * p.dim;
    if (i >= p.rows * width) { return; }
    let b = i / width;
    let r = i - b * width;
    let c = r / p.dim;
    let j = r - c * p.dim;
    y[i] = g[b * p.classes + c] * f[b * p.dim + j];
}
