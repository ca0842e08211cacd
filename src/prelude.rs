//! The small surface most programs need: `use dak::prelude::*;`.
//!
//! Data sets, the two models (the Keras-style transfer classifier on VGG16 or a ResNet, and DANN) with their
//! `fit` / `evaluate` / `predict` / `save` / `load`, the training settings, the callback trait
//! with the CLI's callbacks, and the logs a run returns.
//!
//! ```no_run
//! use dak::prelude::*;
//!
//! fn main() -> dak::Result<()> {
//!     let gpu = Gpu::new()?;
//!     let data = load_mnist_mnistm()?; // source digits, target MNIST-M, labelled test sets
//!     let mut dann = Dann::digits(&gpu, data.classes(), 0)?;
//!     let history = dann.fit(&data, &AdaptConfig::default(), &mut [&mut Progress::new()])?;
//!     let target_test = data.target_eval.as_ref().expect("the bundled pair is labelled");
//!     println!("{} epochs, target accuracy {:.3}", history.len(), dann.evaluate(target_test)?.accuracy);
//!     dann.save("adapted_model.safetensors")?;
//!     Ok(())
//! }
//! ```

pub use crate::data::{load_mnist_mnistm, load_office31, AdaptData, Dataset, Preprocess};
pub use crate::error::{Error, Result};
pub use crate::gpu::Gpu;
pub use crate::models::classifier::{BaseKind, BnTraining};
pub use crate::models::{Backbone, Classifier, ClassifierSpec, Dann, Freeze, Model, Weights};
pub use crate::train::adapt::{SourceFree, SourceFreeConfig, TargetData};
pub use crate::train::callbacks::{Checkpoints, EarlyStopping, JsonLines, Progress};
pub use crate::train::{
    on_epoch_end, AdaptConfig, Augment, BatchLogs, Callback, Control, EpochLogs, EvalReport,
    FitOptions, History, Method, Prediction, RunInfo, Select, TrainState,
};
