//! The kernel registry: every GPU kernel dak ships, with its stable id, its shader file(s), what
//! it computes, and a check against the op's CPU reference on a small set of awkward shapes
//! (sizes that are not multiples of a tile, batch 1, 3 channels, odd H/W, stride 2, 1x1 and 5x5
//! kernels). `dak kernels list` and `dak kernels check` are thin layers over this module.
//!
//! A check runs whatever shader source the runtime would use, so with `DAK_SHADER_DIR` set it
//! validates an edited copy of a kernel without rebuilding dak.

mod checks;

/// The batch-norm kernels' case list (shapes and inputs), shared with the op's tests.
pub use checks::batch_norm::inputs as batch_norm_inputs;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::time::Instant;

/// One kernel (or kernel family sharing an id) of the engine.
#[derive(Clone, Copy)]
pub struct Kernel {
    /// Stable id, e.g. `conv2d.fwd.igemm_sgbc`; the same id `dak bench` and the tuning cache use.
    pub id: &'static str,
    /// Op family: `matmul`, `conv2d`, `pool`, `elementwise`, `loss`, `optim`, `bench`.
    pub op: &'static str,
    /// Hand-written shader files (relative to `shaders/` or `DAK_SHADER_DIR`) this id may
    /// launch; the generated ones come from the generator's tables (see [`Kernel::files`]).
    pub(crate) shaders: &'static [&'static str],
    /// What it computes, in one line.
    pub description: &'static str,
    supported: fn(&Gpu) -> bool,
    check: fn(&Gpu, &mut Checker) -> Result<()>,
}

impl Kernel {
    /// Every shader file this id may launch, relative to `shaders/`: its hand-written files,
    /// then the generated ones whose table row names this id. Variants with one file per
    /// subgroup size list every size; the runtime picks one for the adapter.
    pub fn files(&self) -> Vec<&'static str> {
        let mut files = self.shaders.to_vec();
        files.extend(crate::gpu::generated_shaders_for(self.id));
        files
    }

    /// Whether this kernel can run on `gpu` (subgroup kernels need subgroups of 8 or 16).
    pub fn supported(&self, gpu: &Gpu) -> bool {
        (self.supported)(gpu)
    }

    /// The serialisable part, for `dak kernels list --json`.
    pub fn info(&self) -> KernelInfo {
        KernelInfo {
            id: self.id.to_string(),
            op: self.op.to_string(),
            files: self.files().iter().map(|f| f.to_string()).collect(),
            description: self.description.to_string(),
        }
    }
}

/// A kernel's id, files and description.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct KernelInfo {
    /// Stable kernel id.
    pub id: String,
    /// Op family.
    pub op: String,
    /// Shader files, relative to `shaders/`.
    pub files: Vec<String>,
    /// What it computes, in one line.
    pub description: String,
}

/// Every kernel, in a stable order (op families, then the variant ladder within each).
pub fn all() -> &'static [Kernel] {
    static ALL: std::sync::LazyLock<Vec<Kernel>> = std::sync::LazyLock::new(|| {
        [
            checks::REGISTRY,
            checks::adapt::KERNELS,
            checks::batch_norm::KERNELS,
            checks::info_max::KERNELS,
            checks::centroids::KERNELS,
        ]
        .concat()
    });
    &ALL
}

/// The kernel with exactly this id.
pub fn find(id: &str) -> Option<&'static Kernel> {
    all().iter().find(|k| k.id == id)
}

/// Kernels named by `patterns`: an exact id, or a prefix ending at a dot boundary (`conv2d`,
/// `conv2d.fwd`, `pool`). No pattern selects everything. Order follows the registry; an
/// unknown pattern is an input error listing the known ids.
pub fn select(patterns: &[String]) -> Result<Vec<&'static Kernel>> {
    if patterns.is_empty() {
        return Ok(all().iter().collect());
    }
    let matches = |p: &str, id: &str| {
        id == p || (id.starts_with(p) && id.as_bytes().get(p.len()) == Some(&b'.'))
    };
    for p in patterns {
        if !all().iter().any(|k| matches(p, k.id)) {
            let ids: Vec<&str> = all().iter().map(|k| k.id).collect();
            return Err(Error::input(format!(
                "unknown kernel `{p}`; known ids (or a prefix such as `conv2d.fwd`): {}",
                ids.join(", ")
            )));
        }
    }
    Ok(all()
        .iter()
        .filter(|k| patterns.iter().any(|p| matches(p, k.id)))
        .collect())
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every output of every case matched the reference.
    Pass,
    /// An output differed from the reference beyond the tolerance.
    Fail,
    /// The kernel could not run (shader rejected by the compiler, GPU error).
    Error,
    /// Not available on this adapter (e.g. no subgroups); not a failure.
    Unsupported,
}

impl Status {
    /// How the status is printed (`pass`, `FAIL`, `ERROR`, `unsupported`).
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Unsupported => "unsupported",
        }
    }
    /// FAIL and ERROR count as failures; an unsupported kernel does not.
    pub fn failed(self) -> bool {
        matches!(self, Status::Fail | Status::Error)
    }
}

/// The first output that differed from the reference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mismatch {
    /// The shape case and output, e.g. `dx of 2x3x9x7 -> 70 k5x5 s2 p2`.
    pub case: String,
    /// Flat index into that output.
    pub index: usize,
    /// The kernel's value.
    pub got: f64,
    /// The reference's value.
    pub want: f64,
    /// The tolerance: |got - want| must be at most `tol · (1 + |want|)`.
    pub tol: f64,
}

/// The outcome of checking one kernel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// The kernel id (or the name a custom check was given).
    pub id: String,
    /// How the check ended.
    pub status: Status,
    /// Shape cases run (up to and including the first failing one).
    pub cases: usize,
    /// Output values compared.
    pub compared: usize,
    /// Largest `|got - want| / (1 + |want|)` seen.
    pub max_err: f64,
    /// The first mismatch, if any.
    pub mismatch: Option<Mismatch>,
    /// The error message when the kernel could not run.
    pub error: Option<String>,
    /// Wall time of the check, including pipeline compiles.
    pub seconds: f64,
}

/// Collects comparisons of a kernel's outputs with the reference; remembers the first mismatch.
#[derive(Debug, Default)]
pub struct Checker {
    cases: usize,
    compared: usize,
    max_err: f64,
    mismatch: Option<Mismatch>,
}

impl Checker {
    /// Start a new shape case.
    pub fn case(&mut self) {
        self.cases += 1;
    }

    /// True once an output has mismatched (checks stop at the first failing case).
    pub fn failed(&self) -> bool {
        self.mismatch.is_some()
    }

    /// Compare `got` with `want` element by element within `tol` (absolute + relative):
    /// `|got - want| <= tol · (1 + |want|)`. `what` names the case in a mismatch.
    pub fn compare(&mut self, what: &str, got: &[f32], want: &[f32], tol: f32) {
        if self.failed() {
            return;
        }
        let tol = tol as f64;
        for i in 0..got.len().max(want.len()) {
            let (g, w) = match (got.get(i), want.get(i)) {
                (Some(&g), Some(&w)) => (g as f64, w as f64),
                (g, w) => (
                    g.map_or(f64::NAN, |&v| v as f64),
                    w.map_or(f64::NAN, |&v| v as f64),
                ),
            };
            self.compared += 1;
            let err = (g - w).abs() / (1.0 + w.abs());
            let bad = err.is_nan() || err > tol || g.is_finite() != w.is_finite();
            if err.is_finite() {
                self.max_err = self.max_err.max(err);
            }
            if bad {
                self.mismatch = Some(Mismatch {
                    case: what.to_string(),
                    index: i,
                    got: g,
                    want: w,
                    tol,
                });
                return;
            }
        }
    }

    /// Compare integer outputs (argmax indices, counters) exactly.
    pub fn compare_u32(&mut self, what: &str, got: &[u32], want: &[u32]) {
        let g: Vec<f32> = got.iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = want.iter().map(|&v| v as f32).collect();
        if got.iter().all(|&v| v < 1 << 24) && want.iter().all(|&v| v < 1 << 24) {
            self.compare(what, &g, &w, 0.0);
        } else if got != want {
            let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
            self.mismatch = Some(Mismatch {
                case: what.to_string(),
                index: i,
                got: got.get(i).map_or(f64::NAN, |&v| v as f64),
                want: want.get(i).map_or(f64::NAN, |&v| v as f64),
                tol: 0.0,
            });
        }
    }
}

/// Tolerance for a reduction of length `k` in f32 (the same rule as the test suite).
pub fn tol_for(k: usize) -> f32 {
    1e-5 * (k as f32).sqrt().max(1.0) * 4.0
}

/// Run `kernel`'s check on `gpu`. Never panics on a bad kernel: compile errors and GPU errors
/// become `Status::Error` with the message.
pub fn check(gpu: &Gpu, kernel: &Kernel) -> CheckReport {
    if !kernel.supported(gpu) {
        return CheckReport::unsupported(kernel.id);
    }
    check_with(gpu, kernel.id, kernel.check)
}

/// Run a check written outside the registry — typically a kernel registered with
/// [`Gpu::register_shader`] compared with an op's CPU reference — and report it like the
/// built-in ones (`dak kernels check`): status, cases, values compared, largest error, time.
///
/// ```no_run
/// use dak::kernels::{self, Status};
/// use dak::ops::elementwise as ew;
/// use dak::{Gpu, Tensor};
/// # fn main() -> dak::Result<()> {
/// let gpu = Gpu::new()?;
/// let report = kernels::check_with(&gpu, "my.relu_grad", |gpu, c| {
///     c.case();
///     let (dy, y) = (vec![1.0, -2.0, 3.0], vec![0.5, 0.0, -1.0]);
///     let got = ew::relu_grad(&Tensor::from_slice(gpu, &dy, &[3])?, &Tensor::from_slice(gpu, &y, &[3])?)?;
///     c.compare("dx of [3]", &got.to_vec()?, &ew::reference::relu_grad(&dy, &y), 0.0);
///     Ok(())
/// });
/// assert_eq!(report.status, Status::Pass);
/// # Ok(()) }
/// ```
pub fn check_with(
    gpu: &Gpu,
    id: &str,
    check: impl FnOnce(&Gpu, &mut Checker) -> Result<()>,
) -> CheckReport {
    let start = Instant::now();
    let mut report = CheckReport::unsupported(id);
    let mut checker = Checker::default();
    let outcome = check(gpu, &mut checker);
    // Leave nothing recorded behind for the next kernel (and surface late GPU errors).
    let outcome = outcome.and_then(|()| gpu.sync());
    report.cases = checker.cases;
    report.compared = checker.compared;
    report.max_err = checker.max_err;
    report.status = match (&outcome, &checker.mismatch) {
        (Err(e), _) => {
            report.error = Some(e.to_string());
            let _ = gpu.sync();
            Status::Error
        }
        (Ok(()), Some(_)) => Status::Fail,
        (Ok(()), None) => Status::Pass,
    };
    report.mismatch = checker.mismatch;
    report.seconds = start.elapsed().as_secs_f64();
    report
}

impl CheckReport {
    /// A report of a check that did not run (the starting point of every check).
    fn unsupported(id: &str) -> CheckReport {
        CheckReport {
            id: id.to_string(),
            status: Status::Unsupported,
            cases: 0,
            compared: 0,
            max_err: 0.0,
            mismatch: None,
            error: None,
            seconds: 0.0,
        }
    }
}

/// Check every kernel in `kernels`, calling `each` after each one (for progress output).
pub fn check_all(
    gpu: &Gpu,
    kernels: &[&Kernel],
    mut each: impl FnMut(&CheckReport),
) -> Vec<CheckReport> {
    kernels
        .iter()
        .map(|k| {
            let r = check(gpu, k);
            each(&r);
            r
        })
        .collect()
}
