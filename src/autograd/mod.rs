//! Minimal reverse-mode autograd: named parameters with a trainable flag, and a tape.
pub mod params;
pub mod tape;

pub use params::{Param, ParamId, Params};
pub use tape::{BnStats, Lambda, Tape, TapeStats, Var};
