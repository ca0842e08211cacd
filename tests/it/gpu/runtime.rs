//! The GPU runtime: pooling, batching into one submit, pipeline caching, clear errors.
use crate::common::*;
use dak::ops::{elementwise as ew, matmul};
use dak::{DType, Tensor};

#[test]
fn pool_keeps_live_bytes_flat() {
    let gpu = own_gpu();
    let shapes: [&[usize]; 3] = [&[1000], &[33, 65], &[2, 3, 7, 7]];
    let mut after_first = None;
    for round in 0..1000 {
        let ts: Vec<Tensor> = shapes
            .iter()
            .map(|s| Tensor::uninit(&gpu, s, DType::F32).unwrap())
            .collect();
        drop(ts);
        let stats = gpu.stats();
        assert_eq!(stats.live_bytes, 0, "everything was dropped");
        match after_first {
            None => after_first = Some(stats),
            Some(first) => {
                assert_eq!(stats.pooled_bytes, first.pooled_bytes, "round {round}");
                assert_eq!(
                    stats.buffers_created, first.buffers_created,
                    "round {round}"
                );
            }
        }
    }
}

#[test]
fn a_step_is_one_submit_and_pipelines_are_cached() {
    let gpu = own_gpu();
    let x = Tensor::from_slice(&gpu, &values(32 * 20, 1), &[32, 20]).unwrap();
    let w = Tensor::from_slice(&gpu, &values(10 * 20, 2), &[10, 20]).unwrap();
    let b = Tensor::from_slice(&gpu, &values(10, 3), &[10]).unwrap();
    let variant = matmul::Variant::default_for(&gpu);
    let step = || {
        let y = matmul::dense_forward(&x, &w, Some(&b), true, variant).unwrap();
        let dy = ew::scale(&y, 0.5).unwrap();
        let dx = matmul::dense_backward_input(&dy, &w, variant).unwrap();
        let dw = matmul::dense_backward_weight(&dy, &x, variant).unwrap();
        let db = ew::bias_grad(&dy).unwrap();
        (dx, dw, db)
    };
    let _ = step();
    gpu.sync().unwrap();
    let before = gpu.stats();
    let kept = step();
    gpu.sync().unwrap();
    let after = gpu.stats();
    assert_eq!(after.submits - before.submits, 1, "one submit per step");
    // Three GEMMs, scale, bias grad; the texture variant also packs its operands, but x and w
    // are unchanged since the first step, so only the two packs of the new dy run again.
    let packs = if variant.dispatches() > 1 { 2 } else { 0 };
    let expected = 3 + packs + 2;
    assert_eq!(
        after.dispatches - before.dispatches,
        expected,
        "kernels per step"
    );
    assert_eq!(
        after.pipelines_created, before.pipelines_created,
        "no pipeline compiled after the first step"
    );
    drop(kept);
}

#[test]
fn bad_shapes_and_sizes_give_clear_errors() {
    let gpu = gpu();
    let err = Tensor::from_slice(&gpu, &[1.0, 2.0], &[3])
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 values") && err.contains("[3]"), "{err}");
    let err = Tensor::uninit(&gpu, &[4, 0], DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("zero-sized") && err.contains("[4, 0]"),
        "{err}"
    );
    let err = Tensor::uninit(&gpu, &[1, 2, 3, 4, 5], DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 to 4 dimensions"), "{err}");
    let x = Tensor::zeros(&gpu, &[2, 3]).unwrap();
    let w = Tensor::zeros(&gpu, &[4, 5]).unwrap();
    let err = matmul::dense_forward(&x, &w, None, false, matmul::Variant::Naive)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[2, 3]") && err.contains("[4, 5]"), "{err}");
    let huge = gpu.limits().max_buffer_size as usize; // bytes; as f32 elements this is 4x too big
    let err = Tensor::uninit(&gpu, &[huge], DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exceeds this device's largest buffer"),
        "{err}"
    );
    let big = (gpu.max_binding_bytes() / 4 + 1024) as usize;
    if (big as u64 * 4) <= gpu.limits().max_buffer_size {
        let a = Tensor::uninit(&gpu, &[big], DType::F32).unwrap();
        let err = ew::scale(&a, 2.0).unwrap_err().to_string();
        assert!(err.contains("largest storage binding"), "{err}");
    }
    assert!(Tensor::zeros(&gpu, &[3]).unwrap().reshape(&[2, 2]).is_err());
}

#[test]
fn adapter_is_reported() {
    let (adapters, chosen) = dak::Gpu::list_adapters();
    let chosen = chosen.expect(dak::gpu::NO_ADAPTER);
    assert!(!adapters[chosen].name.is_empty());
}

/// A variable that hides the installed driver is named in the error, not "install a driver".
#[test]
fn a_variable_that_hides_the_driver_is_named() {
    let dir = TempDir::new("hidden-adapter");
    let out = dir.path().join("m.safetensors");
    // A backend this machine does not have; a Vulkan driver list that names no file (with the
    // GL fallback ruled out, since wgpu would otherwise run on GL).
    let cases: [&[(&str, &str)]; 2] = [
        &[("WGPU_BACKEND", "metal")],
        &[
            ("VK_ICD_FILENAMES", "/nonexistent.json"),
            ("WGPU_BACKEND", "vulkan"),
        ],
    ];
    for vars in cases {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dak"))
            .args(["adapt", "--epochs", "1", "--limit", "8", "--out"])
            .arg(&out)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{vars:?}: {err}");
        for (var, value) in vars {
            assert!(err.contains(&format!("{var}={value}")), "{vars:?}: {err}");
        }
        assert!(!err.contains("apt-get install"), "{vars:?}: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn a_missing_mesa_cache_folder_prints_nothing_of_mesa() {
    // The shader cache pointed at a folder that does not exist yet (a checkout whose target/
    // lives elsewhere), and at one that cannot exist (under a file): no Mesa line reaches the
    // user; the first is created.
    let dir = TempDir::new("mesa-cache");
    let missing = dir.path().join("not/yet/mesa-cache");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    for cache in [missing.clone(), file.join("cache")] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dak"))
            .arg("devices")
            .env("MESA_SHADER_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{cache:?}: {err}");
        assert!(
            !err.contains("shader cache") && err.trim().is_empty(),
            "{cache:?}: {err}"
        );
    }
    assert!(missing.is_dir());
}
