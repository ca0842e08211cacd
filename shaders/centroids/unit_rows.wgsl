// centroids.unit_rows — Y[r] = [X[r], 1] / ‖[X[r], 1]‖ for X [R, D] -> Y [R, D + 1]: each row
// with a constant 1 appended, scaled to unit length (cosine clustering's input: the 1 keeps a
// zero feature row finite and gives every row the same bias direction).
// One invocation per row; 64 per workgroup; grid (ceil(R/64)).

struct P { rows: u32, dim: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.rows) { return; }
    let src = r * p.dim;
    let dst = r * (p.dim + 1u);
    var ss = 1.0;
    for (var c = 0u; c < p.dim; c++) {
        let v = x[src + c];
        ss += v * v;
    }
    let inv = inverseSqrt(ss);
    for (var c = 0u; c < p.dim; c++) {
        y[dst + c] = x[src + c] * inv;
    }
    y[dst + p.dim] = inv;
}
