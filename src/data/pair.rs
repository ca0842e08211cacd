//! [`AdaptData`]: the datasets of a domain-adaptation run — a labelled source, a target (its
//! labels, if any, never reach training), and optional labelled sets that are only reported on.
//!
//! ```no_run
//! # fn main() -> dak::Result<()> {
//! let digits = dak::data::load_mnist_mnistm()?.limit(500); // the bundled MNIST -> MNIST-M pair
//! let office = dak::data::load_office31("office31", "amazon", "webcam")?;
//! assert_eq!(office.classes().len(), 31);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use super::folder::{dataset_from_tree, scan_tree, FolderTree};
use super::{mnistm, office31, Dataset};
use crate::error::{Error, Result};

/// The datasets of a domain-adaptation run.
#[derive(Debug, Clone)]
pub struct AdaptData {
    /// Labelled source images (training).
    pub source: Dataset,
    /// Target images for training; their labels, if any, are dropped before training.
    pub target: Option<Dataset>,
    /// Labelled target images for reporting target accuracy (never for training or selection).
    pub target_eval: Option<Dataset>,
    /// Labelled held-out source images for reporting source accuracy at the end.
    pub source_eval: Option<Dataset>,
}

impl AdaptData {
    /// A source and a target domain. A labelled target also becomes the set target accuracy is
    /// reported on (the Office-31 protocol); its labels never reach training.
    pub fn new(source: Dataset, target: Dataset) -> AdaptData {
        let target_eval = target.labels().is_some().then(|| target.clone());
        AdaptData {
            source,
            target: Some(target),
            target_eval,
            source_eval: None,
        }
    }

    /// A labelled source alone (the source-only baseline needs no target).
    pub fn source_only(source: Dataset) -> AdaptData {
        AdaptData {
            source,
            target: None,
            target_eval: None,
            source_eval: None,
        }
    }

    /// Reports target accuracy on `ds` (labelled) instead.
    pub fn with_target_eval(mut self, ds: Dataset) -> AdaptData {
        self.target_eval = Some(ds);
        self
    }

    /// Reports held-out source accuracy on `ds` (labelled) at the end of a run.
    pub fn with_source_eval(mut self, ds: Dataset) -> AdaptData {
        self.source_eval = Some(ds);
        self
    }

    /// At most `n` images of every set (a seeded subset, the same on every call).
    pub fn limit(self, n: usize) -> AdaptData {
        let cut = |ds: Dataset| ds.sample(n, 0);
        AdaptData {
            source: cut(self.source),
            target: self.target.map(cut),
            target_eval: self.target_eval.map(cut),
            source_eval: self.source_eval.map(cut),
        }
    }

    /// [`Dataset::check_images`] on every set: the bad files are an error, or with `skip_bad`
    /// left out and returned (sorted, each once).
    pub fn check_images(self, skip_bad: bool) -> Result<(AdaptData, Vec<String>)> {
        let mut bad = Vec::new();
        let mut check = |ds: Dataset| -> Result<Dataset> {
            let (ds, b) = ds.check_images(skip_bad)?;
            bad.extend(b);
            Ok(ds)
        };
        let data = AdaptData {
            source: check(self.source)?,
            target: self.target.map(&mut check).transpose()?,
            target_eval: self.target_eval.map(&mut check).transpose()?,
            source_eval: self.source_eval.map(&mut check).transpose()?,
        };
        bad.sort();
        bad.dedup();
        Ok((data, bad))
    }

    /// The source's class names (every labelled set must list the same).
    pub fn classes(&self) -> &[String] {
        self.source.classes()
    }

    /// The sets named by `dak adapt --source DIR [--target DIR] [--target-test DIR]
    /// [--source-test DIR]`: the source must have class folders; the target is read by
    /// [`target_reading`].
    pub fn from_dirs(
        source: &Path,
        target: Option<&Path>,
        target_test: Option<&Path>,
        source_test: Option<&Path>,
    ) -> Result<AdaptData> {
        let source = Dataset::from_dir(source)?;
        let classes = source.classes().to_vec();
        let mut data = match target.map(|t| load_target(t, &classes)).transpose()? {
            Some(t) => AdaptData::new(source, t),
            None => AdaptData::source_only(source),
        };
        if let Some(dir) = target_test {
            data = data.with_target_eval(Dataset::from_dir(dir)?);
        }
        if let Some(dir) = source_test {
            data = data.with_source_eval(Dataset::from_dir(dir)?);
        }
        Ok(data)
    }
}

/// Which sets a run reads, as `dak adapt`'s flags name them (all `None`: the bundled MNIST →
/// MNIST-M benchmark). Stored with selection candidates so `dak select` reads the same images.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairSpec {
    /// `--source DIR`: labelled source.
    pub source: Option<PathBuf>,
    /// `--target DIR`: target images (labels, if any, only reported).
    pub target: Option<PathBuf>,
    /// `--target-test DIR`: labelled target images for reporting.
    pub target_test: Option<PathBuf>,
    /// `--source-test DIR`: labelled held-out source images.
    pub source_test: Option<PathBuf>,
    /// `--limit N`: at most this many images of every set.
    pub limit: Option<usize>,
}

impl PairSpec {
    /// The datasets the spec names (or the bundled benchmark).
    pub fn load(&self) -> Result<AdaptData> {
        let data = match (&self.source, &self.target) {
            (None, None) => {
                if self.target_test.is_some() || self.source_test.is_some() {
                    return Err(Error::input(
                        "--target-test/--source-test need --source and --target (without them dak runs the bundled MNIST -> MNIST-M benchmark)",
                    ));
                }
                load_mnist_mnistm()?
            }
            (None, Some(_)) => {
                return Err(Error::input(
                    "--target needs --source DIR (the labelled source domain)",
                ))
            }
            (Some(source), target) => AdaptData::from_dirs(
                source,
                target.as_deref(),
                self.target_test.as_deref(),
                self.source_test.as_deref(),
            )?,
        };
        Ok(match self.limit {
            Some(n) => data.limit(n),
            None => data,
        })
    }

    /// The same spec with every folder made absolute (so it still holds from another working
    /// directory).
    pub fn absolute(&self) -> PairSpec {
        let abs = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        };
        PairSpec {
            source: abs(&self.source),
            target: abs(&self.target),
            target_test: abs(&self.target_test),
            source_test: abs(&self.source_test),
            limit: self.limit,
        }
    }
}

/// How a `--target` folder is read: the one rule that `dak adapt` and
/// `dak data inspect --target-of` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetReading {
    /// Its sub-folders are the source's classes: a labelled target (labels only reported).
    Labelled,
    /// Every image at any depth, without labels; with a note when it has sub-folders, which
    /// are then not read as classes.
    Unlabelled(Option<String>),
}

/// Reads a walked target folder against the source's `classes`: labelled when its sub-folders
/// are exactly the source's classes; unlabelled (every image at any depth) when it has no
/// sub-folders or none of them is a class name (cameras, sites, dates: "any folder of images");
/// refused when some are class names and some are not, or classes are missing — a labelled
/// folder with a typo must not silently become unlabelled.
pub fn target_reading(tree: &FolderTree, classes: &[String]) -> Result<TargetReading> {
    let names: Vec<&String> = tree.classes.iter().map(|c| &c.name).collect();
    if names.is_empty() {
        return Ok(TargetReading::Unlabelled(None));
    }
    if let Some(e) = super::folder::split_root_error(tree) {
        return Err(e);
    }
    if names.len() == classes.len() && names.iter().all(|n| classes.contains(n)) {
        return Ok(TargetReading::Labelled);
    }
    let list = |v: &[&String]| {
        let shown: Vec<&str> = v.iter().take(6).map(|s| s.as_str()).collect();
        match v.len() > shown.len() {
            true => format!("{}, ... ({} in all)", shown.join(", "), v.len()),
            false => shown.join(", "),
        }
    };
    let (known, other): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| classes.contains(n));
    let root = tree.root.display();
    if known.is_empty() {
        return Ok(TargetReading::Unlabelled(Some(format!(
            "{root}: read as unlabelled images at any depth; its sub-folders ({}) are not the source's classes",
            list(&other)
        ))));
    }
    let missing: Vec<&String> = classes.iter().filter(|c| !names.contains(c)).collect();
    let mut parts = vec![format!(
        "{root}: sub-folders {} are source classes",
        list(&known)
    )];
    if !other.is_empty() {
        parts.push(format!("{} are not", list(&other)));
    }
    if !missing.is_empty() {
        parts.push(format!("classes {} have no folder", list(&missing)));
    }
    Err(Error::input(format!(
        "{}; a labelled target has exactly the source's class folders, an unlabelled one only sub-folders that are not class names",
        parts.join(", ")
    )))
}

/// A target directory, read by [`target_reading`].
pub fn load_target(dir: &Path, classes: &[String]) -> Result<Dataset> {
    let tree = scan_tree(dir)?;
    match target_reading(&tree, classes)? {
        TargetReading::Labelled => dataset_from_tree(tree),
        TargetReading::Unlabelled(note) => {
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            Dataset::from_dir_unlabelled(dir)
        }
    }
}

/// The bundled MNIST → MNIST-M benchmark (built in memory, no files): 4,000 labelled MNIST
/// training digits (source), 4,000 unlabelled MNIST-M training images (target), and 1,000
/// labelled test images per domain for reporting.
pub fn load_mnist_mnistm() -> Result<AdaptData> {
    let bench = mnistm::benchmark(&mnistm::MnistMOptions::default())?;
    Ok(AdaptData {
        source: bench.source_train,
        target: Some(bench.target_train.without_labels()),
        target_eval: Some(bench.target_test),
        source_eval: Some(bench.source_test),
    })
}

/// Two Office-31 domains under `root` (`amazon`, `dslr` or `webcam`), checked for the
/// standard layout and 31 classes. Target accuracy is reported on the whole target domain.
pub fn load_office31(root: impl AsRef<Path>, source: &str, target: &str) -> Result<AdaptData> {
    let root = root.as_ref();
    for name in [source, target] {
        if office31::expected_images(name).is_none() {
            return Err(Error::input(format!(
                "unknown Office-31 domain `{name}`; use amazon, dslr or webcam"
            )));
        }
    }
    let (s, t) = office31::load_pair(&root.join(source), &root.join(target))?;
    Ok(AdaptData::new(s, t))
}
