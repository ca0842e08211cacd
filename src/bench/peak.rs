//! `dak bench --peak`: the adapter's measured roofs — an FMA-bound kernel for compute, a copy
//! kernel for bandwidth — and the cost of launching a dispatch.

use super::{inner_count, summary, time_once, Launch};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::grid_1d;
use crate::tensor::{DType, Tensor};
use std::time::Instant;

pub use crate::tune::Peak;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Four {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

fn fma_launch<'a>(gpu: &'a Gpu, out: &'a Tensor, iters: u32, groups: u32) -> Launch<'a> {
    Box::new(move || {
        let p = Four {
            a: iters,
            b: 0.5f32.to_bits(),
            c: 0,
            d: 0,
        };
        gpu.dispatch(
            "bench/fma.wgsl",
            &[],
            bytemuck::bytes_of(&p),
            &[out.binding()],
            [groups, 1, 1],
        )
    })
}

/// Measure the roofs with `rounds` samples each (median reported).
pub fn measure(gpu: &Gpu, rounds: usize) -> Result<Peak> {
    let rounds = rounds.max(1);
    // Compute: enough workgroups to fill any adapter, iterations to make it last.
    let groups = if gpu.is_cpu() { 64 } else { 4096 };
    let iters = if gpu.is_cpu() { 4096 } else { 16384 };
    let out = Tensor::uninit(gpu, &[groups as usize * 64], DType::F32)?;
    let flops = groups as f64 * 64.0 * iters as f64 * 64.0;
    let mut launch = fma_launch(gpu, &out, iters, groups);
    let one = time_once(gpu, &mut launch, 1)?;
    let inner = inner_count(one, 0.2);
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| time_once(gpu, &mut launch, inner))
        .collect::<Result<_>>()?;
    let gflops = flops / summary(&mut samples).0 / 1e9;

    // Bandwidth: 64 MiB in, 64 MiB out (fits every adapter's binding limit).
    let n = 16 << 20;
    let src = Tensor::zeros(gpu, &[n])?;
    let dst = Tensor::uninit(gpu, &[n], DType::F32)?;
    let p = Four {
        a: (n / 4) as u32,
        b: 0,
        c: 0,
        d: 0,
    };
    let mut copy: Launch = Box::new(|| {
        gpu.dispatch(
            "bench/copy.wgsl",
            &[],
            bytemuck::bytes_of(&p),
            &[src.binding(), dst.binding()],
            grid_1d(n / 4),
        )
    });
    let one = time_once(gpu, &mut copy, 1)?;
    let inner = inner_count(one, 0.2);
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| time_once(gpu, &mut copy, inner))
        .collect::<Result<_>>()?;
    let gbps = (8 * n) as f64 / summary(&mut samples).0 / 1e9;

    // Launch overhead: one tiny dispatch per submit (with the wait) vs 1,000 in one submit.
    let mut tiny = fma_launch(gpu, &out, 1, 1);
    time_once(gpu, &mut tiny, 1)?;
    let mut singles: Vec<f64> = (0..20.max(rounds))
        .map(|_| {
            let start = Instant::now();
            tiny()?;
            gpu.sync()?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect::<Result<_>>()?;
    let single = summary(&mut singles).0;
    let mut batched: Vec<f64> = (0..rounds)
        .map(|_| time_once(gpu, &mut tiny, 1000))
        .collect::<Result<_>>()?;
    let batched = summary(&mut batched).0;
    Ok(Peak {
        gflops,
        gbps,
        single_dispatch_us: single * 1e6,
        batched_dispatch_us: batched * 1e6,
    })
}
