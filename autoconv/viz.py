"""Pictures of what a convnet learned and sees: first-layer filters, feature maps, curves.

``filters`` and ``activations`` return NumPy arrays (no plotting library needed); the
``*_figure`` functions draw them with matplotlib, the optional ``viz`` extra
(``pip install "autoconv[viz]"``), and return a Figure a notebook displays.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from autoconv import layers
from autoconv.callbacks import History
from autoconv.models import Model


class MissingDependencyError(ImportError):
    """An optional dependency (matplotlib, for pictures) is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files, not windows: works with no display
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError(
            'pictures need matplotlib: pip install "autoconv[viz]"'
        ) from None
    return plt


def filters(model: Model) -> np.ndarray:
    """The first Conv2D layer's kernels as (filters, kh, kw, in_channels)."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            return layer.kernel.numpy().transpose(3, 0, 1, 2)
    raise ValueError("the model has no Conv2D layer, so it has no filters to show")


def activations(model: Model, x: Any) -> list[tuple[str, np.ndarray]]:
    """(layer label, feature maps (H, W, C)) for each conv and pooling layer, for one image x
    of the model's input shape (H, W, C): a model from the model's input to those layers'
    outputs, as one does in Keras."""
    image = np.asarray(x, dtype=np.float32)
    graph = model._graph() if model.built else None
    if graph is None or len(graph.inputs) != 1:
        raise ValueError("activations need a built model with one input")
    expected = graph.inputs[0].shape[1:]
    if image.shape != expected:
        raise ValueError(f"x must be one image of shape {expected}, got {image.shape}")
    picked = [
        layer
        for layer in model.layers
        if isinstance(layer, layers.Conv2D | layers.MaxPooling2D | layers.AveragePooling2D)
    ]
    if not picked:
        return []
    probe = Model(graph.inputs[0], [layer.output for layer in picked])
    maps = probe.predict(image[None], verbose=0)
    maps = maps if isinstance(maps, list) else [maps]
    return [
        (f"{layer.name} ({type(layer).__name__}) {fmap.shape[1:]}", fmap[0])
        for layer, fmap in zip(picked, maps, strict=True)
    ]


def _tile(images: np.ndarray, ax: Any, title: str, cmap: str = "gray") -> None:
    """Draw (n, h, w) images as a near-square grid in one axes, each scaled on its own."""
    n, h, w = images.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    for k, img in enumerate(images):
        low, high = float(img.min()), float(img.max())
        scaled = (img - low) / (high - low) if high > low else np.zeros_like(img)
        r, c = divmod(k, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = scaled
    ax.imshow(canvas, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def filters_figure(model: Model) -> Any:
    """The first conv layer's filters as a grid of small images (the first input channel)."""
    plt = _pyplot()
    kernels = filters(model)
    fig, ax = plt.subplots(figsize=(5, 5))
    _tile(kernels[..., 0], ax, f"{kernels.shape[0]} filters, {kernels.shape[1]}x{kernels.shape[2]}")
    fig.tight_layout()
    return fig


def activations_figure(model: Model, x: Any) -> Any:
    """The input image, then each conv/pool layer's feature maps, labelled with name and shape."""
    plt = _pyplot()
    maps = activations(model, x)
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(3.2 * (len(maps) + 1), 3.6))
    image = np.asarray(x, dtype=np.float32)
    _tile(image.transpose(2, 0, 1)[:1], axes[0], f"input {image.shape}")
    for ax, (label, fmap) in zip(axes[1:], maps, strict=True):
        _tile(fmap.transpose(2, 0, 1), ax, label, cmap="viridis")
    fig.tight_layout()
    return fig


def curves_figure(history: History) -> Any:
    """Loss and accuracy per epoch, training and (when present) validation."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    epochs = [e + 1 for e in history.epoch]
    for key, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
        for prefix, style in (("", "o-"), ("val_", "s--")):
            if prefix + key in history.history:
                ax.plot(epochs, history.history[prefix + key], style, label=prefix + key)
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def save(fig: Any, path: str | Path) -> Path:
    """Write a figure to a PNG file (dpi 100) and close it."""
    path = Path(path)
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path
