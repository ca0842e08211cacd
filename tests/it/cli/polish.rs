//! What a new user meets first (issue 17): examples in every `--help`, negative numbers, output
//! that fits a terminal, exit codes that mean something, and `evaluate` / `predict` refusing bad
//! input before the first kernel.
use crate::common::*;
use clap::Parser;
use dak::models::Dann;
use std::path::Path;

#[derive(Parser)]
struct Evaluate {
    #[command(flatten)]
    a: dak::cli::evaluate::EvaluateArgs,
}

#[derive(Parser)]
struct Predict {
    #[command(flatten)]
    a: dak::cli::evaluate::PredictArgs,
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The subcommands a `--help` text lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_and_subcommand_has_usage_examples() {
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = dak(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let help = stdout(&out);
        let examples: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Examples:"))
            .skip(1)
            .collect();
        assert!(
            examples.iter().any(|l| l.trim_start().starts_with("dak ")),
            "`dak {}` has no usage example:\n{help}",
            path.join(" ")
        );
        seen += 1;
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
    }
    // dak, 10 commands, data's 2 and kernels' 2 subcommands.
    assert!(seen >= 15, "walked only {seen} commands");
}

#[test]
fn a_negative_number_reaches_the_range_check_that_names_the_flag() {
    let dir = TempDir::new("negative");
    let out = dir.path().join("m.safetensors");
    for lr in [["--lr", "-0.1"].as_slice(), ["--lr=-0.1"].as_slice()] {
        let mut args = vec!["adapt", "--out", out.to_str().unwrap()];
        args.extend(lr);
        let o = dak(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--lr -0.1: must be a positive number"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn kernels_list_fits_100_columns_and_devices_names_features() {
    let o = dak(&["kernels", "list"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.lines().count() > 20, "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
    assert!(text.contains("conv2d.fwd"), "{text}");

    let o = dak(&["devices"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let features = text
        .lines()
        .find(|l| l.starts_with("features enabled:"))
        .unwrap_or_else(|| panic!("no features line:\n{text}"));
    assert!(
        !features.contains('{') && !features.contains("Features"),
        "{features}"
    );
}

#[test]
fn data_inspect_exits_non_zero_when_the_folder_cannot_be_trained_on() {
    let dir = TempDir::new("inspect-exit");
    let good = dir.path().join("good");
    class_folders(&good);
    let o = dak(&["data", "inspect", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: ready for training"));

    // A flat folder of images: no training set, but a target as `dak adapt --target` reads it.
    let flat = dir.path().join("flat");
    save(&flat.join("a.png"), &pattern(8, 8, 0));
    let o = dak(&["data", "inspect", flat.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let (f, g) = (flat.to_str().unwrap(), good.to_str().unwrap());
    let o = dak(&["data", "inspect", f, "--target-of", g]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("an unlabelled target, 1 images"),
        "{}",
        stdout(&o)
    );

    std::fs::create_dir_all(good.join("empty")).unwrap();
    write(&good.join("dog/broken.png"), b"not a png");
    let o = dak(&["data", "inspect", good.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("empty") && err.contains("unreadable"), "{err}");
    assert!(
        stdout(&o).contains("not ready for training"),
        "{}",
        stdout(&o)
    );
}

/// A saved digits model of the classes of `class_folders`.
fn digits_model(dir: &Path) -> std::path::PathBuf {
    let classes: Vec<String> = ["cat", "dog", "owl"].map(String::from).to_vec();
    let path = dir.join("digits.safetensors");
    Dann::digits(&gpu(), &classes, 1)
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

/// The same model with one weight set to NaN (a diverged run's file).
fn poisoned(model: &Path) -> std::path::PathBuf {
    let bytes = std::fs::read(model).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                v.shape().to_vec(),
                bytemuck::pod_collect_to_vec(v.data()),
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors[0].2[0] = f32::NAN;
    let path = model.with_file_name("nan.safetensors");
    write_safetensors_with(&path, &tensors, header.metadata().clone());
    path
}

#[test]
fn evaluate_and_predict_refuse_bad_input_before_any_kernel() {
    let gpu = gpu();
    let dir = TempDir::new("refuse-eval");
    let data = dir.path().join("data");
    class_folders(&data);
    let model = digits_model(dir.path());
    let nan = poisoned(&model);
    let bad_data = dir.path().join("bad");
    class_folders(&bad_data);
    write(&bad_data.join("owl/9.png"), b"\x89PNG truncated");
    let other = dir.path().join("other");
    for c in ["cat", "dog", "emu"] {
        save(&other.join(c).join("0.png"), &pattern(30, 30, 1));
    }
    let plain = dir.path().join("plain.safetensors");
    write_safetensors(&plain, &[("w".into(), vec![2], vec![0.5, 1.0])]);
    let (m, n, d) = (
        model.to_str().unwrap(),
        nan.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    let img = data.join("cat/0.png");
    let i = img.to_str().unwrap();

    let evaluate: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--model", m, "--data", bad_data.to_str().unwrap()],
            "9.png",
        ),
        (vec!["--model", m, "--data", other.to_str().unwrap()], "emu"),
        (
            vec!["--model", plain.to_str().unwrap(), "--data", d],
            "not a dak model",
        ),
        (
            vec!["--model", "/no/such.safetensors", "--data", d],
            "no such file",
        ),
        (vec!["--model", m, "--data", d, "--batch", "0"], "--batch"),
        (vec!["--model", n, "--data", d], "NaN"),
    ];
    for (args, want) in evaluate {
        let before = gpu.stats().dispatches;
        let a = Evaluate::try_parse_from(std::iter::once("evaluate").chain(args.clone()))
            .unwrap()
            .a;
        let e = dak::cli::evaluate::run_evaluate_with(&a, &|| Ok(gpu.clone())).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(want),
            "{args:?}: `{msg}` should mention `{want}`"
        );
        assert_eq!(e.exit_code(), 2, "{args:?}: {msg}");
        assert_eq!(
            gpu.stats().dispatches,
            before,
            "{args:?}: dispatched kernels"
        );
    }

    let broken = bad_data.join("owl/9.png");
    let predict: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--model", m, "/no/such.png"], "no such file"),
        (vec!["--model", m, broken.to_str().unwrap()], "9.png"),
        (vec!["--weights", m, i], "not ImageNet weights"),
        (vec!["--model", m, "--top-k", "0", i], "--top-k"),
        (vec!["--model", n, i], "NaN"),
    ];
    for (args, want) in predict {
        let before = gpu.stats().dispatches;
        let a = Predict::try_parse_from(std::iter::once("predict").chain(args.clone()))
            .unwrap()
            .a;
        let e = dak::cli::evaluate::run_predict_with(&a, &|| Ok(gpu.clone())).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(want),
            "{args:?}: `{msg}` should mention `{want}`"
        );
        assert_eq!(
            gpu.stats().dispatches,
            before,
            "{args:?}: dispatched kernels"
        );
    }

    // The way out of an unreadable image is offered where the command has it: evaluate takes
    // --skip-bad, predict does not (also for a file whose header reads but whose pixels do
    // not, which fails in the loader).
    let eval_args = [
        "evaluate",
        "--model",
        m,
        "--data",
        bad_data.to_str().unwrap(),
    ];
    let a = Evaluate::try_parse_from(eval_args).unwrap().a;
    let e = dak::cli::evaluate::run_evaluate_with(&a, &|| Ok(gpu.clone())).unwrap_err();
    assert!(e.to_string().contains("--skip-bad"), "{e}");
    let mut png = Vec::new();
    pattern(40, 36, 3)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let cut = dir.path().join("cut.png");
    write(&cut, &png[..png.len() / 2]);
    for image in [broken.to_str().unwrap(), cut.to_str().unwrap()] {
        let a = Predict::try_parse_from(["predict", "--model", m, image])
            .unwrap()
            .a;
        let e = dak::cli::evaluate::run_predict_with(&a, &|| Ok(gpu.clone())).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("unreadable image") && !msg.contains("--skip-bad"),
            "{msg}"
        );
    }

    // The good model evaluates; a skipped unreadable image is listed and not counted.
    let o = dak(&[
        "evaluate",
        "--model",
        m,
        "--data",
        bad_data.to_str().unwrap(),
        "--skip-bad",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("on 18 images"), "{text}");
    assert!(
        text.contains("skipped 1 unreadable file(s)") && text.contains("9.png"),
        "{text}"
    );
}

#[test]
fn bench_prints_each_row_as_it_completes() {
    let o = dak(&[
        "bench",
        "matmul",
        "--shapes",
        "tiny",
        "--repeat",
        "1",
        "--no-peak",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let progress = stderr(&o);
    let timed = progress
        .lines()
        .filter(|l| l.starts_with("timed matmul."))
        .count();
    let rows = stdout(&o)
        .lines()
        .filter(|l| l.starts_with("matmul."))
        .count();
    assert!(
        rows > 0 && timed == rows,
        "{timed} progress lines for {rows} rows:\n{progress}"
    );
}
