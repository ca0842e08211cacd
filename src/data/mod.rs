//! The data layer: image folders, Office-31, MNIST IDX, the MNIST-M composer, augmentation and
//! batching on CPU threads ahead of the GPU.
//!
//! Typical use:
//!
//! ```no_run
//! use dak::data::{mnistm, DomainLoader, DomainLoaderOptions, Preprocess, Transform};
//! # fn main() -> dak::Result<()> {
//! let bench = mnistm::benchmark(&mnistm::MnistMOptions::default())?;
//! let tf = Transform::eval(28, 28).with_preprocess(Preprocess::Unit);
//! let opts = DomainLoaderOptions { batch_size_per_domain: 64, seed: 1, ..Default::default() };
//! let loader = DomainLoader::new(bench.source_train.clone(), bench.target_train.clone(), tf, opts)?;
//! for batch in loader.stream(0).take(loader.steps_per_source_pass()) {
//!     let batch = batch?; // 64 source + 64 target images, NCHW f32
//!     assert_eq!(batch.images.len(), batch.len() * 3 * 28 * 28);
//! }
//! # Ok(()) }
//! ```

pub mod augment;
pub mod bench;
pub mod bundled;
pub mod dataset;
pub mod decode;
pub mod domain;
pub mod folder;
pub mod idx;
pub mod inspect;
pub mod loader;
pub mod mnistm;
pub mod office31;
pub mod pair;
pub mod resample;
pub mod rng;

pub use augment::{Preprocess, RandomResizedCrop, Transform};
pub use dataset::Dataset;
pub use domain::{DomainBatch, DomainLoader, DomainLoaderOptions};
pub use loader::{Batch, Loader, LoaderOptions, Prefetch};
pub use pair::{load_mnist_mnistm, load_office31, load_target, AdaptData, PairSpec};
