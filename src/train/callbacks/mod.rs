//! The callbacks the CLI uses, ready for library users too: a progress printer, a JSONL
//! metrics writer, early stopping and checkpoints. Each is an implementation of
//! [`Callback`](super::Callback) and nothing more.

mod candidates;
mod checkpoints;
mod early_stopping;
mod jsonl;
mod progress;

pub use candidates::CandidateStore;
pub use checkpoints::{Checkpoints, RESUME_EVERY_SECONDS};
pub use early_stopping::EarlyStopping;
pub use jsonl::JsonLines;
pub use progress::{adapt_epoch_line, fit_epoch_line, Progress};
