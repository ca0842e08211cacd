//! A model's inference graph, layer by layer, read from its file alone (no GPU): what an
//! exporter needs to rebuild the label path outside dak. Each architecture's description is
//! built from the same constants and configuration as its network (`vgg16::CONFIG`,
//! [`DigitsFeatures`], the head sizes in the file), and `tests/it/export.rs` runs the exported
//! graph in another runtime against dak's own predictions, so the two cannot drift apart.

use super::classifier::{self, HeadConfig};
use super::dann_config::DannConfig;
use super::dann_nets::{Backbone, DigitsFeatures};
use super::file::{ModelInfo, TensorFile};
pub use super::layer::{Layer, Tap};
use super::resnet::ResNetConfig;
use super::vgg16;
use crate::data::Preprocess;
use crate::error::{Error, Result};
use std::path::Path;

/// A model's inference graph and what its file says about it.
#[derive(Debug, Clone)]
pub struct InferenceGraph {
    /// The model description (classes, input size, preprocessing, architecture).
    pub info: ModelInfo,
    /// Pixel preprocessing, parsed.
    pub preprocess: Preprocess,
    /// The steps in order, from preprocessed images `[N, 3, S, S]`.
    pub layers: Vec<Layer>,
}

impl InferenceGraph {
    /// Size of the features tap, if the graph has one.
    pub fn feature_dim(&self) -> Option<usize> {
        let tap = Layer::Tap(Tap::Features);
        self.layers.contains(&tap).then(|| self.values_at(&tap))
    }

    /// Values per image where `tap` stands, following the shapes through the layers.
    fn values_at(&self, tap: &Layer) -> usize {
        let mut shape = Shape {
            channels: 3,
            side: self.info.input_size,
            flat: None,
        };
        for layer in self.layers.iter().take_while(|l| *l != tap) {
            shape.advance(layer);
        }
        shape
            .flat
            .unwrap_or(shape.channels * shape.side * shape.side)
    }

    /// Checks that `file` holds every tensor the layers name, with the right number of values.
    pub fn check_tensors(&self, file: &TensorFile, origin: &Path) -> Result<()> {
        let mut needed = Vec::new();
        self.layers.iter().for_each(|l| tensors_of(l, &mut needed));
        for (key, numel) in needed {
            match file.tensors.get(&key) {
                None => {
                    return Err(Error::input(format!(
                        "{}: no tensor `{key}`, which a `{}` model needs; is this file from another dak or architecture?",
                        origin.display(),
                        self.info.architecture
                    )))
                }
                Some((shape, data)) if data.len() != numel => {
                    return Err(Error::input(format!(
                        "{}: tensor `{key}` has shape {shape:?}, a `{}` model needs {numel} values there",
                        origin.display(),
                        self.info.architecture
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// What one image is at a point of the graph: a feature map, or flat values.
struct Shape {
    channels: usize,
    side: usize,
    flat: Option<usize>,
}

impl Shape {
    fn advance(&mut self, layer: &Layer) {
        let out =
            |side: usize, k: usize, stride: usize, pad: usize| (side + 2 * pad - k) / stride + 1;
        match layer {
            Layer::Conv {
                outputs,
                kernel,
                stride,
                pad,
                ..
            }
            | Layer::ConvBn {
                outputs,
                kernel,
                stride,
                pad,
                ..
            } => {
                self.channels = *outputs;
                self.side = out(self.side, *kernel, *stride, *pad);
            }
            Layer::MaxPool {
                kernel,
                stride,
                pad,
            } => self.side = out(self.side, *kernel, *stride, *pad),
            Layer::Residual { main, .. } => main.iter().for_each(|l| self.advance(l)),
            Layer::GlobalAvgPool => self.flat = Some(self.channels),
            Layer::BatchNorm { .. } => {}
            Layer::Flatten => self.flat = Some(self.channels * self.side * self.side),
            Layer::Dense { outputs, .. } => self.flat = Some(*outputs),
            Layer::Tap(_) => {}
        }
    }
}

/// Every tensor `layer` reads, with its number of values.
fn tensors_of(layer: &Layer, out: &mut Vec<(String, usize)>) {
    match layer {
        Layer::Conv {
            name,
            inputs,
            outputs,
            kernel,
            ..
        } => {
            out.push((format!("{name}.weight"), outputs * inputs * kernel * kernel));
            out.push((format!("{name}.bias"), *outputs));
        }
        Layer::ConvBn {
            conv,
            bn,
            inputs,
            outputs,
            kernel,
            ..
        } => {
            out.push((format!("{conv}.weight"), outputs * inputs * kernel * kernel));
            for t in super::resnet::BN_TENSORS {
                out.push((format!("{bn}.{t}"), *outputs));
            }
        }
        Layer::Dense {
            name,
            inputs,
            outputs,
            ..
        } => {
            out.push((format!("{name}.weight"), outputs * inputs));
            out.push((format!("{name}.bias"), *outputs));
        }
        Layer::BatchNorm { name, channels, .. } => {
            for t in super::resnet::BN_TENSORS {
                out.push((format!("{name}.{t}"), *channels));
            }
        }
        Layer::Residual { main, shortcut, .. } => {
            main.iter().chain(shortcut).for_each(|l| tensors_of(l, out))
        }
        Layer::MaxPool { .. } | Layer::GlobalAvgPool | Layer::Flatten | Layer::Tap(_) => {}
    }
}

/// The VGG16 base: 13 3x3 convolutions (padding 1, ReLU) and 5 2x2 max-pools.
fn vgg16_base() -> Vec<Layer> {
    let mut layers = Vec::new();
    let (mut channels, mut index) = (3, 0);
    for &c in &vgg16::CONFIG {
        if c == 0 {
            layers.push(Layer::MaxPool {
                kernel: 2,
                stride: 2,
                pad: 0,
            });
            index += 1;
        } else {
            layers.push(Layer::Conv {
                name: format!("features.{index}"),
                inputs: channels,
                outputs: c,
                kernel: 3,
                stride: 1,
                pad: 1,
                relu: true,
            });
            channels = c;
            index += 2;
        }
    }
    layers
}

/// Dense layers `<prefix>.fc1..` over `sizes` = [inputs, hidden..., outputs], ReLU between.
fn mlp(prefix: &str, sizes: &[usize]) -> Vec<Layer> {
    let last = sizes.len().saturating_sub(2);
    sizes
        .windows(2)
        .enumerate()
        .map(|(i, io)| Layer::Dense {
            name: format!("{prefix}.fc{}", i + 1),
            inputs: io[0],
            outputs: io[1],
            relu: i < last,
        })
        .collect()
}

fn config<T: serde::de::DeserializeOwned>(info: &ModelInfo, origin: &Path) -> Result<T> {
    serde_json::from_value(info.config.clone()).map_err(|e| {
        Error::input(format!(
            "{}: unreadable `{}` configuration ({e})",
            origin.display(),
            info.architecture
        ))
    })
}

/// The inference graph of a dak model file (`dak fine-tune` or `dak adapt`), checked against
/// its tensors.
pub fn describe(info: &ModelInfo, file: &TensorFile, origin: &Path) -> Result<InferenceGraph> {
    let mut layers;
    if classifier::is_classifier(&info.architecture) {
        let head: HeadConfig = config(info, origin)?;
        let dim = if info.architecture == classifier::RESNET_ARCHITECTURE {
            let resnet: ResNetConfig = serde_json::from_value(info.config["resnet"].clone())
                .map_err(|e| {
                    Error::input(format!(
                        "{}: unreadable ResNet configuration ({e})",
                        origin.display()
                    ))
                })?;
            layers = resnet.layers();
            resnet.features()
        } else {
            layers = vgg16_base();
            vgg16::FEATURES
        };
        layers.push(Layer::GlobalAvgPool);
        layers.push(Layer::Tap(Tap::Features));
        layers.extend(mlp("head", &[dim, head.hidden, head.classes]));
    } else if let Some(backbone) = info.architecture.strip_prefix("dann-") {
        let dann: DannConfig = config(info, origin)?;
        let dim = match Backbone::parse(backbone)? {
            Backbone::ResNet(_) => {
                let resnet = Backbone::parse(backbone)?.resnet().ok_or_else(|| {
                    Error::input(format!(
                        "{}: unknown backbone `{backbone}`",
                        origin.display()
                    ))
                })?;
                layers = resnet.layers();
                layers.push(Layer::GlobalAvgPool);
                if dann.bottleneck > 0 {
                    layers.extend(mlp("bottleneck", &[resnet.features(), dann.bottleneck]));
                    if dann.bottleneck_plain {
                        if let Some(Layer::Dense { relu, .. }) = layers.last_mut() {
                            *relu = true; // Dense + ReLU, a fine-tuned classifier's head
                        }
                    } else {
                        layers.push(Layer::BatchNorm {
                            name: "bottleneck.bn1".into(),
                            channels: dann.bottleneck,
                            relu: !dann.bottleneck_linear,
                        });
                    }
                    dann.bottleneck
                } else {
                    resnet.features()
                }
            }
            Backbone::Digits => {
                layers = DigitsFeatures::layers("features");
                if dann.bottleneck > 0 {
                    layers.extend(mlp("bottleneck", &[DigitsFeatures::DIM, dann.bottleneck]));
                    layers.push(Layer::BatchNorm {
                        name: "bottleneck.bn1".into(),
                        channels: dann.bottleneck,
                        relu: !dann.bottleneck_linear,
                    });
                    dann.bottleneck
                } else {
                    DigitsFeatures::DIM
                }
            }
            Backbone::Vgg16 => {
                layers = vgg16_base();
                layers.push(Layer::GlobalAvgPool);
                if dann.bottleneck > 0 {
                    layers.extend(mlp("bottleneck", &[vgg16::FEATURES, dann.bottleneck]));
                    if let Some(Layer::Dense { relu, .. }) = layers.last_mut() {
                        *relu = true; // the bottleneck is Dense + ReLU
                    }
                    dann.bottleneck
                } else {
                    vgg16::FEATURES
                }
            }
        };
        layers.push(Layer::Tap(Tap::Features));
        let mut sizes = vec![dim];
        sizes.extend(&dann.label_hidden);
        sizes.push(dann.classes);
        layers.extend(mlp("label", &sizes));
    } else {
        return Err(Error::input(format!(
            "{}: architecture `{}` cannot be described; this dak knows `{}`, `{}` and `dann-<backbone>` models",
            origin.display(),
            info.architecture,
            classifier::ARCHITECTURE,
            classifier::RESNET_ARCHITECTURE
        )));
    }
    layers.push(Layer::Tap(Tap::Logits));
    finish(info.clone(), layers, file, origin)
}

/// The inference graph of plain ImageNet weights with their classifier: a ResNet (`fc`) or
/// VGG16 (timm or torchvision names, 1,000 classes).
pub fn describe_imagenet(file: &TensorFile, origin: &Path) -> Result<InferenceGraph> {
    if super::resnet::is_resnet(file) {
        let resnet = ResNetConfig::from_tensors(file, origin)?;
        let classes = match file.tensors.get("fc.weight") {
            Some((shape, _)) if shape.len() == 2 => shape[0],
            _ => {
                return Err(Error::input(format!(
                    "{}: no 2-D tensor `fc.weight` (the classifier); only a ResNet with its classifier exports from --weights",
                    origin.display()
                )))
            }
        };
        let mut layers = resnet.layers();
        layers.push(Layer::GlobalAvgPool);
        layers.push(Layer::Tap(Tap::Features));
        layers.push(Layer::Dense {
            name: "fc".into(),
            inputs: resnet.features(),
            outputs: classes,
            relu: false,
        });
        layers.push(Layer::Tap(Tap::Logits));
        let info = super::imagenet_resnet::model_info(&resnet, classes);
        return finish(info, layers, file, origin);
    }
    let names = super::imagenet::classifier_names(file, origin)?;
    let mut layers = vgg16_base();
    layers.push(Layer::Flatten);
    let sizes = [
        (512 * 7 * 7, 4096, true),
        (4096, 4096, true),
        (4096, 1000, false),
    ];
    for (name, (inputs, outputs, relu)) in names.iter().zip(sizes) {
        layers.push(Layer::Dense {
            name: name.to_string(),
            inputs,
            outputs,
            relu,
        });
    }
    layers.push(Layer::Tap(Tap::Logits));
    let info = super::imagenet::model_info();
    finish(info, layers, file, origin)
}

fn finish(
    info: ModelInfo,
    layers: Vec<Layer>,
    file: &TensorFile,
    origin: &Path,
) -> Result<InferenceGraph> {
    let graph = InferenceGraph {
        preprocess: info.preprocess.parse()?,
        info,
        layers,
    };
    graph.check_tensors(file, origin)?;
    Ok(graph)
}
