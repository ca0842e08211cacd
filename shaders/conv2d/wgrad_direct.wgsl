// conv2d.wgrad.direct — weight gradient, one invocation per weight element: the GPU-side oracle and
// the fallback for any adapter.
// dW[co, ci, ky, kx] = sum_(n, oy, ox) dY[n, co, oy, ox] * X[n, ci, oy*sh - ph + ky, ox*sw - pw + kx]
//                      (input positions outside X read as 0).
// Layouts: dY NCHW [N, Co, oH, oW], X NCHW [N, Ci, H, W], dW OIHW [Co, Ci, kH, kW].
// The batch is split into chunks of s.chunk images (grid z): llvmpipe stops a loop after 65535
// iterations in total, so no invocation may loop over all of N*oH*oW. Chunk z writes
// part[z * Co*Ci*kH*kW + i] (dW itself when there is one chunk), summed by wgrad_reduce.wgsl.
// Workgroup 256; grid (x, y, chunks) over Co*Ci*kH*kW elements:
// i = gid.y * (num_workgroups.x * 256) + gid.x.

struct Conv {
    n: u32, ci: u32, h: u32, w: u32,            // input X [N, Ci, H, W]
    co: u32, kh: u32, kw: u32, oh: u32,         // weight W [Co, Ci, kH, kW]; output [N, Co, oH, oW]
    ow: u32, sh: u32, sw: u32, ph: u32,         // stride (sh, sw), zero padding (ph, pw)
    pw: u32, flags: u32, chunk: u32, _pad: u32, // flags: unused; chunk: images per split
}

@group(0) @binding(0) var<uniform> s: Conv;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> xin: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    let total = s.co * s.ci * s.kh * s.kw;
    if (i >= total) { return; }
    let kx = i % s.kw;
    let ky = (i / s.kw) % s.kh;
    let ci = (i / (s.kw * s.kh)) % s.ci;
    let co = i / (s.kw * s.kh * s.ci);
    var acc = 0.0;
    for (var n = gid.z * s.chunk; n < min(gid.z * s.chunk + s.chunk, s.n); n++) {
        let dplane = (n * s.co + co) * s.oh;
        let xplane = (n * s.ci + ci) * s.h;
        for (var oy = 0u; oy < s.oh; oy++) {
            let iy = i32(oy * s.sh + ky) - i32(s.ph);
            if (iy < 0 || u32(iy) >= s.h) { continue; }
            for (var ox = 0u; ox < s.ow; ox++) {
                let ix = i32(ox * s.sw + kx) - i32(s.pw);
                if (ix < 0 || u32(ix) >= s.w) { continue; }
                acc += dy[(dplane + oy) * s.ow + ox] * xin[(xplane + u32(iy)) * s.w + u32(ix)];
            }
        }
    }
    part[gid.z * total + i] = acc;
}
