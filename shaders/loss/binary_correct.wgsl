// loss.binary_correct — accuracy counters of a binary classifier with one logit per sample:
// counts[0] += #{i : (x_i > 0) == (t_i > 0.5)}, counts[1] += N. A domain classifier's
// accuracy (near 50% means the features no longer tell the domains apart).
// Counters accumulate across calls so an epoch needs no per-step readback.
// x, t: [N]. One invocation per sample, 64 per workgroup; integer atomics only. Grid (ceil(N/64)).

struct P { n: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n) { return; }
    atomicAdd(&counts[1], 1u);
    if ((x[i] > 0.0) == (t[i] > 0.5)) { atomicAdd(&counts[0], 1u); }
}
