//! Adapter choice and device creation.

use crate::error::{Error, Result};

/// What the user is told when no adapter exists.
pub const NO_ADAPTER: &str = "no GPU adapter found; on a machine without a GPU install Mesa's \
software Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers` (or pick a backend with \
WGPU_BACKEND=vulkan|metal|dx12|gl)";

/// Variables that decide which drivers the Vulkan loader and wgpu look at: when one is set and
/// no adapter is found, it is the likelier cause than a missing driver.
const ADAPTER_VARIABLES: [&str; 4] = [
    "VK_ICD_FILENAMES",
    "VK_DRIVER_FILES",
    "VK_ADD_DRIVER_FILES",
    "WGPU_BACKEND",
];

/// Why no adapter was found: a variable that hides the drivers, named, or [`NO_ADAPTER`].
fn no_adapter() -> String {
    let set: Vec<String> = ADAPTER_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok().map(|value| format!("{v}={value}")))
        .collect();
    match set.is_empty() {
        true => NO_ADAPTER.to_string(),
        false => format!(
            "no GPU adapter found with {} set: it limits which drivers are looked at; unset it (or point it at an installed driver) and run `dak devices`",
            set.join(" and ")
        ),
    }
}

/// Optional features dak uses when the adapter has them.
pub(crate) const WANTED_FEATURES: wgpu::Features =
    wgpu::Features::TIMESTAMP_QUERY.union(wgpu::Features::SUBGROUP);

/// One adapter as `dak devices` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Backend: Vulkan, Metal, Dx12 or Gl.
    pub backend: String,
    /// Device type: DiscreteGpu, IntegratedGpu, Cpu, ...
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version details.
    pub driver_info: String,
    /// Smallest subgroup size the adapter may use.
    pub subgroup_min_size: u32,
    /// Largest subgroup size the adapter may use.
    pub subgroup_max_size: u32,
}

impl AdapterSummary {
    pub(crate) fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
        }
    }
}

/// llvmpipe runs much faster with 512-bit vectors on CPUs that have AVX-512 (DESIGN §9), and the
/// variable must be set before Mesa loads. Only set it when the user has not chosen.
pub(crate) fn tune_software_rasterizer() {
    #[cfg(target_arch = "x86_64")]
    if std::env::var_os("LP_NATIVE_VECTOR_WIDTH").is_none()
        && std::arch::is_x86_feature_detected!("avx512f")
    {
        // Called before any Vulkan instance exists in this process.
        std::env::set_var("LP_NATIVE_VECTOR_WIDTH", "512");
    }
    // Mesa warns on every start without it; one private directory per user keeps it quiet
    // (one per process would litter the temporary directory).
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        if let Some(dir) = private_runtime_dir() {
            std::env::set_var("XDG_RUNTIME_DIR", dir);
        }
    }
    // Mesa prints two warnings when its shader cache folder is missing (a
    // MESA_SHADER_CACHE_DIR under a checkout whose target/ lives elsewhere): create it, or,
    // where that is impossible, run without the cache rather than let Mesa's lines reach a
    // user's one-line error.
    if let Some(dir) = std::env::var_os("MESA_SHADER_CACHE_DIR") {
        if std::fs::create_dir_all(&dir).is_err() {
            std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true");
        }
    }
}

/// `<tmp>/dak-xdg-<uid>`, mode 0700, used only if this user owns it.
#[cfg(unix)]
fn private_runtime_dir() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("dak-xdg-{uid}"));
    if std::fs::create_dir(&dir).is_ok() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0).then_some(dir)
}

#[cfg(not(unix))]
fn private_runtime_dir() -> Option<std::path::PathBuf> {
    None
}

pub(crate) fn instance() -> wgpu::Instance {
    tune_software_rasterizer();
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// The values `WGPU_BACKEND` accepts (a comma-separated list of them).
pub const BACKEND_NAMES: &str = "vulkan, metal, dx12, gl";

/// The backends `WGPU_BACKEND` allows (all when unset); an unknown name is an error.
pub(crate) fn backends_from_env() -> Result<wgpu::Backends> {
    let Ok(value) = std::env::var("WGPU_BACKEND") else {
        return Ok(wgpu::Backends::all());
    };
    let mut backends = wgpu::Backends::empty();
    for name in value.split(',').map(|n| n.trim().to_lowercase()) {
        backends |= match name.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            _ => {
                return Err(Error::input(format!(
                    "WGPU_BACKEND={value}: unknown backend `{name}`; use one or more of {BACKEND_NAMES} (comma-separated), or unset it"
                )))
            }
        };
    }
    Ok(backends)
}

/// All adapters of the backends allowed by `WGPU_BACKEND`.
pub(crate) fn adapters(instance: &wgpu::Instance) -> Result<Vec<wgpu::Adapter>> {
    let backends = backends_from_env()?;
    Ok(pollster::block_on(instance.enumerate_adapters(backends)))
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Index of the adapter dak uses: `DAK_ADAPTER=<substring>` if set, else the most capable kind
/// (discrete > integrated > virtual > CPU), Vulkan/Metal/DX12 before GL.
pub(crate) fn choose(adapters: &[wgpu::Adapter]) -> Result<usize> {
    if adapters.is_empty() {
        return Err(Error::gpu(no_adapter()));
    }
    if let Ok(wanted) = std::env::var("DAK_ADAPTER") {
        let needle = wanted.to_lowercase();
        return adapters
            .iter()
            .position(|a| a.get_info().name.to_lowercase().contains(&needle))
            .ok_or_else(|| {
                let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
                Error::input(format!(
                    "DAK_ADAPTER={wanted} matches no adapter; available: {}",
                    names.join(", ")
                ))
            });
    }
    let key = |a: &wgpu::Adapter| {
        let info = a.get_info();
        (
            type_rank(info.device_type),
            info.backend == wgpu::Backend::Gl,
        )
    };
    Ok((0..adapters.len())
        .min_by_key(|&i| key(&adapters[i]))
        .unwrap_or(0))
}

/// Open the device with the adapter's real limits and the wanted optional features.
pub(crate) fn open(adapter: &wgpu::Adapter) -> Result<(wgpu::Device, wgpu::Queue)> {
    let features = adapter.features() & WANTED_FEATURES;
    let desc = wgpu::DeviceDescriptor {
        label: Some("dak"),
        required_features: features,
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    };
    pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
        Error::gpu(format!(
            "could not open GPU device `{}`: {e}",
            adapter.get_info().name
        ))
    })
}
