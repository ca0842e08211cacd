//! `dak data ...` and `dak bench data`.

use std::path::PathBuf;

use crate::data::bench::{self, BenchDataOptions};
use crate::data::{inspect, mnistm};
use crate::error::{Error, Result};

/// `dak data` subcommands.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum DataCommand {
    /// Write the bundled MNIST -> MNIST-M benchmark as class-per-folder PNGs
    /// (source/{train,test}: MNIST digits; target/{train,test}: MNIST-M; 4,000 + 1,000 each).
    MnistM {
        /// Output directory (must not already contain source/ or target/).
        #[arg(long)]
        out: PathBuf,
        /// Image side in pixels: 28 (native) or 32 (digits resized).
        #[arg(long, default_value_t = 28)]
        size: u32,
        /// Seed for the digit split and the background patches.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Check a class-per-folder directory before training: classes, images per class, image
    /// sizes, unreadable files. With --target-of SOURCE, check DIR as `dak adapt --source
    /// SOURCE --target DIR` reads it (labelled if its sub-folders are SOURCE's classes, else
    /// every image at any depth).
    Inspect {
        /// Directory with one sub-folder per class (or a target folder, with --target-of).
        dir: PathBuf,
        /// Read DIR as the adaptation target of this labelled source folder.
        #[arg(long, value_name = "SOURCE")]
        target_of: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Decoding threads (0 = one per CPU core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

/// Runs a `dak data` subcommand, printing to stdout.
pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::MnistM { out, size, seed } => {
            if size != 28 && size != 32 {
                return Err(Error::input(format!("--size must be 28 or 32, got {size}")));
            }
            let t = std::time::Instant::now();
            let opts = mnistm::MnistMOptions {
                size,
                seed,
                ..Default::default()
            };
            let bench = mnistm::benchmark(&opts)?;
            let summary = mnistm::write(&bench, &out)?;
            for (split, n) in &summary.splits {
                println!("{:<14} {n:>5} images  {}", split, out.join(split).display());
            }
            println!(
                "wrote {} PNGs ({size}x{size}, seed {seed}) and {} in {:.1} s",
                summary.files,
                out.join("mnist-m.json").display(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        DataCommand::Inspect {
            dir,
            target_of,
            json,
            threads,
        } => {
            let report = match &target_of {
                Some(source) => {
                    let source = crate::data::folder::scan_dir(source)
                        .map_err(|e| Error::input(format!("--target-of: {e}")))?;
                    inspect::inspect_target(&dir, source.classes(), threads)?
                }
                None => inspect::inspect_dir(&dir, threads)?,
            };
            if json {
                let doc = crate::io::typed_of("dataset", &report)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&doc).expect("plain JSON")
                );
            } else {
                print!("{}", report.to_text());
            }
            match report.blocking.is_empty() {
                true => Ok(()),
                false => Err(Error::input(format!(
                    "{}: cannot be {} as it is: {}",
                    dir.display(),
                    match target_of {
                        Some(_) => "adapted to",
                        None => "trained on",
                    },
                    report.blocking.join("; ")
                ))),
            }
        }
    }
}

/// `dak bench data`: prints decoding + augmentation throughput (or JSON with `json`).
pub fn bench_data(images: usize, workers: usize, json: &crate::io::JsonTargets) -> Result<()> {
    let opts = BenchDataOptions {
        images,
        workers,
        ..Default::default()
    };
    let results = bench::bench_data(&opts)?;
    if json.stdout || json.file.is_some() {
        let doc = serde_json::json!({ "results": results });
        json.emit(&crate::io::typed("bench_data", doc))?;
    }
    if !json.stdout {
        for r in &results {
            println!(
                "{:<64} {:>9.0} images/s  ({} images, {} threads, {:.2} s)",
                r.case, r.images_per_sec, r.images, r.workers, r.seconds
            );
        }
    }
    Ok(())
}
