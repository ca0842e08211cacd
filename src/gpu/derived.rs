//! Textures derived from a buffer's contents (e.g. a convolution's weights packed into the
//! operand layout its kernel reads), cached until the buffer changes.
//!
//! Every buffer carries an allocation id and a content version. Each recorded write bumps the
//! version: a dispatch that binds the buffer where the shader declares it writable
//! (`read_write` storage), a copy into it, a host write, a clear. A cached texture is reused
//! only while its source still has the (id, version) it was derived from, so frozen weights and
//! weights during evaluation are packed once, and a weight the optimizer has just updated is
//! packed again. Entries go when their source buffer is dropped.

use super::{lock, Gpu, GpuBuffer, GpuTexture};
use crate::Result;
use std::collections::HashMap;
use std::sync::Arc;

/// Derived textures by source buffer id.
#[derive(Default)]
pub(crate) struct DerivedCache {
    by_buffer: HashMap<u64, Vec<Entry>>,
    hits: u64,
    misses: u64,
}

struct Entry {
    tag: String,
    version: u64,
    texture: Arc<GpuTexture>,
}

impl Gpu {
    /// The texture `make` derives from the current contents of `src`, cached under `tag`,
    /// which must name everything else the texture depends on (layout, shapes, flags). While
    /// `src` is unchanged the cached texture is returned and `make` is not called.
    pub fn derived_texture(
        &self,
        src: &GpuBuffer,
        tag: &str,
        make: impl FnOnce() -> Result<GpuTexture>,
    ) -> Result<Arc<GpuTexture>> {
        let (id, version) = src.content();
        {
            let mut cache = lock(&self.0.derived);
            let hit = cache.by_buffer.get(&id).and_then(|entries| {
                entries
                    .iter()
                    .find(|e| e.tag == tag && e.version == version)
                    .map(|e| e.texture.clone())
            });
            if let Some(texture) = hit {
                cache.hits += 1;
                return Ok(texture);
            }
            cache.misses += 1;
        }
        let texture = Arc::new(make()?);
        let stale = {
            let mut cache = lock(&self.0.derived);
            let entries = cache.by_buffer.entry(id).or_default();
            let old = entries
                .iter()
                .position(|e| e.tag == tag)
                .map(|i| entries.swap_remove(i));
            entries.push(Entry {
                tag: tag.to_string(),
                version,
                texture: texture.clone(),
            });
            old
        };
        drop(stale); // returns its texture to the pool, outside the cache lock
        Ok(texture)
    }

    /// (hits, misses) of [`Gpu::derived_texture`] since the device was opened.
    pub fn derived_stats(&self) -> (u64, u64) {
        let cache = lock(&self.0.derived);
        (cache.hits, cache.misses)
    }

    /// Drop what was derived from buffer `id` (the buffer is gone).
    pub(super) fn forget_derived(&self, id: u64) {
        let gone = lock(&self.0.derived).by_buffer.remove(&id);
        drop(gone);
    }
}

/// Bit i set when the shader declares `@binding(i)` as writable storage: a `read_write` buffer
/// or a storage texture. Declarations are read statement by statement (up to `;`).
pub(crate) fn writable_bindings(wgsl: &str) -> u64 {
    let mut mask = 0u64;
    for statement in wgsl.split(';') {
        let Some(at) = statement.find("@binding(") else {
            continue;
        };
        let rest = &statement[at + "@binding(".len()..];
        let Some(index) = rest
            .split(')')
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let writes = statement.contains("read_write") || statement.contains("texture_storage");
        if writes && index < 64 {
            mask |= 1 << index;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::writable_bindings;

    #[test]
    fn finds_writable_bindings() {
        let wgsl = "@group(0) @binding(0) var<uniform> s: S;\n\
                    @group(0) @binding(1) var<storage, read> a: array<f32>;\n\
                    @group(0) @binding(2) var t: texture_2d<f32>;\n\
                    @group(0) @binding(3) var<storage, read_write> c: array<f32>;\n\
                    @group(0) @binding(4) var o: texture_storage_2d<rgba32float, write>;\n\
                    fn f() { let x = 1; }";
        assert_eq!(writable_bindings(wgsl), (1 << 3) | (1 << 4));
    }
}
