//! Class-per-folder scanning, splits and bad-input errors.

use crate::common::{pattern, save, write, TempDir};
use dak::data::folder::{check_same_classes, scan_validation_dir};
use dak::data::Dataset;

fn names(ds: &Dataset) -> Vec<String> {
    (0..ds.len())
        .map(|i| {
            ds.path(i)
                .unwrap()
                .strip_prefix(ds.name())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn classes_sorted_hidden_skipped_files_in_keras_order() {
    let t = TempDir::new("folder-order");
    let r = t.path();
    let img = pattern(4, 4, 0);
    for p in [
        "zebra/b.png",
        "zebra/A.JPG",
        "zebra/sub/a.png",
        "zebra/c.Jpeg",
        "apple/2.bmp",
        "apple/10.png",
        "apple/.hidden.png",
        "Mango/x.png",
        ".git/objects.png",
        ".cache/y.png",
    ] {
        save(&r.join(p), &img);
    }
    write(&r.join("zebra/notes.txt"), b"not an image");
    write(&r.join("apple/x.gif"), b"GIF89a"); // extension decides membership; decoding is later
    write(&r.join("apple/thumbs.db"), b"junk");
    write(&r.join("README.md"), b"root files are ignored");

    let ds = Dataset::from_dir(r).unwrap();
    assert_eq!(ds.classes(), ["Mango", "apple", "zebra"]);
    assert_eq!(
        names(&ds),
        [
            "Mango/x.png",
            "apple/10.png",
            "apple/2.bmp",
            "apple/x.gif",
            "zebra/A.JPG",
            "zebra/b.png",
            "zebra/c.Jpeg",
            "zebra/sub/a.png"
        ]
    );
    assert_eq!(ds.labels().unwrap(), [0, 1, 1, 1, 2, 2, 2, 2]);
    assert_eq!(ds.class_counts(), [1, 3, 4]);
}

fn tree_with(counts: &[usize]) -> TempDir {
    let t = TempDir::new("folder-split");
    for (c, &n) in counts.iter().enumerate() {
        for i in 0..n {
            save(
                &t.path().join(format!("class{c}/{i:03}.png")),
                &pattern(2, 2, c as u8),
            );
        }
    }
    t
}

#[test]
fn split_is_deterministic_disjoint_stratified_and_ordered() {
    let t = tree_with(&[20, 10, 3, 1]);
    let ds = Dataset::from_dir(t.path()).unwrap();
    let (train, val) = ds.split(0.2, 7).unwrap();
    let (train2, val2) = ds.split(0.2, 7).unwrap();
    assert_eq!(names(&train), names(&train2));
    assert_eq!(names(&val), names(&val2));

    let (tn, vn) = (names(&train), names(&val));
    assert_eq!(tn.len() + vn.len(), ds.len());
    assert!(
        vn.iter().all(|v| !tn.contains(v)),
        "validation overlaps training"
    );
    // Stratified: round(n * 0.2) per class, but a class always keeps a training image.
    assert_eq!(val.class_counts(), [4, 2, 1, 0]);
    assert_eq!(train.class_counts(), [16, 8, 2, 1]);
    // Both parts keep file order.
    let mut sorted = tn.clone();
    sorted.sort();
    assert_eq!(tn, sorted);

    let (_, val3) = ds.split(0.2, 8).unwrap();
    assert_ne!(names(&val3), vn, "another seed should pick other images");
}

#[test]
fn split_rejects_bad_fractions() {
    let t = tree_with(&[5, 5]);
    let ds = Dataset::from_dir(t.path()).unwrap();
    for f in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let e = ds.split(f, 0).unwrap_err().to_string();
        assert!(e.contains("between 0 and 1"), "{e}");
    }
    let e = ds.split(0.01, 0).unwrap_err().to_string();
    assert!(e.contains("leaves no validation images"), "{e}");
}

#[test]
fn separate_validation_dir_must_have_same_classes() {
    let train = tree_with(&[2, 2]);
    let val = tree_with(&[1, 1]);
    let ds = Dataset::from_dir(train.path()).unwrap();
    assert_eq!(scan_validation_dir(val.path(), &ds).unwrap().len(), 2);

    let other = tree_with(&[1, 1, 1]);
    let e = scan_validation_dir(other.path(), &ds)
        .unwrap_err()
        .to_string();
    assert!(e.contains("only in") && e.contains("class2"), "{e}");

    let a = ["cat".to_string(), "dog".to_string()];
    let b = ["cat".to_string(), "fox".to_string()];
    let e = check_same_classes("train", &a, "val", &b)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("only in train: dog") && e.contains("only in val: fox"),
        "{e}"
    );
}

#[test]
fn missing_dir_file_no_classes_and_empty_class_are_clear_errors() {
    let t = TempDir::new("folder-bad");
    let missing = t.path().join("nope");
    let e = Dataset::from_dir(&missing).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("nope") && e.to_string().contains("not found"),
        "{e}"
    );

    let file = t.path().join("file.png");
    save(&file, &pattern(2, 2, 0));
    let e = Dataset::from_dir(&file).unwrap_err().to_string();
    assert!(e.contains("is a file"), "{e}");

    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = Dataset::from_dir(&empty).unwrap_err().to_string();
    assert!(e.contains("no class sub-folders"), "{e}");

    let loose = t.path().join("loose");
    save(&loose.join("a.png"), &pattern(2, 2, 0));
    save(&loose.join("b.jpg"), &pattern(2, 2, 0));
    let e = Dataset::from_dir(&loose).unwrap_err().to_string();
    assert!(
        e.contains("found 2 images directly") && e.contains("<class>"),
        "{e}"
    );

    let holes = t.path().join("holes");
    save(&holes.join("cat/1.png"), &pattern(2, 2, 0));
    std::fs::create_dir_all(holes.join("dog")).unwrap();
    write(&holes.join("emu/readme.txt"), b"no images here");
    let e = Dataset::from_dir(&holes).unwrap_err().to_string();
    assert!(
        e.contains("dog") && e.contains("no images") && e.contains("emu"),
        "{e}"
    );
    assert!(!e.contains('\n'), "errors are one line: {e}");
}

#[test]
fn unlabelled_directory_takes_images_at_any_depth() {
    let t = TempDir::new("folder-unlabelled");
    for p in ["b.png", "a.jpg", "x/c.png", "x/y/d.bmp", ".hidden/e.png"] {
        save(&t.path().join(p), &pattern(3, 3, 0));
    }
    write(&t.path().join("x/notes.txt"), b"ignored");
    let ds = Dataset::from_dir_unlabelled(t.path()).unwrap();
    assert_eq!(names(&ds), ["a.jpg", "b.png", "x/c.png", "x/y/d.bmp"]);
    assert!(ds.labels().is_none() && ds.classes().is_empty());
    let (train, val) = ds.split(0.5, 1).unwrap();
    assert_eq!((train.len(), val.len()), (2, 2));

    let empty = TempDir::new("folder-unlabelled-empty");
    let e = Dataset::from_dir_unlabelled(empty.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no images found"), "{e}");
}

#[test]
fn symlink_loops_and_second_links_are_read_once() {
    use std::os::unix::fs::symlink;
    let t = TempDir::new("folder-links");
    let (data, store) = (t.path().join("data"), t.path().join("store"));
    for p in ["cat/a.png", "cat/sub/b.png", "dog/c.png"] {
        save(&data.join(p), &pattern(3, 3, 0));
    }
    save(&store.join("d.png"), &pattern(3, 3, 1));
    // A loop back to the class folder, a link to the dataset's root, two links to one folder
    // outside, and a file linked twice: every image is read once per class.
    symlink(data.join("cat"), data.join("cat/sub/loop")).unwrap();
    symlink(&data, data.join("dog/up")).unwrap();
    symlink(&store, data.join("dog/s1")).unwrap();
    symlink(&store, data.join("dog/s2")).unwrap();
    symlink(data.join("dog/c.png"), data.join("dog/c2.png")).unwrap();

    let ds = Dataset::from_dir(&data).unwrap();
    assert_eq!(ds.classes(), ["cat", "dog"]);
    assert_eq!(
        names(&ds),
        ["cat/a.png", "cat/sub/b.png", "dog/c.png", "dog/s1/d.png"]
    );

    // The same rule for an unlabelled folder, and `data inspect` names the links it skipped.
    let ds = Dataset::from_dir_unlabelled(data.join("cat")).unwrap();
    assert_eq!(names(&ds), ["a.png", "sub/b.png"]);
    let rep = dak::data::inspect::inspect_dir(&data, 1).unwrap();
    assert_eq!(rep.total_images, 4);
    let w = rep.warnings.join(" | ");
    for link in ["cat/sub/loop", "dog/up", "dog/s2"] {
        assert!(
            w.contains(&format!("{link}: symlink not followed")),
            "{link}: {w}"
        );
    }
}

#[test]
fn webp_and_tiff_images_are_read() {
    let t = TempDir::new("folder-webp-tiff");
    let r = t.path();
    let img = pattern(5, 4, 2);
    for p in ["a/x.webp", "a/y.tif", "b/z.TIFF", "b/w.png"] {
        save(&r.join(p), &img);
    }
    let ds = Dataset::from_dir(r).unwrap();
    assert_eq!(ds.class_counts(), [2, 2]);
    for i in 0..ds.len() {
        let got = ds.image(i).unwrap();
        assert_eq!(got.as_raw(), img.as_raw(), "{:?}", ds.path(i));
    }
}

#[test]
fn a_target_folder_is_read_by_one_rule_in_adapt_and_inspect() {
    use dak::data::inspect::inspect_target;
    use dak::data::AdaptData;
    let t = TempDir::new("folder-target");
    let source = t.path().join("source");
    for p in ["cat/a.png", "dog/b.png"] {
        save(&source.join(p), &pattern(3, 3, 0));
    }
    let classes = ["cat".to_string(), "dog".to_string()];
    let target = |name: &str, files: &[&str]| {
        let dir = t.path().join(name);
        for f in files {
            save(&dir.join(f), &pattern(3, 3, 1));
        }
        dir
    };
    // Flat, nested in non-class folders (cameras), labelled, and ambiguous.
    let flat = target("flat", &["x.png", "y.png"]);
    let nested = target("nested", &["cam1/x.png", "cam2/deep/y.png", "z.png"]);
    let labelled = target("labelled", &["cat/x.png", "dog/y.png"]);
    let mixed = target("mixed", &["cat/x.png", "cam1/y.png"]);
    let missing = target("missing", &["cat/x.png"]);

    let read = |dir: &std::path::Path| AdaptData::from_dirs(&source, Some(dir), None, None);
    for (dir, n) in [(&flat, 2), (&nested, 3)] {
        let d = read(dir).unwrap();
        let tgt = d.target.as_ref().unwrap();
        assert_eq!(tgt.len(), n, "{dir:?}");
        assert!(tgt.labels().is_none() && d.target_eval.is_none(), "{dir:?}");
        let rep = inspect_target(dir, &classes, 1).unwrap();
        assert_eq!(
            (rep.reading.as_str(), rep.total_images),
            ("unlabelled target", n)
        );
        assert!(rep.blocking.is_empty(), "{:?}", rep.blocking);
        assert!(
            rep.to_text().contains("ok: ready for adaptation"),
            "{}",
            rep.to_text()
        );
    }
    let d = read(&labelled).unwrap();
    assert_eq!(d.target_eval.as_ref().unwrap().class_counts(), [1, 1]);
    let rep = inspect_target(&labelled, &classes, 1).unwrap();
    assert_eq!(
        (rep.reading.as_str(), rep.classes.len()),
        ("labelled target", 2)
    );
    for (dir, want) in [
        (&mixed, "cam1 are not"),
        (&missing, "classes dog have no folder"),
    ] {
        let e = read(dir).unwrap_err().to_string();
        assert!(
            e.contains("sub-folders cat are source classes") && e.contains(want),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = inspect_target(dir, &classes, 1).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    // As a training set the flat folder is still refused (no classes).
    assert!(!dak::data::inspect::inspect_dir(&flat, 1)
        .unwrap()
        .blocking
        .is_empty());
}

#[test]
fn a_folder_of_splits_is_refused_with_the_split_to_point_at() {
    use dak::data::inspect::{inspect_dir, inspect_target};
    use dak::data::AdaptData;
    let t = TempDir::new("folder-splits");
    let root = t.path().join("digits");
    for p in [
        "train/0/a.png",
        "train/1/b.png",
        "test/0/c.png",
        "test/1/d.png",
    ] {
        save(&root.join(p), &pattern(3, 3, 0));
    }
    let want = |e: &str| {
        assert!(
            e.contains("(test, train) are dataset splits holding class folders (0, 1)")
                && e.contains(&root.join("train").display().to_string()),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    };
    // As a training set, as a labelled or unlabelled adaptation target, and in `inspect`.
    let e = Dataset::from_dir(&root).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    want(&e.to_string());
    let source = t.path().join("source");
    for p in ["0/a.png", "1/b.png"] {
        save(&source.join(p), &pattern(3, 3, 1));
    }
    want(
        &AdaptData::from_dirs(&source, Some(&root), None, None)
            .unwrap_err()
            .to_string(),
    );
    let classes = ["0".to_string(), "1".to_string()];
    want(&inspect_target(&root, &classes, 1).unwrap_err().to_string());
    let rep = inspect_dir(&root, 1).unwrap();
    assert_eq!(rep.blocking.len(), 1, "{:?}", rep.blocking);
    want(&rep.blocking[0]);
    // One split alone (Train/ holding the classes) is pointed at too.
    let one = t.path().join("one");
    for p in ["Train/cat/a.png", "Train/dog/b.png"] {
        save(&one.join(p), &pattern(3, 3, 0));
    }
    let e = Dataset::from_dir(&one).unwrap_err().to_string();
    assert!(
        e.contains("point at one split, e.g.") && e.contains("Train"),
        "{e}"
    );

    // Near misses load as classes: split names holding images directly, one sub-folder each,
    // or a class that is not a split's name.
    for (name, files) in [
        ("loose", &["train/a.png", "train/x/b.png", "test/c.png"][..]),
        ("single", &["train/x/a.png", "test/x/b.png"][..]),
        (
            "named",
            &[
                "train/0/a.png",
                "train/1/b.png",
                "cat/0/c.png",
                "cat/1/d.png",
            ][..],
        ),
    ] {
        let dir = t.path().join(name);
        for f in files {
            save(&dir.join(f), &pattern(3, 3, 0));
        }
        let d = Dataset::from_dir(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.classes().len(), 2, "{name}");
        assert!(inspect_dir(&dir, 1).unwrap().blocking.is_empty(), "{name}");
    }
}
