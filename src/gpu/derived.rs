//! Textures derived from a buffer's contents (e.g. a convolution's weights packed into the
//! operand layout its kernel reads), cached until the buffer changes.
//!
//! Every buffer carries an allocation id and a content version. Each recorded write bumps the
//! version: a dispatch that binds the buffer where the shader declares it writable
//! (`read_write` storage), a copy into it, a host write, a clear. A cached texture is reused
//! only while its source still has the (id, version) it was derived from, so frozen weights and
//! weights during evaluation are packed once, and a weight the optimizer has just updated is
//! packed again. Entries go when their source buffer is dropped.
//!
//! Textures derived from activations (a convolution's packed input, kept for its weight
//! gradient; a dense layer's packed operand, shared by the GEMMs that read it) live as long as
//! the activation, i.e. a whole training step, so together they hold
//! memory in proportion to the network and the batch. They are cached under a budget
//! ([`Gpu::derived_texture_budgeted`]): past it a texture is made and used once, as if no cache
//! existed. The budget is `DAK_INPUT_CACHE_MB` (default [`DEFAULT_INPUT_CACHE_MB`]; 0 turns the
//! reuse off) or [`Gpu::set_input_cache_budget`].

use super::{lock, Gpu, GpuBuffer, GpuTexture};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Default budget of the budgeted (activation-derived) textures: every packed input of the
/// digits networks and of VGG16 up to 64x64 at batch 32; at 224x224 the first, largest layers.
pub const DEFAULT_INPUT_CACHE_MB: u64 = 256;

/// Derived textures by source buffer id.
pub(crate) struct DerivedCache {
    by_buffer: HashMap<u64, Vec<Entry>>,
    hits: u64,
    misses: u64,
    budget: InputCacheStats,
}

impl DerivedCache {
    /// An empty cache with the budget of `DAK_INPUT_CACHE_MB`, or the default.
    pub(crate) fn from_env() -> Result<Self> {
        let mb = match std::env::var("DAK_INPUT_CACHE_MB") {
            Err(_) => DEFAULT_INPUT_CACHE_MB,
            Ok(v) if v.trim().is_empty() => DEFAULT_INPUT_CACHE_MB,
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&mb| mb < 1 << 40)
                .ok_or_else(|| {
                    Error::input(format!(
                        "DAK_INPUT_CACHE_MB={v}: expected a whole number of MiB \
                     (default {DEFAULT_INPUT_CACHE_MB}; 0 turns the reuse of packed inputs off)"
                    ))
                })?,
        };
        Ok(DerivedCache {
            by_buffer: HashMap::new(),
            hits: 0,
            misses: 0,
            budget: InputCacheStats {
                budget_bytes: mb << 20,
                ..Default::default()
            },
        })
    }
}

/// What the budgeted cache did since the device was opened (`dak bench model` reports it).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct InputCacheStats {
    /// The budget in bytes.
    pub budget_bytes: u64,
    /// Bytes held now.
    pub held_bytes: u64,
    /// Most bytes held at once.
    pub peak_bytes: u64,
    /// Textures served from the cache (a pass saved each).
    pub reused: u64,
    /// Textures made without caching because the budget was full.
    pub over_budget: u64,
}

struct Entry {
    tag: String,
    version: u64,
    texture: Arc<GpuTexture>,
    /// Bytes counted against the budget (0 for unbudgeted entries).
    budgeted: u64,
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
        self.derived(src, tag, None, make)
    }

    /// [`Gpu::derived_texture`] for a texture of `bytes` that counts against the input-cache
    /// budget: when caching it would pass the budget, `make`'s texture is returned uncached.
    pub fn derived_texture_budgeted(
        &self,
        src: &GpuBuffer,
        tag: &str,
        bytes: u64,
        make: impl FnOnce() -> Result<GpuTexture>,
    ) -> Result<Arc<GpuTexture>> {
        self.derived(src, tag, Some(bytes), make)
    }

    fn derived(
        &self,
        src: &GpuBuffer,
        tag: &str,
        budgeted: Option<u64>,
        make: impl FnOnce() -> Result<GpuTexture>,
    ) -> Result<Arc<GpuTexture>> {
        let (id, version) = src.content();
        let stale = {
            let mut cache = lock(&self.0.derived);
            let hit = cache.by_buffer.get(&id).and_then(|entries| {
                entries
                    .iter()
                    .find(|e| e.tag == tag && e.version == version)
                    .map(|e| e.texture.clone())
            });
            if let Some(texture) = hit {
                cache.hits += 1;
                cache.budget.reused += u64::from(budgeted.is_some());
                return Ok(texture);
            }
            cache.misses += 1;
            // The entry of an older version goes before the new texture is made, so `make` can
            // take its texture from the pool (same size) instead of allocating (and having wgpu
            // zero-initialise) another while both are held.
            let old = cache.by_buffer.get_mut(&id).and_then(|entries| {
                let i = entries.iter().position(|e| e.tag == tag)?;
                Some(entries.swap_remove(i))
            });
            cache.budget.held_bytes -= old.as_ref().map_or(0, |e| e.budgeted);
            old
        };
        drop(stale); // returns its texture to the pool, outside the cache lock
        let texture = Arc::new(make()?);
        let mut cache = lock(&self.0.derived);
        let bytes = budgeted.unwrap_or(0);
        let b = &mut cache.budget;
        if b.held_bytes + bytes > b.budget_bytes {
            b.over_budget += 1;
        } else {
            b.held_bytes += bytes;
            b.peak_bytes = b.peak_bytes.max(b.held_bytes);
            cache.by_buffer.entry(id).or_default().push(Entry {
                tag: tag.to_string(),
                version,
                texture: texture.clone(),
                budgeted: bytes,
            });
        }
        Ok(texture)
    }

    /// What the budgeted (activation-derived) textures hold and saved.
    pub fn input_cache_stats(&self) -> InputCacheStats {
        lock(&self.0.derived).budget
    }

    /// Set the budget of the budgeted textures in bytes (0: no reuse). Entries already held stay
    /// until their source goes.
    pub fn set_input_cache_budget(&self, bytes: u64) {
        lock(&self.0.derived).budget.budget_bytes = bytes;
    }

    /// (hits, misses) of [`Gpu::derived_texture`] since the device was opened.
    pub fn derived_stats(&self) -> (u64, u64) {
        let cache = lock(&self.0.derived);
        (cache.hits, cache.misses)
    }

    /// Drop what was derived from buffer `id` (the buffer is gone).
    pub(super) fn forget_derived(&self, id: u64) {
        let gone = {
            let mut cache = lock(&self.0.derived);
            let gone = cache.by_buffer.remove(&id);
            let freed: u64 = gone.iter().flatten().map(|e| e.budgeted).sum();
            cache.budget.held_bytes -= freed;
            gone
        };
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
