//! CDAN's and CDAN+E's steps against the f64 reference: the conditional domain head on the
//! outer product of features and predictions (or the randomized map), entropy-weighted for
//! CDAN+E; the randomized map against a dense reference; `dak adapt --method cdan-e` end to
//! end.
use super::*;
use crate::common::steps::*;
use crate::common::*;
use dak::autograd::Tape;
use dak::models::Dann;
use dak::train::adapt::methods::cdan;
use dak::train::adapt::methods::cdan as method;
use dak::train::adapt::MethodState;
use dak::Tensor;

/// CDAN's multilinear map of the features `f` [rows, DIM] and the fixed predictions `g`
/// [rows, classes]: the flattened outer product g ⊗ f, or with `random` = (R_fᵀ [d, DIM],
/// R_g [classes, d]) the map (f·R_f) ⊙ (g·R_g) / √d.
fn multilinear(
    f: &[f64],
    g: &[f64],
    classes: usize,
    random: Option<&(Vec<f64>, Vec<f64>)>,
) -> Vec<f64> {
    let rows = f.len() / DIM;
    let Some((rf_t, rg)) = random else {
        return (0..rows)
            .flat_map(|b| {
                (0..classes * DIM).map(move |i| g[b * classes + i / DIM] * f[b * DIM + i % DIM])
            })
            .collect();
    };
    let d = cdan::RANDOM_DIM;
    let mut h = vec![0.0; rows * d];
    for b in 0..rows {
        for j in 0..d {
            let a: f64 = (0..DIM).map(|i| f[b * DIM + i] * rf_t[j * DIM + i]).sum();
            let e: f64 = (0..classes)
                .map(|c| g[b * classes + c] * rg[c * d + j])
                .sum();
            h[b * d + j] = a * e / (d as f64).sqrt();
        }
    }
    h
}

#[test]
fn cdan_steps_match_the_reference_with_both_maps() {
    // 3 classes: the outer product (2304 wide); 10 classes: the randomized map.
    for (name, classes) in [("cdan", 3), ("cdan-e", 3), ("cdan-e", 10)] {
        let (rows, ns) = (5, 3);
        let s = setup_with(name, rows, ns, classes);
        let f0: Vec<f64> = s.features.iter().map(|&v| v as f64).collect();
        let w0 = Weights::of(&s.model);
        // Detached at the base point: the predictions and CDAN+E's entropy weights.
        let g = softmax(&w0.mlp("label", &f0, rows), classes, 1.0);
        let weights = match name {
            "cdan-e" => entropy_weights(&g, classes),
            _ => vec![1.0; rows],
        };
        let random = cdan::randomized(DIM, classes).then(|| {
            let r = |k: &str| -> Vec<f64> {
                let v = s.state.get(k).unwrap().to_vec().unwrap();
                v.iter().map(|&x| x as f64).collect()
            };
            (r(cdan::RF), r(cdan::RG))
        });
        assert_eq!(random.is_some(), classes == 10);
        let loss = |f: &[f64], w: &Weights| {
            let (_, ce) = label_loss(f, w, rows, &s.labels);
            let h = multilinear(f, &g, classes, random.as_ref());
            let bce = domain_bce(&w.mlp(cdan::HEAD, &h, rows), ns);
            let dom: f64 = bce.iter().zip(&weights).map(|(l, w)| l * w).sum();
            (ce, dom / rows as f64)
        };
        let mut expect = label_params();
        for p in domain_params() {
            expect.push(Box::leak(
                p.replacen("domain", cdan::HEAD, 1).into_boxed_str(),
            ));
        }
        check_step(
            &s.model,
            s.method,
            &s.state,
            &s.features,
            DIM,
            &s.labels,
            LAMBDA,
            &loss,
            &expect,
        );
    }
}

/// A method state with R_fᵀ [d, dim] and R_g [classes, d] from `values`.
fn random_state(gpu: &dak::Gpu, dim: usize, classes: usize) -> (MethodState, Vec<f32>, Vec<f32>) {
    let d = method::RANDOM_DIM;
    let rf_t = values(d * dim, 41);
    let rg = values(classes * d, 42);
    let mut state = MethodState::default();
    state.insert(
        method::RF,
        Tensor::from_slice(gpu, &rf_t, &[d, dim]).unwrap(),
    );
    state.insert(
        method::RG,
        Tensor::from_slice(gpu, &rg, &[classes, d]).unwrap(),
    );
    (state, transpose(&rf_t, d, dim), rg)
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}

#[test]
fn randomized_map_matches_dense_reference() {
    let gpu = gpu();
    let d = method::RANDOM_DIM;
    for &(rows, classes, dim) in &[(1, 1, 4097), (3, 10, 768), (2, 2, 4097)] {
        assert!(method::randomized(dim, classes));
        let what = format!("{rows} rows, {classes} classes, {dim} features");
        let (state, rf, rg) = random_state(&gpu, dim, classes);
        let f: Vec<f32> = values(rows * dim, 43).iter().map(|v| 0.1 * v).collect();
        let g = probs(rows, classes, 44);
        let tg = Tensor::from_slice(&gpu, &g, &[rows, classes]).unwrap();
        let mut tape = Tape::new();
        let fv = tape.input(Tensor::from_slice(&gpu, &f, &[rows, dim]).unwrap());
        let h = method::multilinear_map(&mut tape, fv, &tg, &state).unwrap();
        let want = randomized_map(&f, &g, &rf, &rg, (dim, classes, d));
        assert_close(&tape.tensor(h).to_vec().unwrap(), &want, 1e-4, &what);
    }
    // At most 4096 wide, the map is the plain outer product.
    assert!(!method::randomized(768, 3) && method::map_width(768, 3) == 2304);
    assert_eq!(method::map_width(768, 10), d);
}

#[test]
fn adapt_cdan_e_end_to_end() {
    let dir = TempDir::new("cdan-e");
    let root = dir.path();
    class_folders(&root.join("src"));
    class_folders(&root.join("tgt"));
    let p = |s: &str| root.join(s).to_str().unwrap().to_string();
    let (out, metrics) = (p("m.safetensors"), p("m.jsonl"));
    let (src, tgt) = (p("src"), p("tgt"));
    let args = [
        "adapt",
        "--source",
        &src,
        "--target",
        &tgt,
        "--method",
        "cdan-e",
        "--epochs",
        "2",
        "--batch",
        "4",
        "--score-samples",
        "6",
        "--no-pad",
        "--workers",
        "1",
        "--out",
        &out,
        "--metrics",
        &metrics,
    ];
    let o = dak(&args);
    assert!(
        o.status.success(),
        "dak adapt --method cdan-e failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = read_jsonl(std::path::Path::new(&metrics));
    let epochs: Vec<_> = lines.iter().filter(|v| v["type"] == "epoch").collect();
    assert_eq!(epochs.len(), 2, "{lines:?}");
    for e in epochs {
        assert_eq!(e["method"], "cdan-e");
        let d = e["domain_loss"].as_f64().unwrap();
        assert!(d.is_finite() && d > 0.0, "{e}");
        let a = e["adapt_loss"].as_f64().unwrap();
        assert!((a - d).abs() < 1e-5 * (1.0 + d), "{e}");
    }
    // The conditional head is saved with the model.
    let model = Dann::load(&gpu(), &out).unwrap();
    assert!(model.head(method::HEAD).is_ok());
}

/// The randomized multilinear map `(f·R_f) ⊙ (g·R_g) / √d` with `R_f` [dim, d] and `R_g`
/// [classes, d] (row-major), written out directly.
fn randomized_map(
    f: &[f32],
    g: &[f32],
    rf: &[f32],
    rg: &[f32],
    (dim, classes, d): (usize, usize, usize),
) -> Vec<f32> {
    let rows = f.len() / dim;
    let scale = 1.0 / (d as f64).sqrt();
    let mut h = Vec::with_capacity(rows * d);
    for b in 0..rows {
        for k in 0..d {
            let a: f64 = (0..dim)
                .map(|j| f[b * dim + j] as f64 * rf[j * d + k] as f64)
                .sum();
            let e: f64 = (0..classes)
                .map(|c| g[b * classes + c] as f64 * rg[c * d + k] as f64)
                .sum();
            h.push((a * e * scale) as f32);
        }
    }
    h
}
