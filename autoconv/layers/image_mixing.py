"""The layers that mix the images of a batch, and their labels: MixUp and CutMix. Arguments,
defaults, order and numbers are Keras 3's
(keras/src/layers/preprocessing/image_preprocessing/mix_up.py and cut_mix.py).

As Keras's, they take a batch of images (N, H, W, C), or a dict {"images": ..., "labels": ...}
with one-hot (or soft) labels (N, classes), mixed with the images' weights, and give back the
same. Labels reach a layer only in a dict, so label mixing happens where both are at hand: in a
data pipeline (``ds.map(lambda x, y: mix_up({"images": x, "labels": y}))``, autoconv's
:class:`autoconv.data.Dataset` as ``tf.data``); inside a model a mixing layer sees, and mixes,
the images alone. In inference, or given one image (H, W, C), the inputs pass unchanged.

The draws follow :mod:`autoconv.layers.augmentation`'s contract (``random_transformation``
under Keras's keys, ``transform_images`` and ``transform_labels``). The images of other
positions are read through an (N, N) mixing matrix (a matrix product over the batch), which
reaches the device with the masks as one step input, so a training step the GPU replays draws
anew.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.layers.augmentation import RandomImageLayer, drawn, per_step, per_step_parts
from autoconv.layers.geometric_augmentation import box_masks
from autoconv.layers.preprocessing import F32, factor_bounds, image_batch
from autoconv.ops import engine as ops
from autoconv.seeds import generator
from autoconv.tensor import Tensor


def mixing_matrix(weights: Any, permutation: Any) -> np.ndarray:
    """M (N, N) with M @ x = w * x + (1 - w) * x[permutation], row by row."""
    weights = np.asarray(weights, np.float64).reshape(-1)
    permutation = np.asarray(permutation, np.int64).reshape(-1)
    matrix = np.diag(weights)
    matrix[np.arange(len(weights)), permutation] += 1.0 - weights
    return matrix


def mixed_rows(matrix: Tensor, x: Tensor) -> Tensor:
    """``matrix`` (N, N) times ``x`` (N, ...) flattened to rows, in ``x``'s shape."""
    return ops.reshape(ops.matmul(matrix, ops.reshape(x, (x.shape[0], -1))), x.shape)


class MixingLayer(RandomImageLayer):
    """The base of MixUp and CutMix: images, or a dict of images and labels, mixed across the
    batch by ``mix``; labels with the matrix of ``mix_weight`` and ``permutation_order``."""

    keeps_integer_data = False  # its labels are mixed as float Tensors

    def mix(
        self, images: Tensor, labels: Tensor | None, transformation: Any
    ) -> tuple[Tensor, Tensor | None]:
        """``images`` (N, H, W, C) and ``labels`` (N, classes) or None, mixed with the draws
        ``transformation`` (one draw for both)."""
        raise NotImplementedError

    @staticmethod
    def label_matrix(transformation: Any) -> np.ndarray:
        """Keras's ``transform_labels``: w * labels + (1 - w) * labels[permutation]."""
        return mixing_matrix(transformation["mix_weight"], transformation["permutation_order"])

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        return self.mix(images, None, transformation)[0]

    def transform_labels(self, labels: Tensor, transformation: Any) -> Tensor:
        """``labels`` (N, classes) mixed as the images with the same draws are."""
        matrix = per_step(lambda: self.label_matrix(drawn(transformation)), labels)
        return mixed_rows(matrix, labels)

    def call(self, inputs: Any, training: bool = True) -> Any:
        data = inputs if isinstance(inputs, dict) else {"images": inputs}
        if "images" not in data or set(data) - {"images", "labels"}:
            raise ValueError(
                f"{type(self).__name__} takes images, or a dict of 'images' and 'labels'; "
                f"got the keys {sorted(data)}"
            )
        images, single = image_batch(self, data["images"])
        labels = data.get("labels")
        one_per_image = labels is None or (
            labels.ndim == 1 if single else labels.ndim == 2 and len(labels) == len(images)
        )
        if not one_per_image:
            raise ValueError(
                f"{type(self).__name__}: labels must be one per image, (N, classes) for images "
                f"(N, H, W, C) or (classes,) for one image; got labels of shape {labels.shape} "
                f"for images of shape {data['images'].shape}"
            )
        if not training or single:
            return inputs
        rng = self._generator or generator()
        mixed_images, mixed_labels = self.mix(
            images, labels, lambda: self.random_transformation(images.shape, rng)
        )
        if not isinstance(inputs, dict):
            return mixed_images
        if labels is None:
            return {"images": mixed_images}
        return {"images": mixed_images, "labels": mixed_labels}


class MixUp(MixingLayer):
    """Mixes each image (and label) with another of the batch, a random permutation's:
    w * x + (1 - w) * x[permutation], w drawn per image from Beta(alpha, alpha)."""

    def __init__(
        self,
        alpha: float = 0.2,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not alpha > 0:
            raise ValueError(f"MixUp: alpha must be a positive number. Received: alpha={alpha}")
        self.alpha = float(alpha)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: the permutation, then the weights."""
        n = shape[0]
        permutation = rng.permutation(n)
        weights = rng.beta(self.alpha, self.alpha, n).astype(F32)
        return {"mix_weight": weights, "permutation_order": permutation}

    def mix(
        self, images: Tensor, labels: Tensor | None, transformation: Any
    ) -> tuple[Tensor, Tensor | None]:
        matrix = per_step(lambda: self.label_matrix(drawn(transformation)), images)
        mixed = None if labels is None else mixed_rows(matrix, labels)
        return mixed_rows(matrix, images), mixed

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "alpha": self.alpha,
            "seed": self.seed,
        }


class CutMix(MixingLayer):
    """Pastes into each image a box of another of the batch (a random permutation's) and
    mixes the labels by the areas: the box's sides are sqrt(1 - w) times the image's at a
    uniform position, w drawn per image from Beta(a, a) with a drawn once per batch from
    ``factor`` (a float f gives (0, f), within [0, 1]), plus 1e-6; the labels' weight is the
    share of the image left."""

    def __init__(
        self,
        factor: Any = 1.0,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = factor_bounds(factor, (0, 1))

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: the Beta's parameter, the weights, the boxes, then the
        permutation."""
        n = shape[0]
        alpha = F32(rng.uniform(*self.factor)) + F32(1e-6)
        weights = rng.beta(alpha, alpha, n).astype(F32)
        ratio = np.sqrt(F32(1) - weights)
        masks, area = box_masks(shape, np.stack([ratio, ratio], axis=1), rng)
        permutation = rng.permutation(n)
        return {
            "permutation_order": permutation,
            "batch_masks": masks,
            "mix_weight": F32(1) - area,
        }

    def mix(
        self, images: Tensor, labels: Tensor | None, transformation: Any
    ) -> tuple[Tensor, Tensor | None]:
        """The images of ``permutation_order`` where ``batch_masks``, else the images."""
        n = images.shape[0]

        def parts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            t = drawn(transformation)
            shuffle = mixing_matrix(np.zeros(n), t["permutation_order"])
            return shuffle, t["batch_masks"], self.label_matrix(t)

        shuffle, mask, matrix = per_step_parts(parts, ((n, n), images.shape, (n, n)), images)
        mixed = images * (1.0 - mask) + mixed_rows(shuffle, images) * mask
        return mixed, None if labels is None else mixed_rows(matrix, labels)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "seed": self.seed,
        }
