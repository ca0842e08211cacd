#!/usr/bin/env python3
"""PyTorch reference for dak's SHOT (`dak adapt --source-free --method shot`).

SHOT: Liang, Hu & Feng, "Do We Really Need to Access the Source Data? Source Hypothesis
Transfer for Unsupervised Domain Adaptation", ICML 2020. This script is written from the
paper and the description of the authors' digits recipe (uda_digit.py), applied the way dak
applies it, so that a dak run and this script can start from the SAME dak model file and the
SAME images and be compared epoch by epoch:

  * the network is dak's digits network (conv 5x5 32 -> ReLU -> maxpool 2 -> conv 5x5 48 ->
    ReLU -> maxpool 2 -> flatten 768 = features -> fc 100 ReLU -> fc 100 ReLU -> fc K), its
    weights read from the dak `.safetensors` file (`features.conv*`, `label.fc*`; the domain
    head is ignored);
  * or, for a model of SHOT's source recipe (`dak adapt --method source-only --recipe shot`,
    recognised by `bottleneck.fc1.weight` in the file): the same convolutions, then the
    flattened 768 -> `bottleneck.fc1` Linear(768, 256) -> `bottleneck.bn1` BatchNorm1d(256)
    (eps 1e-5, momentum 0.1, affine, its running statistics from the file), no ReLU = the
    features; the label head is the one linear layer `label.fc1` (256 -> K);
  * the label head (fc1..fc3, or the recipe's fc1: the "hypothesis") is frozen; conv1 and
    conv2 train, and with the recipe also the bottleneck's Linear and the BN's gamma/beta; in
    training steps the BN normalises with the batch's statistics (biased variance) and moves
    its running ones (PyTorch's train mode: unbiased variance, momentum 0.1); the evaluation
    pass for the pseudo-labels and every accuracy use the running statistics (eval mode);
  * every epoch starts with pseudo-labels from one evaluation pass over the target training
    images: features with a 1 appended, rows scaled to unit length; centroids
    probs^T F / (1e-8 + sum probs); each image to the nearest centroid in cosine distance
    among the classes some image currently holds (the first labels: argmax of the softmax);
    then a second round with one-hot weights of those labels;
  * then one pass over the target training images in shuffled batches of 64 (a batch of one
    image is skipped) with
        loss = ent_par * (mean_i H(p_i) - H(mean_i p_i)) + cls_par * CE(logits, pseudo),
        H(q) = -sum_k q_k ln(q_k + 1e-5),  ent_par = 1, cls_par = 0.3;
  * SGD momentum 0.9, Nesterov, weight decay 1e-3 (what the authors' scheduler sets before
    every step, and dak's default), lr at step t (1-based, counted before the step, as the
    authors do) of T = 0.01 (1 + 10 t/T)^-0.75.

Labels of target/train are read only to report the pseudo-labels' accuracy; target/test
(labelled) gives the accuracy reported after every epoch (epoch 0 = the --init model, which
must equal dak's epoch-0 `target_acc`: that checks the port of the network and the data).

Usage:
  python scripts/shot_torch_reference.py --init results-source-free/source-only-s0.safetensors \
      --data /tmp/mnistm --epochs 30 --seed 0 --out /tmp/shot_torch/s0.json
  python scripts/shot_torch_reference.py \
      --init results-source-free/source-only-recipe-s0.safetensors \
      --data /tmp/mnistm --epochs 30 --seed 0 --out /tmp/shot_torch/recipe-s0.json

`--data` is the folder written by `dak data mnist-m --out DIR` (DIR/target/train and
DIR/target/test, one sub-folder per class of PNG images).
"""

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open

# SHOT's constants (the authors' digits defaults, dak's shot.rs).
ENT_PAR = 1.0  # weight of the information-maximisation loss
CLS_PAR = 0.3  # weight of the pseudo-label cross-entropy (beta)
EPS = 1e-5  # the entropy's epsilon


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def load_folder(root, classes):
    """Images of a class-per-folder tree as a float tensor [N, 3, H, W] in [0, 1] (pixels / 255,
    RGB planar, no mean/std) and their labels [N] (index in `classes`, the model's order)."""
    images, labels = [], []
    for k, name in enumerate(classes):
        folder = os.path.join(root, name)
        for f in sorted(os.listdir(folder)):
            with Image.open(os.path.join(folder, f)) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0  # [H, W, 3]
            images.append(a.transpose(2, 0, 1))  # -> [3, H, W]
            labels.append(k)
    extra = sorted(set(os.listdir(root)) - set(classes))
    if extra:
        raise SystemExit(f"{root}: class folders {extra} are not among the model's classes")
    x = torch.from_numpy(np.stack(images))
    y = torch.tensor(labels, dtype=torch.long)
    return x, y


# --------------------------------------------------------------------------------------------
# dak's digits network
# --------------------------------------------------------------------------------------------

class DigitsNet(nn.Module):
    """dak's `dann-digits` network: `features` (conv1, conv2) and the label head (fc1..fc3)."""

    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5)  # 28 -> 24, pool -> 12
        self.conv2 = nn.Conv2d(32, 48, 5)  # 12 -> 8, pool -> 4
        self.fc1 = nn.Linear(48 * 4 * 4, 100)
        self.fc2 = nn.Linear(100, 100)
        self.fc3 = nn.Linear(100, classes)

    def features(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return h.flatten(1)  # (C, H, W) order: [B, 768]

    def head(self, f):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(f)))))

    def forward(self, x):
        return self.head(self.features(x))

    def trainable(self):
        return [*self.conv1.parameters(), *self.conv2.parameters()]

    def frozen(self):
        return [*self.fc1.parameters(), *self.fc2.parameters(), *self.fc3.parameters()]


class RecipeNet(nn.Module):
    """dak's `dann-digits` network built by `--recipe shot` (SHOT's source recipe): the same
    convolutions, a bottleneck Linear(768 -> n) + BatchNorm1d(n) without ReLU (the features),
    then, in training, dropout at the file's `bottleneck_dropout` (0.5 for models made since the
    seventeenth session, as SHOT's digit/network.py; 0 for older files), and a label head of
    one linear layer (n -> K)."""

    def __init__(self, classes, bottleneck=256, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        self.conv1 = nn.Conv2d(3, 32, 5)
        self.conv2 = nn.Conv2d(32, 48, 5)
        self.bfc = nn.Linear(48 * 4 * 4, bottleneck)
        self.bn = nn.BatchNorm1d(bottleneck, eps=1e-5, momentum=0.1, affine=True)
        self.fc1 = nn.Linear(bottleneck, classes)

    def features(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        f = self.bn(self.bfc(h.flatten(1)))  # train mode: batch statistics; eval: running
        return F.dropout(f, self.dropout, self.training)

    def head(self, f):
        return self.fc1(f)

    def forward(self, x):
        return self.head(self.features(x))

    def trainable(self):
        return [*self.conv1.parameters(), *self.conv2.parameters(),
                *self.bfc.parameters(), *self.bn.parameters()]

    def frozen(self):
        return [*self.fc1.parameters()]


# dak tensor name -> this module's parameter name.
NAMES = {
    "features.conv1": "conv1",
    "features.conv2": "conv2",
    "label.fc1": "fc1",
    "label.fc2": "fc2",
    "label.fc3": "fc3",
}


def load_dak_model(path):
    """The network and its class names from a dak model file."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("architecture") != "dann-digits":
        raise SystemExit(f"{path}: architecture {meta.get('architecture')!r}, expected dann-digits")
    if meta.get("preprocess", "unit") != "unit":
        raise SystemExit(f"{path}: preprocessing {meta.get('preprocess')!r}, expected unit")
    classes = json.loads(meta["classes"])
    recipe = "bottleneck.fc1.weight" in tensors
    state = {}
    if recipe:
        # SHOT's source recipe: check what the file's own record says about the head shape.
        config = json.loads(meta.get("dak.model", "{}")).get("config", {})
        if config.get("label_hidden", []) != [] or config.get("bottleneck_linear") is False:
            raise SystemExit(f"{path}: bottleneck model with label_hidden "
                             f"{config.get('label_hidden')} / bottleneck_linear "
                             f"{config.get('bottleneck_linear')}; expected SHOT's recipe")
        width = tensors["bottleneck.fc1.weight"].shape[0]
        net = RecipeNet(len(classes), width, float(config.get("bottleneck_dropout", 0.0)))
        names = {"features.conv1": "conv1", "features.conv2": "conv2",
                 "bottleneck.fc1": "bfc", "bottleneck.bn1": "bn", "label.fc1": "fc1"}
        for dak_prefix, name in names.items():
            kinds = ("weight", "bias")
            if name == "bn":
                kinds += ("running_mean", "running_var")
            for kind in kinds:
                key = f"{dak_prefix}.{kind}"
                if kind == "weight" and key not in tensors and f"{key}_v" in tensors:
                    # The recipe's weight-normalised head: W = g·V/‖V‖ per row. The head is
                    # frozen, so the folded weight is exact for every forward.
                    v, g = tensors[f"{key}_v"].double(), tensors[f"{key}_g"].double()
                    state[f"{name}.{kind}"] = (g.reshape(-1, 1) * v / v.norm(dim=1, keepdim=True)).float()
                    continue
                state[f"{name}.{kind}"] = tensors[key].float()
        state["bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)  # unused: momentum 0.1
        if any(k.startswith("label.fc2") for k in tensors):
            raise SystemExit(f"{path}: recipe model with more than one label layer")
    else:
        net = DigitsNet(len(classes))
        for dak_prefix, name in NAMES.items():
            for kind in ("weight", "bias"):
                state[f"{name}.{kind}"] = tensors[f"{dak_prefix}.{kind}"].float()
    # Same layouts as PyTorch: conv [out, in, kh, kw], dense [out, in]; strict: every
    # parameter of the module comes from the file.
    net.load_state_dict(state, strict=True)
    unused = sorted(k for k in tensors
                    if not k.startswith(("features.", "label.", "bottleneck.")))
    return net, classes, unused


@torch.no_grad()
def features_and_logits(net, x, batch=250):
    fs, zs = [], []
    for i in range(0, len(x), batch):
        f = net.features(x[i:i + batch])
        fs.append(f)
        zs.append(net.head(f))
    return torch.cat(fs), torch.cat(zs)


@torch.no_grad()
def accuracy(net, x, y):
    net.eval()
    _, z = features_and_logits(net, x)
    return (z.argmax(1) == y).double().mean().item()


# --------------------------------------------------------------------------------------------
# SHOT
# --------------------------------------------------------------------------------------------

def entropy(q):
    """H(q) = -sum_k q_k ln(q_k + eps), over the last axis."""
    return -(q * torch.log(q + EPS)).sum(-1)


@torch.no_grad()
def pseudo_labels(net, x, rounds=2):
    """SHOT's self-supervised labels of every row of `x` (nearest centroid, cosine), in float64.

    Round 0 weighs the rows by the model's probabilities, each later round by the one-hot
    labels of the round before. In every round only the classes some row currently holds
    (at first: the argmax of the softmax) are candidates: a class without rows has no centroid.
    Returns the labels and the argmax labels they started from."""
    net.eval()
    f, z = features_and_logits(net, x)
    probs = F.softmax(z, dim=1).double()
    k = probs.shape[1]
    fa = torch.cat([f.double(), torch.ones(len(f), 1, dtype=torch.float64)], dim=1)
    fa = fa / fa.norm(dim=1, keepdim=True)  # unit rows with the 1 appended
    start = probs.argmax(1)
    labels = start
    weights = probs
    for _ in range(rounds):
        centroids = weights.t() @ fa / (1e-8 + weights.sum(0)[:, None])  # [K, d + 1]
        held = torch.bincount(labels, minlength=k) > 0
        # Cosine distance 1 - f.c / (|f| |c|); |f| = 1.
        cos = fa @ centroids.t() / centroids.norm(dim=1).clamp_min(1e-300)[None, :]
        dist = 1.0 - cos
        dist[:, ~held] = float("inf")
        labels = dist.argmin(1)
        weights = F.one_hot(labels, k).double()
    return labels, start


def lr_at(lr0, t, total):
    return lr0 * (1.0 + 10.0 * t / total) ** (-0.75)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init", required=True, help="dak model file (.safetensors), dann-digits")
    ap.add_argument("--data", required=True, help="folder of `dak data mnist-m --out`")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="JSON file of the per-epoch results")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--weight-decay", type=float, default=1e-3,
                    help="1e-3: the authors' lr_scheduler setting and dak's default")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    net, classes, unused = load_dak_model(args.init)
    x_tr, y_tr = load_folder(os.path.join(args.data, "target", "train"), classes)
    x_te, y_te = load_folder(os.path.join(args.data, "target", "test"), classes)
    print(f"model {args.init}: {len(classes)} classes (ignored tensors: {', '.join(unused)})")
    print(f"target/train {len(x_tr)} images (labels only reported), target/test {len(x_te)}")

    # The hypothesis (label head) is frozen; only the features (with the recipe's bottleneck
    # Linear and BN gamma/beta) train.
    for p in net.frozen():
        p.requires_grad_(False)
    trainable = net.trainable()
    print(f"network: {type(net).__name__}; trainable tensors {len(trainable)}, "
          f"parameters {sum(p.numel() for p in trainable)}")
    opt = torch.optim.SGD(trainable, lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)

    n = len(x_tr)
    batch_sizes = [min(args.batch, n - i) for i in range(0, n, args.batch)]
    steps_per_epoch = sum(1 for b in batch_sizes if b >= 2)
    total = steps_per_epoch * args.epochs
    gen = torch.Generator().manual_seed(args.seed)

    history = [{"epoch": 0, "target_acc": accuracy(net, x_te, y_te), "lr": 0.0}]
    print(f"epoch  0  target_acc {history[0]['target_acc']:.4f}", flush=True)
    t = 0
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        labels, start = pseudo_labels(net, x_tr)
        pl_acc = (labels == y_tr).double().mean().item()
        argmax_acc = (start == y_tr).double().mean().item()
        # Train mode: the recipe's BN normalises with each batch's statistics and moves its
        # running ones (the plain network has no BN or dropout: no difference there).
        net.train()
        order = torch.randperm(n, generator=gen)
        loss_sum, agree, seen, lr = 0.0, 0, 0, 0.0
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            if len(idx) < 2:
                continue
            lr = lr_at(args.lr, t + 1, total)
            for g in opt.param_groups:
                g["lr"] = lr
            z = net(x_tr[idx])
            p = F.softmax(z, dim=1)
            im = entropy(p).mean() - entropy(p.mean(0))
            ce = F.cross_entropy(z, labels[idx])
            loss = ENT_PAR * im + CLS_PAR * ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            t += 1
            loss_sum += loss.item()
            agree += (z.argmax(1) == labels[idx]).sum().item()
            seen += len(idx)
        acc = accuracy(net, x_te, y_te)
        rec = {
            "epoch": epoch,
            "target_acc": acc,
            "lr": lr,
            "loss": loss_sum / steps_per_epoch,
            "pseudo_label_acc": pl_acc,  # clustering labels vs the true target/train labels
            "argmax_acc": argmax_acc,  # the model's argmax on target/train before the epoch
            "agree": agree / max(seen, 1),  # batch argmax vs pseudo-labels (dak's train_acc)
            # Classes held by the argmax labels and by the pseudo-labels: a class no image
            # holds has no centroid (the authors' digits script does not guard against it).
            "classes_argmax": int(start.unique().numel()),
            "classes_pseudo": int(labels.unique().numel()),
            "seconds": time.time() - t0,
        }
        history.append(rec)
        print(f"epoch {epoch:2d}  target_acc {acc:.4f}  loss {rec['loss']:+.4f}  "
              f"pseudo-labels {pl_acc:.4f} (argmax {argmax_acc:.4f}; classes {rec['classes_pseudo']}/"
              f"{rec['classes_argmax']})  agree {rec['agree']:.4f}  "
              f"lr {lr:.5f}  {rec['seconds']:.1f}s", flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({
            "init": args.init,
            "data": args.data,
            "seed": args.seed,
            "config": {
                "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
                "weight_decay": args.weight_decay, "momentum": 0.9, "nesterov": True,
                "ent_par": ENT_PAR, "cls_par": CLS_PAR, "steps_per_epoch": steps_per_epoch,
                "torch": torch.__version__, "network": type(net).__name__,
            },
            "epochs": history,
        }, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
