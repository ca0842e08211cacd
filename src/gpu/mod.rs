//! The GPU runtime: the only module that touches wgpu.
//!
//! Work is recorded, not executed: kernels append dispatches to a pending list and `flush`
//! encodes the whole list into one command encoder and submits it once. Readback is explicit
//! (`read`), so a training step costs one submit and one small read.

mod context;
mod derived;
mod pool;
mod profile;
mod shaders;
mod stream;
mod texture;

pub use context::{AdapterSummary, BACKEND_NAMES, NO_ADAPTER};
pub use derived::{InputCacheStats, DEFAULT_INPUT_CACHE_MB};
pub use profile::{DispatchTime, LabelScope};
pub use shaders::{
    generated_for as generated_shaders_for, override_dir as shader_override_dir,
    overrides as shader_overrides, source as shader_source, BUILTIN as BUILTIN_SHADERS,
};
pub use stream::Binding;
pub use texture::{GpuTexture, Mirror};

use crate::error::{Error, Result};
use pool::BufferPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Counters that tests and benchmarks read to prove the engine does what it claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Compute dispatches recorded since the device was opened.
    pub dispatches: u64,
    /// Queue submissions since the device was opened.
    pub submits: u64,
    /// Compute pipelines compiled since the device was opened.
    pub pipelines_created: u64,
    /// Bytes of pooled buffers currently in use.
    pub live_bytes: u64,
    /// The most bytes of pooled buffers in use since the device opened or
    /// [`Gpu::reset_peak_memory`].
    pub peak_live_bytes: u64,
    /// Bytes of pooled buffers free for reuse.
    pub pooled_bytes: u64,
    /// Storage buffers ever created by the pool.
    pub buffers_created: u64,
}

/// A pipeline cache key: shader file plus its override constants. Shapes never appear here.
type PipelineKey = (String, Vec<(String, u64)>);

pub(crate) struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    pool: Mutex<BufferPool>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    /// WGSL registered at run time by file name; consulted before the built-in shaders.
    registered: Mutex<HashMap<String, String>>,
    stream: Mutex<stream::Stream>,
    textures: Mutex<texture::TexturePool>,
    stats: Mutex<Stats>,
    /// Dispatches per shader file, for tests that prove which kernels ran how often.
    dispatches_by_kernel: Mutex<HashMap<String, u64>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Whether kernels with a `MIRROR` override may read texture mirrors (CPU adapters).
    cpu_paths: std::sync::atomic::AtomicBool,
    /// Which bindings of each shader file the shader may write (bit i = `@binding(i)`).
    writable: Mutex<HashMap<String, u64>>,
    next_buffer_id: std::sync::atomic::AtomicU64,
    derived: Mutex<derived::DerivedCache>,
    /// Textures kept between uses by key (`Gpu::border_scratch`).
    scratch: Mutex<HashMap<String, Arc<texture::GpuTexture>>>,
    /// While `Some`: the byte size of every storage buffer bound (and every size an op notes
    /// its backward will bind), in dispatch order (`Gpu::record_bindings`).
    binding_log: Mutex<Option<Vec<u64>>>,
    /// A binding limit below the device's (`Gpu::limit_binding`; 0: none).
    binding_limit: std::sync::atomic::AtomicU64,
    /// Images per chunk that fit this device, by region and image shape (`models::chunks`).
    rows_that_fit: Mutex<HashMap<String, usize>>,
}

/// A handle to the opened device. Cheap to clone; all clones share one queue, pool and cache.
#[derive(Clone)]
pub struct Gpu(pub(crate) Arc<Inner>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl Gpu {
    /// Open the chosen adapter (see `dak devices`): `DAK_ADAPTER`, `WGPU_BACKEND` honoured.
    pub fn new() -> Result<Gpu> {
        shaders::overrides()?;
        let instance = context::instance();
        let adapters = context::adapters(&instance)?;
        let index = context::choose(&adapters)?;
        Gpu::from_adapter(&adapters[index])
    }

    fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu> {
        let (device, queue) = context::open(adapter)?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            lock(&sink).push(e.to_string());
        }));
        Ok(Gpu(Arc::new(Inner {
            limits: device.limits(),
            features: device.features(),
            info: adapter.get_info(),
            device,
            queue,
            pool: Mutex::default(),
            pipelines: Mutex::default(),
            registered: Mutex::default(),
            stream: Mutex::default(),
            textures: Mutex::default(),
            stats: Mutex::default(),
            dispatches_by_kernel: Mutex::default(),
            errors,
            cpu_paths: std::sync::atomic::AtomicBool::new(true),
            writable: Mutex::default(),
            next_buffer_id: Default::default(),
            derived: Mutex::new(derived::DerivedCache::from_env()?),
            scratch: Mutex::default(),
            binding_log: Mutex::default(),
            binding_limit: Default::default(),
            rows_that_fit: Mutex::default(),
        })))
    }

    /// Every adapter wgpu can see, and the index of the one `Gpu::new` would choose.
    pub fn list_adapters() -> (Vec<AdapterSummary>, Result<usize>) {
        let instance = context::instance();
        let (adapters, chosen) = match context::adapters(&instance) {
            Ok(a) => {
                let chosen = context::choose(&a);
                (a, chosen)
            }
            Err(e) => (Vec::new(), Err(e)),
        };
        let list = adapters
            .iter()
            .map(|a| AdapterSummary::from_info(&a.get_info()))
            .collect();
        (list, chosen)
    }

    /// Name, backend, type and driver of the opened adapter.
    pub fn adapter(&self) -> AdapterSummary {
        AdapterSummary::from_info(&self.0.info)
    }
    /// The device's limits (requested at the adapter's maximum).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }
    /// The features enabled on the device.
    pub fn features(&self) -> wgpu::Features {
        self.0.features
    }
    /// True when the adapter is a CPU implementation (lavapipe, WARP, SwiftShader).
    pub fn is_cpu(&self) -> bool {
        self.0.info.device_type == wgpu::DeviceType::Cpu
    }
    /// Subgroup operations are enabled on the device.
    pub fn has_subgroups(&self) -> bool {
        self.0.features.contains(wgpu::Features::SUBGROUP)
    }
    /// GPU timestamps are available (`Gpu::sync_timed`).
    pub fn has_timestamps(&self) -> bool {
        self.0.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }
    /// The smallest subgroup size the adapter may use (read it, never assume 8 or 32).
    pub fn subgroup_size(&self) -> u32 {
        self.0.info.subgroup_min_size.max(1)
    }
    /// Threads a CPU adapter (lavapipe) runs compute on: `LP_NUM_THREADS` when set (0: the
    /// calling thread), else one per core available to this process (its default). Kernels size
    /// their grids to keep every thread busy.
    pub fn cpu_threads(&self) -> usize {
        std::env::var("LP_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map(|n| n.max(1))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Largest storage buffer that one kernel binding may cover.
    pub fn max_binding_bytes(&self) -> u64 {
        let lowered = self
            .0
            .binding_limit
            .load(std::sync::atomic::Ordering::Relaxed);
        match lowered {
            0 => self.0.limits.max_storage_buffer_binding_size,
            l => l.min(self.0.limits.max_storage_buffer_binding_size),
        }
    }

    /// Makes the device refuse storage bindings over `bytes` (0: its own limit again), as a
    /// smaller device would: tests and kernel developers check batch chunking on small shapes.
    pub fn limit_binding(&self, bytes: u64) {
        self.0
            .binding_limit
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f` and returns, with its result, the size of every storage buffer it bound (and
    /// every size an op noted with [`Gpu::note_binding`]), in order: what a chunking decision
    /// extrapolates from (`models::chunks`). Not reentrant.
    pub fn record_bindings<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<(T, Vec<u64>)> {
        *lock(&self.0.binding_log) = Some(Vec::new());
        let out = f();
        let log = lock(&self.0.binding_log).take().unwrap_or_default();
        Ok((out?, log))
    }

    /// Tells [`Gpu::record_bindings`] that a buffer of `bytes` will be bound later (by the
    /// backward of the op noting it, which a forward-only probe does not run).
    pub fn note_binding(&self, bytes: u64) {
        if let Some(log) = lock(&self.0.binding_log).as_mut() {
            log.push(bytes);
        }
    }

    /// The memo of images per chunk by key (`models::chunks`).
    pub(crate) fn rows_that_fit_memo(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        lock(&self.0.rows_that_fit)
    }

    /// Counters since the device was opened, and the pool's current bytes.
    pub fn stats(&self) -> Stats {
        let pool = lock(&self.0.pool);
        Stats {
            live_bytes: pool.live_bytes,
            peak_live_bytes: pool.peak_live_bytes,
            pooled_bytes: pool.pooled_bytes,
            buffers_created: pool.created,
            ..*lock(&self.0.stats)
        }
    }

    /// Dispatches recorded so far of the shader files whose name starts with `prefix`
    /// (e.g. `"conv2d/fwd"` counts every conv2d forward variant).
    pub fn dispatches_of(&self, prefix: &str) -> u64 {
        lock(&self.0.dispatches_by_kernel)
            .iter()
            .filter(|(file, _)| file.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Starts measuring the peak of buffer memory in use from now ([`Stats::peak_live_bytes`]).
    pub fn reset_peak_memory(&self) {
        lock(&self.0.pool).reset_peak();
    }

    /// Release all free pooled buffers back to the driver.
    pub fn trim_pool(&self) {
        lock(&self.0.pool).trim();
    }

    /// Registers WGSL `source` under the shader file name `file` on this device: a new kernel
    /// (e.g. `user/relu_grad_x4.wgsl`, launched with [`Gpu::dispatch`]) or a variant that
    /// replaces a built-in file (e.g. `elementwise/relu_grad.wgsl`, then used by the ops and
    /// checked by `kernels::check`). Pipelines already compiled from `file` are dropped. The
    /// source compiles at its first dispatch; errors name the file, line and column.
    pub fn register_shader(&self, file: &str, source: impl Into<String>) {
        lock(&self.0.registered).insert(file.to_string(), source.into());
        lock(&self.0.pipelines).retain(|key, _| key.0 != file);
        lock(&self.0.writable).remove(file);
    }

    /// Removes a shader registered with [`Gpu::register_shader`] (a built-in file of that name
    /// is used again). Returns whether one was registered.
    pub fn unregister_shader(&self, file: &str) -> bool {
        lock(&self.0.pipelines).retain(|key, _| key.0 != file);
        lock(&self.0.writable).remove(file);
        lock(&self.0.registered).remove(file).is_some()
    }

    /// Compile (or fetch from the cache) the pipeline for `file` with override `constants`.
    pub(crate) fn pipeline(
        &self,
        file: &str,
        constants: &[(&str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key: PipelineKey = (
            file.to_string(),
            constants
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_bits()))
                .collect(),
        );
        if let Some(p) = lock(&self.0.pipelines).get(&key) {
            return Ok(p.clone());
        }
        let registered = lock(&self.0.registered).get(file).cloned();
        let source = match &registered {
            Some(src) => std::borrow::Cow::Owned(src.clone()),
            None => shaders::source(file)?,
        };
        lock(&self.0.writable).insert(file.to_string(), derived::writable_bindings(&source));
        let device = &self.0.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(file),
            source: wgpu::ShaderSource::Wgsl(source),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(file),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            let origin = match shaders::override_dir() {
                _ if registered.is_some() => format!("registered {file}"),
                Some(dir) if dir.join(file).exists() => dir.join(file).display().to_string(),
                _ => format!("shaders/{file}"),
            };
            // The compiler's own messages carry line and column; the scope's error does not
            // always (a pipeline error after a good module has none).
            let info = pollster::block_on(module.get_compilation_info());
            let located: Vec<String> = info
                .messages
                .iter()
                .filter(|m| m.message_type == wgpu::CompilationMessageType::Error)
                .map(|m| {
                    // naga renders a source excerpt under the message; keep the words only.
                    let text: Vec<&str> = m
                        .message
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.contains('│') && !l.contains('┌'))
                        .collect();
                    let text = text.join(" ");
                    match m.location {
                        Some(at) => {
                            format!("{origin}:{}:{}: {text}", at.line_number, at.line_position)
                        }
                        None => format!("{origin}: {text}"),
                    }
                })
                .collect();
            let detail = if located.is_empty() {
                err.to_string()
            } else {
                located.join("; ")
            };
            return Err(Error::gpu(format!(
                "shader {origin} failed to compile: {detail}"
            )));
        }
        let pipeline = Arc::new(pipeline);
        lock(&self.0.pipelines).insert(key, pipeline.clone());
        lock(&self.0.stats).pipelines_created += 1;
        Ok(pipeline)
    }

    /// Fail with the first GPU validation error reported since the last check.
    pub(crate) fn check_errors(&self) -> Result<()> {
        let mut errors = lock(&self.0.errors);
        if errors.is_empty() {
            return Ok(());
        }
        let first = errors.remove(0);
        errors.clear();
        Err(Error::gpu(format!("GPU error: {first}")))
    }
}

/// A storage buffer from the pool; goes back to the pool when dropped.
pub struct GpuBuffer {
    raw: Option<wgpu::Buffer>,
    /// Bytes the owner asked for (the class size may be larger).
    len: u64,
    gpu: Gpu,
    /// Unique per allocation (a pooled buffer reused later gets a new id).
    id: u64,
    /// Bumped by every recorded write (see `derived.rs`).
    version: std::sync::atomic::AtomicU64,
}

impl GpuBuffer {
    /// Bytes requested by the owner.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn raw(&self) -> &wgpu::Buffer {
        self.raw.as_ref().expect("buffer alive until drop")
    }
    /// The device the buffer belongs to.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }
    /// Note that a write to this buffer has been recorded.
    pub(crate) fn touch(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    /// (allocation id, content version): equal pairs mean equal contents.
    pub(crate) fn content(&self) -> (u64, u64) {
        let version = self.version.load(std::sync::atomic::Ordering::Relaxed);
        (self.id, version)
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            lock(&self.gpu.0.pool).release(raw);
        }
        self.gpu.forget_derived(self.id);
    }
}

impl Gpu {
    /// A pooled buffer of `bytes` (contents undefined). Checks the device's limits.
    pub fn alloc(&self, bytes: u64, what: &str) -> Result<GpuBuffer> {
        if bytes == 0 {
            return Err(Error::input(format!("{what}: zero-sized buffer")));
        }
        let max = self.0.limits.max_buffer_size;
        if pool::size_class(bytes) > max {
            return Err(Error::input(format!(
                "{what}: {bytes} bytes exceeds this device's largest buffer ({max} bytes)"
            )));
        }
        let raw = lock(&self.0.pool).acquire(&self.0.device, bytes);
        let id = self
            .0
            .next_buffer_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(GpuBuffer {
            raw: Some(raw),
            len: bytes,
            gpu: self.clone(),
            id,
            version: Default::default(),
        })
    }
}
