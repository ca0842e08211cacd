//! The vocabulary of inference graphs ([`super::graph`]): the layers an exporter rebuilds and
//! the named values it can expose. The networks describe themselves in it.

/// One inference step. Parameter tensors are named `<name>.weight` / `<name>.bias`.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Square convolution, weight `[outputs, inputs, kernel, kernel]`, with bias, then ReLU if set.
    Conv {
        /// Parameter prefix, e.g. `features.0`.
        name: String,
        /// Input channels.
        inputs: usize,
        /// Output channels.
        outputs: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on every side.
        pad: usize,
        /// ReLU after the bias.
        relu: bool,
    },
    /// Square convolution without bias (`<conv>.weight`), then batch normalisation with the
    /// running statistics (`<bn>.{weight,bias,running_mean,running_var}`, ε 1e-5), then ReLU if
    /// set: a ResNet's unit.
    ConvBn {
        /// Convolution prefix, e.g. `layer1.0.conv1`.
        conv: String,
        /// BN prefix, e.g. `layer1.0.bn1`.
        bn: String,
        /// Input channels.
        inputs: usize,
        /// Output channels.
        outputs: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on every side.
        pad: usize,
        /// ReLU after the BN.
        relu: bool,
    },
    /// Batch normalisation of flat features `[N, C]` with the running statistics
    /// (`<name>.{weight,bias,running_mean,running_var}`, ε 1e-5), then ReLU if set.
    BatchNorm {
        /// Parameter prefix, e.g. `bottleneck.bn1`.
        name: String,
        /// Channels.
        channels: usize,
        /// ReLU after it.
        relu: bool,
    },
    /// Max-pooling over `kernel`x`kernel` windows (sizes rounded down), `pad` rows and columns
    /// of −∞ on every side.
    MaxPool {
        /// Window side.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Padding on every side.
        pad: usize,
    },
    /// A residual block: `ReLU(main(x) + shortcut(x))`, the shortcut the identity when empty.
    Residual {
        /// Block prefix, e.g. `layer2.0`.
        name: String,
        /// The main path.
        main: Vec<Layer>,
        /// The projection of the shortcut (empty: identity).
        shortcut: Vec<Layer>,
    },
    /// Mean over H and W: `[N, C, H, W]` → `[N, C]`.
    GlobalAvgPool,
    /// `[N, C, H, W]` → `[N, C*H*W]` in C, H, W order.
    Flatten,
    /// `y = x Wᵀ + b` with weight `[outputs, inputs]` (stored as `[outputs, c, h, w]` by timm's
    /// fc6: the same values), then ReLU if set. Dropout is the identity at inference.
    Dense {
        /// Parameter prefix, e.g. `head.fc1`.
        name: String,
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
        /// ReLU after the bias.
        relu: bool,
    },
    /// The value here is an output the user can ask for.
    Tap(Tap),
}

/// Named values of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tap {
    /// What the label head reads: the backbone's output (adapted models) or the pooled base
    /// (fine-tuned classifiers).
    Features,
    /// Class scores before the softmax.
    Logits,
}
