// pool.gap_bwd — global average pooling backward: dX[nc, h, w] = dY[nc] / (H*W).
// One invocation per input element; workgroup 64; grid: see locate().

// plane0: first plane of this dispatch; planes: planes in it; flat: 1 = flat mode (see locate).
struct Gap { plane0: u32, planes: u32, flat: u32, _pad: u32, hw: u32, _c: u32, _d: u32, _e: u32, _f: u32, _g: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Gap;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

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
    let loc = locate(gid, nwg, p.hw);
    if (loc.y >= p.hw) { return; }
    dx[loc.x * p.hw + loc.y] = dy[loc.x] / f32(p.hw);
}
