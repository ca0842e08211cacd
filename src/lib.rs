//! dak — the Domain Adaptation Kit.
pub mod cli;
pub mod data;
pub mod error;
pub mod gpu;

pub use error::{Error, Result};
