//! [`JsonLines`]: the `--metrics FILE.jsonl` writer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::train::{Callback, Control, EpochLogs, History, TrainState};
use crate::{Error, Result};

/// Writes one JSON object per epoch and one at the end of the run, flushed after each line so
/// the file can be followed live. Fine-tuning ends with `{"summary": history}`, adaptation with
/// the run summary (`"type": "summary"`).
pub struct JsonLines {
    path: PathBuf,
    file: File,
}

impl JsonLines {
    /// Creates (truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(JsonLines { path, file })
    }

    /// Appends any serialisable value as one line.
    pub fn write(&mut self, value: &impl serde::Serialize) -> Result<()> {
        let line = serde_json::to_string(value).map_err(|e| Error::runtime(e.to_string()))?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

impl Callback for JsonLines {
    fn on_epoch_end(&mut self, logs: &EpochLogs, _: &TrainState) -> Result<Control> {
        self.write(logs)?;
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, history: &History) -> Result<()> {
        match &history.summary {
            Some(summary) => self.write(summary),
            None => self.write(&serde_json::json!({ "summary": history })),
        }
    }
}
