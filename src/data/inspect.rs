//! `dak data inspect`: what a class-per-folder directory holds, and what is wrong with it.
//!
//! Every image is fully decoded (a header check misses truncated files), on several threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use image::DynamicImage;

use super::decode::decode_bytes;
use super::folder::{scan_tree, FolderTree};
use super::loader::default_workers;
use super::pair::{target_reading, TargetReading};
use crate::error::{Error, Result};

/// One class folder in the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassReport {
    /// Class (folder) name.
    pub name: String,
    /// Image files found (readable or not).
    pub images: usize,
    /// Of those, how many failed to decode.
    pub unreadable: usize,
}

/// An image size and how many images have it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SizeCount {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Number of images of this size.
    pub count: usize,
}

/// A file that failed to decode.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BadFile {
    /// The file.
    pub path: PathBuf,
    /// Why it failed.
    pub error: String,
}

/// Result of [`inspect_dir`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct InspectReport {
    /// The directory inspected.
    pub root: PathBuf,
    /// Classes in label order.
    pub classes: Vec<ClassReport>,
    /// Image files in all classes.
    pub total_images: usize,
    /// Distinct image sizes, most common first.
    pub sizes: Vec<SizeCount>,
    /// Colour types seen (e.g. `rgb8`, `l8`, `rgba8`) and their counts.
    pub color_types: BTreeMap<String, usize>,
    /// Files that failed to decode.
    pub unreadable: Vec<BadFile>,
    /// Files ignored because their extension is not an image extension.
    pub ignored_files: usize,
    /// Those files' extensions (lower case, `(none)` without one) and how many of each.
    pub ignored_extensions: BTreeMap<String, usize>,
    /// The first ignored files, relative to the root (up to [`IGNORED_NAMED`]).
    pub ignored_examples: Vec<PathBuf>,
    /// Image files directly in the root, outside any class folder (not used).
    pub loose_images: usize,
    /// Things worth fixing before training.
    pub warnings: Vec<String>,
    /// Why training on this folder would be refused (empty: it can be trained on).
    pub blocking: Vec<String>,
    /// How the folder was read: `classes` (a training set), `labelled target` or
    /// `unlabelled target` (`--target-of`, the rule `dak adapt --target` follows).
    pub reading: String,
}

/// Ignored files named in a report; the rest are counted by extension.
pub const IGNORED_NAMED: usize = 10;

/// The extension of an ignored file as the report counts it.
fn extension_of(path: &std::path::Path) -> String {
    path.extension()
        .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
        .unwrap_or_else(|| "(none)".into())
}

/// Per image: `(width, height, colour type)` or the decoding error.
type Probe = std::result::Result<(u32, u32, String), String>;

fn color_name(img: &DynamicImage) -> String {
    format!("{:?}", img.color()).to_lowercase()
}

/// Inspects `root` as a class-per-folder training set with `threads` decoding threads (0 = one
/// per core).
pub fn inspect_dir(root: &Path, threads: usize) -> Result<InspectReport> {
    let tree = scan_tree(root)?;
    probe(root, tree, None, threads)
}

/// Inspects `root` as `dak adapt --target` reads it beside a source of `classes`
/// ([`target_reading`]): a labelled target is checked like a training set, an unlabelled one
/// for its images at any depth.
pub fn inspect_target(root: &Path, classes: &[String], threads: usize) -> Result<InspectReport> {
    let tree = scan_tree(root)?;
    let reading = target_reading(&tree, classes)?;
    probe(root, tree, Some(reading), threads)
}

/// Decodes every image the tree (or, for an unlabelled target, the folder at any depth) holds
/// and reports.
fn probe(
    root: &Path,
    mut tree: FolderTree,
    target: Option<TargetReading>,
    threads: usize,
) -> Result<InspectReport> {
    let mut notes = Vec::new();
    let unlabelled = match &target {
        Some(TargetReading::Unlabelled(note)) => {
            notes.extend(note.clone());
            true
        }
        _ => false,
    };
    let jobs: Vec<(usize, PathBuf)> = match unlabelled {
        // One pseudo-class holds the images; the report lists no classes.
        true => {
            let ds = super::folder::scan_unlabelled(root)?;
            (0..ds.len())
                .filter_map(|i| ds.path(i).map(|p| (0, p.to_path_buf())))
                .collect()
        }
        false => tree
            .classes
            .iter()
            .enumerate()
            .flat_map(|(c, cl)| cl.images.iter().map(move |p| (c, p.clone())))
            .collect(),
    };
    if unlabelled {
        tree.classes.clear();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Probe>>> = Mutex::new(vec![None; jobs.len()]);
    let threads = if threads == 0 {
        default_workers()
    } else {
        threads
    };
    std::thread::scope(|s| {
        for _ in 0..threads.min(jobs.len()).max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, path)) = jobs.get(k) else { break };
                let r = std::fs::read(path)
                    .map_err(|e| Error::io(path, e))
                    .and_then(|b| decode_bytes(&b, path))
                    .map(|img| (img.width(), img.height(), color_name(&img)))
                    .map_err(|e| e.to_string());
                results.lock().unwrap_or_else(|e| e.into_inner())[k] = Some(r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());

    let mut classes: Vec<ClassReport> = tree
        .classes
        .iter()
        .map(|c| ClassReport {
            name: c.name.clone(),
            images: c.images.len(),
            unreadable: 0,
        })
        .collect();
    let mut sizes: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    let mut color_types = BTreeMap::new();
    let mut unreadable = Vec::new();
    for ((c, path), r) in jobs.iter().zip(results) {
        match r.expect("every job ran") {
            Ok((w, h, color)) => {
                *sizes.entry((w, h)).or_default() += 1;
                *color_types.entry(color).or_default() += 1;
            }
            Err(error) => {
                if let Some(class) = classes.get_mut(*c) {
                    class.unreadable += 1;
                }
                unreadable.push(BadFile {
                    path: path.clone(),
                    error,
                });
            }
        }
    }
    let mut sizes: Vec<SizeCount> = sizes
        .into_iter()
        .map(|((width, height), count)| SizeCount {
            width,
            height,
            count,
        })
        .collect();
    sizes.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then((a.width, a.height).cmp(&(b.width, b.height)))
    });

    let mut report = InspectReport {
        root: root.to_path_buf(),
        total_images: jobs.len(),
        classes,
        sizes,
        color_types,
        unreadable,
        ignored_files: tree.ignored.len(),
        ignored_extensions: tree.ignored.iter().fold(BTreeMap::new(), |mut m, p| {
            *m.entry(extension_of(p)).or_default() += 1;
            m
        }),
        ignored_examples: tree
            .ignored
            .iter()
            .take(IGNORED_NAMED)
            .map(|p| p.strip_prefix(root).unwrap_or(p).to_path_buf())
            .collect(),
        loose_images: tree.loose_images.len(),
        warnings: Vec::new(),
        blocking: Vec::new(),
        reading: match target {
            None => "classes",
            Some(TargetReading::Labelled) => "labelled target",
            Some(TargetReading::Unlabelled(_)) => "unlabelled target",
        }
        .into(),
    };
    if unlabelled {
        report.warnings = notes;
        report
            .warnings
            .extend(super::folder::skipped_link_notes(&tree.links_skipped));
        if report.total_images == 0 {
            report.blocking.push("no images".into());
        }
        if !report.unreadable.is_empty() {
            report.blocking.push(unreadable_note(&report));
        }
        return Ok(report);
    }
    report.warnings = warnings(&report, &tree.links_skipped);
    report.blocking = blocking(&report);
    report
        .blocking
        .extend(super::folder::split_root_problem(&tree));
    Ok(report)
}

/// The problems that make `fine-tune` / `adapt --source` refuse the folder.
fn blocking(r: &InspectReport) -> Vec<String> {
    let mut b = Vec::new();
    match r.classes.len() {
        0 => b.push("no class sub-folders".to_string()),
        1 => b.push("only one class (a classifier needs at least two)".to_string()),
        _ => {}
    }
    let empty: Vec<&str> = r
        .classes
        .iter()
        .filter(|c| c.images == 0)
        .map(|c| c.name.as_str())
        .collect();
    if !empty.is_empty() {
        b.push(format!("empty class folder(s): {}", empty.join(", ")));
    }
    if !r.unreadable.is_empty() {
        b.push(unreadable_note(r));
    }
    b
}

fn unreadable_note(r: &InspectReport) -> String {
    format!(
        "{} unreadable file(s) (train with --skip-bad to leave them out)",
        r.unreadable.len()
    )
}

fn warnings(r: &InspectReport, links: &[(PathBuf, PathBuf)]) -> Vec<String> {
    let mut w = super::folder::skipped_link_notes(links);
    if r.classes.is_empty() {
        w.push("no class sub-folders: training needs <dir>/<class>/<images>".to_string());
    }
    if r.classes.len() == 1 {
        let only = &r.classes[0].name;
        w.push(format!(
            "only one class ('{only}'); if {only}/ holds the class folders, inspect {} instead",
            r.root.join(only).display()
        ));
    }
    for c in &r.classes {
        if c.images == 0 {
            w.push(format!(
                "class '{}' has no images (training refuses empty classes)",
                c.name
            ));
        }
    }
    let counts: Vec<usize> = r
        .classes
        .iter()
        .map(|c| c.images)
        .filter(|&n| n > 0)
        .collect();
    if let (Some(&lo), Some(&hi)) = (counts.iter().min(), counts.iter().max()) {
        if hi >= 10 * lo {
            w.push(format!(
                "classes are very unbalanced: {lo} to {hi} images per class"
            ));
        }
    }
    if !r.unreadable.is_empty() {
        w.push(format!(
            "{} unreadable files: fix or remove them, or train with --skip-bad",
            r.unreadable.len()
        ));
    }
    if r.loose_images > 0 {
        w.push(format!(
            "{} images lie directly in the root, outside any class folder, and are not used",
            r.loose_images
        ));
    }
    if let Some(small) = r
        .sizes
        .iter()
        .filter(|s| s.width < 32 || s.height < 32)
        .map(|s| s.count)
        .reduce(|a, b| a + b)
    {
        w.push(format!(
            "{small} images are smaller than 32 pixels on a side"
        ));
    }
    w
}

impl InspectReport {
    /// Human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let ok = self.total_images - self.unreadable.len();
        let what = match self.reading.as_str() {
            "unlabelled target" => "an unlabelled target".to_string(),
            "labelled target" => format!("a labelled target, {} classes", self.classes.len()),
            _ => format!("{} classes", self.classes.len()),
        };
        s += &format!(
            "{}: {what}, {} images ({} readable)\n",
            self.root.display(),
            self.total_images,
            ok
        );
        let width = self
            .classes
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        if !self.classes.is_empty() {
            s += &format!("  {:<width$}  images  unreadable\n", "class");
        }
        for c in &self.classes {
            s += &format!(
                "  {:<width$}  {:>6}  {:>10}\n",
                c.name, c.images, c.unreadable
            );
        }
        let shown: Vec<String> = self
            .sizes
            .iter()
            .take(5)
            .map(|z| format!("{}x{} ({})", z.width, z.height, z.count))
            .collect();
        let more = if self.sizes.len() > 5 {
            format!(", ... {} sizes in all", self.sizes.len())
        } else {
            String::new()
        };
        s += &format!(
            "sizes (WxH): {}{more}\n",
            if shown.is_empty() {
                "none".into()
            } else {
                shown.join(", ")
            }
        );
        if let (Some(min_w), Some(max_w)) = (
            self.sizes.iter().map(|z| z.width).min(),
            self.sizes.iter().map(|z| z.width).max(),
        ) {
            let min_h = self.sizes.iter().map(|z| z.height).min().unwrap_or(0);
            let max_h = self.sizes.iter().map(|z| z.height).max().unwrap_or(0);
            s += &format!("width {min_w}..{max_w}, height {min_h}..{max_h}\n");
        }
        let colors: Vec<String> = self
            .color_types
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        s += &format!(
            "colour types: {}\n",
            if colors.is_empty() {
                "none".into()
            } else {
                colors.join(", ")
            }
        );
        if self.ignored_files > 0 {
            let kinds: Vec<String> = self
                .ignored_extensions
                .iter()
                .map(|(e, n)| format!("{e} {n}"))
                .collect();
            let names: Vec<String> = self
                .ignored_examples
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let more = match self.ignored_files > names.len() {
                true => format!(", ... {} in all", self.ignored_files),
                false => String::new(),
            };
            s += &format!(
                "ignored files, not read as images ({}): {} ({}{more}); dak reads {}\n",
                kinds.join(", "),
                self.ignored_files,
                names.join(", "),
                super::decode::IMAGE_KINDS
            );
        }
        for b in &self.unreadable {
            s += &format!("unreadable: {}\n", b.error);
        }
        for w in &self.warnings {
            s += &format!("warning: {w}\n");
        }
        let purpose = match self.reading.as_str() {
            "classes" => "training",
            _ => "adaptation (--target)",
        };
        if self.blocking.is_empty() {
            s += &format!("ok: ready for {purpose}\n");
        } else {
            s += &format!("not ready for {purpose}: {}\n", self.blocking.join("; "));
        }
        s
    }
}
