// weight_norm.bwd — gradients of W = g·V/‖V‖ per row from dW: with n = ‖V[r]‖ and
// s = Σ_c dW[r, c]·V[r, c], dg[r] = s / n and dV[r, c] = (g[r]/n)·(dW[r, c] - s·V[r, c]/n²).
// One invocation per row; 64 per workgroup; grid (ceil(R/64)).

struct P { rows: u32, cols: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> dv: array<f32>;
@group(0) @binding(5) var<storage, read_write> dg: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var ss = 0.0;
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        ss += v[base + c] * v[base + c];
        s += dw[base + c] * v[base + c];
    }
    let n = max(sqrt(ss), 1e-12);
    dg[r] = s / n;
    let a = g[r] / n;
    let b = s / (n * n);
    for (var c = 0u; c < p.cols; c++) { dv[base + c] = a * (dw[base + c] - b * v[base + c]); }
}
