//! Office-31 layout validation on tiny fake trees.

use std::path::Path;

use crate::common::{pattern, save, TempDir};
use dak::data::office31::{count_note, load_domain, load_pair, NUM_CLASSES};

const CLASSES: [&str; 31] = [
    "back_pack",
    "bike",
    "bike_helmet",
    "bookcase",
    "bottle",
    "calculator",
    "desk_chair",
    "desk_lamp",
    "desktop_computer",
    "file_cabinet",
    "headphones",
    "keyboard",
    "laptop_computer",
    "letter_tray",
    "mobile_phone",
    "monitor",
    "mouse",
    "mug",
    "paper_notebook",
    "pen",
    "phone",
    "printer",
    "projector",
    "punchers",
    "ring_binder",
    "ruler",
    "scissors",
    "speaker",
    "stapler",
    "tape_dispenser",
    "trash_can",
];

/// `dir/<class>/frame_000{1,2}.jpg` for the given classes.
fn classes_in(dir: &Path, classes: &[&str]) {
    for c in classes {
        for i in 1..=2 {
            save(
                &dir.join(c).join(format!("frame_{i:04}.jpg")),
                &pattern(6, 6, i),
            );
        }
    }
}

#[test]
fn good_layout_loads_from_domain_or_images_folder() {
    let t = TempDir::new("office-good");
    classes_in(&t.path().join("amazon/images"), &CLASSES);
    classes_in(&t.path().join("webcam/images"), &CLASSES);
    for p in [t.path().join("amazon"), t.path().join("amazon/images")] {
        let ds = load_domain(&p).unwrap();
        assert_eq!(ds.classes().len(), NUM_CLASSES);
        assert_eq!(ds.classes()[0], "back_pack");
        assert_eq!(ds.len(), 62);
        assert_eq!(ds.name(), "amazon");
        let note = count_note(&ds).unwrap();
        assert!(
            note.contains("62 images") && note.contains("2817"),
            "{note}"
        );
    }
    let (s, w) = load_pair(&t.path().join("amazon"), &t.path().join("webcam/images")).unwrap();
    assert_eq!(s.classes(), w.classes());
}

#[test]
fn missing_images_level_says_what_was_found() {
    let t = TempDir::new("office-flat");
    classes_in(&t.path().join("dslr"), &CLASSES);
    let e = load_domain(&t.path().join("dslr")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let m = e.to_string();
    assert!(
        m.contains("missing images/ level") && m.contains("31 folders") && m.contains("back_pack"),
        "{m}"
    );
}

#[test]
fn root_instead_of_domain_is_explained() {
    let t = TempDir::new("office-root");
    classes_in(&t.path().join("amazon/images"), &CLASSES[..2]);
    classes_in(&t.path().join("dslr/images"), &CLASSES[..2]);
    let m = load_domain(t.path()).unwrap_err().to_string();
    assert!(
        m.contains("Office-31 root") && m.contains("amazon, dslr"),
        "{m}"
    );
}

#[test]
fn wrong_class_count_is_an_error() {
    let t = TempDir::new("office-count");
    classes_in(&t.path().join("webcam/images"), &CLASSES[..30]);
    let m = load_domain(&t.path().join("webcam"))
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("found 30 class folders") && m.contains("has 31"),
        "{m}"
    );

    // One level too many: images/images/<class>.
    classes_in(&t.path().join("dslr/images/images"), &CLASSES);
    let m = load_domain(&t.path().join("dslr")).unwrap_err().to_string();
    assert!(
        m.contains("found 1 class folders (images)") && m.contains("one level too many"),
        "{m}"
    );

    let m = load_domain(&t.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(m.contains("nowhere") && m.contains("not found"), "{m}");
}

#[test]
fn differing_class_lists_are_an_error() {
    let t = TempDir::new("office-diff");
    classes_in(&t.path().join("amazon/images"), &CLASSES);
    let mut other: Vec<&str> = CLASSES.to_vec();
    other[30] = "waste_basket";
    classes_in(&t.path().join("webcam/images"), &other);
    let m = load_pair(&t.path().join("amazon"), &t.path().join("webcam"))
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("only in source") && m.contains("trash_can"),
        "{m}"
    );
    assert!(
        m.contains("only in target") && m.contains("waste_basket"),
        "{m}"
    );
}

#[test]
fn empty_class_folder_in_a_domain_is_an_error() {
    let t = TempDir::new("office-empty");
    classes_in(&t.path().join("amazon/images"), &CLASSES[..30]);
    std::fs::create_dir_all(t.path().join("amazon/images/trash_can")).unwrap();
    let m = load_domain(&t.path().join("amazon"))
        .unwrap_err()
        .to_string();
    assert!(m.contains("trash_can") && m.contains("no images"), "{m}");
}
