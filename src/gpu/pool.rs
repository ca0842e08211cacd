//! Buffer pool: buffers are reused by size class so a training loop allocates nothing after
//! its first step, and live bytes stay flat.

use std::collections::HashMap;

/// Usage of every pooled storage buffer: bound to kernels, copied to and from.
pub(crate) const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Round a request up to its size class: a power of two, or 1.25x/1.5x/1.75x of one, so at most
/// 25% is wasted while very different sizes never share a free list.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let pow = 63 - (bytes - 1).leading_zeros() as u64; // 2^pow < bytes <= 2^(pow+1) (or ==)
    let base = 1u64 << pow;
    if base == bytes {
        return bytes;
    }
    let quarter = base / 4;
    for steps in 5..=8u64 {
        let candidate = quarter * steps;
        if candidate >= bytes {
            // Keep 4-byte alignment (quarter >= 64 since bytes >= 256).
            return candidate;
        }
    }
    base * 2
}

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes currently handed out (by size class).
    pub live_bytes: u64,
    /// Bytes sitting in free lists, ready for reuse.
    pub pooled_bytes: u64,
    /// The most `live_bytes` has been since the last [`BufferPool::reset_peak`].
    pub peak_live_bytes: u64,
    /// Buffers created on the device since start (a flat count means the pool works).
    pub created: u64,
}

impl BufferPool {
    /// Take a buffer of at least `bytes` from the pool, creating it if the class is empty.
    pub fn acquire(&mut self, device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
        let class = size_class(bytes);
        self.live_bytes += class;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
        if let Some(buffer) = self.free.get_mut(&class).and_then(Vec::pop) {
            self.pooled_bytes -= class;
            return buffer;
        }
        self.created += 1;
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dak.pool"),
            size: class,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        })
    }

    /// Return a buffer taken with `acquire`.
    pub fn release(&mut self, buffer: wgpu::Buffer) {
        let class = buffer.size();
        self.live_bytes -= class;
        self.pooled_bytes += class;
        self.free.entry(class).or_default().push(buffer);
    }

    /// Starts a new peak from the bytes in use now.
    pub fn reset_peak(&mut self) {
        self.peak_live_bytes = self.live_bytes;
    }

    /// Drop every free buffer (gives memory back to the driver).
    pub fn trim(&mut self) {
        self.free.clear();
        self.pooled_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_by_at_most_a_quarter() {
        for bytes in [
            1u64,
            4,
            255,
            256,
            257,
            1000,
            4096,
            5000,
            123_456,
            411_041_792,
        ] {
            let class = size_class(bytes);
            assert!(class >= bytes.max(256), "{bytes} -> {class}");
            assert!(
                class as f64 <= (bytes.max(256) as f64) * 1.25 + 1.0,
                "{bytes} -> {class}"
            );
            assert_eq!(class % 4, 0);
            assert_eq!(size_class(class), class, "class of a class is itself");
        }
    }
}
