// elementwise.bias_act — y = act(x + bias[channel]) over a contiguous tensor.
// channel = (i / inner) % channels: dense [B, C] uses inner = 1; NCHW uses inner = H*W.
// flags: bit 0 = add bias, bit 1 = ReLU. One invocation per element; 256 per workgroup;
// 2-D grid so more than 65535 workgroups fit: i = gid.y * (num_workgroups.x * 256) + gid.x.

struct P { n: u32, channels: u32, inner: u32, flags: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.n) { return; }
    var v = x[i];
    let b = bias[min((i / p.inner) % p.channels, arrayLength(&bias) - 1u)];
    if ((p.flags & 1u) != 0u) { v += b; }
    if ((p.flags & 2u) != 0u) { v = max(v, 0.0); }
    y[i] = v;
}
