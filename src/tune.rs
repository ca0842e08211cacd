//! Per-adapter kernel choices measured by `dak tune`, kept in a small JSON file keyed by adapter
//! name and driver: `$DAK_TUNE_FILE`, else `$XDG_CACHE_HOME/dak/tune.json`, else
//! `~/.cache/dak/tune.json`. `DAK_NO_TUNE=1` turns it off (the test suite does).
//!
//! Keys of `choices`: `matmul` and `conv2d` (what `Variant::default_for` returns: one GEMM
//! variant id, one conv variant name for all three passes), and per shape bucket
//! `matmul/<bucket>`, `conv2d.<pass>/<bucket>` (variant ids; see [`bucket`]). The ops only use a
//! choice that names a variant this build knows and the adapter supports; anything else falls
//! back to the built-in rule (register blocking on CPU adapters, shared-memory tiles on GPUs).
//!
//! Layering: `ops/` reads this cache, so it imports nothing above `gpu/`; the benchmarks that
//! fill it (`bench/`, `bench::winners`) sit above and write plain records into it.

use crate::error::{Error, Result};
use crate::gpu::AdapterSummary;
use crate::gpu::Gpu;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Measured roofs of one adapter.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Peak {
    /// FMA throughput, GFLOP/s (a multiply-add counts as 2).
    pub gflops: f64,
    /// Copy bandwidth, GB/s (bytes read + bytes written).
    pub gbps: f64,
    /// Wall time of one tiny dispatch in its own submit, including the wait, µs.
    pub single_dispatch_us: f64,
    /// Per-dispatch time of 1,000 tiny dispatches in one submit, µs.
    pub batched_dispatch_us: f64,
}

/// The whole cache file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TuneCache {
    /// Cache format version.
    pub version: u32,
    /// By [`adapter_key`].
    pub adapters: BTreeMap<String, AdapterTune>,
}

/// What was measured on one adapter.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AdapterTune {
    /// Adapter name.
    pub adapter: String,
    /// Driver name and version.
    pub driver: String,
    /// The adapter's measured roofs (`dak bench` reads them for `pct_of_peak`).
    pub peak: Option<Peak>,
    /// Winning variant per key (see the module docs).
    pub choices: BTreeMap<String, String>,
    /// Total median milliseconds per key and variant over the key's shapes (variants that
    /// failed or did not run on one of those shapes are absent).
    pub totals_ms: BTreeMap<String, BTreeMap<String, f64>>,
    /// Shape set and repeat count of the measurement.
    pub measured_on: String,
}

/// `name | driver driver_info`: two machines with the same GPU and driver share choices.
pub fn adapter_key(a: &AdapterSummary) -> String {
    format!("{} | {} {}", a.name, a.driver, a.driver_info)
        .trim()
        .to_string()
}

/// Whether the cache is consulted at all (`DAK_NO_TUNE` unset, empty or `0`).
pub fn enabled() -> bool {
    match std::env::var("DAK_NO_TUNE") {
        Ok(v) => v.is_empty() || v == "0",
        Err(_) => true,
    }
}

/// Where the cache lives (whether or not it exists).
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DAK_TUNE_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("dak").join("tune.json"))
}

/// Read a cache file; a missing file is an empty cache.
pub fn load(path: &Path) -> Result<TuneCache> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Error::input(format!(
                "{}: not a dak tuning cache ({e}); delete it or rerun `dak tune`",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TuneCache {
            version: 1,
            ..TuneCache::default()
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Write the cache atomically, creating its folder.
pub fn save(path: &Path, cache: &TuneCache) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let text = serde_json::to_string_pretty(cache).map_err(|e| Error::runtime(e.to_string()))?;
    crate::io::write_atomic(path, text.as_bytes())
}

/// The cache as this process sees it: read once, on first use. An unreadable file is ignored
/// (with one warning) so a bad cache never stops training.
fn cached() -> Option<&'static TuneCache> {
    static CACHE: OnceLock<Option<TuneCache>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            if !enabled() {
                return None;
            }
            let p = path()?;
            if !p.exists() {
                return None;
            }
            match load(&p) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("warning: ignoring the tuning cache: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// This adapter's entry of the cache, if `dak tune` ran on it.
pub fn entry(gpu: &Gpu) -> Option<&'static AdapterTune> {
    cached()?.adapters.get(&adapter_key(&gpu.adapter()))
}

/// The cached choice for `key` on this adapter.
pub fn choice(gpu: &Gpu, key: &str) -> Option<&'static str> {
    entry(gpu)?.choices.get(key).map(String::as_str)
}

/// Shape bucket by work: `small` (< 10 MFLOP), `medium` (< 1 GFLOP), `large`.
pub fn bucket(flops: f64) -> &'static str {
    if flops < 1e7 {
        "small"
    } else if flops < 1e9 {
        "medium"
    } else {
        "large"
    }
}
