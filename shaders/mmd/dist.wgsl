// mmd.dist — D[i, j] = Σ_c (x[i, c] - x[j, c])², the pairwise squared distances of the rows of
// x [n, dim] (a direct difference, not ‖a‖² + ‖b‖² - 2ab: exact zeros on the diagonal and no
// cancellation for near rows). One invocation per element of D [n, n]; 2-D grid (grid_1d).

struct P { n: u32, dim: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.y * nwg.x * 256u + gid.x;
    if (o >= p.n * p.n) { return; }
    let i = o / p.n;
    let j = o % p.n;
    var s = 0.0;
    if (i != j) {
        for (var c = 0u; c < p.dim; c++) {
            let t = x[i * p.dim + c] - x[j * p.dim + c];
            s += t * t;
        }
    }
    d[o] = s;
}
