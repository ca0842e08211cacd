//! `dak bench`: kernel microbenchmarks.

use super::print_table;
use crate::bench;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::io::{typed, typed_of, JsonTargets};
use std::path::PathBuf;

/// Arguments of `dak bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// What to benchmark, `OP[.DIRECTION]`: matmul[.fwd|.dgrad|.wgrad],
    /// conv2d[.fwd|.dgrad|.wgrad], pool[.fwd|.bwd], batch_norm[.fwd|.bwd], all, data (image
    /// decoding + augmentation),
    /// or model (a whole network's training and inference img/s, see --model).
    #[arg(default_value = "matmul")]
    pub op: String,
    /// Variant id to time, or `all` (conv2d also takes `direct`, `tiled`, `sgbc`, `tex`).
    #[arg(long, default_value = "all")]
    pub variant: String,
    /// Shape set: default, tiny, vgg16-32, vgg16-224, digits (conv2d also conv64, matmul also
    /// square1024), or a FILE.json of shapes; batch_norm: default (ResNet-50's BN layers at
    /// 64x64), resnet50-224, tiny.
    #[arg(long, default_value = "default")]
    pub shapes: String,
    /// Batch size replacing the shape set's own (dense layers, convolutions, pools, BN).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Timed samples per variant and shape (round-robin; the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Time variants even when they fail validation (kernel experiments; results are marked).
    #[arg(long)]
    pub unchecked: bool,
    /// Read shaders from DIR where it has the file (edited kernels, no rebuild).
    #[arg(long, value_name = "DIR")]
    pub shader_dir: Option<PathBuf>,
    /// Skip the roof measurement (`pct_of_peak` stays empty).
    #[arg(long)]
    pub no_peak: bool,
    /// Measure the adapter's roofs (FMA-bound compute, copy bandwidth) and launch overhead.
    #[arg(long)]
    pub peak: bool,
    /// Compare two saved runs (`--save` files): per-kernel ratios, regressions flagged.
    #[arg(long, num_args = 2, value_names = ["A.json", "B.json"])]
    pub compare: Option<Vec<PathBuf>>,
    /// Model benchmark: which model (vgg16, resnet18/34/50/101/152, or digits: the DANN
    /// digits network).
    #[arg(long, default_value = "vgg16")]
    pub model: String,
    /// Model benchmark of digits: also time this adaptation method's steps (`mcc`, ...); a
    /// source-free method (`shot`, `tent`) times its epoch against a source-only epoch.
    #[arg(long, value_name = "NAME")]
    pub method: Option<String>,
    /// Model benchmark: MiB of packed operands kept for reuse: convolution inputs from the
    /// forward pass for the weight gradient, dense-layer operands (default: DAK_INPUT_CACHE_MB,
    /// else 256; 0 packs them for every use).
    #[arg(long, value_name = "MIB")]
    pub input_cache_mb: Option<u64>,
    /// Model benchmark: square input side.
    #[arg(long, default_value_t = 32)]
    pub input: usize,
    /// Print the results as JSON on stdout (the tables move to stderr; docs/json.md).
    /// `--json FILE`, dak 0.1's form, still writes FILE as --save does (for one release).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
    /// Also write the results as JSON to FILE (what --compare reads).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Where the JSON goes (from --json and --save).
    #[arg(skip)]
    pub targets: JsonTargets,
}

/// Runs `dak bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(files) = &args.compare {
        return compare(&files[0], &files[1]);
    }
    // The results are written after minutes of timing: check where they go first.
    let targets = JsonTargets::from_flags(args.json.as_deref(), args.save.as_deref())?;
    let args = &BenchArgs {
        targets,
        ..args.clone()
    };
    crate::validate::count("--repeat", args.repeat, 1)?;
    if args.op == "model" {
        return model(args);
    }
    if args.op == "data" {
        // Decoding + augmentation throughput: CPU only, no adapter needed.
        return super::data::bench_data(512, 0, &args.targets);
    }
    if let Some(dir) = &args.shader_dir {
        super::kernels::set_shader_dir(dir)?;
    }
    let mut sel = bench::Selection::new(&args.op);
    sel.variant = args.variant.clone();
    sel.shapes = args.shapes.clone();
    sel.batch = args.batch;
    sel.repeat = args.repeat;
    sel.unchecked = args.unchecked;
    if args.batch == Some(0) {
        return Err(Error::input("--batch must be at least 1"));
    }
    let gpu = Gpu::new()?;
    let adapter = gpu.adapter();
    crate::say!(
        "adapter: {} ({}, {})",
        adapter.name,
        adapter.backend,
        adapter.device_type
    );
    if args.peak {
        let peak = bench::peak::measure(&gpu, args.repeat)?;
        crate::say!(
            "compute roof (FMA-bound):       {:>10.1} GFLOP/s",
            peak.gflops
        );
        crate::say!("bandwidth roof (copy):          {:>10.1} GB/s", peak.gbps);
        crate::say!(
            "one dispatch per submit + wait: {:>10.1} µs",
            peak.single_dispatch_us
        );
        crate::say!(
            "per dispatch, 1000 per submit:  {:>10.1} µs",
            peak.batched_dispatch_us
        );
        crate::say!("(clock: {})", bench::clock(&gpu));
        let doc = serde_json::json!({ "adapter": adapter, "peak": peak });
        return args.targets.emit(&typed("bench_peak", doc));
    }
    let peak = if args.no_peak {
        None
    } else {
        let (peak, source) = bench::roofs(&gpu)?;
        crate::say!(
            "roofs ({source}): {:.1} GFLOP/s, {:.1} GB/s",
            peak.gflops,
            peak.gbps
        );
        Some(peak)
    };
    let mut rows = bench::run(&gpu, &sel)?;
    if let Some(p) = &peak {
        bench::apply_peak(&mut rows, p);
    }
    bench::print_rows(&rows);
    let failed = rows.iter().filter(|r| !r.ok()).count();
    if failed > 0 {
        crate::say!("{failed} kernel/shape pair(s) FAILED or could not run (not timed)");
    }
    let doc = serde_json::json!({
        "adapter": adapter,
        "clock": bench::clock(&gpu),
        "peak": peak,
        "shader_dir": crate::gpu::shader_override_dir(),
        "rows": rows,
    });
    args.targets.emit(&typed("bench", doc))
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
    crate::say!(
        "{} kernel(s) compared, {regressions} slower by more than 10%",
        ratios.len()
    );
    Ok(())
}

/// The per-layer profile of one training step, slowest layers marked.
fn print_layers(layers: &[bench::model::LayerTime]) {
    let total: f64 = layers.iter().map(|l| l.forward_ms + l.backward_ms).sum();
    crate::say!("\none training step, time per layer (each dispatch run and timed alone):");
    crate::say!(
        "  {:<22} {:>10} {:>10} {:>7} {:>10}",
        "layer",
        "fwd ms",
        "bwd ms",
        "share",
        "dispatches"
    );
    for l in layers {
        let share = 100.0 * (l.forward_ms + l.backward_ms) / total.max(1e-12);
        crate::say!(
            "  {:<22} {:>10.2} {:>10.2} {:>6.1}% {:>10}",
            l.layer,
            l.forward_ms,
            l.backward_ms,
            share,
            l.dispatches
        );
    }
    crate::say!("  {:<22} {:>21.2} ms", "total", total);
}

fn print_kernels(kernels: &[bench::model::KernelTime]) {
    let total: f64 = kernels.iter().map(|k| k.ms).sum();
    crate::say!("\nthe same step, time per kernel (slowest first):");
    crate::say!(
        "  {:<40} {:>10} {:>7} {:>10}",
        "kernel",
        "ms",
        "share",
        "dispatches"
    );
    for k in kernels.iter().take(12) {
        let share = 100.0 * k.ms / total.max(1e-12);
        crate::say!(
            "  {:<40} {:>10.2} {:>6.1}% {:>10}",
            k.kernel,
            k.ms,
            share,
            k.dispatches
        );
    }
    if kernels.len() > 12 {
        crate::say!("  ({} more kernels in --json)", kernels.len() - 12);
    }
}

/// The common end of a model benchmark: warm-up time, the per-layer and per-kernel profiles,
/// `--json`.
fn finish_model_report(
    r: &impl serde::Serialize,
    warmup_s: f64,
    layers: &[bench::model::LayerTime],
    kernels: &[bench::model::KernelTime],
    cache: &crate::gpu::InputCacheStats,
    args: &BenchArgs,
) -> Result<()> {
    crate::say!("  (pipeline warm-up {warmup_s:.1} s)");
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    crate::say!(
        "  packed-input reuse: budget {:.0} MiB (--input-cache-mb), peak held {:.1} MiB, \
         {} packs saved, {} over budget",
        mib(cache.budget_bytes),
        mib(cache.peak_bytes),
        cache.reused,
        cache.over_budget
    );
    print_layers(layers);
    print_kernels(kernels);
    args.targets.emit(&typed_of("bench_model", r)?)
}

/// `dak bench model digits`: the DANN digits network.
fn model_digits(args: &BenchArgs) -> Result<()> {
    if let Some(m) = args
        .method
        .as_deref()
        .and_then(crate::train::adapt::SourceFree::find)
    {
        return model_source_free(args, m);
    }
    let method = args
        .method
        .as_deref()
        .map(|m| crate::train::Method::parse(m, "--method"))
        .transpose()?;
    let gpu = model_gpu(args)?;
    let batch = args.batch.unwrap_or(64).max(1);
    let r = bench::dann::digits(&gpu, batch, args.repeat.max(1), method)?;
    crate::say!(
        "{} at 28x28, {} + {} images per step on {}",
        r.model,
        r.batch_per_domain,
        r.batch_per_domain,
        gpu.adapter().name
    );
    crate::say!(
        "  DANN training             {:>8.1} img/s",
        r.dann_train_img_s
    );
    crate::say!(
        "  source-only training      {:>8.1} img/s",
        r.source_only_train_img_s
    );
    crate::say!(
        "  inference                 {:>8.1} img/s",
        r.inference_img_s
    );
    if let Some(m) = &r.method {
        crate::say!(
            "  {:<25} {:>8.1} img/s  (a step costs {:.2}x a DANN step)",
            format!("{} training", m.method),
            m.train_img_s,
            m.step_vs_dann
        );
    }
    finish_model_report(&r, r.warmup_s, &r.layers, &r.kernels, &r.input_cache, args)
}

/// `dak bench model --model digits --method shot|tent`: a source-free epoch against a
/// source-only epoch of as many images (the bundled target's 4,000).
fn model_source_free(args: &BenchArgs, method: crate::train::adapt::SourceFree) -> Result<()> {
    let gpu = model_gpu(args)?;
    let batch = args.batch.unwrap_or(64).max(2);
    let images = 4000;
    let r = bench::source_free::digits(&gpu, method, batch, args.repeat.max(1), images)?;
    crate::say!(
        "{} on the digits network at 28x28, batch {}, an epoch of {} images, on {}",
        r.method,
        r.batch,
        r.images,
        gpu.adapter().name
    );
    crate::say!("  {} training {:>12.1} img/s", r.method, r.train_img_s);
    crate::say!("  source-only training {:>8.1} img/s", r.source_only_img_s);
    crate::say!(
        "  pseudo-labels        {:>8.2} s per epoch (evaluation pass + clustering)",
        r.pseudo_label_s
    );
    crate::say!(
        "  an epoch costs {:.2}x a source-only epoch",
        r.epoch_vs_source_only
    );
    args.targets.emit(&typed_of("bench_source_free", &r)?)
}

/// The device of a model benchmark, with `--input-cache-mb` applied.
fn model_gpu(args: &BenchArgs) -> Result<Gpu> {
    let gpu = Gpu::new()?;
    if let Some(mb) = args.input_cache_mb {
        let bytes = mb.checked_mul(1 << 20).ok_or_else(|| {
            Error::input(format!("--input-cache-mb {mb}: too large (a size in MiB)"))
        })?;
        gpu.set_input_cache_budget(bytes);
    }
    Ok(gpu)
}

fn model(args: &BenchArgs) -> Result<()> {
    if args.model == "digits" {
        return model_digits(args);
    }
    let base = crate::models::classifier::BaseKind::parse(&args.model).map_err(|_| {
        Error::input(format!(
            "--model {}: known models: vgg16, {}, digits",
            args.model,
            crate::models::resnet::NAMES.join(", ")
        ))
    })?;
    if args.method.is_some() {
        return Err(Error::input(
            "--method applies to --model digits (the adaptation network)",
        ));
    }
    crate::models::vgg16::check_input(&[1, 3, args.input, args.input]).map_err(|_| {
        Error::input(format!(
            "--input {}: a multiple of 32 (32, 64, ..., 224)",
            args.input
        ))
    })?;
    let gpu = model_gpu(args)?;
    let r = bench::model::classifier(
        &gpu,
        base,
        args.input,
        args.batch.unwrap_or(32).max(1),
        args.repeat.max(1),
    )?;
    crate::say!(
        "{} at {}x{}, batch {} on {}",
        r.model,
        r.input,
        r.input,
        r.batch,
        gpu.adapter().name
    );
    crate::say!(
        "  inference                 {:>8.1} img/s",
        r.inference_img_s
    );
    crate::say!(
        "  whole-network training    {:>8.1} img/s",
        r.whole_network_train_img_s
    );
    crate::say!(
        "  frozen-base training      {:>8.1} img/s",
        r.frozen_base_train_img_s
    );
    crate::say!(
        "  head from cached features {:>8.1} img/s",
        r.cached_head_train_img_s
    );
    crate::say!(
        "  peak GPU buffers in a whole-network training step: {:.0} MiB",
        r.peak_train_bytes as f64 / (1 << 20) as f64
    );
    finish_model_report(&r, r.warmup_s, &r.layers, &r.kernels, &r.input_cache, args)
}
