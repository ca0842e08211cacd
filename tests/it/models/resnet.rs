//! ResNet training with BatchNorm against a plain-Rust reference built from the ops' own
//! oracles (convolution, BN, pooling) composed by hand: one training step of small basic-block
//! and bottleneck ResNets (a downsampling and an identity shortcut each) with BN in training
//! mode gives every parameter's gradient and the moved running statistics. Also: a frozen base
//! runs forward kernels only and no BN kernel; evaluation runs the folded network and equals
//! BN with the running statistics; a saved model loads back to the same predictions.
use crate::common::steps;
use crate::common::*;
use dak::autograd::{Params, Tape};
use dak::models::classifier::{Base, BaseKind, Classifier, Freeze, HeadConfig};
use dak::models::resnet::{BlockKind, BnMode, ConvSite, ResNetConfig};
use dak::models::Model;
use dak::ops::batch_norm::{self, reference as bn_ref};
use dak::ops::conv2d::{reference as conv_ref, Geometry, Spec};
use dak::ops::pool::{reference as pool_ref, PoolGeometry};
use dak::Tensor;
use std::collections::BTreeMap;
use steps::{cross_entropy, softmax};

const BATCH: usize = 2;
const SIDE: usize = 64;
const CLASSES: usize = 3;

fn basic() -> ResNetConfig {
    ResNetConfig {
        block: BlockKind::Basic,
        depths: [2, 1, 1, 1],
        stem: 4,
        widths: [4, 6, 8, 8],
        outputs: [4, 6, 8, 8],
    }
}

fn bottleneck() -> ResNetConfig {
    ResNetConfig {
        block: BlockKind::Bottleneck,
        depths: [1, 2, 1, 1],
        stem: 4,
        widths: [2, 3, 4, 4],
        outputs: [8, 8, 12, 16],
    }
}

fn head() -> HeadConfig {
    HeadConfig {
        hidden: 6,
        dropout: 0.0,
        classes: CLASSES,
    }
}

/// A model with every parameter and running statistic set to seeded values (γ near 1,
/// variances positive), so no BN is the identity.
fn model(gpu: &dak::Gpu, config: ResNetConfig) -> Classifier {
    let m = Classifier::new_on(gpu, BaseKind::ResNet(config), head(), 3).unwrap();
    let names: Vec<(String, usize)> = m
        .params
        .iter()
        .map(|(_, p)| (p.name.clone(), p.value.numel()))
        .collect();
    for (i, (name, n)) in names.iter().enumerate() {
        let v = values(*n, 100 + i as u64);
        let v: Vec<f32> = if name.ends_with("running_var") {
            v.iter().map(|x| 0.5 + x.abs()).collect()
        } else if name.contains(".bn") || name.starts_with("bn1") || name.contains("downsample.1") {
            if name.ends_with(".weight") {
                v.iter().map(|x| 1.0 + 0.3 * x).collect()
            } else {
                v.iter().map(|x| 0.2 * x).collect()
            }
        } else {
            v.iter().map(|x| 0.4 * x).collect()
        };
        let id = m.params.find(name).unwrap();
        m.params.get(id).value.write(&v).unwrap();
    }
    m.base_changed();
    m
}

/// Host copies of every parameter.
fn host(params: &Params) -> BTreeMap<String, Vec<f32>> {
    params
        .iter()
        .map(|(_, p)| (p.name.clone(), p.value.to_vec().unwrap()))
        .collect()
}

/// What the reference keeps of one convolution + BN for its backward.
struct Saved {
    x: Vec<f32>,
    g: Geometry,
    z: Vec<f32>,
    mean: Vec<f64>,
    var: Vec<f64>,
    y: Vec<f32>,
    relu: bool,
}

struct Reference<'a> {
    p: &'a BTreeMap<String, Vec<f32>>,
    grads: BTreeMap<String, Vec<f64>>,
    running: BTreeMap<String, Vec<f32>>,
}

impl Reference<'_> {
    fn conv_bn(
        &mut self,
        s: &ConvSite,
        x: &[f32],
        xs: [usize; 4],
        relu: bool,
    ) -> (Vec<f32>, [usize; 4], Saved) {
        let w = &self.p[&format!("{}.weight", s.conv)];
        let ws = [s.outputs, s.inputs, s.kernel, s.kernel];
        let g = Geometry::new(&xs, &ws, Spec::new(s.stride, s.padding), "reference").unwrap();
        let z = conv_ref::forward(&g, x, w, None, false);
        let zs = g.y_shape();
        let (mean, var) = bn_ref::stats(&z, &zs);
        let get = |t: &str| &self.p[&format!("{}.{t}", s.bn)];
        let mut y = bn_ref::normalize(
            &z,
            &zs,
            &mean,
            &var,
            get("weight"),
            get("bias"),
            batch_norm::EPS,
        );
        if relu {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        let (rm, rv) = bn_ref::running_update(
            &z,
            &zs,
            get("running_mean"),
            get("running_var"),
            batch_norm::MOMENTUM,
        );
        self.running.insert(format!("{}.running_mean", s.bn), rm);
        self.running.insert(format!("{}.running_var", s.bn), rv);
        let saved = Saved {
            x: x.to_vec(),
            g,
            z,
            mean,
            var,
            y: y.clone(),
            relu,
        };
        (y, zs, saved)
    }

    fn conv_bn_back(&mut self, s: &ConvSite, dy: &[f32], saved: &Saved) -> Vec<f32> {
        let dy: Vec<f32> = if saved.relu {
            dy.iter()
                .zip(&saved.y)
                .map(|(&d, &y)| if y > 0.0 { d } else { 0.0 })
                .collect()
        } else {
            dy.to_vec()
        };
        let gamma = &self.p[&format!("{}.weight", s.bn)];
        let zs = saved.g.y_shape();
        let (dz, dgamma, dbeta) = bn_ref::backward(
            &dy,
            &saved.z,
            &zs,
            &saved.mean,
            &saved.var,
            gamma,
            batch_norm::EPS,
            true,
        );
        self.add(&format!("{}.weight", s.bn), &dgamma);
        self.add(&format!("{}.bias", s.bn), &dbeta);
        let w = &self.p[&format!("{}.weight", s.conv)];
        let dw = conv_ref::backward_weight(&saved.g, &dz, &saved.x);
        self.add(&format!("{}.weight", s.conv), &dw);
        conv_ref::backward_input(&saved.g, &dz, w)
    }

    fn add(&mut self, name: &str, g: &[f32]) {
        let e = self
            .grads
            .entry(name.to_string())
            .or_insert_with(|| vec![0.0; g.len()]);
        e.iter_mut().zip(g).for_each(|(a, &b)| *a += b as f64);
    }
}

fn dense(x: &[f32], w: &[f32], b: &[f32], rows: usize, inputs: usize, relu: bool) -> Vec<f32> {
    let outputs = b.len();
    let mut y = vec![0f32; rows * outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let mut acc = b[o] as f64;
            for i in 0..inputs {
                acc += x[r * inputs + i] as f64 * w[o * inputs + i] as f64;
            }
            y[r * outputs + o] = if relu { acc.max(0.0) } else { acc } as f32;
        }
    }
    y
}

/// Gradients of (x, W, b) of `dense` given `dy` (already masked by the ReLU).
fn dense_back(
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    inputs: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let outputs = dy.len() / rows;
    let mut dx = vec![0f64; rows * inputs];
    let mut dw = vec![0f64; outputs * inputs];
    let mut db = vec![0f64; outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let d = dy[r * outputs + o] as f64;
            db[o] += d;
            for i in 0..inputs {
                dx[r * inputs + i] += d * w[o * inputs + i] as f64;
                dw[o * inputs + i] += d * x[r * inputs + i] as f64;
            }
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    (f(dx), f(dw), f(db))
}

/// The loss, every parameter's gradient and the moved running statistics of one step.
type Step = (f64, BTreeMap<String, Vec<f64>>, BTreeMap<String, Vec<f32>>);

/// [`Step`] of one training step, computed on the host.
fn reference_step(
    config: &ResNetConfig,
    p: &BTreeMap<String, Vec<f32>>,
    x: &[f32],
    labels: &[u32],
) -> Step {
    let mut r = Reference {
        p,
        grads: BTreeMap::new(),
        running: BTreeMap::new(),
    };
    let xs = [BATCH, 3, SIDE, SIDE];
    let stem = config.stem_site();
    let (h, hs, stem_saved) = r.conv_bn(&stem, x, xs, true);
    let pg = PoolGeometry::padded(&hs, 3, 2, 1, "reference").unwrap();
    let (mut h, arg) = pool_ref::max_pool2d(&pg, &h);
    let mut hs = pg.y_shape();
    let mut blocks = Vec::new();
    for b in config.blocks() {
        let (input, input_shape) = (h.clone(), hs);
        let mut saved = Vec::new();
        let last = b.convs.len() - 1;
        for (i, s) in b.convs.iter().enumerate() {
            let (y, ys, sv) = r.conv_bn(s, &h, hs, i < last);
            saved.push(sv);
            h = y;
            hs = ys;
        }
        let (short, short_saved) = match &b.downsample {
            Some(d) => {
                let (y, _, sv) = r.conv_bn(d, &input, input_shape, false);
                (y, Some(sv))
            }
            None => (input, None),
        };
        h = h
            .iter()
            .zip(&short)
            .map(|(a, b)| (a + b).max(0.0))
            .collect();
        blocks.push((b, saved, short_saved, h.clone()));
    }
    let hw = hs[2] * hs[3];
    let feats = pool_ref::global_avg_pool(&h, hw);
    let f = hs[1];
    let hidden = head().hidden;
    let a1 = dense(
        &feats,
        &p["head.fc1.weight"],
        &p["head.fc1.bias"],
        BATCH,
        f,
        true,
    );
    let z = dense(
        &a1,
        &p["head.fc2.weight"],
        &p["head.fc2.bias"],
        BATCH,
        hidden,
        false,
    );
    let probs = softmax(
        &z.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        CLASSES,
        1.0,
    );
    let loss = cross_entropy(
        &z.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        CLASSES,
        labels,
    );
    let dz: Vec<f32> = probs
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let hot = if labels[i / CLASSES] as usize == i % CLASSES {
                1.0
            } else {
                0.0
            };
            ((q - hot) / BATCH as f64) as f32
        })
        .collect();
    let (da1, dw2, db2) = dense_back(&dz, &a1, &p["head.fc2.weight"], BATCH, hidden);
    r.add("head.fc2.weight", &dw2);
    r.add("head.fc2.bias", &db2);
    let dh1: Vec<f32> = da1
        .iter()
        .zip(&a1)
        .map(|(&d, &a)| if a > 0.0 { d } else { 0.0 })
        .collect();
    let (dfeats, dw1, db1) = dense_back(&dh1, &feats, &p["head.fc1.weight"], BATCH, f);
    r.add("head.fc1.weight", &dw1);
    r.add("head.fc1.bias", &db1);
    let mut dh = pool_ref::global_avg_pool_backward(&dfeats, hw);
    for (b, saved, short_saved, out) in blocks.into_iter().rev() {
        let d: Vec<f32> = dh
            .iter()
            .zip(&out)
            .map(|(&d, &o)| if o > 0.0 { d } else { 0.0 })
            .collect();
        let mut dmain = d.clone();
        for (s, sv) in b.convs.iter().zip(&saved).rev() {
            dmain = r.conv_bn_back(s, &dmain, sv);
        }
        let dshort = match (&b.downsample, &short_saved) {
            (Some(ds), Some(sv)) => r.conv_bn_back(ds, &d, sv),
            _ => d,
        };
        dh = dmain.iter().zip(&dshort).map(|(a, b)| a + b).collect();
    }
    let dh = pool_ref::max_pool2d_backward(&pg, &dh, &arg);
    r.conv_bn_back(&stem, &dh, &stem_saved);
    (loss, r.grads, r.running)
}

fn close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let peak = want.iter().fold(1e-6f64, |m, w| m.max(w.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (g, w)| m.max((*g as f64 - w).abs()));
    assert!(
        err <= 2e-3 * peak,
        "{what}: max error {err:.3e}, peak {peak:.3e}"
    );
}

fn check_training_step(config: ResNetConfig) {
    let gpu = gpu();
    let model = model(&gpu, config);
    let before = host(&model.params);
    let x = values(BATCH * 3 * SIDE * SIDE, 7);
    let labels = [2u32, 0];
    let (loss, grads, running) = reference_step(&config, &before, &x, &labels);

    let mut tape = Tape::new();
    let xv = tape.input(Tensor::from_slice(&gpu, &x, &[BATCH, 3, SIDE, SIDE]).unwrap());
    let z = model.forward(&mut tape, xv, true, 0).unwrap();
    let y = Tensor::from_u32(&gpu, &labels, &[BATCH]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0; BATCH], &[BATCH]).unwrap();
    let l = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
    let got_loss = tape.tensor(l).to_vec().unwrap()[0] as f64;
    let got = tape.backward(&[l]).unwrap();
    assert!(
        (got_loss - loss).abs() <= 1e-4 * loss.abs().max(1.0),
        "loss {got_loss} vs {loss}"
    );
    let mut checked = 0;
    for (id, p) in model.params.iter() {
        if p.buffer {
            let want: Vec<f64> = running[&p.name].iter().map(|&v| v as f64).collect();
            close(
                &p.value.to_vec().unwrap(),
                &want,
                &format!("running statistic {}", p.name),
            );
        } else {
            let g = got
                .get(&id)
                .unwrap_or_else(|| panic!("no gradient for {}", p.name));
            close(
                &g.to_vec().unwrap(),
                &grads[&p.name],
                &format!("gradient of {}", p.name),
            );
        }
        checked += 1;
    }
    assert_eq!(checked, before.len());
}

#[test]
fn basic_block_resnet_training_step_matches_reference() {
    check_training_step(basic());
}

#[test]
fn bottleneck_resnet_training_step_matches_reference() {
    check_training_step(bottleneck());
}

#[test]
fn frozen_base_runs_forward_kernels_only_and_no_bn_kernel() {
    let gpu = own_gpu();
    let mut model = model(&gpu, bottleneck());
    model.set_trainable(Freeze::Base).unwrap();
    let x = Tensor::from_slice(
        &gpu,
        &values(BATCH * 3 * SIDE * SIDE, 9),
        &[BATCH, 3, SIDE, SIDE],
    )
    .unwrap();
    let before = |k: &str| gpu.dispatches_of(k);
    let (bn0, dgrad0, wgrad0, fwd0) = (
        before("batch_norm"),
        before("conv2d/dgrad"),
        before("conv2d/wgrad"),
        before("conv2d/fwd"),
    );
    let mut tape = Tape::new();
    let xv = tape.input(x.clone());
    let z = model.forward(&mut tape, xv, true, 0).unwrap();
    let y = Tensor::from_u32(&gpu, &[1, 2], &[BATCH]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0; BATCH], &[BATCH]).unwrap();
    let l = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
    let grads = tape.backward(&[l]).unwrap();
    model.logits(&x).unwrap();
    gpu.sync().unwrap();
    assert_eq!(
        gpu.dispatches_of("batch_norm"),
        bn0,
        "a BN kernel ran for a frozen base"
    );
    assert_eq!(
        gpu.dispatches_of("conv2d/dgrad"),
        dgrad0,
        "input gradient through a frozen base"
    );
    assert_eq!(
        gpu.dispatches_of("conv2d/wgrad"),
        wgrad0,
        "weight gradient of a frozen base"
    );
    assert!(gpu.dispatches_of("conv2d/fwd") > fwd0);
    let names: Vec<&str> = grads
        .keys()
        .map(|id| model.params.get(*id).name.as_str())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("head.")),
        "gradients: {names:?}"
    );
}

#[test]
fn folded_evaluation_equals_running_statistics_and_survives_save() {
    let gpu = gpu();
    let mut model = model(&gpu, basic());
    model.set_trainable(Freeze::None).unwrap();
    // One training-mode forward moves the running statistics (the folded copy must follow).
    let x = Tensor::from_slice(
        &gpu,
        &values(BATCH * 3 * SIDE * SIDE, 11),
        &[BATCH, 3, SIDE, SIDE],
    )
    .unwrap();
    let before = model.logits(&x).unwrap().to_vec().unwrap();
    let mut tape = Tape::new();
    let xv = tape.input(x.clone());
    model.forward(&mut tape, xv, true, 0).unwrap();
    let folded = model.logits(&x).unwrap().to_vec().unwrap();
    assert!(
        before
            .iter()
            .zip(&folded)
            .any(|(a, b)| (a - b).abs() > 1e-4),
        "running statistics did not move"
    );
    let Base::ResNet(net) = &model.base else {
        panic!("a ResNet base")
    };
    let mut tape = Tape::no_grad();
    let xv = tape.input(x.clone());
    let map = net
        .forward(&mut tape, &model.params, xv, BnMode::Running)
        .unwrap();
    let f = tape.global_avg_pool(map).unwrap();
    let z = model.head(&mut tape, f, false, 0).unwrap();
    assert_close(
        &folded,
        &tape.tensor(z).to_vec().unwrap(),
        1e-4,
        "folded vs running-statistics BN",
    );

    let dir = TempDir::new("resnet-save");
    let path = dir.path().join("m.safetensors");
    model.save(&path).unwrap();
    let loaded = dak::models::load(&gpu, &path).unwrap();
    assert_eq!(loaded.info().architecture, "resnet-gap-head");
    assert_close(
        &loaded.logits(&x).unwrap().to_vec().unwrap(),
        &folded,
        1e-6,
        "reloaded model",
    );
}

#[test]
fn frozen_bn_keeps_running_statistics_and_trains_no_affine() {
    use dak::models::classifier::BnTraining;
    let gpu = gpu();
    let mut model = model(&gpu, basic());
    model.bn = BnTraining::Frozen;
    model.set_trainable(Freeze::None).unwrap();
    let stats_before = host(&model.params);
    let x = Tensor::from_slice(
        &gpu,
        &values(BATCH * 3 * SIDE * SIDE, 13),
        &[BATCH, 3, SIDE, SIDE],
    )
    .unwrap();
    let mut tape = Tape::new();
    let xv = tape.input(x);
    let z = model.forward(&mut tape, xv, true, 0).unwrap();
    let y = Tensor::from_u32(&gpu, &[0, 1], &[BATCH]).unwrap();
    let w = Tensor::from_slice(&gpu, &[1.0; BATCH], &[BATCH]).unwrap();
    let l = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
    let grads = tape.backward(&[l]).unwrap();
    let after = host(&model.params);
    for (id, p) in model.params.iter() {
        let is_bn =
            p.name.contains(".bn") || p.name.starts_with("bn1") || p.name.contains("downsample.1");
        if p.buffer {
            assert_eq!(after[&p.name], stats_before[&p.name], "{} moved", p.name);
        } else if is_bn {
            assert!(!grads.contains_key(&id), "{} got a gradient", p.name);
        } else {
            assert!(grads.contains_key(&id), "{} got no gradient", p.name);
        }
    }
}
