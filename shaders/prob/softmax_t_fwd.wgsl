// prob.softmax_t_fwd — P[r, c] = softmax(z[r, :] / T)[c] over logits z [R, C], max-subtracted.
// One invocation per row; 64 per workgroup; grid (ceil(R/64)).

struct P { rows: u32, classes: u32, inv_t: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.rows) { return; }
    let base = r * p.classes;
    var m = z[base];
    for (var c = 1u; c < p.classes; c++) { m = max(m, z[base + c]); }
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        let e = exp((z[base + c] - m) * p.inv_t);
        y[base + c] = e;
        s += e;
    }
    for (var c = 0u; c < p.classes; c++) { y[base + c] = y[base + c] / s; }
}
