//! What a DANN's model file stores to rebuild it: its sizes ([`DannConfig`]) and those of any
//! extra heads ([`HeadConfig`]). Kept apart from the network so the inference graph reads them
//! without depending on the trainable model.

use super::dann_nets::Backbone;
use crate::error::{Error, Result};

/// Sizes of a DANN (everything its model file needs to rebuild it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DannConfig {
    /// Backbone name (`digits`).
    pub backbone: String,
    /// Number of classes.
    pub classes: usize,
    /// Hidden sizes of the label head (paper: 100, 100).
    pub label_hidden: Vec<usize>,
    /// Hidden sizes of the domain head (paper: 100).
    pub domain_hidden: Vec<usize>,
    /// Dropout after each hidden layer of the domain head, in training (VGG16: 0.5).
    #[serde(default)]
    pub domain_dropout: f32,
    /// Width of the bottleneck after the base (0 = none; the paper's digits network has none).
    #[serde(default)]
    pub bottleneck: usize,
    /// The bottleneck ends at its BatchNorm, without ReLU (SHOT's recipe; digits and ResNet).
    #[serde(default, skip_serializing_if = "is_false")]
    pub bottleneck_linear: bool,
    /// Dropout after the bottleneck, in training only (SHOT's digits recipe: 0.5, after the
    /// BatchNorm; its photo recipe has none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bottleneck_dropout: f32,
    /// A ResNet's bottleneck is Dense + ReLU without BatchNorm (a fine-tuned classifier's head
    /// read as a DANN for source-free adaptation).
    #[serde(default, skip_serializing_if = "is_false")]
    pub bottleneck_plain: bool,
    /// Pixel preprocessing when it is not the backbone's own (a fine-tuned classifier's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<String>,
    /// The label head's last layer is weight-normalised (SHOT's recipe).
    #[serde(default, skip_serializing_if = "is_false")]
    pub label_weight_norm: bool,
    /// Label smoothing ε of the source cross-entropy (SHOT's recipe: 0.1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_smoothing: f32,
    /// Square input side (None = the backbone's default: 28 digits, 224 VGG16).
    #[serde(default)]
    pub input_size: Option<usize>,
    /// Heads an adaptation method added (CDAN's conditional domain head, MDD's adversary), in
    /// the order their parameters were created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<HeadConfig>,
}

/// A dense head an adaptation method adds to the network (its parameters are
/// `<name>.fc1.weight`, ...; ReLU and training-time dropout between the layers).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    /// Parameter prefix and the name the method looks the head up by.
    pub name: String,
    /// Width of its input.
    pub input: usize,
    /// Hidden sizes.
    pub hidden: Vec<usize>,
    /// Width of its output.
    pub outputs: usize,
    /// Dropout after each hidden layer, in training.
    #[serde(default)]
    pub dropout: f32,
}

impl DannConfig {
    /// The paper's network for `backbone` and `classes` classes: for digits, label head
    /// 100-100-classes and domain head 100-1; for VGG16, a 256-d bottleneck, a linear label
    /// head and the domain head 1024-1024-1 with dropout 0.5 (DESIGN §6).
    pub fn paper(backbone: Backbone, classes: usize) -> DannConfig {
        match backbone {
            Backbone::Digits => DannConfig {
                backbone: backbone.name().to_string(),
                classes,
                label_hidden: vec![100, 100],
                domain_hidden: vec![100],
                domain_dropout: 0.0,
                bottleneck: 0,
                bottleneck_linear: false,
                bottleneck_plain: false,
                bottleneck_dropout: 0.0,
                preprocess: None,
                label_weight_norm: false,
                label_smoothing: 0.0,
                input_size: None,
                heads: Vec::new(),
            },
            Backbone::Vgg16 | Backbone::ResNet(_) => DannConfig {
                backbone: backbone.name().to_string(),
                classes,
                label_hidden: vec![],
                domain_hidden: vec![1024, 1024],
                domain_dropout: 0.5,
                bottleneck: 256,
                bottleneck_linear: false,
                bottleneck_plain: false,
                bottleneck_dropout: 0.0,
                preprocess: None,
                label_weight_norm: false,
                label_smoothing: 0.0,
                input_size: None,
                heads: Vec::new(),
            },
        }
    }

    /// The square input side this network takes.
    pub fn input_size(&self) -> usize {
        match (self.input_size, Backbone::parse(&self.backbone)) {
            (Some(s), _) => s,
            (None, Ok(b)) => b.input_size(),
            (None, Err(_)) => 0,
        }
    }

    /// Checks the backbone name, the input side and the dropout rates.
    pub fn validate(&self) -> Result<()> {
        let backbone = Backbone::parse(&self.backbone)?;
        let side = self.input_size();
        match backbone {
            Backbone::Digits if side != 28 => {
                return Err(Error::input(format!(
                    "the digits backbone takes 28x28 images, not {side}x{side}; use --backbone vgg16 for other sizes"
                )))
            }
            Backbone::Vgg16 | Backbone::ResNet(_) if side == 0 || !side.is_multiple_of(32) => {
                return Err(Error::input(format!(
                    "--input-size {side}: the {} backbone needs a multiple of 32 (e.g. 224, or 32/64 for speed)",
                    backbone.name()
                )))
            }
            _ => {}
        }
        if self.bottleneck_linear && (backbone == Backbone::Vgg16 || self.bottleneck == 0) {
            return Err(Error::input(
                "a linear (BatchNorm, no ReLU) bottleneck needs a digits or ResNet backbone and a bottleneck width",
            ));
        }
        if self.bottleneck_plain
            && (!matches!(backbone, Backbone::ResNet(_)) || self.bottleneck_linear)
        {
            return Err(Error::input(
                "a plain (Dense + ReLU) bottleneck is a ResNet's, and not also linear",
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::input(format!(
                "label smoothing {} must be in [0, 1)",
                self.label_smoothing
            )));
        }
        if !(0.0..1.0).contains(&self.bottleneck_dropout)
            || (self.bottleneck_dropout > 0.0 && self.bottleneck == 0)
        {
            return Err(Error::input(format!(
                "bottleneck dropout {} must be in [0, 1), and needs a bottleneck",
                self.bottleneck_dropout
            )));
        }
        if !(0.0..1.0).contains(&self.domain_dropout) {
            return Err(Error::input(format!(
                "domain-head dropout {} must be in [0, 1)",
                self.domain_dropout
            )));
        }
        Ok(())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

/// SHOT's source recipe (Liang et al. 2020, `--recipe shot`): a 256-wide bottleneck Linear +
/// BatchNorm1d without ReLU, a weight-normalised linear classifier head and label smoothing
/// 0.1; on the digits network, dropout 0.5 after the bottleneck's BatchNorm in training (the
/// authors' `digit/network.py`; their photo network defines the dropout but never applies it,
/// so ResNets get none). Not available for VGG16, whose bottleneck has no BatchNorm.
pub fn shot_recipe(mut c: DannConfig, bottleneck: Option<usize>) -> Result<DannConfig> {
    let backbone = Backbone::parse(&c.backbone)?;
    if backbone == Backbone::Vgg16 {
        return Err(Error::input(
            "--recipe shot builds a BatchNorm bottleneck: use --backbone digits or resnet*",
        ));
    }
    c.bottleneck = bottleneck.unwrap_or(256);
    c.bottleneck_linear = true;
    c.label_hidden = Vec::new();
    c.label_weight_norm = true;
    c.label_smoothing = 0.1;
    c.bottleneck_dropout = match backbone {
        Backbone::Digits => 0.5,
        _ => 0.0,
    };
    Ok(c)
}
