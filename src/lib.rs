//! dak — the Domain Adaptation Kit.
pub mod autograd;
pub mod bench;
pub mod cli;
pub mod data;
pub mod error;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod tensor;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
pub use gpu::Gpu;
pub use tensor::{DType, Tensor};
