//! `dak tune [OP]`: benchmark the variants of each op per shape bucket on this adapter and store
//! the winners in the tuning cache ([`crate::tune`]), which `Variant::default_for` consults.

use crate::bench::{self, BenchRow, Selection};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tune::{self, AdapterTune};
use std::path::PathBuf;

/// Arguments of `dak tune`.
#[derive(clap::Args, Debug)]
pub struct TuneArgs {
    /// `matmul`, `conv2d`, or `all`.
    #[arg(default_value = "all")]
    pub op: String,
    /// Shape set to measure on (see `dak bench --help`); the DANN digits network by default.
    #[arg(long, default_value = "digits")]
    pub shapes: String,
    /// Batch size replacing the shape set's own.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Timed samples per variant and shape.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Cache file to update (default: `DAK_TUNE_FILE`, else the user's cache folder).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Keys a row counts toward, with the name recorded for its variant there.
fn keys(r: &BenchRow) -> Vec<(String, String)> {
    let bucket = tune::bucket(r.flops);
    if r.kernel.starts_with("matmul.") {
        return vec![
            ("matmul".into(), r.kernel.clone()),
            (format!("matmul/{bucket}"), r.kernel.clone()),
        ];
    }
    if let Some((pass, v)) = crate::ops::conv2d::Variant::from_id(&r.kernel) {
        return vec![
            ("conv2d".into(), v.name().to_string()),
            (
                format!("conv2d.{}/{bucket}", pass.short()),
                r.kernel.clone(),
            ),
        ];
    }
    Vec::new()
}

/// Runs `dak tune`.
pub fn run(args: &TuneArgs) -> Result<()> {
    let ops: Vec<&str> = match args.op.as_str() {
        "all" => vec!["matmul", "conv2d"],
        "matmul" | "conv2d" => vec![args.op.as_str()],
        other => {
            return Err(Error::input(format!(
                "dak tune {other}: unknown op; use matmul, conv2d or all"
            )))
        }
    };
    crate::validate::count("--repeat", args.repeat, 1)?;
    let path = match &args.file {
        Some(p) => {
            crate::validate::output_file("--file", p)?;
            p.clone()
        }
        None => tune::path().ok_or_else(|| {
            Error::input("no cache folder: set DAK_TUNE_FILE or XDG_CACHE_HOME, or pass --file")
        })?,
    };
    let mut cache = tune::load(&path)?;
    let gpu = Gpu::new()?;
    let adapter = gpu.adapter();
    println!(
        "adapter: {} ({}, {}); cache: {}",
        adapter.name,
        adapter.backend,
        adapter.device_type,
        path.display()
    );
    let peak = bench::peak::measure(&gpu, 3)?;
    println!("roofs: {:.1} GFLOP/s, {:.1} GB/s", peak.gflops, peak.gbps);
    let mut rows = Vec::new();
    for op in &ops {
        let mut sel = Selection::new(op);
        sel.shapes = args.shapes.clone();
        sel.batch = args.batch;
        sel.repeat = args.repeat;
        rows.extend(bench::run(&gpu, &sel)?);
    }
    bench::apply_peak(&mut rows, &peak);
    bench::print_rows(&rows);
    let (choices, totals) = bench::winners::winners(&rows, keys);
    let key = tune::adapter_key(&adapter);
    let entry = cache.adapters.entry(key).or_insert_with(|| AdapterTune {
        adapter: adapter.name.clone(),
        driver: format!("{} {}", adapter.driver, adapter.driver_info)
            .trim()
            .to_string(),
        ..AdapterTune::default()
    });
    entry.peak = Some(peak);
    // Only the measured ops' keys are replaced; others stay from earlier runs.
    entry
        .choices
        .retain(|k, _| !ops.iter().any(|op| k.starts_with(op)));
    entry
        .totals_ms
        .retain(|k, _| !ops.iter().any(|op| k.starts_with(op)));
    entry.choices.extend(choices.clone());
    entry.totals_ms.extend(totals);
    entry.measured_on = format!(
        "--shapes {}{} --repeat {}",
        args.shapes,
        args.batch
            .map(|b| format!(" --batch {b}"))
            .unwrap_or_default(),
        args.repeat
    );
    cache.version = 1;
    tune::save(&path, &cache)?;
    let table: Vec<Vec<String>> = choices
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    super::print_table(&["key", "winner"], &table);
    println!("wrote {}", path.display());
    if !tune::enabled() {
        println!("(DAK_NO_TUNE is set: the ops ignore the cache in this environment)");
    }
    Ok(())
}
