//! A run interrupted inside an epoch (Ctrl-C) writes a resume checkpoint of that step, and the
//! resumed run ends with exactly the parameters and epoch means of an uninterrupted run, for
//! `fine-tune` and `adapt` (issue 17). The stop request is process-wide, so these tests have a
//! binary of their own (a stop requested here would interrupt any run beside them).
#[path = "it/common/mod.rs"]
mod common;
use common::*;
use dak::data::{load_mnist_mnistm, Dataset};
use dak::models::classifier::{Classifier, ClassifierSpec};
use dak::models::Dann;
use dak::train::callbacks::Checkpoints;
use dak::train::{interrupt, AdaptConfig, BatchLogs, Callback, FitOptions};
use std::path::Path;

/// Requests a stop after `step` of `epoch` (as Ctrl-C would).
struct StopAt(usize, usize);

impl Callback for StopAt {
    fn on_batch_end(&mut self, s: &BatchLogs) {
        if (s.epoch, s.step) == (self.0, self.1) {
            interrupt::request_stop();
        }
    }
}

fn params_of(params: &dak::autograd::Params) -> Vec<(String, Vec<f32>)> {
    params
        .iter()
        .map(|(_, p)| (p.name.clone(), p.value.to_vec().unwrap()))
        .collect()
}

fn interrupted(result: dak::Result<dak::train::History>) {
    match result {
        Err(dak::Error::Interrupted(msg)) => assert!(msg.contains("epoch 1 after step 2"), "{msg}"),
        Err(e) => panic!("expected an interruption, got {e}"),
        Ok(_) => panic!("expected an interruption, the run finished"),
    }
    interrupt::clear();
}

fn partial_step(ckpt: &Path) -> Option<String> {
    dak::models::expect::read_header(ckpt)
        .unwrap()
        .metadata
        .get("partial.step")
        .cloned()
}

#[test]
fn a_run_interrupted_inside_an_epoch_resumes_to_the_uninterrupted_result() {
    let gpu = gpu();
    let dir = TempDir::new("mid-epoch");

    // fine-tune: 18 images, batches of 8: 3 steps per epoch; stop after step 2 of epoch 1.
    let data = dir.path().join("data");
    class_folders(&data);
    let ds = Dataset::from_dir(&data).unwrap();
    let spec = ClassifierSpec {
        classes: ds.classes().to_vec(),
        input_size: 32,
        hidden: 16,
        seed: 7,
        ..Default::default()
    };
    let opts = FitOptions {
        epochs: 2,
        batch: 8,
        seed: 3,
        cache: false,
        workers: 1,
        ..Default::default()
    };
    let new_model = || {
        let mut m = Classifier::vgg16(&gpu, &spec).unwrap();
        m.freeze("features").unwrap();
        m
    };
    let mut whole = new_model();
    let h_whole = whole.fit(&ds, None, &opts, &mut []).unwrap();

    let out = dir.path().join("ft.safetensors");
    let mut ckpt = Checkpoints::resume_only(&out);
    let mut model = new_model();
    interrupted(model.fit(&ds, None, &opts, &mut [&mut StopAt(1, 2), &mut ckpt]));
    assert_eq!(
        (ckpt.written_resume, ckpt.written_resume_step),
        (Some(0), Some(2))
    );
    assert_eq!(partial_step(&ckpt.resume).as_deref(), Some("2"));

    let resume = FitOptions {
        resume: Some(ckpt.resume.clone()),
        ..opts.clone()
    };
    let mut resumed = new_model();
    let h = resumed.fit(&ds, None, &resume, &mut []).unwrap();
    assert_eq!(h.epochs.len(), 2, "the interrupted epoch and the next");
    for (a, b) in h_whole.epochs.iter().zip(&h.epochs) {
        assert_eq!(a.train_loss, b.train_loss, "epoch {} mean loss", a.epoch);
        assert_eq!(a.train_acc, b.train_acc, "epoch {} accuracy", a.epoch);
    }
    assert_eq!(params_of(&whole.params), params_of(&resumed.params));

    // adapt (DANN, digits): 96 source images, batches of 32: 3 steps per epoch.
    let pair = load_mnist_mnistm().unwrap().limit(96);
    let config = AdaptConfig {
        epochs: 2,
        batch: 32,
        seed: 5,
        score_samples: 16,
        pad: false,
        workers: 1,
        ..Default::default()
    };
    let classes = pair.classes().to_vec();
    let new_dann = || Dann::digits(&gpu, &classes, 9).unwrap();
    let mut whole = new_dann();
    let h_whole = whole.fit(&pair, &config, &mut []).unwrap();

    let out = dir.path().join("dann.safetensors");
    let mut ckpt = Checkpoints::resume_only(&out);
    let mut model = new_dann();
    interrupted(model.fit(&pair, &config, &mut [&mut StopAt(1, 2), &mut ckpt]));
    assert_eq!(
        (ckpt.written_resume, ckpt.written_resume_step),
        (Some(0), Some(2))
    );

    let resume = AdaptConfig {
        resume: Some(ckpt.resume.clone()),
        ..config.clone()
    };
    let mut resumed = new_dann();
    let h = resumed.fit(&pair, &resume, &mut []).unwrap();
    assert_eq!(h.epochs.len(), 2);
    for (a, b) in h_whole.epochs.iter().zip(&h.epochs) {
        assert_eq!(a.train_loss, b.train_loss, "epoch {} label loss", a.epoch);
        assert_eq!(
            a.domain_loss, b.domain_loss,
            "epoch {} domain loss",
            a.epoch
        );
        assert_eq!(
            a.domain_acc, b.domain_acc,
            "epoch {} domain accuracy",
            a.epoch
        );
    }
    assert_eq!(params_of(&whole.params), params_of(&resumed.params));

    // Any --select: the best epoch so far (IM), every epoch's candidates (EnsV) and the
    // epochs logged before the interruption are in the checkpoint, so the resumed run picks
    // the same epoch, restores the same parameters and reports every epoch.
    for select in [dak::train::Select::Im, dak::train::Select::Ensv] {
        let config = AdaptConfig {
            epochs: 3,
            select,
            ..config.clone()
        };
        let mut whole = new_dann();
        let h_whole = whole.fit(&pair, &config, &mut []).unwrap();
        let out = dir.path().join(format!("{}.safetensors", select.name()));
        let mut ckpt = Checkpoints::resume_only(&out);
        let mut model = new_dann();
        match model.fit(&pair, &config, &mut [&mut StopAt(2, 1), &mut ckpt]) {
            Err(dak::Error::Interrupted(_)) => interrupt::clear(),
            other => panic!("expected an interruption, got {:?}", other.map(|h| h.len())),
        }
        let resume = AdaptConfig {
            resume: Some(ckpt.resume.clone()),
            ..config.clone()
        };
        let mut resumed = new_dann();
        let h = resumed.fit(&pair, &resume, &mut []).unwrap();
        let (a, b) = (h_whole.summary.unwrap(), h.summary.unwrap());
        assert_eq!(
            h.epochs.len(),
            3,
            "{}: every epoch is reported",
            select.name()
        );
        assert_eq!(b.epochs_run, 3);
        assert_eq!(a.selected.epoch, b.selected.epoch, "{}", select.name());
        assert_eq!(a.selected.target_acc, b.selected.target_acc);
        assert_eq!(
            a.ensv,
            b.ensv,
            "{}: EnsV scores of every epoch",
            select.name()
        );
        assert_eq!(a.selected_probs, b.selected_probs);
        for (x, y) in h_whole.epochs.iter().zip(&h.epochs) {
            assert_eq!(
                (x.train_loss, x.im),
                (y.train_loss, y.im),
                "epoch {}",
                x.epoch
            );
        }
        assert_eq!(
            params_of(&whole.params),
            params_of(&resumed.params),
            "{}: the selected epoch's parameters",
            select.name()
        );
    }
}
