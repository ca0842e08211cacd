//! Batches decoded and augmented on CPU threads ahead of the consumer.
//!
//! [`Prefetch`] runs a batch-producing function on `workers` threads: worker `w` makes batches
//! `w, w + workers, w + 2*workers, ...` and pushes them into its own bounded channel; the
//! consumer reads the channels round-robin. So batches arrive in order, at most
//! `workers * depth` are buffered, and their content never depends on scheduling.

use std::collections::BTreeSet;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::augment::Transform;
use super::dataset::Dataset;
use super::rng::{permutation, rng_for, TAG_AUGMENT, TAG_SHUFFLE};
use crate::error::{Error, Result};

/// One batch: images as f32 NCHW, plus labels and dataset indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `len() * 3 * height * width` values, image-major, channels planar (NCHW).
    pub images: Vec<f32>,
    /// One label per image; empty when the dataset is unlabelled.
    pub labels: Vec<u32>,
    /// Index of each image in the dataset (e.g. to look up its path when predicting).
    pub indices: Vec<usize>,
    /// Image height.
    pub height: u32,
    /// Image width.
    pub width: u32,
}

impl Batch {
    /// Number of images (may be below the batch size: last batch, or skipped bad files).
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// `[N, 3, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.len(), 3, self.height as usize, self.width as usize]
    }
}

/// Files that failed to decode and were skipped (`skip_bad`), shared by a loader's threads.
#[derive(Debug, Default)]
pub struct BadFiles(Mutex<BTreeSet<String>>);

impl BadFiles {
    fn add(&self, what: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(what);
    }

    /// The skipped files so far (each listed once, however many epochs met it).
    pub fn list(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// Decodes and transforms the given `(dataset index, epoch)` samples into one batch.
/// A sample's random stream depends on `(seed, epoch, index)` only.
pub(crate) fn assemble(
    ds: &Dataset,
    tf: &Transform,
    samples: &[(usize, u64)],
    seed: u64,
    stream: u64,
    skip_bad: bool,
    bad: &BadFiles,
) -> Result<Batch> {
    let per = tf.sample_len();
    let mut images = Vec::with_capacity(samples.len() * per);
    let mut labels = Vec::with_capacity(samples.len());
    let mut indices = Vec::with_capacity(samples.len());
    for &(i, epoch) in samples {
        let img = match ds.image(i) {
            Ok(img) => img,
            Err(_) if skip_bad => {
                bad.add(ds.describe(i));
                continue;
            }
            Err(e) => return Err(e),
        };
        let start = images.len();
        images.resize(start + per, 0.0);
        let mut rng = rng_for(&[seed, TAG_AUGMENT, stream, epoch, i as u64]);
        tf.apply(&img, &mut rng, &mut images[start..]);
        if let Some(l) = ds.label(i) {
            labels.push(l);
        }
        indices.push(i);
    }
    Ok(Batch {
        images,
        labels,
        indices,
        height: tf.height,
        width: tf.width,
    })
}

/// Ordered, bounded, multi-threaded producer of `T`s; an iterator of `Result<T>`.
///
/// Iteration ends after the producer returns `None` or after the first error. Dropping it
/// stops the threads.
pub struct Prefetch<T> {
    receivers: Vec<Receiver<Option<Result<T>>>>,
    handles: Vec<JoinHandle<()>>,
    next: u64,
    done: bool,
}

impl<T: Send + 'static> Prefetch<T> {
    /// Starts `workers` threads (at least 1) each buffering up to `depth` items (at least 1).
    /// `produce(k)` makes item `k`, or returns `None` when there are no more.
    pub fn spawn<F>(workers: usize, depth: usize, produce: F) -> Self
    where
        F: Fn(u64) -> Option<Result<T>> + Send + Sync + 'static,
    {
        let workers = workers.max(1);
        let produce = Arc::new(produce);
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(depth.max(1));
            let produce = Arc::clone(&produce);
            let handle = std::thread::Builder::new()
                .name(format!("dak-data-{w}"))
                .spawn(move || {
                    let mut k = w as u64;
                    loop {
                        let item = produce(k);
                        let stop = !matches!(item, Some(Ok(_)));
                        // A failed send means the consumer is gone: stop quietly.
                        if tx.send(item).is_err() || stop {
                            return;
                        }
                        k += workers as u64;
                    }
                })
                .expect("failed to spawn a data loader thread");
            receivers.push(rx);
            handles.push(handle);
        }
        Prefetch {
            receivers,
            handles,
            next: 0,
            done: false,
        }
    }
}

impl<T> Iterator for Prefetch<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let rx = &self.receivers[(self.next % self.receivers.len() as u64) as usize];
        let item = match rx.recv() {
            Ok(item) => item,
            // The worker vanished without an end marker: it panicked.
            Err(_) => Some(Err(Error::runtime(
                "a data loader thread panicked; this is a bug in dak",
            ))),
        };
        match item {
            Some(Ok(t)) => {
                self.next += 1;
                Some(Ok(t))
            }
            other => {
                self.done = true;
                other
            }
        }
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        // Dropping the receivers makes blocked senders fail, so every worker exits promptly.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Number of loader threads to use when the caller asks for 0 ("auto").
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Options of a [`Loader`].
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderOptions {
    /// Images per batch.
    pub batch_size: usize,
    /// Reshuffle every epoch (from `seed` and the epoch number).
    pub shuffle: bool,
    /// Drop the last, smaller batch of an epoch.
    pub drop_last: bool,
    /// Seed for shuffling and augmentation.
    pub seed: u64,
    /// Decoding threads; 0 = one per CPU core.
    pub workers: usize,
    /// Batches buffered per thread.
    pub prefetch: usize,
    /// Skip (and record) images that fail to decode instead of failing.
    pub skip_bad: bool,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions {
            batch_size: 32,
            shuffle: true,
            drop_last: false,
            seed: 0,
            workers: 0,
            prefetch: 2,
            skip_bad: false,
        }
    }
}

/// Epoch-by-epoch batches over one dataset (training, validation, evaluation, prediction).
pub struct Loader {
    dataset: Arc<Dataset>,
    transform: Arc<Transform>,
    opts: LoaderOptions,
    bad: Arc<BadFiles>,
}

impl Loader {
    /// Checks the options and the transform; starts no thread yet.
    pub fn new(dataset: Dataset, transform: Transform, opts: LoaderOptions) -> Result<Self> {
        transform.validate()?;
        if opts.batch_size == 0 {
            return Err(Error::input("batch size must be at least 1"));
        }
        if dataset.is_empty() {
            return Err(Error::input(format!(
                "{}: the dataset has no images",
                dataset.name()
            )));
        }
        if opts.drop_last && dataset.len() < opts.batch_size {
            return Err(Error::input(format!(
                "{}: {} images is fewer than one batch of {} with drop_last; lower the batch size",
                dataset.name(),
                dataset.len(),
                opts.batch_size
            )));
        }
        Ok(Loader {
            dataset: Arc::new(dataset),
            transform: Arc::new(transform),
            opts,
            bad: Arc::new(BadFiles::default()),
        })
    }

    /// The dataset being loaded.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The transform applied to each image.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// The options.
    pub fn options(&self) -> &LoaderOptions {
        &self.opts
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.dataset.len(), self.opts.batch_size);
        if self.opts.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// Dataset order for `epoch`: a seeded permutation, or `0..n` without shuffling.
    pub fn epoch_order(&self, epoch: u64) -> Vec<u32> {
        let n = self.dataset.len();
        if self.opts.shuffle {
            permutation(n, &[self.opts.seed, TAG_SHUFFLE, epoch])
        } else {
            (0..n as u32).collect()
        }
    }

    /// Starts the threads for `epoch` and returns its batches in order.
    pub fn epoch(&self, epoch: u64) -> Prefetch<Batch> {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from batch `first` on, as [`Loader::epoch`] makes them: a
    /// resumed epoch goes on without decoding the batches it had done.
    pub fn epoch_from(&self, epoch: u64, first: usize) -> Prefetch<Batch> {
        let order = Arc::new(self.epoch_order(epoch));
        let (ds, tf, bad) = (
            Arc::clone(&self.dataset),
            Arc::clone(&self.transform),
            Arc::clone(&self.bad),
        );
        let (bs, batches, seed, skip) = (
            self.opts.batch_size,
            self.batches_per_epoch() as u64,
            self.opts.seed,
            self.opts.skip_bad,
        );
        let workers = if self.opts.workers == 0 {
            default_workers()
        } else {
            self.opts.workers
        };
        Prefetch::spawn(workers, self.opts.prefetch, move |k| {
            let k = k + first as u64;
            if k >= batches {
                return None;
            }
            let lo = k as usize * bs;
            let hi = (lo + bs).min(order.len());
            let samples: Vec<(usize, u64)> =
                order[lo..hi].iter().map(|&i| (i as usize, epoch)).collect();
            Some(assemble(&ds, &tf, &samples, seed, 0, skip, &bad))
        })
    }

    /// Files skipped so far because they could not be decoded (`skip_bad`).
    pub fn skipped(&self) -> Vec<String> {
        self.bad.list()
    }
}
