//! Minimal `dak` binary for the data commands; the full command set is wired elsewhere.
use clap::Parser;

#[derive(Parser)]
#[command(name = "dak", version, about = "Domain Adaptation Kit")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Datasets: write the bundled benchmark, inspect a folder.
    #[command(subcommand)]
    Data(dak::cli::data::DataCommand),
    /// Decoding + augmentation throughput of the input pipeline.
    BenchData {
        /// Images per case.
        #[arg(long, default_value_t = 512)]
        images: usize,
        /// Loader threads (0 = one per CPU core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Data(cmd) => dak::cli::data::run(cmd),
        Cmd::BenchData {
            images,
            workers,
            json,
        } => dak::cli::data::bench_data(images, workers, json),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
