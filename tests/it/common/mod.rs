//! Shared helpers for the integration tests: a device, deterministic values, tolerances,
//! unique temporary directories and small test images.
#![allow(dead_code)]

pub mod onnx;
pub mod steps;

use dak::Gpu;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// One device per test binary. Fails (never skips) when no adapter exists.
pub fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(own_gpu).clone()
}

/// Runs `body` on the shared device and on a fresh one with the CPU-adapter paths turned off
/// (`Gpu::set_cpu_paths`), so kernels with a `MIRROR` override or a subgroup reduction are
/// checked on both their paths (CPU adapters take them by default; real GPUs never do).
pub fn with_cpu_and_portable_paths(body: impl Fn(&Gpu, &str)) {
    body(&gpu(), "default paths");
    let plain = own_gpu();
    plain.set_cpu_paths(false);
    body(&plain, "portable paths");
}

/// A fresh device for tests that count dispatches, submits or pipelines.
pub fn own_gpu() -> Gpu {
    static ENV: std::sync::Once = std::sync::Once::new();
    ENV.call_once(|| {
        // A `dak tune` cache on this machine must not change which kernels the tests run.
        std::env::set_var("DAK_NO_TUNE", "1");
        // Keep Mesa's shader cache inside target/ unless the caller chose a place.
        if std::env::var_os("MESA_SHADER_CACHE_DIR").is_none() {
            std::env::set_var(
                "MESA_SHADER_CACHE_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
            );
        }
    });
    Gpu::new().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the `dak` binary with `args` (Mesa's shader cache inside target/).
pub fn dak(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dak"))
        .args(args)
        .env(
            "MESA_SHADER_CACHE_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
        )
        .output()
        .expect("run dak")
}

/// Runs `dak args` and checks the refusal: exit code 2 and one line on stderr holding every
/// needle.
pub fn refused_with(args: &[&str], needles: &[&str]) {
    let o = dak(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in: {err}");
    }
}

/// The JSON objects of a JSONL file, one per line.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Deterministic values in [-1, 1) (xorshift; tests need no RNG crate).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Assert `got` matches `want` within `tol` (absolute + relative), naming the first mismatch.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= tol * (1.0 + w.abs()) && g.is_finite() == w.is_finite(),
            "{what}: first mismatch at index {i}: got {g}, want {w} (tol {tol})"
        );
    }
}

/// Tolerance for a reduction of length `k` in f32.
pub fn tol_for(k: usize) -> f32 {
    1e-5 * (k as f32).sqrt().max(1.0) * 4.0
}

/// A unique directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "dak-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small image whose pixels encode their coordinates and a tag.
pub fn pattern(w: u32, h: u32, tag: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 7 % 256) as u8, (y * 11 % 256) as u8, tag])
    })
}

/// Writes `img` to `path` (format from the extension), creating parent folders.
pub fn save(path: &Path, img: &RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

/// A class-per-folder training set: 3 classes (`cat`, `dog`, `owl`) x 6 PNGs of 40x36 (resized
/// to 32 by the transforms), each class its own colour pattern.
pub fn class_folders(root: &Path) {
    for (c, name) in ["cat", "dog", "owl"].iter().enumerate() {
        for i in 0..6 {
            let img = RgbImage::from_fn(40, 36, |x, y| {
                let v = ((x as usize * (c + 1) + y as usize * (i + 2)) % 256) as u8;
                let mut px = [v / 4; 3];
                px[c] = 200u8.saturating_add(v / 8);
                Rgb(px)
            });
            save(&root.join(name).join(format!("{i}.png")), &img);
        }
    }
}

/// Source and target trees of 3 classes x 6 images (the target a colour negative), and the
/// target again with its labels rotated (cat -> dog -> owl -> cat) for the shuffled test set.
pub fn negative_target_trees(root: &Path) {
    class_folders(&root.join("src"));
    for (i, name) in ["cat", "dog", "owl"].iter().enumerate() {
        let shuffled = ["dog", "owl", "cat"][i];
        for entry in std::fs::read_dir(root.join("src").join(name)).unwrap() {
            let path = entry.unwrap().path();
            let img = image::open(&path).unwrap().to_rgb8();
            let neg = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
                image::Rgb(img.get_pixel(x, y).0.map(|p| 255 - p))
            });
            let file = path.file_name().unwrap();
            save(&root.join("tgt").join(name).join(file), &neg);
            save(&root.join("tgt-shuffled").join(shuffled).join(file), &neg);
        }
    }
}

/// Writes bytes to `path`, creating parent folders.
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Check `analytic` = d/dθ Σ_j up_j·f(θ)_j by central differences on every coordinate.
pub fn fd_check(
    theta: &[f32],
    analytic: &[f32],
    up: &[f32],
    f: impl Fn(&[f32]) -> Vec<f32>,
    what: &str,
) {
    let eps = 1e-2f32;
    for i in 0..theta.len() {
        let mut p = theta.to_vec();
        p[i] += eps;
        let plus: f64 = f(&p)
            .iter()
            .zip(up)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        p[i] -= 2.0 * eps;
        let minus: f64 = f(&p)
            .iter()
            .zip(up)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let numeric = (plus - minus) / (2.0 * eps as f64);
        let err = (numeric - analytic[i] as f64).abs();
        assert!(
            err <= 2e-3 * (1.0 + numeric.abs()),
            "{what}: coordinate {i}: numeric {numeric}, analytic {}",
            analytic[i]
        );
    }
}

/// Writes f32 tensors `(name, shape, values)` as a safetensors file (weights fixtures).
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    write_safetensors_with(path, tensors, None);
}

/// [`write_safetensors`] with `__metadata__` (e.g. a dak model's description).
pub fn write_safetensors_with(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: Option<std::collections::HashMap<String, String>>,
) {
    let views: Vec<_> = tensors
        .iter()
        .map(|(name, shape, vals)| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                shape.clone(),
                bytemuck::cast_slice(vals),
            )
            .unwrap();
            (name.clone(), view)
        })
        .collect();
    write(path, &safetensors::serialize(views, metadata).unwrap());
}

/// Loss and parameter gradients of one tape built on `params`.
pub type LossAndGrads = (
    f64,
    std::collections::BTreeMap<dak::autograd::ParamId, dak::Tensor>,
);

/// Checks every parameter's gradient that `run` returns against central differences of its
/// loss (step `h` on each coordinate, relative tolerance `tol`); `what` names the case.
pub fn check_param_grads(
    params: &dak::autograd::Params,
    run: impl Fn(&dak::autograd::Params) -> LossAndGrads,
    h: f32,
    tol: f64,
    what: &str,
) {
    let (_, grads) = run(params);
    for (id, p) in params.iter() {
        let host = p.value.to_vec().unwrap();
        let g = grads[&id].to_vec().unwrap();
        for i in 0..host.len() {
            let mut v = host.clone();
            v[i] += h;
            p.value.write(&v).unwrap();
            let plus = run(params).0;
            v[i] -= 2.0 * h;
            p.value.write(&v).unwrap();
            let minus = run(params).0;
            p.value.write(&host).unwrap();
            let numeric = (plus - minus) / (2.0 * h as f64);
            assert!(
                (numeric - g[i] as f64).abs() < tol * (1.0 + numeric.abs()),
                "{what}: {}[{i}]: {numeric} vs {}",
                p.name,
                g[i]
            );
        }
    }
}

/// The values the NumPy fixture generators (`scripts/*_numpy_fixture.py`) make: murmur3's 32-bit
/// finaliser of (i + salt * golden), scaled to [-bound, bound) in f64 and rounded to f32.
pub fn hashed(salt: u64, n: usize, bound: f64) -> Vec<f32> {
    let offset = salt.wrapping_mul(0x9E37_79B9) & 0xFFFF_FFFF;
    (0..n as u64)
        .map(|i| {
            let mut h = ((i + offset) & 0xFFFF_FFFF) as u32;
            h ^= h >> 16;
            h = h.wrapping_mul(0x85EB_CA6B);
            h ^= h >> 13;
            h = h.wrapping_mul(0xC2B2_AE35);
            h ^= h >> 16;
            ((h as f64 / 4_294_967_296.0 - 0.5) * (2.0 * bound)) as f32
        })
        .collect()
}

/// Probabilities of `rows` x `classes` (softmax of seeded logits).
pub fn probs(rows: usize, classes: usize, seed: u64) -> Vec<f32> {
    let z: Vec<f32> = values(rows * classes, seed)
        .iter()
        .map(|v| 3.0 * v)
        .collect();
    dak::ops::prob::reference::softmax_t(&z, classes, 1.0)
}
