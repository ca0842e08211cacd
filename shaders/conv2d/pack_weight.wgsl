// conv2d.pack_weight — packs OIHW weights W [Co, Ci, kH, kW] into the GEMM-operand texture of the
// texture-operand conv kernels (see scripts/gen_conv2d_tex.py):
//   texel (x, k') = (M[4x..4x+4, c, ky, kx]) with k' = ((ky*kW + kx)*C4 + c/4)*4 + c%4,
//   zero in columns >= cols and channels >= C (the GEMM then needs no bounds checks).
// Forward: M[col, c, ky, kx] = W[col, c, ky, kx] (columns = Co, reduction channels = Ci).
// FLIP (input gradient): M[col, c, ky, kx] = W[c, col, kH-1-ky, kW-1-kx] (columns = Ci, channels = Co).
// One invocation per texel; workgroup 8x8; grid (ceil(width/8), ceil(height/8)).

struct P {
    cols: u32, c: u32, kh: u32, kw: u32,     // GEMM columns; reduction channels; kernel size
    c4: u32, width: u32, height: u32, _pad: u32,
}

override FLIP: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> wsrc: array<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.width || gid.y >= p.height) { return; }
    let c = (gid.y / 4u % p.c4) * 4u + gid.y % 4u;
    let kyx = gid.y / 4u / p.c4;
    let ky = kyx / p.kw;
    let kx = kyx % p.kw;
    var v = vec4<f32>(0.0);
    if (c < p.c) {
        for (var j = 0u; j < 4u; j++) {
            let col = 4u * gid.x + j;
            if (col < p.cols) {
                if (FLIP) {
                    v[j] = wsrc[((c * p.cols + col) * p.kh + p.kh - 1u - ky) * p.kw + p.kw - 1u - kx];
                } else {
                    v[j] = wsrc[((col * p.c + c) * p.kh + ky) * p.kw + kx];
                }
            }
        }
    }
    textureStore(out, vec2<i32>(gid.xy), v);
}
