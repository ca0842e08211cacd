//! Label-free selection through the binary: candidates kept by `adapt --candidates`, re-scored
//! by `dak select` to the same numbers and picks as the live run, picks that do not move when
//! the target-test labels are shuffled (for every validator), and one-line errors for what a
//! validator cannot score.
use crate::common::*;
use std::path::Path;

/// Source, held-out source, target (a colour negative of the source) and the target with its
/// labels rotated, 3 classes x 6 images each.
fn trees(root: &Path) {
    negative_target_trees(root);
    class_folders(&root.join("src-test"));
}

fn p(root: &Path, s: &str) -> String {
    root.join(s).to_str().unwrap().to_string()
}

/// `dak adapt --compare mcc` with candidates kept in `runs/`; returns the metrics lines.
fn adapt(root: &Path, target_test: &str) -> Vec<serde_json::Value> {
    let (src, src_test, tgt, tt) = (
        p(root, "src"),
        p(root, "src-test"),
        p(root, "tgt"),
        p(root, target_test),
    );
    let (out, metrics, runs) = (
        p(root, "m.safetensors"),
        p(root, "m.jsonl"),
        p(root, "runs"),
    );
    let args = [
        "adapt",
        "--source",
        &src,
        "--source-test",
        &src_test,
        "--target",
        &tgt,
        "--target-test",
        &tt,
        "--compare",
        "mcc",
        "--epochs",
        "3",
        "--batch",
        "4",
        "--score-samples",
        "12",
        "--no-pad",
        "--workers",
        "1",
        "--candidates",
        &runs,
        "--out",
        &out,
        "--metrics",
        &metrics,
    ];
    let o = dak(&args);
    assert!(
        o.status.success(),
        "dak adapt failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    read_jsonl(Path::new(&metrics))
}

fn select(root: &Path, extra: &[&str]) -> serde_json::Value {
    let runs = p(root, "runs");
    let mut args = vec!["select", runs.as_str(), "--json", "--workers", "1"];
    args.extend_from_slice(extra);
    let o = dak(&args);
    assert!(
        o.status.success(),
        "dak select {extra:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn select_rescores_like_the_run_and_never_reads_target_labels() {
    let dir = TempDir::new("selection-rescore");
    trees(dir.path());
    let lines = adapt(dir.path(), "tgt");
    let scored = select(dir.path(), &["--select", "all"]);
    let candidates = scored["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 6, "2 methods x 3 epochs: {scored}");
    // Every candidate's scores are the numbers the live run logged for that epoch.
    for e in lines.iter().filter(|v| v["type"] == "epoch") {
        let c = candidates
            .iter()
            .find(|c| c["method"] == e["method"] && c["epoch"] == e["epoch"])
            .unwrap_or_else(|| panic!("no candidate for {e}"));
        for key in ["entropy", "im", "snd", "mixval", "dev", "target_acc"] {
            assert_eq!(c[key], e[key], "{key}: {c} vs {e}");
            assert!(c[key].as_f64().is_some_and(f64::is_finite), "{key}: {c}");
        }
    }
    // The live run's pick (default --select safe with --compare) is the re-scored safe pick.
    let live = lines.iter().find(|v| v["type"] == "comparison").unwrap();
    assert_eq!(live["selected"]["validator"], "safe");
    let picks = scored["picks"].as_array().unwrap();
    let safe = picks.iter().find(|p| p["validator"] == "safe").unwrap();
    assert_eq!(
        (&safe["method"], &safe["epoch"]),
        (&live["selected"]["method"], &live["selected"]["epoch"]),
        "{safe} vs {live}"
    );
    // `all` is every validator that can score the run (no --source-val-split: no source-val).
    let names: Vec<&str> = picks
        .iter()
        .map(|p| p["validator"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "entropy",
            "im",
            "snd",
            "ensv",
            "ensv-soft",
            "mixval",
            "dev",
            "safe"
        ]
    );
    // The scores the run kept beside each candidate are what measuring it again gives.
    assert!(dir.path().join("runs/mcc/epoch-002.scores.json").is_file());
    assert_eq!(
        select(dir.path(), &["--select", "all", "--rescore"]),
        scored
    );
    // Shuffled target-test labels change the reported accuracies, never a score or a pick.
    let shuffled = select(
        dir.path(),
        &[
            "--select",
            "all",
            "--target-test",
            &p(dir.path(), "tgt-shuffled"),
        ],
    );
    let strip = |v: &serde_json::Value, key: &str| -> Vec<serde_json::Value> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.as_object_mut().unwrap().remove("target_acc");
                c
            })
            .collect()
    };
    assert_eq!(strip(&scored, "picks"), strip(&shuffled, "picks"));
    assert_eq!(strip(&scored, "candidates"), strip(&shuffled, "candidates"));
    // --out copies the picked candidate, which `dak evaluate` reads like any model.
    let out = p(dir.path(), "picked.safetensors");
    select(dir.path(), &["--select", "ensv", "--out", &out]);
    let o = dak(&[
        "evaluate",
        "--model",
        &out,
        "--data",
        &p(dir.path(), "tgt"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ensv = picks.iter().find(|p| p["validator"] == "ensv").unwrap();
    assert!(
        (eval["accuracy"].as_f64().unwrap() - ensv["target_acc"].as_f64().unwrap()).abs() < 1e-9,
        "{eval} vs {ensv}"
    );
}

#[test]
fn validators_refuse_what_they_cannot_score() {
    let dir = TempDir::new("selection-bad");
    let root = dir.path();
    class_folders(&root.join("src"));
    // Two target images for three classes.
    std::fs::create_dir_all(root.join("few")).unwrap();
    for i in 0..2 {
        save(&root.join(format!("few/{i}.png")), &pattern(8, 8, i));
    }
    let (src, few, out) = (p(root, "src"), p(root, "few"), p(root, "m.safetensors"));
    refused_with(
        &[
            "adapt", "--source", &src, "--target", &src, "--select", "dev", "--out", &out,
        ],
        &["--select dev", "--source-test", "--source-val-split"],
    );
    // A source too small to hold any image out for DEV.
    refused_with(
        &[
            "adapt",
            "--source",
            &src,
            "--target",
            &src,
            "--select",
            "dev",
            "--source-val-split",
            "0.01",
            "--out",
            &out,
        ],
        &["--source-val-split 0.01", "--select dev"],
    );
    refused_with(
        &[
            "adapt", "--source", &src, "--target", &few, "--select", "mixval", "--out", &out,
        ],
        &["--select mixval", "2 image(s) for 3 classes"],
    );
    refused_with(
        &["adapt", "--select", "mixvall", "--out", &out],
        &["--select `mixvall`", "ensv, ensv-soft, mixval, dev, safe"],
    );
    // `dak select` on things that are not a candidates folder.
    let metrics = p(root, "metrics.jsonl");
    write(Path::new(&metrics), b"{\"type\": \"epoch\"}\n");
    refused_with(
        &["select", &metrics],
        &["dak select", "not a dak candidates index"],
    );
    refused_with(&["select", &src], &["dak select", "candidates.json"]);
    refused_with(
        &["select", &p(root, "missing")],
        &["dak select", "candidates.json"],
    );
    refused_with(
        &["select", &src, "--select", "oracle"],
        &["--select `oracle`", "safe"],
    );
    assert!(!Path::new(&out).exists(), "a refused run wrote its model");
}
