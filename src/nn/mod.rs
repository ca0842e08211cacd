//! Layers built on the tape. A layer owns parameter ids in a `Params` store; `forward` records
//! onto a `Tape` (or a no-grad tape for evaluation).

pub mod init;

use crate::autograd::{ParamId, Params, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::Spec;
use crate::tensor::Tensor;
pub use init::Init;

/// How a dense layer's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseInit {
    /// He normal (fan_in): for layers followed by ReLU.
    He,
    /// Glorot uniform: for output layers (the Keras default).
    Glorot,
}

/// Fully connected layer `act(x·Wᵀ + b)`, W [out, in] (PyTorch layout).
#[derive(Debug, Clone, Copy)]
pub struct Dense {
    /// Weight [outputs, inputs].
    pub weight: ParamId,
    /// Bias `[outputs]`.
    pub bias: ParamId,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Whether ReLU follows (fused into the GEMM).
    pub relu: bool,
    /// A weight-normalised layer's lengths `<name>.weight_g` [outputs, 1]; `weight` is then its
    /// direction `<name>.weight_v` and the layer's weight is `g·V/‖V‖` per row.
    pub weight_g: Option<ParamId>,
}

/// A dense layer's shape, activation and starting weights, as Keras' `Dense(units, activation,
/// kernel_initializer)`: `DenseConfig::relu(512, 256)` for a hidden layer (He normal),
/// `DenseConfig::linear(256, classes)` for an output layer (Glorot uniform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseConfig {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Whether ReLU follows (fused into the GEMM).
    pub relu: bool,
    /// How the weights start.
    pub start: DenseInit,
}

impl DenseConfig {
    /// A hidden layer: ReLU, He normal weights.
    pub fn relu(inputs: usize, outputs: usize) -> Self {
        DenseConfig {
            inputs,
            outputs,
            relu: true,
            start: DenseInit::He,
        }
    }

    /// An output layer: no activation, Glorot uniform weights.
    pub fn linear(inputs: usize, outputs: usize) -> Self {
        DenseConfig {
            inputs,
            outputs,
            relu: false,
            start: DenseInit::Glorot,
        }
    }

    /// This layer with or without the ReLU.
    pub fn relu_if(self, relu: bool) -> Self {
        DenseConfig { relu, ..self }
    }

    /// This layer with weights started by `start`.
    pub fn start(self, start: DenseInit) -> Self {
        DenseConfig { start, ..self }
    }
}

impl Dense {
    /// Create `<name>.weight` (started as `config.start` says) and `<name>.bias` (zeros) in
    /// `params`.
    pub fn new(
        gpu: &Gpu,
        params: &mut Params,
        name: &str,
        config: DenseConfig,
        init: &mut Init,
    ) -> Result<Dense> {
        let DenseConfig {
            inputs,
            outputs,
            relu,
            start,
        } = config;
        let w = match start {
            DenseInit::He => init.he_normal(inputs * outputs, inputs),
            DenseInit::Glorot => init.glorot_uniform(inputs * outputs, inputs, outputs),
        };
        let weight = params.add(
            &format!("{name}.weight"),
            Tensor::from_slice(gpu, &w, &[outputs, inputs])?,
        )?;
        let bias = params.add(&format!("{name}.bias"), Tensor::zeros(gpu, &[outputs])?)?;
        Ok(Dense {
            weight,
            bias,
            inputs,
            outputs,
            relu,
            weight_g: None,
        })
    }

    /// `x [B, inputs]` → `[B, outputs]`.
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        // Profiles show the layer's name next to its dispatches (the tape reuses it for backward).
        let gpu = params.get(self.weight).value.gpu();
        let _label = gpu.scoped_label(Some(&layer_name(params, self.weight)));
        let mut w = tape.param(params, self.weight);
        if let Some(g) = self.weight_g {
            let g = tape.param(params, g);
            w = tape.weight_norm(w, g)?;
        }
        let b = tape.param(params, self.bias);
        tape.dense(x, w, Some(b), self.relu)
    }
}

/// Dropout that is active only in training.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    /// Fraction of activations zeroed while training.
    pub rate: f32,
}

impl Dropout {
    /// `seed` must change every step (e.g. hash of run seed and step number).
    pub fn forward(&self, tape: &mut Tape, x: Var, training: bool, seed: u32) -> Result<Var> {
        if !training || self.rate == 0.0 {
            return Ok(x);
        }
        tape.dropout(x, self.rate, seed)
    }
}

/// 2-D convolution `act(conv(x, W) + b)`, W [out, in, k, k] (OIHW, PyTorch layout).
#[derive(Debug, Clone, Copy)]
pub struct Conv2d {
    /// Weight [co, ci, k, k] (OIHW).
    pub weight: ParamId,
    /// Bias `[co]`.
    pub bias: ParamId,
    /// Stride and padding.
    pub spec: Spec,
    /// Whether ReLU follows (fused into the convolution).
    pub relu: bool,
}

/// A convolution's shape and activation, as PyTorch's `Conv2d(in, out, kernel, stride,
/// padding)` followed by a ReLU: `Conv2dConfig::relu(64, 128, 3, Spec::new(1, 1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride and padding.
    pub spec: Spec,
    /// Whether ReLU follows (fused into the convolution).
    pub relu: bool,
}

impl Conv2dConfig {
    /// A convolution followed by ReLU.
    pub fn relu(inputs: usize, outputs: usize, kernel: usize, spec: Spec) -> Self {
        Conv2dConfig {
            inputs,
            outputs,
            kernel,
            spec,
            relu: true,
        }
    }

    /// This convolution with or without the ReLU.
    pub fn relu_if(self, relu: bool) -> Self {
        Conv2dConfig { relu, ..self }
    }
}

impl Conv2d {
    /// Create `<name>.weight` (He normal over fan_out, as torchvision's VGG) and `<name>.bias` (zeros).
    pub fn new(
        gpu: &Gpu,
        params: &mut Params,
        name: &str,
        config: Conv2dConfig,
        init: &mut Init,
    ) -> Result<Conv2d> {
        let Conv2dConfig {
            inputs,
            outputs,
            kernel,
            spec,
            relu,
        } = config;
        let n = outputs * inputs * kernel * kernel;
        let w = init.he_normal(n, outputs * kernel * kernel);
        let weight = params.add(
            &format!("{name}.weight"),
            Tensor::from_slice(gpu, &w, &[outputs, inputs, kernel, kernel])?,
        )?;
        let bias = params.add(&format!("{name}.bias"), Tensor::zeros(gpu, &[outputs])?)?;
        Ok(Conv2d {
            weight,
            bias,
            spec,
            relu,
        })
    }

    /// `x [N, ci, H, W]` → `[N, co, oH, oW]`.
    pub fn forward(&self, tape: &mut Tape, params: &Params, x: Var) -> Result<Var> {
        let gpu = params.get(self.weight).value.gpu();
        let _label = gpu.scoped_label(Some(&layer_name(params, self.weight)));
        let w = tape.param(params, self.weight);
        let b = tape.param(params, self.bias);
        tape.conv2d(x, w, Some(b), self.relu, self.spec)
    }

    /// This layer followed by `pool`: one fused op (`ops::conv2d::pooled`) when the layer has
    /// its ReLU and the pool is 2x2 with stride 2 (the digits network, VGG16's block ends),
    /// unless [`fusion`] is off; otherwise the two layers one after the other.
    pub fn forward_pooled(
        &self,
        tape: &mut Tape,
        params: &Params,
        x: Var,
        pool: &MaxPool2d,
    ) -> Result<Var> {
        let fusable = self.relu && pool.kernel == 2 && pool.stride == 2;
        if !(fusable && fusion()) {
            let h = self.forward(tape, params, x)?;
            return pool.forward(tape, h);
        }
        let gpu = params.get(self.weight).value.gpu();
        let _label = gpu.scoped_label(Some(&layer_name(params, self.weight)));
        let w = tape.param(params, self.weight);
        let b = tape.param(params, self.bias);
        tape.conv2d_pool(x, w, Some(b), self.spec)
    }
}

/// Whether layers fuse (convolution + ReLU + pool); `DAK_NO_FUSE=1` turns fusion off, which
/// runs the unfused reference path (for comparisons and benchmarks).
pub fn fusion() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("DAK_NO_FUSE").is_none_or(|v| v.is_empty() || v == "0"))
}

/// Max pooling with a square window.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
}

impl MaxPool2d {
    /// `x [N, C, H, W]` → `[N, C, oH, oW]` (argmax saved for backward).
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let name = match tape.tensor(x).shape() {
            [_, c, h, w] => format!("maxpool {c}x{h}x{w}"),
            _ => "maxpool".to_string(),
        };
        let _label = tape.tensor(x).gpu().clone().scoped_label(Some(&name));
        tape.max_pool(x, self.kernel, self.stride)
    }
}

/// `features.0` from the parameter `features.0.weight`.
fn layer_name(params: &Params, weight: ParamId) -> String {
    let name = &params.get(weight).name;
    name.strip_suffix(".weight").unwrap_or(name).to_string()
}

/// Flatten [N, ...] to [N, features] (a free reshape).
pub fn flatten(tape: &mut Tape, x: Var) -> Result<Var> {
    let shape = tape.tensor(x).shape().to_vec();
    let features = shape[1..].iter().product();
    tape.reshape(x, &[shape[0], features])
}
