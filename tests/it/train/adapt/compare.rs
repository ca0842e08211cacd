//! The adaptation methods through the binary: every registered method in one `--compare` (a
//! repeated name trains once), label-free selection across epochs and methods that does not
//! change when the target-test labels are shuffled, and one-line errors for bad names.
use crate::common::*;
use std::path::Path;

fn run(root: &Path, tag: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let p = |s: &str| root.join(s).to_str().unwrap().to_string();
    let (out, metrics) = (p(&format!("{tag}.safetensors")), p(&format!("{tag}.jsonl")));
    let (src, tgt) = (p("src"), p("tgt"));
    let mut args = vec![
        "adapt",
        "--source",
        &src,
        "--target",
        &tgt,
        "--epochs",
        "2",
        "--batch",
        "4",
        "--score-samples",
        "6",
        "--no-pad",
        "--workers",
        "1",
        "--out",
        &out,
        "--metrics",
        &metrics,
    ];
    args.extend_from_slice(extra);
    let o = dak(&args);
    assert!(
        o.status.success(),
        "dak adapt {extra:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    read_jsonl(Path::new(&metrics))
}

fn comparison(lines: &[serde_json::Value]) -> &serde_json::Value {
    let c: Vec<_> = lines.iter().filter(|v| v["type"] == "comparison").collect();
    assert_eq!(c.len(), 1, "{lines:?}");
    c[0]
}

#[test]
fn compare_every_method_with_a_repeat() {
    let dir = TempDir::new("methods-all");
    negative_target_trees(dir.path());
    let tt = dir.path().join("tgt").to_str().unwrap().to_string();
    // Every registered method, one of them twice.
    let mut names = dak::train::adapt::Method::names();
    names.push("mcc");
    let list = names.join(",");
    let plot = dir.path().join("all.png");
    let lines = run(
        dir.path(),
        "all",
        &[
            "--plot",
            plot.to_str().unwrap(),
            "--compare",
            &list,
            "--select",
            "entropy",
            "--target-test",
            &tt,
        ],
    );
    let c = comparison(&lines);
    let names: Vec<&str> = c["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, dak::train::adapt::Method::names());
    // One plot, a colour of its own for each method (in its legend and curves).
    let img = image::open(&plot).unwrap().to_rgb8();
    for (i, m) in names.iter().enumerate() {
        let c = image::Rgb(dak::train::plot::RUN_COLORS[i % 10]);
        assert!(
            img.pixels().any(|p| *p == c),
            "{m}: colour {c:?} not in the plot"
        );
    }
    for m in c["methods"].as_array().unwrap() {
        assert!(
            m["target_acc"]
                .as_f64()
                .is_some_and(|a| (0.0..=1.0).contains(&a)),
            "{m}"
        );
        assert!(m["score"].as_f64().is_some_and(f64::is_finite), "{m}");
    }
    // The pick is the best entropy score, and --out holds that method's model.
    let best = c["methods"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a["score"]
                .as_f64()
                .partial_cmp(&b["score"].as_f64())
                .unwrap()
        })
        .unwrap();
    let sel = &c["selected"];
    assert_eq!(sel["validator"], "entropy");
    assert_eq!(sel["method"], best["method"], "{c}");
    let method = sel["method"].as_str().unwrap();
    // The same tensors; the description adds how the method was picked among the others.
    let read = |name: &str| dak::models::file::read_tensors(&dir.path().join(name)).unwrap();
    let (out, picked) = (
        read("all.safetensors"),
        read(&format!("all-{method}.safetensors")),
    );
    assert_eq!(out.tensors, picked.tensors);
    let (info, _) = dak::models::file::load(&dir.path().join("all.safetensors")).unwrap();
    let p = info.provenance.unwrap();
    assert_eq!(p.method, method);
    assert_eq!(
        p.selection.unwrap()["among"].as_array().unwrap().len(),
        names.len()
    );
    // Epoch lines: the adversarial methods report a domain loss, MCC alone does not.
    let epoch = |m: &str| {
        lines
            .iter()
            .find(|v| v["type"] == "epoch" && v["method"] == m)
            .unwrap()
    };
    assert!(epoch("dann+mcc")["domain_loss"].as_f64().is_some());
    assert!(epoch("mcc")["domain_loss"].is_null());
    assert!(epoch("mcc")["label_loss"].as_f64().unwrap().is_finite());
    // adapt_loss: the method's own losses (DANN: its domain loss; none for source-only).
    let mcc_loss = epoch("mcc")["adapt_loss"].as_f64().unwrap();
    assert!(
        mcc_loss > 0.0 && mcc_loss < 1.0,
        "MCC loss {mcc_loss} outside (0, 1)"
    );
    let dann = epoch("dann");
    let (a, d) = (
        dann["adapt_loss"].as_f64().unwrap(),
        dann["domain_loss"].as_f64().unwrap(),
    );
    assert!((a - d).abs() < 1e-5 * (1.0 + d), "{dann}");
    let both = epoch("dann+mcc");
    assert!(both["adapt_loss"].as_f64().unwrap() > both["domain_loss"].as_f64().unwrap());
    assert!(epoch("source-only")["adapt_loss"].is_null());
    // CDAN is adversarial too; with MCC its own losses exceed the domain loss.
    assert!(epoch("cdan")["domain_loss"]
        .as_f64()
        .is_some_and(f64::is_finite));
    let both = epoch("cdan-e+mcc");
    assert!(both["adapt_loss"].as_f64().unwrap() > both["domain_loss"].as_f64().unwrap());
}

#[test]
fn selection_never_reads_target_labels() {
    let dir = TempDir::new("methods-shuffled");
    negative_target_trees(dir.path());
    for validator in ["snd", "ensv"] {
        let picks: Vec<serde_json::Value> = ["tgt", "tgt-shuffled"]
            .iter()
            .map(|t| {
                let tt = dir.path().join(t).to_str().unwrap().to_string();
                let args = ["--compare", "mcc", "--select", validator, "--target-test", &tt];
                let c = comparison(&run(dir.path(), t, &args)).clone();
                let scores: Vec<_> = c["methods"].as_array().unwrap().iter().map(|m| m["score"].clone()).collect();
                serde_json::json!({"selected": [c["selected"]["method"].clone(), c["selected"]["epoch"].clone()],
                                   "scores": scores, "acc": c["methods"][0]["target_acc"].clone()})
            })
            .collect();
        assert_eq!(
            picks[0]["selected"], picks[1]["selected"],
            "{validator}: {picks:?}"
        );
        assert_eq!(
            picks[0]["scores"], picks[1]["scores"],
            "{validator}: {picks:?}"
        );
        assert!(
            picks[0]["scores"][0].as_f64().is_some(),
            "{validator}: {picks:?}"
        );
    }
}

/// The index of the largest number (ties: the first).
fn argmax(v: &[f64]) -> usize {
    (1..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

#[test]
fn ensv_picks_the_epoch_and_the_method_that_agree_most_with_the_ensemble() {
    let dir = TempDir::new("methods-ensv");
    negative_target_trees(dir.path());
    let tt = dir.path().join("tgt").to_str().unwrap().to_string();
    let args = [
        "--compare",
        "dann,mcc",
        "--select",
        "ensv",
        "--target-test",
        &tt,
    ];
    let lines = run(dir.path(), "ensv", &args);
    // Within each run: the selected epoch has the highest EnsV score of its epochs.
    for s in lines.iter().filter(|v| v["type"] == "summary") {
        let scores: Vec<f64> = s["ensv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(scores.len(), 2, "{s}");
        assert!(scores.iter().all(|v| (0.0..=1.0).contains(v)), "{s}");
        assert_eq!(s["selected"]["epoch"], argmax(&scores) + 1, "{s}");
        assert_eq!(
            s["selected"]["ensv"].as_f64(),
            Some(scores[argmax(&scores)]),
            "{s}"
        );
    }
    // Across methods: the pick has the highest agreement with the ensemble of the picks.
    let c = comparison(&lines);
    let methods = c["methods"].as_array().unwrap();
    let scores: Vec<f64> = methods
        .iter()
        .map(|m| m["score"].as_f64().unwrap())
        .collect();
    assert_eq!(
        c["selected"]["method"],
        methods[argmax(&scores)]["method"],
        "{c}"
    );
    // --out holds the selected epoch's parameters: evaluating it gives that epoch's accuracy.
    let out = dir.path().join("ensv.safetensors");
    let o = dak(&[
        "evaluate",
        "--model",
        out.to_str().unwrap(),
        "--data",
        &tt,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = c["selected"]["target_acc"].as_f64().unwrap();
    assert!(
        (eval["accuracy"].as_f64().unwrap() - want).abs() < 1e-9,
        "{eval} vs {c}"
    );
}

#[test]
fn source_val_holds_out_source_images_and_picks_by_them() {
    let dir = TempDir::new("methods-source-val");
    negative_target_trees(dir.path());
    let lines = run(
        dir.path(),
        "sv",
        &[
            "--method",
            "mcc",
            "--select",
            "source-val",
            "--source-val-split",
            "0.34",
        ],
    );
    let epochs: Vec<_> = lines.iter().filter(|v| v["type"] == "epoch").collect();
    assert_eq!(epochs.len(), 2);
    // 18 source images, 2 of 6 per class held out: 12 train, batches of 4 -> 3 steps.
    assert_eq!(epochs[0]["steps"], 3, "{:?}", epochs[0]);
    let acc: Vec<f64> = epochs
        .iter()
        .map(|e| e["source_val_acc"].as_f64().unwrap())
        .collect();
    let summary = lines.iter().find(|v| v["type"] == "summary").unwrap();
    let best = if acc[1] > acc[0] { 2 } else { 1 };
    assert_eq!(summary["select"], "source-val");
    assert_eq!(summary["selected"]["epoch"], best, "{acc:?} {summary}");
}

#[test]
fn bad_method_validator_and_compare_names() {
    let dir = TempDir::new("methods-bad");
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    class_folders(&dir.path().join("src"));
    let out = p("m.safetensors");
    let names = dak::train::adapt::Method::names().join(", ");
    let accepted = names.as_str();
    refused_with(
        &["adapt", "--method", "cdann", "--out", &out],
        &["--method `cdann`", accepted],
    );
    refused_with(
        &["adapt", "--select", "oracle", "--out", &out],
        &[
            "--select `oracle`",
            "last, entropy, im, snd, source-val, ensv",
        ],
    );
    refused_with(
        &["adapt", "--compare", "dann,,mcc", "--out", &out],
        &["--compare `dann,,mcc`", "empty", accepted],
    );
    refused_with(
        &["adapt", "--compare", "", "--out", &out],
        &["--compare", "empty"],
    );
    refused_with(
        &["adapt", "--compare", "dann,xyz", "--out", &out],
        &["--compare `xyz`", accepted],
    );
    refused_with(
        &[
            "adapt",
            "--source",
            &p("src"),
            "--method",
            "mcc",
            "--out",
            &out,
        ],
        &["--method mcc needs target images"],
    );
}
