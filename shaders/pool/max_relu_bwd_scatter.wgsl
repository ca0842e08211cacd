// pool.max_relu_bwd — backward of ReLU followed by max pooling with non-overlapping windows
// (k <= s), in one pass (the fused conv + ReLU + pool layer, ops/conv2d/pooled.rs):
// dZ[nc, oy*s + i, ox*s + j] = dY[nc, oy, ox] if A[nc, oy, ox] == (oy*s + i)*W + ox*s + j and
// Y[nc, oy, ox] > 0, else 0, where Y = pool(ReLU(Z)) = ReLU(pool(Z)) is the pooled output (the
// ReLU's gradient is 1 exactly where the window's maximum is positive). Inputs outside every
// window must be zeroed beforehand (the caller clears dZ). Also writes the masked pooled
// gradient G[nc, oy, ox] = dY where Y > 0, else 0: the bias gradient sums G, a quarter of dZ's
// elements with the same non-zeros. One invocation per output element; workgroup 64; grid: see
// locate().

// plane0: first plane of this dispatch; planes: planes in it; flat: 1 = flat mode (see locate).
struct Pool { plane0: u32, planes: u32, flat: u32, shift: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> arg: array<u32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> gm: array<f32>;
@group(0) @binding(6) var dy_m: texture_2d<f32>;
@group(0) @binding(7) var y_m: texture_2d<f32>;

// MIRROR (CPU adapters): dY and Y are read from r32float mirrors (Gpu::mirror; shift = log2 of
// their width), vectorised fetches instead of llvmpipe's per-lane storage-load loops.
override MIRROR: bool = false;

fn mirror_at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
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
    let o = plane_i * p.oh * p.ow + at_out;
    let plane = plane_i * p.h * p.w;
    var g: f32;
    if (MIRROR) {
        g = select(0.0, textureLoad(dy_m, mirror_at(o), 0).x, textureLoad(y_m, mirror_at(o), 0).x > 0.0);
    } else {
        g = select(0.0, dy[o], y[o] > 0.0);
    }
    let a = arg[o];
    gm[o] = g;
    for (var dy_ = 0u; dy_ < p.k; dy_++) {
        for (var dx_ = 0u; dx_ < p.k; dx_++) {
            let at = (oy * p.s + dy_) * p.w + ox * p.s + dx_;
            dx[plane + at] = select(0.0, g, a == at);
        }
    }
}
