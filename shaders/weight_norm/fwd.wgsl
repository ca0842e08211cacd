// weight_norm.fwd — W[r, :] = g[r] · V[r, :] / ‖V[r, :]‖ (Salimans & Kingma 2016; PyTorch's
// weight_norm with dim 0) for V [R, C] and g [R]. One invocation per row; 64 per workgroup;
// grid (ceil(R/64)). A zero row stays zero (its norm floored at 1e-12).

struct P { rows: u32, cols: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> w: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var ss = 0.0;
    for (var c = 0u; c < p.cols; c++) { ss += v[base + c] * v[base + c]; }
    let scale = g[r] / max(sqrt(ss), 1e-12);
    for (var c = 0u; c < p.cols; c++) { w[base + c] = v[base + c] * scale; }
}
