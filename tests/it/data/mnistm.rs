//! MNIST-M composition, photo row separation and determinism.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::TempDir;
use dak::data::bundled;
use dak::data::mnistm::{self, binarise, compose, cut, photo_rows, MnistMOptions, PhotoSplit};
use image::imageops::{self, FilterType};

fn small(seed: u64, size: u32) -> MnistMOptions {
    MnistMOptions {
        size,
        seed,
        train_per_domain: 300,
        test_per_domain: 100,
        ..Default::default()
    }
}

#[test]
fn target_pixels_equal_abs_patch_minus_binarised_digit() {
    let (digits, labels) = bundled::digits().unwrap();
    let photos: Vec<_> = bundled::photos()
        .unwrap()
        .into_iter()
        .map(|p| p.1)
        .collect();
    let m = mnistm::benchmark(&small(4, 28)).unwrap();
    for (ds, ids, patches) in [
        (
            &m.target_train,
            &m.target_train_ids,
            &m.target_train_patches,
        ),
        (&m.target_test, &m.target_test_ids, &m.target_test_patches),
    ] {
        for k in (0..ds.len()).step_by(37) {
            let img = ds.image(k).unwrap();
            let digit = digits.gray(ids[k]);
            let patch = cut(&photos[patches[k].photo], patches[k]);
            assert_eq!(ds.label(k), Some(labels[ids[k]] as u32));
            for (x, y) in [(0, 0), (14, 14), (5, 20), (27, 27), (13, 8), (20, 5)] {
                let d = if digit.get_pixel(x, y).0[0] > 0 {
                    255u8
                } else {
                    0
                };
                let p = patch.get_pixel(x, y).0;
                let want = [p[0].abs_diff(d), p[1].abs_diff(d), p[2].abs_diff(d)];
                assert_eq!(img.get_pixel(x, y).0, want, "image {k} pixel ({x},{y})");
            }
        }
    }
    // Source images are the plain digits replicated to RGB.
    let s = m.source_train.image(3).unwrap();
    let g = digits.gray(m.source_train_ids[3]);
    assert!(s.pixels().zip(g.pixels()).all(|(c, v)| c.0 == [v.0[0]; 3]));
}

#[test]
fn compose_and_binarise_by_hand() {
    let digit = image::GrayImage::from_raw(2, 1, vec![0, 200]).unwrap();
    let bin = binarise(&digit, 0);
    assert_eq!(bin.as_raw(), &[0, 255]);
    assert_eq!(binarise(&digit, 200).as_raw(), &[0, 0]);
    let patch = image::RgbImage::from_raw(2, 1, vec![10, 20, 250, 10, 20, 250]).unwrap();
    assert_eq!(compose(&bin, &patch).as_raw(), &[10, 20, 250, 245, 235, 5]);
}

#[test]
fn train_and_test_patches_come_from_disjoint_rows() {
    let photos: Vec<_> = bundled::photos()
        .unwrap()
        .into_iter()
        .map(|p| p.1)
        .collect();
    for size in [28, 32] {
        let m = mnistm::benchmark(&small(1, size)).unwrap();
        for p in &m.target_train_patches {
            let rows = photo_rows(photos[p.photo].height(), PhotoSplit::Train);
            assert!(p.y >= rows.start && p.y + p.size <= rows.end, "{p:?}");
            assert!(p.x + p.size <= photos[p.photo].width());
        }
        for p in &m.target_test_patches {
            let rows = photo_rows(photos[p.photo].height(), PhotoSplit::Test);
            assert!(p.y >= rows.start && p.y + p.size <= rows.end, "{p:?}");
        }
        // Every photo is used, in both splits.
        let used: BTreeSet<usize> = m.target_train_patches.iter().map(|p| p.photo).collect();
        assert_eq!(used.len(), photos.len());
        assert_eq!(m.target_train.image(0).unwrap().dimensions(), (size, size));
    }
    for h in [300u32, 427, 512] {
        let (a, b) = (
            photo_rows(h, PhotoSplit::Train),
            photo_rows(h, PhotoSplit::Test),
        );
        assert_eq!((a.start, a.end, b.end), (0, b.start, h));
    }
}

#[test]
fn default_benchmark_has_disjoint_digit_sets_of_the_documented_sizes() {
    let m = mnistm::benchmark(&MnistMOptions::default()).unwrap();
    let sets = [
        &m.source_train_ids,
        &m.source_test_ids,
        &m.target_train_ids,
        &m.target_test_ids,
    ];
    assert_eq!(sets.map(|s| s.len()), [4000, 1000, 4000, 1000]);
    let all: BTreeSet<usize> = sets.iter().flat_map(|s| s.iter().copied()).collect();
    assert_eq!(all.len(), 10_000, "the four digit sets must be disjoint");
    for ds in [
        &m.source_train,
        &m.source_test,
        &m.target_train,
        &m.target_test,
    ] {
        assert_eq!(ds.classes().len(), 10);
        assert!(ds.is_in_memory());
        assert!(
            ds.class_counts().iter().all(|&c| c > 50),
            "{:?}",
            ds.class_counts()
        );
    }
    assert_eq!(m.target_train.image(0).unwrap().dimensions(), (28, 28));
}

#[test]
fn size_32_resizes_the_digit_before_binarising() {
    let (digits, _) = bundled::digits().unwrap();
    let m = mnistm::benchmark(&small(2, 32)).unwrap();
    let id = m.source_test_ids[0];
    let want = imageops::resize(&digits.gray(id), 32, 32, FilterType::Triangle);
    let got = m.source_test.image(0).unwrap();
    assert!(got
        .pixels()
        .zip(want.pixels())
        .all(|(c, v)| c.0 == [v.0[0]; 3]));
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_writes_identical_files_and_they_load_back() {
    let (a, b, c) = (
        TempDir::new("mnistm-a"),
        TempDir::new("mnistm-b"),
        TempDir::new("mnistm-c"),
    );
    let opts = MnistMOptions {
        train_per_domain: 60,
        test_per_domain: 20,
        ..small(5, 28)
    };
    let s = mnistm::write(&mnistm::benchmark(&opts).unwrap(), a.path()).unwrap();
    assert_eq!(s.files, 160);
    mnistm::write(&mnistm::benchmark(&opts).unwrap(), b.path()).unwrap();
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), 161); // 160 PNGs + mnist-m.json
    assert!(fa == fb, "same seed must give byte-identical files");

    let other = MnistMOptions { seed: 6, ..opts };
    mnistm::write(&mnistm::benchmark(&other).unwrap(), c.path()).unwrap();
    assert!(files(c.path()) != fa);

    // The written tree is a normal class-per-folder dataset with the same pixels.
    let m = mnistm::benchmark(&opts).unwrap();
    let back = dak::data::Dataset::from_dir(a.path().join("target/train")).unwrap();
    assert_eq!(back.classes(), m.target_train.classes());
    assert_eq!(back.len(), 60);
    let name = format!("{:05}.png", m.target_train_ids[0]);
    let k = (0..back.len())
        .find(|&i| back.path(i).unwrap().ends_with(&name))
        .unwrap();
    assert_eq!(*back.image(k).unwrap(), *m.target_train.image(0).unwrap());

    // Refuses to mix into an existing benchmark.
    let e = mnistm::write(&m, a.path()).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
}

#[test]
fn impossible_options_are_rejected() {
    let e = mnistm::benchmark(&MnistMOptions {
        size: 8,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("16..=64"), "{e}");
    let e = mnistm::benchmark(&MnistMOptions {
        train_per_domain: 5000,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("10000 available"), "{e}");
}
