// pool.max_relu_grad_pairs — the fused conv + ReLU + 2x2/2 max-pool layer's backward when the
// weight gradient reads the pooled gradient itself (conv2d wgrad_splitk*_tex with POOLED_DY)
// instead of dZ: a quarter of dZ's values, no dZ buffer and no copy of it into a texture.
// Invocation t takes pooled elements 2t and 2t+1 of one row (two horizontally adjacent windows,
// i.e. 4 consecutive conv-output pixels of 2 rows) and writes texel t of `pairs`, an rgba32float
// texture in mirror layout (t & (2^shift - 1), t >> shift):
//   (g0, g1, f32(arg0), f32(arg1)),  g = dY · [Y > 0] (Y's sign is the ReLU's mask)
// The argmax (an index in the conv-output plane, below 2^24) is stored as a float value, not as
// bits: a bit pattern of a small integer is a denormal float, which llvmpipe flushes to zero.
// It also writes the pair's masked gradients to gm, which the bias gradient sums.
// Needs W (the conv output's width) a multiple of 4 and H even (the host checks), so pairs never
// straddle a row. dY, Y and the argmax are read from r32 mirrors (same width 2^shift).
// Uniform: the pooling kernels' one; `flat` = number of pairs. Workgroup 64; a 2-D grid
// flattened with num_workgroups.x.

struct Pool { plane0: u32, planes: u32, flat: u32, shift: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var dy_m: texture_2d<f32>;
@group(0) @binding(2) var y_m: texture_2d<f32>;
@group(0) @binding(3) var arg_m: texture_2d<u32>;
@group(0) @binding(4) var pairs: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var<storage, read_write> gm: array<vec2<f32>>;

fn mirror_at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.y * nwg.x * 64u + gid.x;
    if (t >= p.flat) { return; }
    let a = mirror_at(2u * t);
    let b = mirror_at(2u * t + 1u);
    let g0 = select(0.0, textureLoad(dy_m, a, 0).x, textureLoad(y_m, a, 0).x > 0.0);
    let g1 = select(0.0, textureLoad(dy_m, b, 0).x, textureLoad(y_m, b, 0).x > 0.0);
    let a0 = textureLoad(arg_m, a, 0).x;
    let a1 = textureLoad(arg_m, b, 0).x;
    textureStore(pairs, mirror_at(t), vec4<f32>(g0, g1, f32(a0), f32(a1)));
    gm[t] = vec2<f32>(g0, g1);
}
