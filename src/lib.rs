//! dak — the Domain Adaptation Kit.
pub mod error;
pub mod gpu;

pub use error::{Error, Result};
