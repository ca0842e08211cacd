// conv2d.wgrad_tex_reduce — sums the split-K partials of the texture-operand weight gradient and
// reorders them to OIHW: dW[co, c, ky, kx] = sum_(z < splits) part[z, co, ((ky*kW + kx)*C4 + c/4)*4 + c%4].
// One invocation per weight element, summing in a fixed order (deterministic, no atomics).
// Workgroup 256; 2-D grid: i = gid.y * (num_workgroups.x * 256) + gid.x.

struct P { co: u32, c: u32, kh: u32, kw: u32, c4: u32, splits: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    let khw = p.kh * p.kw;
    if (i >= p.co * p.c * khw) { return; }
    let co = i / (p.c * khw);
    let c = i / khw % p.c;
    let kyx = i % khw;
    let ncol = khw * p.c4 * 4u;
    let j = co * ncol + (kyx * p.c4 + c / 4u) * 4u + c % 4u;
    let stride = p.co * ncol;
    var acc = 0.0;
    for (var z = 0u; z < p.splits; z++) {
        acc += part[z * stride + j];
    }
    dw[i] = acc;
}
