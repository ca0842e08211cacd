//! [`Dataset`]: an ordered list of images (files or decoded pixels) with class labels.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use super::decode::decode_file;
use super::rng::{permutation, TAG_SAMPLE, TAG_SPLIT};
use crate::error::{Error, Result};

/// Where a dataset's pixels live.
#[derive(Clone, Debug)]
enum Items {
    /// Decoded on demand by loader threads.
    Files(Vec<PathBuf>),
    /// Already decoded (bundled benchmark, MNIST IDX). `Arc` so subsets share pixels.
    Memory(Vec<Arc<RgbImage>>),
}

/// An ordered collection of images with optional labels.
///
/// Labels index into [`Dataset::classes`]. An unlabelled dataset (e.g. a domain-adaptation
/// target) still may list class names, for reporting.
#[derive(Clone, Debug)]
pub struct Dataset {
    name: String,
    classes: Vec<String>,
    items: Items,
    labels: Option<Vec<u32>>,
}

impl Dataset {
    fn checked(
        name: String,
        classes: Vec<String>,
        items: Items,
        labels: Option<Vec<u32>>,
    ) -> Result<Self> {
        let n = match &items {
            Items::Files(f) => f.len(),
            Items::Memory(m) => m.len(),
        };
        if let Some(l) = &labels {
            if l.len() != n {
                return Err(Error::input(format!(
                    "{name}: {n} images but {} labels; they must match one to one",
                    l.len()
                )));
            }
            if let Some(&bad) = l.iter().find(|&&c| c as usize >= classes.len()) {
                return Err(Error::input(format!(
                    "{name}: label {bad} is out of range for {} classes",
                    classes.len()
                )));
            }
        }
        Ok(Dataset {
            name,
            classes,
            items,
            labels,
        })
    }

    /// A dataset of image files, decoded lazily by the loader.
    pub fn from_files(
        name: impl Into<String>,
        classes: Vec<String>,
        paths: Vec<PathBuf>,
        labels: Option<Vec<u32>>,
    ) -> Result<Self> {
        Self::checked(name.into(), classes, Items::Files(paths), labels)
    }

    /// A dataset of decoded RGB images held in memory.
    pub fn from_images(
        name: impl Into<String>,
        classes: Vec<String>,
        images: Vec<RgbImage>,
        labels: Option<Vec<u32>>,
    ) -> Result<Self> {
        let items = Items::Memory(images.into_iter().map(Arc::new).collect());
        Self::checked(name.into(), classes, items, labels)
    }

    /// Human-readable name used in messages (usually the root directory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Files(f) => f.len(),
            Items::Memory(m) => m.len(),
        }
    }

    /// True if the dataset holds no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Class names; label `k` means `classes()[k]`.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Labels, one per image, or `None` for an unlabelled dataset.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }

    /// Label of image `i`, if labelled.
    pub fn label(&self, i: usize) -> Option<u32> {
        self.labels.as_ref().map(|l| l[i])
    }

    /// Path of image `i` for file-backed datasets.
    pub fn path(&self, i: usize) -> Option<&Path> {
        match &self.items {
            Items::Files(f) => Some(&f[i]),
            Items::Memory(_) => None,
        }
    }

    /// A short name for image `i` in messages: its path, or `name[i]` for in-memory images.
    pub fn describe(&self, i: usize) -> String {
        match &self.items {
            Items::Files(f) => f[i].display().to_string(),
            Items::Memory(_) => format!("{}[{i}]", self.name),
        }
    }

    /// True if the pixels are already decoded in memory.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.items, Items::Memory(_))
    }

    /// Image `i` as RGB: decoded from disk, or shared from memory.
    pub fn image(&self, i: usize) -> Result<Arc<RgbImage>> {
        match &self.items {
            Items::Files(f) => decode_file(&f[i]).map(Arc::new),
            Items::Memory(m) => Ok(Arc::clone(&m[i])),
        }
    }

    /// Images per class (empty for an unlabelled dataset).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in self.labels.iter().flatten() {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The images at `indices`, in that order (same classes).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let items = match &self.items {
            Items::Files(f) => Items::Files(indices.iter().map(|&i| f[i].clone()).collect()),
            Items::Memory(m) => Items::Memory(indices.iter().map(|&i| Arc::clone(&m[i])).collect()),
        };
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().map(|&i| l[i]).collect());
        Dataset {
            name: self.name.clone(),
            classes: self.classes.clone(),
            items,
            labels,
        }
    }

    /// At most `n` images chosen at random (seeded; the same `seed` gives the same images),
    /// kept in dataset order. The whole dataset when it has `n` images or fewer.
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        self.sample_keyed(n, &[seed, TAG_SAMPLE])
    }

    /// [`Dataset::sample`] with the random stream keyed by `key` (callers keep their own tags).
    pub(crate) fn sample_keyed(&self, n: usize, key: &[u64]) -> Dataset {
        if self.len() <= n {
            return self.clone();
        }
        let mut idx: Vec<usize> = permutation(self.len(), key)[..n]
            .iter()
            .map(|&i| i as usize)
            .collect();
        idx.sort_unstable();
        self.subset(&idx)
    }

    /// The same images with the labels dropped (e.g. a domain-adaptation target).
    pub fn without_labels(&self) -> Dataset {
        Dataset {
            labels: None,
            ..self.clone()
        }
    }

    /// Checks every image file's header before any work starts ([`super::decode::check_file`];
    /// in-memory images are already decoded). Without `skip_bad` the first bad file is an
    /// error; with it the bad files are left out and returned, so what a run reports as
    /// skipped is exactly what it did not use.
    pub fn check_images(&self, skip_bad: bool) -> Result<(Dataset, Vec<String>)> {
        let Items::Files(files) = &self.items else {
            return Ok((self.clone(), Vec::new()));
        };
        let mut keep = Vec::with_capacity(files.len());
        let mut bad = Vec::new();
        for (i, f) in files.iter().enumerate() {
            match super::decode::check_file(f) {
                Ok(()) => keep.push(i),
                Err(_) if skip_bad => bad.push(f.display().to_string()),
                Err(e) => return Err(e),
            }
        }
        if keep.len() == files.len() {
            return Ok((self.clone(), bad));
        }
        Ok((self.subset(&keep), bad))
    }

    /// Renames the dataset (the name appears in messages).
    pub fn with_name(mut self, name: impl Into<String>) -> Dataset {
        self.name = name.into();
        self
    }

    /// Splits off a validation set: `(train, validation)`.
    ///
    /// Deterministic for a given `seed`, disjoint, and stratified: each class contributes
    /// `round(n_c * fraction)` images (at most `n_c - 1`, so every class keeps a training image).
    /// Both parts keep the original file order. Unlabelled datasets are split as one class.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::input(format!(
                "validation split must be between 0 and 1 (exclusive), got {fraction}"
            )));
        }
        let groups: Vec<Vec<usize>> = match &self.labels {
            Some(labels) => {
                let mut g = vec![Vec::new(); self.classes.len()];
                for (i, &l) in labels.iter().enumerate() {
                    g[l as usize].push(i);
                }
                g
            }
            None => vec![(0..self.len()).collect()],
        };
        let mut in_val = vec![false; self.len()];
        for (c, members) in groups.iter().enumerate() {
            let n = members.len();
            let take = ((n as f64 * fraction).round() as usize).min(n.saturating_sub(1));
            let order = permutation(n, &[seed, TAG_SPLIT, c as u64]);
            for &k in &order[..take] {
                in_val[members[k as usize]] = true;
            }
        }
        let val: Vec<usize> = (0..self.len()).filter(|&i| in_val[i]).collect();
        let train: Vec<usize> = (0..self.len()).filter(|&i| !in_val[i]).collect();
        if val.is_empty() {
            return Err(Error::input(format!(
                "{}: validation split {fraction} of {} images leaves no validation images; use a larger fraction or a separate validation directory",
                self.name,
                self.len()
            )));
        }
        Ok((self.subset(&train), self.subset(&val)))
    }
}
