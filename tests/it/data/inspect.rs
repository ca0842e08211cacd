//! `data inspect` reports and the `bench data` function.

use crate::common::{pattern, save, write, TempDir};
use dak::data::bench::{bench_data, BenchDataOptions};
use dak::data::inspect::inspect_dir;

#[test]
fn inspect_reports_classes_sizes_colours_and_unreadable_files() {
    let t = TempDir::new("inspect");
    let r = t.path();
    for i in 0..3 {
        save(&r.join(format!("cat/{i}.jpg")), &pattern(40, 30, i));
    }
    save(&r.join("dog/a.png"), &pattern(20, 20, 1));
    image::GrayImage::new(40, 30)
        .save(r.join("dog/gray.png"))
        .unwrap();
    write(&r.join("dog/bad.jpg"), b"\xff\xd8\xff\xe0 not really");
    write(&r.join("dog/notes.txt"), b"ignored");
    std::fs::create_dir_all(r.join("emu")).unwrap();
    save(&r.join("stray.png"), &pattern(2, 2, 0));

    let rep = inspect_dir(r, 2).unwrap();
    let names: Vec<&str> = rep.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cat", "dog", "emu"]);
    assert_eq!(
        rep.classes.iter().map(|c| c.images).collect::<Vec<_>>(),
        [3, 3, 0]
    );
    assert_eq!(rep.classes[1].unreadable, 1);
    assert_eq!(rep.total_images, 6);
    assert_eq!(rep.unreadable.len(), 1);
    assert!(rep.unreadable[0].path.ends_with("dog/bad.jpg"));
    assert_eq!(
        (rep.sizes[0].width, rep.sizes[0].height, rep.sizes[0].count),
        (40, 30, 4)
    );
    assert_eq!(rep.color_types.get("l8"), Some(&1));
    assert_eq!(rep.color_types.get("rgb8"), Some(&4));
    assert_eq!((rep.ignored_files, rep.loose_images), (1, 1));
    let w = rep.warnings.join(" | ");
    assert!(
        w.contains("'emu' has no images")
            && w.contains("1 unreadable")
            && w.contains("outside any class"),
        "{w}"
    );

    let text = rep.to_text();
    assert!(
        text.contains("3 classes, 6 images (5 readable)") && text.contains("40x30 (4)"),
        "{text}"
    );
    // Ignored files are named with their kinds, and the formats dak reads are listed.
    assert!(
        text.contains("ignored files, not read as images (.txt 1): 1 (dog/notes.txt); dak reads")
            && text.contains("webp"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::to_value(&rep).unwrap();
    assert_eq!(json["classes"][1]["unreadable"], 1);
    assert_eq!(json["ignored_extensions"][".txt"], 1);
    assert_eq!(json["total_images"], 6);

    let e = inspect_dir(&r.join("missing"), 1).unwrap_err().to_string();
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn bench_data_runs_all_cases() {
    let res = bench_data(&BenchDataOptions {
        images: 16,
        workers: 2,
        batch_size: 8,
        min_seconds: 0.0,
    })
    .unwrap();
    assert_eq!(res.len(), 4);
    for r in &res {
        assert!(r.images >= 16 && r.images % 16 == 0, "{r:?}");
        assert!(r.images_per_sec > 0.0, "{r:?}");
    }
}
