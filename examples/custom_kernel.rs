//! The kernel testbed as a library: register a WGSL kernel at run time, check it against the
//! op's CPU reference the way `dak kernels check` does, and time it against the built-in one.
//!
//! Two ways in:
//! - a new kernel under its own name (`user/relu_grad_x4.wgsl`: the ReLU backward with four
//!   elements per invocation), launched with `Gpu::dispatch` and checked with
//!   `kernels::check_with`;
//! - a variant that replaces a built-in file (`elementwise/relu_grad.wgsl`, branch-free), which
//!   the ops then use and the registry's own check (`kernels::check`) validates.
//!
//! Flags: `--n N` elements to time (default 4,194,304), `--repeat N` timed runs (default 7).

mod common;
use common::{check_flags, flag, main_with};
use dak::kernels::{self, Checker, Status};
use dak::ops::elementwise as ew;
use dak::{Gpu, Result, Tensor};
use std::time::Instant;

/// ReLU backward, four elements per invocation: 64 invocations x 4 = 256 per workgroup.
const RELU_GRAD_X4: &str = r#"
// user/relu_grad_x4 — dx = dy where y > 0, else 0; four consecutive elements per invocation.
struct P { n: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let base = (gid.y * nwg.x * 64u + gid.x) * 4u;
    for (var j = 0u; j < 4u; j++) {
        let i = base + j;
        if (i < p.n) { dx[i] = select(0.0, dy[i], y[i] > 0.0); }
    }
}
"#;

/// A branch-free variant of the built-in `elementwise/relu_grad.wgsl`: its source with the
/// body's one line changed (same bindings, same grid).
fn relu_grad_step_source() -> Result<String> {
    let builtin = dak::gpu::shader_source("elementwise/relu_grad.wgsl")?;
    let (from, to) = (
        "dx[i] = select(0.0, dy[i], y[i] > 0.0);",
        "dx[i] = dy[i] * f32(y[i] > 0.0);",
    );
    if !builtin.contains(from) {
        return Err(dak::Error::runtime(
            "the built-in relu_grad.wgsl has changed; update the example",
        ));
    }
    Ok(builtin.replace(from, to))
}

/// Launches `user/relu_grad_x4.wgsl` on `dy` and `y`.
fn relu_grad_x4(dy: &Tensor, y: &Tensor) -> Result<Tensor> {
    let gpu = dy.gpu();
    let n = dy.numel();
    let dx = Tensor::zeros(gpu, dy.shape())?;
    let uniform: Vec<u8> = [n as u32, 0, 0, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let groups = n.div_ceil(256).max(1);
    let x = groups.min(65535);
    let grid = [x as u32, groups.div_ceil(x) as u32, 1];
    let bindings = [dy.binding(), y.binding(), dx.binding()];
    gpu.dispatch("user/relu_grad_x4.wgsl", &[], &uniform, &bindings, grid)?;
    Ok(dx)
}

/// Deterministic test values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761) ^ seed).wrapping_mul(40_503) >> 8) as f32
                / (1 << 23) as f32
                - 1.0
        })
        .collect()
}

/// Compares a ReLU-backward launcher with the CPU reference on awkward lengths.
fn check_relu_grad(
    gpu: &Gpu,
    c: &mut Checker,
    op: fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<()> {
    for n in [1, 7, 255, 1001, 65_537] {
        c.case();
        let (dy, y) = (values(n, 1), values(n, 2));
        let got = op(
            &Tensor::from_slice(gpu, &dy, &[n])?,
            &Tensor::from_slice(gpu, &y, &[n])?,
        )?;
        c.compare(
            &format!("dx of [{n}]"),
            &got.to_vec()?,
            &ew::reference::relu_grad(&dy, &y),
            0.0,
        );
    }
    Ok(())
}

/// Median wall time of `repeat` runs of `op` on `n` elements, in milliseconds.
fn time(
    gpu: &Gpu,
    n: usize,
    repeat: usize,
    op: fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<f64> {
    let dy = Tensor::from_slice(gpu, &values(n, 3), &[n])?;
    let y = Tensor::from_slice(gpu, &values(n, 4), &[n])?;
    op(&dy, &y)?; // compile + warm up
    gpu.sync()?;
    let mut ms = Vec::new();
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        op(&dy, &y)?;
        gpu.sync()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

fn report(r: &kernels::CheckReport) {
    println!(
        "{:<28} {:<5} {} cases, {} values, max error {:.1e}, {:.2} s",
        r.id,
        r.status.label(),
        r.cases,
        r.compared,
        r.max_err,
        r.seconds
    );
    if let Some(m) = &r.mismatch {
        println!(
            "  first mismatch: {} at {}: got {}, want {}",
            m.case, m.index, m.got, m.want
        );
    }
    if let Some(e) = &r.error {
        println!("  {e}");
    }
}

fn main() {
    main_with(run);
}

/// The program, with its flags.
pub fn run(args: &[String]) -> Result<()> {
    check_flags(args, &["--n", "--repeat"])?;
    let n: usize = flag(args, "--n", 1 << 22)?;
    let repeat: usize = flag(args, "--repeat", 7)?;
    let gpu = Gpu::new()?;

    // 1. A new kernel: register, check against the reference, time against the built-in.
    gpu.register_shader("user/relu_grad_x4.wgsl", RELU_GRAD_X4);
    let mine = kernels::check_with(&gpu, "user.relu_grad_x4", |gpu, c| {
        check_relu_grad(gpu, c, relu_grad_x4)
    });
    report(&mine);
    let builtin = time(&gpu, n, repeat, ew::relu_grad)?;
    let x4 = time(&gpu, n, repeat, relu_grad_x4)?;
    let gbs = |ms: f64| 12.0 * n as f64 / ms / 1e6; // dy + y read, dx written
    println!(
        "{n} elements: built-in {builtin:.2} ms ({:.1} GB/s), x4 {x4:.2} ms ({:.1} GB/s)",
        gbs(builtin),
        gbs(x4)
    );

    // 2. A variant of a built-in file: the ops use it, and the registry's check validates it.
    gpu.register_shader("elementwise/relu_grad.wgsl", relu_grad_step_source()?);
    let kernel = kernels::find("elementwise.relu_grad").expect("a built-in kernel id");
    let variant = kernels::check(&gpu, kernel);
    report(&variant);
    let step = time(&gpu, n, repeat, ew::relu_grad)?;
    println!(
        "{n} elements: branch-free variant {step:.2} ms ({:.1} GB/s)",
        gbs(step)
    );
    gpu.unregister_shader("elementwise/relu_grad.wgsl");

    if mine.status != Status::Pass || variant.status != Status::Pass {
        return Err(dak::Error::runtime("a kernel did not match its reference"));
    }
    Ok(())
}
