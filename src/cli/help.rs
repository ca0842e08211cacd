//! What every command's `--help` ends with (usage examples, one table for all commands) and
//! the parsing settings every command shares. `main` applies [`decorate`] to the whole tree.

use clap::Command;

/// Usage examples by command path (`"data inspect"`); every command and subcommand has one
/// (a test walks the tree).
const EXAMPLES: &[(&str, &str)] = &[
    ("", "dak adapt --out dann-mnistm.safetensors
dak fine-tune --train flowers/train --val-split 0.2 --weights vgg16.safetensors --out flowers.safetensors
dak predict --model flowers.safetensors rose.jpg"),
    ("devices", "dak devices
dak devices --json > devices.json
WGPU_BACKEND=vulkan DAK_ADAPTER=nvidia dak devices"),
    ("bench", "dak bench                                  # matmul on its default shapes
dak bench conv2d --shapes digits --repeat 3
dak bench batch_norm.bwd --shapes resnet50-224   # BN kernels on ResNet-50's layers, GB/s
dak bench model --model digits             # training and inference img/s, per-kernel table
dak bench model --model vgg16 --input 32 --batch 32
dak bench model --model resnet50 --input 224 --batch 16   # prints the peak GPU memory of a step
dak bench all --save before.json && dak bench --compare before.json after.json"),
    ("fine-tune", "dak fine-tune --train flowers/train --val flowers/val --weights vgg16.safetensors --out flowers.safetensors
dak fine-tune --train flowers/train --val-split 0.2 --weights vgg16.safetensors --input-size 128 \\
    --augment crop-flip --epochs 20 --metrics flowers.jsonl --out flowers.safetensors
dak fine-tune --train flowers/train --val-split 0.2 --weights vgg16.safetensors --init flowers.safetensors \\
    --freeze none --optimizer sgd --lr 1e-4 --out flowers-ft.safetensors
dak fine-tune --train flowers/train --val-split 0.2 --backbone resnet50 --weights resnet50.safetensors \\
    --unfreeze layer4 --bn train --out flowers-r50.safetensors   # a ResNet base (docs/resnet.md)
dak fine-tune ... --resume flowers.resume.safetensors    # continue an interrupted run"),
    ("evaluate", "dak evaluate --model flowers.safetensors --data flowers/test
dak evaluate --model dann-mnistm.safetensors --data data/mnist-m/target/test --json > eval.json"),
    ("predict", "dak predict --model flowers.safetensors rose.jpg tulip.png
dak predict --weights vgg16.safetensors --top-k 5 cat.jpg     # ImageNet classes
dak predict --weights resnet50.safetensors cat.jpg     # a torchvision/timm ResNet, read from the file
dak predict --model dann-mnistm.safetensors --json digits/*.png"),
    ("export", "dak export --model dann-mnistm.safetensors --onnx dann-mnistm.onnx
dak export --model flowers.safetensors --onnx flowers.onnx --dtype f16 --batch 1
dak export --model dann-mnistm.safetensors --onnx f.onnx --outputs features,probabilities
dak export --model flowers.safetensors --safetensors flowers-f16.safetensors --dtype f16"),
    ("data", "dak data mnist-m --out data/mnist-m
dak data inspect flowers/train"),
    ("data mnist-m", "dak data mnist-m --out data/mnist-m
dak data mnist-m --out data/mnist-m-32 --size 32 --seed 1"),
    ("data inspect", "dak data inspect flowers/train            # exit code 0 only when it can be trained on
dak data inspect office31/amazon --json > amazon.json
dak data inspect photos/unlabelled --target-of flowers/train   # as `dak adapt --target` reads it"),
    ("kernels", "dak kernels list
dak kernels check conv2d
DAK_SHADER_DIR=my-shaders dak kernels check matmul"),
    ("kernels list", "dak kernels list
dak kernels list --json"),
    ("kernels dump", "dak kernels dump --out my conv2d.fwd.igemm_tex   # its files, generated ones too
dak kernels check --shader-dir my conv2d.fwd.igemm_tex   # after editing my/conv2d/..."),
    ("kernels check", "dak kernels check                          # every kernel
dak kernels check conv2d.fwd pool
dak kernels check --shader-dir my-shaders matmul --save report.json"),
    ("tune", "dak tune                                   # on the digits network's shapes
dak tune conv2d --shapes vgg16-32 --batch 32"),
    ("adapt", "dak adapt --out dann-mnistm.safetensors --plot dann.png     # the bundled MNIST -> MNIST-M
dak adapt --compare --epochs 10 --metrics runs.jsonl --out dann-mnistm.safetensors
dak adapt --compare source-only,dann,mcc --candidates runs/ --out picked.safetensors   # --select safe
dak adapt --source office31/amazon --target office31/webcam --target-test office31/webcam \\
    --backbone vgg16 --weights vgg16.safetensors --input-size 224 --out a2w.safetensors
dak adapt --source office31/amazon --target office31/webcam --backbone resnet50 \\
    --weights resnet50.safetensors --bn train --out a2w-r50.safetensors   # TLlib's ResNet-50 setting
dak adapt --method source-only --recipe shot --out source.safetensors   # SHOT's source training
dak adapt --source-free --init source.safetensors --target photos/new --out new.safetensors   # SHOT, no source
dak adapt --source-free --method tent --init a2w-r50.safetensors --target photos/new --out tent.safetensors
dak adapt --source-free --init source.safetensors --target cams/ --target-unlabelled --out cams.safetensors   # cam1/, cam2/ are not classes
dak adapt ... --resume dann-mnistm.resume.safetensors       # continue an interrupted run
dak adapt --lr=-0.1 ...    # a negative value may also be written as --lr -0.1"),
    ("select", "dak select runs/                           # the safety rule's pick (default --select safe)
dak select runs/ --select ensv,mixval,dev --out picked.safetensors
dak select runs/ --select all --json > scores.json"),
];

/// Gives every command in the tree its examples and lets numeric flags take negative values
/// (`--lr -0.1` reaches the range check, which names the flag, instead of being read as an
/// unknown flag `-0`).
pub fn decorate(cmd: Command) -> Command {
    decorate_at(cmd, "")
}

fn decorate_at(mut cmd: Command, path: &str) -> Command {
    if let Some((_, text)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        let indented: Vec<String> = text.lines().map(|l| format!("  {l}")).collect();
        cmd = cmd.after_help(format!("Examples:\n{}", indented.join("\n")));
    }
    cmd = cmd.allow_negative_numbers(true);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub_path = match path {
            "" => name.clone(),
            _ => format!("{path} {name}"),
        };
        cmd = cmd.mut_subcommand(&name, |s| decorate_at(s, &sub_path));
    }
    cmd
}
