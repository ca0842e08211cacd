//! Running exported ONNX files in tract, an independent runtime (for the export tests only, so
//! the other test binaries do not link it).
#![allow(dead_code)]

use image::RgbImage;
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::prelude::*;

/// Images as the ONNX input wants them: float32 NCHW, RGB in [0, 1] (all the same size).
pub struct Pixels {
    pub values: Vec<f32>,
    pub shape: [usize; 4],
}

/// `images` divided by 255, planar.
pub fn unit_pixels(images: &[RgbImage]) -> Pixels {
    let (w, h) = (images[0].width() as usize, images[0].height() as usize);
    let plane = w * h;
    let mut values = vec![0f32; images.len() * 3 * plane];
    for (img, out) in images.iter().zip(values.chunks_mut(3 * plane)) {
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = px[c] as f32 / 255.0;
            }
        }
    }
    Pixels {
        values,
        shape: [images.len(), 3, h, w],
    }
}

/// What tract computed, per graph output, and the file's metadata.
pub struct TractRun {
    pub outputs: Vec<Vec<f32>>,
    pub output_shapes: Vec<String>,
    pub metadata: HashMap<String, String>,
}

/// Loads `path` with tract, types it (every operator known, every shape inferred), optimises
/// it and runs it on `input`.
pub fn tract_run(path: &Path, input: &Pixels) -> TractRun {
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .expect("tract reads the file");
    let metadata = model
        .properties
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("onnx.metadata_props.")?;
            let value = v
                .try_as_plain_ram()
                .ok()?
                .to_scalar::<String>()
                .ok()?
                .clone();
            Some((key.to_string(), value))
        })
        .collect();
    let typed = model
        .into_typed()
        .expect("every operator known, shapes inferred");
    let output_shapes = (0..typed.outputs.len())
        .map(|i| format!("{:?}", typed.output_fact(i).unwrap().shape))
        .collect();
    let plan = typed.into_optimized().unwrap().into_runnable().unwrap();
    let x = Tensor::from_shape(&input.shape, &input.values).unwrap();
    let result = plan.run(tvec!(x.into())).expect("tract runs the graph");
    let outputs = result
        .iter()
        .map(|t| {
            t.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .copied()
                .collect()
        })
        .collect();
    TractRun {
        outputs,
        output_shapes,
        metadata,
    }
}

/// Row-wise softmax of `[N, classes]` logits.
pub fn softmax_rows(z: &[f32], classes: usize) -> Vec<f32> {
    z.chunks(classes)
        .flat_map(|row| {
            let m = row.iter().copied().fold(f32::MIN, f32::max);
            let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}
