//! Batches larger than the device's largest storage binding run through a backbone in row
//! chunks (`Tape::chunked`, `models::chunks`): the same outputs and gradients as the whole
//! batch at once, and VGG16 / ResNet-50 at 224 x 224 with the default batches on lavapipe
//! (128 MiB bindings).
use crate::common::*;
use dak::autograd::{Params, Tape, Var};
use dak::models::classifier::{BaseKind, HeadConfig};
use dak::models::resnet::ResNetConfig;
use dak::models::{Classifier, Freeze};
use dak::nn::{Conv2d, Conv2dConfig, Dense, DenseConfig, Init};
use dak::ops::conv2d::Spec;
use dak::{Gpu, Tensor};
use std::collections::BTreeMap;

/// conv(3→6, ReLU) → conv(6→5) + ReLU + 2x2 pool → global average pool: a per-image region.
struct Region {
    params: Params,
    conv1: Conv2d,
    conv2: Conv2d,
    head: Dense,
}

fn region(gpu: &Gpu) -> Region {
    let mut params = Params::new();
    let mut init = Init::new(7);
    let conv1 = Conv2d::new(
        gpu,
        &mut params,
        "c1",
        Conv2dConfig::relu(3, 6, 3, Spec::new(1, 1)),
        &mut init,
    );
    let conv2 = Conv2d::new(
        gpu,
        &mut params,
        "c2",
        Conv2dConfig::relu(6, 5, 3, Spec::new(1, 1)),
        &mut init,
    );
    let head = Dense::new(gpu, &mut params, "fc", DenseConfig::linear(5, 4), &mut init);
    Region {
        params,
        conv1: conv1.unwrap(),
        conv2: conv2.unwrap(),
        head: head.unwrap(),
    }
}

impl Region {
    fn pooled(&self, tape: &mut Tape, x: Var) -> dak::Result<Var> {
        let h = self.conv1.forward(tape, &self.params, x)?;
        let pool = dak::nn::MaxPool2d {
            kernel: 2,
            stride: 2,
        };
        let h = self.conv2.forward_pooled(tape, &self.params, h, &pool)?;
        tape.global_avg_pool(h)
    }

    /// (logits, loss, parameter gradients by name, input gradient) with `chunks` chunks.
    fn step(&self, gpu: &Gpu, x: &Tensor, labels: &[u32], chunks: usize) -> Step {
        let mut tape = Tape::new();
        let xv = tape.input_with_grad(x.clone());
        let f = tape.chunked(xv, chunks, |t, v| self.pooled(t, v)).unwrap();
        let z = self.head.forward(&mut tape, &self.params, f).unwrap();
        let n = labels.len();
        let y = Tensor::from_u32(gpu, labels, &[n]).unwrap();
        let w = Tensor::from_slice(gpu, &vec![1.0; n], &[n]).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
        let logits = tape.tensor(z).to_vec().unwrap();
        let loss_value = tape.tensor(loss).to_vec().unwrap();
        let (grads, dx) = tape.backward_to(&[loss], &[xv]).unwrap();
        let grads = grads
            .into_iter()
            .map(|(id, g)| (self.params.get(id).name.clone(), g.to_vec().unwrap()))
            .collect();
        Step {
            logits,
            loss: loss_value,
            grads,
            dx: dx[0].as_ref().unwrap().to_vec().unwrap(),
        }
    }
}

struct Step {
    logits: Vec<f32>,
    loss: Vec<f32>,
    grads: BTreeMap<String, Vec<f32>>,
    dx: Vec<f32>,
}

#[test]
fn chunks_give_the_whole_batch_outputs_and_gradients() {
    let gpu = gpu();
    let net = region(&gpu);
    // 7 images of 9 x 11 in 3 uneven chunks (3, 2, 2 rows, interleaved).
    let x = Tensor::from_slice(&gpu, &values(7 * 3 * 9 * 11, 3), &[7, 3, 9, 11]).unwrap();
    let labels = [0, 1, 2, 3, 1, 0, 2];
    let whole = net.step(&gpu, &x, &labels, 1);
    for chunks in [2, 3, 7, 50] {
        let split = net.step(&gpu, &x, &labels, chunks);
        let what = format!("{chunks} chunks");
        assert_close(
            &split.logits,
            &whole.logits,
            1e-5,
            &format!("{what}: logits"),
        );
        assert_close(&split.loss, &whole.loss, 1e-5, &format!("{what}: loss"));
        assert_close(
            &split.dx,
            &whole.dx,
            1e-5,
            &format!("{what}: input gradient"),
        );
        assert_eq!(
            split.grads.len(),
            6,
            "{what}: every parameter has a gradient"
        );
        for (name, g) in &whole.grads {
            assert_close(&split.grads[name], g, 1e-4, &format!("{what}: d{name}"));
        }
    }
}

#[test]
fn a_frozen_region_records_nothing_and_keeps_no_chunk() {
    let gpu = gpu();
    let mut net = region(&gpu);
    net.params.freeze("c1").unwrap();
    net.params.freeze("c2").unwrap();
    let x = Tensor::from_slice(&gpu, &values(5 * 3 * 8 * 8, 4), &[5, 3, 8, 8]).unwrap();
    let mut tape = Tape::new();
    let xv = tape.input(x);
    let f = tape.chunked(xv, 3, |t, v| net.pooled(t, v)).unwrap();
    assert!(
        !tape.requires_grad(f),
        "a frozen region's output needs no gradient"
    );
    assert_eq!(tape.stats().recorded, 0);
}

/// A VGG16 classifier at 64 x 64 with blocks 4-5 training: a batch of 12 under a binding
/// limit of 10 MB (the first block binds 1 MB per image, the largest weight 9.4 MB) runs in
/// chunks and gives the unchunked batch's logits and gradients.
#[test]
fn vgg16_under_a_lowered_binding_limit_matches_the_whole_batch() {
    let gpu = own_gpu();
    let head = HeadConfig {
        hidden: 16,
        dropout: 0.0,
        classes: 3,
    };
    let mut model = Classifier::new_on(&gpu, BaseKind::Vgg16, head, 1).unwrap();
    model.set_trainable(Freeze::FromBlock(4)).unwrap();
    let n = 12;
    let x = Tensor::from_slice(&gpu, &values(n * 3 * 64 * 64, 5), &[n, 3, 64, 64]).unwrap();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
    let run = |gpu: &Gpu| {
        let before = gpu.stats().dispatches;
        let mut tape = Tape::new();
        let xv = tape.input(x.clone());
        let z = model.forward(&mut tape, xv, true, 0).unwrap();
        let y = Tensor::from_u32(gpu, &labels, &[n]).unwrap();
        let w = Tensor::from_slice(gpu, &vec![1.0; n], &[n]).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
        let logits = tape.tensor(z).to_vec().unwrap();
        let grads: BTreeMap<String, Vec<f32>> = tape
            .backward(&[loss])
            .unwrap()
            .into_iter()
            .map(|(id, g)| (model.params.get(id).name.clone(), g.to_vec().unwrap()))
            .collect();
        (logits, grads, gpu.stats().dispatches - before)
    };
    let (logits, grads, whole_dispatches) = run(&gpu);
    gpu.limit_binding(10 << 20);
    let (split_logits, split_grads, split_dispatches) = run(&gpu);
    gpu.limit_binding(0);
    assert!(
        split_dispatches > whole_dispatches,
        "the lowered limit must split the batch ({split_dispatches} vs {whole_dispatches} dispatches)"
    );
    assert_close(&split_logits, &logits, 1e-4, "logits");
    assert_eq!(split_grads.len(), grads.len());
    assert!(
        grads.keys().any(|k| k.starts_with("features.17")),
        "block 4 trains"
    );
    for (name, g) in &grads {
        assert_close(&split_grads[name], g, 2e-3, &format!("d{name}"));
    }
}

/// Pooled base features of `images` in one no-gradient pass.
fn features(model: &Classifier, images: &Tensor) -> Vec<f32> {
    let mut tape = Tape::no_grad();
    let x = tape.input(images.clone());
    let f = model.features(&mut tape, x).unwrap();
    tape.tensor(f).to_vec().unwrap()
}

/// The README's photo setting on the software adapter: VGG16 at 224 with fine-tune's default
/// batch (32 images bind 411 MB in the first block, over lavapipe's 128 MiB) takes a training
/// step of its head, and the batch's features equal those of its first 8 images run alone,
/// unsplit. ResNet-50 the same with 48 images (its stem binds 3.2 MB per image).
#[test]
fn backbones_at_224_run_default_batches_and_match_small_unsplit_batches() {
    let gpu = gpu();
    let head = HeadConfig {
        hidden: 8,
        dropout: 0.0,
        classes: 2,
    };
    let resnet50 = BaseKind::ResNet(ResNetConfig::named("resnet50").unwrap());
    for (kind, batch) in [(BaseKind::Vgg16, 32), (resnet50, 48)] {
        let name = kind.name();
        let mut model = Classifier::new_on(&gpu, kind, head, 2).unwrap();
        model.set_trainable(Freeze::Base).unwrap();
        let side = 224;
        let shape = [batch, 3, side, side];
        let images = Tensor::from_slice(&gpu, &hashed(9, batch * 3 * side * side, 2.0), &shape);
        let images = images.unwrap();
        let mut tape = Tape::new();
        let x = tape.input(images.clone());
        let f = model.features_in(&mut tape, x, true).unwrap();
        let z = model.head(&mut tape, f, true, 0).unwrap();
        let labels: Vec<u32> = (0..batch as u32).map(|i| i % 2).collect();
        let y = Tensor::from_u32(&gpu, &labels, &[batch]).unwrap();
        let w = Tensor::from_slice(&gpu, &vec![1.0; batch], &[batch]).unwrap();
        let loss = tape.softmax_xent(z, &y, &w, 1.0).unwrap();
        let whole = tape.tensor(f).to_vec().unwrap();
        let grads = tape.backward(&[loss]).unwrap();
        assert_eq!(grads.len(), 4, "{name}: only the head trains");
        for g in grads.values() {
            assert!(g.to_vec().unwrap().iter().all(|v| v.is_finite()));
        }
        let first: Vec<usize> = (0..8).collect();
        let alone = features(&model, &images.gather_rows(&first).unwrap());
        assert_close(
            &whole[..alone.len()],
            &alone,
            1e-4,
            &format!("{name} features"),
        );
    }
}
