//! How many chunks a batch must pass a backbone in so that no buffer it binds exceeds the
//! device's largest storage binding (128 MiB on lavapipe; the whole batch stays one chunk
//! wherever it fits, so results there are unchanged). VGG16 at 224 × 224 binds 12.8 MB per
//! image in its first block: a batch of 32 (411 MB) runs as 4 chunks.
//!
//! The sizes are measured, not modelled: the backbone runs (without gradients) on one image
//! and on two, every storage buffer it binds is logged in order, and each buffer's size is
//! a·rows + b from the two runs; the largest chunk is the most rows for which every buffer
//! fits. Ops whose backward binds more than their forward (the fused convolution + pooling
//! materialises the unpooled gradient) note that size in the log. The answer is kept per
//! device, region and image shape.

use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// The chunks `x`'s rows must be split into to run `region` (1: the whole batch fits).
/// `key` names the region (architecture, and anything else that changes its buffers).
pub fn count(
    gpu: &Gpu,
    key: &str,
    x: &Tensor,
    region: impl Fn(&mut Tape, Var) -> Result<Var>,
) -> Result<usize> {
    let n = x.shape().first().copied().unwrap_or(0);
    let limit = gpu.max_binding_bytes().min(gpu.limits().max_buffer_size);
    if n <= 1 || (x.numel() as u64 * 4).saturating_mul(WIDEST_TO_INPUT) <= limit {
        return Ok(1);
    }
    let rows = rows_that_fit(gpu, key, x, region)?;
    Ok(n.div_ceil(rows.max(1)))
}

/// A bound on the bytes a backbone binds per image over the bytes of the image itself, below
/// which a batch is known to fit without measuring: the widest of dak's backbones is 21×
/// (VGG16's first block: 64 channels where the image has 3; ResNet's stem and first stage
/// 5.3×). A batch whose images take 1/64 of the binding limit runs unprobed and unsplit.
const WIDEST_TO_INPUT: u64 = 64;

/// Says once per process that BatchNorm trains on per-chunk statistics when a batch of `n`
/// runs in `parts` chunks (as with gradient accumulation in other frameworks).
pub fn note_batch_statistics(n: usize, parts: usize) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if parts > 1 {
        ONCE.call_once(|| {
            eprintln!(
                "note: a batch of {n} exceeds this device's largest buffer binding at this input size; it runs in {parts} chunks of about {} images, and BatchNorm normalises each chunk with its own statistics",
                n.div_ceil(parts)
            )
        });
    }
}

/// The most images of `x`'s shape that `region` can run at once on this device (memoised).
pub fn rows_that_fit(
    gpu: &Gpu,
    key: &str,
    x: &Tensor,
    region: impl Fn(&mut Tape, Var) -> Result<Var>,
) -> Result<usize> {
    let limit = gpu.max_binding_bytes().min(gpu.limits().max_buffer_size);
    let key = format!("{key} {:?} within {limit}", &x.shape()[1..]);
    if let Some(&rows) = gpu.rows_that_fit_memo().get(&key) {
        return Ok(rows);
    }
    let probe = |rows: &[usize]| {
        let xs = x.gather_rows(rows)?;
        let (_, log) = gpu.record_bindings(|| {
            let mut tape = Tape::no_grad();
            let v = tape.input(xs);
            region(&mut tape, v).map(|_| ())
        })?;
        Ok::<_, crate::error::Error>(log)
    };
    let one = probe(&[0])?;
    let two = probe(&[0, 1])?;
    let rows = fit(&one, &two, limit);
    gpu.rows_that_fit_memo().insert(key, rows);
    Ok(rows)
}

/// The most rows for which every logged buffer (its size at one row in `one`, at two in
/// `two`) stays within `limit`; `usize::MAX` when no size grows with the rows. When the two
/// logs do not pair up (a kernel chosen by size), every buffer is taken to grow with the rows.
fn fit(one: &[u64], two: &[u64], limit: u64) -> usize {
    let largest = |log: &[u64]| log.iter().copied().max().unwrap_or(0);
    if one.len() != two.len() {
        let per_row = largest(one).max(largest(two).div_ceil(2)).max(1);
        return (limit / per_row).max(1) as usize;
    }
    let mut rows = u64::MAX;
    for (&a1, &a2) in one.iter().zip(two) {
        let per_row = a2.saturating_sub(a1);
        if per_row == 0 {
            continue;
        }
        let fixed = a1.saturating_sub(per_row);
        rows = rows.min(limit.saturating_sub(fixed) / per_row);
    }
    rows.clamp(1, usize::MAX as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_finds_the_tightest_buffer() {
        // A 10-byte weight, a 30-byte-per-row activation with a 4-byte header.
        assert_eq!(fit(&[10, 34], &[10, 64], 100), 3);
        // Nothing grows: any batch fits.
        assert_eq!(fit(&[10, 20], &[10, 20], 100), usize::MAX);
        // Even one row is too big: one row at a time (the op then names the binding).
        assert_eq!(fit(&[500], &[1000], 100), 1);
        // Logs that do not pair up: the largest buffer is taken as per-row.
        assert_eq!(fit(&[10, 40], &[10, 80, 5], 100), 2);
    }
}
