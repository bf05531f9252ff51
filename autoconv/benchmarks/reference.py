"""Plain NumPy references for the benchmarks: the same maths as autoconv, written the way a
NumPy user would (stride tricks, einsum, reshapes), channels-last, 'valid' padding, stride 1.

They are the "always there" baseline of ``autoconv bench`` and ``bench/``, and a second
implementation that every benchmark checks autoconv's results against.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """(N, H, W, Cin) * (KH, KW, Cin, Cout) -> (N, OH, OW, Cout)."""
    windows = sliding_window_view(x, w.shape[:2], axis=(1, 2))  # (N, OH, OW, Cin, KH, KW)
    out = np.einsum("nhwcij,ijcd->nhwd", windows, w, optimize=True)
    return out if b is None else out + b


def conv_grad_input(g: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """dL/dx for output gradient g (N, OH, OW, Cout): each kernel offset adds g @ w[i, j].T."""
    grad_x = np.zeros(x_shape, dtype=g.dtype)
    oh, ow = g.shape[1:3]
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            grad_x[:, i : i + oh, j : j + ow] += g @ w[i, j].T
    return grad_x


def conv_grad_weights(x: np.ndarray, g: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """dL/dw (KH, KW, Cin, Cout) for input x and output gradient g."""
    windows = sliding_window_view(x, kernel, axis=(1, 2))
    return np.einsum("nhwcij,nhwd->ijcd", windows, g, optimize=True)


def _pool_windows(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, 4, C): each 2x2 window's cells in row-major order."""
    n, h, w, c = x.shape
    oh, ow = h // 2, w // 2
    blocks = x[:, : oh * 2, : ow * 2].reshape(n, oh, 2, ow, 2, c)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(n, oh, ow, 4, c)


def _unpool(cells: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`_pool_windows`, zero where no window reaches."""
    n, oh, ow, _, c = cells.shape
    grad = np.zeros(x_shape, dtype=cells.dtype)
    blocks = cells.reshape(n, oh, ow, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    grad[:, : oh * 2, : ow * 2] = blocks.reshape(n, oh * 2, ow * 2, c)
    return grad


def max_pool_forward(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling, stride 2."""
    return _pool_windows(x).max(axis=3)


def max_pool_backward(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Each window's gradient goes to its first maximum in row-major order, as in autoconv."""
    windows = _pool_windows(x)
    first = windows.argmax(axis=3)  # (N, OH, OW, C)
    cells = np.zeros_like(windows)
    np.put_along_axis(cells, first[:, :, :, None, :], g[:, :, :, None, :], axis=3)
    return _unpool(cells, x.shape)


def avg_pool_forward(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling, stride 2."""
    return _pool_windows(x).mean(axis=3)


def avg_pool_backward(x_shape: tuple[int, ...], g: np.ndarray) -> np.ndarray:
    cells = np.repeat(g[:, :, :, None, :] / 4, 4, axis=3)
    return _unpool(cells, x_shape)


class ReferenceModel:
    """The course's convnet in plain NumPy: forward, hand-written backward, RMSprop.

    Takes its weights from an autoconv model so both start from the same point.
    """

    def __init__(self, weights: list[np.ndarray], lr: float = 1e-3, rho: float = 0.9) -> None:
        self.weights = [w.copy() for w in weights]
        self.velocity = [np.zeros_like(w) for w in weights]
        self.lr, self.rho = lr, rho

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (N, 10) and the activations the backward needs."""
        k1, b1, k2, b2, k3, b3, d1, c1, d2, c2 = self.weights
        a1 = np.maximum(conv_forward(x, k1, b1), 0)
        p1 = max_pool_forward(a1)
        a2 = np.maximum(conv_forward(p1, k2, b2), 0)
        p2 = max_pool_forward(a2)
        a3 = np.maximum(conv_forward(p2, k3, b3), 0)
        f = a3.reshape(len(x), -1)
        h = np.maximum(f @ d1 + c1, 0)
        return h @ d2 + c2, [x, a1, p1, a2, p2, a3, f, h]

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits = self.forward(x)[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One RMSprop step on a batch with one-hot targets y; returns the loss before it."""
        k1, _, k2, _, k3, _, d1, _, d2, _ = self.weights
        logits, (x, a1, p1, a2, p2, a3, f, h) = self.forward(x)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = float(-(y * log_probs).sum(axis=1).mean())
        g = (np.exp(log_probs) - y) / len(x)
        grads = [None] * 10
        grads[8], grads[9] = h.T @ g, g.sum(axis=0)
        g = (g @ d2.T) * (h > 0)
        grads[6], grads[7] = f.T @ g, g.sum(axis=0)
        g = (g @ d1.T).reshape(a3.shape) * (a3 > 0)
        grads[4], grads[5] = conv_grad_weights(p2, g, k3.shape[:2]), g.sum(axis=(0, 1, 2))
        g = max_pool_backward(a2, conv_grad_input(g, k3, p2.shape)) * (a2 > 0)
        grads[2], grads[3] = conv_grad_weights(p1, g, k2.shape[:2]), g.sum(axis=(0, 1, 2))
        g = max_pool_backward(a1, conv_grad_input(g, k2, p1.shape)) * (a1 > 0)
        grads[0], grads[1] = conv_grad_weights(x, g, k1.shape[:2]), g.sum(axis=(0, 1, 2))
        for w, v, grad in zip(self.weights, self.velocity, grads, strict=True):
            v *= self.rho
            v += (1 - self.rho) * grad * grad
            w -= self.lr * grad / np.sqrt(v + 1e-7)
        return loss
