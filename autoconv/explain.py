"""Convolution and pooling worked out as on a blackboard.

Every number shown comes from the engine itself: the output from :func:`autoconv.conv2d` /
pooling, the padding and output size from the same geometry helper the ops use. Only the
written-out sum at one position is spelled here, from the padded input and the kernel, and
its total is the engine's output value at that position.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from autoconv.ops import engine as ops
from autoconv.windows import as_pair, window

KERNELS: dict[str, list[list[float]]] = {
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur": [[1 / 9] * 3] * 3,
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel-top": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    "sobel-left": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
}


MAX_SIDE = 32  # the largest matrix (and padding) an explanation writes out


def parse_matrix(text: str, what: str) -> np.ndarray:
    """A 2-D matrix from ``[[1, 2], [3, 4]]`` (or a built-in kernel name for the kernel)."""
    if what == "kernel" and text in KERNELS:
        return np.array(KERNELS[text], dtype=np.float64)
    try:
        value = json.loads(text)
        matrix = np.array(value, dtype=np.float64)
    except (json.JSONDecodeError, ValueError, TypeError):
        names = f" or one of {', '.join(KERNELS)}" if what == "kernel" else ""
        raise ValueError(
            f"{what} must be a matrix like [[1, 2], [3, 4]]{names}, got {text!r}"
        ) from None
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(f"{what} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if max(matrix.shape) > MAX_SIDE:
        raise ValueError(
            f"{what} is {matrix.shape[0]}x{matrix.shape[1]}: explanations are for small "
            f"matrices, at most {MAX_SIDE}x{MAX_SIDE}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return matrix


def number(value: float) -> str:
    """Whole numbers without a decimal point, others to 4 significant digits."""
    value = float(value)
    return str(round(value)) if abs(value - round(value)) < 1e-9 else f"{value:.4g}"


def grid(matrix: np.ndarray) -> str:
    cells = [[number(v) for v in row] for row in matrix]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("  " + " ".join(c.rjust(width) for c in row) for row in cells)


def parse_position(text: str | None, out_shape: tuple[int, int]) -> tuple[int, int]:
    """'ROW,COL' (0-based) inside the output; the top-left corner when None."""
    if text is None:
        return 0, 0
    try:
        row, col = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--at must be ROW,COL like 0,0, got {text!r}") from None
    if not (0 <= row < out_shape[0] and 0 <= col < out_shape[1]):
        raise ValueError(f"--at {row},{col} is outside the {out_shape[0]}x{out_shape[1]} output")
    return row, col


def _header(name: str, image: np.ndarray, kernel: tuple[int, int], win: Any, padding: Any):
    """The arguments, the padding on each side and the output-size formula with numbers."""
    pt, pb, pl, pr = win.pad_top, win.pad_bottom, win.pad_left, win.pad_right
    (n_h, n_w), (kh, kw) = image.shape, kernel
    (sh, sw), (dh, dw) = win.stride, win.dilation
    dilation = f", dilation {win.dilation}" if name == "conv2d" else ""
    lines = [
        f"{name}: input {n_h}x{n_w}, window {kh}x{kw}, stride {win.stride}{dilation}, "
        f"padding {padding!r} (top {pt}, bottom {pb}, left {pl}, right {pr})",
        "Output size: floor((n + pad_before + pad_after - d*(f-1) - 1) / s) + 1",
        f"  rows:    floor(({n_h} + {pt} + {pb} - {dh}*({kh}-1) - 1) / {sh}) + 1 = {win.out[0]}",
        f"  columns: floor(({n_w} + {pl} + {pr} - {dw}*({kw}-1) - 1) / {sw}) + 1 = {win.out[1]}",
    ]
    return "\n".join(lines), (pt, pb, pl, pr)


def explain_conv(
    image: np.ndarray,
    kernel: np.ndarray,
    padding: Any = "valid",
    stride: Any = 1,
    dilation: Any = 1,
    at: str | None = None,
) -> str:
    """The padded input, the output (from :func:`autoconv.conv2d`) and one position's sum."""
    win = window("conv2d", image.shape, kernel.shape, stride, dilation, padding)
    out = ops.conv2d(image[None, :, :, None], kernel[:, :, None, None], None, stride, padding,
                     dilation).data[0, :, :, 0]  # fmt: skip
    header, (pt, pb, pl, pr) = _header("conv2d", image, kernel.shape, win, padding)
    padded = np.pad(image, ((pt, pb), (pl, pr)))
    row, col = parse_position(at, win.out)
    (sh, sw), (dh, dw) = win.stride, win.dilation
    terms = [
        f"{number(padded[row * sh + a * dh, col * sw + b * dw])}*{number(kernel[a, b])}"
        for a in range(kernel.shape[0])
        for b in range(kernel.shape[1])
    ]
    return "\n".join(
        [
            header,
            f"Kernel ({kernel.shape[0]}x{kernel.shape[1]}):",
            grid(kernel),
            f"Padded input ({padded.shape[0]}x{padded.shape[1]}):",
            grid(padded),
            f"Output ({win.out[0]}x{win.out[1]}):",
            grid(out),
            f"At ({row}, {col}): " + " + ".join(terms) + f" = {number(out[row, col])}",
        ]
    )


def explain_pool(
    image: np.ndarray,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    mode: str = "max",
    at: str | None = None,
) -> str:
    """The output (from autoconv's pooling) and one window's reduction written out."""
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    kernel = as_pair(pool_size, "pool_size", f"{mode}_pool2d")
    strides = kernel if strides is None else strides
    win = window(f"{mode}_pool2d", image.shape, kernel, strides, 1, padding)
    op = ops.max_pool2d if mode == "max" else ops.avg_pool2d
    out = op(image[None, :, :, None], kernel, strides, padding).data[0, :, :, 0]
    header, _ = _header(f"{mode}_pool2d", image, kernel, win, padding)
    row, col = parse_position(at, win.out)
    y0, x0 = row * win.stride[0] - win.pad_top, col * win.stride[1] - win.pad_left
    cells = image[max(y0, 0) : y0 + kernel[0], max(x0, 0) : x0 + kernel[1]].ravel()
    values = ", ".join(number(v) for v in cells)
    if mode == "max":
        sum_text = f"max({values})"
    else:
        sum_text = f"({' + '.join(number(v) for v in cells)}) / {cells.size}"
    return "\n".join(
        [
            header,
            f"Output ({win.out[0]}x{win.out[1]}):",
            grid(out),
            f"At ({row}, {col}): {sum_text} = {number(out[row, col])}",
        ]
    )
