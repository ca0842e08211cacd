// pool.max_fwd — 2-D max pooling, kernel k x k, stride s, padding pad (−∞: padded positions
// never win), NCHW. Y[nc, oy, ox] = max over the window X[nc, oy*s − pad + i, ox*s − pad + j]
// (i, j < k, inside the plane);
// A[nc, oy, ox] = index (iy*W + ix) inside the plane of the first maximum (row-major order),
// saved for the backward pass. One invocation per output element; workgroup 64; grid: see
// locate() (planes on the y axis when planes are large, one flat index when they are small).

// plane0: first plane of this dispatch; planes: planes in it; flat: 1 = flat mode (see locate).
struct Pool { plane0: u32, planes: u32, flat: u32, shift: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, pad: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg: array<u32>;
@group(0) @binding(4) var x_m: texture_2d<f32>;

// MIRROR (CPU adapters): x is read from an r32float mirror (Gpu::mirror; shift = log2 of its
// width), vectorised fetches instead of llvmpipe's per-lane storage-load loops.
override MIRROR: bool = false;

fn ld(i: u32) -> f32 {
    if (MIRROR) {
        return textureLoad(x_m, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
    }
    return x[i];
}

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
    let loc = locate(gid, nwg, p.oh * p.ow);
    let plane_i = loc.x;
    let at_out = loc.y;
    if (at_out >= p.oh * p.ow) { return; }
    let oy = at_out / p.ow;
    let ox = at_out - oy * p.ow;
    let i = plane_i * p.oh * p.ow + at_out;
    let plane = plane_i * p.h * p.w;
    // The first maximum among the window's positions inside the plane (row-major order).
    var best_at = 0u;
    var best = 0.0;
    var found = false;
    for (var dy = 0u; dy < p.k; dy++) {
        let iy = oy * p.s + dy;
        if (iy < p.pad || iy - p.pad >= p.h) { continue; }
        for (var dx = 0u; dx < p.k; dx++) {
            let ix = ox * p.s + dx;
            if (ix < p.pad || ix - p.pad >= p.w) { continue; }
            let at = (iy - p.pad) * p.w + ix - p.pad;
            let v = ld(plane + at);
            if (!found || v > best) {
                best = v;
                best_at = at;
                found = true;
            }
        }
    }
    y[i] = best;
    arg[i] = best_at;
}
