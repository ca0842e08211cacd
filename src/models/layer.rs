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
    /// Max-pooling over `kernel`x`kernel` windows (sizes rounded down).
    MaxPool {
        /// Window side.
        kernel: usize,
        /// Step between windows.
        stride: usize,
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
