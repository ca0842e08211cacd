mod common;
use common::*;
use dak::ops::matmul::{self, reference, Gemm, Variant};
use dak::Tensor;

const SIZES: [usize; 10] = [1, 3, 7, 31, 33, 63, 65, 127, 129, 2];

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

#[test]
fn every_variant_matches_reference_on_awkward_shapes() {
    for v in variants() {
        let mut seed = 1;
        for (i, &m) in SIZES.iter().enumerate() {
            let n = SIZES[(i + 3) % SIZES.len()];
            let k = SIZES[(i + 6) % SIZES.len()];
            // The three forms dense layers use (each form is its own pipeline; the big unrolled
            // kernels take seconds to compile on a cold shader cache).
            for (trans_a, trans_b) in [(false, false), (false, true), (true, false)] {
                let relu = seed % 3 == 0;
                check(
                    v,
                    Gemm {
                        m,
                        n,
                        k,
                        trans_a,
                        trans_b,
                        relu,
                    },
                    seed % 2 == 0,
                    seed,
                );
                seed += 1;
            }
        }
    }
}

#[test]
fn skinny_and_square_shapes() {
    for v in variants() {
        for (m, n, k) in [
            (1, 1, 1),
            (1, 129, 65),
            (129, 1, 33),
            (64, 128, 64),
            (33, 65, 200),
            (2, 10, 300),
        ] {
            check(
                v,
                Gemm {
                    m,
                    n,
                    k,
                    trans_a: false,
                    trans_b: true,
                    relu: true,
                },
                true,
                (m * n + k) as u64,
            );
        }
    }
}

/// Operands longer than two rows of a texture mirror (16,384 floats per row on lavapipe), with a
/// partial last row, in every operand form: the texture variant's buffer-to-texture copies.
#[test]
fn operands_spanning_several_mirror_rows() {
    let gpu = gpu();
    let v = Variant::default_for(&gpu);
    for (trans_a, trans_b) in [(false, true), (true, false), (false, false)] {
        check(
            v,
            Gemm {
                m: 70,
                n: 67,
                k: 515,
                trans_a,
                trans_b,
                relu: false,
            },
            false,
            7,
        );
    }
}
