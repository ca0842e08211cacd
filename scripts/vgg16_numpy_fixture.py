#!/usr/bin/env python3
"""An independent NumPy (float64) VGG16 + Keras head, forward and backward, written to check dak.

Writes tests/fixtures/vgg16_numpy.json, read by tests/vgg16_numpy.rs. The test rebuilds the same
weights and input from the same integer hash (below), loads the base from a safetensors file with
torchvision names, and compares dak's GPU results with these within 1e-4 relative.

Network (torchvision names): VGG16 `features` (13 conv3x3 pad 1 + ReLU, 5 max-pool 2x2), global
average pooling, head.fc1 Dense(512 -> 1024, ReLU), head.fc2 Dense(1024 -> 10); mean softmax
cross-entropy over a batch of 2 images of 3x32x32. Dense weights are [out, in] (y = x W^T + b).

Recorded: pooled features, logits, loss, the gradient of every parameter (L2 norm plus 64 entries
at fixed indices), and the loss after one plain SGD step (lr 0.01) on every parameter.

    pip install numpy && python3 scripts/vgg16_numpy_fixture.py
"""
import json
import math
from pathlib import Path

import numpy as np

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
HIDDEN, CLASSES, BATCH, SIDE = 1024, 10, 2, 32
LABELS = [3, 7]
LR = 0.01
SAMPLES = 64
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "vgg16_numpy.json"


def hashed(salt: int, n: int, bound: float) -> np.ndarray:
    """Uniform values in [-bound, bound) from murmur3's 32-bit finaliser of (i + salt * golden)."""
    h = (np.arange(n, dtype=np.uint64) + np.uint64((salt * 0x9E3779B9) & 0xFFFFFFFF)) & 0xFFFFFFFF
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & 0xFFFFFFFF
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & 0xFFFFFFFF
    h ^= h >> np.uint64(16)
    unit = h.astype(np.float64) / 4294967296.0 - 0.5
    return (unit * (2.0 * bound)).astype(np.float32).astype(np.float64)


def parameters():
    """(name, shape, bound, values) in the order whose index is the hash salt (salt = index + 1)."""
    specs = []
    cin, idx = 3, 0
    for v in CFG:
        if v == "M":
            idx += 1
            continue
        specs.append((f"features.{idx}.weight", (v, cin, 3, 3), math.sqrt(6.0 / (cin * 9))))
        specs.append((f"features.{idx}.bias", (v,), 0.1))
        cin, idx = v, idx + 2
    specs.append(("head.fc1.weight", (HIDDEN, 512), math.sqrt(6.0 / 512)))
    specs.append(("head.fc1.bias", (HIDDEN,), 0.1))
    specs.append(("head.fc2.weight", (CLASSES, HIDDEN), math.sqrt(6.0 / HIDDEN)))
    specs.append(("head.fc2.bias", (CLASSES,), 0.1))
    return [(n, s, b, hashed(i + 1, int(np.prod(s)), b).reshape(s)) for i, (n, s, b) in enumerate(specs)]


def im2col(x):
    """[N, C, H, W] -> [N*H*W, C*9] for a 3x3 kernel, stride 1, zero padding 1."""
    n, c, h, w = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, c, 3, 3, h, w))
    for ky in range(3):
        for kx in range(3):
            cols[:, :, ky, kx] = p[:, :, ky:ky + h, kx:kx + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * 9)


def col2im(dcols, shape):
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, 3, 3).transpose(0, 3, 4, 5, 1, 2)
    dp = np.zeros((n, c, h + 2, w + 2))
    for ky in range(3):
        for kx in range(3):
            dp[:, :, ky:ky + h, kx:kx + w] += d[:, :, ky, kx]
    return dp[:, :, 1:-1, 1:-1]


def forward(params, x):
    """Logits, pooled features, loss and the cache the backward pass needs."""
    p = {n: v for n, _, _, v in params}
    cache, idx = [], 0
    for v in CFG:
        if v == "M":
            n, c, h, w = x.shape
            win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
            arg = win.argmax(axis=-1)
            cache.append(("pool", x.shape, arg))
            x = win.max(axis=-1)
            idx += 1
            continue
        wt, b = p[f"features.{idx}.weight"], p[f"features.{idx}.bias"]
        n, c, h, w = x.shape
        cols = im2col(x)
        y = cols @ wt.reshape(v, -1).T + b
        y = y.reshape(n, h, w, v).transpose(0, 3, 1, 2)
        cache.append(("conv", idx, x.shape, cols, y > 0))
        x = np.maximum(y, 0)
        idx += 2
    feats = x.mean(axis=(2, 3))
    h1 = feats @ p["head.fc1.weight"].T + p["head.fc1.bias"]
    a1 = np.maximum(h1, 0)
    logits = a1 @ p["head.fc2.weight"].T + p["head.fc2.bias"]
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(prob[np.arange(BATCH), LABELS]))
    return logits, feats, loss, (cache, x.shape, feats, h1, a1, prob)


def backward(params, state):
    p = {n: v for n, _, _, v in params}
    cache, map_shape, feats, h1, a1, prob = state
    g = {}
    dlogits = prob.copy()
    dlogits[np.arange(BATCH), LABELS] -= 1.0
    dlogits /= BATCH
    g["head.fc2.weight"] = dlogits.T @ a1
    g["head.fc2.bias"] = dlogits.sum(axis=0)
    dh1 = (dlogits @ p["head.fc2.weight"]) * (h1 > 0)
    g["head.fc1.weight"] = dh1.T @ feats
    g["head.fc1.bias"] = dh1.sum(axis=0)
    dfeats = dh1 @ p["head.fc1.weight"]
    n, c, h, w = map_shape
    dx = np.broadcast_to(dfeats[:, :, None, None] / (h * w), map_shape).copy()
    for entry in reversed(cache):
        if entry[0] == "pool":
            _, shape, arg = entry
            n, c, h, w = shape
            dwin = np.zeros((n, c, h // 2, w // 2, 4))
            np.put_along_axis(dwin, arg[..., None], dx[..., None], axis=-1)
            dx = dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)
        else:
            _, idx, shape, cols, active = entry
            wt = p[f"features.{idx}.weight"]
            dy = dx * active
            cout = wt.shape[0]
            dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, cout)
            g[f"features.{idx}.weight"] = (dy_mat.T @ cols).reshape(wt.shape)
            g[f"features.{idx}.bias"] = dy_mat.sum(axis=0)
            if idx > 0:
                dx = col2im(dy_mat @ wt.reshape(cout, -1), shape)
    return g


def sample_indices(n):
    return [(i * 7919 + 13) % n for i in range(min(SAMPLES, n))]


def main():
    params = parameters()
    x = hashed(1000, BATCH * 3 * SIDE * SIDE, 1.0).reshape(BATCH, 3, SIDE, SIDE)
    logits, feats, loss, state = forward(params, x)
    grads = backward(params, state)
    stepped = [(n, s, b, v - LR * grads[n]) for n, s, b, v in params]
    _, _, loss_after, _ = forward(stepped, x)
    out = {
        "about": "written by scripts/vgg16_numpy_fixture.py (NumPy float64); read by tests/vgg16_numpy.rs",
        "batch": BATCH, "side": SIDE, "hidden": HIDDEN, "classes": CLASSES, "labels": LABELS,
        "lr": LR, "input_salt": 1000,
        "params": [{"name": n, "shape": list(s), "salt": i + 1, "bound": b}
                   for i, (n, s, b, _) in enumerate(params)],
        "features": feats.ravel().tolist(),
        "logits": logits.ravel().tolist(),
        "loss": float(loss),
        "loss_after_sgd_step": float(loss_after),
        "grads": {n: {"norm": float(np.linalg.norm(grads[n])),
                      "indices": sample_indices(grads[n].size),
                      "values": grads[n].ravel()[sample_indices(grads[n].size)].tolist()}
                  for n, _, _, _ in params},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUT}: loss {loss:.6f}, after one SGD step {loss_after:.6f}")


if __name__ == "__main__":
    main()
