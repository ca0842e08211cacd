// loss.argmax_correct — pred[i] = argmax_c z[i, c] (first maximum wins), and the counters
// counts[0] += #{i : w_i > 0 and pred[i] == y_i}, counts[1] += #{i : w_i > 0}.
// Counters accumulate across calls so accuracy over an epoch needs no per-step readback.
// One invocation per row, 64 per workgroup; integer atomics only. Grid (ceil(B/64)).

struct P { rows: u32, classes: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> pred: array<u32>;
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.rows) { return; }
    let base = i * p.classes;
    var best = 0u;
    var best_v = z[base];
    for (var c = 1u; c < p.classes; c++) {
        let v = z[base + c];
        if (v > best_v) { best_v = v; best = c; }
    }
    pred[i] = best;
    if (w[i] > 0.0) {
        atomicAdd(&counts[1], 1u);
        if (best == labels[i]) { atomicAdd(&counts[0], 1u); }
    }
}
