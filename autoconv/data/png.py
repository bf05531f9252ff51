"""A fast decoder for the PNG files image folders are mostly made of, Pillow for the rest.

Pillow spends about 100 us of Python on a small PNG (parsing its chunks, setting up its
decoder) around a few us of zlib, and holds the GIL meanwhile, so a folder of MNIST-sized
PNGs decodes at one core's pace whatever the thread count. :func:`decode` reads the common
case itself: 8 bits per sample, not interlaced, grayscale, RGB or RGBA, with no chunk that
changes the pixels (transparency, palette, animation), and only when the file already has
the channels asked for. zlib inflates with the GIL released and the row filters are undone in
a Numba kernel that releases it too. Anything else returns None and Pillow decodes it, as
does a file that breaks any rule of the format (a bad checksum, a short stream), so Pillow
still reports the errors. The pixels are those Pillow gives: PNG defines them exactly.
"""

from __future__ import annotations

import struct
import zlib

import numba
import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 6: 4}  # colour type -> samples per pixel (grayscale, RGB, RGBA)
# Chunks that leave the pixels Pillow decodes unchanged (colour-space and text metadata).
METADATA = frozenset(
    (b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"tIME", b"tEXt", b"zTXt", b"iTXt")
)


def decode(data: bytes, channels: int) -> np.ndarray | None:
    """The pixels of the PNG file ``data`` as uint8 (height, width, channels), or None if it is
    not a PNG this decoder reads with that many channels (then Pillow decodes it)."""
    if not data.startswith(SIGNATURE):
        return None
    view = memoryview(data)
    header, chunks, at = None, [], len(SIGNATURE)
    while True:
        if at + 12 > len(data):
            return None  # no IEND: truncated
        length, kind = struct.unpack_from(">I4s", data, at)
        end = at + 8 + length
        if (
            end + 4 > len(data)
            or zlib.crc32(view[at + 4 : end]) != struct.unpack_from(">I", data, end)[0]
        ):
            return None
        if kind == b"IHDR" and header is None and length == 13:
            header = struct.unpack_from(">IIBBBBB", data, at + 8)
        elif kind == b"IDAT" and header is not None:
            chunks.append(view[at + 8 : end])
        elif kind == b"IEND":
            break
        elif kind not in METADATA:
            return None
        at = end + 4
    if header is None or not chunks:
        return None
    width, height, depth, colour, compression, filtering, interlace = header
    if (depth, compression, filtering, interlace) != (8, 0, 0, 0):
        return None
    if CHANNELS.get(colour) != channels or not width or not height:
        return None
    if width * height > (Image.MAX_IMAGE_PIXELS or width * height):
        return None  # Pillow's decompression-bomb check decides
    stride = width * channels
    size = height * (stride + 1)
    try:  # room for one byte more: a stream that holds more is not this image's
        inflate = zlib.decompressobj()
        raw = inflate.decompress(b"".join(chunks), size + 1)
    except zlib.error:
        return None
    if len(raw) != size or not inflate.eof:
        return None
    pixels = np.empty((height, width, channels), np.uint8)
    if not _unfilter(np.frombuffer(raw, np.uint8), pixels.reshape(-1), stride, channels):
        return None
    return pixels


@numba.njit(cache=True, nogil=True)
def _unfilter(raw: np.ndarray, out: np.ndarray, stride: int, bpp: int) -> bool:
    """Undo PNG's per-row filters: ``raw`` holds, per row, a filter byte (0 none, 1 sub, 2 up,
    3 average, 4 Paeth) and ``stride`` filtered bytes; ``out`` gets the rows. False on an
    unknown filter."""
    rows = len(out) // stride
    for y in range(rows):
        kind = raw[y * (stride + 1)]
        src = y * (stride + 1) + 1
        row = y * stride
        for x in range(stride):
            left = np.int32(out[row + x - bpp]) if x >= bpp else np.int32(0)
            up = np.int32(out[row - stride + x]) if y > 0 else np.int32(0)
            if kind == 0:
                predicted = np.int32(0)
            elif kind == 1:
                predicted = left
            elif kind == 2:
                predicted = up
            elif kind == 3:
                predicted = (left + up) >> 1
            elif kind == 4:
                corner = (
                    np.int32(out[row - stride + x - bpp]) if x >= bpp and y > 0 else np.int32(0)
                )
                estimate = left + up - corner
                to_left, to_up = abs(estimate - left), abs(estimate - up)
                to_corner = abs(estimate - corner)
                if to_left <= to_up and to_left <= to_corner:
                    predicted = left
                elif to_up <= to_corner:
                    predicted = up
                else:
                    predicted = corner
            else:
                return False
            out[row + x] = (np.int32(raw[src + x]) + predicted) & 255
    return True
