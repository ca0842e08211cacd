//! `dak kernels list`, `dump` and `check`: the kernel registry ([`crate::kernels`]) on the
//! command line. With `--shader-dir` an edited copy of a shader is checked without rebuilding.

use super::print_table;

/// Columns `kernels list` fits in.
const LIST_WIDTH: usize = 100;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::{self, CheckReport};
use std::path::{Path, PathBuf};

/// Subcommands of `dak kernels`.
#[derive(clap::Subcommand, Debug)]
pub enum KernelsCommand {
    /// Every kernel id, its shader file(s) and what it computes.
    List {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write kernels' WGSL (the generated ones included) to DIR under their `shaders/` names,
    /// to read or edit: `dak kernels check --shader-dir DIR ID` then checks the edited copy.
    Dump {
        /// Where to write the files (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Kernel ids or id prefixes (`conv2d.fwd`, `pool`); all kernels when none is given.
        ids: Vec<String>,
    },
    /// Validate kernels against their CPU references on awkward shapes (all by default).
    Check {
        /// Read shaders from DIR where it has the file (same relative names as `shaders/`).
        #[arg(long, value_name = "DIR")]
        shader_dir: Option<PathBuf>,
        /// Print the reports as JSON on stdout (the table moves to stderr; docs/json.md).
        /// `--json FILE`, dak 0.1's form, still writes FILE as --save does (for one release).
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
        json: Option<PathBuf>,
        /// Also write the reports as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// Kernel ids or id prefixes (`conv2d.fwd`, `pool`); all kernels when none is given.
        ids: Vec<String>,
    },
}

/// Point the runtime at `dir` for shader sources. Must run before the GPU is opened and before
/// other threads exist: the override is process-wide.
pub fn set_shader_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "--shader-dir {}: not a directory",
            dir.display()
        )));
    }
    std::env::set_var("DAK_SHADER_DIR", dir);
    Ok(())
}

/// Runs `dak kernels`.
pub fn run(cmd: KernelsCommand) -> Result<()> {
    match cmd {
        KernelsCommand::List { json } => list(json),
        KernelsCommand::Dump { out, ids } => dump(&ids, &out),
        KernelsCommand::Check {
            shader_dir,
            json,
            save,
            ids,
        } => {
            let targets = crate::io::JsonTargets::from_flags(json.as_deref(), save.as_deref())?;
            if let Some(dir) = &shader_dir {
                set_shader_dir(dir)?;
            }
            check(&ids, &targets)
        }
    }
}

/// `dak kernels dump`: each selected kernel's files, as the engine would load them (an active
/// DAK_SHADER_DIR copy included), written under `out`.
fn dump(ids: &[String], out: &Path) -> Result<()> {
    let selected = kernels::select(ids)?;
    if out.is_file() {
        return Err(Error::input(format!(
            "--out {}: a file; pass a folder to write the shaders into",
            out.display()
        )));
    }
    let mut files: Vec<&str> = selected.iter().flat_map(|k| k.files()).collect();
    files.sort_unstable();
    files.dedup();
    for file in &files {
        let path = out.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        crate::io::write_atomic(&path, crate::gpu::shader_source(file)?.as_bytes())?;
    }
    println!(
        "wrote {} shader file(s) of {} kernel(s) to {}; after editing: dak kernels check --shader-dir {} ID",
        files.len(),
        selected.len(),
        out.display(),
        out.display()
    );
    Ok(())
}

fn list(json: bool) -> Result<()> {
    if json {
        let infos = kernels::all()
            .iter()
            .map(|k| crate::io::typed_of("kernel", &k.info()))
            .collect::<Result<Vec<_>>>()?;
        let text =
            serde_json::to_string_pretty(&infos).map_err(|e| Error::runtime(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    // One block per kernel, wrapped to fit 100 columns (a table of three columns did not).
    for k in kernels::all() {
        println!("{}", k.id);
        for line in wrap(k.description, LIST_WIDTH - 4) {
            println!("    {line}");
        }
        for line in wrap(
            &format!("shaders: {}", k.files().join(", ")),
            LIST_WIDTH - 4,
        ) {
            println!("    {line}");
        }
    }
    Ok(())
}

fn mismatch_text(r: &CheckReport) -> String {
    if let Some(m) = &r.mismatch {
        format!(
            "first mismatch at index {} of {}: got {}, want {} (tol {:.1e})",
            m.index, m.case, m.got, m.want, m.tol
        )
    } else if let Some(e) = &r.error {
        e.clone()
    } else {
        String::new()
    }
}

fn check(ids: &[String], json: &crate::io::JsonTargets) -> Result<()> {
    let selected = kernels::select(ids)?;
    let gpu = Gpu::new()?;
    let adapter = gpu.adapter();
    crate::say!(
        "adapter: {} ({}, {}); shaders: {}",
        adapter.name,
        adapter.backend,
        adapter.device_type,
        crate::gpu::shader_override_dir()
            .map(|d| format!("{} over the built-in set", d.display()))
            .unwrap_or_else(|| "built in".into())
    );
    crate::say!(
        "checking {} kernel(s) against their CPU references; each is compiled first (on a software adapter the first run takes tens of seconds, later runs reuse the shader cache)",
        selected.len()
    );
    let reports = kernels::check_all(&gpu, &selected, |r| {
        eprintln!("{:<28} {:<11} {:.2} s", r.id, r.status.label(), r.seconds);
    });
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.status.label().to_string(),
                r.cases.to_string(),
                format!("{:.1e}", r.max_err),
                mismatch_text(r),
            ]
        })
        .collect();
    print_table(&["kernel", "status", "cases", "max err", "detail"], &rows);
    let failed = reports.iter().filter(|r| r.status.failed()).count();
    let passed = reports
        .iter()
        .filter(|r| r.status == kernels::Status::Pass)
        .count();
    crate::say!(
        "{passed} passed, {failed} failed, {} unsupported on this adapter",
        reports.len() - passed - failed
    );
    let doc = serde_json::json!({
        "adapter": adapter,
        "shader_dir": crate::gpu::shader_override_dir(),
        "reports": reports,
    });
    json.emit(&crate::io::typed("kernel_check", doc))?;
    if failed > 0 {
        return Err(Error::runtime(format!(
            "{failed} kernel(s) failed their check"
        )));
    }
    Ok(())
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
