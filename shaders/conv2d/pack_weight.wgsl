// conv2d.pack_weight — packs OIHW weights W [Co, Ci, kH, kW] into the GEMM-operand texture of the
// texture-operand conv kernels (see scripts/gen_conv2d_tex.py):
//   texel (x, k') = (M[4x..4x+4, c, ky, kx]) with k' = ((ky*kW + kx)*C4 + c/4)*4 + c%4,
//   zero in columns >= cols and channels >= C (the GEMM then needs no bounds checks).
// Forward: M[col, c, ky, kx] = W[col, c, ky, kx] (columns = Co, reduction channels = Ci).
// FLIP (input gradient): M[col, c, ky, kx] = W[c, col, kH-1-ky, kW-1-kx] (columns = Ci, channels = Co).
// One invocation per texel; the tap comes from the workgroup id, so no lane divides. Workgroup
// 16x4: 16 texel columns x 4 channels of one tap (FLIP: 16 channels x 4 columns); grid
// (ceil(4*C4/4), ceil(width/16), kH*kW) (FLIP: (ceil(4*C4/16), ceil(width/4), kH*kW)).
// The 16 lanes of a row run along the axis whose source values lie far apart: the texel columns
// in the forward (lanes C*kH*kW*4 values apart), the channels with FLIP (cols*kH*kW apart), so
// that a whole subgroup (8 or 16 lanes) does. Lanes reading neighbouring values (9 apart for
// 3x3) made the forward pack 2-2.5x slower on llvmpipe than the same work with far-apart lanes
// (VGG16 512x512 layer: 30-43 ms against 14-18; docs/benchmarks.md); an 8x8 workgroup still
// put two channels in a subgroup of 16.

struct P {
    cols: u32, c: u32, kh: u32, kw: u32,     // GEMM columns; reduction channels; kernel size
    c4: u32, width: u32, height: u32, shift: u32, // texels per pixel; texture size; log2 mirror width
}

override FLIP: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

// Source value at flat index i, read from its r32float mirror (Gpu::mirror): a vectorised texel
// fetch instead of llvmpipe's per-lane storage-load loop.
fn ld(i: u32) -> f32 {
    return textureLoad(src, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
}

@compute @workgroup_size(16, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let x = select(wid.y * 16u + lid.x, wid.y * 4u + lid.y, FLIP);
    let c = select(wid.x * 4u + lid.y, wid.x * 16u + lid.x, FLIP);
    if (x >= p.width || c >= 4u * p.c4) { return; }
    let kyx = wid.z;
    let ky = kyx / p.kw;
    let kx = kyx % p.kw;
    let row = kyx * 4u * p.c4 + c;
    var v = vec4<f32>(0.0);
    if (c < p.c) {
        for (var j = 0u; j < 4u; j++) {
            let col = 4u * x + j;
            if (col < p.cols) {
                if (FLIP) {
                    v[j] = ld(((c * p.cols + col) * p.kh + p.kh - 1u - ky) * p.kw + p.kw - 1u - kx);
                } else {
                    v[j] = ld(((col * p.c + c) * p.kh + ky) * p.kw + kx);
                }
            }
        }
    }
    textureStore(out, vec2<i32>(i32(x), i32(row)), v);
}
