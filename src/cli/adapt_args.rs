//! The flags of `dak adapt` (source-based runs and `--source-free` ones alike), apart from
//! the code that runs them so both runners read them without depending on each other.

use std::path::PathBuf;

/// Arguments of `dak adapt`.
#[derive(clap::Args, Debug, Clone)]
pub struct AdaptArgs {
    /// Labelled source domain: a class-per-folder directory. Omit both --source and --target to
    /// run the bundled MNIST -> MNIST-M benchmark.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Target domain: class folders (labels are used only for reporting) or any folder of images.
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Labelled target images to report target accuracy on (never used for training).
    #[arg(long, value_name = "DIR")]
    pub target_test: Option<PathBuf>,
    /// With --source-free: read --target as unlabelled images at any depth whatever its
    /// sub-folders are called (cameras, sites, dates). Without it, a --source-free target's
    /// sub-folders must be the --init model's classes (or absent).
    #[arg(long)]
    pub target_unlabelled: bool,
    /// Labelled held-out source images to report source accuracy on.
    #[arg(long, value_name = "DIR")]
    pub source_test: Option<PathBuf>,
    /// Feature extractor: `digits` (the paper's MNIST network, 28x28), `vgg16` (VGG16 base +
    /// global average pooling + a bottleneck; domain head 1024-1024-1 with dropout) or
    /// `resnet18/34/50/101/152` (ResNet base + pooling + bottleneck with BatchNorm1d, TLlib's
    /// setting; BN trains on the concatenated source + target batch).
    #[arg(long, default_value = "digits")]
    pub backbone: String,
    /// Base weights: ImageNet VGG16 or ResNet safetensors (timm or torchvision names) or a dak
    /// model built on the same base (e.g. from `dak fine-tune`); f32, f16 or bf16 tensors.
    /// Without it (or with `none`) the base starts from seeded He init.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Square input side for --backbone vgg16 or resnet* (a multiple of 32) [default: 224].
    #[arg(long, value_name = "N")]
    pub input_size: Option<usize>,
    /// Width of the bottleneck after a VGG16 or ResNet base; 0 for none [default: 256].
    #[arg(long, value_name = "N")]
    pub bottleneck: Option<usize>,
    /// `shot`: train the source model as SHOT does, for a later `--source-free` run: a
    /// 256-wide bottleneck (--bottleneck) Linear + BatchNorm1d without ReLU, a linear
    /// classifier head, label smoothing 0.1 (digits and ResNet backbones).
    #[arg(long, value_name = "shot")]
    pub recipe: Option<String>,
    /// A ResNet base's BN: `train` (batch statistics over the concatenated source + target
    /// batch, γ/β trained; TLlib's recipe) or `frozen` (running statistics, γ/β fixed).
    #[arg(long, default_value = "train", value_name = "train|frozen")]
    pub bn: String,
    /// Adaptation method: `dann` (domain-adversarial), `source-only` (the baseline, no target)
    /// or another from docs/methods.md (an unknown name lists them all) [default: dann].
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Train several methods from the same initial weights and seed and print them side by
    /// side: a comma-separated list (`source-only,dann,mcc`; bare `--compare`: source-only and
    /// dann). Source-only is always trained. Each method's model goes to `<out stem>-<method>`;
    /// --out gets the one --select picks (with `last`, the last listed).
    #[arg(
        long,
        value_name = "LIST",
        num_args = 0..=1,
        default_missing_value = "source-only,dann",
        require_equals = false
    )]
    pub compare: Option<String>,
    /// Passes over the source data (with --source-free: over the target) [default: 10; with
    /// --source-free the method's: shot 30 for digits, 15 for photo backbones; tent 1].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Images per domain per step (a DANN step holds twice this many).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seed of the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Base learning rate mu0; decays as mu0 / (1 + 10p)^0.75 unless --constant-lr
    /// [default: 0.01; with --source-free --method tent: 0.00025, constant].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f32>,
    /// Keep the learning rate at --lr throughout.
    #[arg(long)]
    pub constant_lr: bool,
    /// Final gradient-reversal coefficient of the schedule lambda_max * (2/(1+exp(-10p)) - 1)
    /// [default: 1].
    #[arg(long, value_name = "LAMBDA")]
    pub lambda_max: Option<f32>,
    /// Use this gradient-reversal coefficient throughout instead of the schedule.
    #[arg(long, value_name = "LAMBDA")]
    pub constant_lambda: Option<f32>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Learning-rate multiplier of the feature extractor [default: 0.1 with --weights, else 1].
    #[arg(long, value_name = "MULT")]
    pub backbone_lr_mult: Option<f32>,
    /// Which epoch's parameters to save (with --compare also which method's), without target
    /// labels: `last`; `ensv` (agreement with the class most candidates vote for: EnsV with
    /// hard votes), `ensv-soft` (EnsV on mean probabilities), `mixval` (mixup probes of
    /// target images), `dev` (held-out source loss weighted by the domain density ratio;
    /// needs --source-test or --source-val-split), `entropy`, `im`, `snd` (confidence scores:
    /// a confidently wrong model wins them), `source-val` (held-out source accuracy); or
    /// `safe`: each run's last epoch, and across --compare runs an adapted method replaces
    /// source-only only when the target is shifted (source-only less sure of it than of
    /// held-out source images, or its features telling the two apart better than its classes
    /// do), the method's IM is higher, and another method corroborates the answers it changed
    /// (docs/selection.md); with --source-free, `safe` keeps the last epoch unless its MixVal
    /// falls below the --init model's or its predictions split the target's pixel
    /// neighbourhoods (label shift; docs/source_free.md) [default: safe with --compare or
    /// --source-free, else last].
    #[arg(long, value_name = "VALIDATOR")]
    pub select: Option<String>,
    /// Fraction of the source held out and scored each epoch (stratified, seeded; training
    /// uses the rest) [default: 0.1 with --select source-val].
    #[arg(long, value_name = "F")]
    pub source_val_split: Option<f64>,
    /// Adapt the model --init names from target images alone, without any source data:
    /// `--method shot` (default; SHOT, ICML 2020: information maximisation and clustered
    /// pseudo-labels, the classifier head frozen) or `tent` (TENT, ICLR 2021: BatchNorm γ/β
    /// only, entropy, one pass; ResNet backbones). Epoch 0, the --init model, is always a
    /// candidate of --select.
    #[arg(long)]
    pub source_free: bool,
    /// The model to adapt with --source-free: a model file from `dak adapt` (any backbone) or a
    /// classifier from `dak fine-tune` (VGG16 or ResNet; written back as a classifier).
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// Model file to write (safetensors with dak's model description).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Keep every epoch's model of every method in DIR as a selection candidate (with
    /// DIR/candidates.json), so `dak select DIR --select V` can score them with any validator
    /// later without training again.
    #[arg(long, value_name = "DIR")]
    pub candidates: Option<PathBuf>,
    /// Write one JSON object per epoch and a summary per run to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub metrics: Option<PathBuf>,
    /// Draw accuracy, domain-accuracy and lambda curves to this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Skip images that fail to decode (listed at the end) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Use at most this many images of each training and evaluation set (seeded subset).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Target images scored each epoch (entropy, IM, SND) and used for the proxy A-distance.
    #[arg(long, default_value_t = 1000)]
    pub score_samples: usize,
    /// Skip the proxy A-distance measurement.
    #[arg(long)]
    pub no_pad: bool,
    /// Data-loading threads (0 = one per CPU core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Least seconds between two resume checkpoints at epoch ends (the first and last epoch
    /// and Ctrl-C always write one; 0: every epoch).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::train::callbacks::RESUME_EVERY_SECONDS)]
    pub checkpoint_every: u64,
    /// Continue from `<out stem>.resume.safetensors`, written after every epoch and at Ctrl-C
    /// (same command and data; any --select). With --compare, the interrupted method's
    /// checkpoint: methods that finished are kept, it continues, the rest run. With
    /// --source-free: the same --init and --select. --metrics is appended to.
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
}
