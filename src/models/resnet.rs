//! ResNet (He et al. 2016) in torchvision's v1.5 layout (the stride on the 3x3 convolution),
//! with torchvision's parameter names, which timm's `resnet*.tv_in1k` share:
//!
//! - stem: `conv1` 7x7/2 pad 3 → `bn1` → ReLU → max-pool 3x3/2 pad 1;
//! - stages `layer1..4`, the first block of stages 2-4 with stride 2; a **basic** block is
//!   `conv1` 3x3 → `bn1` → ReLU → `conv2` 3x3 → `bn2`, a **bottleneck** `conv1` 1x1 → `bn1` →
//!   ReLU → `conv2` 3x3 → `bn2` → ReLU → `conv3` 1x1 → `bn3`; block 0 of a stage whose stride or
//!   width changes has a shortcut `downsample.0` (1x1 conv) → `downsample.1` (BN); the block
//!   ends with add + ReLU;
//! - the convolutions have no bias; each BN has `weight`, `bias`, `running_mean`,
//!   `running_var` (`num_batches_tracked` is ignored).
//!
//! The widths are read from the tensor shapes ([`ResNetConfig::from_tensors`]), so the standard
//! depths 18/34/50/101/152 and the wide variants (`wide_resnet50_2`: bottlenecks twice as wide)
//! load alike. BN runs in one of two modes on the tape ([`BnMode`]), or not at all: with the
//! running statistics fixed, [`ResNet::fold`] folds every BN into its convolution's weights and a
//! bias, and [`ResNet::forward_folded`] runs convolutions only (frozen bases, evaluation).

use serde::{Deserialize, Serialize};

use super::file::TensorFile;
use super::layer::Layer;
use crate::autograd::{BnStats, Params, Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Init;
use crate::ops::batch_norm;
use crate::ops::conv2d::Spec;
use crate::tensor::Tensor;
use std::path::Path;

/// The two residual block designs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Two 3x3 convolutions (ResNet-18/34).
    Basic,
    /// 1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152).
    Bottleneck,
}

/// The shape of a ResNet: block design, blocks per stage and channel widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Basic blocks or bottlenecks.
    pub block: BlockKind,
    /// Blocks in `layer1..4`.
    pub depths: [usize; 4],
    /// Output channels of the stem convolution (64).
    pub stem: usize,
    /// Inner width of each stage's blocks (`conv1`'s outputs).
    pub widths: [usize; 4],
    /// Output channels of each stage's blocks.
    pub outputs: [usize; 4],
}

/// The standard depths, by torchvision's name.
pub const NAMES: [&str; 5] = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"];

/// One convolution and the BN after it, as the file names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSite {
    /// Convolution prefix, e.g. `layer2.0.conv2` (its tensor is `<conv>.weight`).
    pub conv: String,
    /// BN prefix, e.g. `layer2.0.bn2`.
    pub bn: String,
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub padding: usize,
}

/// One residual block's convolutions in order, and its shortcut's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSites {
    /// The main path: 2 (basic) or 3 (bottleneck) convolutions.
    pub convs: Vec<ConvSite>,
    /// The 1x1 projection of the shortcut, when the block changes stride or width.
    pub downsample: Option<ConvSite>,
}

/// The four tensors of a BN layer after `prefix.`.
pub const BN_TENSORS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

impl ResNetConfig {
    /// One of [`NAMES`], with torchvision's widths.
    pub fn named(name: &str) -> Option<ResNetConfig> {
        let (block, depths) = match name {
            "resnet18" => (BlockKind::Basic, [2, 2, 2, 2]),
            "resnet34" => (BlockKind::Basic, [3, 4, 6, 3]),
            "resnet50" => (BlockKind::Bottleneck, [3, 4, 6, 3]),
            "resnet101" => (BlockKind::Bottleneck, [3, 4, 23, 3]),
            "resnet152" => (BlockKind::Bottleneck, [3, 8, 36, 3]),
            _ => return None,
        };
        let widths = [64, 128, 256, 512];
        let expansion = match block {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        };
        Some(ResNetConfig {
            block,
            depths,
            stem: 64,
            widths,
            outputs: widths.map(|w| w * expansion),
        })
    }

    /// `resnet50` for a standard shape, else a description of the custom one.
    pub fn name(&self) -> String {
        NAMES
            .iter()
            .find(|n| ResNetConfig::named(n).as_ref() == Some(self))
            .map(|n| n.to_string())
            .unwrap_or_else(|| {
                let kind = match self.block {
                    BlockKind::Basic => "basic",
                    BlockKind::Bottleneck => "bottleneck",
                };
                format!(
                    "resnet ({kind} blocks {:?}, widths {:?}, outputs {:?})",
                    self.depths, self.widths, self.outputs
                )
            })
    }

    /// Channels of the last feature map (512 for ResNet-18/34, 2048 for ResNet-50).
    pub fn features(&self) -> usize {
        self.outputs[3]
    }

    /// The stem convolution.
    pub fn stem_site(&self) -> ConvSite {
        ConvSite {
            conv: "conv1".into(),
            bn: "bn1".into(),
            inputs: 3,
            outputs: self.stem,
            kernel: 7,
            stride: 2,
            padding: 3,
        }
    }

    /// Every block in order (stage by stage).
    pub fn blocks(&self) -> Vec<BlockSites> {
        let mut out = Vec::new();
        let mut channels = self.stem;
        for stage in 0..4 {
            let (width, outputs) = (self.widths[stage], self.outputs[stage]);
            for i in 0..self.depths[stage] {
                let stride = if i == 0 && stage > 0 { 2 } else { 1 };
                let prefix = format!("layer{}.{i}", stage + 1);
                let site = |n: usize, inputs, outputs, kernel, stride| ConvSite {
                    conv: format!("{prefix}.conv{n}"),
                    bn: format!("{prefix}.bn{n}"),
                    inputs,
                    outputs,
                    kernel,
                    stride,
                    padding: kernel / 2,
                };
                let convs = match self.block {
                    BlockKind::Basic => vec![
                        site(1, channels, width, 3, stride),
                        site(2, width, outputs, 3, 1),
                    ],
                    BlockKind::Bottleneck => vec![
                        site(1, channels, width, 1, 1),
                        site(2, width, width, 3, stride),
                        site(3, width, outputs, 1, 1),
                    ],
                };
                let downsample = (stride != 1 || channels != outputs).then(|| ConvSite {
                    conv: format!("{prefix}.downsample.0"),
                    bn: format!("{prefix}.downsample.1"),
                    inputs: channels,
                    outputs,
                    kernel: 1,
                    stride,
                    padding: 0,
                });
                out.push(BlockSites { convs, downsample });
                channels = outputs;
            }
        }
        out
    }

    /// Every convolution in the order the network runs them (stem, then each block's main path
    /// and shortcut).
    pub fn sites(&self) -> Vec<ConvSite> {
        let mut sites = vec![self.stem_site()];
        for b in self.blocks() {
            sites.extend(b.convs);
            sites.extend(b.downsample);
        }
        sites
    }

    /// Every tensor of the base with its shape.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        for s in self.sites() {
            out.push((
                format!("{}.weight", s.conv),
                vec![s.outputs, s.inputs, s.kernel, s.kernel],
            ));
            for t in BN_TENSORS {
                out.push((format!("{}.{t}", s.bn), vec![s.outputs]));
            }
        }
        out
    }

    /// The ResNet a weights file holds, read from its tensor names and shapes; every tensor
    /// the shape implies must be there with its shape (the error names the first that is not).
    pub fn from_tensors(file: &TensorFile, path: &Path) -> Result<ResNetConfig> {
        ResNetConfig::from_shapes(|name| file.tensors.get(name).map(|(s, _)| s.clone()), path)
    }

    /// [`ResNetConfig::from_tensors`] from any lookup of tensor shapes by name (a file's
    /// header alone is enough).
    pub fn from_shapes(
        shape: impl Fn(&str) -> Option<Vec<usize>>,
        path: &Path,
    ) -> Result<ResNetConfig> {
        let first_dim = |name: &str| -> Result<usize> {
            match shape(name).as_deref() {
                Some([d, ..]) => Ok(*d),
                _ => Err(Error::input(format!(
                    "{}: no tensor `{name}`; a ResNet file (torchvision or timm `resnet*.tv_in1k` names) has it",
                    path.display()
                ))),
            }
        };
        let stem = first_dim("conv1.weight")?;
        let block = if shape("layer1.0.conv3.weight").is_some() {
            BlockKind::Bottleneck
        } else {
            BlockKind::Basic
        };
        let last = match block {
            BlockKind::Basic => 2,
            BlockKind::Bottleneck => 3,
        };
        let (mut depths, mut widths, mut outputs) = ([0; 4], [0; 4], [0; 4]);
        for stage in 0..4 {
            let k = stage + 1;
            depths[stage] = (0..)
                .take_while(|i| shape(&format!("layer{k}.{i}.conv1.weight")).is_some())
                .count();
            widths[stage] = first_dim(&format!("layer{k}.0.conv1.weight"))?;
            outputs[stage] = first_dim(&format!("layer{k}.0.conv{last}.weight"))?;
        }
        let config = ResNetConfig {
            block,
            depths,
            stem,
            widths,
            outputs,
        };
        for (name, want) in config.tensors() {
            match shape(&name) {
                None => {
                    return Err(Error::input(format!(
                        "{}: no tensor `{name}`, which a {} needs; the file is incomplete or not a torchvision-layout ResNet",
                        path.display(),
                        config.name()
                    )))
                }
                Some(got) if got != want => {
                    return Err(Error::input(format!(
                        "{}: tensor `{name}` has shape {got:?}, a {} needs {want:?}",
                        path.display(),
                        config.name()
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(config)
    }

    /// Checks that a file's ResNet is the one asked for (`--backbone resnet50` with a
    /// ResNet-34 file is refused, naming both).
    pub fn expect_same(&self, found: &ResNetConfig, flag: &str, path: &Path) -> Result<()> {
        if self == found {
            return Ok(());
        }
        Err(Error::input(format!(
            "{flag} {}: the file holds a {}, not the {} asked for; pass --backbone {} or a {} file",
            path.display(),
            found.name(),
            self.name(),
            found.name(),
            self.name()
        )))
    }

    /// The base as inference layers (BN with the running statistics), for exporters: the stem,
    /// its pool and every residual block.
    pub fn layers(&self) -> Vec<Layer> {
        let unit = |s: &ConvSite, relu: bool| Layer::ConvBn {
            conv: s.conv.clone(),
            bn: s.bn.clone(),
            inputs: s.inputs,
            outputs: s.outputs,
            kernel: s.kernel,
            stride: s.stride,
            pad: s.padding,
            relu,
        };
        let mut layers = vec![
            unit(&self.stem_site(), true),
            Layer::MaxPool {
                kernel: 3,
                stride: 2,
                pad: 1,
            },
        ];
        for b in self.blocks() {
            let last = b.convs.len() - 1;
            let name = b.convs[0].conv.trim_end_matches(".conv1").to_string();
            layers.push(Layer::Residual {
                name,
                main: b
                    .convs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| unit(s, i < last))
                    .collect(),
                shortcut: b.downsample.iter().map(|s| unit(s, false)).collect(),
            });
        }
        layers
    }

    /// The parameter prefixes of the base: `conv1`, `bn1`, `layer1` .. `layer4`.
    pub fn prefixes() -> [&'static str; 6] {
        ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    }
}

/// Whether `file` looks like a ResNet (a 7x7 stem `conv1` and a `layer1`).
pub fn is_resnet(file: &TensorFile) -> bool {
    file.tensors.contains_key("conv1.weight") && file.tensors.contains_key("layer1.0.conv1.weight")
}

/// How the BN layers normalise on the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnMode {
    /// Training mode for every BN whose γ trains: each batch's own statistics, and the running
    /// statistics move (PyTorch's `model.train()`). A frozen BN keeps its running statistics,
    /// as Keras runs the BN of a frozen layer in inference mode.
    Batch,
    /// The running statistics, fixed (`model.eval()`, or frozen BN whose γ/β may still train).
    Running,
}

/// One convolution (no bias) and its BN, as parameter ids.
struct ConvBn {
    weight: crate::autograd::ParamId,
    gamma: crate::autograd::ParamId,
    beta: crate::autograd::ParamId,
    mean: crate::autograd::ParamId,
    var: crate::autograd::ParamId,
    spec: Spec,
    label: String,
}

struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

/// The convolutional base of a ResNet (no `fc`): images `[N, 3, H, W]` → `[N, C, H/32, W/32]`.
pub struct ResNet {
    /// Its shape.
    pub config: ResNetConfig,
    stem: ConvBn,
    blocks: Vec<Block>,
}

/// Every convolution with its BN folded in: weights and biases in [`ResNetConfig::sites`]
/// order, for [`ResNet::forward_folded`].
pub struct Folded {
    convs: Vec<(Tensor, Tensor)>,
}

impl ConvBn {
    fn new(gpu: &Gpu, params: &mut Params, site: &ConvSite, init: &mut Init) -> Result<ConvBn> {
        let k = site.kernel;
        let n = site.outputs * site.inputs * k * k;
        // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"); BN γ 1, β 0.
        let w = init.he_normal(n, site.outputs * k * k);
        let weight = params.add(
            &format!("{}.weight", site.conv),
            Tensor::from_slice(gpu, &w, &[site.outputs, site.inputs, k, k])?,
        )?;
        let c = site.outputs;
        let ones = vec![1.0f32; c];
        let bn = |t: &str| format!("{}.{t}", site.bn);
        let gamma = params.add(&bn("weight"), Tensor::from_slice(gpu, &ones, &[c])?)?;
        let beta = params.add(&bn("bias"), Tensor::zeros(gpu, &[c])?)?;
        let mean = params.add_buffer(&bn("running_mean"), Tensor::zeros(gpu, &[c])?)?;
        let var = params.add_buffer(&bn("running_var"), Tensor::from_slice(gpu, &ones, &[c])?)?;
        Ok(ConvBn {
            weight,
            gamma,
            beta,
            mean,
            var,
            spec: Spec::new(site.stride, site.padding),
            label: site.conv.clone(),
        })
    }

    fn forward(
        &self,
        tape: &mut Tape,
        params: &Params,
        x: Var,
        mode: BnMode,
        relu: bool,
    ) -> Result<Var> {
        let gpu = params.get(self.weight).value.gpu().clone();
        let _label = gpu.scoped_label(Some(&self.label));
        let w = tape.param(params, self.weight);
        let y = tape.conv2d(x, w, None, false, self.spec)?;
        let gamma = tape.param(params, self.gamma);
        let beta = tape.param(params, self.beta);
        let (mean, var) = (&params.get(self.mean).value, &params.get(self.var).value);
        let batch = mode == BnMode::Batch && params.get(self.gamma).trainable;
        let stats = match batch {
            true => BnStats::Batch {
                running: Some((mean, var)),
            },
            false => BnStats::Fixed { mean, var },
        };
        tape.batch_norm(y, gamma, beta, stats, relu)
    }

    fn fold(&self, params: &Params) -> Result<(Tensor, Tensor)> {
        let host = |id| params.get(id).value.to_vec();
        let w = &params.get(self.weight).value;
        let (weight, bias) = batch_norm::fold(
            &host(self.weight)?,
            None,
            &host(self.gamma)?,
            &host(self.beta)?,
            &host(self.mean)?,
            &host(self.var)?,
            batch_norm::EPS,
        )?;
        let c = w.shape()[0];
        Ok((
            Tensor::from_slice(w.gpu(), &weight, w.shape())?,
            Tensor::from_slice(w.gpu(), &bias, &[c])?,
        ))
    }
}

fn folded_conv(
    tape: &mut Tape,
    x: Var,
    (w, b): &(Tensor, Tensor),
    site: &ConvBn,
    relu: bool,
) -> Result<Var> {
    let _label = w.gpu().clone().scoped_label(Some(&site.label));
    let w = tape.input(w.clone());
    let b = tape.input(b.clone());
    tape.conv2d(x, w, Some(b), relu, site.spec)
}

impl ResNet {
    /// Builds the base with torchvision's initialisation (seeded), registering every
    /// convolution, BN parameter and BN running statistic (buffers) in `params`.
    pub fn new(
        gpu: &Gpu,
        params: &mut Params,
        config: &ResNetConfig,
        init: &mut Init,
    ) -> Result<ResNet> {
        let stem = ConvBn::new(gpu, params, &config.stem_site(), init)?;
        let mut blocks = Vec::new();
        for b in config.blocks() {
            let convs = b
                .convs
                .iter()
                .map(|s| ConvBn::new(gpu, params, s, init))
                .collect::<Result<_>>()?;
            let downsample = match &b.downsample {
                Some(s) => Some(ConvBn::new(gpu, params, s, init)?),
                None => None,
            };
            blocks.push(Block { convs, downsample });
        }
        Ok(ResNet {
            config: *config,
            stem,
            blocks,
        })
    }

    /// Feature map `[N, C, H/32, W/32]` of images `[N, 3, H, W]`, BN in `mode`.
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var, mode: BnMode) -> Result<Var> {
        check_input(tape.tensor(x).shape())?;
        let h = self.stem.forward(tape, params, x, mode, true)?;
        let mut h = stem_pool(tape, h)?;
        for block in &self.blocks {
            let input = h;
            let last = block.convs.len() - 1;
            for (i, conv) in block.convs.iter().enumerate() {
                h = conv.forward(tape, params, h, mode, i < last)?;
            }
            let shortcut = match &block.downsample {
                Some(d) => d.forward(tape, params, input, mode, false)?,
                None => input,
            };
            h = tape.add(h, shortcut, true)?;
        }
        Ok(h)
    }

    /// Copies the base's weights and running statistics from `path` (torchvision or timm
    /// names, or a dak model built on this ResNet; an `fc` is ignored) after checking the
    /// file holds this ResNet. Returns the preprocessing a dak model file was trained with.
    pub fn load_weights(
        &self,
        path: &Path,
        params: &mut Params,
    ) -> Result<Option<crate::data::Preprocess>> {
        let file = super::file::read_tensors(path)?;
        let found = ResNetConfig::from_tensors(&file, path)?;
        self.config.expect_same(&found, "--weights", path)?;
        for (name, _) in self.config.tensors() {
            let id = params
                .find(&name)
                .ok_or_else(|| Error::input(format!("ResNet: no parameter `{name}`")))?;
            params.get(id).value.write(&file.tensors[&name].1)?;
        }
        match super::file::stored_info(&file, path)? {
            Some(info) => Ok(Some(info.preprocess.parse()?)),
            None => Ok(None),
        }
    }

    /// Every BN folded into its convolution with the current running statistics.
    pub fn fold(&self, params: &Params) -> Result<Folded> {
        let mut convs = vec![self.stem.fold(params)?];
        for block in &self.blocks {
            for c in block.convs.iter().chain(&block.downsample) {
                convs.push(c.fold(params)?);
            }
        }
        Ok(Folded { convs })
    }

    /// [`ResNet::forward`] in evaluation mode with `folded` weights: convolutions with their
    /// bias and ReLU, residual adds and the stem's pool; no BN kernel runs.
    pub fn forward_folded(&self, tape: &mut Tape, folded: &Folded, x: Var) -> Result<Var> {
        check_input(tape.tensor(x).shape())?;
        let mut folded = folded.convs.iter();
        let mut next = || {
            folded
                .next()
                .ok_or_else(|| Error::input("ResNet: folded weights of another network"))
        };
        let h = folded_conv(tape, x, next()?, &self.stem, true)?;
        let mut h = stem_pool(tape, h)?;
        for block in &self.blocks {
            let input = h;
            let last = block.convs.len() - 1;
            for (i, conv) in block.convs.iter().enumerate() {
                h = folded_conv(tape, h, next()?, conv, i < last)?;
            }
            let shortcut = match &block.downsample {
                Some(d) => folded_conv(tape, input, next()?, d, false)?,
                None => input,
            };
            h = tape.add(h, shortcut, true)?;
        }
        Ok(h)
    }
}

fn stem_pool(tape: &mut Tape, x: Var) -> Result<Var> {
    let _label = tape.tensor(x).gpu().clone().scoped_label(Some("maxpool"));
    tape.max_pool_padded(x, 3, 2, 1)
}

/// ResNet takes 3-channel images whose sides are multiples of 32 (five stride-2 steps).
pub fn check_input(shape: &[usize]) -> Result<()> {
    match shape {
        [_, 3, h, w] if h % 32 == 0 && w % 32 == 0 && *h > 0 && *w > 0 => Ok(()),
        _ => Err(Error::input(format!(
            "ResNet needs images [N, 3, H, W] with H and W multiples of 32 (e.g. --input-size 32, 64 or 224), got {shape:?}"
        ))),
    }
}
