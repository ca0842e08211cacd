//! WGSL sources: compiled into the binary from `shaders/`, or read at run time from
//! `DAK_SHADER_DIR` (same relative file names) so kernels can be edited without a rebuild.

use crate::{Error, Result};
use std::borrow::Cow;
use std::path::PathBuf;

macro_rules! builtin_shaders {
    ($($file:literal),* $(,)?) => {
        /// Every built-in shader file, relative to `shaders/`, with its source.
        pub const BUILTIN: &[(&str, &str)] = &[
            $(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file))),)*
        ];
    };
}

builtin_shaders!(
    "matmul/naive.wgsl",
    "matmul/tiled.wgsl",
    "matmul/sgbc_s8.wgsl",
    "matmul/sgbc_s16.wgsl",
    "matmul/sgbc_tex_s8.wgsl",
    "matmul/sgbc_tex_s16.wgsl",
    "matmul/pack_b.wgsl",
    "elementwise/bias_act.wgsl",
    "elementwise/bias_grad.wgsl",
    "elementwise/bias_grad_sg.wgsl",
    "elementwise/relu_grad.wgsl",
    "elementwise/add.wgsl",
    "elementwise/axpby.wgsl",
    "watch/first_bad.wgsl",
    "elementwise/dropout.wgsl",
    "loss/softmax_xent_fwd.wgsl",
    "loss/softmax_xent_bwd.wgsl",
    "loss/bce_fwd.wgsl",
    "loss/bce_bwd.wgsl",
    "loss/argmax_correct.wgsl",
    "loss/binary_correct.wgsl",
    "prob/softmax_t_fwd.wgsl",
    "prob/softmax_t_bwd.wgsl",
    "prob/entropy_fwd.wgsl",
    "prob/entropy_bwd.wgsl",
    "prob/entropy_weights.wgsl",
    "centroids/unit_rows.wgsl",
    "weight_norm/fwd.wgsl",
    "weight_norm/bwd.wgsl",
    "batch_norm/stats.wgsl",
    "batch_norm/normalize.wgsl",
    "batch_norm/grad_sums.wgsl",
    "batch_norm/grad_input.wgsl",
    "confusion/fwd.wgsl",
    "confusion/bwd.wgsl",
    "confusion/loss_fwd.wgsl",
    "confusion/loss_bwd.wgsl",
    "mmd/dist.wgsl",
    "mmd/dist_bwd.wgsl",
    "mmd/dist_gram.wgsl",
    "mmd/dist_sym.wgsl",
    "mmd/dist_bwd_gram.wgsl",
    "mmd/loss_fwd.wgsl",
    "mmd/loss_bwd.wgsl",
    "cdan/outer_fwd.wgsl",
    "cdan/outer_bwd.wgsl",
    "cdan/mul_const_fwd.wgsl",
    "cdan/mul_const_bwd.wgsl",
    "loss/bce_weighted_fwd.wgsl",
    "loss/bce_weighted_bwd.wgsl",
    "mdd/margin_fwd.wgsl",
    "mdd/margin_bwd.wgsl",
    "info_max/fwd.wgsl",
    "info_max/bwd.wgsl",
    "optim/sgd.wgsl",
    "optim/adam.wgsl",
    "optim/sgd_multi.wgsl",
    "optim/adam_multi.wgsl",
    "bench/fma.wgsl",
    "bench/copy.wgsl",
    "conv2d/fwd_direct.wgsl",
    "conv2d/dgrad_direct.wgsl",
    "conv2d/wgrad_direct.wgsl",
    "conv2d/wgrad_reduce.wgsl",
    "conv2d/fwd_igemm_tiled.wgsl",
    "conv2d/fwd_igemm_pool_tiled.wgsl",
    "conv2d/dgrad_igemm_tiled.wgsl",
    "conv2d/wgrad_splitk_tiled.wgsl",
    "conv2d/fwd_igemm_sgbc_s8.wgsl",
    "conv2d/fwd_igemm_sgbc_s16.wgsl",
    "conv2d/dgrad_igemm_sgbc_s8.wgsl",
    "conv2d/dgrad_igemm_sgbc_s16.wgsl",
    "conv2d/wgrad_splitk_sgbc_s8.wgsl",
    "conv2d/wgrad_splitk_sgbc_s16.wgsl",
    "conv2d/fwd_igemm_tex_s8.wgsl",
    "conv2d/fwd_igemm_tex_s16.wgsl",
    "conv2d/fwd_igemm_n4_tex_s8.wgsl",
    "conv2d/fwd_igemm_n4_tex_s16.wgsl",
    "conv2d/fwd_igemm_pool_tex_s8.wgsl",
    "conv2d/fwd_igemm_pool_tex_s16.wgsl",
    "conv2d/fwd_igemm_n4_pool_tex_s8.wgsl",
    "conv2d/fwd_igemm_n4_pool_tex_s16.wgsl",
    "conv2d/fwd_igemm_n4_bm_tex_s8.wgsl",
    "conv2d/fwd_igemm_n4_bm_tex_s16.wgsl",
    "conv2d/fwd_igemm_n6_tex_s8.wgsl",
    "conv2d/fwd_igemm_n6_tex_s16.wgsl",
    "conv2d/fwd_igemm_n6_pool_tex_s8.wgsl",
    "conv2d/fwd_igemm_n6_pool_tex_s16.wgsl",
    "conv2d/fwd_igemm_n2_tex_s8.wgsl",
    "conv2d/fwd_igemm_n2_tex_s16.wgsl",
    "conv2d/fwd_igemm_n2_pool_tex_s8.wgsl",
    "conv2d/fwd_igemm_n2_pool_tex_s16.wgsl",
    "conv2d/fwd_igemm_n2_bm_tex_s8.wgsl",
    "conv2d/fwd_igemm_n2_bm_tex_s16.wgsl",
    "conv2d/fwd_igemm_n3_tex_s8.wgsl",
    "conv2d/fwd_igemm_n3_tex_s16.wgsl",
    "conv2d/fwd_igemm_n3_pool_tex_s8.wgsl",
    "conv2d/fwd_igemm_n3_pool_tex_s16.wgsl",
    "conv2d/fwd_igemm_n3_bm_tex_s8.wgsl",
    "conv2d/fwd_igemm_n3_bm_tex_s16.wgsl",
    "conv2d/wgrad_splitk_tex_s8.wgsl",
    "conv2d/wgrad_splitk_tex_s16.wgsl",
    "conv2d/wgrad_splitk_m32_tex_s8.wgsl",
    "conv2d/wgrad_splitk_m32_tex_s16.wgsl",
    "conv2d/wgrad_splitk_m48_tex_s8.wgsl",
    "conv2d/wgrad_splitk_m48_tex_s16.wgsl",
    "conv2d/pack_input.wgsl",
    "conv2d/pack_input_x4.wgsl",
    "conv2d/pack_weight.wgsl",
    "conv2d/pack_dy.wgsl",
    "conv2d/wgrad_tex_reduce.wgsl",
    "pool/max_fwd.wgsl",
    "pool/max_bwd.wgsl",
    "pool/max_bwd_scatter.wgsl",
    "pool/max_relu_bwd_scatter.wgsl",
    "pool/max_relu_bwd_x4.wgsl",
    "pool/max_relu_grad_pairs.wgsl",
    "pool/max_relu_grad_pairs_x2.wgsl",
    "pool/gap_fwd.wgsl",
    "pool/gap_bwd.wgsl",
);

/// Directory that overrides the built-in shaders, if the user set one.
pub fn override_dir() -> Option<PathBuf> {
    std::env::var_os("DAK_SHADER_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The override directory (if one is set) and the built-in files it replaces, sorted. A
/// `.wgsl` file there that matches no built-in shader is an error: a misspelt name would
/// otherwise leave the built-in shader in use and a check of it "pass".
pub fn overrides() -> Result<Option<(PathBuf, Vec<String>)>> {
    let Some(dir) = override_dir() else {
        return Ok(None);
    };
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "DAK_SHADER_DIR {}: not a directory; point it at a copy of shaders/ or unset it",
            dir.display()
        )));
    }
    let mut found = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                let rel = path.strip_prefix(&dir).unwrap_or(&path);
                let name: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect();
                found.push(name.join("/"));
            }
        }
    }
    found.sort();
    if let Some(bad) = found.iter().find(|f| !BUILTIN.iter().any(|(b, _)| b == f)) {
        return Err(Error::input(format!(
            "shader override {}: `{bad}` matches no built-in shader (misspelt?); use the names `dak kernels list` shows, e.g. matmul/naive.wgsl",
            dir.display()
        )));
    }
    Ok(Some((dir, found)))
}

/// Source of shader `file` (e.g. `"matmul/naive.wgsl"`).
pub fn source(file: &str) -> Result<Cow<'static, str>> {
    if let Some(dir) = override_dir() {
        let path = dir.join(file);
        if path.exists() {
            return std::fs::read_to_string(&path)
                .map(Cow::Owned)
                .map_err(|e| Error::io(&path, e));
        }
    }
    BUILTIN
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, src)| Cow::Borrowed(*src))
        .ok_or_else(|| Error::runtime(format!("unknown shader file `{file}` (not built in)")))
}
