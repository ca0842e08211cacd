//! Training support: the domain-adaptation fit loop, callbacks, metrics, curves, checkpoints.
pub mod adapt;
pub mod callbacks;
pub mod checkpoint;
pub mod metrics;
pub mod plot;
