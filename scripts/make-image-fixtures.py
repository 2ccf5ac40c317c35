#!/usr/bin/env python3
"""Writes the PNG/JPEG test fixtures of MTZImageTests, and (optionally) the sample photos.

Usage (Pillow and numpy from PyPI, in a throw-away venv):

    python3 -m venv /tmp/imgvenv && /tmp/imgvenv/bin/pip install pillow numpy
    /tmp/imgvenv/bin/python scripts/make-image-fixtures.py
    /tmp/imgvenv/bin/python scripts/make-image-fixtures.py --samples /path/to/scikit_image-*.whl

Fixtures go to Tests/MTZImageTests/Fixtures/. For every decodable fixture NAME.EXT there is a
NAME.raw with the pixels a correct decoder returns (8-bit, interleaved, rows top to bottom) and a
line in manifest.json giving width, height, channels and the tolerance (0 for PNG; for JPEG the
expected pixels are Pillow's decode, which also uses libjpeg-turbo, so a small tolerance is
allowed). Bad files have an "error" kind instead.

PNGs are written by the small encoder below rather than by Pillow, so that every colour type,
bit depth, filter type, tRNS variant and Adam7 interlacing is covered exactly; each one is also
decoded with Pillow as a cross-check of the encoder. The output is deterministic.
"""

import argparse
import io
import json
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "MTZImageTests" / "Fixtures"
SAMPLES = ROOT / "Samples"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


# --------------------------------------------------------------------------------------------
# A minimal PNG encoder


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pack_row(samples: np.ndarray, depth: int) -> bytes:
    """Packs one row of samples (already flattened over channels) at the given bit depth."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-len(samples) // per_byte) * per_byte, dtype=np.uint8)
    padded[: len(samples)] = samples
    out = bytearray()
    for i in range(0, len(padded), per_byte):
        byte = 0
        for v in padded[i : i + per_byte]:
            byte = (byte << depth) | int(v)
        out.append(byte)
    return bytes(out)


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(kind: int, row: bytes, prior: bytes, bpp: int) -> bytes:
    out = bytearray([kind])
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i] if prior else 0
        c = prior[i - bpp] if prior and i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out.append((x - predictor) & 0xFF)
    return bytes(out)


def encode_scanlines(samples: np.ndarray, depth: int, row_index: list) -> bytes:
    """Filters every row of one (sub)image, cycling through the five filter types."""
    height, width, channels = samples.shape
    bpp = max(1, channels * depth // 8)
    out, prior = bytearray(), b""
    for y in range(height):
        row = pack_row(samples[y].reshape(-1), depth)
        out += filter_row(row_index[0] % 5, row, prior, bpp)
        row_index[0] += 1
        prior = row
    return bytes(out)


def write_png(samples: np.ndarray, color_type: int, depth: int, interlace: bool = False,
              palette: np.ndarray = None, trns: bytes = None) -> bytes:
    """Encodes samples shaped (height, width, channels) as a PNG."""
    height, width, channels = samples.shape
    assert channels == CHANNELS[color_type]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    row_index = [0]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += encode_scanlines(sub, depth, row_index)
    else:
        raw = encode_scanlines(samples, depth, row_index)
    data = PNG_SIGNATURE + chunk(b"IHDR", ihdr)
    if palette is not None:
        data += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        data += chunk(b"tRNS", trns)
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    return data + chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------
# Deterministic test patterns


def pattern_rgb(width: int, height: int) -> np.ndarray:
    """Horizontal red ramp, vertical green ramp, blue checker blocks: 8-bit (h, w, 3)."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255) // max(1, width - 1)
    g = (y * 255) // max(1, height - 1)
    b = np.where(((x // 4) + (y // 4)) % 2 == 0, 40, 220)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def pattern_alpha(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 23 + y * 41) % 256).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    return ((rgb[..., 0].astype(int) * 3 + rgb[..., 1].astype(int) * 6 + rgb[..., 2]) // 10).astype(np.uint8)


def scale16(v: np.ndarray) -> np.ndarray:
    """libpng's png_set_scale_16: round(v * 255 / 65535)."""
    return ((v.astype(np.int64) * 255 + 32895) >> 16).astype(np.uint8)


def to16(v8: np.ndarray, x_noise: np.ndarray) -> np.ndarray:
    """Widens 8-bit samples to 16 bits with a deterministic low byte, so rounding is exercised."""
    return (v8.astype(np.int64) * 257 + (x_noise % 256) - 128).clip(0, 65535).astype(np.uint16)


# --------------------------------------------------------------------------------------------
# Fixture set


class Writer:
    def __init__(self):
        self.manifest = []
        self.total = 0

    def _write(self, name: str, data: bytes):
        (FIXTURES / name).write_bytes(data)
        self.total += len(data)

    def decodable(self, name: str, data: bytes, expected: np.ndarray, tolerance: int = 0):
        if expected.ndim == 2:
            expected = expected[..., None]
        height, width, channels = expected.shape
        self._write(name, data)
        self._write(Path(name).stem + ".raw", expected.astype(np.uint8).tobytes())
        self.manifest.append({"file": name, "width": width, "height": height, "channels": channels,
                              "expected": Path(name).stem + ".raw", "tolerance": tolerance})

    def bad(self, name: str, data: bytes, error: str):
        self._write(name, data)
        self.manifest.append({"file": name, "error": error})


def check_with_pillow(data: bytes, expected: np.ndarray):
    """Cross-checks the hand-written PNG encoder with Pillow (8-bit modes only)."""
    image = Image.open(io.BytesIO(data))
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[expected.shape[2] if expected.ndim == 3 else 1]
    decoded = np.asarray(image.convert(mode))
    if decoded.ndim == 2:
        decoded = decoded[..., None]
    want = expected if expected.ndim == 3 else expected[..., None]
    if not np.array_equal(decoded, want):
        sys.exit(f"encoder self-check failed for a {image.mode} PNG")


def make_png_fixtures(w: Writer):
    width, height = 17, 11  # odd sizes: no row is a multiple of 4 or 8 bytes
    rgb = pattern_rgb(width, height)
    alpha = pattern_alpha(width, height)
    gray = luma(rgb)
    xs = np.mgrid[0:height, 0:width][1] * 37 + np.mgrid[0:height, 0:width][0] * 11

    def png(name, samples, color_type, depth, expected, check=True, **kw):
        data = write_png(samples, color_type, depth, **kw)
        if check:
            check_with_pillow(data, expected)
        w.decodable(name, data, expected)

    png("gray8.png", gray[..., None], 0, 8, gray)
    bits1 = (gray > 120).astype(np.uint8)
    png("gray1.png", bits1[..., None], 0, 1, bits1 * 255)
    bits2 = gray >> 6
    png("gray2.png", bits2[..., None], 0, 2, bits2 * 85)
    bits4 = gray >> 4
    png("gray4.png", bits4[..., None], 0, 4, bits4 * 17)
    gray16 = to16(gray, xs)
    png("gray16.png", gray16[..., None], 0, 16, scale16(gray16), check=False)
    png("gray_alpha.png", np.stack([gray, alpha], -1), 4, 8, np.stack([gray, alpha], -1))
    key = int(gray[3, 5])
    gray_key_alpha = np.where(gray == key, 0, 255).astype(np.uint8)
    png("gray_trns.png", gray[..., None], 0, 8, np.stack([gray, gray_key_alpha], -1),
        check=False, trns=struct.pack(">H", key))
    png("rgb.png", rgb, 2, 8, rgb)
    rgba = np.concatenate([rgb, alpha[..., None]], -1)
    png("rgba.png", rgba, 6, 8, rgba)
    rgb16 = to16(rgb, xs[..., None] + np.array([0, 85, 170]))
    png("rgb16.png", rgb16, 2, 16, scale16(rgb16), check=False)
    rgba16 = np.concatenate([rgb16, to16(alpha, xs)[..., None]], -1)
    png("rgba16.png", rgba16, 6, 16, scale16(rgba16), check=False)
    key_rgb = rgb[4, 8]
    rgb_key_alpha = np.where(np.all(rgb == key_rgb, -1), 0, 255).astype(np.uint8)
    png("rgb_trns.png", rgb, 2, 8, np.concatenate([rgb, rgb_key_alpha[..., None]], -1),
        check=False, trns=struct.pack(">HHH", *map(int, key_rgb)))

    # Palettes: 13 colours for 8-bit, 16 for 4-bit; index pattern from position.
    index = ((np.mgrid[0:height, 0:width][1] // 2 + np.mgrid[0:height, 0:width][0] * 3) % 13).astype(np.uint8)
    palette = np.array([[(i * 53) % 256, (i * 97 + 30) % 256, (255 - i * 19) % 256] for i in range(16)], np.uint8)
    png("palette.png", index[..., None], 3, 8, palette[index], palette=palette[:13])
    index4 = (index + 3) % 16
    png("palette4.png", index4[..., None], 3, 4, palette[index4], palette=palette)
    palette_alpha = np.array([(i * 40) % 256 for i in range(7)], np.uint8)  # shorter than PLTE: rest opaque
    full_alpha = np.concatenate([palette_alpha, np.full(6, 255, np.uint8)])
    png("palette_trns.png", index[..., None], 3, 8,
        np.concatenate([palette[index], full_alpha[index][..., None]], -1),
        palette=palette[:13], trns=palette_alpha.tobytes())

    png("rgb_interlaced.png", rgb, 2, 8, rgb, interlace=True)
    png("gray1_interlaced.png", bits1[..., None], 0, 1, bits1 * 255, interlace=True)
    png("rgba16_interlaced.png", rgba16, 6, 16, scale16(rgba16), check=False, interlace=True)
    one = np.array([[[200, 100, 50]]], np.uint8)
    png("tiny_1x1.png", one, 2, 8, one)

    # Bad PNGs: truncated inside IDAT, a flipped IDAT data byte, a flipped IDAT CRC byte, a
    # broken zlib header with a correct CRC.
    big = pattern_rgb(40, 30)
    big[::3, ::5] = 17  # some detail so that IDAT is most of the file
    data = write_png(big, 2, 8)
    idat = data.index(b"IDAT")
    w.bad("truncated.png", data[: idat + 4 + 200], "truncated")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    flipped = bytearray(data)
    flipped[idat + 4 + 50] ^= 0x01  # libpng inflates before it checks the CRC: a zlib error
    w.bad("idat_flipped_byte.png", bytes(flipped), "corrupt")
    bad_crc = bytearray(data)
    bad_crc[idat + 4 + length + 3] ^= 0x01  # the data is intact, its CRC is not
    w.bad("idat_bad_crc.png", bytes(bad_crc), "corrupt")
    payload = bytearray(data[idat + 4 : idat + 4 + length])
    payload[0] = 0x00  # zlib header no longer valid
    broken = data[: idat - 4] + chunk(b"IDAT", bytes(payload)) + data[idat + 8 + length :]
    w.bad("bad_zlib.png", broken, "corrupt")
    w.bad("signature_only.png", PNG_SIGNATURE, "truncated")


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def pillow_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def make_jpeg_fixtures(w: Writer):
    rgb = Image.fromarray(pattern_rgb(32, 24))
    gray = rgb.convert("L")
    tolerance = 2
    for name, image, options in [
        ("baseline_rgb.jpg", rgb, {"quality": 90}),
        ("baseline_rgb444.jpg", rgb, {"quality": 90, "subsampling": 0}),
        ("baseline_gray.jpg", gray, {"quality": 90}),
        ("progressive_rgb.jpg", rgb, {"quality": 85, "progressive": True}),
        ("progressive_gray.jpg", gray, {"quality": 85, "progressive": True}),
    ]:
        data = jpeg_bytes(image, **options)
        w.decodable(name, data, pillow_pixels(data), tolerance)

    data = jpeg_bytes(Image.fromarray(pattern_rgb(64, 48)), quality=95)
    sos = data.index(b"\xff\xda")
    w.bad("truncated.jpg", data[: sos + (len(data) - sos) // 2], "truncated")
    w.bad("truncated_header.jpg", data[:60], "truncated")
    sof = data.index(b"\xff\xc0")
    bad = bytearray(data)
    bad[sof + 4] = 7  # sample precision 7: not a valid JPEG
    w.bad("bad_precision.jpg", bytes(bad), "corrupt")
    w.bad("cmyk.jpg", jpeg_bytes(rgb.convert("CMYK"), quality=90), "unsupportedFormat")


def make_other_fixtures(w: Writer):
    w.bad("not_an_image.txt", b"This is a text file, not an image.\n", "unsupportedFormat")
    w.bad("gif_header.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupportedFormat")
    w.bad("empty.bin", b"", "empty")


def make_fixtures():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for old in FIXTURES.iterdir():
        old.unlink()
    w = Writer()
    make_png_fixtures(w)
    make_jpeg_fixtures(w)
    make_other_fixtures(w)
    manifest = json.dumps({"fixtures": w.manifest}, indent=1) + "\n"
    (FIXTURES / "manifest.json").write_text(manifest)
    w.total += len(manifest)
    print(f"wrote {len(w.manifest)} fixtures, {w.total} bytes, to {FIXTURES.relative_to(ROOT)}")


# --------------------------------------------------------------------------------------------
# Sample photos from the scikit-image wheel (public domain / CC0; see Samples/README.md)

SAMPLE_PHOTOS = [
    # (file in skimage/data, output stem, long side PNG, long side JPEG)
    ("astronaut.png", "astronaut", 160, 256),
    ("chelsea.png", "chelsea", 192, 256),
    ("coffee.png", "coffee", 192, 256),
]


def make_samples(wheel: Path):
    SAMPLES.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for source, stem, png_side, jpeg_side in SAMPLE_PHOTOS:
            photo = Image.open(io.BytesIO(archive.read(f"skimage/data/{source}"))).convert("RGB")
            for side, ext, options in [(png_side, "png", {"optimize": True}),
                                       (jpeg_side, "jpg", {"quality": 85, "optimize": True})]:
                scale = side / max(photo.size)
                size = (round(photo.width * scale), round(photo.height * scale))
                path = SAMPLES / f"{stem}.{ext}"
                photo.resize(size, Image.Resampling.LANCZOS).save(path, **options)
                print(f"{path.relative_to(ROOT)}: {size[0]}x{size[1]}, {path.stat().st_size} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, metavar="WHEEL",
                        help="also write Samples/ from a downloaded scikit-image wheel")
    args = parser.parse_args()
    make_fixtures()
    if args.samples:
        make_samples(args.samples)


if __name__ == "__main__":
    main()
