// bench.fma — compute roof: each invocation runs `iters` rounds (iters even) of multiply-adds on 4
// independent vec4 chains, two steps per chain per round (64 flops per round, no memory traffic),
// then writes one value so the work cannot be optimised away. flops = invocations * iters * 64.
// Four vec4 chains are 16 AVX2 registers on llvmpipe: enough independent work to hide the
// latency, few enough not to spill (8 chains spilled and measured ~40% below this). The loop
// body holds two rounds so the per-iteration loop and mask overhead stays small.
// Workgroup 64; grid (groups).

struct P { iters: u32, seed: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = vec4<f32>(f32(gid.x) * 1e-7 + p.seed);
    let m = vec4<f32>(0.999999);
    var a0 = x; var a1 = x + 1.0; var a2 = x + 2.0; var a3 = x + 3.0;
    for (var i = 0u; i < p.iters; i += 2u) {
        a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
        a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
        a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
        a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
    }
    let s = a0 + a1 + a2 + a3;
    out[gid.x] = s.x + s.y + s.z + s.w;
}
