// pool.max_bwd_scatter — max-pool backward for non-overlapping windows (k <= s): every input
// element lies in at most one window, so each output writes its whole k x k window race-free:
// dX[nc, oy*s + i, ox*s + j] = dY[nc, oy, ox] if A[nc, oy, ox] == (oy*s + i)*W + ox*s + j, else 0.
// Inputs outside every window must be zeroed beforehand (the caller clears dX when s > k or the
// windows do not tile the plane). One invocation per output element; workgroup 64; grid: see
// locate().

// plane0: first plane of this dispatch; planes: planes in it; flat: 1 = flat mode (see locate).
struct Pool { plane0: u32, planes: u32, flat: u32, _pad: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _a: u32, _b: u32 }

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
    let loc = locate(gid, nwg, p.oh * p.ow);
    let plane_i = loc.x;
    let at_out = loc.y;
    if (at_out >= p.oh * p.ow) { return; }
    let oy = at_out / p.ow;
    let ox = at_out - oy * p.ow;
    let o = plane_i * p.oh * p.ow + at_out;
    let plane = plane_i * p.h * p.w;
    let g = dy[o];
    let a = arg[o];
    for (var dy_ = 0u; dy_ < p.k; dy_++) {
        for (var dx_ = 0u; dx_ < p.k; dx_++) {
            let at = (oy * p.s + dy_) * p.w + ox * p.s + dx_;
            dx[plane + at] = select(0.0, g, a == at);
        }
    }
}
