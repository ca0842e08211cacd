#!/usr/bin/env python3
"""Build dak's suite of domain-adaptation pairs for label-free selection, offline.

Usage:

    python3 scripts/selection_suite.py [--out DIR] [--pairs NAME,NAME...] [--list]

Each pair is written as image folders that `dak` reads with Keras folder semantics:

    DIR/<pair>/source/train/<class>/<NNNNN>.png
    DIR/<pair>/source/test/<class>/<NNNNN>.png
    DIR/<pair>/target/train/<class>/<NNNNN>.png
    DIR/<pair>/target/test/<class>/<NNNNN>.png
    DIR/<pair>/pair.json      name, description, counts, recipe parameters, script version

All images are 28x28 RGB PNG (grey images are replicated to three channels). The default DIR
is target/selection-suite under the repository root. Everything is deterministic: each pair
has its own fixed seed, and a rerun writes the same bytes. A pair whose pair.json already
holds this script version and the same recipe is skipped ("cached"). Each pair is built in a
hidden temporary folder beside its final place and renamed into place when complete, so an
interrupted run never leaves a pair that looks finished.

Inputs (no network): data/mnist/ in this repository (10,000 MNIST digits, IDX), Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), scikit-learn's bundled 8x8 digits
and sample images, and colour photos that ship inside the scikit-image wheel.
See docs/selection.md, section "The pair suite".
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path

SCRIPT_VERSION = "1"
INSTALL_PIP = "pip install numpy scikit-learn scikit-image pillow"
INSTALL_APT = "apt-get install dataset-fashion-mnist"


def die(msg):
    sys.exit(f"selection_suite.py: error: {msg}")


try:
    import numpy as np
except ImportError:
    die(f"missing Python package numpy; install it with `{INSTALL_PIP}`")
try:
    from PIL import Image, ImageFilter
except ImportError:
    die(f"missing Python package Pillow; install it with `{INSTALL_PIP}`")

REPO = Path(__file__).resolve().parent.parent
MNIST_IMAGES = REPO / "data/mnist/digits-images-idx3-ubyte.gz"
MNIST_LABELS = REPO / "data/mnist/digits-labels-idx1-ubyte.gz"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

SPLITS = ["source/train", "source/test", "target/train", "target/test"]
DEFAULT_SIZES = {"source/train": 2000, "source/test": 500, "target/train": 2000, "target/test": 1000}
DIGIT_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["0-tshirt", "1-trouser", "2-pullover", "3-dress", "4-coat",
                   "5-sandal", "6-shirt", "7-sneaker", "8-bag", "9-boot"]

# Colour photos for the photo-blend recipes. None of them is in the bundled MNIST-M set
# (data/photos: astronaut, chelsea, coffee, rocket). retina is cut to the central 960x960
# square inside the fundus circle (its corners are black). hubble_deep_field is left out:
# 89% of its pixels are near black, so its patches would give almost plain digits.
PHOTOS = ["skimage:immunohistochemistry", "skimage:retina", "skimage:stereo_motorcycle",
          "sklearn:china.jpg", "sklearn:flower.jpg"]

# ---------------------------------------------------------------------------------------------
# Input data


def read_idx(path, magic, dims):
    """Standard IDX file (gzip): big-endian magic, dims, u8 payload."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    head = struct.unpack(">" + "I" * (1 + dims), raw[: 4 * (1 + dims)])
    if head[0] != magic:
        die(f"{path}: bad IDX magic {head[0]:#010x}, expected {magic:#010x}")
    shape = head[1:]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims))
    if data.size != int(np.prod(shape)):
        die(f"{path}: {data.size} bytes of payload, header says {shape}")
    return data.reshape(shape)


def need_file(path, how):
    if not path.is_file():
        die(f"missing {path}; {how}")


_cache = {}


def mnist():
    """The 10,000 digits bundled in data/mnist: (images u8 [N,28,28], labels u8 [N])."""
    if "mnist" not in _cache:
        for p in (MNIST_IMAGES, MNIST_LABELS):
            need_file(p, "it is part of the dak repository (git checkout data/mnist)")
        x = read_idx(MNIST_IMAGES, 0x803, 3)
        y = read_idx(MNIST_LABELS, 0x801, 1)
        _cache["mnist"] = (x, y)
    return _cache["mnist"]


def fashion(part):
    """Fashion-MNIST from Debian's dataset-fashion-mnist; part is 'train' or 't10k'."""
    key = "fashion-" + part
    if key not in _cache:
        xi = FASHION_DIR / f"{part}-images-idx3-ubyte.gz"
        yi = FASHION_DIR / f"{part}-labels-idx1-ubyte.gz"
        for p in (xi, yi):
            need_file(p, f"install Fashion-MNIST with `{INSTALL_APT}`")
        _cache[key] = (read_idx(xi, 0x803, 3), read_idx(yi, 0x801, 1))
    return _cache[key]


def sklearn_digits():
    """scikit-learn's 1,797 8x8 digits (values 0..16): (images float [N,8,8], labels [N])."""
    if "sk-digits" not in _cache:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            die(f"missing Python package scikit-learn; install it with `{INSTALL_PIP}`")
        d = load_digits()
        _cache["sk-digits"] = (d.images, d.target.astype(np.uint8))
    return _cache["sk-digits"]


def load_photo(name):
    kind, what = name.split(":")
    if kind == "skimage":
        try:
            import skimage.data as skd
        except ImportError:
            die(f"missing Python package scikit-image; install it with `{INSTALL_PIP}`")
        try:
            img = getattr(skd, what)()
        except Exception as e:  # noqa: BLE001 -- any failure here is the same missing input
            die(f"scikit-image photo {what} did not load offline ({type(e).__name__}); "
                f"reinstall scikit-image with `{INSTALL_PIP}`")
        if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
            img = img[0]
        if what == "retina":
            c = img.shape[0] // 2
            img = img[c - 480 : c + 480, c - 480 : c + 480]
    else:
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            die(f"missing Python package scikit-learn; install it with `{INSTALL_PIP}`")
        img = load_sample_image(what)
    img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    if img.ndim != 3 or min(img.shape[:2]) < 4 * 28:
        die(f"photo {name} has unexpected shape {img.shape}")
    return img


def photos():
    if "photos" not in _cache:
        _cache["photos"] = [load_photo(n) for n in PHOTOS]
    return _cache["photos"]


# ---------------------------------------------------------------------------------------------
# Pools: draw disjoint, class-controlled subsets


def unique_first(x):
    """Indices of the first occurrence of each distinct image (drops exact duplicates)."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    rows = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()
    _, first = np.unique(rows, return_index=True)
    return np.sort(first)


class Pool:
    """Indices of one dataset, per class, shuffled once; draws never repeat an index."""

    def __init__(self, labels, rng, keep=None):
        idx = np.arange(len(labels)) if keep is None else np.asarray(keep)
        self.by_class = {}
        for c in range(10):
            members = idx[labels[idx] == c]
            self.by_class[c] = list(members[rng.permutation(len(members))])

    def take(self, per_class):
        out = []
        for c, n in enumerate(per_class):
            have = self.by_class[c]
            if n > len(have):
                die(f"internal: class {c} needs {n} more images, only {len(have)} left")
            out.extend(have[:n])
            self.by_class[c] = have[n:]
        return np.array(out, dtype=np.int64)

    def take_balanced(self, n):
        """n images, classes as equal as the pool allows (round-robin from class 0, skipping
        classes that run out)."""
        counts = [0] * 10
        left = [len(self.by_class[c]) for c in range(10)]
        c = 0
        for _ in range(n):
            while counts[c] >= left[c]:
                c = (c + 1) % 10
                if sum(left) == sum(counts):
                    die(f"internal: pool exhausted drawing {n} images")
            counts[c] += 1
            c = (c + 1) % 10
        return self.take(counts)

    def take_rest(self):
        return self.take([len(self.by_class[c]) for c in range(10)])


def skewed_counts(n, weights):
    """Split n over classes in proportion to weights (largest remainder, ties to low class)."""
    w = np.asarray(weights, dtype=np.float64)
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(w)), key=lambda c: (-(exact[c] - counts[c]), c))
    for c in order[: n - counts.sum()]:
        counts[c] += 1
    return [int(v) for v in counts]


# ---------------------------------------------------------------------------------------------
# Image recipes. Inputs are u8 [N,28,28] (grey); outputs u8 [N,28,28,3].


def grey_rgb(x):
    return np.repeat(x[..., None], 3, axis=3)


def photo_patches(n, rng, split):
    """n random 28x28 patches from the photo set. Train splits cut patches only from rows
    [0, floor(3h/4)), test splits only from rows [floor(3h/4), h) of each photo."""
    ph = photos()
    which = rng.integers(0, len(ph), size=n)
    out = np.empty((n, 28, 28, 3), dtype=np.uint8)
    test = split.endswith("test")
    for i in range(n):
        p = ph[which[i]]
        h, w = p.shape[:2]
        cut = (3 * h) // 4
        lo, hi = (cut, h - 28) if test else (0, cut - 28)
        y = rng.integers(lo, hi + 1)
        x = rng.integers(0, w - 28 + 1)
        out[i] = p[y : y + 28, x : x + 28]
    return out


def mnistm_blend(x, rng, split, binarise):
    """Ganin et al.'s MNIST-M rule: out = |patch - digit| per channel."""
    d = np.where(x > 0, 255, 0).astype(np.uint8) if binarise else x
    patch = photo_patches(len(x), rng, split).astype(np.int16)
    return np.abs(patch - grey_rgb(d).astype(np.int16)).astype(np.uint8)


def saturated_colours(n, rng):
    """Fully saturated, full-value colours of uniformly random hue (HSV -> RGB)."""
    h = rng.random(n) * 6.0
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    one, rise, fall, zero = np.ones(n), f, 1.0 - f, np.zeros(n)
    table = [(one, rise, zero), (fall, one, zero), (zero, one, rise),
             (zero, fall, one), (rise, zero, one), (one, zero, fall)]
    rgb = np.zeros((n, 3))
    for k, (r, g, b) in enumerate(table):
        m = i == k
        rgb[m] = np.stack([r[m], g[m], b[m]], axis=1)
    return rgb * 255.0


def colour_overlay(x, rng, split):
    """The digit in a random saturated colour, alpha-blended over a photo patch:
    a = x/255 * 0.8, out = (1 - a) * patch + a * colour."""
    patch = photo_patches(len(x), rng, split).astype(np.float64)
    colour = saturated_colours(len(x), rng)[:, None, None, :]
    a = (x.astype(np.float64) / 255.0 * 0.8)[..., None]
    out = (1.0 - a) * patch + a * colour
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def upscale_lowres(x8):
    """8x8 digits (0..16) -> 0..255 -> 20x20 (PIL bilinear) -> padded to 28x28, centred."""
    out = np.zeros((len(x8), 28, 28), dtype=np.uint8)
    for i, im in enumerate(x8):
        u8 = np.clip(np.rint(im * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        big = Image.fromarray(u8, "L").resize((20, 20), Image.BILINEAR)
        out[i, 4:24, 4:24] = np.asarray(big)
    return out


def degrade(x, rng):
    """Gaussian blur (radius 1), contrast x*0.6 + 50, additive Gaussian noise sigma 50 (the same
    value on all three channels, so the image stays grey), clipped to 0..255."""
    blurred = np.stack([np.asarray(Image.fromarray(im, "L").filter(ImageFilter.GaussianBlur(1)))
                        for im in x]).astype(np.float64)
    out = blurred * 0.6 + 50.0 + rng.normal(0.0, 50.0, size=blurred.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The pairs. Each builder returns {split: (images u8 [N,28,28,3], labels [N])}.

DIGITS_MNIST = "MNIST (data/mnist, 10,000 digits)"


def mnist_draws(rng, target_counts=None, sizes=DEFAULT_SIZES):
    """Disjoint class-balanced MNIST draws for all four splits (target optionally skewed)."""
    x, y = mnist()
    pool = Pool(y, rng, unique_first(x))
    idx = {}
    for s in SPLITS:
        if target_counts and s in target_counts:
            idx[s] = pool.take(target_counts[s])
        else:
            idx[s] = pool.take_balanced(sizes[s])
    return {s: (x[i], y[i]) for s, i in idx.items()}


def fashion_draws(rng):
    """Train splits from Fashion's train file, test splits from its t10k file (exact duplicate
    images dropped across both files), class-balanced, disjoint."""
    xtr, ytr = fashion("train")
    xte, yte = fashion("t10k")
    xall = np.concatenate([xtr, xte])
    yall = np.concatenate([ytr, yte])
    keep = unique_first(xall)
    train_pool = Pool(yall, rng, keep[keep < len(xtr)])
    test_pool = Pool(yall, rng, keep[keep >= len(xtr)])
    out = {}
    for s in SPLITS:
        pool = train_pool if s.endswith("train") else test_pool
        i = pool.take_balanced(DEFAULT_SIZES[s])
        out[s] = (xall[i], yall[i])
    return out


def lowres_draws(rng, train_n):
    """The 1,797 scikit-learn digits split class-balanced into train_n and the rest."""
    x8, y = sklearn_digits()
    pool = Pool(y, rng, unique_first(x8))
    tr = pool.take_balanced(train_n)
    te = pool.take_rest()
    return (upscale_lowres(x8[tr]), y[tr]), (upscale_lowres(x8[te]), y[te])


def build_mnist_photo(p, rng, photo_side):
    d = mnist_draws(rng)
    out = {}
    for s in SPLITS:
        x, y = d[s]
        if s.startswith(photo_side):
            if p["recipe"]["blend"] == "mnistm":
                out[s] = (mnistm_blend(x, rng, s, binarise=True), y)
            else:
                out[s] = (colour_overlay(x, rng, s), y)
        else:
            out[s] = (grey_rgb(x), y)
    return out


def build_lowres_to_mnist(p, rng):
    (xs_tr, ys_tr), (xs_te, ys_te) = lowres_draws(rng, p["recipe"]["lowres_train"])
    x, y = mnist()
    pool = Pool(y, rng, unique_first(x))
    it = pool.take_balanced(DEFAULT_SIZES["target/train"])
    ie = pool.take_balanced(DEFAULT_SIZES["target/test"])
    return {"source/train": (grey_rgb(xs_tr), ys_tr), "source/test": (grey_rgb(xs_te), ys_te),
            "target/train": (grey_rgb(x[it]), y[it]), "target/test": (grey_rgb(x[ie]), y[ie])}


def build_mnist_to_lowres(p, rng):
    x, y = mnist()
    pool = Pool(y, rng, unique_first(x))
    i_tr = pool.take_balanced(DEFAULT_SIZES["source/train"])
    i_te = pool.take_balanced(DEFAULT_SIZES["source/test"])
    (xt_tr, yt_tr), (xt_te, yt_te) = lowres_draws(rng, p["recipe"]["lowres_train"])
    return {"source/train": (grey_rgb(x[i_tr]), y[i_tr]), "source/test": (grey_rgb(x[i_te]), y[i_te]),
            "target/train": (grey_rgb(xt_tr), yt_tr), "target/test": (grey_rgb(xt_te), yt_te)}


def build_fashion(p, rng):
    d = fashion_draws(rng)
    how = p["recipe"]["target"]
    out = {}
    for s in SPLITS:
        x, y = d[s]
        if s.startswith("source"):
            out[s] = (grey_rgb(x), y)
        elif how == "invert":
            out[s] = (grey_rgb(255 - x), y)
        elif how == "degrade":
            out[s] = (grey_rgb(degrade(x, rng)), y)
        elif how == "photo":
            out[s] = (mnistm_blend(x, rng, s, binarise=False), y)
    return out


def build_mnist_same(p, rng):
    tc = None
    if "target_class_weights" in p["recipe"]:
        w = p["recipe"]["target_class_weights"]
        tc = {s: skewed_counts(DEFAULT_SIZES[s], w) for s in ("target/train", "target/test")}
    d = mnist_draws(rng, tc)
    return {s: (grey_rgb(x), y) for s, (x, y) in d.items()}


MNISTM_RECIPE = {"blend": "mnistm", "rule": "out = |patch - digit| per channel",
                 "binarise": "pixel > 0 -> 255", "photos": PHOTOS,
                 "patch_rows": "train splits rows [0, floor(3h/4)), test splits rows [floor(3h/4), h)"}
OVERLAY_RECIPE = {"blend": "overlay", "rule": "a = x/255*0.8; out = (1-a)*patch + a*colour",
                  "colour": "HSV hue uniform, saturation 1, value 1", "photos": PHOTOS,
                  "patch_rows": "train splits rows [0, floor(3h/4)), test splits rows [floor(3h/4), h)"}
LOWRES_RECIPE = {"lowres": "sklearn load_digits 8x8, x*255/16, PIL bilinear to 20x20, "
                           "zero-padded to 28x28 centred"}

PAIRS = [
    dict(name="mnist-to-mnistm-other", seed=9101,
         description="MNIST -> MNIST-M composed from photos outside the bundled set",
         source="MNIST", target="MNIST-M (other photos)",
         shift="covariate: colour and texture background (the classic DANN benchmark)",
         recipe=MNISTM_RECIPE, build=lambda p, r: build_mnist_photo(p, r, "target")),
    dict(name="mnist-to-colour-overlay", seed=9102,
         description="MNIST -> digits in a random saturated colour alpha-blended over photos",
         source="MNIST", target="colour overlay on photos",
         shift="covariate: colour, background, blend rule different from MNIST-M",
         recipe=OVERLAY_RECIPE, build=lambda p, r: build_mnist_photo(p, r, "target")),
    dict(name="mnistm-other-to-mnist", seed=9103,
         description="MNIST-M (other photos) -> MNIST, the reverse of mnist-to-mnistm-other",
         source="MNIST-M (other photos)", target="MNIST",
         shift="covariate, reversed: rich source, simple target",
         recipe=MNISTM_RECIPE, build=lambda p, r: build_mnist_photo(p, r, "source")),
    dict(name="colour-overlay-to-mnist", seed=9104,
         description="colour overlay on photos -> MNIST, the reverse of mnist-to-colour-overlay",
         source="colour overlay on photos", target="MNIST",
         shift="covariate, reversed: rich source, simple target",
         recipe=OVERLAY_RECIPE, build=lambda p, r: build_mnist_photo(p, r, "source")),
    dict(name="lowres-to-mnist", seed=9105,
         description="scikit-learn 8x8 digits upscaled to 28x28 -> MNIST",
         source="scikit-learn digits (8x8, upscaled)", target="MNIST",
         shift="covariate: resolution, stroke style, different writers and scanner",
         recipe=dict(LOWRES_RECIPE, lowres_train=1400), build=build_lowres_to_mnist),
    dict(name="mnist-to-lowres", seed=9106,
         description="MNIST -> scikit-learn 8x8 digits upscaled to 28x28",
         source="MNIST", target="scikit-learn digits (8x8, upscaled)",
         shift="covariate: resolution, stroke style (reverse of lowres-to-mnist)",
         recipe=dict(LOWRES_RECIPE, lowres_train=1000), build=build_mnist_to_lowres),
    dict(name="fashion-to-inverted", seed=9107,
         description="Fashion-MNIST -> inverted Fashion-MNIST (255 - x)",
         source="Fashion-MNIST", target="Fashion-MNIST inverted",
         shift="covariate: global intensity inversion, a different dataset family",
         recipe={"target": "invert", "rule": "out = 255 - x",
                 "files": "train splits from train-*, test splits from t10k-*"},
         build=build_fashion),
    dict(name="fashion-to-noisy", seed=9108,
         description="Fashion-MNIST -> blurred, low-contrast, noisy Fashion-MNIST",
         source="Fashion-MNIST", target="Fashion-MNIST degraded",
         shift="covariate: blur, contrast loss and sensor noise",
         recipe={"target": "degrade", "blur": "PIL GaussianBlur radius 1",
                 "contrast": "x*0.6 + 50", "noise": "Gaussian sigma 50, grey, clipped 0..255",
                 "order": "blur, contrast, noise, clip",
                 "files": "train splits from train-*, test splits from t10k-*"},
         build=build_fashion),
    dict(name="fashion-to-photo", seed=9109,
         description="Fashion-MNIST -> Fashion-MNIST blended with photo patches (|patch - x|)",
         source="Fashion-MNIST", target="Fashion-MNIST on photos",
         shift="covariate: colour and texture background on a non-digit task",
         recipe={"target": "photo", "rule": "out = |patch - x| per channel, x not binarised",
                 "photos": PHOTOS,
                 "patch_rows": "train splits rows [0, floor(3h/4)), test splits rows [floor(3h/4), h)",
                 "files": "train splits from train-*, test splits from t10k-*"},
         build=build_fashion),
    dict(name="mnist-to-mnist-labelshift", seed=9110,
         description="MNIST -> other MNIST digits, no image shift, classes 0-4 ten times as frequent",
         source="MNIST (balanced)", target="MNIST (label shift 10:1)",
         shift="label shift only; marginal alignment (DANN) is known to hurt",
         recipe={"target_class_weights": [10] * 5 + [1] * 5,
                 "counts": "largest remainder over the weights, target/train and target/test"},
         build=build_mnist_same),
    dict(name="mnist-to-mnist-same", seed=9111,
         description="MNIST -> other MNIST digits, no shift at all (control)",
         source="MNIST", target="MNIST (other digits)",
         shift="none: a control where adaptation has nothing to gain",
         recipe={"target": "plain MNIST, disjoint digits"}, build=build_mnist_same),
]
PAIR_BY_NAME = {p["name"]: p for p in PAIRS}

# ---------------------------------------------------------------------------------------------
# Writing


def pair_params(p):
    """What the cache compares: everything that determines the pair's bytes."""
    return {"seed": p["seed"], "sizes": DEFAULT_SIZES, "recipe": p["recipe"]}


def write_split(root, split, x, y, classes):
    d = root / split
    for c in classes:
        (d / c).mkdir(parents=True, exist_ok=True)
    for i in range(len(x)):
        Image.fromarray(x[i], "RGB").save(d / classes[int(y[i])] / f"{i:05d}.png", format="PNG")


def check_distinct(data):
    """No image (pixel array) may appear twice anywhere in the pair."""
    seen = set()
    for s in SPLITS:
        x = np.ascontiguousarray(data[s][0])
        for i in range(len(x)):
            h = x[i].tobytes()
            if h in seen:
                die(f"internal: duplicate image in {s} (index {i})")
            seen.add(h)


def build_pair(p, out_dir):
    final = out_dir / p["name"]
    meta_path = final / "pair.json"
    params = pair_params(p)
    if meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            old = {}
        same = old.get("params") == json.loads(json.dumps(params))
        if old.get("script_version") == SCRIPT_VERSION and same:
            counts = ", ".join(f"{s} {n}" for s, n in old["counts"].items())
            print(f"{p['name']}: cached ({counts})", flush=True)
            return
    t0 = time.time()
    rng = np.random.default_rng(p["seed"])
    data = p["build"](p, rng)
    for s in SPLITS:
        x, y = data[s]
        # Shuffle within the split so file numbers do not follow the draw order.
        perm = rng.permutation(len(x))
        data[s] = (np.ascontiguousarray(x[perm], dtype=np.uint8), np.asarray(y)[perm])
        assert data[s][0].shape[1:] == (28, 28, 3), (s, data[s][0].shape)
    check_distinct(data)
    classes = FASHION_CLASSES if p["name"].startswith("fashion") else DIGIT_CLASSES

    tmp = out_dir / f".{p['name']}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for s in SPLITS:
        write_split(tmp, s, data[s][0], data[s][1], classes)
    meta = {
        "name": p["name"],
        "description": p["description"],
        "source": p["source"],
        "target": p["target"],
        "shift": p["shift"],
        "script_version": SCRIPT_VERSION,
        "params": params,
        "classes": classes,
        "counts": {s: int(len(data[s][1])) for s in SPLITS},
        "class_counts": {s: [int(v) for v in np.bincount(data[s][1], minlength=10)] for s in SPLITS},
        "image": "28x28 RGB PNG",
    }
    (tmp / "pair.json").write_text(json.dumps(meta, indent=2) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    counts = ", ".join(f"{s} {n}" for s, n in meta["counts"].items())
    print(f"{p['name']}: built ({counts}) in {time.time() - t0:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "target/selection-suite",
                    help="output folder (default: target/selection-suite in the repository)")
    ap.add_argument("--pairs", help="comma-separated pair names (default: all)")
    ap.add_argument("--list", action="store_true", help="print the pair names and exit")
    a = ap.parse_args()
    if a.list:
        w = max(len(p["name"]) for p in PAIRS)
        for p in PAIRS:
            print(f"{p['name']:<{w}}  {p['description']}")
        return
    if a.pairs:
        names = [n.strip() for n in a.pairs.split(",") if n.strip()]
        bad = [n for n in names if n not in PAIR_BY_NAME]
        if bad:
            die(f"unknown pair(s) {', '.join(bad)}; --list shows the names")
        chosen = [PAIR_BY_NAME[n] for n in names]
    else:
        chosen = PAIRS
    a.out.mkdir(parents=True, exist_ok=True)
    # Leftovers of interrupted runs (hidden temp folders) are never taken for a pair.
    for p in chosen:
        for stale in a.out.glob(f".{p['name']}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    t0 = time.time()
    for p in chosen:
        build_pair(p, a.out)
    print(f"{len(chosen)} pair(s) in {a.out} ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
