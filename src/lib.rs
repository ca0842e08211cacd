//! dak — the Domain Adaptation Kit.
pub mod bench;
pub mod cli;
pub mod data;
pub mod error;
pub mod gpu;
pub mod io;
pub mod ops;
pub mod tensor;

pub use error::{Error, Result};
pub use gpu::Gpu;
pub use tensor::{DType, Tensor};
