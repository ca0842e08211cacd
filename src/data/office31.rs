//! Office-31 (Saenko et al., 2010): `<root>/<domain>/images/<class>/*.jpg`.
//!
//! Domains amazon (2,817 images), dslr (498) and webcam (795), 31 classes each. A domain may be
//! given as its folder or as its `images/` folder. Layout mistakes are errors that say what
//! was found, because a wrong folder level otherwise shows up only as a suspicious accuracy.

use std::path::{Path, PathBuf};

use super::dataset::Dataset;
use super::folder::{check_same_classes, dataset_from_tree, scan_tree};
use crate::error::{Error, Result};

/// Number of Office-31 classes.
pub const NUM_CLASSES: usize = 31;

/// The three domains and their image counts in the standard release.
pub const DOMAINS: [(&str, usize); 3] = [("amazon", 2817), ("dslr", 498), ("webcam", 795)];

/// Expected image count of a domain by name (`amazon`, `dslr`, `webcam`).
pub fn expected_images(domain: &str) -> Option<usize> {
    DOMAINS.iter().find(|d| d.0 == domain).map(|d| d.1)
}

fn sub_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn list_preview(names: &[String]) -> String {
    let mut s: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
    if names.len() > 6 {
        s.push("...");
    }
    s.join(", ")
}

/// Resolves a domain path to its `images/` folder, or explains what is there instead.
pub fn resolve_images_dir(path: &Path) -> Result<PathBuf> {
    let shown = path.display();
    if !path.exists() {
        return Err(Error::input(format!(
            "{shown}: directory not found; expected an Office-31 domain folder (<root>/amazon, dslr or webcam)"
        )));
    }
    if !path.is_dir() {
        return Err(Error::input(format!(
            "{shown}: is a file; expected an Office-31 domain folder"
        )));
    }
    let images = path.join("images");
    if images.is_dir() {
        return Ok(images);
    }
    if path.file_name().and_then(|n| n.to_str()) == Some("images") {
        return Ok(path.to_path_buf());
    }
    let subs = sub_dirs(path);
    let domains: Vec<String> = subs
        .iter()
        .filter(|s| expected_images(s).is_some())
        .cloned()
        .collect();
    if !domains.is_empty() {
        return Err(Error::input(format!(
            "{shown}: this is the Office-31 root (found domain folders {}); pass one domain, e.g. {}",
            domains.join(", "),
            path.join(&domains[0]).display()
        )));
    }
    if subs.is_empty() {
        return Err(Error::input(format!(
            "{shown}: no images/ folder and no sub-folders; expected {shown}/images/<class>/*.jpg"
        )));
    }
    Err(Error::input(format!(
        "{shown}: missing images/ level: found {} folders ({}) directly inside; expected {shown}/images/<class>/*.jpg — move the class folders into {shown}/images/",
        subs.len(),
        list_preview(&subs)
    )))
}

/// Loads one Office-31 domain (its folder or its `images/` folder) as a labelled dataset.
///
/// Errors: missing `images/` level (saying what was found), a class count other than 31,
/// empty class folders, or anything [`super::folder::scan_dir`] rejects.
pub fn load_domain(path: &Path) -> Result<Dataset> {
    let images = resolve_images_dir(path)?;
    let tree = scan_tree(&images)?;
    if tree.classes.len() != NUM_CLASSES {
        let names: Vec<String> = tree.classes.iter().map(|c| c.name.clone()).collect();
        let hint = if tree.classes.len() == 1 {
            " — is there one level too many?"
        } else {
            ""
        };
        return Err(Error::input(format!(
            "{}: found {} class folders ({}), Office-31 has {NUM_CLASSES}{hint}",
            images.display(),
            names.len(),
            if names.is_empty() {
                "none".to_string()
            } else {
                list_preview(&names)
            }
        )));
    }
    let name = domain_name(path);
    Ok(dataset_from_tree(tree)?.with_name(name))
}

/// The domain's folder name (`amazon`, ...), skipping a trailing `images`.
pub fn domain_name(path: &Path) -> String {
    let p = if path.file_name().and_then(|n| n.to_str()) == Some("images") {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("office31")
        .to_string()
}

/// Loads a source and a target domain and checks they list the same classes.
pub fn load_pair(source: &Path, target: &Path) -> Result<(Dataset, Dataset)> {
    let s = load_domain(source)?;
    let t = load_domain(target)?;
    check_same_classes(
        &format!("source {}", source.display()),
        s.classes(),
        &format!("target {}", target.display()),
        t.classes(),
    )?;
    Ok((s, t))
}

/// A note when a domain's image count differs from the standard release (not an error:
/// cleaned copies exist), or `None`.
pub fn count_note(ds: &Dataset) -> Option<String> {
    let want = expected_images(ds.name())?;
    (ds.len() != want).then(|| {
        format!(
            "{}: {} images, the standard Office-31 release has {want}",
            ds.name(),
            ds.len()
        )
    })
}
