//! `cargo bench`: the `dak bench` harness (validate against the CPU reference, then time) over a
//! fixed tiny shape set for matmul, every conv2d pass and pooling, printed as one table.
//! `DAK_BENCH_SHAPES` and `DAK_BENCH_REPEAT` change the set and the sample count.

fn main() {
    // Keep Mesa's shader cache inside target/ (as the tests do) and the tuning cache out.
    if std::env::var_os("MESA_SHADER_CACHE_DIR").is_none() {
        std::env::set_var(
            "MESA_SHADER_CACHE_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
        );
    }
    std::env::set_var("DAK_NO_TUNE", "1");
    // `cargo bench` passes `--bench`; a name filter is not supported.
    let mut sel = dak::bench::Selection::new("all");
    sel.shapes = std::env::var("DAK_BENCH_SHAPES").unwrap_or_else(|_| "tiny".into());
    sel.repeat = std::env::var("DAK_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let result = dak::Gpu::new().and_then(|gpu| {
        let a = gpu.adapter();
        println!("adapter: {} ({}, {})", a.name, a.backend, a.device_type);
        let (peak, source) = dak::bench::roofs(&gpu)?;
        println!(
            "roofs ({source}): {:.1} GFLOP/s, {:.1} GB/s",
            peak.gflops, peak.gbps
        );
        let mut rows = dak::bench::run(&gpu, &sel)?;
        dak::bench::apply_peak(&mut rows, &peak);
        dak::bench::print_rows(&rows);
        Ok(rows.iter().filter(|r| !r.ok()).count())
    });
    match result {
        Ok(0) => {}
        Ok(n) => {
            eprintln!("{n} kernel/shape pair(s) failed validation");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
