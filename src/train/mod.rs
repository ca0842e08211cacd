//! Training support: checkpoints (and, later, fit loops, metrics and callbacks).
pub mod checkpoint;
