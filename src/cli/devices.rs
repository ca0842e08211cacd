//! `dak devices`: every adapter, the chosen one marked, with its limits and features.

use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Arguments of `dak devices`.
#[derive(clap::Args, Debug)]
pub struct DevicesArgs {
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dak devices`.
pub fn run(args: &DevicesArgs) -> Result<()> {
    let (adapters, chosen) = Gpu::list_adapters();
    let chosen = chosen?;
    let gpu = Gpu::new()?;
    let limits = gpu.limits();
    let features = feature_names(gpu.features());
    if args.json {
        let value = serde_json::json!({
            "type": "devices",
            "adapters": adapters,
            "chosen": chosen,
            "limits": {
                "max_buffer_size": limits.max_buffer_size,
                "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
                "max_compute_workgroup_storage_size": limits.max_compute_workgroup_storage_size,
                "max_compute_invocations_per_workgroup": limits.max_compute_invocations_per_workgroup,
                "max_compute_workgroups_per_dimension": limits.max_compute_workgroups_per_dimension,
                "max_texture_dimension_2d": limits.max_texture_dimension_2d,
            },
            "features": features,
            "subgroup_size": gpu.subgroup_size(),
            "lp_native_vector_width": std::env::var("LP_NATIVE_VECTOR_WIDTH").ok(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| Error::runtime(e.to_string()))?
        );
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        let mark = if i == chosen { "*" } else { " " };
        println!(
            "{mark} [{i}] {} — {} {} — driver {} {} — subgroup {}..{}",
            a.name,
            a.backend,
            a.device_type,
            a.driver,
            a.driver_info,
            a.subgroup_min_size,
            a.subgroup_max_size
        );
    }
    println!(
        "\nchosen adapter: {} (override with DAK_ADAPTER=<name substring>, WGPU_BACKEND=<backend>)",
        adapters[chosen].name
    );
    println!("limits requested:");
    println!(
        "  max buffer size                {:>12} bytes",
        limits.max_buffer_size
    );
    println!(
        "  max storage binding            {:>12} bytes",
        limits.max_storage_buffer_binding_size
    );
    println!(
        "  workgroup storage              {:>12} bytes",
        limits.max_compute_workgroup_storage_size
    );
    println!(
        "  invocations per workgroup      {:>12}",
        limits.max_compute_invocations_per_workgroup
    );
    println!(
        "  workgroups per dimension       {:>12}",
        limits.max_compute_workgroups_per_dimension
    );
    println!(
        "  max 2-D texture dimension      {:>12}",
        limits.max_texture_dimension_2d
    );
    println!(
        "features enabled: {}",
        match features.is_empty() {
            true => "none".to_string(),
            false => features.join(", "),
        }
    );
    if let Ok(width) = std::env::var("LP_NATIVE_VECTOR_WIDTH") {
        println!("LP_NATIVE_VECTOR_WIDTH={width}");
    }
    Ok(())
}

/// wgpu's kebab-case names of the enabled features (`subgroup`, `timestamp-query`).
fn feature_names(features: wgpu::Features) -> Vec<String> {
    features
        .iter()
        .map(|f| match f.as_str() {
            Some(name) => name.to_string(),
            None => format!("{f:?}"),
        })
        .collect()
}
