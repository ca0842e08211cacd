// conv2d.wgrad_tex_reduce — sums the split-K partials of the texture-operand weight gradient and
// reorders them to OIHW: dW[co, c, ky, kx] = sum_(z < splits) part[z, co, ((ky*kW + kx)*C4 + c/4)*4 + c%4].
// The partials are read from an r32float mirror (Gpu::mirror; vectorised fetches on llvmpipe).
// One invocation per weight element, summing in a fixed order (deterministic, no atomics).
// Workgroup 8x8 = 8 output channels x 8 input channels of one tap; lanes run along the output
// channels, whose values lie far apart (llvmpipe fetches and stores lanes reading neighbouring
// values more slowly, see pack_weight.wgsl); the tap comes from the workgroup id, so no lane
// divides (llvmpipe scalarises vector integer division). Grid (ceil(Co/8), ceil(C/8), kH*kW).

struct P { co: u32, c: u32, kh: u32, kw: u32, c4: u32, splits: u32, shift: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var part: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

fn ld(i: u32) -> f32 {
    return textureLoad(part, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let co = gid.x;
    let c = gid.y;
    if (c >= p.c || co >= p.co) { return; }
    let kyx = wid.z;
    let khw = p.kh * p.kw;
    let ncol = khw * p.c4 * 4u;
    let j = co * ncol + kyx * p.c4 * 4u + c;
    let stride = p.co * ncol;
    var acc = 0.0;
    for (var z = 0u; z < p.splits; z++) {
        acc += ld(z * stride + j);
    }
    dw[(co * p.c + c) * khw + kyx] = acc;
}
