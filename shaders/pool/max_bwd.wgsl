// pool.max_bwd — routes max-pool gradients through the saved argmax, without atomics: each input
// element gathers from every window that can contain it (overlapping windows included):
// dX[nc, iy, ix] = sum over (oy, ox) with oy*s <= iy < oy*s + k, ox*s <= ix < ox*s + k and
//                  A[nc, oy, ox] == iy*W + ix of dY[nc, oy, ox].
// One invocation per input element; workgroup 256; 2-D grid over NC*H*W.

struct Pool { planes: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> arg: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.planes * p.h * p.w) { return; }
    let at = i % (p.h * p.w);
    let ix = at % p.w;
    let iy = at / p.w;
    let out_plane = (i / (p.h * p.w)) * p.oh * p.ow;
    // Windows oy with oy*s <= iy <= oy*s + k - 1.
    let oy0 = select(0u, (iy - p.k + 1u + p.s - 1u) / p.s, iy + 1u >= p.k);
    let oy1 = min(iy / p.s, p.oh - 1u);
    let ox0 = select(0u, (ix - p.k + 1u + p.s - 1u) / p.s, ix + 1u >= p.k);
    let ox1 = min(ix / p.s, p.ow - 1u);
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        for (var ox = ox0; ox <= ox1; ox++) {
            let o = out_plane + oy * p.ow + ox;
            if (arg[o] == at) { acc += dy[o]; }
        }
    }
    dx[i] = acc;
}
