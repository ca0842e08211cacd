// elementwise.dropout — y = x · keep(i) / (1 - rate), keep(i) = hash(seed, i) >= rate.
// The mask is a pure function of (seed, index), so backward is this same kernel applied to dy
// with the same seed: no mask is stored. Hash: PCG-style integer mix (good enough for masks).
// One invocation per element; 2-D grid as in bias_act.wgsl.

struct P { n: u32, seed: u32, rate: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn mix(v: u32) -> u32 {
    var s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    let u = f32(mix(i ^ mix(p.seed)) >> 8u) / 16777216.0; // uniform in [0, 1)
    y[i] = select(0.0, x[i] / (1.0 - p.rate), u >= p.rate);
}
