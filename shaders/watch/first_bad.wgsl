// watch.first_bad — remembers the first training step whose loss is unusable: when any of the
// n values is NaN, infinite or larger than `limit` in magnitude, flag = min(flag, step). The
// flag starts at 0xffffffff and is read once at the end of the epoch (no readback per step).

struct P { n: u32, step: u32, limit: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    let v = x[i];
    // Test the exponent bits for NaN and infinity: a compiler may assume floats are never NaN
    // and fold a comparison away, but not an integer test.
    let not_finite = (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
    if (not_finite || abs(v) > p.limit) {
        atomicMin(&flag[0], p.step);
    }
}
