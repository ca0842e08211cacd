// matmul.pack_b — packs op(B)[K, N] (and, with (K, N) = (M, K), op(A)) into an rgba32float
// texture for the sgbc_tex kernel:
//   texel (x, y) = (op(B)[y, 4x], op(B)[y, 4x+1], op(B)[y, 4x+2], op(B)[y, 4x+3]),
//   zero wherever y >= K or the column >= N (the GEMM then needs no bounds checks on B).
// op(B) = B [K, N] row-major, or Bᵀ when TRANS_B (B stored [N, K]): the transpose happens here.
// B is read from its r32float mirror (Gpu::mirror), not from the storage buffer.
// One invocation per texel; workgroup 8x8; grid (ceil(width/8), ceil(height/8)), swapped when TRANS_B.

struct P { k: u32, n: u32, width: u32, height: u32, shift: u32, _a: u32, _b: u32, _c: u32 } // shift: log2 mirror width

override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

// Source value at flat index i, read from its r32float mirror (Gpu::mirror): a vectorised texel
// fetch instead of llvmpipe's per-lane storage-load loop.
fn ld(i: u32) -> f32 {
    return textureLoad(src, vec2<i32>(i32(i & ((1u << p.shift) - 1u)), i32(i >> p.shift)), 0).x;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Lanes run along the source's contiguous axis: columns, or rows of op(B) when transposed.
    let x = select(gid.x, gid.y, TRANS_B);
    let y = select(gid.y, gid.x, TRANS_B);
    if (x >= p.width || y >= p.height) { return; }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let col = 4u * x + j;
        if (y < p.k && col < p.n) {
            if (TRANS_B) { v[j] = ld(col * p.k + y); } else { v[j] = ld(y * p.n + col); }
        }
    }
    textureStore(out, vec2<i32>(i32(x), i32(y)), v);
}
