// conv2d.dgrad.direct — input gradient, one invocation per input element: the GPU-side oracle and
// the fallback for any adapter. Each input pixel gathers from the outputs whose window covers it
// (no atomics):
// dX[n, ci, y, x] = sum_(co, ky, kx) dY[n, co, oy, ox] * W[co, ci, ky, kx]
//                   over oy = (y + ph - ky) / sh, ox = (x + pw - kx) / sw exact and in range.
// Layouts: dY NCHW [N, Co, oH, oW], W OIHW [Co, Ci, kH, kW], dX NCHW [N, Ci, H, W].
// Workgroup 256; 2-D grid over N*Ci*H*W elements: i = gid.y * (num_workgroups.x * 256) + gid.x.

struct Conv {
    n: u32, ci: u32, h: u32, w: u32,            // input X [N, Ci, H, W]
    co: u32, kh: u32, kw: u32, oh: u32,         // weight W [Co, Ci, kH, kW]; output [N, Co, oH, oW]
    ow: u32, sh: u32, sw: u32, ph: u32,         // stride (sh, sw), zero padding (ph, pw)
    pw: u32, flags: u32, chunk: u32, _pad: u32, // flags, chunk: unused here
}

@group(0) @binding(0) var<uniform> s: Conv;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= s.n * s.ci * s.h * s.w) { return; }
    let x = i % s.w;
    let y = (i / s.w) % s.h;
    let ci = (i / (s.w * s.h)) % s.ci;
    let n = i / (s.w * s.h * s.ci);
    var acc = 0.0;
    for (var co = 0u; co < s.co; co++) {
        let dplane = (n * s.co + co) * s.oh;
        let wbase = (co * s.ci + ci) * s.kh;
        for (var ky = 0u; ky < s.kh; ky++) {
            let uy = i32(y + s.ph) - i32(ky);
            if (uy < 0 || u32(uy) % s.sh != 0u || u32(uy) / s.sh >= s.oh) { continue; }
            let oy = u32(uy) / s.sh;
            for (var kx = 0u; kx < s.kw; kx++) {
                let ux = i32(x + s.pw) - i32(kx);
                if (ux < 0 || u32(ux) % s.sw != 0u || u32(ux) / s.sw >= s.ow) { continue; }
                let ox = u32(ux) / s.sw;
                acc += dy[(dplane + oy) * s.ow + ox] * wt[(wbase + ky) * s.kw + kx];
            }
        }
    }
    dx[i] = acc;
}
