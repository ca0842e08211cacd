//! Command-line glue: argument definitions and human-readable output. The work itself lives in
//! the library modules.
pub mod data;
