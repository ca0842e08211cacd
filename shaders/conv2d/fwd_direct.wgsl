// conv2d.fwd.direct — forward convolution, one invocation per output element: the GPU-side oracle
// and the fallback for any adapter.
// Y[n, co, oy, ox] = sum_(ci, ky, kx) X[n, ci, oy*sh - ph + ky, ox*sw - pw + kx] * W[co, ci, ky, kx]
//                    (+ bias[co]) (then ReLU); input positions outside X read as 0 (zero padding).
// Layouts: X NCHW [N, Ci, H, W], W OIHW [Co, Ci, kH, kW], Y NCHW [N, Co, oH, oW].
// Workgroup 256; 2-D grid over N*Co*oH*oW elements: i = gid.y * (num_workgroups.x * 256) + gid.x.

struct Conv {
    n: u32, ci: u32, h: u32, w: u32,            // input X [N, Ci, H, W]
    co: u32, kh: u32, kw: u32, oh: u32,         // weight W [Co, Ci, kH, kW]; output [N, Co, oH, oW]
    ow: u32, sh: u32, sw: u32, ph: u32,         // stride (sh, sw), zero padding (ph, pw)
    pw: u32, flags: u32, chunk: u32, _pad: u32, // flags: bit 0 bias, bit 1 ReLU; chunk: unused here
}

@group(0) @binding(0) var<uniform> s: Conv;
@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= s.n * s.co * s.oh * s.ow) { return; }
    let ox = i % s.ow;
    let oy = (i / s.ow) % s.oh;
    let co = (i / (s.ow * s.oh)) % s.co;
    let n = i / (s.ow * s.oh * s.co);
    var acc = 0.0;
    for (var ci = 0u; ci < s.ci; ci++) {
        let xplane = (n * s.ci + ci) * s.h;
        let wbase = (co * s.ci + ci) * s.kh;
        for (var ky = 0u; ky < s.kh; ky++) {
            let iy = i32(oy * s.sh + ky) - i32(s.ph);
            if (iy < 0 || u32(iy) >= s.h) { continue; }
            for (var kx = 0u; kx < s.kw; kx++) {
                let ix = i32(ox * s.sw + kx) - i32(s.pw);
                if (ix < 0 || u32(ix) >= s.w) { continue; }
                acc += xin[(xplane + u32(iy)) * s.w + u32(ix)] * wt[(wbase + ky) * s.kw + kx];
            }
        }
    }
    let bv = bias[min(co, arrayLength(&bias) - 1u)];
    if ((s.flags & 1u) != 0u) { acc += bv; }
    if ((s.flags & 2u) != 0u) { acc = max(acc, 0.0); }
    y[i] = acc;
}
