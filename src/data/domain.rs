//! Batches for domain adaptation: half labelled source, half target, forever.
//!
//! Each side is an endless stream of its dataset's images: pass 0 in a seeded random order,
//! then pass 1 in a new order, and so on. Step `s` takes stream positions
//! `[s*B, (s+1)*B)` of each side, so the two sides may have any sizes: the smaller one simply
//! reshuffles more often. Everything is a function of `(seed, side, pass, index)`.

use std::sync::Arc;

use super::augment::Transform;
use super::dataset::Dataset;
use super::folder::check_same_classes;
use super::loader::{assemble, default_workers, BadFiles, Batch, Prefetch};
use super::rng::{permutation, TAG_SHUFFLE};
use crate::error::{Error, Result};

const SIDE_SOURCE: u64 = 1;
const SIDE_TARGET: u64 = 2;

/// One domain-adaptation step: source images first, then target images.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainBatch {
    /// `(n_source + n_target) * 3 * height * width` values, NCHW, source images first.
    pub images: Vec<f32>,
    /// Number of source images (the batch size per domain unless bad files were skipped).
    pub n_source: usize,
    /// Number of target images.
    pub n_target: usize,
    /// Labels of the source images (these feed the label loss).
    pub source_labels: Vec<u32>,
    /// Labels of the target images if the target is labelled: for monitoring only, never for
    /// training.
    pub target_labels: Option<Vec<u32>>,
    /// Dataset indices of the source images.
    pub source_indices: Vec<usize>,
    /// Dataset indices of the target images.
    pub target_indices: Vec<usize>,
    /// Image height.
    pub height: u32,
    /// Image width.
    pub width: u32,
}

impl DomainBatch {
    /// Total images.
    pub fn len(&self) -> usize {
        self.n_source + self.n_target
    }

    /// True if the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Domain labels for the domain classifier: 0.0 for source rows, 1.0 for target rows.
    pub fn domain_labels(&self) -> Vec<f32> {
        let mut d = vec![0.0; self.n_source];
        d.resize(self.len(), 1.0);
        d
    }

    /// The source half as a [`Batch`].
    pub fn source(&self) -> Batch {
        let per = 3 * self.height as usize * self.width as usize;
        Batch {
            images: self.images[..self.n_source * per].to_vec(),
            labels: self.source_labels.clone(),
            indices: self.source_indices.clone(),
            height: self.height,
            width: self.width,
        }
    }
}

/// Options of a [`DomainLoader`].
#[derive(Clone, Debug, PartialEq)]
pub struct DomainLoaderOptions {
    /// Images per domain per step (a step holds twice this many).
    pub batch_size_per_domain: usize,
    /// Seed for orders and augmentation.
    pub seed: u64,
    /// Decoding threads; 0 = one per CPU core.
    pub workers: usize,
    /// Steps buffered per thread.
    pub prefetch: usize,
    /// Skip (and record) images that fail to decode instead of failing.
    pub skip_bad: bool,
}

impl Default for DomainLoaderOptions {
    fn default() -> Self {
        DomainLoaderOptions {
            batch_size_per_domain: 32,
            seed: 0,
            workers: 0,
            prefetch: 2,
            skip_bad: false,
        }
    }
}

/// Endless half-source, half-target batches.
pub struct DomainLoader {
    source: Arc<Dataset>,
    target: Arc<Dataset>,
    source_tf: Arc<Transform>,
    target_tf: Arc<Transform>,
    opts: DomainLoaderOptions,
    bad: Arc<BadFiles>,
}

/// Stream positions `[start, start + len)` of a side with `n` images, as (index, pass) pairs.
fn stream_slice(n: usize, start: u64, len: usize, seed: u64, side: u64) -> Vec<(usize, u64)> {
    let mut out = Vec::with_capacity(len);
    let mut cached: Option<(u64, Vec<u32>)> = None;
    for pos in start..start + len as u64 {
        let (pass, at) = (pos / n as u64, (pos % n as u64) as usize);
        if cached.as_ref().map(|c| c.0) != Some(pass) {
            cached = Some((pass, permutation(n, &[seed, TAG_SHUFFLE, side, pass])));
        }
        let order = &cached.as_ref().expect("set above").1;
        out.push((order[at] as usize, pass));
    }
    out
}

impl DomainLoader {
    /// Pairs a labelled `source` with a `target` (labelled or not), using the same transform
    /// for both. If the target is labelled, its classes must equal the source's.
    pub fn new(
        source: Dataset,
        target: Dataset,
        transform: Transform,
        opts: DomainLoaderOptions,
    ) -> Result<Self> {
        Self::with_transforms(source, target, transform.clone(), transform, opts)
    }

    /// Like [`DomainLoader::new`] with a separate transform per side (same output size).
    pub fn with_transforms(
        source: Dataset,
        target: Dataset,
        source_tf: Transform,
        target_tf: Transform,
        opts: DomainLoaderOptions,
    ) -> Result<Self> {
        source_tf.validate()?;
        target_tf.validate()?;
        if (source_tf.height, source_tf.width) != (target_tf.height, target_tf.width) {
            return Err(Error::input(format!(
                "source and target transforms must give the same size, got {}x{} and {}x{}",
                source_tf.width, source_tf.height, target_tf.width, target_tf.height
            )));
        }
        if opts.batch_size_per_domain == 0 {
            return Err(Error::input("batch size per domain must be at least 1"));
        }
        if source.labels().is_none() {
            return Err(Error::input(format!(
                "{}: the source domain must be labelled (a class-per-folder directory)",
                source.name()
            )));
        }
        for (side, ds) in [("source", &source), ("target", &target)] {
            if ds.is_empty() {
                return Err(Error::input(format!(
                    "{}: the {side} domain has no images",
                    ds.name()
                )));
            }
        }
        if target.labels().is_some() {
            check_same_classes(
                &format!("source {}", source.name()),
                source.classes(),
                &format!("target {}", target.name()),
                target.classes(),
            )?;
        }
        Ok(DomainLoader {
            source: Arc::new(source),
            target: Arc::new(target),
            source_tf: Arc::new(source_tf),
            target_tf: Arc::new(target_tf),
            opts,
            bad: Arc::new(BadFiles::default()),
        })
    }

    /// The source dataset.
    pub fn source(&self) -> &Dataset {
        &self.source
    }

    /// The target dataset.
    pub fn target(&self) -> &Dataset {
        &self.target
    }

    /// Steps for one pass over the source (rounded up): the usual "epoch" length.
    pub fn steps_per_source_pass(&self) -> usize {
        self.source.len().div_ceil(self.opts.batch_size_per_domain)
    }

    /// Steps for one pass over the larger of the two domains (rounded up).
    pub fn steps_per_longest_pass(&self) -> usize {
        self.source
            .len()
            .max(self.target.len())
            .div_ceil(self.opts.batch_size_per_domain)
    }

    /// The endless stream of steps, starting at step `start` (to resume a run).
    pub fn stream(&self, start: u64) -> Prefetch<DomainBatch> {
        let (src, tgt) = (Arc::clone(&self.source), Arc::clone(&self.target));
        let (stf, ttf, bad) = (
            Arc::clone(&self.source_tf),
            Arc::clone(&self.target_tf),
            Arc::clone(&self.bad),
        );
        let (b, seed, skip) = (
            self.opts.batch_size_per_domain,
            self.opts.seed,
            self.opts.skip_bad,
        );
        let workers = if self.opts.workers == 0 {
            default_workers()
        } else {
            self.opts.workers
        };
        Prefetch::spawn(workers, self.opts.prefetch, move |k| {
            let step = start + k;
            let s = stream_slice(src.len(), step * b as u64, b, seed, SIDE_SOURCE);
            let t = stream_slice(tgt.len(), step * b as u64, b, seed, SIDE_TARGET);
            let result = (|| {
                let sb = assemble(&src, &stf, &s, seed, SIDE_SOURCE, skip, &bad)?;
                let tb = assemble(&tgt, &ttf, &t, seed, SIDE_TARGET, skip, &bad)?;
                let mut images = sb.images;
                images.extend_from_slice(&tb.images);
                Ok(DomainBatch {
                    images,
                    n_source: sb.indices.len(),
                    n_target: tb.indices.len(),
                    source_labels: sb.labels,
                    target_labels: tgt.labels().map(|_| tb.labels),
                    source_indices: sb.indices,
                    target_indices: tb.indices,
                    height: stf.height,
                    width: stf.width,
                })
            })();
            Some(result)
        })
    }

    /// Files skipped so far because they could not be decoded (`skip_bad`).
    pub fn skipped(&self) -> Vec<String> {
        self.bad.list()
    }
}
