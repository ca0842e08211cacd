//! One error type for the whole crate. Every message is meant to be printed as a single line
//! that says what is wrong, which file or argument, and what to do about it.

use std::path::Path;

/// dak's error. `Input` means the user gave something unusable (exit code 2);
/// `Runtime` and `Gpu` mean a failure while doing valid work (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments, files, shapes or data supplied by the caller.
    #[error("{0}")]
    Input(String),
    /// A failure of the GPU layer (no adapter, device lost, shader rejected, ...).
    #[error("{0}")]
    Gpu(String),
    /// Any other failure while doing valid work.
    #[error("{0}")]
    Runtime(String),
    /// Training stopped because a loss became non-finite or exploded (exit code 1).
    #[error("{0}")]
    Diverged(String),
    /// The user interrupted the run (Ctrl-C, SIGTERM): exit code 130.
    #[error("{0}")]
    Interrupted(String),
}

impl Error {
    /// A bad-input error (exit code 2).
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }
    /// A GPU-layer error (exit code 1).
    pub fn gpu(msg: impl Into<String>) -> Self {
        Error::Gpu(msg.into())
    }
    /// A runtime error (exit code 1).
    pub fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }
    /// An I/O failure on `path`, phrased for a user.
    pub fn io(path: &Path, err: std::io::Error) -> Self {
        Error::Input(format!("{}: {}", path.display(), err))
    }
    /// Process exit code for this error (DESIGN §7: 2 for bad usage/input, 1 otherwise).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// dak's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
