#!/usr/bin/env python3
"""An independent NumPy (float64) ResNet-18 and ResNet-50 in evaluation mode, with torchvision's
ImageNet evaluation transform written out with Pillow (which torchvision uses for PIL images).

Writes tests/fixtures/resnet_numpy.json, read by tests/it/cli/resnet.rs. The test rebuilds the
same weights (an integer hash, below; torchvision names and shapes, non-trivial BN statistics)
and the same images (an integer pattern), writes them as a safetensors file and PNGs, runs
`dak predict --weights`, and compares the top-5 probabilities with these within 1% relative.

Evaluation mode as torchvision runs it: BN with the running statistics (not folded here, so the
check covers dak's folding too), y = gamma * (x - mean) / sqrt(var + 1e-5) + beta; stem conv 7x7/2
pad 3, max-pool 3x3/2 pad 1; stride on the 3x3 convolution of a bottleneck (v1.5); shortcut
1x1 conv + BN where the stride or width changes; global average pooling; fc; softmax.

    pip install numpy pillow && python3 scripts/resnet_numpy_fixture.py
"""
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "resnet_numpy.json"
# name: (block, depths, gain of the fc weights, chosen so that the top-5 probabilities spread)
ARCHS = {"resnet18": ("basic", [2, 2, 2, 2], 3.0), "resnet50": ("bottleneck", [3, 4, 6, 3], 1.0)}
# (width, height) of the test images: one portrait, one square.
IMAGES = [(240, 320), (288, 288)]
SIDE, RESIZE = 224, 256
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TOP = 5


def hashed(salt, n, bound):
    """Uniform values in [-bound, bound) from murmur3's 32-bit finaliser of (i + salt * golden)."""
    h = (np.arange(n, dtype=np.uint64) + np.uint64((salt * 0x9E3779B9) & 0xFFFFFFFF)) & 0xFFFFFFFF
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & 0xFFFFFFFF
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & 0xFFFFFFFF
    h ^= h >> np.uint64(16)
    unit = h.astype(np.float64) / 4294967296.0 - 0.5
    return (unit * (2.0 * bound)).astype(np.float32).astype(np.float64)


def image(index, w, h):
    """An integer pattern with hashed noise: smooth enough to resize, varied enough to classify."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    smooth = (x * (c + 1) * 3 + y * (3 - c) * 2 + ((x * y) >> 5)) % 256
    noise = (hashed(500 + index, w * h * 3, 0.5).reshape(h, w, 3) * 64).astype(np.int64)
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def sites(block, depths):
    """(conv, bn, cin, cout, k, stride) in run order, torchvision names, and the block layout."""
    widths = [64, 128, 256, 512]
    expansion = 4 if block == "bottleneck" else 1
    out = [("conv1", "bn1", 3, 64, 7, 2)]
    blocks = []
    ch = 64
    for stage in range(4):
        w, o = widths[stage], widths[stage] * expansion
        for i in range(depths[stage]):
            s = 2 if (i == 0 and stage > 0) else 1
            p = f"layer{stage + 1}.{i}"
            if block == "basic":
                main = [(f"{p}.conv1", f"{p}.bn1", ch, w, 3, s), (f"{p}.conv2", f"{p}.bn2", w, o, 3, 1)]
            else:
                main = [(f"{p}.conv1", f"{p}.bn1", ch, w, 1, 1), (f"{p}.conv2", f"{p}.bn2", w, w, 3, s),
                        (f"{p}.conv3", f"{p}.bn3", w, o, 1, 1)]
            down = (f"{p}.downsample.0", f"{p}.downsample.1", ch, o, 1, s) if (s != 1 or ch != o) else None
            out.extend(main)
            if down:
                out.append(down)
            blocks.append((main, down))
            ch = o
    return out, blocks, ch


def tensor_specs(block, depths, fc_gain):
    """(name, shape, salt, bound, offset): value = f32(offset + hashed(salt, n, bound))."""
    convs, _, features = sites(block, depths)
    specs = []
    for conv, bn, cin, cout, k, _ in convs:
        specs.append((f"{conv}.weight", [cout, cin, k, k], math.sqrt(3.0 / (cin * k * k)), 0.0))
        specs.append((f"{bn}.weight", [cout], 0.25, 1.0))
        specs.append((f"{bn}.bias", [cout], 0.1, 0.0))
        specs.append((f"{bn}.running_mean", [cout], 0.2, 0.0))
        specs.append((f"{bn}.running_var", [cout], 0.5, 1.0))
    specs.append(("fc.weight", [1000, features], fc_gain * math.sqrt(3.0 / features), 0.0))
    specs.append(("fc.bias", [1000], 0.1, 0.0))
    return [(n, s, i + 1, b, o) for i, (n, s, b, o) in enumerate(specs)]


def values(spec):
    _, shape, salt, bound, offset = spec
    v = (offset + hashed(salt, int(np.prod(shape)), bound)).astype(np.float32).astype(np.float64)
    return v.reshape(shape)


def conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    co, _, k, _ = w.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    p = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, oh, ow))
    for ky in range(k):
        for kx in range(k):
            cols[:, :, ky, kx] = p[:, :, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
    cols = cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * k * k)
    return (cols @ w.reshape(co, -1).T).reshape(n, oh, ow, co).transpose(0, 3, 1, 2)


def bn(x, p, name):
    g, b = p[f"{name}.weight"], p[f"{name}.bias"]
    m, v = p[f"{name}.running_mean"], p[f"{name}.running_var"]
    s = (g / np.sqrt(v + 1e-5))[None, :, None, None]
    return (x - m[None, :, None, None]) * s + b[None, :, None, None]


def max_pool_3x3_s2_p1(x):
    n, c, h, w = x.shape
    oh, ow = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    out = np.full((n, c, oh, ow), -np.inf)
    for ky in range(3):
        for kx in range(3):
            out = np.maximum(out, p[:, :, ky:ky + 2 * oh:2, kx:kx + 2 * ow:2])
    return out


def forward(p, block, depths, x):
    _, blocks, _ = sites(block, depths)
    relu = lambda t: np.maximum(t, 0.0)
    h = relu(bn(conv(x, p["conv1.weight"], 2, 3), p, "bn1"))
    h = max_pool_3x3_s2_p1(h)
    for main, down in blocks:
        inp = h
        for j, (cname, bname, _, _, k, s) in enumerate(main):
            h = bn(conv(h, p[f"{cname}.weight"], s, k // 2), p, bname)
            if j < len(main) - 1:
                h = relu(h)
        short = inp if down is None else bn(conv(inp, p[f"{down[0]}.weight"], down[5], 0), p, down[1])
        h = relu(h + short)
    feats = h.mean(axis=(2, 3))
    logits = feats @ p["fc.weight"].T + p["fc.bias"]
    z = logits - logits.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def eval_transform(pixels):
    """torchvision: Resize(256) of the short side (long side truncated), BILINEAR, CenterCrop(224)."""
    img = Image.fromarray(pixels, "RGB")
    w, h = img.size
    ow, oh = (RESIZE, int(RESIZE * h / w)) if w <= h else (int(RESIZE * w / h), RESIZE)
    r = img.resize((ow, oh), Image.BILINEAR)
    left, top = int(round((ow - SIDE) / 2.0)), int(round((oh - SIDE) / 2.0))
    crop = np.asarray(r.crop((left, top, left + SIDE, top + SIDE)), dtype=np.float64) / 255.0
    return ((crop - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)


def main():
    batch = np.stack([eval_transform(image(i, w, h)) for i, (w, h) in enumerate(IMAGES)])
    out = {"about": "written by scripts/resnet_numpy_fixture.py (NumPy float64, Pillow resize); "
                    "read by tests/it/cli/resnet.rs",
           "images": [{"width": w, "height": h, "noise_salt": 500 + i} for i, (w, h) in enumerate(IMAGES)],
           "models": {}}
    for arch, (block, depths, fc_gain) in ARCHS.items():
        specs = tensor_specs(block, depths, fc_gain)
        p = {s[0]: values(s) for s in specs}
        prob = forward(p, block, depths, batch)
        top = []
        for row in prob:
            order = np.argsort(-row)[:TOP]
            top.append([[int(c), float(row[c])] for c in order])
            print(arch, [f"{c}:{row[c]:.4f}" for c in order])
        out["models"][arch] = {
            "tensors": [{"name": n, "shape": s, "salt": salt, "bound": b, "offset": o}
                        for n, s, salt, b, o in specs],
            "top5": top,
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
