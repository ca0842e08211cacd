use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dak::cli;

/// dak — the Domain Adaptation Kit: transfer learning and domain adaptation on a hand-written
/// WGSL compute engine.
#[derive(Parser)]
#[command(name = "dak", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List GPU adapters and show the chosen one's limits and features.
    Devices(cli::devices::DevicesArgs),
    /// Validate kernels against their CPU references, then time them.
    Bench(Box<cli::bench::BenchArgs>),
    /// Transfer learning: VGG16 base + GAP + Dense(1024, ReLU) + Dense(classes) on image folders.
    FineTune(Box<cli::fine_tune::FineTuneArgs>),
    /// Accuracy, per-class accuracy and confusion matrix of a model on labelled folders.
    Evaluate(cli::evaluate::EvaluateArgs),
    /// Top classes and probabilities of image files.
    Predict(cli::evaluate::PredictArgs),
    /// Deploy: write a model as ONNX (for ONNX Runtime, TensorRT, OpenVINO, ...) or with f16 tensors.
    Export(Box<cli::export::ExportArgs>),
    /// Datasets: write the bundled MNIST -> MNIST-M benchmark, inspect an image folder.
    #[command(subcommand)]
    Data(cli::data::DataCommand),
    /// Kernel registry: list every kernel, check kernels (or edited shaders) against references.
    #[command(subcommand)]
    Kernels(cli::kernels::KernelsCommand),
    /// Benchmark kernel variants on this adapter and cache the winners (used by default).
    Tune(cli::tune::TuneArgs),
    /// Domain adaptation: DANN or the source-only baseline (default: MNIST -> MNIST-M).
    Adapt(Box<cli::adapt::AdaptArgs>),
    /// Re-score the candidates of `adapt --candidates DIR` with any validator, without training.
    Select(cli::select::SelectArgs),
}

fn main() {
    let matches = cli::help::decorate(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Devices(args) => cli::devices::run(&args),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Data(cmd) => cli::data::run(cmd),
        Command::Kernels(cmd) => cli::kernels::run(cmd),
        Command::Tune(args) => cli::tune::run(&args),
        Command::FineTune(args) => cli::fine_tune::run(&args),
        Command::Evaluate(args) => cli::evaluate::run_evaluate(&args),
        Command::Predict(args) => cli::evaluate::run_predict(&args),
        Command::Export(args) => cli::export::run(&args),
        Command::Adapt(args) => cli::adapt::run(&args),
        Command::Select(args) => cli::select::run(&args),
    };
    if let Err(e) = result {
        match e {
            dak::Error::Interrupted(_) => eprintln!("{e}"),
            _ => eprintln!("error: {e}"),
        }
        std::process::exit(e.exit_code());
    }
}
