"""Keras 3's dict data through the image layers: ``{"images": ..., "bounding_boxes": {"boxes":
..., "labels": ...}, "segmentation_masks": ..., "labels": ...}``, each part moved as the images
are (keras/src/layers/preprocessing/image_preprocessing/base_image_preprocessing_layer.py's
``call``), and ``MaxNumBoundingBoxes``.

A layer that takes such a dict has a ``bounding_box_format`` (a keyword argument of every image
layer, in its config when given) and defines ``transform_bounding_boxes(bounding_boxes,
transformation, training=True, image_shape=None)`` and ``transform_segmentation_masks(masks,
transformation)`` on a batch; :func:`call_on_data` draws once and hands the same draws to each
part. Boxes are computed on the host (:mod:`autoconv.layers.bounding_boxes`) and come back as
:class:`~autoconv.host_array.HostArray`; the images as Tensors; integer labels as they came.

Boxes and masks move through Resizing, CenterCrop, RandomCrop, RandomFlip, RandomTranslation,
RandomRotation, RandomZoom, RandomShear and RandomPerspective, and pass unchanged through the
colour layers, RandomErasing and RandomGaussianBlur, as in Keras; the other image layers refuse
them with a NotImplementedError that names the layer. A dict is drawn for and moved eagerly
(a layer called on it directly, or in a data pipeline), not in a functional model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.host_array import HostArray
from autoconv.layers import bounding_boxes as bb
from autoconv.layers.bounding_boxes import host
from autoconv.layers.layer import Layer, Shape, integer_device_of, to_tensors
from autoconv.ops import engine as ops
from autoconv.tensor import Tensor

DATA_KEYS = ("images", "bounding_boxes", "segmentation_masks", "labels")


def image_batch(layer: Layer, inputs: Any) -> tuple[Tensor, bool]:
    """``inputs`` as a batch (N, H, W, C), and whether it was one image (H, W, C)."""
    if not isinstance(inputs, Tensor):
        raise TypeError(
            f"{type(layer).__name__}: takes images (a batch (N, H, W, C) or one image (H, W, C)), "
            "or a dict of 'images' with 'bounding_boxes', 'segmentation_masks' and 'labels' "
            "(Resizing, CenterCrop, RandomCrop, RandomFlip, RandomTranslation, RandomRotation, "
            f"RandomZoom, RandomShear, RandomPerspective and the colour layers), not a "
            f"{type(inputs).__name__}"
        )
    if inputs.ndim not in (3, 4):
        raise ValueError(
            "Expected image tensor to have rank 3 (single image) or 4 (batch of images). "
            f"Received: data.shape={inputs.shape}"
        )
    return (inputs, False) if inputs.ndim == 4 else (ops.reshape(inputs, (1, *inputs.shape)), True)


def take_box_format(kwargs: dict[str, Any]) -> str | None:
    """``bounding_box_format`` taken out of a layer's keyword arguments (Keras's image layers
    take it through ``**kwargs``)."""
    fmt = kwargs.pop("bounding_box_format", None)
    if fmt is not None and not isinstance(fmt, str):
        raise ValueError(f"bounding_box_format must be a string or None, got {fmt!r}")
    return fmt


def box_format_config(layer: Any, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``data_format`` and, when the layer has one, ``bounding_box_format``
    next (Keras's ``BaseImagePreprocessingLayer.get_config``: the layer's own keys come
    after)."""
    if getattr(layer, "bounding_box_format", None) is None:
        return config
    return config | {
        "data_format": layer.data_format,
        "bounding_box_format": layer.bounding_box_format,
    }


def validate_bounding_boxes(bounding_boxes: Any) -> None:
    """Keras's ``validate_bounding_boxes``: a dict of 'boxes' (N, 4) or (batch, N, 4) and
    'labels' of one rank less (or as many)."""
    if (
        not isinstance(bounding_boxes, dict)
        or "labels" not in bounding_boxes
        or "boxes" not in bounding_boxes
    ):
        raise ValueError(
            "Expected `bounding_boxes` agurment to be a dict with keys 'boxes' and 'labels'. "
            f"Received: bounding_boxes={bounding_boxes}"
        )
    boxes_shape = np.shape(host(bounding_boxes["boxes"]))
    labels_shape = np.shape(host(bounding_boxes["labels"]))
    if len(boxes_shape) not in (2, 3):
        raise ValueError(
            "Expected `bounding_boxes['boxes']` to have rank 2 or 3, with shape (num_boxes, 4) "
            f"or (batch_size, num_boxes, 4). Received: bounding_boxes['boxes'].shape={boxes_shape}"
        )
    ranks = {1, 2} if len(boxes_shape) == 2 else {2, 3}
    if len(labels_shape) not in ranks:
        raise ValueError(
            f"Found bounding_boxes['boxes'].shape={boxes_shape} and expected "
            f"bounding_boxes['labels'] to have rank {' or '.join(map(str, sorted(ranks)))}, "
            f"but received: bounding_boxes['labels'].shape={labels_shape} "
        )


def densify_bounding_boxes(bounding_boxes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``bounding_boxes`` with its boxes float32 and its labels arrays, on the host."""
    validate_bounding_boxes(bounding_boxes)
    return bounding_boxes | {
        "boxes": host(bounding_boxes["boxes"], np.float32),
        "labels": host(bounding_boxes["labels"]),
    }


def _boxes_dict(bounding_boxes: dict[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    return bounding_boxes | {
        key: np.asarray(change(np.asarray(bounding_boxes[key]))).view(HostArray)
        for key in ("boxes", "labels")
        if key in bounding_boxes
    }


def _unbatch(x: Tensor) -> Tensor:
    return ops.reshape(x, x.shape[1:])


def data_tensor(layer: Layer, value: Any) -> Any:
    """An integer array (a dict's images or masks, which the layer's call gets as they are) as
    the float Tensor that images alone are made."""
    if isinstance(value, np.ndarray | np.generic) and value.dtype.kind in "biu":
        return to_tensors(value, layer.dtype, integer_device=integer_device_of(layer))
    return value


def call_on_data(
    layer: Any,
    data: dict[str, Any],
    transformation: Any,
    transform_images: Callable[[Tensor], Tensor],
    training: bool = True,
) -> dict[str, Any]:
    """A new dict of ``data``'s parts moved with the one ``transformation`` (the layer's
    draws): the images by ``transform_images`` (on a batch), the boxes by the layer's
    ``transform_bounding_boxes``, the masks by its ``transform_segmentation_masks`` (both
    as they are where not ``training``); the labels as they are (as Keras's geometric and
    colour layers leave them: integer labels stay integers, as in Keras)."""
    name = type(layer).__name__
    unknown = sorted(set(data) - set(DATA_KEYS))
    if "images" not in data or unknown:
        raise ValueError(
            f"{name}: a dict input needs 'images', and may have 'bounding_boxes', "
            f"'segmentation_masks' and 'labels'; got the keys {sorted(data)}"
        )
    images, single = image_batch(layer, data_tensor(layer, data["images"]))
    out = dict(data)
    transformed = transform_images(images)
    out["images"] = _unbatch(transformed) if single else transformed
    if "bounding_boxes" in data:
        if not layer.bounding_box_format:
            raise ValueError(
                "You passed an input with a 'bounding_boxes' key, but you didn't specify a "
                "bounding box format. Pass a `bounding_box_format` argument to your "
                f"{name} layer, e.g. `bounding_box_format='xyxy'`."
            )
        boxes = densify_bounding_boxes(data["bounding_boxes"])
        if single:
            boxes = _boxes_dict(boxes, lambda a: a[None])
        if training:
            boxes = layer.transform_bounding_boxes(
                boxes, transformation, training=training, image_shape=images.shape
            )
        out["bounding_boxes"] = _boxes_dict(boxes, lambda a: a[0] if single else a)
    if "segmentation_masks" in data:
        masks, single_mask = image_batch(layer, data_tensor(layer, data["segmentation_masks"]))
        if training:
            masks = layer.transform_segmentation_masks(masks, transformation, training=training)
        out["segmentation_masks"] = _unbatch(masks) if single_mask else masks
    return out


def boxes_unsupported(layer: Any) -> NotImplementedError:
    """The error of a layer that cannot move bounding boxes or masks (Keras's either)."""
    return NotImplementedError(
        f"{type(layer).__name__} does not transform bounding boxes or segmentation masks in "
        "autoconv: pass it the images alone. Resizing, CenterCrop, RandomCrop, RandomFlip, "
        "RandomTranslation, RandomRotation, RandomZoom, RandomShear, RandomPerspective and the "
        "colour layers "
        "(which leave boxes and masks as they are) take a dict of them"
    )


class ImageDataLayer:
    """The image layers' part in dict data: ``transform_bounding_boxes`` and
    ``transform_segmentation_masks`` on a batch, which leave boxes and masks as they are where
    ``KEEPS_BOXES`` (Keras's colour layers), else refuse them (a layer that moves them defines
    its own); ``bounding_box_format`` in the config."""

    KEEPS_BOXES = False
    bounding_box_format: str | None = None
    keeps_integer_data = True  # a dict's integer labels reach ``call`` as they are

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict[str, Any],
        transformation: Any,
        training: bool = True,
        image_shape: Shape | None = None,
    ) -> dict[str, Any]:
        """A batch's boxes (a dict of 'boxes' (N, M, 4), 'labels') moved as the images are by
        ``transformation``; ``image_shape`` is the images' (N, H, W, C)."""
        if self.KEEPS_BOXES:
            return bounding_boxes
        raise boxes_unsupported(self)

    def transform_segmentation_masks(
        self, masks: Tensor, transformation: Any, training: bool = True
    ) -> Tensor:
        """A batch's segmentation masks (N, H, W, C) moved as the images are."""
        if self.KEEPS_BOXES:
            return masks
        raise boxes_unsupported(self)

    def get_config(self) -> dict[str, Any]:
        return box_format_config(self, super().get_config())  # type: ignore[misc]


def flip_boxes(
    bounding_boxes: dict[str, Any], fmt: str, flips: Any, height: int, width: int
) -> dict[str, Any]:
    """Keras's RandomFlip's boxes: ``flips`` = (which images (N,), horizontal, vertical);
    relative xyxy mirrored (1 - x), then clipped as if in pixels (at 0), as Keras does (labels
    of boxes left empty -1)."""
    which, horizontal, vertical = flips
    which = np.asarray(which, bool).reshape(-1, 1, 1)
    data = bb.convert_format(dict(bounding_boxes), fmt, "rel_xyxy", height, width)
    boxes = np.asarray(data["boxes"])
    if horizontal:
        x1, y1, x2, y2 = np.split(boxes, 4, axis=-1)
        boxes = np.where(which, np.concatenate([1 - x2, y1, 1 - x1, y2], axis=-1), boxes)
    if vertical:
        x1, y1, x2, y2 = np.split(boxes, 4, axis=-1)
        boxes = np.where(which, np.concatenate([x1, 1 - y2, x2, 1 - y1], axis=-1), boxes)
    data["boxes"] = boxes
    data = bb.clip_to_image_size(data, height, width, "xyxy")
    return bb.convert_format(data, "rel_xyxy", fmt, height, width)


def window_boxes(
    bounding_boxes: dict[str, Any],
    fmt: str,
    in_size: tuple[int, int],
    window: tuple[int, int, int, int],
    out_size: tuple[int, int],
) -> dict[str, Any]:
    """Boxes of images of ``in_size`` in the window (top, left, rows, columns) of them,
    resized to ``out_size``: clipped to the window, moved into it, scaled, clipped to
    ``out_size`` (labels of boxes left empty -1); Keras's CenterCrop's boxes."""
    top, left, rows, columns = window
    data = bb.convert_format(dict(bounding_boxes), fmt, "xyxy", *in_size)
    x1, y1, x2, y2 = np.split(np.asarray(data["boxes"]), 4, axis=-1)
    low, high = [left, top] * 2, [left + columns, top + rows] * 2
    parts = zip((x1, y1, x2, y2), low, high, strict=True)
    data["boxes"] = np.concatenate([np.clip(p, lo, hi) - lo for p, lo, hi in parts], axis=-1)
    if (rows, columns) != tuple(out_size):
        data = bb.convert_format(data, "xyxy", "rel_xyxy", rows, columns)
        data = bb.convert_format(data, "rel_xyxy", "xyxy", *out_size)
    data = bb.clip_to_image_size(data, *out_size, "xyxy")
    return bb.convert_format(data, "xyxy", fmt, *out_size)


class WarpsBoxes:
    """RandomTranslation's, RandomRotation's, RandomZoom's, RandomShear's and
    RandomPerspective's part in dict data: masks warped as the images ('nearest'), boxes by
    the layer's ``move_boxes(bounding_boxes, draws, height, width)``; the images' size from
    Keras's 'input_shape' in the draws, else from ``image_shape``."""

    def transform_segmentation_masks(
        self, masks: Tensor, transformation: Any, training: bool = True
    ) -> Tensor:
        return self.transform_images(masks, transformation, interpolation="nearest")  # type: ignore[attr-defined]

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict[str, Any],
        transformation: Any,
        training: bool = True,
        image_shape: Shape | None = None,
    ) -> dict[str, Any]:
        if not training:
            return bounding_boxes
        height, width = transformation.get("input_shape", image_shape)[-3:-1]
        return self.move_boxes(bounding_boxes, transformation, height, width)  # type: ignore[attr-defined]


def translate_boxes(
    bounding_boxes: dict[str, Any], fmt: str, translations: Any, height: int, width: int
) -> dict[str, Any]:
    """Keras's RandomTranslation's boxes: moved by ``translations`` (N, 2) pixels (x, y),
    clipped to the image (labels of boxes left empty -1)."""
    shift = np.asarray(translations, np.float32).reshape(-1, 1, 2)
    data = bb.convert_format(dict(bounding_boxes), fmt, "xyxy", height, width)
    data["boxes"] = np.asarray(data["boxes"]) + np.concatenate([shift, shift], axis=-1)
    data = bb.clip_to_image_size(data, height, width, "xyxy")
    return bb.convert_format(data, "xyxy", fmt, height, width)


def zoom_boxes(
    bounding_boxes: dict[str, Any], fmt: str, zooms: Any, height: int, width: int
) -> dict[str, Any]:
    """Keras's RandomZoom's boxes: ``zooms`` (N, 2) (x, y) about the centre; the input's
    window each zoomed image shows, (start, start + zoom * size), is the boxes' new frame
    (clipped to it, labels of boxes left empty -1)."""
    zooms = np.asarray(zooms, np.float32).reshape(-1, 1, 2)
    size = np.array([width, height], np.float32)
    start = (size - np.float32(1)) / np.float32(2) * (np.float32(1) - zooms)
    end = zooms * size + start
    data = bb.convert_format(dict(bounding_boxes), fmt, "xyxy", height, width)
    low, high = np.concatenate([start, start], -1), np.concatenate([end, end], -1)
    data["boxes"] = np.clip(np.asarray(data["boxes"]), low, high) - low
    extent = end - start
    data = bb.convert_format(data, "xyxy", "rel_xyxy", extent[..., 1:], extent[..., :1])
    data = bb.clip_to_image_size(data, bounding_box_format="rel_xyxy")
    return bb.convert_format(data, "rel_xyxy", fmt, height, width)


def rotate_boxes(
    bounding_boxes: dict[str, Any], fmt: str, angles: Any, height: int, width: int
) -> dict[str, Any]:
    """Keras's RandomRotation's boxes: each box's corners turned by ``angles`` (N,) degrees
    about the image's centre, and the box around them, clipped to the image (labels of boxes
    left empty -1). Keras 3.15 reads the boxes as xyxy whatever their format; autoconv
    converts them from ``fmt`` first (the same for xyxy)."""
    angles = np.asarray(angles, np.float32).reshape(-1)
    n = len(angles)
    data = bb.convert_format(dict(bounding_boxes), fmt, "xyxy", height, width)
    zeros, ones = np.zeros(n, np.float32), np.ones(n, np.float32)
    data["boxes"] = bb.affine_transform(
        data["boxes"], angles, zeros, zeros, ones, zeros, zeros, height, width
    )
    data = bb.clip_to_image_size(data, height, width, "xyxy")
    return bb.convert_format(data, "xyxy", fmt, height, width)


def shear_boxes(
    bounding_boxes: dict[str, Any], fmt: str, shears: Any, height: int, width: int
) -> dict[str, Any]:
    """Keras's RandomShear's boxes: ``shears`` (N, 2) (x, y) applied to the boxes' relative
    corners (the ones the shear moves outwards), clipped to the image (labels of boxes left
    empty -1). As Keras 3.15, in relative coordinates: exact for square images, off by the
    aspect ratio for others."""
    shears = np.asarray(shears, np.float32).reshape(-1, 2)
    sx, sy = shears[:, :1], shears[:, 1:]
    data = bb.convert_format(dict(bounding_boxes), fmt, "rel_xyxy", height, width)
    x1, y1, x2, y2 = (np.asarray(data["boxes"])[..., i] for i in range(4))
    x1, x2 = (
        np.where(sx < 0, x1 - sx * y1, x1 - sx * y2),
        np.where(sx < 0, x2 - sx * y2, x2 - sx * y1),
    )
    y1, y2 = (
        np.where(sy > 0, y1 - sy * x2, y1 - sy * x1),
        np.where(sy > 0, y2 - sy * x1, y2 - sy * x2),
    )
    data["boxes"] = np.stack([x1, y1, x2, y2], axis=-1)
    data = bb.clip_to_image_size(data, bounding_box_format="rel_xyxy")
    return bb.convert_format(data, "rel_xyxy", fmt, height, width)


def perspective_boxes(
    bounding_boxes: dict[str, Any], fmt: str, draws: Any, height: int, width: int
) -> dict[str, Any]:
    """Keras's RandomPerspective's boxes: each warped image's box corners mapped by the
    perspective from the draws' 'start_points' to their 'end_points' (the inverse of Keras's
    ``compute_homography_matrix``), and the box around them, clipped to the image (labels of
    boxes left empty -1). Keras 3.15 gives them back as xyxy whatever the format; autoconv
    in ``fmt``."""
    start = np.asarray(draws["start_points"], np.float32).reshape(-1, 4, 2)
    end = np.asarray(draws["end_points"], np.float32).reshape(-1, 4, 2)
    n = len(start)
    system, target = np.zeros((n, 8, 8), np.float32), start.reshape(n, 8)
    one, zero = np.ones(n, np.float32), np.zeros(n, np.float32)
    for i in range(4):
        (sx, sy), (ex, ey) = start[:, i].T, end[:, i].T
        system[:, 2 * i] = np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1)
        system[:, 2 * i + 1] = np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)
    homography = np.linalg.solve(system, target[..., None])[..., 0]
    inverse = np.linalg.inv(np.concatenate([homography, one[:, None]], -1).reshape(n, 3, 3))
    data = bb.convert_format(dict(bounding_boxes), fmt, "xyxy", height, width)
    boxes = np.asarray(data["boxes"])
    x0, y0, x1, y1 = (boxes[..., i] for i in range(4))
    xs, ys = np.stack([x0, x1, x0, x1], -1), np.stack([y0, y1, y1, y0], -1)
    points = np.stack([xs, ys, np.ones_like(xs)], -1)  # (N, M, 4 corners, 3)
    moved = np.einsum("nij,nmkj->nmki", inverse.astype(np.float32), points)
    xs, ys = moved[..., 0] / moved[..., 2], moved[..., 1] / moved[..., 2]
    warped = np.stack([xs.min(-1), ys.min(-1), xs.max(-1), ys.max(-1)], -1)
    apply = np.asarray(draws["apply_perspective"], bool).reshape(-1, 1, 1)
    data["boxes"] = np.where(apply, warped, boxes).astype(np.float32)
    data = bb.clip_to_image_size(data, height, width, "xyxy")
    return bb.convert_format(data, "xyxy", fmt, height, width)


class MaxNumBoundingBoxes(Layer):
    """A dict's bounding boxes cut or padded with ``fill_value`` to ``max_number`` per image
    (boxes and labels); the images, labels and masks pass as they are. As Keras's, a
    ``bounding_box_format`` must be given for a dict with bounding boxes. Unlike Keras's, its
    config keeps ``fill_value`` (Keras 3.15's drops it)."""

    keeps_integer_data = True

    def __init__(self, max_number: int, fill_value: int = -1, **kwargs: Any) -> None:
        self.bounding_box_format = take_box_format(kwargs)
        data_format = kwargs.pop("data_format", None)
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("MaxNumBoundingBoxes: autoconv's images are channels_last")
        self.data_format = "channels_last"
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, dict) and "bounding_boxes" in input_shape:
            extra = set(input_shape["bounding_boxes"]) - {"boxes", "labels"}
            if extra:
                raise KeyError(
                    f"There are unsupported keys in `bounding_boxes`: {list(extra)}. Only "
                    "`boxes` and `labels` are supported."
                )
            shapes = input_shape["bounding_boxes"]
            for key in ("boxes", "labels"):
                shape = list(shapes[key])
                shape[1] = self.max_number
                shapes[key] = shape
        return input_shape

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict[str, Any],
        transformation: Any = None,
        training: bool = True,
        image_shape: Shape | None = None,
    ) -> dict[str, Any]:
        boxes, labels = host(bounding_boxes["boxes"]), host(bounding_boxes["labels"])
        pad = max(self.max_number - boxes.shape[1], 0)
        boxes = np.pad(
            boxes[:, : self.max_number], ((0, 0), (0, pad), (0, 0)), constant_values=self.fill_value
        )
        labels = np.pad(
            labels[:, : self.max_number], ((0, 0), (0, pad)), constant_values=self.fill_value
        )
        return bounding_boxes | {"boxes": boxes, "labels": labels}

    def transform_segmentation_masks(
        self, masks: Tensor, transformation: Any = None, training: bool = True
    ) -> Tensor:
        return masks

    def call(self, inputs: Any, training: bool = True) -> Any:
        if not isinstance(inputs, dict):
            image_batch(self, inputs)
            return inputs
        return call_on_data(self, inputs, None, lambda images: images, training)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {"data_format": self.data_format}
        return box_format_config(self, config) | {
            "max_number": self.max_number,
            "fill_value": self.fill_value,
        }
