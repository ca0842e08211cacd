//! Runs that never waste a user's time: refused before the first kernel, stopped on
//! divergence, resumable after Ctrl-C, no junk left behind (issue 17).
use crate::common::*;
use clap::Parser;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Parser)]
struct FineTune {
    #[command(flatten)]
    a: dak::cli::fine_tune::FineTuneArgs,
}

#[derive(Parser)]
struct Adapt {
    #[command(flatten)]
    a: dak::cli::adapt::AdaptArgs,
}

/// Runs `fine-tune` in this process on `gpu`; the error and the kernels it dispatched.
fn fine_tune_refused(gpu: &dak::Gpu, args: &[&str]) -> (dak::Error, u64) {
    let before = gpu.stats().dispatches;
    let a = FineTune::try_parse_from(std::iter::once("fine-tune").chain(args.iter().copied()))
        .unwrap()
        .a;
    let err = dak::cli::fine_tune::run_with(&a, &|| Ok(gpu.clone())).unwrap_err();
    (err, gpu.stats().dispatches - before)
}

#[test]
fn bad_outputs_numbers_images_and_weights_are_refused_before_any_kernel() {
    let gpu = gpu();
    let dir = TempDir::new("refuse");
    let data = dir.path().join("data");
    class_folders(&data);
    let d = data.to_str().unwrap();
    let out = dir.path().join("m.safetensors");
    let o = out.to_str().unwrap();
    let digits = dir.path().join("digits.safetensors");
    write_safetensors(
        &digits,
        &[(
            "features.conv1.weight".into(),
            vec![32, 3, 5, 5],
            vec![0.0; 2400],
        )],
    );
    let base = [
        "--train",
        d,
        "--weights",
        "none",
        "--input-size",
        "32",
        "--epochs",
        "1",
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--out", "/no/such/dir/m.safetensors"], "/no/such/dir"),
        (
            vec!["--out", dir.path().to_str().unwrap()],
            "is a directory",
        ),
        (
            vec!["--out", o, "--metrics", "/no/such/dir/m.jsonl"],
            "--metrics",
        ),
        (vec!["--out", o, "--lr", "NaN"], "--lr NaN"),
        (vec!["--out", o, "--lr=-0.1"], "--lr -0.1"),
        (vec!["--out", o, "--dropout", "1.5"], "--dropout"),
        (vec!["--out", o, "--val-split", "inf"], "--val-split"),
    ];
    for (extra, want) in cases {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let (e, kernels) = fine_tune_refused(&gpu, &args);
        assert_eq!(kernels, 0, "{args:?}: refused only after {kernels} kernels");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains(want), "{args:?}: {e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }
    // A weights file of another architecture: one line naming it, not a list of tensors.
    let args = [
        "--train",
        d,
        "--weights",
        digits.to_str().unwrap(),
        "--out",
        o,
    ];
    let (e, kernels) = fine_tune_refused(&gpu, &args);
    assert_eq!(kernels, 0);
    assert!(e.to_string().contains("not VGG16 weights"), "{e}");
    // A corrupt image is found up front (header check), named, with the fix.
    let bad = data.join("a/zz_broken.png");
    write(&bad, b"\x89PNG\r\n\x1a\n not really");
    let (e, kernels) = fine_tune_refused(
        &gpu,
        &base.iter().copied().chain(["--out", o]).collect::<Vec<_>>(),
    );
    assert_eq!(kernels, 0);
    assert!(
        e.to_string().contains("zz_broken.png") && e.to_string().contains("--skip-bad"),
        "{e}"
    );
    assert!(!out.exists(), "nothing written");
    // adapt too: an unwritable --plot is refused before the benchmark data or the GPU.
    let before = gpu.stats().dispatches;
    let a = Adapt::try_parse_from(["adapt", "--out", o, "--plot", "/no/such/dir/p.png"])
        .unwrap()
        .a;
    let e = dak::cli::adapt::run_with(&a, &|| Ok(gpu.clone())).unwrap_err();
    assert!(e.to_string().contains("--plot"), "{e}");
    assert_eq!(gpu.stats().dispatches, before);
}

fn all_finite(path: &Path) -> bool {
    let ck = dak::train::checkpoint::load(path).unwrap();
    ck.tensors
        .values()
        .all(|(_, v)| v.iter().all(|x| x.is_finite()))
}

#[test]
fn a_diverging_run_stops_with_a_message_and_writes_nothing_poisoned() {
    let dir = TempDir::new("diverge");
    let data = dir.path().join("data");
    class_folders(&data);
    let out = dir.path().join("m.safetensors");
    let metrics = dir.path().join("m.jsonl");
    let o = dak(&[
        "fine-tune",
        "--train",
        data.to_str().unwrap(),
        "--weights",
        "none",
        "--input-size",
        "32",
        "--hidden",
        "16",
        "--batch",
        "8",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--workers",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("diverged in epoch 1 at step "),
        "names the step: {stderr}"
    );
    assert!(stderr.contains("--lr"), "names the fix: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(!out.exists() || all_finite(&out), "no NaN model at --out");
    assert!(!metrics.exists(), "no empty metrics file");

    let out = dir.path().join("a.safetensors");
    let o = dak(&[
        "adapt",
        "--epochs",
        "2",
        "--batch",
        "16",
        "--limit",
        "64",
        "--score-samples",
        "16",
        "--no-pad",
        "--workers",
        "1",
        "--lr",
        "1e30",
        "--constant-lr",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("training diverged in epoch 1 at step "),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(!out.exists() || all_finite(&out), "no NaN model at --out");
}

/// Starts `dak args`, waits for the first epoch line on stdout, sends SIGINT, and returns
/// (exit code, stdout, stderr).
fn interrupt_after_first_epoch(args: &[&str]) -> (Option<i32>, String, String) {
    interrupt_at(args, |line| {
        line.contains("epoch") && line.contains("1/") && !line.contains("resuming")
    })
}

/// Starts `dak args`, sends SIGINT once a stdout line satisfies `at`, and returns
/// (exit code, stdout, stderr).
fn interrupt_at(args: &[&str], at: impl Fn(&str) -> bool) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dak"))
        .args(args)
        .env(
            "MESA_SHADER_CACHE_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        stdout += &line;
        stdout.push('\n');
        if at(&line) {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    for line in lines {
        stdout += &line.unwrap();
        stdout.push('\n');
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        stdout,
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn epochs_in(metrics: &Path) -> Vec<u64> {
    read_jsonl(metrics)
        .iter()
        .filter_map(|l| l.get("epoch").and_then(|e| e.as_u64()))
        .collect()
}

/// The interrupted run's message names the checkpoint and a resume command; resuming (with
/// a shorter run so the test stays quick) continues after its epoch and appends the metrics.
fn check_interrupt_and_resume(first: &[&str], out: &Path, metrics: &Path, again: &[&str]) {
    let (code, stdout, stderr) = interrupt_after_first_epoch(first);
    assert_eq!(code, Some(130), "{stdout}{stderr}");
    let ckpt = out.with_file_name(format!(
        "{}.resume.safetensors",
        out.file_stem().unwrap().to_string_lossy()
    ));
    assert!(ckpt.exists(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("--resume {}", ckpt.display())),
        "{stderr}"
    );
    let done = epochs_in(metrics);
    assert!(!done.is_empty() && done.len() < 200, "{done:?}");
    let at = *done.last().unwrap();
    let total = (at + 2).to_string();
    let mut args: Vec<&str> = again.to_vec();
    args.extend(["--epochs", &total, "--resume", ckpt.to_str().unwrap()]);
    let o = dak(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains(&format!("resuming after epoch {at}")),
        "{stdout}"
    );
    let all: Vec<u64> = (1..=at + 2).collect();
    assert_eq!(
        epochs_in(metrics),
        all,
        "the metrics file keeps every epoch once"
    );
    // A model file is not a resume checkpoint.
    if out.exists() {
        let mut args: Vec<&str> = again.to_vec();
        args.extend(["--epochs", "9", "--resume", out.to_str().unwrap()]);
        let o = dak(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--resume") && stderr.contains("not"),
            "{stderr}"
        );
    }
}

#[test]
fn sigint_leaves_a_resume_checkpoint_for_fine_tune() {
    let dir = TempDir::new("sigint-ft");
    let data = dir.path().join("data");
    class_folders(&data);
    let out = dir.path().join("m.safetensors");
    let metrics = dir.path().join("m.jsonl");
    let (d, o, m) = (
        data.to_str().unwrap(),
        out.to_str().unwrap(),
        metrics.to_str().unwrap(),
    );
    let common = [
        "fine-tune",
        "--train",
        d,
        "--weights",
        "none",
        "--input-size",
        "32",
        "--hidden",
        "16",
        "--batch",
        "8",
        "--workers",
        "1",
        "--out",
        o,
        "--metrics",
        m,
    ];
    let mut first = common.to_vec();
    first.extend(["--epochs", "200"]);
    check_interrupt_and_resume(&first, &out, &metrics, &common);
}

#[test]
fn sigint_leaves_a_resume_checkpoint_for_adapt() {
    let dir = TempDir::new("sigint-adapt");
    let out = dir.path().join("a.safetensors");
    let metrics = dir.path().join("a.jsonl");
    let (o, m) = (out.to_str().unwrap(), metrics.to_str().unwrap());
    let common = [
        "adapt",
        "--batch",
        "16",
        "--limit",
        "64",
        "--score-samples",
        "16",
        "--no-pad",
        "--workers",
        "1",
        "--out",
        o,
        "--metrics",
        m,
    ];
    let mut first = common.to_vec();
    first.extend(["--epochs", "200"]);
    check_interrupt_and_resume(&first, &out, &metrics, &common);
}

#[test]
fn stale_partial_files_of_a_crashed_save_are_removed_at_the_next_save() {
    let dir = TempDir::new("partials");
    let target = dir.path().join("m.safetensors");
    // A killed process's partial file (no such pid), an older dak's, and a live writer's.
    let dead = dir.path().join("m.safetensors.dak-partial-4194303");
    let legacy = dir.path().join(".m.safetensors.tmp4194302");
    let live = dir.path().join("m.safetensors.dak-partial-1");
    let other = dir.path().join("n.safetensors.dak-partial-4194303");
    for f in [&dead, &legacy, &live, &other] {
        write(f, b"half a file");
    }
    dak::io::write_atomic(&target, b"complete").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"complete");
    assert!(!dead.exists() && !legacy.exists(), "stale partials removed");
    assert!(live.exists(), "a running writer's file is left alone");
    assert!(other.exists(), "another target's files are not touched");
}

#[test]
fn an_unmatched_override_shader_is_refused_by_name() {
    let dir = TempDir::new("override-typo");
    write(&dir.path().join("matmul/naiv.wgsl"), b"// typo in the name");
    let o = dak(&[
        "kernels",
        "check",
        "--shader-dir",
        dir.path().to_str().unwrap(),
        "matmul.naive",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("matmul/naiv.wgsl") && stderr.contains("matches no built-in"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("pass"));
}

#[test]
fn an_unknown_wgpu_backend_is_an_error_naming_the_accepted_values() {
    let o = Command::new(env!("CARGO_BIN_EXE_dak"))
        .arg("devices")
        .env("WGPU_BACKEND", "vulcan")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("vulcan") && stderr.contains(dak::gpu::BACKEND_NAMES),
        "{stderr}"
    );
}

#[test]
fn the_run_header_names_the_backend_and_warns_about_gl_with_the_fix() {
    let mut a = gpu().adapter();
    let lines = dak::cli::run_header(&a, None);
    assert!(lines[0].contains(&a.name) && lines[0].contains(&format!("{} backend", a.backend)));
    a.backend = "Gl".into();
    let lines = dak::cli::run_header(&a, None);
    assert!(lines[0].contains("Gl backend"), "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("10x slower") && l.contains("mesa-vulkan-drivers")));
    let ov = (
        std::path::PathBuf::from("my-shaders"),
        vec!["matmul/naive.wgsl".to_string()],
    );
    let lines = dak::cli::run_header(&a, Some(&ov));
    assert!(lines
        .iter()
        .any(|l| l.contains("kernel overrides active") && l.contains("matmul/naive.wgsl")));
    // predict and evaluate print the same warning on stderr (their stdout is the result).
    assert!(dak::cli::slow_backend_warning(&a).is_some_and(|w| w.contains("10x slower")));
    a.backend = "Vulkan".into();
    assert_eq!(dak::cli::slow_backend_warning(&a), None);
}

/// A network whose features died (every ReLU off: the outputs no longer depend on the image)
/// is reported like a divergence, naming the epoch, instead of finishing with chance accuracy
/// and "PAD after 0.000" (issue 34, item 8).
#[test]
fn a_collapsed_network_stops_the_run_like_a_divergence() {
    use dak::prelude::*;
    let gpu = gpu();
    let data = load_mnist_mnistm().unwrap().limit(48);
    let mut dann = Dann::digits(&gpu, data.classes(), 1).unwrap();
    // Kill the feature extractor: zero weights, negative biases, so every ReLU is off.
    let ids: Vec<_> = (0..dann.params.len())
        .map(dak::autograd::ParamId)
        .filter(|&id| dann.params.get(id).name.starts_with("features."))
        .collect();
    for id in ids {
        let p = dann.params.get(id);
        let fill = if p.name.ends_with("bias") { -1.0 } else { 0.0 };
        p.value.write(&vec![fill; p.value.numel()]).unwrap();
    }
    let config = AdaptConfig {
        epochs: 2,
        batch: 16,
        workers: 1,
        score_samples: 16,
        pad: false,
        ..Default::default()
    };
    let err = dann.fit(&data, &config, &mut []).unwrap_err();
    assert!(matches!(err, dak::Error::Diverged(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("collapsed in epoch 1"), "{msg}");
    assert!(
        msg.contains("--lambda-max"),
        "DANN's hint names the adaptation weight: {msg}"
    );
}

/// The resume command an interrupted run printed, as the arguments after `dak`.
fn printed_resume(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find(|l| l.contains("continue with: "))
        .unwrap_or_else(|| panic!("no resume command printed: {stderr}"));
    let cmd = line.split("continue with: ").nth(1).unwrap();
    cmd.split_whitespace()
        .skip(1)
        .map(|a| a.trim_matches('\'').to_string())
        .collect()
}

fn tensors(path: &Path) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    dak::models::file::read_tensors(path).unwrap().tensors
}

/// Every interrupted `adapt` resumes with the command it printed and ends as the
/// uninterrupted run: `--select im` (the best epoch so far is in the checkpoint) and
/// `--compare` interrupted in its second method (the first is kept, the second continues).
#[test]
fn interrupted_selecting_and_comparing_runs_resume_with_the_printed_command() {
    let dir = TempDir::new("resume-any");
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let common = |out: &str, metrics: &str| -> Vec<String> {
        [
            "adapt",
            "--batch",
            "16",
            "--limit",
            "64",
            "--score-samples",
            "16",
            "--no-pad",
            "--workers",
            "1",
            "--epochs",
            "3",
            "--checkpoint-every",
            "0",
            "--out",
            out,
            "--metrics",
            metrics,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = dak(&args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{args:?}: {err}");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    for (tag, extra, at) in [
        ("im", vec!["--select", "im"], "[dann] epoch"),
        ("cmp", vec!["--compare", "source-only,dann"], "[dann] epoch"),
    ] {
        let (whole, whole_m) = (
            p(&format!("{tag}-whole.safetensors")),
            p(&format!("{tag}-whole.jsonl")),
        );
        let mut args = common(&whole, &whole_m);
        args.extend(extra.iter().map(|s| s.to_string()));
        let whole_table = run(&args);

        let (out, metrics) = (p(&format!("{tag}.safetensors")), p(&format!("{tag}.jsonl")));
        let mut args = common(&out, &metrics);
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = interrupt_at(&argv, |l| l.contains(at) && l.contains("1/3"));
        assert_eq!(code, Some(130), "{tag}: {stdout}{stderr}");
        let resumed_table = run(&printed_resume(&stderr));
        assert_eq!(
            tensors(Path::new(&out)),
            tensors(Path::new(&whole)),
            "{tag}: the resumed run's model is the uninterrupted one's"
        );
        let epochs = |m: &str, method: &str| -> Vec<u64> {
            read_jsonl(Path::new(m))
                .iter()
                .filter(|l| l["type"] == "epoch" && l["method"] == method)
                .map(|l| l["epoch"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(
            epochs(&metrics, "dann"),
            [1, 2, 3],
            "{tag}: every epoch once"
        );
        // The final tables agree on what was selected and how it scored.
        let selected = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| {
                    l.starts_with("selected")
                        || l.starts_with("epochs run")
                        || l.contains("target acc")
                })
                .map(String::from)
                .collect()
        };
        assert!(selected(&whole_table).len() >= 2, "{whole_table}");
        assert_eq!(
            selected(&resumed_table),
            selected(&whole_table),
            "{tag}: {resumed_table}"
        );
        if tag == "cmp" {
            let last = read_jsonl(Path::new(&metrics)).pop().unwrap();
            let want = read_jsonl(Path::new(&whole_m)).pop().unwrap();
            assert_eq!(last["type"], "comparison");
            assert_eq!(last["selected"], want["selected"]);
            assert!(stderr.contains("dann.resume.safetensors"), "{stderr}");
        }
    }
}

/// A source-free run stopped by Ctrl-C prints the command that continues it (its `--init`
/// kept, `--resume` added); that command ends with the uninterrupted run's model, and the
/// metrics hold every epoch once.
#[test]
fn an_interrupted_source_free_run_resumes_with_the_printed_command() {
    let dir = TempDir::new("resume-source-free");
    let tgt = dir.path().join("tgt");
    class_folders(&tgt);
    let init = dir.path().join("init.safetensors");
    let names = ["cat", "dog", "owl"].map(String::from);
    dak::models::Dann::digits(&gpu(), &names, 1)
        .unwrap()
        .save(&init)
        .unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let args = |out: &str, metrics: &str| -> Vec<String> {
        let (init, tgt) = (init.to_str().unwrap(), tgt.to_str().unwrap());
        [
            "adapt",
            "--source-free",
            "--init",
            init,
            "--target",
            tgt,
            "--epochs",
            "6",
            "--batch",
            "4",
            "--score-samples",
            "8",
            "--workers",
            "1",
            "--out",
            out,
            "--metrics",
            metrics,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = dak(&args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{args:?}: {err}");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let whole = p("whole.safetensors");
    run(&args(&whole, &p("whole.jsonl")));

    let (out, metrics) = (p("sf.safetensors"), p("sf.jsonl"));
    let argv = args(&out, &metrics);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = interrupt_at(&argv, |l| {
        l.starts_with("[shot] epoch") && l.contains(" 1/6 ")
    });
    assert_eq!(code, Some(130), "{stdout}{stderr}");
    let again = printed_resume(&stderr);
    assert!(again.iter().any(|a| a == "--init"), "{again:?}");
    let stdout = run(&again);
    assert!(stdout.contains("resuming after epoch"), "{stdout}");
    assert_eq!(
        tensors(Path::new(&out)),
        tensors(Path::new(&whole)),
        "the resumed run's model is the uninterrupted one's"
    );
    assert_eq!(
        epochs_in(Path::new(&metrics)),
        (0..=6).collect::<Vec<u64>>()
    );
}
