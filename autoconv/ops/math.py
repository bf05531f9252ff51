"""``keras.ops``'s math functions: erf and its inverse, logsumexp, top-k, segment reductions,
framing, pairwise distances, and the Fourier transforms.

Keras passes complex values as a (real, imaginary) pair of real tensors; so do these FFTs,
differentiable through both parts, and ``stft``'s spectrogram and its inverse ``istft``. The
complex views are not implemented: each raises an error that names it.
"""

from __future__ import annotations

import math as _math
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.ops import engine
from autoconv.ops.convert import (
    INDEX_DTYPE,
    host_op,
    not_implemented,
    tensor,
    tensors,
    to_numpy,
)
from autoconv.ops.numpy import arrays, products
from autoconv.tensor import Tensor

__all__ = [
    "cdist",
    "erf",
    "erfc",
    "erfinv",
    "extract_sequences",
    "fft",
    "fft2",
    "ifft2",
    "in_top_k",
    "irfft",
    "istft",
    "logdet",
    "logsumexp",
    "rfft",
    "rsqrt",
    "segment_max",
    "segment_min",
    "segment_prod",
    "segment_sum",
    "stft",
    "top_k",
    "view_as_complex",
    "view_as_real",
]

_erf = np.vectorize(_math.erf, otypes=[np.float64])


def erf(x: Any) -> Tensor:
    """The error function; its gradient is 2 / sqrt(pi) e^(-x^2)."""

    def backward(g, out, a):
        return (g * (2 / np.sqrt(np.pi)) * np.exp(-a * a),)

    return host_op("erf", _erf, backward, [tensor(x)])


def erfc(x: Any) -> Tensor:
    return 1.0 - erf(x)


def _erfinv_values(y: np.ndarray) -> np.ndarray:
    """The inverse error function in float64: Giles's approximation, then two Newton steps."""
    y = np.asarray(y, np.float64)
    w = -np.log((1.0 - y) * (1.0 + y))
    small = w < 5.0
    ws = np.where(small, w - 2.5, np.sqrt(np.maximum(w, 5.0)) - 3.0)
    coefficients_small = [
        2.81022636e-08,
        3.43273939e-07,
        -3.5233877e-06,
        -4.39150654e-06,
        0.00021858087,
        -0.00125372503,
        -0.00417768164,
        0.246640727,
        1.50140941,
    ]
    coefficients_large = [
        -0.000200214257,
        0.000100950558,
        0.00134934322,
        -0.00367342844,
        0.00573950773,
        -0.0076224613,
        0.00943887047,
        1.00167406,
        2.83297682,
    ]
    p_small, p_large = np.zeros_like(y), np.zeros_like(y)
    for cs, cl in zip(coefficients_small, coefficients_large, strict=True):
        p_small, p_large = p_small * ws + cs, p_large * ws + cl
    x = np.where(small, p_small, p_large) * y
    inside = np.abs(y) < 1
    for _ in range(2):
        step = (_erf(np.where(inside, x, 0)) - y) / (2 / np.sqrt(np.pi) * np.exp(-x * x))
        x = np.where(inside, x - step, x)
    return np.where(np.abs(y) == 1, np.sign(y) * np.inf, np.where(np.abs(y) > 1, np.nan, x))


def erfinv(x: Any) -> Tensor:
    """The inverse of :func:`erf` on (-1, 1); its gradient is sqrt(pi) / 2 e^(erfinv(x)^2)."""

    def backward(g, out, a):
        return (g * (np.sqrt(np.pi) / 2) * np.exp(out * out),)

    return host_op("erfinv", _erfinv_values, backward, [tensor(x)])


def rsqrt(x: Any) -> Tensor:
    return engine.pow(tensor(x), -0.5)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, without overflow."""
    x = tensor(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    top = engine.max(x, axis, keepdims=True).detach()
    finite_top = Tensor(np.nan_to_num(top.numpy(), neginf=0.0, posinf=0.0), device=x.device)
    total = engine.log(engine.sum(engine.exp(x - finite_top), axis, keepdims=True)) + finite_top
    if keepdims:
        return total
    return engine.reshape(total, engine.sum(x, axis).shape)


def logdet(x: Any) -> Tensor:
    """log det x of (batched) matrices with positive determinants."""
    return products.slogdet(x)[1]


def top_k(x: Any, k: int, sorted: bool = True) -> tuple[Any, np.ndarray]:
    """(values, indices) of the k largest entries along the last axis, largest first; values
    are differentiable, indices int32."""
    values = x if isinstance(x, Tensor) else to_numpy(x)
    host = to_numpy(values)
    if not 0 <= k <= host.shape[-1]:
        raise ValueError(f"top_k: k={k} is out of range for a last axis of {host.shape[-1]}")
    order = np.argsort(-host, axis=-1, kind="stable")[..., :k].astype(INDEX_DTYPE)
    return arrays.take_along_axis(values, order, -1), order


def in_top_k(targets: Any, predictions: Any, k: int) -> np.ndarray:
    """Whether each target class is among the k largest predictions of its row (ties count
    for the target, as Keras's)."""
    scores = to_numpy(predictions)
    labels = to_numpy(targets).astype(np.int64)
    target_scores = np.take_along_axis(scores, labels[:, None], axis=-1)
    return (scores > target_scores).sum(axis=-1) < k


def _segments(data: Any, segment_ids: Any, num_segments: int | None, op: str) -> tuple:
    ids = to_numpy(segment_ids)
    if ids.dtype.kind not in "iu" or ids.ndim != 1:
        raise ValueError(f"{op}: segment_ids must be a 1-D integer array")
    count = int(ids.max()) + 1 if num_segments is None and ids.size else int(num_segments or 0)
    return tensor(data), ids, count


def segment_sum(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """out[s] = the sum of data[i] over the i with segment_ids[i] == s (ids out of range
    are dropped, as Keras's)."""
    values, ids, count = _segments(data, segment_ids, num_segments, "segment_sum")
    valid = (ids >= 0) & (ids < count)

    def forward(a):
        out = np.zeros((count, *a.shape[1:]), a.dtype)
        np.add.at(out, ids[valid], a[valid])
        return out

    def backward(g, out, a):
        grad = np.zeros_like(a)
        grad[valid] = g[ids[valid]]
        return (grad,)

    return host_op("segment_sum", forward, backward, [values])


def _segment_extreme(pick: Callable, fill: float, op: str) -> Callable[..., Tensor]:
    def reduce(
        data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
    ) -> Tensor:
        values, ids, count = _segments(data, segment_ids, num_segments, op)
        valid = (ids >= 0) & (ids < count)

        def forward(a):
            out = np.full((count, *a.shape[1:]), fill, a.dtype)
            pick.at(out, ids[valid], a[valid])
            return out

        def backward(g, out, a):  # to the elements equal to their segment's result
            grad = np.zeros_like(a)
            chosen = valid.copy()
            hits = np.zeros_like(a, dtype=bool)
            hits[chosen] = a[chosen] == out[ids[chosen]]
            ties = np.zeros((count, *a.shape[1:]), a.dtype)
            np.add.at(ties, ids[chosen], hits[chosen].astype(a.dtype))
            grad[chosen] = np.where(
                hits[chosen], g[ids[chosen]] / np.maximum(ties[ids[chosen]], 1), 0
            )
            return (grad,)

        return host_op(op, forward, backward, [values])

    reduce.__name__ = reduce.__qualname__ = op
    reduce.__doc__ = f"``{op}``: the segment's extreme (empty segments hold {fill})."
    return reduce


segment_max = _segment_extreme(np.maximum, -np.inf, "segment_max")
segment_min = _segment_extreme(np.minimum, np.inf, "segment_min")


def segment_prod(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """out[s] = the product of data[i] over segment s (1 for an empty one)."""
    values, ids, count = _segments(data, segment_ids, num_segments, "segment_prod")
    valid = (ids >= 0) & (ids < count)
    rows = [np.flatnonzero(valid & (ids == s)) for s in range(count)]
    parts = []
    for index in rows:
        if index.size:
            member = arrays.take(values, index, axis=0)
            product = member[0]
            for i in range(1, index.size):
                product = product * member[i]
        else:
            product = Tensor(np.ones(values.shape[1:], values.dtype), device=values.device)
        parts.append(product)
    return arrays.stack(parts, axis=0)


def extract_sequences(x: Any, sequence_length: int, sequence_stride: int) -> Any:
    """Frames of ``sequence_length`` along the last axis every ``sequence_stride``:
    (..., n) -> (..., frames, sequence_length)."""
    n = np.shape(x.data if isinstance(x, Tensor) else to_numpy(x))[-1]
    frames = (n - (sequence_length - sequence_stride)) // sequence_stride
    starts = np.arange(frames) * sequence_stride
    index = starts[:, None] + np.arange(sequence_length)
    return arrays.take(x, index, axis=-1)


def cdist(x: Any, y: Any) -> Tensor:
    """Euclidean distances between the rows: (..., m, d), (..., n, d) -> (..., m, n)."""
    a, b = tensors(x, y)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError("`cdist` inputs must have rank >= 2")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError("Last dimension of inputs to `cdist` must match")
    difference = arrays.expand_dims(a, -2) - arrays.expand_dims(b, -3)
    return engine.pow(engine.sum(difference * difference, -1), 0.5)


# ----------------------------------------------------------------- Fourier transforms
def _complex_pair(x: Any, op: str) -> tuple[Tensor, Tensor]:
    if not isinstance(x, tuple | list) or len(x) != 2:
        raise ValueError(
            f"Input `x` should be a tuple of two tensors - real and imaginary. Received: x={x}"
        )
    real, imag = tensors(*x)
    if real.shape != imag.shape:
        raise ValueError(
            f"{op}: the real and imaginary parts differ in shape ({real.shape}, {imag.shape})"
        )
    return real, imag


def _spectral(
    op: str, transform: Callable, adjoint: Callable, x: Any, real_input: bool = False
) -> tuple[Tensor, Tensor]:
    """A linear complex transform of (real, imag) with the VJP ``adjoint`` (of the complex
    output gradient), computed on the host; both output parts come from one stacked op."""
    parts = [tensor(x)] if real_input else list(_complex_pair(x, op))

    def forward(*a):
        z = transform(a[0] if real_input else a[0] + 1j * a[1])
        return np.stack([z.real, z.imag])

    def backward(g, out, *a):
        grad = adjoint(g[0] + 1j * g[1])
        return (grad.real,) if real_input else (grad.real, grad.imag)

    stacked = host_op(op, forward, backward, parts)
    return stacked[0], stacked[1]


def fft(x: Any) -> tuple[Tensor, Tensor]:
    """The FFT along the last axis of (real, imag); returns (real, imag)."""
    n = _complex_pair(x, "fft")[0].shape[-1]
    return _spectral("fft", np.fft.fft, lambda g: np.fft.ifft(g) * n, x)


def fft2(x: Any) -> tuple[Tensor, Tensor]:
    """The 2-D FFT over the last two axes of (real, imag)."""
    shape = _complex_pair(x, "fft2")[0].shape
    n = shape[-1] * shape[-2]
    return _spectral("fft2", np.fft.fft2, lambda g: np.fft.ifft2(g) * n, x)


def ifft2(x: Any) -> tuple[Tensor, Tensor]:
    shape = _complex_pair(x, "ifft2")[0].shape
    n = shape[-1] * shape[-2]
    return _spectral("ifft2", np.fft.ifft2, lambda g: np.fft.fft2(g) / n, x)


def rfft(x: Any, fft_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The FFT of a real signal along its last axis (cut or zero-padded to ``fft_length``):
    the fft_length // 2 + 1 non-negative frequencies, as (real, imag)."""
    length = tensor(x).shape[-1]
    n = length if fft_length is None else int(fft_length)

    def adjoint(g):  # x-bar = n * irfft(g with its inner bins halved), back to x's length
        halved = g.copy()
        halved[..., 1 : (n + 1) // 2] *= 0.5
        grad = np.fft.irfft(halved, n) * n
        return _fit(grad, length)

    return _spectral("rfft", lambda a: np.fft.rfft(a, n), adjoint, x, real_input=True)


def irfft(x: Any, fft_length: int | None = None) -> Tensor:
    """The real signal whose half spectrum is (real, imag), of ``fft_length`` samples
    (2 (m - 1) for m bins when None)."""
    real, imag = _complex_pair(x, "irfft")
    m = real.shape[-1]
    n = 2 * (m - 1) if fft_length is None else int(fft_length)

    def backward(g, out, a, b):
        spectrum = np.fft.rfft(g, n) / n
        spectrum[..., 1 : (n + 1) // 2] *= 2
        spectrum.imag[..., 0] = 0
        if n % 2 == 0:
            spectrum.imag[..., n // 2] = 0
        spectrum = _fit(spectrum, m)
        return spectrum.real, spectrum.imag

    return host_op("irfft", lambda a, b: np.fft.irfft(a + 1j * b, n), backward, [real, imag])


def _fit(values: np.ndarray, length: int) -> np.ndarray:
    """``values`` cut or zero-padded along the last axis to ``length``."""
    if values.shape[-1] >= length:
        return values[..., :length]
    pad = [(0, 0)] * (values.ndim - 1) + [(0, length - values.shape[-1])]
    return np.pad(values, pad)


def _window(window: Any, length: int) -> np.ndarray:
    """SciPy's periodic 'hann' or 'hamming' window of ``length`` points, or the given one."""
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(
                'If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                f"Received: window={window}"
            )
        a = 0.5 if window == "hann" else 0.54
        return a - (1 - a) * np.cos(2 * np.pi * np.arange(length) / length)
    values = np.ones(length) if window is None else to_numpy(window).astype(np.float64)
    if values.shape != (length,):
        raise ValueError(
            f"The shape of `window` must be equal to [sequence_length]. Received: "
            f"window shape={values.shape}"
        )
    return values


def stft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    window: Any = "hann",
    center: bool = True,
) -> tuple[Tensor, Tensor]:
    """The short-time Fourier transform along the last axis: frames of ``fft_length`` every
    ``sequence_stride`` (reflect-padded by fft_length // 2 when ``center``), windowed (the
    window of ``sequence_length`` centred in the frame), their rfft: (real, imag) of shape
    (..., frames, fft_length // 2 + 1). Differentiable."""
    if fft_length < sequence_length:
        raise ValueError(
            "`fft_length` must equal or larger than `sequence_length`. Received: "
            f"sequence_length={sequence_length}, fft_length={fft_length}"
        )
    signal = tensor(x)
    if center:
        widths = [(0, 0)] * (signal.ndim - 1) + [(fft_length // 2, fft_length // 2)]
        signal = arrays.pad(signal, widths, mode="reflect")
    left = (fft_length - sequence_length) // 2
    weights = np.pad(_window(window, sequence_length), (left, fft_length - sequence_length - left))
    frames = extract_sequences(signal, fft_length, sequence_stride)
    return rfft(frames * weights.astype(signal.dtype))


COMPLEX = (
    "it makes or reads complex tensors, which autoconv does not have (its FFTs take and give "
    "(real, imag) pairs)"
)


def istft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    length: int | None = None,
    window: Any = "hann",
    center: bool = True,
) -> Tensor:
    """The inverse of :func:`stft` for (real, imag) frames (..., frames, fft_length // 2 + 1):
    each frame's irfft, windowed, overlap-added every ``sequence_stride`` and divided by the
    overlap-added squared window (SciPy's ``istft``, as Keras's on NumPy and JAX; its PyTorch
    backend weights the ends otherwise when ``center`` is False), then cut to ``length`` (or by
    fft_length // 2 at both ends when ``center``). Differentiable."""
    real, _ = _complex_pair(x, "istft")
    count = real.shape[-2]
    left = (fft_length - sequence_length) // 2
    weights = np.pad(_window(window, sequence_length), (left, fft_length - sequence_length - left))
    if window is None:
        weights = np.ones(fft_length)
    frames = irfft(x, fft_length) * weights.astype(real.dtype)
    total = fft_length + sequence_stride * (count - 1)
    starts = np.arange(count) * sequence_stride

    def overlap_add(values):
        out = np.zeros((*values.shape[:-2], total), values.dtype)
        for f, start in enumerate(starts):
            out[..., start : start + fft_length] += values[..., f, :]
        return out

    def backward(g, out, values):
        return (np.stack([g[..., s : s + fft_length] for s in starts], axis=-2),)

    added = host_op("overlap_add", overlap_add, backward, [frames])
    norm = overlap_add(np.broadcast_to(weights**2, (count, fft_length)))
    signal = added / np.where(norm > 1e-10, norm, 1.0).astype(real.dtype)
    if window is None:  # Keras divides by the stride here, not the window's sum
        signal = signal * (fft_length / sequence_stride)
    start = fft_length // 2 if center else 0
    end = start + length if length is not None else (total - fft_length // 2 if center else total)
    return signal[..., start:end]


@not_implemented(COMPLEX)
def view_as_complex(x: Any) -> Any:
    """(..., 2) real pairs as complex numbers."""


@not_implemented(COMPLEX)
def view_as_real(x: Any) -> Any:
    """Complex numbers as (..., 2) real pairs."""
