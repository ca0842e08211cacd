// matmul.tiled_64x64 — shared-memory tiling for real GPUs.
// C[M, N] = op(A)[M, K] · op(B)[K, N] (+ bias[N]) (then ReLU); op as in naive.wgsl.
// Workgroup 16x16 threads computes a 64x64 tile of C; each thread a 4x4 block (rows ty+16i,
// columns tx+16j, strided so shared-memory reads are conflict-free). K is walked in steps of
// BK = 16: A[64 x 16] and B[16 x 64] tiles are staged in workgroup memory (zero-padded at the
// edges, so any M, N, K works). Grid (ceil(N/64), ceil(M/64)).

// flags: bit 0 = add bias, bit 1 = ReLU (runtime: they only touch the store, not the loop)
struct Shape { m: u32, n: u32, k: u32, flags: u32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> s: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TM = 64u;
const TN = 64u;
const BK = 16u;

var<workgroup> a_tile: array<array<f32, 65>, 16>; // [k][m], padded row
var<workgroup> b_tile: array<array<f32, 65>, 16>; // [k][n]

fn load_a(row: u32, kk: u32) -> f32 {
    if (row >= s.m || kk >= s.k) { return 0.0; }
    if (TRANS_A) { return a[kk * s.m + row]; }
    return a[row * s.k + kk];
}

fn load_b(kk: u32, col: u32) -> f32 {
    if (col >= s.n || kk >= s.k) { return 0.0; }
    if (TRANS_B) { return b[col * s.k + kk]; }
    return b[kk * s.n + col];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let flat = ty * 16u + tx; // 0..255
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = 0u; k0 < s.k; k0 += BK) {
        // 64x16 = 1024 values per tile, 4 per thread.
        for (var i = 0u; i < 4u; i++) {
            let e = flat + i * 256u;
            // A tile: e -> (m = e / 16, k = e % 16)
            a_tile[e % 16u][e / 16u] = load_a(row0 + e / 16u, k0 + e % 16u);
            // B tile: e -> (k = e / 64, n = e % 64)
            b_tile[e / 64u][e % 64u] = load_b(k0 + e / 64u, col0 + e % 64u);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a_tile[kk][ty + 16u * i];
                bv[i] = b_tile[kk][tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + ty + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tx + 16u * j;
            if (row < s.m && col < s.n) {
                var v = acc[i][j];
                let bv = bias[min(col, arrayLength(&bias) - 1u)];
                if ((s.flags & 1u) != 0u) { v += bv; }
                if ((s.flags & 2u) != 0u) { v = max(v, 0.0); }
                c[row * s.n + col] = v;
            }
        }
    }
}
