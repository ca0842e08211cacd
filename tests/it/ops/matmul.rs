//! GEMM: every variant against the CPU reference on the op's case list, and the texture
//! variant's packed-operand reuse.
use crate::common::*;
use dak::ops::matmul::{self, reference, Gemm, Variant};
use dak::Tensor;

fn check(variant: Variant, g: Gemm, with_bias: bool, seed: u64) {
    let gpu = gpu();
    let a = values(g.m * g.k, seed);
    let b = values(g.k * g.n, seed + 1);
    let bias = values(g.n, seed + 2);
    let ta = Tensor::from_slice(&gpu, &a, &[a.len()]).unwrap();
    let tb = Tensor::from_slice(&gpu, &b, &[b.len()]).unwrap();
    let tbias = Tensor::from_slice(&gpu, &bias, &[g.n]).unwrap();
    let c = matmul::gemm(&ta, &tb, with_bias.then_some(&tbias), g, variant).unwrap();
    let want = reference::gemm(&a, &b, with_bias.then_some(&bias[..]), g);
    assert_close(
        &c.to_vec().unwrap(),
        &want,
        tol_for(g.k),
        &format!("{} {g:?}", variant.id()),
    );
}

fn variants() -> Vec<Variant> {
    let gpu = gpu();
    Variant::ALL
        .into_iter()
        .filter(|v| v.supported(&gpu))
        .collect()
}

/// Every variant on the op's awkward shapes (`matmul::reference::CASES`, which `dak kernels
/// check` runs too). Each form is its own pipeline; the big unrolled kernels take seconds to
/// compile on a cold shader cache.
#[test]
fn every_variant_matches_reference_on_awkward_shapes() {
    for v in variants() {
        for (i, c) in reference::CASES.iter().enumerate() {
            check(v, c.gemm, c.bias, 1 + i as u64);
        }
    }
}

/// The texture variant keeps packed operands while their tensors are unchanged: an unchanged
/// weight is packed once, the same features feed two layers' GEMMs with one pack, and any
/// write to an operand (host upload, in-place kernel) packs it again.
#[test]
fn packed_dense_operands_are_reused_until_the_tensor_changes() {
    let gpu = own_gpu();
    let v = Variant::SubgroupTexture;
    if !v.supported(&gpu) {
        assert!(!gpu.is_cpu(), "CPU adapters run the texture variant");
        return;
    }
    let (batch, inp, out) = (33, 70, 9); // not multiples of the tiles
    let x_host = values(batch * inp, 51);
    let mut w_host = values(out * inp, 52);
    let w2_host = values(out * inp, 53);
    let x = Tensor::from_slice(&gpu, &x_host, &[batch, inp]).unwrap();
    let w = Tensor::from_slice(&gpu, &w_host, &[out, inp]).unwrap();
    let w2 = Tensor::from_slice(&gpu, &w2_host, &[out, inp]).unwrap();
    let tol = tol_for(inp);
    let fwd = |w: &Tensor, w_host: &[f32], what: &str| {
        let y = matmul::dense_forward(&x, w, None, false, v).unwrap();
        let want = reference::dense_forward(&x_host, w_host, None, batch, inp, out);
        assert_close(&y.to_vec().unwrap(), &want, tol, what);
        gpu.derived_stats()
    };
    let (h0, m0) = gpu.derived_stats();
    let first = fwd(&w, &w_host, "first forward");
    assert_eq!((first.0 - h0, first.1 - m0), (0, 2), "x and w packed");
    let second = fwd(&w2, &w2_host, "second layer on the same features");
    assert_eq!(
        (second.0 - h0, second.1 - m0),
        (1, 3),
        "x reused, w2 packed"
    );
    let third = fwd(&w, &w_host, "first layer again");
    assert_eq!((third.0 - h0, third.1 - m0), (3, 3), "x and w reused");

    // A host write and an in-place kernel each make w's packed copy stale.
    w_host.iter_mut().for_each(|v| *v = -*v);
    w.write(&w_host).unwrap();
    let after_write = fwd(&w, &w_host, "after a host write");
    assert_eq!((after_write.0 - h0, after_write.1 - m0), (4, 4));
    let ones = Tensor::from_slice(&gpu, &vec![1.0; out * inp], &[out, inp]).unwrap();
    dak::ops::elementwise::axpby(0.5, &ones, 1.0, &w).unwrap();
    w_host.iter_mut().for_each(|v| *v += 0.5);
    let after_kernel = fwd(&w, &w_host, "after an in-place kernel");
    assert_eq!((after_kernel.0 - h0, after_kernel.1 - m0), (5, 5));

    // The weight gradients of both layers read x the same way: one pack between them.
    let dy = Tensor::from_slice(&gpu, &values(batch * out, 54), &[batch, out]).unwrap();
    let dw = matmul::dense_backward_weight(&dy, &x, v).unwrap();
    let dw2 = matmul::dense_backward_weight(&dy, &x, v).unwrap();
    let (_, want_dw, _) =
        reference::dense_backward(&x_host, &w_host, &dy.to_vec().unwrap(), batch, inp, out);
    assert_close(&dw.to_vec().unwrap(), &want_dw, tol_for(batch), "dW");
    assert_close(&dw2.to_vec().unwrap(), &want_dw, tol_for(batch), "dW again");
    let (h, m) = gpu.derived_stats();
    assert_eq!(
        (h - h0, m - m0),
        (5 + 2, 5 + 2),
        "x and dy packed once, reused once"
    );
}
