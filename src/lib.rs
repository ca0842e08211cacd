//! dak — the Domain Adaptation Kit: transfer learning (VGG16 + a new head, Keras-style) and
//! domain adaptation (DANN, Ganin et al. 2016) on dak's own compute engine — hand-written WGSL
//! kernels driven through wgpu, each checked against a plain-Rust reference.
//!
//! # Use
//!
//! [`prelude`] holds what most programs need. The Keras program
//! `VGG16(include_top=False)` + `GlobalAveragePooling2D` + `Dense(1024, relu)` +
//! `Dense(classes, softmax)`, base frozen, `fit`, is:
//!
//! ```no_run
//! use dak::prelude::*;
//!
//! fn main() -> dak::Result<()> {
//!     let gpu = Gpu::new()?;
//!     let (train, val) = Dataset::from_dir("photos/train")?.split(0.2, 0)?;
//!     let mut model = Classifier::vgg16(&gpu, &ClassifierSpec {
//!         classes: train.classes().to_vec(),
//!         weights: Weights::File("weights/vgg16.safetensors".into()),
//!         ..Default::default()
//!     })?;
//!     model.freeze("features")?;
//!     let history = model.fit(&train, Some(&val), &FitOptions::default(), &mut [&mut Progress::new()])?;
//!     println!("{:?}", history.column(|e| e.val_acc));
//!     model.save("flowers.safetensors")?;
//!     Ok(())
//! }
//! ```
//!
//! and DANN on the bundled MNIST → MNIST-M pair is `Dann::digits(..)?.fit(&load_mnist_mnistm()?, ..)`
//! (see [`models::Dann`]). `examples/` has both programs in full, plus a custom WGSL kernel
//! checked against its reference. The `dak` command line is a thin layer over this library.
//!
//! # Architecture
//!
//! Layers, top to bottom; each uses only the ones below it:
//!
//! | module | what it holds |
//! |---|---|
//! | `cli` | clap commands: parse arguments, call the library, print |
//! | [`train`] | `fit` for [`models::Classifier`] and [`models::Dann`], [`train::EpochLogs`] / [`train::History`], the [`train::Callback`] trait and the CLI's callbacks, evaluation, metrics, checkpoints |
//! | [`export`] | ONNX export and f16 model files (reads model files; no GPU) |
//! | [`models`] | VGG16 (torchvision names), the transfer classifier, DANN, dak's model file |
//! | [`data`] | image folders, Office-31, MNIST IDX, the MNIST-M composer, augmentation, loaders on CPU threads |
//! | [`nn`], [`optim`] | layers with seeded init; SGD / Adam over named parameters |
//! | [`autograd`] | named parameters with trainable flags; the tape (one backward `match`) |
//! | [`ops`] | one file per op family: GPU launch (forward + backward) + `reference` in plain Rust |
//! | [`kernels`] | the registry of every kernel id with its check against the reference |
//! | [`gpu`] | the only module that touches wgpu: device, buffer pool, pipeline cache, command stream |
//!
//! A training step records its kernels into one command stream and submits once; losses and
//! accuracy counters stay on the GPU and are read once per epoch. A frozen parameter gets no
//! gradient kernel, so a frozen VGG16 base costs its forward pass only (and with no
//! augmentation its features are computed once). `docs/architecture.md` has the details.
#![warn(missing_docs)]

pub mod autograd;
pub mod bench;
pub mod cli;
pub mod data;
pub mod error;
pub mod export;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod prelude;
pub mod tensor;
pub mod train;
pub mod tune;
pub mod validate;

pub use error::{Error, Result};
pub use gpu::Gpu;
pub use tensor::{DType, Tensor};
