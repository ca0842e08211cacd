//! Labels and profiling: tagging the dispatches recorded next with a layer name, running each
//! dispatch alone and timing it (`start_profile` / `finish_profile`), and GPU timestamps around
//! the compute passes of one submit (`sync_timed`).

use super::{lock, Gpu};
use crate::error::{Error, Result};
use std::sync::Arc;

/// Wall time of one dispatch run alone (`Gpu::start_profile`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DispatchTime {
    /// Shader file, e.g. `conv2d/fwd_igemm_sgbc_s8.wgsl`.
    pub kernel: String,
    /// The label current when it was recorded (layers label their work, e.g. `features.0`;
    /// the tape marks their backward `features.0 (bwd)`).
    pub label: Option<String>,
    /// Submit to completion, including uploads and copies recorded just before it.
    pub seconds: f64,
}

/// Restores the previous dispatch label when dropped (`Gpu::scoped_label`).
pub struct LabelScope {
    gpu: Gpu,
    previous: Option<Arc<str>>,
}

impl Drop for LabelScope {
    fn drop(&mut self) {
        self.gpu.set_label(self.previous.as_deref());
    }
}

impl Gpu {
    /// Tag the dispatches recorded from now on with `label` (None clears it); profiles show it.
    pub fn set_label(&self, label: Option<&str>) {
        lock(&self.0.stream).label = label.map(Arc::from);
    }

    /// The current dispatch label.
    pub fn label(&self) -> Option<Arc<str>> {
        lock(&self.0.stream).label.clone()
    }

    /// Set the dispatch label until the returned guard is dropped, then restore the previous one.
    pub fn scoped_label(&self, label: Option<&str>) -> LabelScope {
        let previous = self.label();
        self.set_label(label);
        LabelScope {
            gpu: self.clone(),
            previous,
        }
    }

    /// Finish pending work, then run every dispatch recorded from now on alone (submit and
    /// wait) and time it with the wall clock, until `finish_profile`. Slower than normal
    /// running (one submit per dispatch), but honest on every adapter: per-dispatch GPU
    /// timestamps are not reliable on lavapipe.
    pub fn start_profile(&self) -> Result<()> {
        self.sync()?;
        lock(&self.0.stream).profile = Some(Vec::new());
        Ok(())
    }

    /// Stop profiling; the time of every dispatch since `start_profile`, in order.
    pub fn finish_profile(&self) -> Result<Vec<DispatchTime>> {
        self.sync()?;
        Ok(lock(&self.0.stream).profile.take().unwrap_or_default())
    }

    pub(super) fn profile_one(&self, file: &str, label: Option<Arc<str>>) -> Result<()> {
        let start = std::time::Instant::now();
        self.sync()?;
        let time = DispatchTime {
            kernel: file.to_string(),
            label: label.map(|l| l.to_string()),
            seconds: start.elapsed().as_secs_f64(),
        };
        if let Some(p) = lock(&self.0.stream).profile.as_mut() {
            p.push(time);
        }
        Ok(())
    }

    /// Submit recorded work with a timestamp at the start and end of every compute pass, wait,
    /// and return the summed GPU time of those passes in seconds. `None` when the adapter has
    /// no TIMESTAMP_QUERY, nothing was recorded, or there are too many passes to time (the work
    /// is still submitted and finished).
    pub fn sync_timed(&self) -> Result<Option<f64>> {
        let pending = self.flush_inner(self.has_timestamps())?;
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::gpu(format!("waiting for the GPU failed: {e}")))?;
        self.check_errors()?;
        let Some((readback, queries)) = pending else {
            return Ok(None);
        };
        self.map_for_reading(&readback, "timestamp readback")?;
        let ticks: Vec<u64> = {
            let view = readback
                .get_mapped_range(..)
                .map_err(|e| Error::gpu(format!("timestamp mapping failed: {e}")))?;
            bytemuck::cast_slice::<u8, u64>(&view[..queries * 8]).to_vec()
        };
        readback.unmap();
        let period_ns = self.0.queue.get_timestamp_period() as f64;
        let total: u64 = ticks
            .chunks(2)
            .map(|pair| pair[1].saturating_sub(pair[0]))
            .sum();
        Ok(Some(total as f64 * period_ns * 1e-9))
    }
}
