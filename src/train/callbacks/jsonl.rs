//! [`JsonLines`]: the `--metrics FILE.jsonl` writer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::{Callback, Control, EpochLogs, History, TrainState};

/// Writes one JSON object per epoch and one at the end of the run, flushed after each line so
/// the file can be followed live. Fine-tuning ends with `{"summary": history}`, adaptation with
/// the run summary (`"type": "summary"`). The file is opened at the first line, so a run that
/// fails before its first epoch leaves no empty file.
pub struct JsonLines {
    path: PathBuf,
    append: bool,
    file: Option<File>,
}

impl JsonLines {
    /// Writes `path` from the start (an existing file is replaced at the first line).
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Ok(JsonLines {
            path: path.as_ref().to_path_buf(),
            append: false,
            file: None,
        })
    }

    /// Continues `path` (a resumed run): lines are added after the existing history.
    pub fn append(path: impl AsRef<Path>) -> Result<Self> {
        Ok(JsonLines {
            append: true,
            ..Self::create(path)?
        })
    }

    /// Appends any serialisable value as one line.
    pub fn write(&mut self, value: &impl serde::Serialize) -> Result<()> {
        let line = serde_json::to_string(value).map_err(|e| Error::runtime(e.to_string()))?;
        if self.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(self.append)
                .truncate(!self.append)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e))?;
            self.file = Some(f);
        }
        let file = self.file.as_mut().expect("opened above");
        writeln!(file, "{line}")
            .and_then(|_| file.flush())
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
