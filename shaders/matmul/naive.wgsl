// matmul.naive — the oracle on the GPU side and the fallback for any adapter.
// C[M, N] = op(A)[M, K] · op(B)[K, N] (+ bias[N]) (then ReLU)
//   op(A) = A [M, K] row-major, or Aᵀ when TRANS_A (A stored [K, M]);
//   op(B) = B [K, N] row-major, or Bᵀ when TRANS_B (B stored [N, K]).
// One invocation per output element; workgroup 16x16; grid (ceil(N/16), ceil(M/16)).
// The dense layer uses: Y = X·Wᵀ (TRANS_B), dX = dY·W (plain), dW = dYᵀ·X (TRANS_A).

// flags: bit 0 = add bias, bit 1 = ReLU (runtime: they only touch the store, not the loop)
struct Shape { m: u32, n: u32, k: u32, flags: u32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> s: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    if (row >= s.m || col >= s.n) { return; }
    var acc = 0.0;
    for (var kk = 0u; kk < s.k; kk++) {
        let av = select(a[row * s.k + kk], a[kk * s.m + row], TRANS_A);
        let bv = select(b[kk * s.n + col], b[col * s.k + kk], TRANS_B);
        acc += av * bv;
    }
    let bv = bias[min(col, arrayLength(&bias) - 1u)];
    if ((s.flags & 1u) != 0u) { acc += bv; }
    if ((s.flags & 2u) != 0u) { acc = max(acc, 0.0); }
    c[row * s.n + col] = acc;
}
