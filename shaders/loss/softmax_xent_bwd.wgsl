// loss.softmax_xent_bwd — dz[i, c] = scale · w_i · (softmax(z_i)[c] - q_ic) / max(Σ w, 1)
// with q_i = onehot(y_i), or (1-ε)·onehot(y_i) + ε/C with label smoothing ε (the gradient of
// softmax_xent_fwd). One invocation per row: recomputes the row's max and
// normaliser (cheaper than saving probabilities), then writes the row. 64 per workgroup;
// Σ w is summed by every invocation (B is small). Grid (ceil(B/64)).

struct P { rows: u32, classes: u32, scale: f32, smoothing: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.rows) { return; }
    var total = 0.0;
    for (var r = 0u; r < p.rows; r++) { total += w[r]; }
    let coef = p.scale * w[i] / max(total, 1.0);
    let base = i * p.classes;
    var m = z[base];
    for (var c = 1u; c < p.classes; c++) { m = max(m, z[base + c]); }
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) { s += exp(z[base + c] - m); }
    let label = min(labels[i], p.classes - 1u);
    for (var c = 0u; c < p.classes; c++) {
        let prob = exp(z[base + c] - m) / s;
        var q = select(0.0, 1.0, c == label);
        if (p.smoothing > 0.0) {
            q = (1.0 - p.smoothing) * q + p.smoothing / f32(p.classes);
        }
        dz[base + c] = coef * (prob - q);
    }
}
