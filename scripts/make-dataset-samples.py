#!/usr/bin/env python3
"""Writes a few MNIST and Fashion-MNIST test images to Samples/ as PNG and JPEG, with an index.

Usage (Pillow from PyPI, in a throw-away venv; the data from scripts/fetch-datasets.sh):

    bash scripts/fetch-datasets.sh
    python3 -m venv /tmp/mtz-samples-venv && /tmp/mtz-samples-venv/bin/pip install pillow
    /tmp/mtz-samples-venv/bin/python scripts/make-dataset-samples.py

Reads the raw IDX files of each dataset's test split (t10k-*) from $MTZ_DATA_DIR or data/
directly (no dataset library), and writes images 0..COUNT-1 at their native 28 x 28 as 8-bit
greyscale: Samples/<dataset>/test-<index:04d>-<label>.png (lossless: the exact dataset pixels)
and .jpg (quality 95, baseline). Samples/index.csv lists every file written with its dataset,
split, index, label and class name. The output is deterministic.
"""

import argparse
import csv
import os
import struct
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "Samples"

# CLI name -> (directory under the data root, class names indexed by label).
DATASETS = {
    "mnist": ("mnist", [str(digit) for digit in range(10)]),
    "fashion": ("fashion-mnist", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]),
}


def read_idx(path, magic, dimensions):
    """Returns (sizes, payload bytes) of an unsigned-byte IDX file, checking magic and length."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        sys.exit(f"{path} is gzipped: run scripts/fetch-datasets.sh")
    header = 4 + 4 * dimensions
    found, *sizes = struct.unpack(">" + "I" * (1 + dimensions), data[:header])
    if found != magic:
        sys.exit(f"{path}: magic {found:#010x}, expected {magic:#010x}")
    payload = 1
    for size in sizes:
        payload *= size
    if len(data) != header + payload:
        sys.exit(f"{path}: {len(data)} bytes, expected {header + payload}")
    return sizes, data[header:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("MTZ_DATA_DIR") or ROOT / "data"),
                        help="data root holding mnist/ and fashion-mnist/ (default: $MTZ_DATA_DIR or data/)")
    parser.add_argument("--count", type=int, default=4, help="images per dataset, test indices 0..COUNT-1")
    args = parser.parse_args()

    rows_out = []
    for name, (directory, class_names) in DATASETS.items():
        source = args.data / directory
        (count, rows, cols), pixels = read_idx(source / "t10k-images-idx3-ubyte", 0x803, 3)
        (label_count,), labels = read_idx(source / "t10k-labels-idx1-ubyte", 0x801, 1)
        if count != label_count:
            sys.exit(f"{source}: {count} images but {label_count} labels")

        out = SAMPLES / name
        out.mkdir(parents=True, exist_ok=True)
        size = rows * cols
        for index in range(args.count):
            label = labels[index]
            image = Image.frombytes("L", (cols, rows), pixels[index * size:(index + 1) * size])
            stem = f"test-{index:04d}-{label}"
            image.save(out / f"{stem}.png", optimize=True)
            image.save(out / f"{stem}.jpg", quality=95)
            for ext in ("png", "jpg"):
                rows_out.append([f"{name}/{stem}.{ext}", name, "test", index, label, class_names[label]])
            print(f"{name} test {index}: label {label} ({class_names[label]}) -> Samples/{name}/{stem}.png/.jpg")

    with open(SAMPLES / "index.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "dataset", "split", "index", "label", "label_name"])
        writer.writerows(rows_out)
    print(f"wrote Samples/index.csv ({len(rows_out)} files)")


if __name__ == "__main__":
    main()
