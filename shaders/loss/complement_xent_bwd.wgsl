// loss.complement_xent_bwd — gradient of loss.complement_xent_fwd with respect to the logits z [B, C]:
//   dz[i, c] = k_i · p_y · ([c == y] - p_c) / (q + 1e-6)   where q + 1e-6 < 1, else 0,
//   k_i = scale · w_i / max(Σ w, 1),  p = softmax(z_i),  y = labels[i],  q = 1 - p_y
// (ℓ = -log(q + 1e-6), dℓ/dq = -1/(q + 1e-6), dq/dz_c = p_y·(p_c - [c == y]); where the clamp
// min(·, 1) is active, i.e. p_y ≤ 1e-6, the loss is flat). At c == y the factor 1 - p_y is
// written as q, summed over the other classes like the forward. One invocation per row:
// recomputes the row's max and normaliser, then writes the row; 64 per workgroup; Σ w is
// summed by every invocation (B is small). Grid (ceil(B/64)).

struct P { rows: u32, classes: u32, scale: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;

const EPS: f32 = 1e-6;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.rows) { return; }
    var total = 0.0;
    for (var r = 0u; r < p.rows; r++) { total += w[r]; }
    let base = i * p.classes;
    var m = z[base];
    for (var c = 1u; c < p.classes; c++) { m = max(m, z[base + c]); }
    let label = min(labels[i], p.classes - 1u);
    var rest = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        if (c != label) { rest += exp(z[base + c] - m); }
    }
    let s = rest + exp(z[base + label] - m);
    let q = rest / s;
    let py = exp(z[base + label] - m) / s;
    var g = 0.0;
    if (q + EPS < 1.0) { g = p.scale * w[i] / max(total, 1.0) * py / (q + EPS); }
    for (var c = 0u; c < p.classes; c++) {
        let pc = exp(z[base + c] - m) / s;
        dz[base + c] = select(-g * pc, g * q, c == label);
    }
}
