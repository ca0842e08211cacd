//! Pooled 2-D textures. On CPU adapters (llvmpipe) every storage-buffer load compiles to a loop
//! over the lanes with a store-to-stack per lane, while a `textureLoad` is one vectorised fetch,
//! so kernels read their big operands from textures:
//!
//! - rgba32float *operand* textures, written by a packing kernel in the layout the reader wants
//!   ([`Gpu::texture`]);
//! - r32float *mirrors* of a buffer ([`Gpu::mirror`]), filled by a buffer-to-texture copy (a
//!   memcpy on llvmpipe) and read by packing kernels at flat index `i` as texel
//!   `(i & (W - 1), i >> log2 W)`, so that even the packing avoids storage loads; and
//!   rgba32float mirrors ([`Gpu::mirror_rgba`]), where each texel is 4 consecutive values, for
//!   kernels that can read a buffer's own layout 4 values at a time.

use super::{lock, Gpu, GpuBuffer};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Free textures by (width, height, format).
#[derive(Default)]
pub(crate) struct TexturePool {
    free: HashMap<(u32, u32, wgpu::TextureFormat), Vec<wgpu::Texture>>,
}

/// A texture from the pool; returned to it when dropped.
pub struct GpuTexture {
    raw: Option<wgpu::Texture>,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
    format: wgpu::TextureFormat,
    /// The device's state, to return the texture to its pool (weak: a texture kept by the
    /// device itself, see [`Gpu::border_scratch`], must not keep the device alive).
    gpu: std::sync::Weak<super::Inner>,
}

impl GpuTexture {
    /// Width in texels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in texels.
    pub fn height(&self) -> u32 {
        self.height
    }
    pub(crate) fn view(&self) -> &wgpu::TextureView {
        &self.view
    }
    pub(crate) fn raw(&self) -> &wgpu::Texture {
        self.raw.as_ref().expect("a live texture")
    }
}

impl Drop for GpuTexture {
    fn drop(&mut self) {
        if let (Some(raw), Some(inner)) = (self.raw.take(), self.gpu.upgrade()) {
            lock(&inner.textures)
                .free
                .entry((self.width, self.height, self.format))
                .or_default()
                .push(raw);
        }
    }
}

/// A buffer mirrored into an r32float texture: width `1 << shift` texels, row-major.
pub struct Mirror {
    /// The texture.
    pub texture: GpuTexture,
    /// log2 of the texture width (kernels split a flat index with a shift and a mask).
    pub shift: u32,
}

impl Gpu {
    /// Largest texture side this adapter supports.
    pub fn max_texture_side(&self) -> u32 {
        self.0.limits.max_texture_dimension_2d
    }

    /// A `width` x `height` rgba32float texture (contents undefined), bindable both as a
    /// sampled texture and as a write-only storage texture.
    pub fn texture(&self, width: u32, height: u32, what: &str) -> Result<GpuTexture> {
        self.pooled_texture(width, height, wgpu::TextureFormat::Rgba32Float, what)
    }

    /// Whether kernels take their CPU-adapter paths: element-wise kernels reading inputs through
    /// r32float mirrors ([`Gpu::mirror`]), subgroup reductions where a portable one exists. True
    /// on CPU adapters unless turned off with [`Gpu::set_cpu_paths`] (tests use that to run the
    /// portable paths on lavapipe too).
    pub fn cpu_paths(&self) -> bool {
        self.is_cpu() && self.0.cpu_paths.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Allow or forbid [`Gpu::cpu_paths`] for this device (default: allowed).
    pub fn set_cpu_paths(&self, on: bool) {
        self.0
            .cpu_paths
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// A `width` x `height` r32float texture (contents undefined).
    pub fn texture_r32(&self, width: u32, height: u32, what: &str) -> Result<GpuTexture> {
        self.pooled_texture(width, height, wgpu::TextureFormat::R32Float, what)
    }

    /// Mirror the first `floats` f32 values of `src` into an r32float texture (the copy is
    /// recorded in stream order), or `None` when they do not fit one texture.
    pub fn mirror(&self, src: &GpuBuffer, floats: usize, what: &str) -> Result<Option<Mirror>> {
        self.mirror_as(src, floats, wgpu::TextureFormat::R32Float, 4, what)
    }

    /// An r32uint texture (the dummy of a `texture_2d<u32>` binding; contents undefined).
    pub fn texture_r32u(&self, width: u32, height: u32, what: &str) -> Result<GpuTexture> {
        self.pooled_texture(width, height, wgpu::TextureFormat::R32Uint, what)
    }

    /// [`Gpu::mirror`] for u32 values (an r32uint texture, read as `texture_2d<u32>`).
    pub fn mirror_u32(&self, src: &GpuBuffer, values: usize, what: &str) -> Result<Option<Mirror>> {
        self.mirror_as(src, values, wgpu::TextureFormat::R32Uint, 4, what)
    }

    /// Mirror the first `values` f32 values of `src` (a multiple of 4) into an rgba32float
    /// texture, texel `t` holding values `4t..4t+4`, or `None` when they do not fit.
    pub fn mirror_rgba(
        &self,
        src: &GpuBuffer,
        values: usize,
        what: &str,
    ) -> Result<Option<Mirror>> {
        if !values.is_multiple_of(4) {
            return Ok(None);
        }
        self.mirror_as(src, values / 4, wgpu::TextureFormat::Rgba32Float, 16, what)
    }

    /// [`Gpu::mirror_rgba`] for u32 values (an rgba32uint texture, read as `texture_2d<u32>`).
    pub fn mirror_rgba_u32(
        &self,
        src: &GpuBuffer,
        values: usize,
        what: &str,
    ) -> Result<Option<Mirror>> {
        if !values.is_multiple_of(4) {
            return Ok(None);
        }
        self.mirror_as(src, values / 4, wgpu::TextureFormat::Rgba32Uint, 16, what)
    }

    fn mirror_as(
        &self,
        src: &GpuBuffer,
        texels: usize,
        format: wgpu::TextureFormat,
        texel_bytes: u32,
        what: &str,
    ) -> Result<Option<Mirror>> {
        if !self.can_mirror(texels) || texel_bytes as u64 * texels as u64 > src.len() {
            return Ok(None);
        }
        let shift = self.mirror_shift();
        let rows = texels.div_ceil(1 << shift);
        let texture = self.pooled_texture(1 << shift, rows as u32, format, what)?;
        self.copy_to_texture(src, &texture, texels, texel_bytes);
        Ok(Some(Mirror { texture, shift }))
    }

    /// An empty rgba32float texture in mirror layout (texel `t` at `(t & (W - 1), t >> log2 W)`,
    /// as [`Gpu::mirror_rgba`]) for `texels` texels, for a kernel to write as a storage texture;
    /// `None` when they do not fit one texture.
    pub fn mirror_rgba_target(&self, texels: usize, what: &str) -> Result<Option<Mirror>> {
        if !self.can_mirror(texels) {
            return Ok(None);
        }
        let shift = self.mirror_shift();
        let rows = texels.div_ceil(1 << shift) as u32;
        let texture = self.texture(1 << shift, rows, what)?;
        Ok(Some(Mirror { texture, shift }))
    }

    /// A `width` x `height` rgba32float texture kept by the device under `key` for packing
    /// kernels that leave a fixed region untouched (the zero padding of an operand texture):
    /// `true` with a new texture, whose every texel the caller must write once; `false` with
    /// the kept one, whose untouched region still holds what the first use wrote. Uses are
    /// ordered by the stream, so one key serves every call with that layout.
    pub fn border_scratch(
        &self,
        width: u32,
        height: u32,
        key: &str,
        what: &str,
    ) -> Result<(Arc<GpuTexture>, bool)> {
        let key = format!("{key} {width}x{height}");
        if let Some(t) = lock(&self.0.scratch).get(&key) {
            return Ok((t.clone(), false));
        }
        let t = Arc::new(self.texture(width, height, what)?);
        lock(&self.0.scratch).insert(key, t.clone());
        Ok((t, true))
    }

    /// Whether `texels` texels fit one mirror texture (values for [`Gpu::mirror`], groups of
    /// 4 values for [`Gpu::mirror_rgba`]).
    pub fn can_mirror(&self, texels: usize) -> bool {
        texels > 0 && texels.div_ceil(1 << self.mirror_shift()) <= self.max_texture_side() as usize
    }

    /// log2 of a mirror's width: the widest power-of-two row the adapter allows.
    fn mirror_shift(&self) -> u32 {
        31 - self.max_texture_side().leading_zeros()
    }

    fn pooled_texture(
        &self,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
        what: &str,
    ) -> Result<GpuTexture> {
        let max = self.max_texture_side();
        if width == 0 || height == 0 || width > max || height > max {
            return Err(Error::input(format!(
                "{what}: a {width}x{height} texture is outside this adapter's limit of {max} per side"
            )));
        }
        let reused = lock(&self.0.textures)
            .free
            .get_mut(&(width, height, format))
            .and_then(Vec::pop);
        let raw = reused.unwrap_or_else(|| {
            self.0.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("dak.texture"),
                size: wgpu::Extent3d {
                    width: padded_width(width, format, max),
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        });
        let view = raw.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(GpuTexture {
            raw: Some(raw),
            view,
            width,
            height,
            format,
            gpu: Arc::downgrade(&self.0),
        })
    }
}

/// The width a texture is allocated with: `width` plus at most a few texels so that a row
/// spans an odd number of 64-byte lines. CPU adapters store textures row-major; with a row
/// stride that is a multiple of 4 KiB (a 1024-wide r32float texture, a 256-wide rgba32float
/// one) the rows a tile reads together all land in one L1 cache set and evict each other.
/// Measured on matmul 1024^3 (A is read 64 rows at a time): 5-10% faster, within the noise on
/// the conv shapes. Kernels only ever address the first `width` texels.
fn padded_width(width: u32, format: wgpu::TextureFormat, max: u32) -> u32 {
    let texel_bytes = match format {
        wgpu::TextureFormat::R32Float | wgpu::TextureFormat::R32Uint => 4,
        _ => 16,
    };
    let lines = |w: u32| (w.next_multiple_of(4) * texel_bytes).div_ceil(64);
    let mut padded = width;
    while lines(padded) % 2 == 0 {
        padded = padded.next_multiple_of(4) + 1;
    }
    if padded <= max {
        padded
    } else {
        width
    }
}

/// Encode a buffer-to-texture copy of `texels` texels: the full rows in one copy, then the
/// partial last row (bytes per row must be a multiple of 256 only for multi-row copies).
pub(super) fn copy_rows(
    encoder: &mut wgpu::CommandEncoder,
    src: &wgpu::Buffer,
    dst: &wgpu::Texture,
    texels: u32,
    texel_bytes: u32,
    width: u32,
) {
    let (full, rest) = (texels / width, texels % width);
    let copy = |encoder: &mut wgpu::CommandEncoder, row: u32, w: u32, h: u32| {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: src,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: (texel_bytes * width) as u64 * row as u64,
                    bytes_per_row: Some(texel_bytes * width),
                    rows_per_image: None,
                },
            },
            wgpu::TexelCopyTextureInfo {
                texture: dst,
                mip_level: 0,
                origin: wgpu::Origin3d { x: 0, y: row, z: 0 },
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
    };
    if full > 0 {
        copy(encoder, 0, width, full);
    }
    if rest > 0 {
        copy(encoder, full, rest, 1);
    }
}
