//! The batch-norm kernels, each written once and generated twice: over `f32` elements
//! (`batch_norm/<kernel>.wgsl`, any layout) and over `vec4<f32>` (`batch_norm/<kernel>_x4.wgsl`,
//! rows whose length is a multiple of 4). On CPU adapters every storage load is a loop over the
//! lanes, so loading four values at a time makes a quarter of those loops; the x4 kernels read
//! the same rows with `len = inner / 4` and reduce each vec4 to the channel's sums at the end.
//!
//! Every kernel views its tensors as rows `[outer, channels, inner]` (NCHW: `[N, C, H·W]`;
//! BatchNorm1d: `[N, C, 1]`) and reads a channel's values (μ, σ², γ, β, ...) once per row or per
//! channel, never per element. Rows of at least WG loads are walked by a workgroup of WG lanes
//! strided along them; shorter rows one per lane: no integer division per element. WG: 256 on
//! GPUs, one subgroup on CPU adapters (each barrier of a larger workgroup costs lavapipe a switch
//! between its parts).

use crate::Generated;

/// One element type: the scalar kernels and the four-wide ones.
struct Elem {
    /// The file-name suffix.
    suffix: &'static str,
    /// The WGSL type of one load.
    ty: &'static str,
    /// Values per load.
    width: u32,
    /// `hsum` (a load's values summed) and `fold` (a lane's per-component Welford streams of
    /// equal counts merged into one: count, mean, sum of squared deviations).
    helpers: &'static str,
}

const ELEMS: [Elem; 2] = [
    Elem {
        suffix: "",
        ty: "f32",
        width: 1,
        helpers: r#"fn hsum(v: f32) -> f32 { return v; }

fn fold(n: f32, mu: f32, m2: f32) -> vec3<f32> { return vec3(n, mu, m2); }"#,
    },
    Elem {
        suffix: "_x4",
        ty: "vec4<f32>",
        width: 4,
        helpers: r#"fn hsum(v: vec4<f32>) -> f32 { return v.x + v.y + v.z + v.w; }

// Four streams of n values each: Chan et al.'s merge of equal counts.
fn fold(n: f32, mu: vec4<f32>, m2: vec4<f32>) -> vec3<f32> {
    let mean = hsum(mu) * 0.25;
    let d = mu - vec4(mean);
    return vec3(4.0 * n, mean, hsum(m2) + n * dot(d, d));
}"#,
    },
];

/// The rows a lane walks: along (a workgroup per row, lanes strided along it) or across (a
/// lane per row). Shared by the element-wise kernels.
const ROW_OF_LANE: &str = r#"    var row: u32;
    var c: u32;
    var first: u32;
    var step: u32;
    if (p.by_row == 1u) {
        c = wid.x;
        row = wid.y * p.channels + c;
        first = lid.x;
        step = WG;
    } else {
        row = gid.y * nwg.x * WG + gid.x;
        if (row >= p.rows) { return; }
        c = row % p.channels;
        first = 0u;
        step = 1u;
    }
    let len = p.inner / WIDTHu;
    let base = row * len;"#;

/// The per-channel reductions' walk over channel c: every row, along it when it holds at least
/// WG loads, else lane-strided rows walked whole.
const CHANNEL_WALK: &str = r#"    let len = p.inner / WIDTHu;
    let along = len >= WG;
    let o_first = select(lid.x, 0u, along);
    let o_step = select(WG, 1u, along);
    let j_first = select(0u, lid.x, along);
    let j_step = select(1u, WG, along);
    for (var o = o_first; o < p.outer; o += o_step) {
        let row = (o * p.channels + c) * len;
        for (var j = j_first; j < len; j += j_step) {"#;

/// One value of Welford's running (count n, mean mu, squared deviations m2) for load `row + j`.
const WELFORD: &str = r#"let v = x[row + j];
            n += 1.0;
            let d = v - mu;
            mu += d / n;
            m2 += d * (v - mu);"#;

/// grad_sums: channel c's μ, 1/σ and the forward's scale and shift (for the ReLU's mask).
const CHANNEL_CONSTANTS: &str = r#"let mu = mean[c];
    let inv_std = inverseSqrt(var_[c] + p.eps);
    let s_c = gamma[c] * inv_std;
    let t_c = beta[c] - mu * s_c;
    let relu = p.relu == 1u;"#;

/// grad_sums: load `row + j`'s terms of Σg and Σg·x̂ (g masked by the forward's ReLU).
const GRAD_TERMS: &str = r#"let xv = x[row + j];
            var g = dy[row + j];
            if (relu) { g = select(g, ELEM(0.0), s_c * xv + t_c <= ELEM(0.0)); }
            a += hsum(g);
            b += hsum(g * (xv - mu)) * inv_std;"#;

/// A per-channel reduction's walk: a workgroup per channel whose lanes merge (GPUs, and CPU
/// adapters with few channels), or a lane per channel (CPU adapters: no barrier in the shader).
struct Walk {
    /// The file-name suffix after the kernel stem.
    suffix: &'static str,
    /// The header's `// WALK` line.
    comment: &'static str,
    /// `main` of stats and of grad_sums.
    stats: &'static str,
    grad_sums: &'static str,
}

const WALKS: [Walk; 2] = [
    Walk {
        suffix: "",
        comment: "// One workgroup of WG per channel, its lanes strided over the channel's values, then a tree\n\
                  // merge in workgroup memory. Grid (channels).",
        stats: STATS_TREE,
        grad_sums: GRAD_SUMS_TREE,
    },
    Walk {
        suffix: "_lanes",
        comment: "// One lane per channel, walking its every value alone: no merge and no barrier in the shader\n\
                  // (on llvmpipe a shader with barriers runs each workgroup as coroutines, ~2 µs a workgroup\n\
                  // and ~0.7 ms a dispatch whether or not it reaches them). Grid (⌈channels / WG⌉).",
        stats: STATS_LANES,
        grad_sums: GRAD_SUMS_LANES,
    },
];

const STATS_TREE: &str = r#"var<workgroup> counts: array<f32, 256>;
var<workgroup> means: array<f32, 256>;
var<workgroup> m2s: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    var n = 0.0;
    var mu = ELEM(0.0);
    var m2 = ELEM(0.0);
CHANNEL_WALK
            WELFORD
        }
    }
    // The lanes merge pairwise with Chan et al.'s formula.
    let lane = fold(n, mu, m2);
    counts[lid.x] = lane.x;
    means[lid.x] = lane.y;
    m2s[lid.x] = lane.z;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s && counts[lid.x + s] > 0.0) {
            let na = counts[lid.x];
            let nb = counts[lid.x + s];
            let total = na + nb;
            let d = means[lid.x + s] - means[lid.x];
            means[lid.x] += d * nb / total;
            m2s[lid.x] += m2s[lid.x + s] + d * d * na * nb / total;
            counts[lid.x] = total;
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) { finish(c, means[0], m2s[0]); }
}
"#;

const STATS_LANES: &str = r#"@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.channels) { return; }
    let len = p.inner / WIDTHu;
    var n = 0.0;
    var mu = ELEM(0.0);
    var m2 = ELEM(0.0);
    for (var o = 0u; o < p.outer; o++) {
        let row = (o * p.channels + c) * len;
        for (var j = 0u; j < len; j++) {
            WELFORD
        }
    }
    let lane = fold(n, mu, m2);
    finish(c, lane.y, lane.z);
}
"#;

const GRAD_SUMS_TREE: &str = r#"var<workgroup> sum_dy: array<f32, 256>;
var<workgroup> sum_dyx: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.x;
    CHANNEL_CONSTANTS
    var a = 0.0;
    var b = 0.0;
CHANNEL_WALK
            GRAD_TERMS
        }
    }
    sum_dy[lid.x] = a;
    sum_dyx[lid.x] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            sum_dy[lid.x] += sum_dy[lid.x + s];
            sum_dyx[lid.x] += sum_dyx[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        dbeta[c] = sum_dy[0];
        dgamma[c] = sum_dyx[0];
    }
}
"#;

const GRAD_SUMS_LANES: &str = r#"@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.channels) { return; }
    let len = p.inner / WIDTHu;
    CHANNEL_CONSTANTS
    var a = 0.0;
    var b = 0.0;
    for (var o = 0u; o < p.outer; o++) {
        let row = (o * p.channels + c) * len;
        for (var j = 0u; j < len; j++) {
            GRAD_TERMS
        }
    }
    dbeta[c] = a;
    dgamma[c] = b;
}
"#;

const STATS: &str = r#"// batch_norm.stats — per channel c: mean μ_c and the biased variance σ²_c = Σ(x − μ)² / M over the
// M = outer·inner elements, in one pass: Welford's running (count, mean, sum of squared
// deviations) — no cancellation of E[x²] − μ², and every value is read once. With `update` set, thread 0 also
// moves the running statistics PyTorch's way: r_μ ← (1 − m)·r_μ + m·μ,
// r_σ² ← (1 − m)·r_σ² + m·σ²·M/(M − 1) (the unbiased variance; M = 1 keeps σ²).
// WALK

struct P { outer: u32, channels: u32, inner: u32, update: u32, momentum: f32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<ELEM>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> var_: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

override WG: u32 = 256u;

HELPERS

// Channel c's mean μ and sum of squared deviations m2 over its M values: writes μ and
// σ² = m2/M, and with `update` moves the running statistics.
fn finish(c: u32, mu_c: f32, m2: f32) {
    let m = p.outer * p.inner;
    let v = m2 / f32(m);
    mean[c] = mu_c;
    var_[c] = v;
    if (p.update == 1u) {
        var unbiased = v;
        if (m > 1u) { unbiased = v * f32(m) / f32(m - 1u); }
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mu_c;
        running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
    }
}

MAIN"#;

const NORMALIZE: &str = r#"// batch_norm.normalize — y = s_c·x + t_c with s_c = γ_c/√(σ²_c + ε), t_c = β_c − μ_c·s_c (that is
// γ_c·(x − μ_c)/√(σ²_c + ε) + β_c), then ReLU if `relu` is set: the batch statistics in
// training, the running ones in evaluation. (grad_sums and grad_input recompute s_c·x + t_c the
// same way for the ReLU's mask.) With `by_row` one workgroup per row, grid (channels, outer);
// otherwise one lane per row, the rows on a 2-D grid flattened with num_workgroups.x.

struct P { rows: u32, channels: u32, inner: u32, relu: u32, eps: f32, _count: f32, _r: u32, by_row: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<ELEM>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> var_: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<ELEM>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
ROW_OF_LANE
    let s = gamma[c] * inverseSqrt(var_[c] + p.eps);
    let t = beta[c] - mean[c] * s;
    for (var j = first; j < len; j += step) {
        var v = s * x[base + j] + t;
        if (p.relu == 1u) { v = max(v, ELEM(0.0)); }
        y[base + j] = v;
    }
}
"#;

const GRAD_SUMS: &str = r#"// batch_norm.grad_sums — per channel c: dβ_c = Σ g and dγ_c = Σ g·x̂ with x̂ = (x − μ_c)/√(σ²_c + ε),
// over the M = outer·inner elements of the channel, g = dy, or with `relu` (the forward's ReLU
// fused in) g = dy where s_c·x + t_c > 0 (normalize's s_c = γ_c/σ_c, t_c = β_c − μ_c·s_c), else
// 0: the mask is recomputed from x exactly as the forward computed it, so no pass over the
// ReLU's output is needed. In f32.
// WALK

struct P { outer: u32, channels: u32, inner: u32, relu: u32, eps: f32, _b: u32, _c: u32, _d: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<ELEM>;
@group(0) @binding(2) var<storage, read> x: array<ELEM>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;

override WG: u32 = 256u;

HELPERS

MAIN"#;

const GRAD_INPUT: &str = r#"// batch_norm.grad_input — the input gradient. With batch statistics (`batch` = 1: training),
// dx = γ_c/σ_c · (g − dβ_c/M − x̂·dγ_c/M), σ_c = √(σ²_c + ε), x̂ = (x − μ_c)/σ_c: the statistics
// depend on x, so every element's gradient reads the channel sums (batch_norm.grad_sums). With
// fixed statistics (`batch` = 0: evaluation mode, running statistics), dx = γ_c/σ_c · g. g = dy,
// or with `relu` (the forward's ReLU fused in) dy where s_c·x + t_c > 0, else 0, recomputed
// from x exactly as normalize computes it. Rows and grid as in normalize.

struct P { rows: u32, channels: u32, inner: u32, batch: u32, eps: f32, count: f32, relu: u32, by_row: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<ELEM>;
@group(0) @binding(2) var<storage, read> x: array<ELEM>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read> dbeta: array<f32>;
@group(0) @binding(9) var<storage, read_write> dx: array<ELEM>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
ROW_OF_LANE
    let mu = mean[c];
    let inv_std = inverseSqrt(var_[c] + p.eps);
    let s = gamma[c] * inv_std;
    let t = beta[c] - mu * s;
    // dx = s·(g − dβ/M − x̂·dγ/M); without batch statistics the two sums drop out.
    var mean_g = 0.0;
    var mean_gx = 0.0;
    if (p.batch == 1u) {
        mean_g = dbeta[c] / p.count;
        mean_gx = dgamma[c] / p.count;
    }
    let relu = p.relu == 1u;
    for (var j = first; j < len; j += step) {
        let xv = x[base + j];
        var g = dy[base + j];
        if (relu) { g = select(g, ELEM(0.0), s * xv + t <= ELEM(0.0)); }
        dx[base + j] = s * (g - mean_g - (xv - mu) * (inv_std * mean_gx));
    }
}
"#;

/// The four kernels: file stem, registry id, template.
const KERNELS: [(&str, &str, &str); 4] = [
    ("stats", "batch_norm.stats", STATS),
    ("normalize", "batch_norm.normalize", NORMALIZE),
    ("grad_sums", "batch_norm.grad_sums", GRAD_SUMS),
    ("grad_input", "batch_norm.grad_input", GRAD_INPUT),
];

/// The file of kernel `stem` for loads of `width` values (1 or 4); `lanes`: the per-channel
/// reductions' lane-per-channel walk (`stats`, `grad_sums`).
pub fn batch_norm_path(stem: &str, width: u32, lanes: bool) -> String {
    let walk = if lanes { "_lanes" } else { "" };
    let load = if width == 4 { "_x4" } else { "" };
    format!("batch_norm/{stem}{walk}{load}.wgsl")
}

pub(crate) fn generated() -> Vec<Generated> {
    let mut out = Vec::new();
    for (stem, id, template) in KERNELS {
        let (title, body) = template.split_once('\n').expect("a header line");
        // The per-channel reductions come in both walks, the element-wise kernels in one.
        let walks: &[Walk] = if body.contains("MAIN") { &WALKS } else { &WALKS[..1] };
        for walk in walks {
            let main = match stem {
                "stats" => walk.stats,
                _ => walk.grad_sums,
            };
            let body = body.replace("// WALK", walk.comment).replace("MAIN", main);
            for e in &ELEMS {
                let source = format!(
                    "{title}\n// GENERATED by wgsl-gen (src/batch_norm.rs, loads of {}): edit that.\n",
                    e.ty
                ) + &body
                    .replace("ROW_OF_LANE", ROW_OF_LANE)
                    .replace("CHANNEL_WALK", CHANNEL_WALK)
                    .replace("WELFORD", WELFORD)
                    .replace("CHANNEL_CONSTANTS", CHANNEL_CONSTANTS)
                    .replace("GRAD_TERMS", GRAD_TERMS)
                    .replace("HELPERS", e.helpers)
                    .replace("WIDTHu", &format!("{}u", e.width))
                    .replace("ELEM", e.ty);
                let walk_name = if walk.suffix.is_empty() { "workgroup" } else { "lane" };
                out.push(Generated {
                    path: format!("batch_norm/{stem}{}{}.wgsl", walk.suffix, e.suffix),
                    source,
                    family: "batch norm",
                    row: format!("kernel={stem} load={} per-channel={walk_name}", e.ty),
                    kernels: vec![id.to_string()],
                });
            }
        }
    }
    out
}
