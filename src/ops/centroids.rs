//! Nearest-centroid labelling under cosine similarity: the clustering that turns a model's
//! soft predictions on unlabelled images into self-supervised labels (generic k-means steps
//! under the cosine).
//!
//! Rows get a constant 1 appended and are scaled to unit length ([`unit_rows_with_one`], a
//! kernel). Class centroids are weighted sums of the rows, `C = Wᵀ·F̂` with soft weights (the
//! model's probabilities) in the first round and one-hot weights (the previous round's labels)
//! after it ([`class_sums`], a GEMM). Each row then takes the class whose centroid is nearest
//! in cosine distance, `argmax_k f̂·c_k / ‖c_k‖` ([`similarities`], a GEMM against the
//! normalised centroids; the centroid's scale never matters under the cosine, so the division
//! by the class weight is skipped). Classes that no row currently holds have no centroid and
//! take no rows.
//!
//! The data arrives in evaluation batches, so every function takes one batch's rows and
//! [`labels`] runs the rounds over a list of them: no operand grows with the data set, and a
//! set of any size fits the adapter's largest binding.

use super::elementwise as ew;
use super::matmul::{gemm, Gemm, Variant};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    rows: u32,
    dim: u32,
    _pad: [u32; 2],
}

fn dims(x: &Tensor, op: &str, what: &str) -> Result<(usize, usize)> {
    x.expect_dtype(DType::F32, op)?;
    match *x.shape() {
        [rows, cols] if rows > 0 && cols > 0 => Ok((rows, cols)),
        _ => Err(Error::input(format!(
            "{op}: {what} must be [rows, columns] with at least one of each, got {:?}",
            x.shape()
        ))),
    }
}

/// `[x_r, 1] / ‖[x_r, 1]‖` for every row of `x` [rows, dim] → [rows, dim + 1].
pub fn unit_rows_with_one(x: &Tensor) -> Result<Tensor> {
    let (rows, dim) = dims(x, "unit rows", "the input")?;
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, &[rows, dim + 1], DType::F32)?;
    let p = P {
        rows: rows as u32,
        dim: dim as u32,
        _pad: [0; 2],
    };
    gpu.dispatch(
        "centroids/unit_rows.wgsl",
        &[],
        bytemuck::bytes_of(&p),
        &[x.binding(), y.binding()],
        [rows.div_ceil(64) as u32, 1, 1],
    )?;
    Ok(y)
}

/// Weighted class sums `Wᵀ·F` [classes, dim] of rows `f` [rows, dim] with weights `w`
/// [rows, classes] (one GEMM, A read transposed).
pub fn class_sums(f: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (rows, dim) = dims(f, "class sums", "the rows")?;
    let (wrows, classes) = dims(w, "class sums", "the weights")?;
    if wrows != rows {
        return Err(Error::input(format!(
            "class sums: {rows} rows but {wrows} rows of weights"
        )));
    }
    let g = Gemm {
        m: classes,
        n: dim,
        k: rows,
        trans_a: true,
        trans_b: false,
        relu: false,
    };
    gemm(w, f, None, g, Variant::for_gemm(f.gpu(), &g))
}

/// `F·Cᵀ` [rows, classes]: each row of `f` [rows, dim] against each centroid of `c`
/// [classes, dim] (one GEMM, B read transposed).
pub fn similarities(f: &Tensor, c: &Tensor) -> Result<Tensor> {
    let (rows, dim) = dims(f, "similarities", "the rows")?;
    let (classes, cdim) = dims(c, "similarities", "the centroids")?;
    if cdim != dim {
        return Err(Error::input(format!(
            "similarities: rows of width {dim}, centroids of width {cdim}"
        )));
    }
    let g = Gemm {
        m: rows,
        n: classes,
        k: dim,
        trans_a: false,
        trans_b: true,
        relu: false,
    };
    gemm(f, c, None, g, Variant::for_gemm(f.gpu(), &g))
}

/// One batch of the data: unit rows ([`unit_rows_with_one`] of its features) and the model's
/// class probabilities [rows, classes] (the first round's weights).
pub struct Rows {
    /// [rows, dim + 1], unit length.
    pub unit: Tensor,
    /// [rows, classes].
    pub probs: Tensor,
}

/// Labels of every row of `batches` (in order) after `rounds` rounds of nearest-centroid
/// assignment: the first round's centroids weighted by the probabilities, each later one's by
/// the previous labels. The class sums and similarities run on the GPU; per round the host
/// reads the centroids ([classes, dim + 1]) and each batch's similarities ([rows, classes]).
pub fn labels(batches: &[Rows], classes: usize, rounds: usize) -> Result<Vec<u32>> {
    let Some(first) = batches.first() else {
        return Err(Error::input("labels: no rows to cluster"));
    };
    let gpu = first.unit.gpu();
    let mut labels = Vec::new();
    for b in batches {
        let (_, k) = dims(&b.probs, "labels", "the probabilities")?;
        if k != classes {
            return Err(Error::input(format!(
                "labels: probabilities of {k} classes, expected {classes}"
            )));
        }
        labels.extend(argmax_rows(
            &b.probs.to_vec()?,
            classes,
            &vec![true; classes],
        ));
    }
    let width = first.unit.shape()[1];
    for round in 0..rounds {
        let sums = Tensor::zeros(gpu, &[classes, width])?;
        let mut start = 0;
        for b in batches {
            let rows = b.unit.shape()[0];
            let w = match round {
                0 => b.probs.clone(),
                _ => Tensor::from_slice(
                    gpu,
                    &one_hot(&labels[start..start + rows], classes),
                    &[rows, classes],
                )?,
            };
            ew::accumulate(&sums, &class_sums(&b.unit, &w)?)?;
            start += rows;
        }
        let mut held = vec![false; classes];
        for &l in &labels {
            held[l as usize] = true;
        }
        let centroids = unit_centroids(&sums.to_vec()?, width, &held);
        let c = Tensor::from_slice(gpu, &centroids, &[classes, width])?;
        labels.clear();
        for b in batches {
            let s = similarities(&b.unit, &c)?.to_vec()?;
            labels.extend(argmax_rows(&s, classes, &held));
        }
    }
    Ok(labels)
}

/// Rows of `sums` [classes, width] scaled to unit length; zero for classes not `held` (and for
/// a zero sum).
fn unit_centroids(sums: &[f32], width: usize, held: &[bool]) -> Vec<f32> {
    let mut out = vec![0.0; sums.len()];
    for (k, (row, dst)) in sums.chunks(width).zip(out.chunks_mut(width)).enumerate() {
        let norm = row
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            .sqrt();
        if held[k] && norm > 0.0 {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = (f64::from(v) / norm) as f32;
            }
        }
    }
    out
}

/// Index of each row's largest value among the `allowed` columns (the first on ties).
fn argmax_rows(values: &[f32], classes: usize, allowed: &[bool]) -> Vec<u32> {
    values
        .chunks(classes)
        .map(|row| {
            let mut best: Option<(usize, f32)> = None;
            for (k, &v) in row.iter().enumerate() {
                if allowed[k] && best.is_none_or(|(_, b)| v > b) {
                    best = Some((k, v));
                }
            }
            best.map_or(0, |(k, _)| k as u32)
        })
        .collect()
}

fn one_hot(labels: &[u32], classes: usize) -> Vec<f32> {
    let mut w = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        w[i * classes + l as usize] = 1.0;
    }
    w
}

/// Plain-Rust references (f64 accumulation).
pub mod reference {
    /// (rows, dim) the centroid kernels are checked on: batch 1, one feature, 257 features (one
    /// past a workgroup), 64 x 31.
    pub const SHAPES: &[(usize, usize)] = &[(1, 3), (5, 1), (37, 257), (64, 31)];

    /// `[x_r, 1] / ‖[x_r, 1]‖` for every row of `x` [rows, dim].
    pub fn unit_rows_with_one(x: &[f32], dim: usize) -> Vec<f32> {
        let mut y = Vec::with_capacity(x.len() / dim * (dim + 1));
        for row in x.chunks(dim) {
            let ss = 1.0 + row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
            let inv = 1.0 / ss.sqrt();
            y.extend(row.iter().map(|&v| (f64::from(v) * inv) as f32));
            y.push(inv as f32);
        }
        y
    }

    /// The clustering written out as its reference implementation does (NumPy): unit rows with a 1 appended,
    /// centroids `affᵀ·F̂ / (1e-8 + Σ aff)`, cosine distances to the centroids of the classes
    /// the current labels hold, argmin; `rounds` times, the first with the probabilities as
    /// `aff`, later ones one-hot. Returns each row's label.
    pub fn labels(
        features: &[f32],
        dim: usize,
        probs: &[f32],
        classes: usize,
        rounds: usize,
    ) -> Vec<u32> {
        let f = unit_rows_with_one(features, dim);
        let w = dim + 1;
        let n = features.len() / dim;
        let mut aff: Vec<f64> = probs.iter().map(|&p| f64::from(p)).collect();
        let mut labels: Vec<usize> = probs
            .chunks(classes)
            .map(|r| first_max(r.iter().map(|&v| f64::from(v))))
            .collect();
        for _ in 0..rounds {
            let mut c = vec![0f64; classes * w];
            let mut mass = vec![0f64; classes];
            for i in 0..n {
                for k in 0..classes {
                    let a = aff[i * classes + k];
                    mass[k] += a;
                    for d in 0..w {
                        c[k * w + d] += a * f64::from(f[i * w + d]);
                    }
                }
            }
            for k in 0..classes {
                for d in 0..w {
                    c[k * w + d] /= 1e-8 + mass[k];
                }
            }
            let mut held = vec![false; classes];
            for &l in &labels {
                held[l] = true;
            }
            for (i, label) in labels.iter_mut().enumerate() {
                let row = &f[i * w..(i + 1) * w];
                let mut best: Option<(usize, f64)> = None;
                for k in (0..classes).filter(|&k| held[k]) {
                    let ck = &c[k * w..(k + 1) * w];
                    let dot: f64 = row.iter().zip(ck).map(|(&a, &b)| f64::from(a) * b).sum();
                    let nf: f64 = row
                        .iter()
                        .map(|&a| f64::from(a).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    let nc: f64 = ck.iter().map(|b| b * b).sum::<f64>().sqrt();
                    let dist = 1.0 - dot / (nf * nc);
                    if best.is_none_or(|(_, b)| dist < b) {
                        best = Some((k, dist));
                    }
                }
                *label = best.map_or(0, |(k, _)| k);
            }
            aff = vec![0.0; n * classes];
            for (i, &l) in labels.iter().enumerate() {
                aff[i * classes + l] = 1.0;
            }
        }
        labels.into_iter().map(|l| l as u32).collect()
    }

    fn first_max(values: impl Iterator<Item = f64>) -> usize {
        let mut best: Option<(usize, f64)> = None;
        for (k, v) in values.enumerate() {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((k, v));
            }
        }
        best.map_or(0, |(k, _)| k)
    }
}
