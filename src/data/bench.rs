//! `dak bench data`: decoding + augmentation throughput of the CPU input pipeline.
//!
//! Test images are generated in a temporary directory (smooth colour fields with noise, so
//! they compress like photos rather than like flat colour), then loaded through a [`Loader`]
//! exactly as training would. One warm-up epoch fills the OS file cache; the following epochs
//! are timed (at least one, and at least half a second's worth).

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{Rgb, RgbImage};
use rand::RngExt;

use super::augment::{Preprocess, Transform};
use super::dataset::Dataset;
use super::loader::{default_workers, Loader, LoaderOptions};
use super::rng::rng_for;
use crate::error::{Error, Result};

/// Timed epochs stop after this many even if `min_seconds` has not passed.
const MAX_EPOCHS: u64 = 200;

/// Options of [`bench_data`].
#[derive(Clone, Debug, PartialEq)]
pub struct BenchDataOptions {
    /// Images per case.
    pub images: usize,
    /// Loader threads; 0 = one per core.
    pub workers: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Repeat timed epochs until this much time has passed (small images are fast).
    pub min_seconds: f64,
}

impl Default for BenchDataOptions {
    fn default() -> Self {
        BenchDataOptions {
            images: 512,
            workers: 0,
            batch_size: 32,
            min_seconds: 0.5,
        }
    }
}

/// Throughput of one case.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchDataResult {
    /// What was measured.
    pub case: String,
    /// Images processed in the timed epochs.
    pub images: usize,
    /// Loader threads.
    pub workers: usize,
    /// Wall time of the timed epochs.
    pub seconds: f64,
    /// Images per second.
    pub images_per_sec: f64,
}

/// Removes the temporary directory even when the benchmark fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn synthetic(size: u32, k: usize) -> RgbImage {
    let mut rng = rng_for(&[k as u64, 0xbe4c]);
    let (a, b, c): (f32, f32, f32) = (
        rng.random_range(0.5..4.0),
        rng.random_range(0.5..4.0),
        rng.random_range(0.0..6.3),
    );
    RgbImage::from_fn(size, size, |x, y| {
        let (u, v) = (x as f32 / size as f32, y as f32 / size as f32);
        let base = [
            (a * u * 6.3 + c).sin(),
            (b * v * 6.3).cos(),
            ((u + v) * 3.0 + c).sin(),
        ];
        Rgb(std::array::from_fn(|i| {
            let noise: f32 = rng.random_range(-12.0..12.0);
            (128.0 + 100.0 * base[i] + noise).clamp(0.0, 255.0) as u8
        }))
    })
}

fn write_images(dir: &Path, n: usize, size: u32, ext: &str) -> Result<Dataset> {
    for k in 0..n {
        let class_dir = dir.join(format!("c{}", k % 10));
        std::fs::create_dir_all(&class_dir).map_err(|e| Error::io(&class_dir, e))?;
        let path = class_dir.join(format!("{k:05}.{ext}"));
        let img = synthetic(size, k);
        if ext == "jpg" {
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(
                std::io::BufWriter::new(file),
                90,
            );
            img.write_with_encoder(enc)
        } else {
            img.save(&path)
        }
        .map_err(|e| {
            Error::runtime(format!(
                "{}: cannot write benchmark image: {e}",
                path.display()
            ))
        })?;
    }
    Dataset::from_dir(dir)
}

fn time_case(
    case: &str,
    ds: Dataset,
    tf: Transform,
    opts: &BenchDataOptions,
) -> Result<BenchDataResult> {
    let workers = if opts.workers == 0 {
        default_workers()
    } else {
        opts.workers
    };
    let lopts = LoaderOptions {
        batch_size: opts.batch_size,
        workers,
        ..LoaderOptions::default()
    };
    let loader = Loader::new(ds, tf, lopts)?;
    for b in loader.epoch(0) {
        b?;
    }
    // Small images go fast: repeat epochs until the timing is long enough to mean something.
    let t = Instant::now();
    let mut images = 0;
    let mut epoch = 1;
    while epoch == 1 || (t.elapsed().as_secs_f64() < opts.min_seconds && epoch <= MAX_EPOCHS) {
        for b in loader.epoch(epoch) {
            images += b?.len();
        }
        epoch += 1;
    }
    let seconds = t.elapsed().as_secs_f64();
    Ok(BenchDataResult {
        case: case.to_string(),
        images,
        workers,
        seconds,
        images_per_sec: images as f64 / seconds,
    })
}

/// Runs the cases: 224x224 JPEG with training and evaluation transforms, 32x32 PNG with the
/// training transform, and in-memory 28x28 digits with small shifts.
pub fn bench_data(opts: &BenchDataOptions) -> Result<Vec<BenchDataResult>> {
    if opts.images == 0 || opts.batch_size == 0 {
        return Err(Error::input(
            "bench data needs at least 1 image and a batch size of at least 1",
        ));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = TempDir(
        std::env::temp_dir().join(format!("dak-bench-data-{}-{nanos}", std::process::id())),
    );
    let jpeg = write_images(&tmp.0.join("jpeg224"), opts.images, 224, "jpg")?;
    let png = write_images(&tmp.0.join("png32"), opts.images, 32, "png")?;
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let digits: Vec<RgbImage> = (0..opts.images).map(|k| synthetic(28, k)).collect();
    let labels = (0..opts.images).map(|k| (k % 10) as u32).collect();
    let mem = Dataset::from_images("synthetic 28x28", classes, digits, Some(labels))?;

    Ok(vec![
        time_case(
            "jpeg 224x224 -> train 224 (random resized crop, flip, imagenet)",
            jpeg.clone(),
            Transform::train(224, 224),
            opts,
        )?,
        time_case(
            "jpeg 224x224 -> eval 224 (resize, center crop, imagenet)",
            jpeg,
            Transform::eval(224, 224),
            opts,
        )?,
        time_case(
            "png 32x32 -> train 32 (random resized crop, flip, imagenet)",
            png,
            Transform::train(32, 32),
            opts,
        )?,
        time_case(
            "memory 28x28 -> train 28 (shift 2, unit)",
            mem,
            Transform::eval(28, 28)
                .with_shift(2)
                .with_preprocess(Preprocess::Unit),
            opts,
        )?,
    ])
}
