//! The command stream: dispatches, uploads and copies recorded in order and submitted together.

use super::{lock, Gpu, GpuBuffer, GpuTexture};
use crate::error::{Error, Result};
use std::sync::Arc;

/// A resource bound to a kernel, in binding order after the uniform at binding 0.
#[derive(Clone, Copy)]
pub enum Binding<'a> {
    /// The first `len` bytes of a pooled buffer (read-only or read-write is the shader's choice).
    Buffer(&'a GpuBuffer),
    /// A texture, read with `textureLoad` or written as a storage texture.
    Texture(&'a GpuTexture),
}

/// What a recorded dispatch keeps alive and binds.
enum Bound {
    Buffer(wgpu::Buffer, u64),
    Texture(wgpu::TextureView),
}

enum Cmd {
    Dispatch {
        pipeline: Arc<wgpu::ComputePipeline>,
        buffers: Vec<Bound>,
        uniform: std::ops::Range<u64>,
        groups: [u32; 3],
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    },
    Clear {
        dst: wgpu::Buffer,
        bytes: u64,
    },
    /// The first `texels` texels' worth of `src` into the rows of a texture.
    ToTexture {
        src: wgpu::Buffer,
        dst: wgpu::Texture,
        texels: u32,
        texel_bytes: u32,
        /// Texels per row (the texture may be allocated wider).
        width: u32,
    },
}

#[derive(Default)]
pub(crate) struct Stream {
    cmds: Vec<Cmd>,
    uniforms: Vec<u8>,
    /// Tag of the dispatches recorded from now on (`Gpu::set_label`).
    pub(super) label: Option<Arc<str>>,
    /// While profiling, every dispatch runs alone and its wall time is kept here.
    pub(super) profile: Option<Vec<super::DispatchTime>>,
}

impl Gpu {
    /// Record one dispatch of `file` (with override `constants`) over `groups` workgroups.
    /// `uniform` is the kernel's shape struct (binding 0); `bindings` follow from binding 1.
    pub fn dispatch(
        &self,
        file: &str,
        constants: &[(&str, f64)],
        uniform: &[u8],
        bindings: &[Binding<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        let max = self.0.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::input(format!(
                "{file}: dispatch of {groups:?} workgroups exceeds this device's limit of {max} per dimension"
            )));
        }
        let max_binding = self.max_binding_bytes();
        let mut buffers = Vec::with_capacity(bindings.len());
        for b in bindings {
            match b {
                Binding::Buffer(buf) => {
                    self.note_binding(buf.len());
                    if buf.len() > max_binding {
                        return Err(Error::input(format!(
                            "{file}: a {}-byte operand exceeds this device's largest storage binding ({max_binding} bytes); split it",
                            buf.len()
                        )));
                    }
                    buffers.push(Bound::Buffer(buf.raw().clone(), buf.len()));
                }
                Binding::Texture(tex) => buffers.push(Bound::Texture(tex.view().clone())),
            }
        }
        let pipeline = self.pipeline(file, constants)?;
        if groups.contains(&0) {
            return Ok(()); // nothing to compute
        }
        let writable = lock(&self.0.writable)
            .get(file)
            .copied()
            .unwrap_or(u64::MAX);
        for (i, b) in bindings.iter().enumerate() {
            if let Binding::Buffer(buf) = b {
                if writable & (1 << (i + 1).min(63)) != 0 {
                    buf.touch();
                }
            }
        }
        let align = self.0.limits.min_uniform_buffer_offset_alignment as usize;
        let mut stream = lock(&self.0.stream);
        let start = stream.uniforms.len().next_multiple_of(align);
        stream.uniforms.resize(start, 0);
        stream.uniforms.extend_from_slice(uniform);
        // Uniform bindings must be at least 16 bytes and a multiple of 16 in size.
        let padded = uniform.len().max(16).next_multiple_of(16);
        stream.uniforms.resize(start + padded, 0);
        stream.cmds.push(Cmd::Dispatch {
            pipeline,
            buffers,
            uniform: start as u64..(start + padded) as u64,
            groups,
        });
        let label = stream.label.clone();
        let profiling = stream.profile.is_some();
        drop(stream);
        lock(&self.0.stats).dispatches += 1;
        if profiling {
            self.profile_one(file, label)?;
        }
        let mut by_kernel = lock(&self.0.dispatches_by_kernel);
        match by_kernel.get_mut(file) {
            Some(n) => *n += 1,
            None => {
                by_kernel.insert(file.to_string(), 1);
            }
        }
        Ok(())
    }

    /// Record a copy of `bytes` between buffers (ordered with the dispatches around it).
    pub fn copy(
        &self,
        src: &GpuBuffer,
        src_offset: u64,
        dst: &GpuBuffer,
        dst_offset: u64,
        bytes: u64,
    ) -> Result<()> {
        if src_offset + bytes > src.len()
            || dst_offset + bytes > dst.len()
            || !bytes.is_multiple_of(4)
        {
            return Err(Error::input(format!(
                "copy of {bytes} bytes out of range (src {src_offset}/{}, dst {dst_offset}/{})",
                src.len(),
                dst.len()
            )));
        }
        dst.touch();
        lock(&self.0.stream).cmds.push(Cmd::Copy {
            src: src.raw().clone(),
            src_offset,
            dst: dst.raw().clone(),
            dst_offset,
            bytes,
        });
        Ok(())
    }

    /// Record copying the first `texels` texels (`texel_bytes` each) of `src` row by row into
    /// the texture `dst` (whose rows hold `dst.width()` texels; the last row may be partial).
    pub(crate) fn copy_to_texture(
        &self,
        src: &GpuBuffer,
        dst: &GpuTexture,
        texels: usize,
        texel_bytes: u32,
    ) {
        lock(&self.0.stream).cmds.push(Cmd::ToTexture {
            src: src.raw().clone(),
            dst: dst.raw().clone(),
            texels: texels as u32,
            texel_bytes,
            width: dst.width(),
        });
    }

    /// Record filling the first `len` bytes of `dst` with zeros.
    pub fn zero(&self, dst: &GpuBuffer) {
        dst.touch();
        let bytes = dst.len().next_multiple_of(4);
        lock(&self.0.stream).cmds.push(Cmd::Clear {
            dst: dst.raw().clone(),
            bytes,
        });
    }

    /// A new pooled buffer holding `data`. Ordered after everything already recorded.
    pub fn upload(&self, data: &[u8], what: &str) -> Result<GpuBuffer> {
        let buffer = self.alloc(data.len() as u64, what)?;
        self.write(&buffer, data)?;
        Ok(buffer)
    }

    /// Overwrite the start of `dst` with `data`, ordered with the recorded work.
    pub fn write(&self, dst: &GpuBuffer, data: &[u8]) -> Result<()> {
        if data.len() as u64 > dst.len() {
            return Err(Error::input(format!(
                "write of {} bytes into a {}-byte buffer",
                data.len(),
                dst.len()
            )));
        }
        dst.touch();
        let padded = (data.len() as u64).next_multiple_of(4);
        let mut stream = lock(&self.0.stream);
        if stream.cmds.is_empty() {
            // Nothing recorded can still read the old contents: write through the queue.
            let mut bytes = data.to_vec();
            bytes.resize(padded as usize, 0);
            self.0.queue.write_buffer(dst.raw(), 0, &bytes);
            return Ok(());
        }
        // Otherwise stage it so the write happens in stream order, not at submit start.
        let staging = self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dak.upload"),
            size: padded,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        staging
            .get_mapped_range_mut(..)
            .map_err(|e| Error::gpu(format!("mapping an upload buffer failed: {e}")))?
            .slice(..data.len())
            .copy_from_slice(data);
        staging.unmap();
        stream.cmds.push(Cmd::Copy {
            src: staging,
            src_offset: 0,
            dst: dst.raw().clone(),
            dst_offset: 0,
            bytes: padded,
        });
        Ok(())
    }

    /// Submit everything recorded so far as one command buffer. Does not wait.
    pub fn flush(&self) -> Result<()> {
        self.flush_inner(false).map(drop)
    }

    /// Encode and submit the recorded work; with `timed`, write pass timestamps and return the
    /// buffer they will be readable from and how many there are.
    pub(super) fn flush_inner(&self, timed: bool) -> Result<Option<(wgpu::Buffer, usize)>> {
        // The lock is held until the submit: a queue write by another thread in between
        // would land before these commands and could overwrite a buffer they still read.
        let mut stream = lock(&self.0.stream);
        let cmds = std::mem::take(&mut stream.cmds);
        let uniforms = std::mem::take(&mut stream.uniforms);
        if cmds.is_empty() {
            return self.check_errors().map(|()| None);
        }
        let device = &self.0.device;
        let uniform_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dak.uniforms"),
            size: (uniforms.len() as u64).max(16),
            usage: wgpu::BufferUsages::UNIFORM,
            mapped_at_creation: true,
        });
        if !uniforms.is_empty() {
            uniform_buffer
                .get_mapped_range_mut(..uniforms.len() as u64)
                .map_err(|e| Error::gpu(format!("mapping the uniform buffer failed: {e}")))?
                .copy_from_slice(&uniforms);
        }
        uniform_buffer.unmap();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("dak.step"),
        });
        // Compute passes = runs of consecutive dispatches; two timestamps each.
        let passes = (0..cmds.len())
            .filter(|&i| {
                matches!(cmds[i], Cmd::Dispatch { .. })
                    && (i == 0 || !matches!(cmds[i - 1], Cmd::Dispatch { .. }))
            })
            .count();
        let queries = 2 * passes;
        let query_set = (timed && passes > 0 && queries <= wgpu::QUERY_SET_MAX_QUERIES as usize)
            .then(|| {
                device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("dak.timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: queries as u32,
                })
            });
        let mut pass_index = 0u32;
        let mut i = 0;
        while i < cmds.len() {
            match &cmds[i] {
                Cmd::Dispatch { .. } => {
                    // Consecutive dispatches share one compute pass.
                    let timestamp_writes =
                        query_set
                            .as_ref()
                            .map(|qs| wgpu::ComputePassTimestampWrites {
                                query_set: qs,
                                beginning_of_pass_write_index: Some(2 * pass_index),
                                end_of_pass_write_index: Some(2 * pass_index + 1),
                            });
                    pass_index += 1;
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes,
                    });
                    while let Some(Cmd::Dispatch {
                        pipeline,
                        buffers,
                        uniform,
                        groups,
                    }) = cmds.get(i)
                    {
                        let bind_group = bind(device, pipeline, &uniform_buffer, uniform, buffers);
                        pass.set_pipeline(pipeline);
                        pass.set_bind_group(0, &bind_group, &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        i += 1;
                    }
                }
                Cmd::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    bytes,
                } => {
                    encoder.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *bytes);
                    i += 1;
                }
                Cmd::Clear { dst, bytes } => {
                    encoder.clear_buffer(dst, 0, Some(*bytes));
                    i += 1;
                }
                Cmd::ToTexture {
                    src,
                    dst,
                    texels,
                    texel_bytes,
                    width,
                } => {
                    super::texture::copy_rows(
                        &mut encoder,
                        src,
                        dst,
                        *texels,
                        *texel_bytes,
                        *width,
                    );
                    i += 1;
                }
            }
        }
        let timing = query_set.map(|qs| {
            let bytes = (queries * 8) as u64;
            let resolve = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("dak.timestamps.resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let readback = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("dak.timestamps.readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            encoder.resolve_query_set(&qs, 0..queries as u32, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &readback, 0, bytes);
            (readback, queries)
        });
        self.0.queue.submit([encoder.finish()]);
        drop(stream);
        lock(&self.0.stats).submits += 1;
        self.check_errors().map(|()| timing)
    }

    /// Map a MAP_READ buffer and wait until it is readable (`what` names it in errors).
    pub(super) fn map_for_reading(&self, buffer: &wgpu::Buffer, what: &str) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::gpu(format!("waiting for the GPU failed: {e}")))?;
        rx.recv()
            .map_err(|_| Error::gpu(format!("{what} was never completed")))?
            .map_err(|e| Error::gpu(format!("{what} failed: {e}")))
    }

    /// Submit recorded work and block until the device has finished all of it.
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::gpu(format!("waiting for the GPU failed: {e}")))?;
        self.check_errors()
    }

    /// Submit recorded work and read back `bytes` bytes of `src` from `offset`.
    pub fn read(&self, src: &GpuBuffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        if offset + bytes > src.len() {
            return Err(Error::input(format!(
                "read of {bytes} bytes at {offset} from a {}-byte buffer",
                src.len()
            )));
        }
        let padded = bytes.next_multiple_of(4).max(4);
        let copy_len = padded.min(src.raw().size() - offset);
        let staging = self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dak.readback"),
            size: padded,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        lock(&self.0.stream).cmds.push(Cmd::Copy {
            src: src.raw().clone(),
            src_offset: offset,
            dst: staging.clone(),
            dst_offset: 0,
            bytes: copy_len,
        });
        self.flush()?;
        self.map_for_reading(&staging, "readback")?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| Error::gpu(format!("readback mapping failed: {e}")))?[..bytes as usize]
            .to_vec();
        staging.unmap();
        self.check_errors()?;
        Ok(data)
    }
}

fn bind(
    device: &wgpu::Device,
    pipeline: &wgpu::ComputePipeline,
    uniforms: &wgpu::Buffer,
    uniform: &std::ops::Range<u64>,
    buffers: &[Bound],
) -> wgpu::BindGroup {
    let mut entries = Vec::with_capacity(buffers.len() + 1);
    entries.push(wgpu::BindGroupEntry {
        binding: 0,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: uniforms,
            offset: uniform.start,
            size: std::num::NonZeroU64::new(uniform.end - uniform.start),
        }),
    });
    for (i, bound) in buffers.iter().enumerate() {
        let resource = match bound {
            Bound::Buffer(buffer, len) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer,
                offset: 0,
                size: std::num::NonZeroU64::new(len.next_multiple_of(4)),
            }),
            Bound::Texture(view) => wgpu::BindingResource::TextureView(view),
        };
        entries.push(wgpu::BindGroupEntry {
            binding: i as u32 + 1,
            resource,
        });
    }
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}
