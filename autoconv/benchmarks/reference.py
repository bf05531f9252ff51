"""Plain NumPy references for the benchmarks: the same maths as autoconv, written the way a
NumPy user would (stride tricks, einsum, reshapes, fancy indexing), channels-last, stride 1.

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


def same_padded(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) with a border of one zero: a 'valid' 3x3 convolution of it is a 'same' one."""
    return np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))


def im2col(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """(N, H, W, C) -> (N*OH*OW, KH*KW*C): every 'valid' window as a row, one slice copy per
    kernel offset. For large images this beats the 6-D window view of :func:`conv_forward`,
    whose strided copy dominates there."""
    kh, kw = kernel
    n, height, width, channels = x.shape
    oh, ow = height - kh + 1, width - kw + 1
    columns = np.empty((n, oh, ow, kh, kw, channels), x.dtype)
    for i in range(kh):
        for j in range(kw):
            columns[:, :, :, i, j] = x[:, i : i + oh, j : j + ow]
    return columns.reshape(n * oh * ow, kh * kw * channels)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean cross-entropy of one-hot targets y under softmax(logits), and its gradient in
    the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-(y * log_probs).sum(axis=1).mean())
    return loss, (np.exp(log_probs) - y) / len(logits)


def rmsprop(weights: list[np.ndarray], velocity: list[np.ndarray], grads: list, lr: float,
            rho: float) -> None:  # fmt: skip
    """Keras's RMSprop step, in place."""
    for w, v, grad in zip(weights, velocity, grads, strict=True):
        v *= rho
        v += (1 - rho) * grad * grad
        w -= lr * grad / np.sqrt(v + 1e-7)


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
        loss, g = softmax_cross_entropy(logits, y)
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
        rmsprop(self.weights, self.velocity, grads, self.lr, self.rho)
        return loss


class ReferenceRGBClassifier:
    """The flowers tutorial's classifier (``autoconv.course.rgb_classifier``) in plain NumPy:
    Rescaling(1/255), three 'same' 3x3 convolutions with ReLU each followed by 2x2 max
    pooling, Dense(128, relu), Dense(classes) logits; softmax cross-entropy from the logits,
    hand-written backward, RMSprop."""

    def __init__(self, weights: list[np.ndarray], lr: float = 1e-3, rho: float = 0.9) -> None:
        self.weights = [w.copy() for w in weights]
        self.velocity = [np.zeros_like(w) for w in weights]
        self.lr, self.rho = lr, rho

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One RMSprop step on a batch with one-hot targets y; returns the loss before it."""
        d1, c1, d2, c2 = self.weights[6:]
        h = x * np.float32(1 / 255)
        shapes, columns, relus = [], [], []
        for k, b in zip(self.weights[0:6:2], self.weights[1:6:2], strict=True):
            padded = same_padded(h)
            shapes.append(padded.shape)
            columns.append(im2col(padded, k.shape[:2]))
            out = columns[-1] @ k.reshape(-1, k.shape[3]) + b
            relus.append(np.maximum(out.reshape(*h.shape[:3], k.shape[3]), 0))
            h = max_pool_forward(relus[-1])
        f = h.reshape(len(x), -1)
        z = np.maximum(f @ d1 + c1, 0)
        loss, g = softmax_cross_entropy(z @ d2 + c2, y)
        grads: list = [None] * 10
        grads[8], grads[9] = z.T @ g, g.sum(axis=0)
        g = (g @ d2.T) * (z > 0)
        grads[6], grads[7] = f.T @ g, g.sum(axis=0)
        g = (g @ d1.T).reshape(h.shape)
        for layer in (2, 1, 0):
            kernel = self.weights[2 * layer]
            g = max_pool_backward(relus[layer], g) * (relus[layer] > 0)
            flat = g.reshape(-1, g.shape[3])
            grads[2 * layer] = (columns[layer].T @ flat).reshape(kernel.shape)
            grads[2 * layer + 1] = g.sum(axis=(0, 1, 2))
            if layer:  # the images need no gradient
                g = conv_grad_input(g, kernel, shapes[layer])[:, 1:-1, 1:-1]
        rmsprop(self.weights, self.velocity, grads, self.lr, self.rho)
        return loss


# ------------------------------------------------------------------------- augmentation
def _reflect(index: np.ndarray, size: int) -> np.ndarray:
    """Keras's 'reflect' fill: (d c b a | a b c d | d c b a)."""
    k = index % (2 * size)
    return np.where(k < size, k, 2 * size - 1 - k)


def affine_bilinear_reflect(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``keras.ops.image.affine_transform(x, rows)``, bilinear, 'reflect' fill: output pixel
    (i, j) of image n reads column rows[n,0]*j + rows[n,1]*i + rows[n,2] and row
    rows[n,3]*j + rows[n,4]*i + rows[n,5], from its four neighbours."""
    n, height, width, _ = x.shape
    r = rows[:, :, None, None]
    i = np.arange(height, dtype=x.dtype)[None, :, None]
    j = np.arange(width, dtype=x.dtype)[None, None, :]
    columns = r[:, 0] * j + r[:, 1] * i + r[:, 2]  # (N, H, W)
    lines = r[:, 3] * j + r[:, 4] * i + r[:, 5]
    top, left = np.floor(lines), np.floor(columns)
    wy, wx = lines - top, columns - left
    top, left = top.astype(np.intp), left.astype(np.intp)
    images = np.arange(n)[:, None, None]
    out = np.zeros_like(x)
    for dy, weight_y in ((0, 1 - wy), (1, wy)):
        for dx, weight_x in ((0, 1 - wx), (1, wx)):
            pixels = x[images, _reflect(top + dy, height), _reflect(left + dx, width)]
            out += (weight_y * weight_x)[..., None] * pixels
    return out


def augment(x: np.ndarray, flips: np.ndarray, degrees: np.ndarray, zooms: np.ndarray) -> np.ndarray:
    """RandomFlip('horizontal'), RandomRotation, RandomZoom (same zoom both ways) of the
    flowers tutorial, with the given draws: their float32 transforms as Keras builds them
    (``_compute_affine_matrix``, ``_get_zoom_matrix``), applied one after the other."""
    n, height, width, _ = x.shape
    f32 = np.float32
    x = np.where(flips[:, None, None, None], x[:, :, ::-1], x)
    theta = degrees.astype(f32) * f32(np.pi / 180)
    cos, sin = np.cos(theta), np.sin(theta)
    cx, cy = f32(0.5) * f32(width - 1), f32(0.5) * f32(height - 1)
    zeros = np.zeros(n, f32)
    rotations = [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos]
    x = affine_bilinear_reflect(x, np.stack([*rotations, zeros, zeros], axis=1))
    z = zooms.astype(f32)
    dx, dy = (f32(width - 1) / f32(2)) * (1 - z), (f32(height - 1) / f32(2)) * (1 - z)
    return affine_bilinear_reflect(x, np.stack([z, zeros, dx, zeros, z, dy, zeros, zeros], 1))
