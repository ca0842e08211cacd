//! DAK_SHADER_DIR is process-wide, so this test has a binary of its own.
#[path = "it/common/mod.rs"]
mod common;
use common::own_gpu;
use dak::ops::elementwise as ew;
use dak::Tensor;

#[test]
fn a_broken_override_shader_names_its_file() {
    let dir = std::env::temp_dir().join(format!("dak-shader-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("elementwise")).unwrap();
    std::fs::write(dir.join("elementwise/axpby.wgsl"), "this is not wgsl\n").unwrap();
    std::env::set_var("DAK_SHADER_DIR", &dir);
    let gpu = own_gpu();
    let x = Tensor::zeros(&gpu, &[3]).unwrap();
    let result = ew::scale(&x, 2.0);
    std::env::remove_var("DAK_SHADER_DIR");
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("axpby.wgsl") && err.contains("failed to compile"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
