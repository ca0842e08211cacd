//! Flags refused before any work and before the GPU opens (issue 34, items 7-11):
//! `--workers` capped, λ range-checked, contradicting flags refused, `--unfreeze` validated
//! with the other flags, and `--weights none` accepted by `adapt` as by `fine-tune`. Each
//! refusal is one line, exit 2.
use crate::common::*;
use clap::Parser;
use std::cell::Cell;

#[derive(Parser)]
struct Adapt {
    #[command(flatten)]
    a: dak::cli::adapt::AdaptArgs,
}

#[derive(Parser)]
struct FineTune {
    #[command(flatten)]
    a: dak::cli::fine_tune::FineTuneArgs,
}

/// The error of `run` and how many times it opened the GPU (a counting stand-in that never
/// opens one: it answers with a marker error).
fn outcome(run: impl Fn(&dyn Fn() -> dak::Result<dak::Gpu>) -> dak::Result<()>) -> (String, usize) {
    let opens = Cell::new(0);
    let open = || {
        opens.set(opens.get() + 1);
        Err(dak::Error::runtime("GPU-OPENED"))
    };
    let e = run(&open).expect_err("the stand-in GPU always fails");
    (e.to_string(), opens.get())
}

fn adapt(args: &[&str]) -> (String, usize) {
    let mut all = vec!["adapt"];
    all.extend_from_slice(args);
    let a = Adapt::try_parse_from(all).unwrap().a;
    outcome(|open| dak::cli::adapt::run_with(&a, open))
}

fn fine_tune(args: &[&str]) -> (String, usize) {
    let mut all = vec!["fine-tune"];
    all.extend_from_slice(args);
    let a = FineTune::try_parse_from(all).unwrap().a;
    outcome(|open| dak::cli::fine_tune::run_with(&a, open))
}

#[test]
fn bad_flags_are_refused_before_the_gpu_opens() {
    let dir = TempDir::new("flag-checks");
    let out = dir.path().join("m.safetensors");
    let out = out.to_str().unwrap();
    let missing = dir.path().join("no-such-folder");
    let missing = missing.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--workers", "100000", "--out", out],
            "--workers 100000",
        ),
        (
            vec!["--constant-lambda", "1e30", "--out", out],
            "--constant-lambda",
        ),
        (vec!["--lambda-max", "1e6", "--out", out], "--lambda-max"),
        // Item 9: flags that contradict each other.
        (
            vec!["--method", "dann", "--compare", "mcc,cdan", "--out", out],
            "--method dann with --compare mcc,cdan",
        ),
        (
            vec![
                "--constant-lambda",
                "0.5",
                "--lambda-max",
                "2",
                "--out",
                out,
            ],
            "--constant-lambda 0.5 with --lambda-max 2",
        ),
    ] {
        let (e, opens) = adapt(&args);
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert_eq!(opens, 0, "{args:?} opened the GPU");
    }
    for (args, needle) in [
        (
            vec![
                "--train",
                missing,
                "--weights",
                "none",
                "--unfreeze",
                "block9",
                "--out",
                out,
            ],
            "--unfreeze block9",
        ),
        (
            vec![
                "--train",
                missing,
                "--weights",
                "none",
                "--workers",
                "100000",
                "--out",
                out,
            ],
            "--workers 100000",
        ),
        (
            vec![
                "--train",
                missing,
                "--weights",
                "none",
                "--freeze",
                "none",
                "--unfreeze",
                "block5",
                "--out",
                out,
            ],
            "--freeze none with --unfreeze block5",
        ),
    ] {
        let (e, opens) = fine_tune(&args);
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(opens, 0, "{args:?} opened the GPU");
    }
    // Through the binary: exit 2, one line.
    let o = dak(&["adapt", "--workers", "100000", "--out", out]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
    assert!(!std::path::Path::new(out).exists());
}

#[test]
fn weights_none_means_no_weights_in_adapt_too() {
    let dir = TempDir::new("weights-none");
    let out = dir.path().join("m.safetensors");
    // Every check passes and the run reaches the GPU (the stand-in stops it there).
    let (e, opens) = adapt(&[
        "--backbone",
        "vgg16",
        "--weights",
        "none",
        "--input-size",
        "32",
        "--limit",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(e.contains("GPU-OPENED"), "{e}");
    assert_eq!(opens, 1);
}

#[test]
fn flags_that_do_nothing_here_are_named_in_a_warning() {
    let dir = TempDir::new("flag-warnings");
    let data = dir.path().join("data");
    class_folders(&data);
    let out = dir.path().join("m.safetensors");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    // Tiny whole runs: the warning comes first and the run goes on.
    let bin = dak(&[
        "fine-tune",
        "--train",
        d,
        "--weights",
        "none",
        "--input-size",
        "32",
        "--patience",
        "2",
        "--epochs",
        "1",
        "--out",
        o,
    ]);
    let text = String::from_utf8_lossy(&bin.stdout);
    assert!(
        text.contains("warning: --patience 2 without --val"),
        "{text}"
    );
    // A held-out split that --select im does not read is named; one that dev reads is not.
    let adapt_selecting = |select: &str| {
        let bin = dak(&[
            "adapt",
            "--source",
            d,
            "--target",
            d,
            "--source-val-split",
            "0.2",
            "--select",
            select,
            "--epochs",
            "1",
            "--out",
            o,
        ]);
        assert!(
            bin.status.success(),
            "{}",
            String::from_utf8_lossy(&bin.stderr)
        );
        String::from_utf8_lossy(&bin.stdout).into_owned()
    };
    let text = adapt_selecting("im");
    assert!(
        text.contains("warning: --source-val-split 0.2 holds out"),
        "{text}"
    );
    let text = adapt_selecting("dev");
    assert!(!text.contains("warning: --source-val-split"), "{text}");
}
