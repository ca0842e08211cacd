//! The kernel-development workflow: the registry, `dak kernels check` on built-in and edited
//! shaders, and `dak bench` output. Commands that read a shader directory run the `dak` binary
//! (DAK_SHADER_DIR is process-wide); shapes stay tiny and pipelines few (lavapipe compiles slowly).
use crate::common::*;
use dak::kernels::{self, Status};
use std::process::{Command, Output};

fn dak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dak"))
        .args(args)
        .env(
            "MESA_SHADER_CACHE_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
        )
        .env("DAK_NO_TUNE", "1")
        .env_remove("DAK_SHADER_DIR")
        .output()
        .expect("run dak")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const NAIVE: &str = include_str!("../../shaders/matmul/naive.wgsl");

/// A shader directory holding `matmul/naive.wgsl` with `source`.
fn shader_dir(tag: &str, source: &str) -> TempDir {
    let dir = TempDir::new(tag);
    write(&dir.path().join("matmul/naive.wgsl"), source.as_bytes());
    dir
}

#[test]
fn registry_names_every_builtin_shader_once_per_id() {
    let all = kernels::all();
    let mut ids: Vec<&str> = all.iter().map(|k| k.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "kernel ids are unique");
    for (file, _) in dak::gpu::BUILTIN_SHADERS {
        assert!(
            all.iter().any(|k| k.files().contains(file)),
            "no kernel id lists shaders/{file}"
        );
    }
    for k in all {
        for f in k.files() {
            assert!(
                dak::gpu::BUILTIN_SHADERS.iter().any(|(b, _)| *b == f),
                "{} lists {f}, which is not built in",
                k.id
            );
        }
        assert!(!k.description.is_empty());
    }
    let fwd = kernels::select(&["conv2d.fwd".into()]).unwrap();
    assert_eq!(fwd.len(), dak::ops::conv2d::Variant::ALL.len());
    assert!(fwd.iter().all(|k| k.id.starts_with("conv2d.fwd.")));
    assert!(kernels::select(&["conv2d.fw".into()]).is_err());
    assert_eq!(kernels::select(&[]).unwrap().len(), all.len());
}

#[test]
fn builtin_kernels_pass_their_checks() {
    let gpu = gpu();
    // The small kernels of every family and the oracle variants (few, cheap pipelines).
    let picked = kernels::select(&[
        "matmul.naive".into(),
        "conv2d.fwd.direct".into(),
        "conv2d.dgrad.direct".into(),
        "conv2d.wgrad.direct".into(),
        "pool".into(),
        "elementwise".into(),
        "loss".into(),
        "optim".into(),
        "bench".into(),
    ])
    .unwrap();
    let reports = kernels::check_all(&gpu, &picked, |_| {});
    for r in &reports {
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.cases >= 1 && r.compared > 0, "{r:?}");
    }
}

#[test]
fn kernels_list_and_check_from_the_command_line() {
    let out = dak(&["kernels", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: Vec<kernels::KernelInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), kernels::all().len());
    assert!(list.iter().any(|k| k.id == "conv2d.fwd.igemm_sgbc"
        && k.files
            .contains(&"conv2d/fwd_igemm_sgbc_s8.wgsl".to_string())));

    let out = dak(&["kernels", "check", "matmul.naive"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 passed, 0 failed"), "{}", text(&out));
    // The compile before the first result is announced, not silent.
    assert!(
        text(&out).contains("checking 1 kernel(s)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_wrong_shader_in_the_shader_dir_fails_with_its_first_mismatch() {
    let wrong = NAIVE.replace("acc += av * bv;", "acc -= av * bv;");
    assert_ne!(wrong, NAIVE);
    let dir = shader_dir("wrong-shader", &wrong);
    let report = dir.path().join("report.json");
    let out = dak(&[
        "kernels",
        "check",
        "--shader-dir",
        dir.path().to_str().unwrap(),
        "--save",
        report.to_str().unwrap(),
        "matmul.naive",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("FAIL") && all.contains("first mismatch at index"),
        "{all}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let r = &json["reports"][0];
    assert_eq!(r["id"], "matmul.naive");
    assert_eq!(r["status"], "fail");
    let m = &r["mismatch"];
    assert!(
        m["index"].is_u64() && m["got"].is_f64() && m["want"].is_f64(),
        "{m}"
    );
    assert_ne!(m["got"], m["want"]);
}

#[test]
fn a_malformed_shader_reports_file_and_line_without_panicking() {
    // Line 21 of the copy (the entry point) loses a parenthesis.
    let mut lines: Vec<String> = NAIVE.lines().map(String::from).collect();
    assert!(lines[20].starts_with("fn main("));
    lines[20] = "fn main(@builtin(global_invocation_id) gid: vec3<u32> {".into();
    let dir = shader_dir("bad-wgsl", &(lines.join("\n") + "\n"));
    let out = dak(&[
        "kernels",
        "check",
        "--shader-dir",
        dir.path().to_str().unwrap(),
        "matmul.naive",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert!(
        all.contains("ERROR") && all.contains("failed to compile"),
        "{all}"
    );
    assert!(all.contains("matmul/naive.wgsl:21:"), "{all}");
}

fn assert_row_fields(row: &serde_json::Value) {
    for field in [
        "kernel",
        "shape",
        "status",
        "error",
        "flops",
        "bytes",
        "median_ms",
        "min_ms",
        "max_ms",
        "first_dispatch_ms",
        "gflops",
        "gbps",
        "bound",
        "pct_of_peak",
        "max_rel_err",
        "clock",
    ] {
        assert!(row.get(field).is_some(), "row lacks {field}: {row}");
    }
}

#[test]
fn bench_json_has_every_field_and_compares_equal_to_itself() {
    let dir = TempDir::new("bench-json");
    let file = dir.path().join("run.json");
    let out = dak(&[
        "bench",
        "matmul",
        "--shapes",
        "tiny",
        "--variant",
        "matmul.naive",
        "--repeat",
        "2",
        "--save",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(json["adapter"]["name"].is_string());
    assert!(json["peak"]["gflops"].as_f64().unwrap() > 0.0, "{json}");
    let clock = json["clock"].as_str().unwrap();
    assert!(clock == "gpu-timestamp" || clock == "wall");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), bench_tiny_cases());
    for row in rows {
        assert_row_fields(row);
        assert_eq!(row["status"], "ok");
        assert_eq!(row["clock"], clock);
        let (min, med, max) = (
            row["min_ms"].as_f64().unwrap(),
            row["median_ms"].as_f64().unwrap(),
            row["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= med && med <= max, "{row}");
        assert!(row["pct_of_peak"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["gflops"].as_f64().unwrap() > 0.0, "{row}");
    }
    let out = dak(&[
        "bench",
        "--compare",
        file.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("1.000") && all.contains("0 slower"), "{all}");
}

fn bench_tiny_cases() -> usize {
    dak::bench::matmul::TINY_CASES.len()
}

#[test]
fn bench_reports_a_wrong_variant_as_failed_and_times_the_rest() {
    let wrong = NAIVE.replace("acc += av * bv;", "acc -= av * bv;");
    let dir = shader_dir("bench-failed", &wrong);
    let shapes = dir.path().join("shapes.json");
    write(
        &shapes,
        br#"{"matmul": [{"label": "a", "m": 5, "n": 7, "k": 9},
                        {"label": "b", "m": 3, "n": 2, "k": 33, "trans_b": true}]}"#,
    );
    let file = dir.path().join("run.json");
    for variant in ["matmul.naive", "matmul.tiled_64x64"] {
        let out = dak(&[
            "bench",
            "matmul",
            "--shader-dir",
            dir.path().to_str().unwrap(),
            "--shapes",
            shapes.to_str().unwrap(),
            "--variant",
            variant,
            "--repeat",
            "1",
            "--no-peak",
            "--save",
            file.to_str().unwrap(),
        ]);
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{json}");
        for row in rows {
            assert_row_fields(row);
            if variant == "matmul.naive" {
                assert_eq!(row["status"], "FAILED", "{row}");
                assert!(
                    row["median_ms"].is_null(),
                    "a failed variant is not timed: {row}"
                );
                assert!(all.contains("FAILED"), "{all}");
            } else {
                assert_eq!(row["status"], "ok", "{row}");
            }
        }
    }
}

#[test]
fn unknown_ids_and_shape_sets_are_usage_errors() {
    let out = dak(&["kernels", "check", "matmul.nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unknown kernel"), "{}", text(&out));
}

fn row(kernel: &str, shape: &str, ms: f64, ok: bool) -> dak::bench::BenchRow {
    dak::bench::BenchRow {
        kernel: kernel.into(),
        shape: shape.into(),
        status: if ok { "ok" } else { "FAILED" },
        error: None,
        flops: 1e6,
        bytes: 1e3,
        median_ms: if ok { ms } else { f64::NAN },
        min_ms: ms,
        max_ms: ms,
        first_dispatch_ms: 1.0,
        gflops: 1.0,
        gbps: 1.0,
        bound: "compute",
        pct_of_peak: f64::NAN,
        max_rel_err: 0.0,
        clock: "wall",
    }
}

#[test]
fn tuning_picks_the_fastest_variant_that_passed_everywhere() {
    // `fast` failed on one shape, so the slower variant that passed on both wins.
    let rows = vec![
        row("matmul.fast", "a", 1.0, true),
        row("matmul.fast", "b", 1.0, false),
        row("matmul.slow", "a", 3.0, true),
        row("matmul.slow", "b", 3.0, true),
        row("matmul.mid", "a", 2.0, true),
    ];
    let (choices, totals) =
        dak::bench::winners::winners(&rows, |r| vec![("matmul".into(), r.kernel.clone())]);
    assert_eq!(choices["matmul"], "matmul.slow");
    assert_eq!(totals["matmul"]["matmul.slow"], 6.0);
    assert!(!totals["matmul"].contains_key("matmul.fast"));
    assert!(!totals["matmul"].contains_key("matmul.mid"));
    assert_eq!(dak::tune::bucket(1e6), "small");
    assert_eq!(dak::tune::bucket(1e8), "medium");
    assert_eq!(dak::tune::bucket(1e10), "large");
}

#[test]
fn dak_tune_writes_the_cache_file_it_is_given() {
    // The real command on one tiny GEMM given as a shapes file (every matmul variant runs).
    let dir = TempDir::new("tune");
    let shapes = dir.path().join("shapes.json");
    write(
        &shapes,
        br#"{"matmul": [{"label": "t", "m": 3, "n": 5, "k": 7, "trans_b": true}]}"#,
    );
    let file = dir.path().join("tune.json");
    let out = Command::new(env!("CARGO_BIN_EXE_dak"))
        .args(["tune", "matmul", "--repeat", "1", "--shapes"])
        .arg(&shapes)
        .arg("--file")
        .arg(&file)
        .env(
            "MESA_SHADER_CACHE_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let cache = dak::tune::load(&file).unwrap();
    assert_eq!(cache.adapters.len(), 1);
    let entry = cache.adapters.values().next().unwrap();
    assert!(entry.peak.is_some());
    let winner = &entry.choices["matmul"];
    assert!(
        dak::ops::matmul::Variant::from_id(winner).is_some(),
        "{winner}"
    );
    assert_eq!(entry.choices["matmul/small"], *winner);
}
