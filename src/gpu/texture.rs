//! Pooled rgba32float 2-D textures. On CPU adapters (llvmpipe) a kernel reading an operand with
//! `textureLoad` runs 1.5-2x faster than with storage-buffer loads (DESIGN §9), so kernels pack
//! operands into textures with a small compute pass and read them from there.

use super::{lock, Gpu};
use crate::{Error, Result};
use std::collections::HashMap;

/// Free textures by (width, height).
#[derive(Default)]
pub(crate) struct TexturePool {
    free: HashMap<(u32, u32), Vec<wgpu::Texture>>,
}

/// An rgba32float texture from the pool; returned to it when dropped.
pub struct GpuTexture {
    raw: Option<wgpu::Texture>,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
    gpu: Gpu,
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
}

impl Drop for GpuTexture {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            lock(&self.gpu.0.textures)
                .free
                .entry((self.width, self.height))
                .or_default()
                .push(raw);
        }
    }
}

impl Gpu {
    /// Largest texture side this adapter supports.
    pub fn max_texture_side(&self) -> u32 {
        self.0.limits.max_texture_dimension_2d
    }

    /// A `width` x `height` rgba32float texture (contents undefined), bindable both as a
    /// sampled texture and as a write-only storage texture.
    pub fn texture(&self, width: u32, height: u32, what: &str) -> Result<GpuTexture> {
        let max = self.max_texture_side();
        if width == 0 || height == 0 || width > max || height > max {
            return Err(Error::input(format!(
                "{what}: a {width}x{height} texture is outside this adapter's limit of {max} per side"
            )));
        }
        let reused = lock(&self.0.textures)
            .free
            .get_mut(&(width, height))
            .and_then(Vec::pop);
        let raw = reused.unwrap_or_else(|| {
            self.0.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("dak.texture"),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
                view_formats: &[],
            })
        });
        let view = raw.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(GpuTexture {
            raw: Some(raw),
            view,
            width,
            height,
            gpu: self.clone(),
        })
    }
}
