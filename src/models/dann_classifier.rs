//! A fine-tuned classifier (`dak fine-tune`: base + GAP + Dense(hidden, ReLU) + Dropout +
//! Dense(classes)) read as the DANN-shaped network source-free adaptation trains, and written
//! back as the classifier it was.
//!
//! The mapping is exact, by renaming: the base keeps its names (`features.*` for VGG16,
//! `conv1`/`bn1`/`layer1..4` for a ResNet), `head.fc1` (Dense + ReLU) is the bottleneck
//! `bottleneck.fc1` (for a ResNet a `plain` one, without BatchNorm), `head.fc2` is the label
//! head `label.fc1`; input size, classes and preprocessing are the classifier's. The head's
//! dropout is a training-time layer and is not used by the adaptation.

use std::path::Path;

use super::classifier::{self, HeadConfig as ClassifierHead};
use super::dann::DannConfig;
use super::file::{self, ModelInfo, Provenance, StoreType, TensorFile};
use super::{Backbone, Dann};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// (classifier name, DANN name) of the head's tensors; the base's names are shared.
const RENAMES: [(&str, &str); 2] = [
    ("head.fc1.", "bottleneck.fc1."),
    ("head.fc2.", "label.fc1."),
];

fn rename(name: &str, from_classifier: bool) -> String {
    for (c, d) in RENAMES {
        let (a, b) = if from_classifier { (c, d) } else { (d, c) };
        if let Some(rest) = name.strip_prefix(a) {
            return format!("{b}{rest}");
        }
    }
    name.to_string()
}

/// The DANN-shaped network of the classifier stored in `path`, with its weights, and the
/// classifier's description (to write the adapted model back with [`save_as_classifier`]).
pub fn load(gpu: &Gpu, path: &Path) -> Result<(Dann, ModelInfo)> {
    let (info, ck) = file::load(path)?;
    if !classifier::is_classifier(&info.architecture) {
        return Err(Error::input(format!(
            "{}: a `{}` model, not a classifier from `dak fine-tune`",
            path.display(),
            info.architecture
        )));
    }
    let unreadable = |e: serde_json::Error| {
        Error::input(format!(
            "{}: unreadable classifier configuration ({e})",
            path.display()
        ))
    };
    let head: ClassifierHead = serde_json::from_value(info.config.clone()).map_err(unreadable)?;
    let backbone = match info.architecture.as_str() {
        classifier::RESNET_ARCHITECTURE => {
            let resnet: super::resnet::ResNetConfig =
                serde_json::from_value(info.config["resnet"].clone()).map_err(unreadable)?;
            let backbone = Backbone::parse(&resnet.name())
                .ok()
                .filter(|b| b.resnet().as_ref() == Some(&resnet));
            backbone.ok_or_else(|| {
                Error::input(format!(
                    "{}: a classifier on a `{}` base; source-free adaptation takes ResNet-18/34/50/101/152 or VGG16 bases",
                    path.display(),
                    resnet.name()
                ))
            })?
        }
        _ => Backbone::Vgg16,
    };
    let mut config = DannConfig::paper(backbone, head.classes);
    config.bottleneck = head.hidden;
    config.label_hidden = Vec::new();
    config.input_size = Some(info.input_size);
    config.bottleneck_plain = matches!(backbone, Backbone::ResNet(_));
    config.preprocess = Some(info.preprocess.clone());
    let mut model = Dann::new(gpu, config, info.classes.clone(), 0)?;
    let renamed = TensorFile {
        tensors: ck
            .tensors
            .iter()
            .map(|(n, t)| (rename(n, true), t.clone()))
            .collect(),
        metadata: ck.metadata.clone(),
    };
    let mut prefixes: Vec<&str> = model.base_prefixes();
    prefixes.extend(["bottleneck.fc1", "label.fc1"]);
    for prefix in prefixes {
        renamed.restore_prefix(&mut model.params, prefix, path)?;
    }
    model.provenance = info.provenance.clone();
    Ok((model, info))
}

/// Writes `model` (from [`load`], adapted) as the classifier `info` describes, with
/// `provenance`, atomically: the base and the head under the classifier's names.
pub fn save_as_classifier(
    model: &Dann,
    info: &ModelInfo,
    provenance: Option<Provenance>,
    path: &Path,
) -> Result<()> {
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = file::host_params(&model.params)?
        .into_iter()
        .filter(|(n, _, _)| !n.starts_with("domain.") && !n.starts_with("bottleneck.bn"))
        .map(|(n, shape, data)| (rename(&n, false), shape, data))
        .collect();
    let info = ModelInfo {
        provenance,
        ..info.clone()
    };
    file::write_tensors(path, &tensors, &info.to_metadata()?, StoreType::F32)
}
