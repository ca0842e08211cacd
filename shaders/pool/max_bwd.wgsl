// pool.max_bwd — routes max-pool gradients through the saved argmax, without atomics: each input
// element gathers from every window that can contain it (overlapping windows included):
// dX[nc, iy, ix] = sum over (oy, ox) with oy*s <= iy + pad < oy*s + k (the same in x) and
//                  A[nc, oy, ox] == iy*W + ix of dY[nc, oy, ox].
// Used when windows overlap (k > s); max_bwd_scatter.wgsl handles k <= s.
// One invocation per input element; workgroup 64; grid: see locate().

// plane0: first plane of this dispatch; planes: planes in it; flat: 1 = flat mode (see locate).
struct Pool { plane0: u32, planes: u32, flat: u32, _shift: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, pad: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> arg: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// (plane, position in plane) of this invocation; position >= per_plane means none. Per-plane mode:
// gid.x = position, gid.y + plane0 = plane (no division). Flat mode (small planes): one index
// over all planes, split with one division.
fn locate(gid: vec3<u32>, nwg: vec3<u32>, per_plane: u32) -> vec2<u32> {
    if (p.flat == 0u) { return vec2<u32>(gid.y + p.plane0, gid.x); }
    let i = gid.y * nwg.x * 64u + gid.x;
    let plane = i / per_plane;
    return vec2<u32>(plane, select(i - plane * per_plane, per_plane, plane >= p.planes));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let loc = locate(gid, nwg, p.h * p.w);
    let plane_i = loc.x;
    let at = loc.y;
    if (at >= p.h * p.w) { return; }
    let iy = at / p.w;
    let ix = at - iy * p.w;
    let i = plane_i * p.h * p.w + at;
    let out_plane = plane_i * p.oh * p.ow;
    // Windows oy with oy*s <= qy <= oy*s + k - 1, qy = iy + pad (the padded row).
    let qy = iy + p.pad;
    let qx = ix + p.pad;
    let oy0 = select(0u, (qy - p.k + 1u + p.s - 1u) / p.s, qy + 1u >= p.k);
    let oy1 = min(qy / p.s, p.oh - 1u);
    let ox0 = select(0u, (qx - p.k + 1u + p.s - 1u) / p.s, qx + 1u >= p.k);
    let ox1 = min(qx / p.s, p.ow - 1u);
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        for (var ox = ox0; ox <= ox1; ox++) {
            let o = out_plane + oy * p.ow + ox;
            if (arg[o] == at) { acc += dy[o]; }
        }
    }
    dx[i] = acc;
}
