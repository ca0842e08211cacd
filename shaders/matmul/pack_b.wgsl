// matmul.pack_b — packs op(B)[K, N] (and, with (K, N) = (M, K), op(A)) into an rgba32float
// texture for the sgbc_tex kernel:
//   texel (x, y) = (op(B)[y, 4x], op(B)[y, 4x+1], op(B)[y, 4x+2], op(B)[y, 4x+3]),
//   zero wherever y >= K or the column >= N (the GEMM then needs no bounds checks on B).
// op(B) = B [K, N] row-major, or Bᵀ when TRANS_B (B stored [N, K]): the transpose happens here.
// One invocation per texel; workgroup 8x8; grid (ceil(width/8), ceil(height/8)).

struct P { k: u32, n: u32, width: u32, height: u32 }

override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var out: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    if (x >= p.width || y >= p.height) { return; }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let col = 4u * x + j;
        if (y < p.k && col < p.n) {
            if (TRANS_B) { v[j] = b[col * p.k + y]; } else { v[j] = b[y * p.n + col]; }
        }
    }
    textureStore(out, vec2<i32>(i32(x), i32(y)), v);
}
