//! The checks every command runs before it opens the GPU: output paths, numeric flags. Input
//! files have their own up-front checks where their format lives (`Dataset::check_images`,
//! `models::file::expect`). Each failure is one line naming the flag and the fix (exit 2).

use crate::error::{Error, Result};
use std::path::Path;

/// `path` can be written: its folder exists and is writable, and it is not a folder itself.
/// The write test creates and removes a `.dak-write-test-<pid>` file in that folder.
pub fn output_file(flag: &str, path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if path.file_name().is_none() || path.is_dir() {
        return Err(Error::input(format!(
            "{flag} {}: is a directory; give a file name inside it",
            path.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "{flag} {}: folder {} does not exist; create it first (mkdir -p {})",
            path.display(),
            dir.display(),
            dir.display()
        )));
    }
    let probe = dir.join(format!(".dak-write-test-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => {
            return Err(Error::input(format!(
                "{flag} {}: cannot write in {} ({e}); choose a writable folder",
                path.display(),
                dir.display()
            )))
        }
    }
    if path.exists() && std::fs::OpenOptions::new().append(true).open(path).is_err() {
        return Err(Error::input(format!(
            "{flag} {}: the file exists and is not writable; remove it or choose another name",
            path.display()
        )));
    }
    Ok(())
}

/// [`output_file`] for an optional flag.
pub fn output_opt(flag: &str, path: Option<&Path>) -> Result<()> {
    path.map_or(Ok(()), |p| output_file(flag, p))
}

/// The file `path` names, resolved: symlinks followed and `.`/`..` removed where the file or
/// its folder exists, so two spellings of one file compare equal.
pub fn resolved(path: &Path) -> std::path::PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Refuses a command whose files collide: two outputs (`(flag, path)`) that resolve to the same
/// file, or an output that is one of the inputs — it would destroy what the user owns. Runs
/// before any work; the error names both flags.
pub fn distinct_files(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    let outs: Vec<(&str, &Path, std::path::PathBuf)> =
        outputs.iter().map(|(f, p)| (*f, *p, resolved(p))).collect();
    for (i, (flag, path, r)) in outs.iter().enumerate() {
        if let Some((input, _)) = inputs.iter().find(|(_, p)| resolved(p) == *r) {
            return Err(Error::input(format!(
                "{flag} {} is the file {input} reads; writing it would destroy the input: choose another name for {flag}",
                path.display()
            )));
        }
        if let Some((other, _, _)) = outs[..i].iter().find(|(_, _, o)| o == r) {
            return Err(Error::input(format!(
                "{other} and {flag} both name {}; give each output its own file",
                path.display()
            )));
        }
    }
    Ok(())
}

/// An input file that must exist (`what` says what it should be, for the message).
pub fn input_file(flag: &str, path: &Path, what: &str) -> Result<()> {
    if path.is_file() {
        return Ok(());
    }
    let why = if path.is_dir() {
        "is a directory"
    } else {
        "no such file"
    };
    Err(Error::input(format!(
        "{flag} {}: {why}; pass {what}",
        path.display()
    )))
}

/// Where a number must lie.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// `> 0`.
    Positive,
    /// `>= 0`.
    NonNegative,
    /// `[lo, hi)`.
    HalfOpen(f64, f64),
    /// `(lo, hi)`.
    Open(f64, f64),
    /// `[lo, hi]`.
    Closed(f64, f64),
}

impl Range {
    fn contains(self, v: f64) -> bool {
        match self {
            Range::Positive => v > 0.0,
            Range::NonNegative => v >= 0.0,
            Range::HalfOpen(lo, hi) => v >= lo && v < hi,
            Range::Open(lo, hi) => v > lo && v < hi,
            Range::Closed(lo, hi) => v >= lo && v <= hi,
        }
    }

    fn describe(self) -> String {
        match self {
            Range::Positive => "a positive number".into(),
            Range::NonNegative => "a number >= 0".into(),
            Range::HalfOpen(lo, hi) => format!("a number in [{lo}, {hi})"),
            Range::Open(lo, hi) => format!("a number strictly between {lo} and {hi}"),
            Range::Closed(lo, hi) => format!("a number in [{lo}, {hi}]"),
        }
    }
}

/// A finite number (never NaN or infinite) inside `range`.
pub fn number(flag: &str, v: f64, range: Range) -> Result<()> {
    if v.is_finite() && range.contains(v) {
        return Ok(());
    }
    // A flag parsed as f32 prints as the user wrote it, not as its f64 widening.
    let shown = match (v as f32) as f64 == v {
        true => format!("{}", v as f32),
        false => format!("{v}"),
    };
    Err(Error::input(format!(
        "{flag} {shown}: must be {}",
        range.describe()
    )))
}

/// [`number`] for an optional flag.
pub fn number_opt(flag: &str, v: Option<f64>, range: Range) -> Result<()> {
    v.map_or(Ok(()), |v| number(flag, v, range))
}

/// A count of at least `min`.
pub fn count(flag: &str, v: usize, min: usize) -> Result<()> {
    if v >= min {
        return Ok(());
    }
    Err(Error::input(format!("{flag} {v}: must be at least {min}")))
}

/// `--workers N` (0 = one per core): at most 4 per core — beyond that, threads only add memory
/// (each holds decoded batches), and a typo like 100000 would exhaust it.
pub fn workers(flag: &str, n: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let most = 4 * cores;
    if n <= most {
        return Ok(());
    }
    Err(Error::input(format!(
        "{flag} {n}: at most {most} on this machine (4 per CPU core; more threads only add memory); use 0 for one per core"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_outputs_and_inputs_are_refused_naming_both_flags() {
        let dir = std::env::temp_dir().join(format!("dak-distinct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("m.safetensors");
        std::fs::write(&model, b"x").unwrap();
        let dotted = dir.join(".").join("m.safetensors");
        let link = dir.join("link.safetensors");
        let _ = std::fs::remove_file(&link);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&model, &link).unwrap();
        let other = dir.join("m.onnx");
        let e = distinct_files(&[("--onnx", &dotted)], &[("--model", &model)]).unwrap_err();
        assert!(
            e.to_string().contains("--onnx") && e.to_string().contains("--model"),
            "{e}"
        );
        #[cfg(unix)]
        {
            let e = distinct_files(&[("--out", &model), ("--plot", &link)], &[]).unwrap_err();
            assert!(e.to_string().contains("--out and --plot"), "{e}");
        }
        let new = dir.join("new.png");
        let e = distinct_files(&[("--out", &new), ("--plot", &dir.join("./new.png"))], &[])
            .unwrap_err();
        assert!(e.to_string().contains("--out and --plot"), "{e}");
        distinct_files(
            &[("--onnx", &other), ("--plot", &new)],
            &[("--model", &model)],
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn numbers_refuse_nan_infinity_and_out_of_range() {
        assert!(number("--lr", f64::NAN, Range::Positive).is_err());
        assert!(number("--lr", f64::INFINITY, Range::Positive).is_err());
        assert!(number("--lr", -0.1, Range::Positive).is_err());
        assert!(number("--lr", 0.1, Range::Positive).is_ok());
        assert!(number("--dropout", 1.0, Range::HalfOpen(0.0, 1.0)).is_err());
        assert!(number("--dropout", 0.0, Range::HalfOpen(0.0, 1.0)).is_ok());
        let e = number("--val-split", 1.5, Range::Open(0.0, 1.0)).unwrap_err();
        assert!(e.to_string().starts_with("--val-split 1.5"), "{e}");
    }

    #[test]
    fn outputs_need_an_existing_writable_folder_and_a_file_name() {
        let dir = std::env::temp_dir();
        assert!(output_file("--out", &dir.join("dak-validate-ok.bin")).is_ok());
        let e = output_file("--out", Path::new("/no/such/dir/m.safetensors")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = output_file("--out", &dir).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
