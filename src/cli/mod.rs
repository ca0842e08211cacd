//! The `dak` command line: thin wrappers over the library.
pub mod adapt;
pub mod adapt_args;
pub mod adapt_source_free;
pub mod adapt_summary;
pub mod bench;
pub mod data;
pub mod devices;
pub mod evaluate;
pub mod export;
pub mod fine_tune;
pub mod help;
pub mod kernels;
pub mod select;
pub mod tune;

pub use crate::io::print_table;

/// `r` with the way out of an unreadable image that the commands reading image folders offer
/// (`--skip-bad`), added here because `dak predict`, which shares the decoder, has no such flag.
pub(crate) fn skip_bad_hint<T>(r: crate::error::Result<T>) -> crate::error::Result<T> {
    r.map_err(|e| match e {
        crate::error::Error::Input(msg)
            if msg.contains("unreadable image") && !msg.contains("--skip-bad") =>
        {
            crate::error::Error::input(format!(
                "{msg}, or leave unreadable images out (--skip-bad)"
            ))
        }
        e => e,
    })
}

/// This process's command line with `--resume <ckpt>` in place of any `--resume` and of the
/// flags in `replaced` (those the checkpoint stands for: fine-tuning's `--init`), quoted for a
/// POSIX shell: what a user types to continue an interrupted run.
pub fn resume_command(ckpt: &std::path::Path, replaced: &[&str]) -> String {
    let mut out = vec!["dak".to_string()];
    let dropped = |flag: &str| flag == "--resume" || replaced.contains(&flag);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if dropped(&a) {
            args.next();
            continue;
        }
        if a.split_once('=').is_some_and(|(flag, _)| dropped(flag)) {
            continue;
        }
        out.push(a);
    }
    out.push("--resume".into());
    out.push(ckpt.display().to_string());
    out.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// This process's command line, quoted for a POSIX shell (recorded with what a run wrote).
pub fn command_line() -> String {
    std::iter::once("dak".to_string())
        .chain(std::env::args().skip(1))
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(a: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !a.is_empty() && a.chars().all(plain) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// The one-line outcome of a training run that ended early: an interruption names the resume
/// checkpoint on disk (`resume`: its path and epoch, if one exists) and the command that
/// continues ([`resume_command`] with `replaced`); a divergence names the last good files.
/// Other results pass through.
pub fn explain_stop(
    result: crate::error::Result<()>,
    resume: Option<(&std::path::Path, String)>,
    last_good: Option<(&std::path::Path, usize)>,
    replaced: &[&str],
) -> crate::error::Result<()> {
    use crate::error::Error;
    match result {
        Err(Error::Interrupted(msg)) => Err(Error::Interrupted(match resume {
            Some((path, holds)) => format!(
                "{msg}; resume checkpoint {} holds {holds}; continue with: {}",
                path.display(),
                resume_command(path, replaced)
            ),
            None => format!("{msg}; nothing saved: no training step had finished"),
        })),
        Err(Error::Diverged(msg)) => Err(Error::Diverged(match (last_good, resume) {
            (Some((model, epoch)), _) => {
                format!(
                    "{msg}; the last good model (epoch {epoch}) is {}",
                    model.display()
                )
            }
            (None, Some((path, holds))) => format!(
                "{msg}; the last good state ({holds}) is the resume checkpoint {}",
                path.display()
            ),
            (None, None) => format!("{msg}; no model was written"),
        })),
        other => other,
    }
}

/// The lines a training or benchmark command prints before its work: the adapter and its
/// backend, a warning with the fix when that backend is GL, and the shader overrides in use.
pub fn run_header(
    adapter: &crate::gpu::AdapterSummary,
    overrides: Option<&(std::path::PathBuf, Vec<String>)>,
) -> Vec<String> {
    let mut lines = vec![format!(
        "device: {} ({} backend, {}, driver {})",
        adapter.name, adapter.backend, adapter.device_type, adapter.driver
    )];
    lines.extend(slow_backend_warning(adapter));
    if let Some((dir, files)) = overrides {
        lines.push(format!(
            "kernel overrides active: {} replaces {} built-in shader(s): {}",
            dir.display(),
            files.len(),
            if files.is_empty() {
                "none".to_string()
            } else {
                files.join(", ")
            }
        ));
    }
    lines
}

/// The warning for a backend much slower than the device can do (GL), with the fix.
pub fn slow_backend_warning(adapter: &crate::gpu::AdapterSummary) -> Option<String> {
    adapter.backend.eq_ignore_ascii_case("gl").then(|| {
        "warning: running on the GL backend, which is about 10x slower than Vulkan on the same device; install the Vulkan driver (e.g. `apt-get install mesa-vulkan-drivers`) or check WGPU_BACKEND".into()
    })
}

/// Prints [`slow_backend_warning`] on stderr: for commands whose stdout is their result
/// (`predict`, `evaluate`, possibly as JSON).
pub(crate) fn warn_slow_backend(gpu: &crate::gpu::Gpu) {
    if let Some(w) = slow_backend_warning(&gpu.adapter()) {
        eprintln!("{w}");
    }
}

/// Prints [`run_header`] for `gpu`.
pub fn print_run_header(gpu: &crate::gpu::Gpu) {
    let overrides = crate::gpu::shader_overrides().ok().flatten();
    for line in run_header(&gpu.adapter(), overrides.as_ref()) {
        println!("{line}");
    }
}

/// The resume checkpoint a run that ended early leaves, with what it holds: the one it wrote
/// (`ckpt`), else the one it was resumed from.
pub(crate) fn resume_left<'a>(
    ckpt: &'a crate::train::callbacks::Checkpoints,
    resumed_from: Option<&'a std::path::Path>,
) -> Option<(&'a std::path::Path, String)> {
    ckpt.written_resume
        .map(|e| (ckpt.resume.as_path(), holds(e, ckpt.written_resume_step)))
        .or_else(|| resumed_from.map(|p| (p, resume_holds(p))))
}

/// The `--metrics` writer of a training run: a resumed run appends to the history there.
pub(crate) fn metrics_writer(
    metrics: Option<&std::path::Path>,
    resuming: bool,
) -> crate::error::Result<Option<crate::train::callbacks::JsonLines>> {
    use crate::train::callbacks::JsonLines;
    metrics
        .map(|m| match resuming {
            true => JsonLines::append(m),
            false => JsonLines::create(m),
        })
        .transpose()
}

/// What a resume checkpoint holds, from its header: `epoch 3` or `epoch 3 and 5 steps of epoch 4`.
pub(crate) fn resume_holds(path: &std::path::Path) -> String {
    let header = crate::models::expect::read_header(path).ok();
    let epochs = header.as_ref().and_then(|h| h.resume_epoch()).unwrap_or(0);
    let step = header
        .as_ref()
        .and_then(|h| h.metadata.get("partial.step"))
        .and_then(|s| s.parse().ok());
    holds(epochs, step)
}

/// `epoch 3`, or `epoch 3 and 5 steps of epoch 4` for a checkpoint written inside an epoch.
pub(crate) fn holds(epochs: usize, step: Option<usize>) -> String {
    match step {
        None => format!("epoch {epochs}"),
        Some(s) => format!("epoch {epochs} and {s} step(s) of epoch {}", epochs + 1),
    }
}
