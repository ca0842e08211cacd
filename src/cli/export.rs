//! `dak export`: a model as ONNX for serving runtimes, or as a safetensors file with f16 tensors.

use crate::error::{Error, Result};
use crate::export::{self, onnx, Batch, OnnxOptions, Output, Source};
use crate::models::file::StoreType;
use std::path::PathBuf;

/// Arguments of `dak export`.
#[derive(clap::Args, Debug)]
#[command(
    group(clap::ArgGroup::new("source").required(true).args(["model", "weights"])),
    group(clap::ArgGroup::new("target").required(true).multiple(true).args(["onnx", "safetensors"]))
)]
pub struct ExportArgs {
    /// A model written by `dak fine-tune` or `dak adapt` (f32, f16 or bf16 tensors).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Plain VGG16 ImageNet weights (timm or torchvision names; f32, f16 or bf16): VGG16 with
    /// its 1,000-class classifier.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Write an ONNX model here: input `images` float32 [N, 3, S, S] RGB in [0, 1]; the model's
    /// preprocessing is inside the graph; class names and input size in its metadata.
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: Option<PathBuf>,
    /// Write a dak model file here (same description, tensors in --dtype).
    #[arg(long, value_name = "OUT.safetensors")]
    pub safetensors: Option<PathBuf>,
    /// Storage type of the weights: f32, or f16 (half the size; ONNX computes in f32 after a Cast).
    #[arg(long, default_value = "f32", value_name = "f32|f16")]
    pub dtype: String,
    /// ONNX opset version (13 to 21).
    #[arg(long, default_value_t = onnx::DEFAULT_OPSET)]
    pub opset: i64,
    /// The input's batch size: a number, or `dynamic` for any.
    #[arg(long, default_value = "dynamic", value_name = "N|dynamic")]
    pub batch: String,
    /// ONNX outputs, comma-separated: probabilities, logits, features (the label head's input).
    #[arg(long, default_value = "probabilities,logits", value_name = "LIST")]
    pub outputs: String,
}

fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Runs `dak export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    let store = StoreType::parse(&a.dtype)?;
    let options = OnnxOptions {
        opset: a.opset,
        store,
        batch: Batch::parse(&a.batch)?,
        outputs: Output::parse_list(&a.outputs)?,
    };
    onnx::check_opset(a.opset)?;
    if let Some(p) = &a.onnx {
        crate::validate::output_file("--onnx", p)?;
    }
    if let Some(p) = &a.safetensors {
        crate::validate::output_file("--safetensors", p)?;
    }
    let outputs: Vec<(&str, &std::path::Path)> =
        [("--onnx", &a.onnx), ("--safetensors", &a.safetensors)]
            .into_iter()
            .filter_map(|(f, p)| p.as_deref().map(|p| (f, p)))
            .collect();
    let inputs: Vec<(&str, &std::path::Path)> = [("--model", &a.model), ("--weights", &a.weights)]
        .into_iter()
        .filter_map(|(f, p)| p.as_deref().map(|p| (f, p)))
        .collect();
    crate::validate::distinct_files(&outputs, &inputs)?;
    let source = match (&a.model, &a.weights) {
        (Some(m), _) => Source::Model(m.clone()),
        (None, Some(w)) => Source::Weights(w.clone()),
        (None, None) => return Err(Error::input("pass --model MODEL or --weights FILE")),
    };
    let model = export::load(&source)?;
    let info = &model.graph.info;
    println!(
        "{}: {} classes, input {}x{}, preprocessing {}",
        info.architecture,
        info.classes.len(),
        info.input_size,
        info.input_size,
        info.preprocess
    );
    if let Some(path) = &a.onnx {
        let bytes = export::write_onnx(&model, &options, path)?;
        let outputs: Vec<&str> = options.outputs.iter().map(|o| o.name()).collect();
        println!(
            "wrote {} (ONNX opset {}, {} weights, outputs {}, {})",
            path.display(),
            options.opset,
            a.dtype,
            outputs.join(", "),
            megabytes(bytes)
        );
    }
    if let Some(path) = &a.safetensors {
        let bytes = export::write_safetensors(&model, store, path)?;
        println!(
            "wrote {} ({} tensors, {})",
            path.display(),
            a.dtype,
            megabytes(bytes)
        );
    }
    Ok(())
}
