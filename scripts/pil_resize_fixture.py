#!/usr/bin/env python3
"""Writes tests/fixtures/pil_resize.json: what PIL does to one small RGB image.

dak's resampler and ImageNet evaluation transform are checked against it (tests/it/data/preprocess.rs)
to the bit:
  - `enlarge`, `reduce`, `mixed` (wider and shorter): Image.resize((w, h), Image.BILINEAR)
    of the whole image;
  - `crop`: a region cropped, then resized (what torchvision's RandomResizedCrop does);
  - `eval`: torchvision's evaluation transform written out with PIL — Resize(round(S / 0.875))
    of the short side (the long side truncated, as torchvision computes it), BILINEAR, uint8,
    then CenterCrop(S) with offsets int(round((size - S) / 2)).
The input is a smooth colour pattern plus deterministic noise (an LCG), so both the filter
shape and the edge handling show.

Usage: pip install pillow && python3 scripts/pil_resize_fixture.py
"""
import json
import math
import os

import PIL
from PIL import Image

W, H = 45, 38


def source():
    state = 12345
    px = []
    for y in range(H):
        for x in range(W):
            for c in range(3):
                state = (state * 1103515245 + 12345) % (1 << 31)
                noise = (state >> 16) % 64
                smooth = 96 + 80 * math.sin(0.31 * x + 0.17 * y + 2.1 * c)
                px.append(max(0, min(255, int(smooth) + noise - 32)))
    return px


def to_list(img):
    return list(img.tobytes())


def eval_transform(img, side):
    size = round(side / 0.875)
    w, h = img.size
    if w <= h:
        ow, oh = size, int(size * h / w)
    else:
        ow, oh = int(size * w / h), size
    r = img.resize((ow, oh), Image.BILINEAR)
    left = int(round((ow - side) / 2.0))
    top = int(round((oh - side) / 2.0))
    return r.crop((left, top, left + side, top + side))


def main():
    px = source()
    img = Image.frombytes("RGB", (W, H), bytes(px))
    cases = {}
    for name, (w, h) in {"enlarge": (71, 53), "reduce": (17, 12), "mixed": (60, 19)}.items():
        out = img.resize((w, h), Image.BILINEAR)
        cases[name] = {"width": w, "height": h, "pixels": to_list(out)}
    box = (5, 3, 5 + 31, 3 + 27)
    out = img.crop(box).resize((24, 20), Image.BILINEAR)
    cases["crop"] = {"width": 24, "height": 20, "pixels": to_list(out), "box": list(box)}
    side = 32
    out = eval_transform(img, side)
    cases["eval"] = {"width": side, "height": side, "pixels": to_list(out)}
    fixture = {"width": W, "height": H, "pixels": px, "cases": cases,
               "pillow": PIL.__version__}
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "pil_resize.json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
