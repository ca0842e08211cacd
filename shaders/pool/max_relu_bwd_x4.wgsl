// pool.max_relu_bwd_x4 — pool/max_relu_bwd_scatter.wgsl for 2x2 windows with stride 2 that tile
// the input exactly (H even, W a multiple of 4), four dZ values per invocation: invocation t
// owns dZ[4t .. 4t+4], a row segment covering two windows, builds it from their masked gradient
// and argmax, and stores it as one vec4; invocations on even rows also store the two windows'
// masked pooled gradient G as one vec2. No clearing pass is needed (every element is written),
// and a quarter of the scatter's stores remain, each 4 values wide (llvmpipe turns every storage
// access into a per-lane loop, so the number of accesses is what costs).
// Same uniform as the scatter kernel; planes = N·C, flat and plane0 unused. Workgroup 64; a 2-D
// grid flattened with num_workgroups.x.

struct Pool { plane0: u32, planes: u32, flat: u32, shift: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> arg: array<u32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> gm: array<vec2<f32>>;
@group(0) @binding(6) var dy_m: texture_2d<f32>;
@group(0) @binding(7) var y_m: texture_2d<f32>;
@group(0) @binding(8) var arg_m: texture_2d<u32>;

// MIRROR (CPU adapters): dY, Y and the argmax are read from r32 mirrors (Gpu::mirror,
// Gpu::mirror_u32; shift = log2 of their width).
override MIRROR: bool = false;

fn mirror_at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

// a / b through a float quotient, corrected to the exact integer one (llvmpipe scalarises
// integer division; one correction step suffices for a < 2^24, which the host ensures).
fn div(a: u32, b: u32) -> u32 {
    var q = u32(f32(a) / f32(b));
    if (q * b > a) { q -= 1u; }
    if ((q + 1u) * b <= a) { q += 1u; }
    return q;
}

struct Window { g: f32, a: u32 }

// Masked gradient and argmax of pooled element o.
fn window(o: u32) -> Window {
    var g: f32;
    var a: u32;
    if (MIRROR) {
        let at = mirror_at(o);
        g = select(0.0, textureLoad(dy_m, at, 0).x, textureLoad(y_m, at, 0).x > 0.0);
        a = textureLoad(arg_m, at, 0).x;
    } else {
        g = select(0.0, dy[o], y[o] > 0.0);
        a = arg[o];
    }
    return Window(g, a);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.y * nwg.x * 64u + gid.x;
    let quads_per_row = p.w >> 2u;
    let rows = p.planes * p.h;
    if (t >= rows * quads_per_row) { return; }
    // Row over all planes, and the row within its plane.
    let row = div(t, quads_per_row);
    let x0 = (t - row * quads_per_row) << 2u;
    let ly = row - div(row, p.h) * p.h;
    // H even: pooled row (over all planes) = row / 2; W a multiple of 4: o is even.
    let o = (row >> 1u) * p.ow + (x0 >> 1u);
    let w0 = window(o);
    let w1 = window(o + 1u);
    let at = ly * p.w + x0;
    dz[t] = vec4<f32>(select(0.0, w0.g, w0.a == at), select(0.0, w0.g, w0.a == at + 1u),
                      select(0.0, w1.g, w1.a == at + 2u), select(0.0, w1.g, w1.a == at + 3u));
    if ((ly & 1u) == 0u) {
        gm[o >> 1u] = vec2<f32>(w0.g, w1.g);
    }
}
