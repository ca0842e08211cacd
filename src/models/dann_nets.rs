//! The networks a DANN is built from: the backbones ([`Backbone`], [`Features`]: the paper's
//! digits network, a VGG16 or a ResNet base) and the dense heads ([`Mlp`]).

use crate::autograd::{Params, Tape, Var};
use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::bn1d::Bn1d;
use crate::models::dann_resnet::ResNetFeatures;
use crate::models::dann_vgg::VggFeatures;
use crate::models::layer::Layer;
use crate::nn::{
    self, Conv2d, Conv2dConfig, Dense, DenseConfig, DenseInit, Dropout, Init, MaxPool2d,
};
use crate::ops::conv2d::Spec;

/// Which feature extractor a DANN uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backbone {
    /// The paper's MNIST network: conv5x5x32-ReLU-maxpool2 / conv5x5x48-ReLU-maxpool2 on 28x28
    /// inputs (no padding: 28→24→12→8→4), a 768-d feature.
    Digits,
    /// The VGG16 base (ImageNet weights or a dak model, or trained from scratch), global
    /// average pooling, optionally a bottleneck; any input side that is a multiple of 32.
    Vgg16,
    /// A torchvision ResNet of this depth (18, 34, 50, 101, 152), global average pooling and
    /// TLlib's bottleneck (Dense + BatchNorm1d + ReLU); any input side that is a multiple of 32.
    ResNet(u16),
}

impl Backbone {
    /// All backbones, for help texts and errors.
    pub const ALL: [Backbone; 7] = [
        Backbone::Digits,
        Backbone::Vgg16,
        Backbone::ResNet(18),
        Backbone::ResNet(34),
        Backbone::ResNet(50),
        Backbone::ResNet(101),
        Backbone::ResNet(152),
    ];

    /// Name on the command line and in model files (`dann-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Backbone::Digits => "digits",
            Backbone::Vgg16 => "vgg16",
            Backbone::ResNet(18) => "resnet18",
            Backbone::ResNet(34) => "resnet34",
            Backbone::ResNet(50) => "resnet50",
            Backbone::ResNet(101) => "resnet101",
            Backbone::ResNet(152) => "resnet152",
            Backbone::ResNet(_) => "resnet",
        }
    }

    /// The ResNet's shape, for a ResNet backbone.
    pub fn resnet(self) -> Option<crate::models::resnet::ResNetConfig> {
        crate::models::resnet::ResNetConfig::named(self.name())
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Result<Backbone> {
        match s {
            "digits" => Ok(Backbone::Digits),
            "vgg16" => Ok(Backbone::Vgg16),
            _ if Backbone::ALL.iter().any(|b| b.name() == s) => Ok(*Backbone::ALL
                .iter()
                .find(|b| b.name() == s)
                .expect("listed")),
            other => Err(Error::input(format!(
                "unknown --backbone `{other}`; choose one of: {}",
                Backbone::ALL.map(|b| b.name()).join(", ")
            ))),
        }
    }

    /// Default square input side (the digits network takes only 28).
    pub fn input_size(self) -> usize {
        match self {
            Backbone::Digits => 28,
            Backbone::Vgg16 | Backbone::ResNet(_) => 224,
        }
    }

    /// Pixel preprocessing the backbone is trained with.
    pub fn preprocess(self) -> Preprocess {
        match self {
            Backbone::Digits => Preprocess::Unit,
            Backbone::Vgg16 | Backbone::ResNet(_) => Preprocess::Imagenet,
        }
    }

    /// Architecture name stored in model files.
    pub fn architecture(self) -> String {
        format!("dann-{}", self.name())
    }
}

/// The digits feature extractor.
#[derive(Debug, Clone, Copy)]
pub struct DigitsFeatures {
    /// First convolution: 3 → 32 channels, 5x5, ReLU.
    pub conv1: Conv2d,
    /// Second convolution: 32 → 48 channels, 5x5, ReLU.
    pub conv2: Conv2d,
    /// 2x2 max-pooling after each convolution.
    pub pool: MaxPool2d,
    /// Dense(768 → n) + BatchNorm1d (+ ReLU unless `linear`) after the flattening, when
    /// configured (SHOT's source recipe: `--recipe shot`).
    pub bottleneck: Option<(Dense, Bn1d)>,
    /// The bottleneck ends at its BN, without ReLU.
    pub linear: bool,
}

impl DigitsFeatures {
    /// Feature size: 48 channels x 4 x 4.
    pub const DIM: usize = 768;
    /// (input, output) channels of conv1 and conv2.
    pub const CHANNELS: [(usize, usize); 2] = [(3, 32), (32, 48)];
    /// Kernel side of both convolutions (no padding, stride 1).
    pub const KERNEL: usize = 5;

    fn new(
        gpu: &Gpu,
        params: &mut Params,
        prefix: &str,
        (bottleneck, linear): (usize, bool),
        init: &mut Init,
    ) -> Result<Self> {
        let mut conv = |i: usize| {
            let (inputs, outputs) = Self::CHANNELS[i];
            let name = format!("{prefix}.conv{}", i + 1);
            let spec = Spec::new(1, 0);
            Conv2d::new(
                gpu,
                params,
                &name,
                Conv2dConfig::relu(inputs, outputs, Self::KERNEL, spec),
                init,
            )
        };
        let (conv1, conv2) = (conv(0)?, conv(1)?);
        let bottleneck = match bottleneck {
            0 => None,
            n => {
                let fc = Dense::new(
                    gpu,
                    params,
                    "bottleneck.fc1",
                    DenseConfig::linear(Self::DIM, n).start(DenseInit::He),
                    init,
                )?;
                Some((fc, Bn1d::new(gpu, params, "bottleneck.bn1", n)?))
            }
        };
        Ok(DigitsFeatures {
            conv1,
            conv2,
            pool: MaxPool2d {
                kernel: 2,
                stride: 2,
            },
            bottleneck,
            linear,
        })
    }

    /// The same network as an inference description (for export).
    pub fn layers(prefix: &str) -> Vec<Layer> {
        let mut layers = Vec::new();
        for (i, (inputs, outputs)) in Self::CHANNELS.into_iter().enumerate() {
            layers.push(Layer::Conv {
                name: format!("{prefix}.conv{}", i + 1),
                inputs,
                outputs,
                kernel: Self::KERNEL,
                stride: 1,
                pad: 0,
                relu: true,
            });
            layers.push(Layer::MaxPool {
                kernel: 2,
                stride: 2,
                pad: 0,
            });
        }
        layers.push(Layer::Flatten);
        layers
    }

    fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        // conv + ReLU + pool as one fused op each: [B, 32, 24, 24] -> [B, 32, 12, 12], then
        // [B, 48, 8, 8] -> [B, 48, 4, 4].
        let h = self.conv1.forward_pooled(tape, params, x, &self.pool)?;
        let h = self.conv2.forward_pooled(tape, params, h, &self.pool)?;
        let flat = nn::flatten(tape, h)?;
        match &self.bottleneck {
            Some((fc, bn)) => {
                let b = fc.forward(tape, params, flat)?;
                bn.forward(tape, params, b, !self.linear)
            }
            None => Ok(flat),
        }
    }

    /// Feature size: the bottleneck's width, else [`Self::DIM`].
    pub fn dim(&self) -> usize {
        self.bottleneck.map_or(Self::DIM, |(fc, _)| fc.outputs)
    }
}

/// A feature extractor: one variant per [`Backbone`].
#[derive(Debug, Clone)]
pub enum Features {
    /// The paper's digits network.
    Digits(DigitsFeatures),
    /// VGG16 base + pooling (+ bottleneck).
    Vgg16(VggFeatures),
    /// ResNet base + pooling (+ bottleneck with BN).
    ResNet(ResNetFeatures),
}

impl Features {
    /// Creates the backbone's parameters under `prefix` (`features`) and a bottleneck of
    /// `bottleneck` features (0 for none; `linear`: a ResNet's or the digits network's ends at
    /// its BatchNorm, without ReLU; `plain`: a ResNet's is Dense + ReLU without BatchNorm).
    pub fn new(
        backbone: Backbone,
        gpu: &Gpu,
        params: &mut Params,
        prefix: &str,
        (bottleneck, linear, plain): (usize, bool, bool),
        init: &mut Init,
    ) -> Result<Features> {
        match backbone {
            Backbone::Digits => Ok(Features::Digits(DigitsFeatures::new(
                gpu,
                params,
                prefix,
                (bottleneck, linear),
                init,
            )?)),
            Backbone::Vgg16 => Ok(Features::Vgg16(VggFeatures::new(
                gpu, params, bottleneck, init,
            )?)),
            Backbone::ResNet(_) => {
                let config = backbone.resnet().ok_or_else(|| {
                    Error::input(format!("unknown ResNet backbone `{}`", backbone.name()))
                })?;
                Ok(Features::ResNet(ResNetFeatures::new(
                    gpu,
                    params,
                    &config,
                    (bottleneck, linear, plain),
                    init,
                )?))
            }
        }
    }

    /// Images [B, 3, S, S] → features [B, dim].
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        match self {
            Features::Digits(f) => f.forward(tape, params, x),
            Features::Vgg16(f) => f.forward(tape, params, x),
            Features::ResNet(f) => f.forward(tape, params, x),
        }
    }

    /// Feature size.
    pub fn dim(&self) -> usize {
        match self {
            Features::Digits(f) => f.dim(),
            Features::Vgg16(f) => f.dim(),
            Features::ResNet(f) => f.dim(),
        }
    }

    /// Which backbone this is.
    pub fn backbone(&self) -> Backbone {
        match self {
            Features::Digits(_) => Backbone::Digits,
            Features::Vgg16(_) => Backbone::Vgg16,
            Features::ResNet(f) => {
                Backbone::parse(&f.base.config.name()).unwrap_or(Backbone::ResNet(0))
            }
        }
    }
}

/// A stack of dense layers, ReLU (then dropout, in training) between them and none after the last.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// The layers, in order.
    pub layers: Vec<Dense>,
    /// Dropout after each hidden layer, in training only.
    pub dropout: Dropout,
}

impl Mlp {
    /// `sizes` = [inputs, hidden..., outputs]; layers are named `<prefix>.fc1`, `fc2`, ...
    pub(crate) fn new(
        gpu: &Gpu,
        params: &mut Params,
        prefix: &str,
        sizes: &[usize],
        dropout: f32,
        init: &mut Init,
    ) -> Result<Mlp> {
        let last = sizes.len() - 2;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, io)| {
                let hidden = i < last;
                Dense::new(
                    gpu,
                    params,
                    &format!("{prefix}.fc{}", i + 1),
                    match hidden {
                        true => DenseConfig::relu(io[0], io[1]),
                        false => DenseConfig::linear(io[0], io[1]),
                    },
                    init,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp {
            layers,
            dropout: Dropout { rate: dropout },
        })
    }

    /// Makes the last layer weight-normalised (SHOT's classifier): its `weight` parameter is
    /// renamed `weight_v` in place (same id, so creation order and seeds are unchanged) and
    /// `weight_g`, its row norms, is added.
    pub(crate) fn weight_norm_last(
        &mut self,
        gpu: &Gpu,
        params: &mut Params,
        prefix: &str,
    ) -> Result<()> {
        let n = self.layers.len();
        let last = &mut self.layers[n - 1];
        let name = format!("{prefix}.fc{n}");
        let v = params.get(last.weight).value.to_vec()?;
        let norms: Vec<f32> = v
            .chunks(last.inputs)
            .map(|r| r.iter().map(|x| x * x).sum::<f32>().sqrt())
            .collect();
        params.rename(last.weight, &format!("{name}.weight_v"))?;
        let g = params.add(
            &format!("{name}.weight_g"),
            crate::tensor::Tensor::from_slice(gpu, &norms, &[last.outputs, 1])?,
        )?;
        last.weight_g = Some(g);
        Ok(())
    }

    /// Runs the layers in order. `train_seed`: Some(seed, new every step) in training, when
    /// dropout is active.
    pub fn forward(
        &self,
        tape: &mut Tape,
        params: &Params,
        mut x: Var,
        train_seed: Option<u32>,
    ) -> Result<Var> {
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(tape, params, x)?;
            if let (Some(seed), true) = (train_seed, i < last) {
                x = self
                    .dropout
                    .forward(tape, x, true, seed.wrapping_add(i as u32))?;
            }
        }
        Ok(x)
    }
}
