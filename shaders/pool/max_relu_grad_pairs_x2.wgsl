// pool.max_relu_grad_pairs_x2 — pool/max_relu_grad_pairs.wgsl two pairs per invocation: where
// the pooled count is a multiple of 4, invocation t reads pooled values 4t..4t+3 as one texel of
// each rgba mirror (dY, Y: rgba32float; argmax: rgba32uint) and writes pair texels 2t and 2t+1
// and the four masked gradients as one vec4: a quarter of the fetches and half the invocations
// of the one-pair kernel (each fetch a gather on llvmpipe). Pairs stay within a row (the pooled
// width is even), a quad of pooled values may span two rows.
// Uniform: the pooling kernels' one; `flat` = pooled count / 4. Workgroup 64; a 2-D grid
// flattened with num_workgroups.x.

struct Pool { plane0: u32, planes: u32, flat: u32, shift: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var dy_m: texture_2d<f32>;
@group(0) @binding(2) var y_m: texture_2d<f32>;
@group(0) @binding(3) var arg_m: texture_2d<u32>;
@group(0) @binding(4) var pairs: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var<storage, read_write> gm: array<vec4<f32>>;

fn mirror_at(i: u32) -> vec2<i32> {
    return vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.y * nwg.x * 64u + gid.x;
    if (t >= p.flat) { return; }
    let at = mirror_at(t);
    let g = select(vec4<f32>(0.0), textureLoad(dy_m, at, 0), textureLoad(y_m, at, 0) > vec4<f32>(0.0));
    let a = vec4<f32>(textureLoad(arg_m, at, 0));
    textureStore(pairs, mirror_at(2u * t), vec4<f32>(g.x, g.y, a.x, a.y));
    textureStore(pairs, mirror_at(2u * t + 1u), vec4<f32>(g.z, g.w, a.z, a.w));
    gm[t] = g;
}
