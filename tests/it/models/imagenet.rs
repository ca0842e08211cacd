//! VGG16 with its ImageNet classifier from plain weight files: timm and torchvision names give
//! the same outputs, fc6 is split to fit the adapter's binding limit, class names are shipped.
use crate::common::onnx;
use crate::common::*;
use dak::models::imagenet::{self, ImagenetVgg16};
use dak::Tensor;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

const CONVS: [(usize, usize, usize); 13] = [
    (0, 3, 64),
    (2, 64, 64),
    (5, 64, 128),
    (7, 128, 128),
    (10, 128, 256),
    (12, 256, 256),
    (14, 256, 256),
    (17, 256, 512),
    (19, 512, 512),
    (21, 512, 512),
    (24, 512, 512),
    (26, 512, 512),
    (28, 512, 512),
];

#[test]
fn timm_and_torchvision_files_predict_the_same() {
    let gpu = gpu();
    let dir = TempDir::new("imagenet");
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (i, (idx, cin, cout)) in CONVS.iter().enumerate() {
        let n = cout * cin * 9;
        let scale = (2.0 / (cin * 9) as f32).sqrt();
        tensors.push((
            format!("features.{idx}.weight"),
            vec![*cout, *cin, 3, 3],
            values(n, i as u64)
                .iter()
                .map(|v| v * scale * 1.7)
                .collect(),
        ));
        tensors.push((
            format!("features.{idx}.bias"),
            vec![*cout],
            values(*cout, 100 + i as u64)
                .iter()
                .map(|v| v * 0.01)
                .collect(),
        ));
    }
    let fc = [(4096usize, 25088usize), (4096, 4096), (1000, 4096)];
    let fc_w: Vec<Vec<f32>> = fc
        .iter()
        .enumerate()
        .map(|(i, (o, n))| {
            values(o * n, 200 + i as u64)
                .iter()
                .map(|v| v * (3.0 / *n as f32).sqrt())
                .collect()
        })
        .collect();
    let fc_b: Vec<Vec<f32>> = fc
        .iter()
        .enumerate()
        .map(|(i, (o, _))| {
            values(*o, 300 + i as u64)
                .iter()
                .map(|v| v * 0.01)
                .collect()
        })
        .collect();
    let write = |path: &std::path::Path, names: [&str; 3], shapes: [Vec<usize>; 3]| {
        let mut views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(d)).unwrap(),
                )
            })
            .collect();
        for i in 0..3 {
            views.push((
                format!("{}.weight", names[i]),
                TensorView::new(
                    Dtype::F32,
                    shapes[i].clone(),
                    bytemuck::cast_slice(&fc_w[i]),
                )
                .unwrap(),
            ));
            views.push((
                format!("{}.bias", names[i]),
                TensorView::new(Dtype::F32, vec![fc[i].0], bytemuck::cast_slice(&fc_b[i])).unwrap(),
            ));
        }
        std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
    };
    let timm = dir.path().join("timm.safetensors");
    write(
        &timm,
        ["pre_logits.fc1", "pre_logits.fc2", "head.fc"],
        [
            vec![4096, 512, 7, 7],
            vec![4096, 4096, 1, 1],
            vec![1000, 4096],
        ],
    );
    let tv = dir.path().join("tv.safetensors");
    write(
        &tv,
        ["classifier.0", "classifier.3", "classifier.6"],
        [vec![4096, 25088], vec![4096, 4096], vec![1000, 4096]],
    );

    let x = Tensor::from_slice(&gpu, &values(3 * 224 * 224, 9), &[1, 3, 224, 224]).unwrap();
    let a = ImagenetVgg16::load(&gpu, &timm)
        .unwrap()
        .logits(&x)
        .unwrap()
        .to_vec()
        .unwrap();
    let b = ImagenetVgg16::load(&gpu, &tv)
        .unwrap()
        .logits(&x)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(a.len(), 1000);
    assert!(a.iter().all(|v| v.is_finite()));
    assert_eq!(a, b, "timm and torchvision names load the same network");

    // `dak export --weights` gives the same network as ONNX (timm's 4-D fc6 included), run by
    // tract from pixels in [0, 1]: the graph's own preprocessing turns them back into `x`.
    let loaded = dak::export::load(&dak::export::Source::Weights(timm.clone())).unwrap();
    let onnx_path = dir.path().join("vgg16.onnx");
    dak::export::write_onnx(&loaded, &Default::default(), &onnx_path).unwrap();
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let xs = values(3 * 224 * 224, 9);
    let pixels = onnx::Pixels {
        values: xs
            .iter()
            .enumerate()
            .map(|(i, v)| v * std[i / (224 * 224)] + mean[i / (224 * 224)])
            .collect(),
        shape: [1, 3, 224, 224],
    };
    let run = onnx::tract_run(&onnx_path, &pixels);
    let probs = onnx::softmax_rows(&a, 1000);
    assert_close(&run.outputs[0], &probs, 1e-4, "ONNX probabilities");
    let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
    let rel = |z: &[f32]| z.iter().map(|v| v / scale).collect::<Vec<f32>>();
    assert_close(&rel(&run.outputs[1]), &rel(&a), 1e-3, "ONNX logits");
    assert!(run.metadata["classes"].contains("tabby"));
    assert!(
        run.metadata["resize"].contains("256"),
        "{}",
        run.metadata["resize"]
    );
    assert!(a.iter().any(|v| *v != a[0]), "logits vary across classes");
    assert_eq!(imagenet::class_names().len(), 1000);
    assert_eq!(imagenet::class_names()[281], "tabby");

    // A wrong input size is a clear error.
    let small = Tensor::from_slice(&gpu, &values(3 * 32 * 32, 1), &[1, 3, 32, 32]).unwrap();
    let net = ImagenetVgg16::load(&gpu, &tv).unwrap();
    let err = net.logits(&small).unwrap_err().to_string();
    assert!(err.contains("224"), "{err}");
}

#[test]
fn concat_columns_places_parts_side_by_side() {
    let gpu = gpu();
    let a = Tensor::from_slice(&gpu, &[1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let b = Tensor::from_slice(&gpu, &[5.0, 6.0, 7.0, 8.0, 9.0, 10.0], &[2, 3]).unwrap();
    let c = Tensor::concat_columns(&[&a, &b]).unwrap();
    assert_eq!(c.shape(), &[2, 5]);
    assert_eq!(
        c.to_vec().unwrap(),
        vec![1.0, 2.0, 5.0, 6.0, 7.0, 3.0, 4.0, 8.0, 9.0, 10.0]
    );
    let bad = Tensor::from_slice(&gpu, &[1.0; 3], &[3, 1]).unwrap();
    assert!(Tensor::concat_columns(&[&a, &bad]).is_err());
}
