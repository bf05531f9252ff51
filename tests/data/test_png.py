"""The PNG fast path: the pixels Pillow decodes for every row filter and layout it takes, and
None (Pillow decodes instead) for everything it leaves to Pillow."""

from __future__ import annotations

import io
import itertools
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from autoconv.data import png
from autoconv.data.directory import read_image

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def paeth(left, up, corner):
    estimate = left + up - corner
    to_left, to_up, to_corner = (np.abs(estimate - v) for v in (left, up, corner))
    return np.where(
        (to_left <= to_up) & (to_left <= to_corner), left, np.where(to_up <= to_corner, up, corner)
    )


def encode(pixels, filters=(0, 1, 2, 3, 4), pieces=1, extra=(), header=None):
    """A PNG of ``pixels`` (h, w, c) uint8 written by hand: row y filtered with
    ``filters[y % len(filters)]``, the stream cut into ``pieces`` IDAT chunks, ``extra``
    chunks before them, ``header`` fields overriding IHDR's (depth, colour, ..., interlace)."""
    height, width, channels = pixels.shape
    rows, up = [], np.zeros(width * channels, np.int32)
    for y in range(height):
        row = pixels[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(channels, np.int32), row[:-channels]])
        corner = np.concatenate([np.zeros(channels, np.int32), up[:-channels]])
        kind = filters[y % len(filters)]
        predictions = [0 * row, left, up, (left + up) // 2, paeth(left, up, corner)]
        predicted = predictions[kind] if kind < 5 else 0 * row
        rows.append(bytes([kind]) + ((row - predicted) % 256).astype(np.uint8).tobytes())
        up = row
    stream = zlib.compress(b"".join(rows))
    cut = np.linspace(0, len(stream), pieces + 1).astype(int)
    colour = {1: 0, 3: 2, 4: 6}[channels]
    fields = header or (8, colour, 0, 0, 0)
    return (
        png.SIGNATURE
        + chunk(b"IHDR", struct.pack(">II5B", width, height, *fields))
        + b"".join(chunk(kind, body) for kind, body in extra)
        + b"".join(chunk(b"IDAT", stream[a:b]) for a, b in itertools.pairwise(cut))
        + chunk(b"IEND", b"")
    )


def pillow(data: bytes) -> np.ndarray:
    array = np.asarray(Image.open(io.BytesIO(data)))
    return array if array.ndim == 3 else array[..., None]


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (28, 28), (3, 64)])
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (4, 3, 0, 2, 1)])
def test_every_row_filter_gives_pillows_pixels(channels, shape, filters):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, channels), np.uint8)
    pixels[: shape[0] // 2, : shape[1] // 2] = 200  # flat areas, where predictions hit
    data = encode(pixels, filters, pieces=3)
    np.testing.assert_array_equal(pillow(data), pixels)  # the file is right
    np.testing.assert_array_equal(png.decode(data, channels), pixels)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_files_pillow_writes(channels):
    pixels = np.random.default_rng(channels).integers(0, 256, (30, 20, channels), np.uint8)
    pixels[10:20] = np.arange(20, dtype=np.uint8)[:, None] * 12  # gradients: Pillow filters
    for options in ({}, {"optimize": True}, {"compress_level": 0}):
        out = io.BytesIO()
        Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels).save(out, "PNG", **options)
        np.testing.assert_array_equal(png.decode(out.getvalue(), channels), pixels)


def test_metadata_chunks_are_read_past():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    extra = [(b"gAMA", struct.pack(">I", 45455)), (b"tEXt", b"Comment\x00hello")]
    np.testing.assert_array_equal(png.decode(encode(pixels, extra=extra), 1), pixels)


GRAY = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)


@pytest.mark.parametrize(
    "data, channels",
    [
        (encode(GRAY), 3),  # other channels than asked: Pillow converts
        (encode(GRAY, header=(16, 0, 0, 0, 0)), 1),  # 16 bits per sample
        (encode(GRAY, header=(8, 3, 0, 0, 0)), 1),  # palette
        (encode(GRAY, header=(8, 4, 0, 0, 0)), 1),  # gray + alpha
        (encode(GRAY, header=(8, 0, 0, 0, 1)), 1),  # interlaced
        (encode(GRAY, extra=[(b"tRNS", b"\x00\x05")]), 1),  # transparency
        (encode(GRAY, extra=[(b"acTL", bytes(8))]), 1),  # animation
        (encode(GRAY, filters=(5,)), 1),  # no such filter
        (encode(GRAY)[:-20], 1),  # truncated
        (encode(GRAY)[:-1] + bytes([encode(GRAY)[-1] ^ 1]), 1),  # bad checksum
        (b"GIF89a", 1),
        (b"", 1),
    ],
)
def test_what_it_leaves_to_pillow(data, channels):
    assert png.decode(data, channels) is None


def test_a_stream_longer_or_shorter_than_the_image_is_left_to_pillow():
    good = encode(GRAY)
    raw = zlib.decompress(good[good.index(b"IDAT") + 4 : good.index(b"IEND") - 8])
    for stream in (raw + b"\x00", raw[:-1]):
        data = (
            png.SIGNATURE
            + chunk(b"IHDR", struct.pack(">II5B", 4, 3, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(stream))
            + chunk(b"IEND", b"")
        )
        assert png.decode(data, 1) is None


def test_read_image_takes_the_fast_path_and_falls_back(tmp_path, monkeypatch):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 5, 3), np.uint8)
    path = tmp_path / "x.png"
    path.write_bytes(encode(pixels))
    calls = []
    decode = png.decode
    monkeypatch.setattr(png, "decode", lambda *a: calls.append(decode(*a)) or calls[-1])
    np.testing.assert_array_equal(read_image(str(path), 3), pixels)
    assert calls[-1] is not None  # decoded here
    gray = read_image(str(path), 1)  # RGB -> L: Pillow's conversion
    np.testing.assert_array_equal(gray[..., 0], np.asarray(Image.fromarray(pixels).convert("L")))
    assert calls[-1] is None
