//! File and terminal helpers shared by every writer of user-visible output: atomic files, and
//! aligned text tables.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker in the name of a file being written: `<name>.dak-partial-<pid>`, next to the
/// target. A file with this name is the unfinished save of a process that was killed.
pub const PARTIAL_MARKER: &str = ".dak-partial-";

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether process `pid` is still running (Linux: `/proc/<pid>`; elsewhere assume it is, so
/// nothing another writer still needs is removed).
fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the temporary files that interrupted saves to `path` left behind (their process no
/// longer runs). Returns the files removed.
pub fn remove_stale_partials(path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return Vec::new();
    };
    let prefix = format!("{name}{PARTIAL_MARKER}");
    // The names written by dak before the marker existed: `.<name>.tmp<pid>`.
    let legacy = format!(".{name}.tmp");
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let pid = file
            .strip_prefix(&prefix)
            .or_else(|| file.strip_prefix(&legacy))
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !pid_alive(p)) && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// Write `bytes` to `path` atomically: `<name>.dak-partial-<pid>` in the same directory,
/// flushed, then renamed over the target, so an interrupted write never leaves a corrupt file.
/// Partial files of earlier interrupted saves to the same path are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::input(format!("{}: not a file path", path.display())))?;
    remove_stale_partials(path);
    let tmp = parent_dir(path).join(format!(
        "{}{PARTIAL_MARKER}{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(path, bytes.len(), e)
    })
}

/// The error of writing `len` bytes to `path`: on a full disk (or quota), how much space the
/// file needs and where.
fn write_error(path: &Path, len: usize, e: std::io::Error) -> Error {
    use std::io::ErrorKind::{QuotaExceeded, StorageFull};
    if matches!(e.kind(), StorageFull | QuotaExceeded) {
        return Error::input(format!(
            "{}: no space left: writing it needs {:.1} MB free in {} ({e}); free some space or write it elsewhere",
            path.display(),
            len as f64 / 1e6,
            parent_dir(path).display()
        ));
    }
    Error::io(path, e)
}

/// Whether human-readable lines go to stderr: set while `--json` prints its document on stdout,
/// so stdout holds the JSON alone.
static HUMAN_TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sends the lines printed with [`say!`](crate::say) to stderr (`true`) or stdout.
pub fn human_output_to_stderr(on: bool) {
    HUMAN_TO_STDERR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Prints one human-readable line: stdout, or stderr while a `--json` document owns stdout.
pub fn say_line(line: std::fmt::Arguments<'_>) {
    if HUMAN_TO_STDERR.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// `println!` for human-readable output that must step aside for a `--json` document.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::io::say_line(format_args!($($arg)*)) };
}

/// Where a command's `--json` document goes: stdout (`--json`), a file (`--save FILE`), or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonTargets {
    /// Print the document on stdout (human lines move to stderr).
    pub stdout: bool,
    /// Also write it to this file (atomically).
    pub file: Option<PathBuf>,
}

impl JsonTargets {
    /// From `--json [FILE]` (`-`, the value of a bare `--json`: stdout) and `--save FILE`.
    /// `--json FILE` is the form of dak 0.1 (it wrote the file and printed the tables): still
    /// accepted for one release, with a note.
    pub fn from_flags(json: Option<&Path>, save: Option<&Path>) -> Result<JsonTargets> {
        let mut t = JsonTargets {
            file: save.map(Path::to_path_buf),
            ..Default::default()
        };
        match json {
            None => {}
            Some(p) if p == Path::new("-") => t.stdout = true,
            Some(p) => {
                if t.file.is_some() {
                    return Err(Error::input(format!(
                        "--json {} and --save: pass the file once, as --save FILE (a bare --json prints the JSON on stdout)",
                        p.display()
                    )));
                }
                eprintln!(
                    "note: --json FILE is now --save FILE (a bare --json prints the JSON on stdout); writing {}",
                    p.display()
                );
                t.file = Some(p.to_path_buf());
            }
        }
        crate::validate::output_opt("--save", t.file.as_deref())?;
        human_output_to_stderr(t.stdout);
        Ok(t)
    }

    /// Writes `doc` where the flags said.
    pub fn emit(&self, doc: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string_pretty(doc).map_err(|e| Error::runtime(e.to_string()))?;
        if let Some(path) = &self.file {
            write_atomic(path, text.as_bytes())?;
        }
        if self.stdout {
            println!("{text}");
        }
        Ok(())
    }
}

/// `value` (an object) with `"type": kind` added: every JSON record dak prints or writes names
/// its kind (docs/json.md).
pub fn typed(kind: &str, value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut map) => {
            map.insert("type".into(), kind.into());
            serde_json::Value::Object(map)
        }
        other => serde_json::json!({ "type": kind, "value": other }),
    }
}

/// `typed` over a serialisable value.
pub fn typed_of(kind: &str, value: &impl serde::Serialize) -> Result<serde_json::Value> {
    let v = serde_json::to_value(value).map_err(|e| Error::runtime(e.to_string()))?;
    Ok(typed(kind, v))
}

/// Print rows as an aligned text table.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        say_line(format_args!("{}", parts.join("  ").trim_end()));
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_says_how_much_space_the_file_needs() {
        let e = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let msg = write_error(Path::new("out/m.safetensors"), 61_400_000, e).to_string();
        assert!(
            msg.starts_with(
                "out/m.safetensors: no space left: writing it needs 61.4 MB free in out"
            ),
            "{msg}"
        );
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let msg = write_error(Path::new("m.safetensors"), 10, e).to_string();
        assert!(!msg.contains("no space"), "{msg}");
    }
}
