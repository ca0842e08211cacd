// outer.bwd — gradient of outer.fwd w.r.t. the features (g is a constant):
// df[b, j] = Σ_c g[b, c] · dy[b, c·D + j].
// One invocation per feature element (b, j), a loop over the C classes; 256 per workgroup;
// 2-D grid as in elementwise/bias_act.wgsl.

struct P { rows: u32, classes: u32, dim: u32, _a: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> df: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.rows * p.dim) { return; }
    let b = i / p.dim;
    let j = i - b * p.dim;
    let row = b * p.classes * p.dim;
    var acc = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        acc += g[b * p.classes + c] * dy[row + c * p.dim + j];
    }
    df[i] = acc;
}
