//! The candidates of a run kept on disk (`dak adapt --candidates DIR`): every epoch's model of
//! every method, and `DIR/candidates.json`, which says what was trained on which images with
//! which seed. `dak select DIR` re-scores them with any validator without training again
//! (the same scoring code the run used, on the same seeded score set).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::PairSpec;
use crate::error::{Error, Result};

/// Name of the index file inside a candidates folder.
pub const INDEX: &str = "candidates.json";

/// Version of the index layout this build writes and reads.
pub const VERSION: u32 = 1;

/// Version of the scoring code (the validators' inputs): a candidate's cached scores of another
/// version are computed again by `dak select`.
pub const SCORING: u32 = 3;

/// What a run measured of one candidate, kept beside its model file
/// (`epoch-NNN.scores.json`) so `dak select` re-ranks without a GPU pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedScores {
    /// [`SCORING`] of the code that wrote it.
    pub scoring: u32,
    /// Mean prediction entropy on the score set.
    pub entropy: f64,
    /// Information maximisation.
    pub im: f64,
    /// Soft neighbourhood density.
    pub snd: f64,
    /// MixVal.
    pub mixval: Option<f64>,
    /// DEV risk.
    pub dev: Option<f64>,
    /// Held-out source accuracy (`--source-val-split`).
    pub source_val_acc: Option<f64>,
    /// Target-test accuracy (reporting only).
    pub target_acc: Option<f64>,
    /// Mean and standard error of the top probability on held-out source images (absent in
    /// files from before it was kept; `dak select` measures it where the safety rule needs it).
    #[serde(default)]
    pub source_confidence: Option<(f64, f64)>,
    /// The domain classifier's errors on features and on class probabilities (the safety
    /// rule's shift test; absent where `source_confidence` is).
    #[serde(default)]
    pub domain_shift: Option<crate::train::metrics::DomainShift>,
    /// Class probabilities on the score set, rows of the model's classes.
    pub probs: Vec<f32>,
}

impl CachedScores {
    /// The scores file beside candidate model `file`.
    pub fn path_for(file: &Path) -> PathBuf {
        file.with_extension("scores.json")
    }

    /// Reads the scores beside `file`, if present and of this build's [`SCORING`].
    pub fn read(file: &Path) -> Option<CachedScores> {
        let text = std::fs::read_to_string(Self::path_for(file)).ok()?;
        let c: CachedScores = serde_json::from_str(&text).ok()?;
        (c.scoring == SCORING).then_some(c)
    }

    /// Writes the scores beside `file` (atomically).
    pub fn write(&self, file: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("plain JSON");
        crate::io::write_atomic(&Self::path_for(file), text.as_bytes())
    }
}

/// One candidate: a model after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Epoch counted from 1.
    pub epoch: usize,
    /// The model file, relative to the candidates folder.
    pub file: PathBuf,
}

/// The candidates of one method's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCandidates {
    /// The method's name (`dann`, `source-only`, …).
    pub method: String,
    /// One per epoch, in order.
    pub candidates: Vec<Candidate>,
}

/// `candidates.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateIndex {
    /// Always `candidates`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Layout version ([`VERSION`]).
    pub version: u32,
    /// The images of the run (folders made absolute).
    pub data: PairSpec,
    /// `--skip-bad` of the run.
    pub skip_bad: bool,
    /// The run's seed: it also draws the score set and the validators' probes.
    pub seed: u64,
    /// Target images scored per candidate.
    pub score_samples: usize,
    /// The held-out source fraction of the run, if any.
    pub source_val_split: Option<f64>,
    /// The command line that trained the candidates.
    pub command: String,
    /// Every method's candidates, in the order they were trained (source-only first).
    pub runs: Vec<RunCandidates>,
}

impl CandidateIndex {
    /// Writes `dir/candidates.json` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("plain JSON");
        crate::io::write_atomic(&dir.join(INDEX), text.as_bytes())
    }

    /// Reads `dir/candidates.json` (or the file itself when `dir` names it), with a one-line
    /// error naming `flag` when it is not a dak candidates index.
    pub fn read(dir: &Path, flag: &str) -> Result<(CandidateIndex, PathBuf)> {
        let (file, root) = match dir.is_dir() {
            true => (dir.join(INDEX), dir.to_path_buf()),
            false => (
                dir.to_path_buf(),
                dir.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
        };
        let not_ours = |why: String| {
            Error::input(format!(
                "{flag} {}: {why}; give a folder written by `dak adapt --candidates DIR` (it holds {INDEX})",
                file.display()
            ))
        };
        let text = std::fs::read_to_string(&file).map_err(|e| not_ours(e.to_string()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| not_ours("not a dak candidates index (not JSON)".into()))?;
        if value.get("type").and_then(|t| t.as_str()) != Some("candidates") {
            return Err(not_ours(
                "not a dak candidates index (no \"type\": \"candidates\")".into(),
            ));
        }
        let index: CandidateIndex = serde_json::from_value(value)
            .map_err(|e| not_ours(format!("unreadable candidates index ({e})")))?;
        if index.version != VERSION {
            return Err(not_ours(format!(
                "index version {} (this dak reads version {VERSION})",
                index.version
            )));
        }
        if index.runs.iter().all(|r| r.candidates.is_empty()) {
            return Err(not_ours("the index lists no candidate".into()));
        }
        Ok((index, root))
    }
}
