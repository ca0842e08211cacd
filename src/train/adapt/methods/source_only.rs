//! The source-only baseline: the label loss on labelled source batches and nothing else.
//!
//! # Paper
//!
//! None: the baseline of every adaptation paper ("source only" in Ganin et al., JMLR 2016, and
//! the others), the same network trained on the labelled source alone. Its defaults are the
//! shared `AdaptConfig` ones.
//!
//! # Loss
//!
//! The method adds nothing; its steps hold no target rows (same seed and initial weights as
//! every other method):
//!
//! ```text
//! L = mean_s CE(z_s, y_s)      source rows only    Tape::softmax_xent_smoothed / ops::softmax_xent
//! ```
//!
//! A source-only step holds the source batch only: the gradients equal those of the masked
//! half-and-half batch the other methods use, at half the compute. Its epochs report no
//! domain loss or domain accuracy.
//!
//! # Shapes
//!
//! n_s rows a step (the batch, 64): features `[n_s, dim]`, class logits z `[n_s, classes]`, labels
//! y `[n_s]` (u32), L `[1]`.
//!
//! # Defaults
//!
//! No constants of its own; the shared `AdaptConfig` (SGD momentum 0.9, lr 0.01/(1 + 10p)^0.75,
//! batches of 64). Label smoothing only for a model made with `--recipe shot` (ε = 0.1, the
//! source recipe of SHOT; `shot.rs`).
//!
//! # Deviations
//!
//! None.
//!
//! # Example
//!
//! ```no_run
//! # use dak::prelude::*;
//! # fn main() -> dak::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = load_mnist_mnistm()?;
//! let mut model = Dann::digits(&gpu, data.classes(), 0)?;
//! // The same as `Method::SOURCE_ONLY`.
//! let config = AdaptConfig {
//!     method: Method::parse("source-only", "--method")?,
//!     ..Default::default()
//! };
//! model.fit(&data, &config, &mut [])?;
//! model.save("source-only.safetensors")?; // the `--init` of a source-free run (shot.rs)
//! # Ok(()) }
//! ```

use super::{AdaptMethod, MethodLosses, StepContext};
use crate::autograd::Tape;
use crate::error::Result;

pub(super) struct SourceOnly;

impl AdaptMethod for SourceOnly {
    fn name(&self) -> &'static str {
        "source-only"
    }
    fn reference(&self) -> &'static str {
        "the baseline of every adaptation paper: train on the labelled source only"
    }
    fn needs_target(&self) -> bool {
        false
    }
    fn adversarial(&self) -> bool {
        false
    }
    fn losses(&self, _tape: &mut Tape, _ctx: &StepContext) -> Result<MethodLosses> {
        Ok(MethodLosses::default())
    }
}
