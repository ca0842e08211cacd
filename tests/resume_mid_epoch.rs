//! A run interrupted inside an epoch (Ctrl-C) writes a resume checkpoint of that step, and the
//! resumed run ends with exactly the parameters and epoch means of an uninterrupted run, for
//! `fine-tune` and `adapt` (issue 17) and source-free `adapt` (SHOT, TENT). The stop request
//! is process-wide, so these tests have a binary of their own (a stop requested here would
//! interrupt any run beside them) and take turns.
#[path = "it/common/mod.rs"]
mod common;
use common::*;
use dak::data::{load_mnist_mnistm, Dataset};
use dak::models::classifier::{Classifier, ClassifierSpec};
use dak::models::Dann;
use dak::train::adapt::{SourceFree, SourceFreeConfig, TargetData};
use dak::train::callbacks::Checkpoints;
use dak::train::{interrupt, AdaptConfig, BatchLogs, Callback, Control, EpochLogs, FitOptions};
use dak::train::{History, Select, TrainState};
use std::path::Path;
use std::sync::Mutex;

/// One test at a time: a stop one requests would interrupt the other's run.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _turn = take_turn();
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

/// Ends the run after epoch `0` (its resume checkpoint written), as a process killed then would.
struct EndAfter(usize);

impl Callback for EndAfter {
    fn on_epoch_end(&mut self, m: &EpochLogs, _: &TrainState) -> dak::Result<Control> {
        Ok(match m.epoch == self.0 {
            true => Control::Stop,
            false => Control::Continue,
        })
    }
}

/// Every epoch's metrics, the selection and the summary's scores of two runs are the same,
/// bit for bit.
fn same_runs(a: &History, b: &History, what: &str) {
    let key = |e: &EpochLogs| {
        (
            (e.epoch, e.steps, e.lr, e.progress),
            (e.train_loss, e.train_acc, e.target_acc),
            (e.entropy, e.im, e.snd, e.mixval, e.ensv, e.ensv_soft),
        )
    };
    let epochs = |h: &History| h.epochs.iter().map(key).collect::<Vec<_>>();
    assert_eq!(epochs(a), epochs(b), "{what}: every epoch's metrics");
    let (x, y) = (a.summary.as_ref().unwrap(), b.summary.as_ref().unwrap());
    assert_eq!(x.epochs_run, y.epochs_run, "{what}");
    assert_eq!(
        x.selected.epoch, y.selected.epoch,
        "{what}: the selected epoch"
    );
    assert_eq!((&x.ensv, &x.ensv_soft), (&y.ensv, &y.ensv_soft), "{what}");
    assert_eq!(x.selected_probs, y.selected_probs, "{what}");
}

/// A source-free run (SHOT's clustered pseudo-labels and TENT's BatchNorm-only steps, on SHOT's
/// digits recipe: a BatchNorm bottleneck with dropout) stopped inside an epoch, after an
/// epoch's last step, or ended after an epoch and resumed from that epoch's checkpoint, ends
/// with the uninterrupted run's parameters (BN running statistics included), epoch metrics
/// and selection, whatever `--select` keeps (`safe`: the --init model; `ensv`: every epoch;
/// `im`: the best so far).
#[test]
fn a_source_free_run_resumes_to_the_uninterrupted_result() {
    use dak::models::dann::{shot_recipe, DannConfig};
    use dak::models::Backbone;
    let _turn = take_turn();
    let gpu = gpu();
    let dir = TempDir::new("source-free-resume");
    // 41 target images in batches of 8: six batches an epoch, the last (one image) no step.
    let pair = load_mnist_mnistm().unwrap().limit(41);
    let data = TargetData {
        target: pair.target.clone().unwrap(),
        target_eval: pair.target_eval.clone(),
    };
    let classes = pair.classes().to_vec();
    let config = shot_recipe(DannConfig::paper(Backbone::Digits, classes.len()), Some(16)).unwrap();
    let new_model = || Dann::new(&gpu, config.clone(), classes.clone(), 3).unwrap();
    let base = |method: SourceFree, epochs: usize, select: Select| SourceFreeConfig {
        epochs,
        batch: 8,
        seed: 4,
        select,
        workers: 1,
        eval_batch: 50,
        score_samples: 16,
        lr: 0.05,
        ..SourceFreeConfig::new(method, Backbone::Digits)
    };
    // (what, config, the stop, the latest epoch the selection must pick: each case restores a
    // candidate recorded before the stop — the --init model, the best epoch so far, an EnsV
    // epoch — so a new seed or kernel that moves the pick needs another case here).
    let cases: [(&str, SourceFreeConfig, &mut dyn Callback, usize); 5] = [
        (
            "shot safe, inside epoch 2",
            base(SourceFree::SHOT, 2, Select::Safe),
            &mut StopAt(2, 4),
            0,
        ),
        (
            "shot snd, inside epoch 3",
            base(SourceFree::SHOT, 3, Select::Snd),
            &mut StopAt(3, 2),
            2,
        ),
        (
            "shot im, after epoch 1's last step",
            base(SourceFree::SHOT, 3, Select::Im),
            &mut StopAt(1, 5),
            3,
        ),
        (
            "shot ensv, ended after epoch 1",
            base(SourceFree::SHOT, 3, Select::Ensv),
            &mut EndAfter(1),
            1,
        ),
        (
            "tent safe, inside epoch 1",
            base(SourceFree::TENT, 2, Select::Safe),
            &mut StopAt(1, 2),
            2,
        ),
    ];
    for (i, (what, config, stop, pick)) in cases.into_iter().enumerate() {
        let mut whole = new_model();
        let h_whole = whole.adapt_source_free(&data, &config, &mut []).unwrap();

        let out = dir.path().join(format!("{i}.safetensors"));
        let mut ckpt = Checkpoints::resume_only(&out).with_resume_every(std::time::Duration::ZERO);
        let mut model = new_model();
        match model.adapt_source_free(&data, &config, &mut [&mut ckpt, stop]) {
            Err(dak::Error::Interrupted(_)) => interrupt::clear(),
            Ok(h) => assert_eq!(h.epochs.len(), 2, "{what}: epochs 0 and 1, then the end"),
            Err(e) => panic!("{what}: {e}"),
        }
        assert!(
            ckpt.written_resume.is_some(),
            "{what}: no resume checkpoint"
        );
        let resume = SourceFreeConfig {
            resume: Some(ckpt.resume.clone()),
            ..config.clone()
        };
        let mut resumed = new_model();
        let h = resumed.adapt_source_free(&data, &resume, &mut []).unwrap();
        same_runs(&h_whole, &h, what);
        let selected = h.summary.as_ref().unwrap().selected.epoch;
        assert!(
            selected <= pick,
            "{what}: epoch {selected} selected, the case needs one up to {pick}"
        );
        assert_eq!(
            params_of(&whole.params),
            params_of(&resumed.params),
            "{what}: parameters"
        );
        if i == 0 {
            // The checkpoint holds the selection state of its own validator only.
            let other = SourceFreeConfig {
                select: Select::Last,
                ..resume.clone()
            };
            let err = new_model()
                .adapt_source_free(&data, &other, &mut [])
                .unwrap_err();
            assert!(err.to_string().contains("--select safe"), "{err}");
        }
    }
}
