use clap::{Parser, Subcommand};
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
    Bench(cli::bench::BenchArgs),
    /// Datasets: write the bundled MNIST -> MNIST-M benchmark, inspect an image folder.
    #[command(subcommand)]
    Data(cli::data::DataCommand),
    /// Domain adaptation: DANN or the source-only baseline (default: MNIST -> MNIST-M).
    Adapt(Box<cli::adapt::AdaptArgs>),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices(args) => cli::devices::run(&args),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Data(cmd) => cli::data::run(cmd),
        Command::Adapt(args) => cli::adapt::run(&args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
