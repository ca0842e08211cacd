//! `dak bench`: kernel microbenchmarks.

use super::print_table;
use crate::bench::{self, BenchRow};
use crate::ops::matmul::Variant;
use crate::{Error, Gpu, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to benchmark: matmul, conv2d, pool, or data (image decoding + augmentation throughput).
    #[arg(default_value = "matmul")]
    pub op: String,
    /// Variant id to time, or `all` (conv2d also takes `direct`, `tiled`, `sgbc`).
    #[arg(long, default_value = "all")]
    pub variant: String,
    /// Shape set: `default` or `tiny` (conv2d also: conv64, vgg16-32, vgg16-224, digits).
    #[arg(long, default_value = "default")]
    pub shapes: String,
    /// Timed samples per variant and shape (round-robin; the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Time variants even when they fail validation (kernel experiments; results are marked).
    #[arg(long)]
    pub unchecked: bool,
    /// Measure the adapter's roofs (FMA-bound compute, copy bandwidth) and launch overhead.
    #[arg(long)]
    pub peak: bool,
    /// Compare two saved runs (`--json` files): per-kernel ratios, regressions flagged.
    #[arg(long, num_args = 2, value_names = ["A.json", "B.json"])]
    pub compare: Option<Vec<PathBuf>>,
    /// Model benchmark: which model (vgg16).
    #[arg(long, default_value = "vgg16")]
    pub model: String,
    /// Model benchmark: square input side.
    #[arg(long, default_value_t = 32)]
    pub input: usize,
    /// Model benchmark: batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Also write the rows as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(files) = &args.compare {
        return compare(&files[0], &files[1]);
    }
    if args.op == "model" {
        return model(args);
    }
    if args.op == "data" {
        // Decoding + augmentation throughput: CPU only, no adapter needed.
        return super::data::bench_data(512, 0, false);
    }
    let gpu = Gpu::new()?;
    let adapter = gpu.adapter();
    println!(
        "adapter: {} ({}, {})",
        adapter.name, adapter.backend, adapter.device_type
    );
    if args.peak {
        let peak = bench::peak::measure(&gpu, args.repeat)?;
        println!(
            "compute roof (FMA-bound):       {:>10.1} GFLOP/s",
            peak.gflops
        );
        println!("bandwidth roof (copy):          {:>10.1} GB/s", peak.gbps);
        println!(
            "one dispatch per submit + wait: {:>10.1} µs",
            peak.single_dispatch_us
        );
        println!(
            "per dispatch, 1000 per submit:  {:>10.1} µs",
            peak.batched_dispatch_us
        );
        if let Some(path) = &args.json {
            let value = serde_json::json!({ "adapter": adapter, "peak": peak });
            let text =
                serde_json::to_string_pretty(&value).map_err(|e| Error::runtime(e.to_string()))?;
            crate::io::write_atomic(path, text.as_bytes())?;
        }
        return Ok(());
    }
    let rows = match args.op.as_str() {
        "matmul" => {
            let variants = if args.variant == "all" {
                Variant::ALL.to_vec()
            } else {
                vec![Variant::from_id(&args.variant).ok_or_else(|| {
                    let ids: Vec<&str> = Variant::ALL.iter().map(|v| v.id()).collect();
                    Error::input(format!(
                        "--variant {}: unknown; known: all, {}",
                        args.variant,
                        ids.join(", ")
                    ))
                })?]
            };
            let cases = match args.shapes.as_str() {
                "default" => bench::matmul::DEFAULT_CASES,
                "tiny" => bench::matmul::TINY_CASES,
                "square1024" => bench::matmul::SQUARE_1024,
                other => {
                    return Err(Error::input(format!(
                        "--shapes {other}: unknown; use default or tiny"
                    )))
                }
            };
            bench::matmul::run(&gpu, cases, &variants, args.repeat.max(1), args.unchecked)?
        }
        "conv2d" => conv2d_rows(&gpu, args)?,
        "pool" => {
            let cases = match args.shapes.as_str() {
                "default" => bench::pool::DEFAULT,
                "tiny" => bench::pool::TINY,
                other => {
                    return Err(Error::input(format!(
                        "--shapes {other}: unknown for pool; use default or tiny"
                    )))
                }
            };
            bench::pool::run(&gpu, cases, args.repeat.max(1))?
        }
        other => {
            return Err(Error::input(format!(
                "dak bench {other}: unknown op; known: matmul, conv2d, pool, data"
            )))
        }
    };
    print_rows(&rows);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "adapter": adapter,
            "rows": rows,
        }))
        .map_err(|e| Error::runtime(e.to_string()))?;
        crate::io::write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}

fn conv2d_rows(gpu: &Gpu, args: &BenchArgs) -> Result<Vec<BenchRow>> {
    use crate::ops::conv2d::{Pass, Variant as Conv};
    let (passes, variants) = match args.variant.as_str() {
        "all" => (Pass::ALL.to_vec(), Conv::ALL.to_vec()),
        name => match Conv::ALL.into_iter().find(|v| v.name() == name) {
            Some(v) => (Pass::ALL.to_vec(), vec![v]),
            None => {
                let (p, v) = Conv::from_id(name).ok_or_else(|| {
                    Error::input(format!(
                        "--variant {name}: unknown; use all, direct, tiled, sgbc or an id like conv2d.fwd.igemm_sgbc"
                    ))
                })?;
                (vec![p], vec![v])
            }
        },
    };
    let cases = bench::conv2d::cases(&args.shapes).ok_or_else(|| {
        Error::input(format!(
            "--shapes {}: unknown for conv2d; use {}",
            args.shapes,
            bench::conv2d::SHAPE_SETS
        ))
    })?;
    bench::conv2d::run(gpu, &cases, &passes, &variants, args.repeat.max(1))
}

fn print_rows(rows: &[BenchRow]) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.kernel.clone(),
                r.shape.clone(),
                format!("{:.3}", r.median_ms),
                format!("{:.3}", r.min_ms),
                format!("{:.3}", r.max_ms),
                format!("{:.2}", r.gflops),
                format!("{:.2}", r.gbps),
                format!("{:.0}", r.first_dispatch_ms),
                format!("{:.1e}", r.max_rel_err),
            ]
        })
        .collect();
    print_table(
        &[
            "kernel",
            "shape",
            "median ms",
            "min ms",
            "max ms",
            "GFLOP/s",
            "GB/s",
            "first ms",
            "max err",
        ],
        &table,
    );
    if let Some(r) = rows.first() {
        println!(
            "(clock: {}; first = pipeline compile + first dispatch)",
            r.clock
        );
    }
}

fn compare(a: &std::path::Path, b: &std::path::Path) -> Result<()> {
    let ratios = bench::compare::compare(a, b, 0.1)?;
    let table: Vec<Vec<String>> = ratios
        .iter()
        .map(|r| {
            vec![
                r.kernel.clone(),
                r.shape.clone(),
                format!("{:.2}", r.gflops_a),
                format!("{:.2}", r.gflops_b),
                format!("{:.3}", r.ratio),
                if r.regression {
                    "REGRESSION".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    print_table(
        &["kernel", "shape", "A GFLOP/s", "B GFLOP/s", "B/A", ""],
        &table,
    );
    let regressions = ratios.iter().filter(|r| r.regression).count();
    println!(
        "{} kernel(s) compared, {regressions} slower by more than 10%",
        ratios.len()
    );
    Ok(())
}

fn model(args: &BenchArgs) -> Result<()> {
    if args.model != "vgg16" {
        return Err(Error::input(format!(
            "--model {}: known models: vgg16",
            args.model
        )));
    }
    crate::models::vgg16::check_input(&[1, 3, args.input, args.input])?;
    let gpu = Gpu::new()?;
    let r = bench::model::vgg16(&gpu, args.input, args.batch.max(1), args.repeat.max(1))?;
    println!(
        "{} at {}x{}, batch {} on {}",
        r.model,
        r.input,
        r.input,
        r.batch,
        gpu.adapter().name
    );
    println!(
        "  inference                 {:>8.1} img/s",
        r.inference_img_s
    );
    println!(
        "  whole-network training    {:>8.1} img/s",
        r.whole_network_train_img_s
    );
    println!(
        "  frozen-base training      {:>8.1} img/s",
        r.frozen_base_train_img_s
    );
    println!(
        "  head from cached features {:>8.1} img/s",
        r.cached_head_train_img_s
    );
    println!(
        "  (pipeline warm-up {:.1} s; per-layer kernel times: dak bench conv2d --shapes vgg16-32)",
        r.warmup_s
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r).map_err(|e| Error::runtime(e.to_string()))?;
        crate::io::write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}
