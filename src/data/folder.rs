//! Class-per-folder directories with Keras `image_dataset_from_directory` semantics.
//!
//! `root/<class>/.../<image>`: classes are the sorted names of the non-hidden sub-directories
//! of `root`; inside each class folder, images are collected recursively in walk order (files
//! of a folder sorted by name, then its sub-folders in sorted order). Files whose extension is
//! not jpg/jpeg/png/bmp/gif/webp/tif/tiff (any case) and hidden entries (leading `.`) are
//! ignored.

use std::fs;
use std::path::{Path, PathBuf};

use super::dataset::Dataset;
use super::decode::{is_image_path, IMAGE_KINDS};
use crate::error::{Error, Result};

/// Folders nested deeper than this inside a class folder are not searched (symlink loops are
/// caught before: this bounds a pathological tree).
const MAX_DEPTH: usize = 32;

/// One class folder as found on disk.
#[derive(Clone, Debug)]
pub struct ClassFolder {
    /// Folder name = class name.
    pub name: String,
    /// Image files in Keras order.
    pub images: Vec<PathBuf>,
}

/// The raw result of walking a class-per-folder directory, before validation.
#[derive(Clone, Debug)]
pub struct FolderTree {
    /// The directory that was walked.
    pub root: PathBuf,
    /// Class folders in sorted order (possibly with no images).
    pub classes: Vec<ClassFolder>,
    /// Files under class folders that are not images by extension.
    pub ignored: Vec<PathBuf>,
    /// Image files lying directly in `root` (they belong to no class).
    pub loose_images: Vec<PathBuf>,
    /// Symlinks inside class folders that were not followed because they lead to a folder
    /// already read (a loop): (link, where it leads).
    pub links_skipped: Vec<(PathBuf, PathBuf)>,
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// Sorted, non-hidden entries of `dir`, split into (files, directories). Symlinks are followed.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut entries: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if !is_hidden(&entry.file_name()) {
            entries.push(entry.path());
        }
    }
    entries.sort();
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for p in entries {
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => dirs.push(p),
            Ok(_) => files.push(p),
            // A dangling symlink: report it as a file so it surfaces as unreadable, not vanish.
            Err(_) => files.push(p),
        }
    }
    Ok((files, dirs))
}

/// One walk of a folder tree: what it found, and the canonical paths it has been through so
/// that a symlink back to a folder already walked (a loop, or a second link to the same
/// folder) is not walked again and a file reached twice is counted once.
#[derive(Default)]
struct Walk {
    images: Vec<PathBuf>,
    ignored: Vec<PathBuf>,
    /// Symlinks not followed because their folder was already walked: (link, target).
    links_skipped: Vec<(PathBuf, PathBuf)>,
    seen_dirs: std::collections::HashSet<PathBuf>,
    seen_files: std::collections::HashSet<PathBuf>,
}

impl Walk {
    /// Walks `dir` (its canonical path `real`), unless that folder was walked already.
    fn dir(&mut self, dir: &Path, depth: usize) -> Result<()> {
        let real = fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
        if !self.seen_dirs.insert(real.clone()) {
            self.links_skipped.push((dir.to_path_buf(), real));
            return Ok(());
        }
        let (files, dirs) = list_dir(dir)?;
        for f in files {
            // A file's identity is its canonical path (a dangling link: its own).
            let key = match f.file_name() {
                Some(name) if !is_symlink(&f) => real.join(name),
                _ => fs::canonicalize(&f).unwrap_or_else(|_| f.clone()),
            };
            if !self.seen_files.insert(key) {
                continue;
            }
            if is_image_path(&f) {
                self.images.push(f);
            } else {
                self.ignored.push(f);
            }
        }
        if depth < MAX_DEPTH {
            for d in dirs {
                self.dir(&d, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// One line per symlink that was not followed (`dak data inspect` lists them as warnings).
pub fn skipped_link_notes(links: &[(PathBuf, PathBuf)]) -> Vec<String> {
    links
        .iter()
        .map(|(link, target)| {
            format!(
                "{}: symlink not followed, it leads to {}, which was already read (a loop or a second link); its images count once",
                link.display(),
                target.display()
            )
        })
        .collect()
}

/// Prints [`skipped_link_notes`] as warnings (stderr).
fn warn_links(links: &[(PathBuf, PathBuf)]) {
    for note in skipped_link_notes(links) {
        eprintln!("warning: {note}");
    }
}

fn is_symlink(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn check_root(root: &Path) -> Result<()> {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::input(format!(
            "{}: is a file; expected a directory with one sub-folder per class",
            root.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::input(format!(
            "{}: directory not found; expected a directory with one sub-folder per class ({}/<class>/<images>)",
            root.display(),
            root.display()
        ))),
        Err(e) => Err(Error::io(root, e)),
    }
}

/// Walks `root` without judging the result (used by `inspect`, which reports problems instead
/// of failing). Errors only if `root` is not a readable directory or a class name is not UTF-8.
pub fn scan_tree(root: &Path) -> Result<FolderTree> {
    check_root(root)?;
    let (files, dirs) = list_dir(root)?;
    let loose_images = files.into_iter().filter(|f| is_image_path(f)).collect();
    let mut classes = Vec::new();
    let mut ignored = Vec::new();
    let mut links_skipped = Vec::new();
    for d in dirs {
        let name = d
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::input(format!(
                    "{}: class folder name is not valid UTF-8; rename the folder",
                    d.display()
                ))
            })?
            .to_string();
        // Each class is its own walk: an image linked into two classes is in both. The root
        // is never part of a class (a link to it would read every class again).
        let mut walk = Walk::default();
        if let Ok(real) = fs::canonicalize(root) {
            walk.seen_dirs.insert(real);
        }
        walk.dir(&d, 0)?;
        classes.push(ClassFolder {
            name,
            images: walk.images,
        });
        ignored.extend(walk.ignored);
        links_skipped.extend(walk.links_skipped);
    }
    Ok(FolderTree {
        root: root.to_path_buf(),
        classes,
        ignored,
        loose_images,
        links_skipped,
    })
}

/// Folder names that name a dataset split rather than a class.
const SPLIT_NAMES: [&str; 10] = [
    "train",
    "training",
    "test",
    "testing",
    "val",
    "valid",
    "validation",
    "eval",
    "evaluation",
    "dev",
];

/// When `root`'s sub-folders are dataset splits (`train/`, `test/`, ...) that each hold class
/// folders, the one-line error that says which split to point at; `None` otherwise. Keras
/// would read such a root as a classifier of its splits (or, as an unlabelled target, mix the
/// test split into training): silent garbage, so dak refuses it.
pub fn split_root_error(tree: &FolderTree) -> Option<Error> {
    split_root_problem(tree).map(|p| Error::input(format!("{}: {p}", tree.root.display())))
}

/// What [`split_root_error`] says, without the folder's name in front. Only when every
/// sub-folder has a split's name, holds no image directly and holds at least two sub-folders
/// with images (a class that happens to be called `test` with loose images is a class).
pub fn split_root_problem(tree: &FolderTree) -> Option<String> {
    if tree.classes.is_empty()
        || !tree
            .classes
            .iter()
            .all(|c| SPLIT_NAMES.contains(&c.name.to_lowercase().as_str()))
    {
        return None;
    }
    let mut inner: Vec<String> = Vec::new();
    for c in &tree.classes {
        let dir = tree.root.join(&c.name);
        let mut subs = std::collections::BTreeSet::new();
        for image in &c.images {
            let mut parts = image.strip_prefix(&dir).ok()?.components();
            let first = parts.next()?;
            parts.next()?; // an image directly in the split folder: not a split of classes
            subs.insert(first.as_os_str().to_string_lossy().into_owned());
        }
        if subs.len() < 2 {
            return None;
        }
        for s in subs {
            if !inner.contains(&s) {
                inner.push(s);
            }
        }
    }
    let splits: Vec<&str> = tree.classes.iter().map(|c| c.name.as_str()).collect();
    let pick = splits
        .iter()
        .find(|s| s.to_lowercase().starts_with("train"))
        .unwrap_or(&splits[0]);
    let shown: Vec<&str> = inner.iter().take(5).map(String::as_str).collect();
    let more = match inner.len() > shown.len() {
        true => format!(", ... ({} in all)", inner.len()),
        false => String::new(),
    };
    Some(format!(
        "its sub-folders ({}) are dataset splits holding class folders ({}{more}), not classes; point at one split, e.g. {}",
        splits.join(", "),
        shown.join(", "),
        tree.root.join(pick).display()
    ))
}

/// Error for a directory with no class folders, saying what was found instead.
fn no_classes_error(tree: &FolderTree) -> Error {
    let r = tree.root.display();
    if tree.loose_images.is_empty() {
        Error::input(format!(
            "{r}: no class sub-folders found; expected {r}/<class>/<image files> ({IMAGE_KINDS})"
        ))
    } else {
        Error::input(format!(
            "{r}: found {} images directly in the folder but no class sub-folders; move each class's images into {r}/<class>/",
            tree.loose_images.len()
        ))
    }
}

// The folder constructors live here, beside the walk they call: the dataset itself knows
// nothing of folders.
impl Dataset {
    /// A class-per-folder directory with Keras semantics; see [`scan_dir`].
    pub fn from_dir(root: impl AsRef<Path>) -> Result<Self> {
        scan_dir(root.as_ref())
    }

    /// All images under `root`, unlabelled; see [`scan_unlabelled`].
    pub fn from_dir_unlabelled(root: impl AsRef<Path>) -> Result<Self> {
        scan_unlabelled(root.as_ref())
    }
}

/// Loads a class-per-folder directory as a labelled, file-backed [`Dataset`].
///
/// Errors (one line, naming the path): directory missing, no class folders, or a class folder
/// without images. Decoding happens later, in the loader.
pub fn scan_dir(root: &Path) -> Result<Dataset> {
    let tree = scan_tree(root)?;
    dataset_from_tree(tree)
}

/// Validates a walked tree and turns it into a [`Dataset`].
pub fn dataset_from_tree(tree: FolderTree) -> Result<Dataset> {
    warn_links(&tree.links_skipped);
    if tree.classes.is_empty() {
        return Err(no_classes_error(&tree));
    }
    if let Some(e) = split_root_error(&tree) {
        return Err(e);
    }
    let empty: Vec<&str> = tree
        .classes
        .iter()
        .filter(|c| c.images.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    if let Some(first) = empty.first() {
        let more = if empty.len() > 1 {
            format!(
                " (and {} more empty class folders: {})",
                empty.len() - 1,
                empty[1..].join(", ")
            )
        } else {
            String::new()
        };
        return Err(Error::input(format!(
            "{}: class folder has no images ({IMAGE_KINDS}){more}; add images or remove the folder",
            tree.root.join(first).display()
        )));
    }
    let classes: Vec<String> = tree.classes.iter().map(|c| c.name.clone()).collect();
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for (k, c) in tree.classes.into_iter().enumerate() {
        labels.extend(std::iter::repeat_n(k as u32, c.images.len()));
        paths.extend(c.images);
    }
    Dataset::from_files(
        tree.root.display().to_string(),
        classes,
        paths,
        Some(labels),
    )
}

/// Loads every image under `root` (any depth, Keras walk order) as an unlabelled dataset: an
/// unlabelled domain-adaptation target, or images to predict. Class folders are allowed but
/// their names are ignored.
pub fn scan_unlabelled(root: &Path) -> Result<Dataset> {
    check_root(root)?;
    let mut walk = Walk::default();
    walk.dir(root, 0)?;
    warn_links(&walk.links_skipped);
    let images = walk.images;
    if images.is_empty() {
        return Err(Error::input(format!(
            "{}: no images found ({IMAGE_KINDS}, in any sub-folder)",
            root.display()
        )));
    }
    Dataset::from_files(root.display().to_string(), Vec::new(), images, None)
}

/// Loads a separate validation directory and checks it has the same classes as `train`.
pub fn scan_validation_dir(root: &Path, train: &Dataset) -> Result<Dataset> {
    let val = scan_dir(root)?;
    check_same_classes(train.name(), train.classes(), val.name(), val.classes())?;
    Ok(val)
}

/// Training and validation sets as `dak fine-tune --train DIR [--val DIR | --val-split F]`
/// reads them: a separate validation directory with the same classes, or a stratified, seeded
/// fraction of `train` (see [`Dataset::split`]), or no validation at all.
pub fn train_and_validation(
    train: &Path,
    val: Option<&Path>,
    val_split: Option<f64>,
    seed: u64,
) -> Result<(Dataset, Option<Dataset>)> {
    let all = scan_dir(train)?;
    match (val, val_split) {
        (Some(dir), _) => {
            let v = scan_validation_dir(dir, &all)?;
            Ok((all, Some(v)))
        }
        (None, Some(f)) => {
            let (t, v) = all.split(f, seed)?;
            Ok((t, Some(v)))
        }
        (None, None) => Ok((all, None)),
    }
}

fn preview(names: &[&String]) -> String {
    const SHOW: usize = 8;
    let mut s: Vec<String> = names.iter().take(SHOW).map(|n| n.to_string()).collect();
    if names.len() > SHOW {
        s.push(format!("... ({} in all)", names.len()));
    }
    s.join(", ")
}

/// Errors unless `a` and `b` list the same class names in the same order, saying which names
/// appear on one side only.
pub fn check_same_classes(a_name: &str, a: &[String], b_name: &str, b: &[String]) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let only_a: Vec<&String> = a.iter().filter(|c| !b.contains(c)).collect();
    let only_b: Vec<&String> = b.iter().filter(|c| !a.contains(c)).collect();
    let mut parts = vec![format!(
        "class lists differ: {a_name} has {} classes, {b_name} has {}",
        a.len(),
        b.len()
    )];
    if !only_a.is_empty() {
        parts.push(format!("only in {a_name}: {}", preview(&only_a)));
    }
    if !only_b.is_empty() {
        parts.push(format!("only in {b_name}: {}", preview(&only_b)));
    }
    parts.push("both must contain the same class folders".to_string());
    Err(Error::input(parts.join("; ")))
}
