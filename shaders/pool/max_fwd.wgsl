// pool.max_fwd — 2-D max pooling, kernel k x k, stride s, no padding, NCHW.
// Y[nc, oy, ox] = max over the window X[nc, oy*s + i, ox*s + j] (i, j < k);
// A[nc, oy, ox] = index (iy*W + ix) inside the plane of the first maximum (row-major order),
// saved for the backward pass. One invocation per output element; workgroup 256;
// 2-D grid over NC*oH*oW: i = gid.y * (num_workgroups.x * 256) + gid.x.

struct Pool { planes: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.planes * p.oh * p.ow) { return; }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = (i / (p.ow * p.oh)) * p.h * p.w;
    var best_at = (oy * p.s) * p.w + ox * p.s;
    var best = x[plane + best_at];
    for (var dy = 0u; dy < p.k; dy++) {
        for (var dx = 0u; dx < p.k; dx++) {
            let at = (oy * p.s + dy) * p.w + ox * p.s + dx;
            let v = x[plane + at];
            if (v > best) {
                best = v;
                best_at = at;
            }
        }
    }
    y[i] = best;
    arg[i] = best_at;
}
