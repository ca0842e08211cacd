//! Tensors: contiguous f32 (or u32 for labels and indices) data on the GPU, up to 4-D.

use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, GpuBuffer};
use std::sync::Arc;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit floats.
    F32,
    /// Class labels, argmax indices, counters.
    U32,
}

/// A contiguous GPU tensor. Cloning shares the buffer (no copy); so does `reshape`.
#[derive(Clone)]
pub struct Tensor {
    buffer: Arc<GpuBuffer>,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.dtype, self.shape)
    }
}

/// Checks a shape and returns its element count.
fn numel_of(shape: &[usize], what: &str) -> Result<usize> {
    if shape.is_empty() || shape.len() > 4 {
        return Err(Error::input(format!(
            "{what}: tensors have 1 to 4 dimensions, got shape {shape:?}"
        )));
    }
    if shape.contains(&0) {
        return Err(Error::input(format!(
            "{what}: zero-sized tensor of shape {shape:?}"
        )));
    }
    Ok(shape.iter().product())
}

impl Tensor {
    /// Upload f32 data with the given shape.
    pub fn from_slice(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        Self::upload(
            gpu,
            bytemuck::cast_slice(data),
            data.len(),
            shape,
            DType::F32,
        )
    }

    /// Upload u32 data (labels, indices) with the given shape.
    pub fn from_u32(gpu: &Gpu, data: &[u32], shape: &[usize]) -> Result<Tensor> {
        Self::upload(
            gpu,
            bytemuck::cast_slice(data),
            data.len(),
            shape,
            DType::U32,
        )
    }

    fn upload(
        gpu: &Gpu,
        bytes: &[u8],
        len: usize,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Tensor> {
        let numel = numel_of(shape, "upload")?;
        if numel != len {
            return Err(Error::input(format!(
                "upload: {len} values do not fill shape {shape:?} ({numel} elements)"
            )));
        }
        let buffer = gpu.upload(bytes, "upload")?;
        Ok(Tensor {
            buffer: Arc::new(buffer),
            shape: shape.to_vec(),
            dtype,
        })
    }

    /// A tensor with undefined contents (every kernel that returns one writes all of it).
    pub fn uninit(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let numel = numel_of(shape, "allocate")?;
        let buffer = gpu.alloc(numel as u64 * 4, "allocate")?;
        Ok(Tensor {
            buffer: Arc::new(buffer),
            shape: shape.to_vec(),
            dtype,
        })
    }

    /// A zero-filled f32 tensor.
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        Self::zeros_of(gpu, shape, DType::F32)
    }

    /// A zero-filled tensor of `dtype`.
    pub fn zeros_of(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = Self::uninit(gpu, shape, dtype)?;
        gpu.zero(&t.buffer);
        Ok(t)
    }

    /// Whether another `Tensor` holds this one's buffer (a clone): writing into it in place
    /// would change what the other holder sees.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.buffer) > 1
    }

    /// Dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The device holding the data.
    pub fn gpu(&self) -> &Gpu {
        self.buffer.gpu()
    }
    /// The pooled buffer holding the data.
    pub fn buffer(&self) -> &GpuBuffer {
        &self.buffer
    }
    /// The buffer as a kernel binding.
    pub fn binding(&self) -> Binding<'_> {
        Binding::Buffer(&self.buffer)
    }
    /// Size of dimension `i` counted from the end (`dim_back(0)` is the last).
    pub fn dim_back(&self, i: usize) -> usize {
        self.shape[self.shape.len() - 1 - i]
    }

    /// The same data viewed with another shape of equal element count (no copy).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let numel = numel_of(shape, "reshape")?;
        if numel != self.numel() {
            return Err(Error::input(format!(
                "reshape: cannot view {:?} ({} elements) as {shape:?} ({numel})",
                self.shape,
                self.numel()
            )));
        }
        Ok(Tensor {
            buffer: self.buffer.clone(),
            shape: shape.to_vec(),
            dtype: self.dtype,
        })
    }

    /// A copy in a new buffer (recorded in stream order).
    pub fn deep_clone(&self) -> Result<Tensor> {
        let out = Self::uninit(self.gpu(), &self.shape, self.dtype)?;
        self.gpu()
            .copy(&self.buffer, 0, &out.buffer, 0, self.numel() as u64 * 4)?;
        Ok(out)
    }

    /// Place 2-D tensors [rows, c_i] side by side into [rows, Σ c_i] (row-wise copies, no kernel).
    pub fn concat_columns(parts: &[&Tensor]) -> Result<Tensor> {
        let first = parts
            .first()
            .ok_or_else(|| Error::input("concat_columns: no tensors"))?;
        let rows = first.shape()[0];
        let mut total = 0;
        for p in parts {
            match p.shape() {
                [r, c] if *r == rows => total += c,
                s => {
                    return Err(Error::input(format!(
                        "concat_columns: expected [{rows}, _] tensors, got {s:?}"
                    )))
                }
            }
        }
        if parts.len() == 1 {
            return Ok((*first).clone());
        }
        let gpu = first.gpu();
        let out = Tensor::uninit(gpu, &[rows, total], first.dtype)?;
        let mut col = 0;
        for p in parts {
            let c = p.shape()[1];
            for r in 0..rows {
                gpu.copy(
                    &p.buffer,
                    (r * c * 4) as u64,
                    &out.buffer,
                    ((r * total + col) * 4) as u64,
                    (c * 4) as u64,
                )?;
            }
            col += c;
        }
        Ok(out)
    }

    /// The rows `rows` of the first dimension, in that order, in a new tensor (buffer copies,
    /// no kernel: nothing is bound, so `self` may exceed the device's largest binding).
    pub fn gather_rows(&self, rows: &[usize]) -> Result<Tensor> {
        let (n, row) = self.row_size("gather_rows")?;
        let mut shape = self.shape.clone();
        shape[0] = rows.len();
        let out = Tensor::uninit(self.gpu(), &shape, self.dtype)?;
        for (i, &r) in rows.iter().enumerate() {
            if r >= n {
                return Err(Error::input(format!(
                    "gather_rows: row {r} of a tensor with {n} rows"
                )));
            }
            self.gpu().copy(
                &self.buffer,
                r as u64 * row,
                &out.buffer,
                i as u64 * row,
                row,
            )?;
        }
        Ok(out)
    }

    /// Writes the rows of `part` to the rows `rows` of `self` (the inverse of
    /// [`Tensor::gather_rows`]; buffer copies, no kernel).
    pub fn scatter_rows(&self, part: &Tensor, rows: &[usize]) -> Result<()> {
        let (n, row) = self.row_size("scatter_rows")?;
        if part.shape.first() != Some(&rows.len()) || part.shape[1..] != self.shape[1..] {
            return Err(Error::input(format!(
                "scatter_rows: {:?} rows into a tensor of shape {:?} at {} rows",
                part.shape,
                self.shape,
                rows.len()
            )));
        }
        for (i, &r) in rows.iter().enumerate() {
            if r >= n {
                return Err(Error::input(format!(
                    "scatter_rows: row {r} of a tensor with {n} rows"
                )));
            }
            self.gpu().copy(
                &part.buffer,
                i as u64 * row,
                &self.buffer,
                r as u64 * row,
                row,
            )?;
        }
        Ok(())
    }

    /// (rows, bytes per row) of a tensor with at least one dimension.
    fn row_size(&self, op: &str) -> Result<(usize, u64)> {
        match self.shape.first() {
            Some(&n) if n > 0 => Ok((n, (self.numel() / n) as u64 * 4)),
            _ => Err(Error::input(format!(
                "{op}: a tensor of shape {:?} has no rows",
                self.shape
            ))),
        }
    }

    /// Overwrite the contents with `data` (same element count), in stream order.
    pub fn write(&self, data: &[f32]) -> Result<()> {
        self.expect_dtype(DType::F32, "write")?;
        if data.len() != self.numel() {
            return Err(Error::input(format!(
                "write: {} values for a tensor of shape {:?}",
                data.len(),
                self.shape
            )));
        }
        self.gpu().write(&self.buffer, bytemuck::cast_slice(data))
    }

    /// Submit pending work and read the tensor back.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        self.expect_dtype(DType::F32, "read")?;
        let bytes = self.gpu().read(&self.buffer, 0, self.numel() as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Reads a u32 tensor back to the host.
    pub fn to_vec_u32(&self) -> Result<Vec<u32>> {
        self.expect_dtype(DType::U32, "read")?;
        let bytes = self.gpu().read(&self.buffer, 0, self.numel() as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The raw 32-bit words of a tensor of any element type (f32 as bits): saving GPU-side
    /// state such as an interrupted epoch's sums.
    pub fn to_words(&self) -> Result<Vec<u32>> {
        let bytes = self.gpu().read(&self.buffer, 0, self.numel() as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Overwrite the contents with raw 32-bit words (the inverse of [`Tensor::to_words`]).
    pub fn write_words(&self, words: &[u32]) -> Result<()> {
        if words.len() != self.numel() {
            return Err(Error::input(format!(
                "write: {} words for a tensor of shape {:?}",
                words.len(),
                self.shape
            )));
        }
        self.gpu().write(&self.buffer, bytemuck::cast_slice(words))
    }

    /// Error unless the tensor has element type `dtype`.
    pub fn expect_dtype(&self, dtype: DType, op: &str) -> Result<()> {
        if self.dtype != dtype {
            return Err(Error::input(format!(
                "{op}: expected a {dtype:?} tensor, got {:?} of shape {:?}",
                self.dtype, self.shape
            )));
        }
        Ok(())
    }

    /// Error unless the shape is exactly `shape`.
    pub fn expect_shape(&self, shape: &[usize], op: &str, name: &str) -> Result<()> {
        if self.shape != shape {
            return Err(Error::input(format!(
                "{op}: {name} has shape {:?}, expected {shape:?}",
                self.shape
            )));
        }
        Ok(())
    }
}
