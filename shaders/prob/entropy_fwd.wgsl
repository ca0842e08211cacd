// prob.entropy_fwd — H[r] = -Σ_c P[r, c]·ln(P[r, c] + 1e-5) over probabilities P [R, C]
// (TLlib's entropy: the epsilon keeps ln finite at p = 0).
// One invocation per row; 64 per workgroup; grid (ceil(R/64)).

struct P { rows: u32, classes: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.rows) { return; }
    let base = r * p.classes;
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        let v = x[base + c];
        s -= v * log(v + 1e-5);
    }
    h[r] = s;
}
