//! One JSON convention across commands (docs/json.md): `--json` always prints one JSON
//! document on stdout (human lines, if any, go to stderr); every record names its kind in
//! `type`; lists of facts are objects, not positional arrays; dak 0.1's positional keys stay
//! readable for one release; `--save FILE` writes the document (`--json FILE`, the old form,
//! still does, with a note).
use crate::common::*;
use serde_json::Value;

fn stdout_json(args: &[&str]) -> Value {
    let o = dak(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

#[test]
fn predict_and_evaluate_print_typed_objects_and_keep_the_old_keys() {
    let dir = TempDir::new("json-predict");
    let data = dir.path().join("data");
    class_folders(&data);
    let gpu = gpu();
    let classes: Vec<String> = ["cat", "dog", "owl"].map(String::from).to_vec();
    let model = dir.path().join("m.safetensors");
    dak::models::Dann::digits(&gpu, &classes, 5)
        .unwrap()
        .save(&model)
        .unwrap();
    let m = model.to_str().unwrap();
    let img = data.join("owl/0.png");
    let preds = stdout_json(&[
        "predict",
        "--model",
        m,
        img.to_str().unwrap(),
        "--top-k",
        "2",
        "--json",
    ]);
    let p = &preds[0];
    assert_eq!(p["type"], "prediction", "{preds}");
    assert_eq!(p["file"], img.to_str().unwrap());
    let top_k = p["top_k"].as_array().unwrap();
    assert_eq!(top_k.len(), 2);
    for (new, old) in top_k.iter().zip(p["top"].as_array().unwrap()) {
        assert_eq!(new["class"], old[0], "top_k and the old top agree");
        assert_eq!(new["probability"], old[1]);
    }

    let d = data.to_str().unwrap();
    let report = stdout_json(&["evaluate", "--model", m, "--data", d, "--json"]);
    assert_eq!(report["type"], "evaluation", "{report}");
    assert_eq!(report["images"], 18);
    assert_eq!(report["model"], m);
    let per_class = report["class_accuracy"].as_array().unwrap();
    assert_eq!(per_class.len(), 3);
    for (row, old) in per_class
        .iter()
        .zip(report["per_class"].as_array().unwrap())
    {
        assert_eq!(row["class"], old[0]);
        assert_eq!(row["accuracy"], old[1]);
        assert_eq!(row["images"], old[2]);
        assert_eq!(row["images"], 6);
    }
    assert_eq!(report["confusion"].as_array().unwrap().len(), 3);
}

#[test]
fn every_json_document_names_its_type() {
    let dir = TempDir::new("json-types");
    let data = dir.path().join("data");
    class_folders(&data);
    let devices = stdout_json(&["devices", "--json"]);
    assert_eq!(devices["type"], "devices");
    let inspect = stdout_json(&["data", "inspect", data.to_str().unwrap(), "--json"]);
    assert_eq!(inspect["type"], "dataset", "{inspect}");
    let kernels = stdout_json(&["kernels", "list", "--json"]);
    assert!(kernels
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["type"] == "kernel"));
}

/// `--json` means the same in `bench` and `kernels check` as everywhere: the document on
/// stdout, the tables on stderr; `--save FILE` writes it; `--json FILE` (dak 0.1) still writes
/// FILE, with a note.
#[test]
fn bench_and_kernel_checks_print_json_on_stdout_and_save_with_save() {
    let dir = TempDir::new("json-bench");
    let check = stdout_json(&["kernels", "check", "matmul.naive", "--json"]);
    assert_eq!(check["type"], "kernel_check", "{check}");
    assert_eq!(check["reports"][0]["id"], "matmul.naive");

    let bench = [
        "bench",
        "matmul",
        "--shapes",
        "tiny",
        "--variant",
        "matmul.naive",
        "--repeat",
        "1",
        "--no-peak",
    ];
    let mut args = bench.to_vec();
    args.push("--json");
    let doc = stdout_json(&args);
    assert_eq!(doc["type"], "bench", "{doc}");
    assert!(!doc["rows"].as_array().unwrap().is_empty());

    let saved = dir.path().join("saved.json");
    let mut args = bench.to_vec();
    args.extend(["--save", saved.to_str().unwrap()]);
    let o = dak(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("GFLOP/s"),
        "the table stays on stdout"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(file["type"], "bench");

    let legacy = dir.path().join("legacy.json");
    let mut args = bench.to_vec();
    args.extend(["--json", legacy.to_str().unwrap()]);
    let o = dak(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("--json FILE is now --save FILE"), "{err}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&legacy).unwrap()).unwrap();
    assert_eq!(file["type"], "bench");
}
