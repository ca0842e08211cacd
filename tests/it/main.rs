//! dak's integration tests, one crate mirroring `src/` (`ops/mmd.rs` tests `src/ops/mmd.rs`)
//! with one shared `Gpu` (`common::gpu`) and one pipeline cache for all of them. Tests that
//! change process-wide state the engine reads are separate binaries: `tests/shader_override.rs`
//! (an environment variable) and `tests/resume_mid_epoch.rs` (the Ctrl-C stop request).

mod autograd;
mod build_features;
mod cli;
mod common;
mod data;
mod export;
mod gpu;
mod house;
mod kernels;
mod library_api;
mod models;
mod ops;
mod optim;
mod readme_commands;
mod train;
