//! IDX reader/writer and the bundled digits.

use crate::common::{write, TempDir};
use dak::data::bundled;
use dak::data::idx::{self, IdxImages};

fn sample() -> (IdxImages, Vec<u8>) {
    let pixels = (0..5 * 3 * 4).map(|i| (i * 13 % 256) as u8).collect();
    (
        IdxImages {
            count: 5,
            rows: 3,
            cols: 4,
            pixels,
        },
        vec![3, 1, 4, 1, 5],
    )
}

#[test]
fn round_trip_plain_and_gzip_detected_by_magic() {
    let t = TempDir::new("idx-rt");
    let (imgs, labels) = sample();
    for gzip in [false, true] {
        // Names deliberately lie about compression: detection uses the bytes.
        let ip = t.path().join(format!("x-{gzip}-idx3-ubyte"));
        let lp = t.path().join(format!("x-{gzip}-idx1-ubyte.gz"));
        idx::write_images(&ip, &imgs, gzip).unwrap();
        idx::write_labels(&lp, &labels, gzip).unwrap();
        let head = std::fs::read(&ip).unwrap();
        assert_eq!(head[..2] == [0x1f, 0x8b], gzip);
        assert_eq!(idx::read_images(&ip).unwrap(), imgs);
        assert_eq!(idx::read_labels(&lp).unwrap(), labels);
        let ds = idx::load_mnist(&ip, &lp).unwrap();
        assert_eq!(ds.len(), 5);
        assert_eq!(ds.labels().unwrap(), [3, 1, 4, 1, 5]);
        let img = ds.image(2).unwrap();
        assert_eq!(img.dimensions(), (4, 3));
        let v = imgs.image(2)[5]; // row 1, col 1
        assert_eq!(img.get_pixel(1, 1).0, [v, v, v]);
    }
    let raw = idx::encode_images(&imgs).unwrap();
    assert_eq!(raw[..16], [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 4]);
}

#[test]
fn truncated_and_foreign_files_give_clear_errors() {
    let t = TempDir::new("idx-bad");
    let (imgs, labels) = sample();
    let full = idx::encode_images(&imgs).unwrap();

    let p = t.path().join("short-idx3-ubyte");
    write(&p, &full[..full.len() - 7]);
    let m = idx::read_images(&p).unwrap_err().to_string();
    assert!(
        m.contains("short-idx3-ubyte") && m.contains("truncated") && m.contains("5x3x4 = 60"),
        "{m}"
    );

    write(&p, &full[..10]);
    assert!(idx::read_images(&p)
        .unwrap_err()
        .to_string()
        .contains("truncated IDX header"));

    let html = t.path().join("page-idx3-ubyte");
    write(&html, b"<!DOCTYPE html><html>");
    let m = idx::read_images(&html).unwrap_err().to_string();
    assert!(
        m.contains("not an IDX file") && m.contains("3c 21 44 4f"),
        "{m}"
    );

    // A labels file where images are expected, and the reverse.
    let lp = t.path().join("l-idx1-ubyte");
    idx::write_labels(&lp, &labels, false).unwrap();
    assert!(idx::read_images(&lp)
        .unwrap_err()
        .to_string()
        .contains("1 dimensions, expected 3"));
    let ip = t.path().join("i-idx3-ubyte");
    idx::write_images(&ip, &imgs, false).unwrap();
    assert!(idx::read_labels(&ip)
        .unwrap_err()
        .to_string()
        .contains("3 dimensions, expected 1"));

    // Cut gzip stream.
    let gz = t.path().join("cut-idx3-ubyte.gz");
    idx::write_images(&gz, &imgs, true).unwrap();
    let bytes = std::fs::read(&gz).unwrap();
    write(&gz, &bytes[..bytes.len() / 2]);
    let m = idx::read_images(&gz).unwrap_err().to_string();
    assert!(
        m.contains("cut-idx3-ubyte.gz") && (m.contains("gzip") || m.contains("truncated")),
        "{m}"
    );

    let mut extra = full.clone();
    extra.extend_from_slice(&[1, 2, 3]);
    write(&p, &extra);
    assert!(idx::read_images(&p)
        .unwrap_err()
        .to_string()
        .contains("3 bytes after"));

    let m = idx::read_images(&t.path().join("absent"))
        .unwrap_err()
        .to_string();
    assert!(m.contains("absent"), "{m}");

    let m = idx::to_dataset("pair", &imgs, &labels[..4])
        .unwrap_err()
        .to_string();
    assert!(m.contains("5 images but 4 labels"), "{m}");
}

#[test]
fn bundled_digits_decode_with_the_right_label_counts() {
    let (imgs, labels) = bundled::digits().unwrap();
    assert_eq!((imgs.count, imgs.rows, imgs.cols), (10_000, 28, 28));
    assert_eq!(labels.len(), bundled::DIGIT_COUNT);
    let mut counts = [0usize; 10];
    for &l in &labels {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, bundled::DIGIT_CLASS_COUNTS);
    // Real MNIST: black background, full 0..255 range, strokes of a few percent of the pixels.
    assert_eq!(imgs.pixels.iter().max(), Some(&255));
    assert_eq!(imgs.image(0)[0], 0);
    let ink = imgs.pixels.iter().filter(|&&p| p > 127).count() as f64 / imgs.pixels.len() as f64;
    assert!((0.05..0.25).contains(&ink), "ink fraction {ink}");
    // Interleaved order: the first ten images are digits 0..9.
    assert_eq!(labels[..10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(bundled::photos().unwrap().len(), 4);
}
