//! Prefetching loaders: order, determinism across thread counts, domain batches, bad files.

use std::collections::BTreeSet;

use crate::common::{pattern, save, write, TempDir};
use dak::data::{
    Dataset, DomainLoader, DomainLoaderOptions, Loader, LoaderOptions, Preprocess, Transform,
};
use image::RgbImage;

/// In-memory dataset whose image `i` is a flat colour encoding `i`, with `classes` labels.
fn numbered(n: usize, classes: usize) -> Dataset {
    let names = (0..classes).map(|c| format!("c{c}")).collect();
    let imgs = (0..n)
        .map(|i| RgbImage::from_pixel(4, 4, image::Rgb([i as u8, (i / 256) as u8, 7])))
        .collect();
    let labels = (0..n).map(|i| (i % classes) as u32).collect();
    Dataset::from_images("numbered", names, imgs, Some(labels)).unwrap()
}

fn unit(size: u32) -> Transform {
    Transform::eval(size, size).with_preprocess(Preprocess::Unit)
}

#[test]
fn epoch_visits_every_image_once_in_a_seeded_order() {
    let ds = numbered(103, 5);
    let opts = LoaderOptions {
        batch_size: 10,
        seed: 3,
        workers: 3,
        ..Default::default()
    };
    let loader = Loader::new(ds, unit(4), opts).unwrap();
    assert_eq!(loader.batches_per_epoch(), 11);
    let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 11);
    assert_eq!(batches.last().unwrap().len(), 3);
    let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>().len(), 103);
    assert_ne!(seen, (0..103).collect::<Vec<_>>(), "shuffled");
    for b in &batches {
        assert_eq!(b.shape(), [b.len(), 3, 4, 4]);
        assert_eq!(b.images.len(), b.len() * 48);
        for (k, &i) in b.indices.iter().enumerate() {
            assert_eq!(b.labels[k], (i % 5) as u32);
            // Red channel of image k encodes its index.
            assert!((b.images[k * 48] - (i % 256) as f32 / 255.0).abs() < 1e-6);
        }
    }
    let again: Vec<usize> = loader.epoch(0).flat_map(|b| b.unwrap().indices).collect();
    assert_eq!(seen, again);
    let next: Vec<usize> = loader.epoch(1).flat_map(|b| b.unwrap().indices).collect();
    assert_ne!(seen, next, "each epoch reshuffles");
}

#[test]
fn same_seed_same_batches_whatever_the_thread_count() {
    let ds = numbered(64, 4);
    let tf = Transform::train(4, 4).with_shift(1);
    let run = |workers, prefetch| {
        let opts = LoaderOptions {
            batch_size: 8,
            seed: 11,
            workers,
            prefetch,
            ..Default::default()
        };
        let loader = Loader::new(ds.clone(), tf.clone(), opts).unwrap();
        loader.epoch(2).map(|b| b.unwrap()).collect::<Vec<_>>()
    };
    let one = run(1, 1);
    assert_eq!(one, run(4, 3));
    assert_eq!(one, run(2, 1));
}

#[test]
fn no_shuffle_and_drop_last() {
    let ds = numbered(25, 2);
    let opts = LoaderOptions {
        batch_size: 10,
        shuffle: false,
        drop_last: true,
        workers: 2,
        ..Default::default()
    };
    let loader = Loader::new(ds.clone(), unit(4), opts.clone()).unwrap();
    let idx: Vec<Vec<usize>> = loader.epoch(0).map(|b| b.unwrap().indices).collect();
    assert_eq!(idx, vec![(0..10).collect::<Vec<_>>(), (10..20).collect()]);
    let e = Loader::new(
        ds,
        unit(4),
        LoaderOptions {
            batch_size: 30,
            ..opts
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("fewer than one batch"), "{e}");
}

#[test]
fn domain_batches_are_half_source_half_target_and_reshuffle() {
    let source = numbered(10, 2);
    let target = numbered(3, 2).without_labels();
    let opts = DomainLoaderOptions {
        batch_size_per_domain: 4,
        seed: 9,
        workers: 2,
        ..Default::default()
    };
    let loader = DomainLoader::new(source.clone(), target.clone(), unit(4), opts.clone()).unwrap();
    assert_eq!(loader.steps_per_source_pass(), 3);
    let steps: Vec<_> = loader.stream(0).take(15).map(|b| b.unwrap()).collect();
    for b in &steps {
        assert_eq!((b.n_source, b.n_target), (4, 4));
        assert_eq!(b.images.len(), 8 * 48);
        assert_eq!(b.domain_labels(), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(b.source_labels.len(), 4);
        assert!(b.target_labels.is_none());
        let src = b.source();
        assert_eq!(src.len(), 4);
        assert_eq!(src.labels, b.source_labels);
    }
    // Each side cycles through complete passes: every window of n consecutive stream
    // positions aligned to a pass is a permutation.
    let s: Vec<usize> = steps
        .iter()
        .flat_map(|b| b.source_indices.clone())
        .collect();
    let t: Vec<usize> = steps
        .iter()
        .flat_map(|b| b.target_indices.clone())
        .collect();
    for pass in s.chunks_exact(10) {
        assert_eq!(pass.iter().copied().collect::<BTreeSet<_>>().len(), 10);
    }
    for pass in t.chunks_exact(3) {
        assert_eq!(pass.iter().copied().collect::<BTreeSet<_>>().len(), 3);
    }
    assert_ne!(s[..10], s[10..20], "the source reshuffles after each pass");

    // Resuming at step 5 gives the same steps as before; another thread count too.
    let other = DomainLoader::new(
        source.clone(),
        target,
        unit(4),
        DomainLoaderOptions {
            workers: 3,
            ..opts.clone()
        },
    )
    .unwrap();
    let resumed: Vec<_> = other.stream(5).take(3).map(|b| b.unwrap()).collect();
    assert_eq!(resumed, steps[5..8]);

    // A labelled target passes its labels along (monitoring only).
    let labelled =
        DomainLoader::new(source.clone(), numbered(7, 2), unit(4), opts.clone()).unwrap();
    let b = labelled.stream(0).next().unwrap().unwrap();
    let tl = b.target_labels.unwrap();
    assert_eq!(tl.len(), 4);
    assert!(b
        .target_indices
        .iter()
        .zip(&tl)
        .all(|(&i, &l)| l == (i % 2) as u32));

    // Labelled target with other classes, or an unlabelled source: errors.
    let e = DomainLoader::new(source.clone(), numbered(7, 3), unit(4), opts.clone())
        .err()
        .unwrap();
    assert!(e.to_string().contains("class lists differ"), "{e}");
    let e = DomainLoader::new(source.without_labels(), numbered(7, 2), unit(4), opts)
        .err()
        .unwrap();
    assert!(e.to_string().contains("must be labelled"), "{e}");
}

fn tree_with_bad_files(t: &TempDir) {
    for i in 0..6 {
        save(&t.path().join(format!("a/{i}.png")), &pattern(8, 8, i));
        save(&t.path().join(format!("b/{i}.jpg")), &pattern(8, 8, i));
    }
    // Not an image at all, an empty file, and a JPEG cut in half.
    write(
        &t.path().join("a/broken.png"),
        b"<html>404 Not Found</html>",
    );
    write(&t.path().join("b/empty.jpg"), b"");
    let mut jpeg = Vec::new();
    pattern(64, 64, 1)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    write(&t.path().join("b/half.jpg"), &jpeg[..jpeg.len() / 2]);
}

#[test]
fn corrupt_image_is_named_and_skip_bad_counts() {
    let t = TempDir::new("loader-bad");
    tree_with_bad_files(&t);
    let ds = Dataset::from_dir(t.path()).unwrap();
    assert_eq!(ds.len(), 15);
    let opts = LoaderOptions {
        batch_size: 4,
        shuffle: false,
        workers: 2,
        ..Default::default()
    };

    let loader = Loader::new(ds.clone(), unit(8), opts.clone()).unwrap();
    let results: Vec<_> = loader.epoch(0).collect();
    let err = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("a bad file must fail the epoch");
    let msg = err.to_string();
    // The library names the file; the commands that take --skip-bad add it (tests/cli_polish.rs).
    assert!(
        msg.contains("broken.png") && msg.contains("unreadable image"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert!(
        results.last().unwrap().is_err(),
        "iteration stops at the first error"
    );

    let loader = Loader::new(
        ds,
        unit(8),
        LoaderOptions {
            skip_bad: true,
            ..opts
        },
    )
    .unwrap();
    let total: usize = loader.epoch(0).map(|b| b.unwrap().len()).sum();
    assert_eq!(total, 12);
    let skipped = loader.skipped();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped.iter().any(|s| s.ends_with("half.jpg")));
    // A second epoch meets the same files; each is still listed once.
    loader.epoch(1).for_each(|b| drop(b.unwrap()));
    assert_eq!(loader.skipped().len(), 3);
}

#[test]
fn truncated_and_empty_jpegs_are_reported_as_such() {
    let t = TempDir::new("loader-trunc");
    tree_with_bad_files(&t);
    let e = dak::data::decode::decode_file(&t.path().join("b/half.jpg"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("half.jpg") && e.contains("truncated JPEG"),
        "{e}"
    );
    let e = dak::data::decode::decode_file(&t.path().join("b/empty.jpg"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = dak::data::decode::decode_file(&t.path().join("a/broken.png"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("3c 68 74 6d"), "{e}");
    assert!(dak::data::decode::decode_file(&t.path().join("b/0.jpg")).is_ok());
}

#[test]
fn jpeg_with_exif_thumbnail_and_trailing_bytes_is_complete() {
    use dak::data::decode::jpeg_is_complete;
    let mut thumb = Vec::new();
    pattern(8, 8, 1)
        .write_to(
            &mut std::io::Cursor::new(&mut thumb),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let mut main = Vec::new();
    pattern(40, 40, 2)
        .write_to(
            &mut std::io::Cursor::new(&mut main),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    assert!(jpeg_is_complete(&main));
    // SOI, APP1 holding a whole JPEG (with its own EOI), then the rest of the main file.
    let mut with_app1 = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with_app1.extend_from_slice(&((thumb.len() + 2) as u16).to_be_bytes());
    with_app1.extend_from_slice(&thumb);
    with_app1.extend_from_slice(&main[2..]);
    assert!(jpeg_is_complete(&with_app1));
    assert!(
        !jpeg_is_complete(&with_app1[..with_app1.len() - 40]),
        "the thumbnail's EOI must not count"
    );
    let mut trailing = main.clone();
    trailing.extend_from_slice(&[0, 0, 0, 1, 2, 3]);
    assert!(jpeg_is_complete(&trailing));
    for cut in [3, main.len() / 3, main.len() - 2] {
        assert!(!jpeg_is_complete(&main[..cut]), "cut at {cut}");
    }
}
