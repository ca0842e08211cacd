//! An [`InferenceGraph`] as an ONNX model: input `images` (float32 NCHW RGB in [0, 1]), the
//! model's preprocessing as the first nodes, then standard operators (Conv, Relu, MaxPool,
//! GlobalAveragePool, Flatten, Gemm, Softmax) with the weights as initializers. With f16
//! storage the initializers are FLOAT16 and a Cast to float32 follows each one: the file is half
//! the size and the computation stays in f32, like dak's own.

use super::proto::*;
use crate::error::{Error, Result};
use crate::models::file::{StoreType, TensorFile};
use crate::models::graph::{InferenceGraph, Layer, Tap};
use std::ops::RangeInclusive;

/// Opsets the exporter writes (every operator it uses has had its current form since 13).
pub const OPSETS: RangeInclusive<i64> = 13..=21;
/// The default opset.
pub const DEFAULT_OPSET: i64 = 17;

/// A graph output the user can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Softmax of the logits, `[N, classes]`.
    Probabilities,
    /// Class scores, `[N, classes]`.
    Logits,
    /// What the label head reads, `[N, dim]`.
    Features,
}

impl Output {
    /// Every output, in the order of the help text.
    pub const ALL: [Output; 3] = [Output::Probabilities, Output::Logits, Output::Features];

    /// The output's name in the graph and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Output::Probabilities => "probabilities",
            Output::Logits => "logits",
            Output::Features => "features",
        }
    }

    /// Parses a comma-separated `--outputs` list (no repeats, at least one).
    pub fn parse_list(s: &str) -> Result<Vec<Output>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim) {
            let o = Output::ALL
                .into_iter()
                .find(|o| o.name() == name)
                .ok_or_else(|| {
                    Error::input(format!(
                        "--outputs: unknown output `{name}`; choose from {}",
                        Output::ALL.map(Output::name).join(", ")
                    ))
                })?;
            if out.contains(&o) {
                return Err(Error::input(format!("--outputs: `{name}` is listed twice")));
            }
            out.push(o);
        }
        Ok(out)
    }
}

/// The batch axis of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// Any batch size (symbolic axis `N`).
    Dynamic,
    /// Exactly this many images.
    Fixed(usize),
}

impl Batch {
    /// Parses `--batch N|dynamic`.
    pub fn parse(s: &str) -> Result<Batch> {
        match s {
            "dynamic" => Ok(Batch::Dynamic),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Batch::Fixed(n)),
                _ => Err(Error::input(format!(
                    "--batch {n}: give a batch size of at least 1, or `dynamic`"
                ))),
            },
        }
    }

    fn dim(self) -> Dimension {
        Dimension {
            value: Some(match self {
                Batch::Dynamic => DimValue::Param("N".into()),
                Batch::Fixed(n) => DimValue::Fixed(n as i64),
            }),
        }
    }
}

/// How to write the ONNX file.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxOptions {
    /// Opset version, in [`OPSETS`].
    pub opset: i64,
    /// How the weights are stored.
    pub store: StoreType,
    /// The input's batch axis.
    pub batch: Batch,
    /// The graph outputs, in order.
    pub outputs: Vec<Output>,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        OnnxOptions {
            opset: DEFAULT_OPSET,
            store: StoreType::F32,
            batch: Batch::Dynamic,
            outputs: vec![Output::Probabilities, Output::Logits],
        }
    }
}

/// The IR version that goes with an opset (ONNX's versioning table).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: value,
        ..Default::default()
    }
}

/// Collects nodes and initializers; values are named after the layer that makes them.
struct Builder<'a> {
    file: &'a TensorFile,
    store: StoreType,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Builder<'_> {
    /// Appends `op` reading `inputs`; its output is named `out`.
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        out: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: format!("{out}:{op}"),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        out.to_string()
    }

    /// A float32 constant (preprocessing constants are always stored in full precision).
    fn constant(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::FLOAT,
            name: name.into(),
            raw_data: bytemuck::cast_slice(data).to_vec(),
        });
        name.to_string()
    }

    /// A weight from the file, in the chosen storage type, as a float32 value.
    fn weight(&mut self, name: &str, dims: &[usize]) -> String {
        let (_, data) = &self.file.tensors[name]; // checked by InferenceGraph::check_tensors
        match self.store {
            StoreType::F32 => self.constant(name, dims, data),
            StoreType::F16 => {
                let stored = format!("{name}.f16");
                self.initializers.push(TensorProto {
                    dims: dims.iter().map(|&d| d as i64).collect(),
                    data_type: data_type::FLOAT16,
                    name: stored.clone(),
                    raw_data: data
                        .iter()
                        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                        .collect(),
                });
                let to_f32 = int("to", data_type::FLOAT as i64);
                self.node("Cast", &[&stored], name, vec![to_f32])
            }
        }
    }

    /// The preprocessing: `x·255·scale + offset` per channel, after a channel gather when the
    /// mode reorders channels (caffe: RGB → BGR). Nothing for `unit`, which is the identity.
    fn preprocess(&mut self, graph: &InferenceGraph, input: &str) -> String {
        let affine = graph.preprocess.affine();
        let scale: Vec<f32> = affine.iter().map(|a| a.1 * 255.0).collect();
        let offset: Vec<f32> = affine.iter().map(|a| a.2).collect();
        let reorder = affine.iter().enumerate().any(|(c, a)| a.0 != c);
        let identity =
            !reorder && scale.iter().all(|&s| s == 1.0) && offset.iter().all(|&o| o == 0.0);
        if identity {
            return input.to_string();
        }
        let mut x = input.to_string();
        if reorder {
            let order: Vec<i64> = affine.iter().map(|a| a.0 as i64).collect();
            self.initializers.push(TensorProto {
                dims: vec![3],
                data_type: data_type::INT64,
                name: "preprocess.channels".into(),
                raw_data: bytemuck::cast_slice(&order).to_vec(),
            });
            x = self.node(
                "Gather",
                &[&x, "preprocess.channels"],
                "preprocess.reordered",
                vec![int("axis", 1)],
            );
        }
        let s = self.constant("preprocess.scale", &[1, 3, 1, 1], &scale);
        let o = self.constant("preprocess.offset", &[1, 3, 1, 1], &offset);
        let x = self.node("Mul", &[&x, &s], "preprocess.scaled", vec![]);
        self.node("Add", &[&x, &o], "preprocessed", vec![])
    }

    fn layer(&mut self, layer: &Layer, x: &str, index: usize) -> String {
        match layer {
            Layer::Conv {
                name,
                inputs,
                outputs,
                kernel,
                stride,
                pad,
                relu,
            } => {
                let w = self.weight(
                    &format!("{name}.weight"),
                    &[*outputs, *inputs, *kernel, *kernel],
                );
                let b = self.weight(&format!("{name}.bias"), &[*outputs]);
                let attrs = window(*kernel, *stride, *pad);
                let y = self.node("Conv", &[x, &w, &b], name, attrs);
                self.relu_if(*relu, &y)
            }
            Layer::ConvBn {
                conv,
                bn,
                inputs,
                outputs,
                kernel,
                stride,
                pad,
                relu,
            } => {
                let w = self.weight(
                    &format!("{conv}.weight"),
                    &[*outputs, *inputs, *kernel, *kernel],
                );
                let attrs = window(*kernel, *stride, *pad);
                let y = self.node("Conv", &[x, &w], conv, attrs);
                let y = self.batch_norm(bn, *outputs, &y);
                self.relu_if(*relu, &y)
            }
            Layer::BatchNorm {
                name,
                channels,
                relu,
            } => {
                let y = self.batch_norm(name, *channels, x);
                self.relu_if(*relu, &y)
            }
            Layer::MaxPool {
                kernel,
                stride,
                pad,
            } => {
                let attrs = window(*kernel, *stride, *pad);
                self.node("MaxPool", &[x], &format!("pool{index}"), attrs)
            }
            Layer::Residual {
                name,
                main,
                shortcut,
            } => {
                let mut m = x.to_string();
                for l in main {
                    m = self.layer(l, &m, index);
                }
                let mut s = x.to_string();
                for l in shortcut {
                    s = self.layer(l, &s, index);
                }
                let y = self.node("Add", &[&m, &s], &format!("{name}.add"), vec![]);
                self.relu_if(true, &y)
            }
            Layer::GlobalAvgPool => {
                let y = self.node("GlobalAveragePool", &[x], "gap", vec![]);
                self.node("Flatten", &[&y], "gap.flat", vec![int("axis", 1)])
            }
            Layer::Flatten => self.node(
                "Flatten",
                &[x],
                &format!("flatten{index}"),
                vec![int("axis", 1)],
            ),
            Layer::Dense {
                name,
                inputs,
                outputs,
                relu,
            } => {
                let w = self.weight(&format!("{name}.weight"), &[*outputs, *inputs]);
                let b = self.weight(&format!("{name}.bias"), &[*outputs]);
                let y = self.node("Gemm", &[x, &w, &b], name, vec![int("transB", 1)]);
                self.relu_if(*relu, &y)
            }
            Layer::Tap(_) => x.to_string(),
        }
    }

    /// Inference-mode BatchNormalization of `x` with `<name>.{weight,bias,running_mean,
    /// running_var}`: (x − mean)/√(var + ε)·weight + bias.
    fn batch_norm(&mut self, name: &str, channels: usize, x: &str) -> String {
        let stats: Vec<String> = crate::models::resnet::BN_TENSORS
            .iter()
            .map(|t| self.weight(&format!("{name}.{t}"), &[channels]))
            .collect();
        let mut inputs: Vec<&str> = vec![x];
        inputs.extend(stats.iter().map(String::as_str));
        let eps = AttributeProto {
            name: "epsilon".into(),
            r#type: attribute_type::FLOAT,
            f: crate::ops::batch_norm::EPS,
            ..Default::default()
        };
        self.node("BatchNormalization", &inputs, name, vec![eps])
    }

    fn relu_if(&mut self, relu: bool, x: &str) -> String {
        if relu {
            self.node("Relu", &[x], &format!("{x}.relu"), vec![])
        } else {
            x.to_string()
        }
    }
}

/// A square window's attributes (Conv, MaxPool): kernel, stride and padding on every side.
fn window(kernel: usize, stride: usize, pad: usize) -> Vec<AttributeProto> {
    vec![
        ints("kernel_shape", &[kernel, kernel]),
        ints("pads", &[pad; 4]),
        ints("strides", &[stride, stride]),
    ]
}

fn value_info(name: &str, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim: dims }),
            }),
        }),
        ..Default::default()
    }
}

fn fixed(n: usize) -> Dimension {
    Dimension {
        value: Some(DimValue::Fixed(n as i64)),
    }
}

/// Errors unless the exporter writes `opset`.
pub fn check_opset(opset: i64) -> Result<()> {
    if OPSETS.contains(&opset) {
        return Ok(());
    }
    Err(Error::input(format!(
        "--opset {opset}: this exporter writes opsets {} to {}",
        OPSETS.start(),
        OPSETS.end()
    )))
}

/// Builds the ONNX model of `graph` with the tensors of `file`.
pub fn to_onnx(
    graph: &InferenceGraph,
    file: &TensorFile,
    options: &OnnxOptions,
) -> Result<ModelProto> {
    check_opset(options.opset)?;
    if options.outputs.is_empty() {
        return Err(Error::input(
            "--outputs: name at least one of probabilities, logits, features",
        ));
    }
    let feature_dim = graph.feature_dim();
    if options.outputs.contains(&Output::Features) && feature_dim.is_none() {
        return Err(Error::input(format!(
            "--outputs features: a `{}` model has no features output; use probabilities and/or logits",
            graph.info.architecture
        )));
    }
    let mut b = Builder {
        file,
        store: options.store,
        nodes: Vec::new(),
        initializers: Vec::new(),
    };
    let mut x = b.preprocess(graph, "images");
    let (mut features, mut logits) = (None, None);
    for (i, layer) in graph.layers.iter().enumerate() {
        x = b.layer(layer, &x, i);
        match layer {
            Layer::Tap(Tap::Features) => features = Some(x.clone()),
            Layer::Tap(Tap::Logits) => logits = Some(x.clone()),
            _ => {}
        }
    }
    let logits = logits.ok_or_else(|| Error::runtime("the inference graph has no logits"))?;
    let classes = graph.info.classes.len();
    let mut outputs = Vec::new();
    for &o in &options.outputs {
        let (source, op, attrs, dim) = match o {
            Output::Probabilities => (&logits, "Softmax", vec![int("axis", 1)], classes),
            Output::Logits => (&logits, "Identity", vec![], classes),
            Output::Features => (
                features.as_ref().expect("checked above"),
                "Identity",
                vec![],
                feature_dim.expect("checked above"),
            ),
        };
        b.node(op, &[source], o.name(), attrs);
        outputs.push(value_info(o.name(), vec![options.batch.dim(), fixed(dim)]));
    }
    let side = graph.info.input_size;
    let input = value_info(
        "images",
        vec![options.batch.dim(), fixed(3), fixed(side), fixed(side)],
    );
    Ok(ModelProto {
        ir_version: ir_version(options.opset),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: options.opset,
        }],
        producer_name: "dak".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: "dak".into(),
        model_version: 1,
        doc_string: format!(
            "{} exported by dak: input `images` float32 [N, 3, {side}, {side}] RGB in [0, 1] (decoded pixels / 255); preprocessing `{}` is inside the graph",
            graph.info.architecture, graph.info.preprocess
        ),
        graph: Some(GraphProto {
            node: b.nodes,
            name: graph.info.architecture.clone(),
            initializer: b.initializers,
            input: vec![input],
            output: outputs,
            ..Default::default()
        }),
        metadata_props: metadata(graph, options)?,
    })
}

/// What a serving program needs besides the graph: classes, input size, preprocessing, resizing.
fn metadata(graph: &InferenceGraph, options: &OnnxOptions) -> Result<Vec<StringStringEntryProto>> {
    let info = &graph.info;
    let side = info.input_size;
    let resize = if info.architecture == "vgg16-imagenet" {
        format!(
            "resize the short side to {} (PIL bilinear, the long side truncated), centre-crop {side}x{side} at round((size - {side}) / 2)",
            (side as f32 / 0.875).round()
        )
    } else {
        format!(
            "crop the centred square (side s = the short side, at ((w - s) // 2, (h - s) // 2)), resize it to {side}x{side} (PIL bilinear)"
        )
    };
    let entries = [
        (
            "dak.model",
            serde_json::to_string(info).map_err(|e| Error::runtime(e.to_string()))?,
        ),
        ("architecture", info.architecture.clone()),
        (
            "classes",
            serde_json::to_string(&info.classes).map_err(|e| Error::runtime(e.to_string()))?,
        ),
        ("input_size", side.to_string()),
        ("preprocess", info.preprocess.clone()),
        (
            "input",
            format!("images: float32 [N, 3, {side}, {side}], RGB, decoded pixels / 255"),
        ),
        ("resize", resize),
        (
            "weights_dtype",
            match options.store {
                StoreType::F32 => "float32".into(),
                StoreType::F16 => "float16 (cast to float32 in the graph)".into(),
            },
        ),
    ];
    Ok(entries
        .into_iter()
        .map(|(key, value)| StringStringEntryProto {
            key: key.into(),
            value,
        })
        .collect())
}
