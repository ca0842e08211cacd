//! No command destroys a file the user owns (issue 34, items 1-2): two outputs of one command
//! that resolve to the same file (`./` and symlinks included, and the files an output implies:
//! `--compare` siblings, best models, resume checkpoints), or an output that is one of the
//! command's inputs, are refused before any work with one line naming both flags, and the file
//! is left as it was.
use crate::common::*;
use std::path::Path;

/// `dak args` is refused (exit 2, one line holding every needle) and `keep` still holds `bytes`.
fn refused(args: &[&str], needles: &[&str], keep: &Path, bytes: &[u8]) {
    refused_with(args, needles);
    assert_eq!(
        std::fs::read(keep).unwrap(),
        bytes,
        "{args:?} changed {keep:?}"
    );
}

#[test]
fn outputs_that_resolve_to_an_input_or_to_each_other_are_refused() {
    let dir = TempDir::new("file-safety");
    let root = dir.path();
    let s = |p: &str| root.join(p).to_str().unwrap().to_string();
    let model = root.join("ft.safetensors");
    let sentinel = b"the user's trained model".to_vec();
    std::fs::write(&model, &sentinel).unwrap();
    let dotted = format!("{}/./ft.safetensors", root.display());
    #[cfg(unix)]
    std::os::unix::fs::symlink(&model, root.join("link.safetensors")).unwrap();

    // export onto its own input, spelled three ways.
    for onnx in [s("ft.safetensors"), dotted.clone()] {
        refused(
            &["export", "--model", &s("ft.safetensors"), "--onnx", &onnx],
            &["--onnx", "--model"],
            &model,
            &sentinel,
        );
    }
    #[cfg(unix)]
    refused(
        &[
            "export",
            "--model",
            &s("ft.safetensors"),
            "--safetensors",
            &s("link.safetensors"),
        ],
        &["--safetensors", "--model"],
        &model,
        &sentinel,
    );
    refused(
        &[
            "export",
            "--model",
            &s("ft.safetensors"),
            "--onnx",
            &s("out.bin"),
            "--safetensors",
            &s("out.bin"),
        ],
        &["--onnx and --safetensors"],
        &model,
        &sentinel,
    );

    // adapt: the model file becoming a plot or a metrics file; a --compare sibling.
    for flag in ["--plot", "--metrics"] {
        refused(
            &["adapt", "--out", &s("ft.safetensors"), flag, &dotted],
            &["--out and", flag],
            &model,
            &sentinel,
        );
    }
    refused(
        &[
            "adapt",
            "--compare",
            "dann",
            "--out",
            &s("m.safetensors"),
            "--metrics",
            &s("m-dann.safetensors"),
        ],
        &["dann model", "--metrics"],
        &model,
        &sentinel,
    );

    // fine-tune: an output onto the weights it reads, or onto its own best model.
    refused(
        &[
            "fine-tune",
            "--train",
            &s("train"),
            "--weights",
            &s("ft.safetensors"),
            "--out",
            &s("ft.safetensors"),
        ],
        &["--out", "--weights"],
        &model,
        &sentinel,
    );
    refused(
        &[
            "fine-tune",
            "--train",
            &s("train"),
            "--weights",
            "none",
            "--out",
            &s("f.safetensors"),
            "--metrics",
            &s("f.best.safetensors"),
        ],
        &["best model", "--metrics"],
        &model,
        &sentinel,
    );

    // select: --out onto one of the candidates it ranks.
    let runs = root.join("runs");
    std::fs::create_dir_all(runs.join("dann")).unwrap();
    let candidate = runs.join("dann/epoch-001.safetensors");
    std::fs::write(&candidate, &sentinel).unwrap();
    let index = serde_json::json!({
        "type": "candidates", "version": 1,
        "data": {"source": null, "target": null, "target_test": null, "source_test": null, "limit": null},
        "skip_bad": false, "seed": 0, "score_samples": 10, "source_val_split": null,
        "command": "dak adapt", "runs": [{"method": "dann", "candidates": [{"epoch": 1, "file": "dann/epoch-001.safetensors"}]}],
    });
    std::fs::write(runs.join("candidates.json"), index.to_string()).unwrap();
    refused(
        &["select", &s("runs"), "--out", candidate.to_str().unwrap()],
        &["--out", "candidates folder"],
        &candidate,
        &sentinel,
    );
}

/// Item 17 and 6: resume checkpoints at epoch ends are throttled (the first and the last
/// epoch always write one), and when the last one cannot be written the complete run goes on
/// to write its model instead of failing.
#[test]
fn resume_checkpoints_are_throttled_and_the_last_one_never_costs_the_model() {
    use dak::models::Model;
    use dak::train::callbacks::Checkpoints;
    use dak::train::checkpoint::RunId;
    use dak::train::{Callback, EpochLogs, TrainState};
    let gpu = gpu();
    let classes: Vec<String> = ["a", "b"].map(String::from).to_vec();
    let model = dak::models::Dann::digits(&gpu, &classes, 1).unwrap();
    let optimizer = dak::optim::Optimizer::new(dak::optim::Rule::sgd_momentum());
    let info = model.info();
    let run = RunId {
        method: "dann".into(),
        images: 10,
    };
    let state = TrainState {
        params: &model.params,
        optimizer: &optimizer,
        info: &info,
        run: &run,
        record: None,
    };
    let epoch = |e: usize| EpochLogs {
        method: "dann".into(),
        epoch: e,
        epochs: 3,
        ..Default::default()
    };
    let dir = TempDir::new("ckpt-throttle");
    let mut ckpt = Checkpoints::resume_only(dir.path().join("m.safetensors"))
        .with_resume_every(std::time::Duration::from_secs(3600));
    let mut written = Vec::new();
    for e in 1..=3 {
        ckpt.on_epoch_end(&epoch(e), &state).unwrap();
        written.push(ckpt.written_resume);
    }
    assert_eq!(written, [Some(1), Some(1), Some(3)]);
    assert!(ckpt.resume.exists());
    // With 0 s between them, every epoch writes one.
    let mut every = Checkpoints::resume_only(dir.path().join("e.safetensors"))
        .with_resume_every(std::time::Duration::ZERO);
    every.on_epoch_end(&epoch(1), &state).unwrap();
    every.on_epoch_end(&epoch(2), &state).unwrap();
    assert_eq!(every.written_resume, Some(2));

    // A resume checkpoint that cannot be written stops the run mid-way, not at its end.
    let gone = dir.path().join("no-such-dir/m.safetensors");
    let mut broken = Checkpoints::resume_only(&gone);
    assert!(broken.on_epoch_end(&epoch(1), &state).is_err());
    assert!(broken.on_epoch_end(&epoch(3), &state).is_ok());
    assert_eq!(broken.written_resume, None);

    // Issue 34 item 5: a resumed run knows the best validation accuracy before the
    // interruption, so a worse epoch after it does not replace the best model file; early
    // stopping continues its patience count.
    let scored = |e: usize, acc: f64| EpochLogs {
        val_acc: Some(acc),
        ..epoch(e)
    };
    let mut resumed = Checkpoints::new(dir.path().join("ft.safetensors"));
    resumed.on_resume(&[scored(1, 0.9)]);
    resumed.on_epoch_end(&scored(2, 0.5), &state).unwrap();
    assert_eq!(
        resumed.written_best, None,
        "0.5 is not better than the 0.9 before"
    );
    resumed.on_epoch_end(&scored(3, 0.95), &state).unwrap();
    assert_eq!(resumed.written_best, Some((3, 0.95)));
    let mut early = dak::train::callbacks::EarlyStopping::new(2);
    early.on_resume(&[scored(1, 0.9), scored(2, 0.5)]);
    let stop = early.on_epoch_end(&scored(3, 0.6), &state).unwrap();
    assert_eq!(
        stop,
        dak::train::Control::Stop,
        "two epochs without a better one"
    );
}
