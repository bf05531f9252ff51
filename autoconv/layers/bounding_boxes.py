"""``keras.utils.bounding_boxes``: bounding boxes converted between formats, clipped, cropped,
padded, moved by an affine transform, encoded against anchors and compared by IoU (Keras 3's
keras/src/layers/preprocessing/image_preprocessing/bounding_boxes/: arguments, defaults, errors
and numbers are theirs). The image layers move their inputs' boxes with these.

Boxes are small arrays: they are computed on the host with NumPy, and come back as
:class:`~autoconv.host_array.HostArray` (a NumPy array with a tensor's ``numpy()``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoconv.config import epsilon
from autoconv.host_array import HostArray

__all__ = [
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def host(value: Any, dtype: Any = None) -> np.ndarray:
    """``value`` (an array, a Tensor, a list, a number) as a NumPy array."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value, dtype=dtype)


def _out(value: np.ndarray) -> HostArray:
    return np.asarray(value).view(HostArray)


def _split(boxes: np.ndarray) -> list[np.ndarray]:
    return np.split(boxes, 4, axis=-1)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts, axis=-1)


def _to_xyxy(boxes: np.ndarray, source: str, height: Any, width: Any) -> np.ndarray:
    a, b, c, d = _split(boxes)
    if source == "xyxy":
        return boxes
    if source == "yxyx":
        return _cat([b, a, d, c])
    if source == "xywh":
        return _cat([a, b, a + c, b + d])
    if source in ("center_xywh", "center_yxhw"):
        cx, cy, w, h = (a, b, c, d) if source == "center_xywh" else (b, a, d, c)
        return _cat([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])
    if source == "rel_xyxy":
        return _cat([a * width, b * height, c * width, d * height])
    if source == "rel_yxyx":
        return _cat([b * width, a * height, d * width, c * height])
    if source == "rel_xywh":
        return _cat([a * width, b * height, (a + c) * width, (b + d) * height])
    # rel_center_xywh
    return _cat([
        (a - c / 2.0) * width, (b - d / 2.0) * height,
        (a + c / 2.0) * width, (b + d / 2.0) * height,
    ])  # fmt: skip


def _from_xyxy(boxes: np.ndarray, target: str, height: Any, width: Any) -> np.ndarray:
    x1, y1, x2, y2 = _split(boxes)
    if target == "xyxy":
        return boxes
    if target == "yxyx":
        return _cat([y1, x1, y2, x2])
    if target == "xywh":
        return _cat([x1, y1, x2 - x1, y2 - y1])
    cx, cy = x1 + ((x2 - x1) / 2.0), y1 + ((y2 - y1) / 2.0)
    if target == "center_xywh":
        return _cat([cx, cy, x2 - x1, y2 - y1])
    if target == "center_yxhw":
        return _cat([cy, cx, y2 - y1, x2 - x1])
    if target == "rel_xyxy":
        return _cat([x1 / width, y1 / height, x2 / width, y2 / height])
    if target == "rel_yxyx":
        return _cat([y1 / height, x1 / width, y2 / height, x2 / width])
    if target == "rel_xywh":
        return _cat([x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height])
    # rel_center_xywh
    return _cat([cx / width, cy / height, (x2 - x1) / width, (y2 - y1) / height])


def convert_format(
    boxes: Any,
    source: str,
    target: str,
    height: Any = None,
    width: Any = None,
    dtype: Any = "float32",
) -> Any:
    """Boxes converted from the ``source`` format to ``target`` (case-insensitive: xyxy, yxyx,
    xywh, center_xywh, center_yxhw, and rel_xyxy, rel_yxyx, rel_xywh, rel_center_xywh relative
    to the image's ``height`` and ``width``, which a relative format needs), cast to ``dtype``.
    A dict's ``"boxes"`` are converted in it, and the dict returned, as Keras does."""
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return boxes
    array = host(boxes)
    if array.ndim == 0 or array.shape[-1] != 4:
        raise ValueError(
            "`boxes` must be a tensor with the last dimension of 4. "
            f"Received: boxes.shape={tuple(array.shape)}"
        )
    source, target = source.lower(), target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(f"Invalid source or target format. Supported formats: {SUPPORTED_FORMATS}")
    if (source.startswith("rel_") or target.startswith("rel_")) and (
        width is None or height is None
    ):
        raise ValueError(
            "convert_format() must receive `height` and `width` transforming between relative "
            f"and absolute formats.convert_format() received source=`{source}`, "
            f"target=`{target}, but height={height} and width={width}."
        )
    dtype = np.dtype(dtype)
    array = array.astype(dtype)
    if source == target:
        return _out(array)
    width = None if width is None else host(width, dtype)
    height = None if height is None else host(height, dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]
    return _out(_from_xyxy(_to_xyxy(array, source, height, width), target, height, width))


def _format_xyxy_only(bounding_box_format: str, what: str) -> None:
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            f"{what}: only bounding_box_format='xyxy' is supported (as in Keras), got "
            f"{bounding_box_format!r}"
        )


def clip_to_image_size(
    bounding_boxes: dict[str, Any],
    height: Any = None,
    width: Any = None,
    bounding_box_format: str = "xyxy",
) -> dict[str, Any]:
    """A copy of the dict ``bounding_boxes`` with its ``"boxes"`` (xyxy in pixels, or rel_xyxy)
    clipped to the image, and the ``"labels"`` of the boxes left with no area set to -1."""
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(
            "clip_to_image_size: only bounding_box_format 'xyxy' or 'rel_xyxy' is supported (as "
            f"in Keras), got {bounding_box_format!r}"
        )
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`.")
    boxes = host(bounding_boxes["boxes"])
    labels = bounding_boxes.get("labels", None)
    if bounding_box_format == "xyxy":
        high = [host(width, boxes.dtype), host(height, boxes.dtype)] * 2
    else:
        high = [1.0] * 4
    boxes = _cat(
        [np.clip(p, 0, h).astype(boxes.dtype) for p, h in zip(_split(boxes), high, strict=True)]
    )
    result = bounding_boxes.copy()
    result["boxes"] = _out(boxes)
    if labels is not None:
        x1, y1, x2, y2 = _split(boxes)
        areas = ((x2 - x1) * (y2 - y1))[..., 0]
        labels = host(labels)
        result["labels"] = _out(np.where(areas > 0, labels, -1).astype(labels.dtype))
    return result


def _inverse_affine_matrix(
    center_x: Any,
    center_y: Any,
    angle: np.ndarray,
    translate_x: Any,
    translate_y: Any,
    scale: Any,
    shear_x: Any,
    shear_y: Any,
    height: Any,
    width: Any,
) -> np.ndarray:
    """(batch, 3, 3): the inverse of the affine transform of each image (Keras's
    ``BoundingBox._compute_inverse_affine_matrix``, after TensorFlow's)."""
    angle, shear_x, shear_y = -angle, -host(shear_x), -host(shear_y)
    cx = center_x * (width - 1)
    cy = center_y * (height - 1)
    rot = angle * (1.0 / 180.0 * math.pi)
    tx = -host(translate_x) * (width - 1)
    ty = -host(translate_y) * (height - 1)
    sx = shear_x * (1.0 / 180.0 * math.pi)
    sy = shear_y * (1.0 / 180.0 * math.pi)
    cos_sy, tan_sx = np.cos(sy), np.tan(sx)
    a = np.cos(rot - sy) / cos_sy
    b = a * tan_sx + np.sin(rot)
    c = -np.sin(rot - sy) / cos_sy
    d = np.cos(rot) - c * tan_sx
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    zeros = np.zeros(angle.shape[0])
    rows = [a0, a1, a2, b0, b1, b2, zeros, zeros, zeros + 1]
    rows = [np.broadcast_to(np.asarray(r, np.float64), angle.shape) for r in rows]
    return np.stack(rows, axis=-1).reshape(-1, 3, 3)


def affine_transform(
    boxes: Any,
    angle: Any,
    translate_x: Any,
    translate_y: Any,
    scale: Any,
    shear_x: Any,
    shear_y: Any,
    height: Any,
    width: Any,
    center_x: Any = None,
    center_y: Any = None,
    bounding_box_format: str = "xyxy",
) -> HostArray:
    """Batched xyxy ``boxes`` (batch, N, 4) moved by each image's affine transform (``angle``
    and the shears in degrees, translations as fractions of the image, ``scale``; each an array
    (batch,)): the box around each box's moved corners, as Keras's."""
    _format_xyxy_only(bounding_box_format, "affine_transform")
    angle = host(angle)
    if angle.ndim != 1:
        raise ValueError(f"affine_transform: angle must be an array (batch,), got {angle.shape}")
    dtype = angle.dtype if angle.dtype.kind == "f" else np.dtype(np.float32)
    array = host(boxes)
    if array.ndim != 3 or array.shape[-1] != 4:
        raise ValueError(
            f"affine_transform: boxes must be batched, (batch, N, 4), got {tuple(array.shape)}"
        )
    matrix = _inverse_affine_matrix(
        0.5 if center_x is None else center_x,
        0.5 if center_y is None else center_y,
        angle.astype(np.float64),
        translate_x, translate_y, scale, shear_x, shear_y, height, width,
    )  # fmt: skip
    batch, n = array.shape[:2]
    x1, y1, x2, y2 = (array[..., i].astype(np.float64) for i in range(4))
    points = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=-1).reshape(batch, n, 4, 2)
    points = np.concatenate([points, np.ones((batch, n, 4, 1))], axis=-1)
    moved = np.einsum("bnxy,byz->bnxz", points, np.transpose(matrix[:, :2, :], (0, 2, 1)))
    return _out(_cat([moved.min(axis=2), moved.max(axis=2)]).astype(dtype))


def crop(
    boxes: Any, top: Any, left: Any, height: Any, width: Any, bounding_box_format: str = "xyxy"
) -> HostArray:
    """xyxy ``boxes`` in the frame of the window of the image at (``top``, ``left``), clipped
    to its ``height`` and ``width`` (None: not clipped on that side)."""
    _format_xyxy_only(bounding_box_format, "crop")
    x1, y1, x2, y2 = _split(host(boxes))
    high = [width, height] * 2
    parts = [p - o for p, o in zip((x1, y1, x2, y2), (left, top, left, top), strict=True)]
    return _out(_cat([np.clip(p, 0, h) for p, h in zip(parts, high, strict=True)]))


def pad(
    boxes: Any,
    top: Any,
    left: Any,
    height: Any = None,
    width: Any = None,
    bounding_box_format: str = "xyxy",
) -> HostArray:
    """xyxy ``boxes`` moved by the ``top`` rows and ``left`` columns padded before them."""
    _format_xyxy_only(bounding_box_format, "pad")
    x1, y1, x2, y2 = _split(host(boxes))
    return _out(_cat([x1 + left, y1 + top, x2 + left, y2 + top]))


def _variance(variance: Any) -> np.ndarray | None:
    if variance is None:
        return None
    variance = host(variance, np.float32)
    if variance.ndim == 0 or variance.shape[-1] != 4:
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return variance


def _height_width(image_shape: Any) -> tuple[Any, Any]:
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def encode_box_to_deltas(
    anchors: Any,
    boxes: Any,
    anchor_format: str,
    box_format: str,
    encoding_format: str = "center_yxhw",
    variance: Any = None,
    image_shape: Any = None,
) -> HostArray:
    """The deltas (centre offsets over the anchors' sizes, log size ratios; divided by
    ``variance``) that take ``anchors`` (N, 4) to ``boxes`` ((N, 4) or (B, N, 4)), in
    ``encoding_format`` (center_yxhw or center_xywh)."""
    variance = _variance(variance)
    if encoding_format not in ["center_xywh", "center_yxhw"]:
        raise ValueError(
            "`encoding_format` should be one of 'center_xywh' or 'center_yxhw', got "
            f"{encoding_format}"
        )
    height, width = _height_width(image_shape)
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    anchors, boxes = np.asarray(anchors), np.asarray(boxes)
    anchor_sizes = np.maximum(anchors[..., 2:], np.float32(epsilon()))
    box_sizes = np.maximum(boxes[..., 2:], np.float32(epsilon()))
    deltas = _cat(
        [(boxes[..., :2] - anchors[..., :2]) / anchor_sizes, np.log(box_sizes / anchor_sizes)]
    )
    if variance is not None:
        deltas = deltas / variance
    return _out(deltas)


def decode_deltas_to_boxes(
    anchors: Any,
    boxes_delta: Any,
    anchor_format: str,
    box_format: str,
    encoded_format: str = "center_yxhw",
    variance: Any = None,
    image_shape: Any = None,
) -> Any:
    """The boxes, in ``box_format``, that ``boxes_delta`` (as :func:`encode_box_to_deltas`
    gives them) make of ``anchors``; dicts of levels' anchors and deltas give a dict."""
    variance = _variance(variance)
    if encoded_format not in ["center_xywh", "center_yxhw"]:
        raise ValueError(
            f"`encoded_format` should be 'center_xywh' or 'center_yxhw', but got "
            f"'{encoded_format}'."
        )
    height, width = _height_width(image_shape)

    def decode(anchor: Any, delta: Any) -> HostArray:
        encoded = np.asarray(convert_format(anchor, anchor_format, encoded_format, height, width))
        delta = host(delta)
        if variance is not None:
            delta = delta * variance
        box = _cat([
            delta[..., :2] * encoded[..., 2:] + encoded[..., :2],
            np.exp(delta[..., 2:]) * encoded[..., 2:],
        ])  # fmt: skip
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)


def _rank(boxes: Any) -> int:
    return host(boxes).ndim


def compute_iou(
    boxes1: Any,
    boxes2: Any,
    bounding_box_format: str,
    use_masking: bool = False,
    mask_val: Any = -1,
    image_shape: Any = None,
) -> HostArray:
    """The IoU of each box of ``boxes1`` ((M, 4) or (B, M, 4)) with each of ``boxes2`` ((N, 4)
    or (B, N, 4)): (M, N), or (B, M, N) where either is batched. With ``use_masking``, pairs
    with a box whose coordinates are all negative are ``mask_val``."""
    rank1, rank2 = _rank(boxes1), _rank(boxes2)
    for name, rank in (("boxes1", rank1), ("boxes2", rank2)):
        if rank not in [2, 3]:
            raise ValueError(
                f"compute_iou() expects {name} to be batched, or to be unbatched. Received "
                f"len(boxes1.shape)={rank1}, len(boxes2.shape)={rank2}. Expected either "
                f"len({name}.shape)=2 AND or len({name}.shape)=3."
            )
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError(
            "When using relative bounding box formats (e.g. `rel_yxyx`) the `image_shape` "
            f"argument must be provided.Received `image_shape`: {image_shape}"
        )
    height, width = _height_width(image_shape)
    boxes1 = np.asarray(convert_format(boxes1, bounding_box_format, "yxyx", height, width))
    boxes2 = np.asarray(convert_format(boxes2, bounding_box_format, "yxyx", height, width))
    y_min1, x_min1, y_max1, x_max1 = _split(boxes1)
    y_min2, x_min2, y_max2, x_max2 = _split(boxes2)
    perm = [1, 0] if rank2 == 2 else [0, 2, 1]
    inter_h = np.minimum(y_max1, y_max2.transpose(perm)) - np.maximum(
        y_min1, y_min2.transpose(perm)
    )
    inter_w = np.minimum(x_max1, x_max2.transpose(perm)) - np.maximum(
        x_min1, x_min2.transpose(perm)
    )
    intersection = np.maximum(inter_h, 0) * np.maximum(inter_w, 0)
    area1 = ((y_max1 - y_min1) * (x_max1 - x_min1))[..., 0]
    area2 = ((y_max2 - y_min2) * (x_max2 - x_min2))[..., 0]
    area2 = np.expand_dims(area2, 1 if area2.ndim == 2 else 0)
    union = np.expand_dims(area1, -1) + area2 - intersection
    result = (intersection / (union + np.float32(epsilon()))).astype(np.float32)
    if not use_masking:
        return _out(result)
    perm = [1, 0] if rank1 == 2 else [0, 2, 1]
    mask1 = boxes1.max(axis=-1, keepdims=True) < 0.0
    mask2 = boxes2.max(axis=-1, keepdims=True) < 0.0
    background = np.logical_or(mask1, mask2.transpose(perm))
    return _out(np.where(background, np.float32(mask_val), result))


def compute_ciou(
    boxes1: Any, boxes2: Any, bounding_box_format: str, image_shape: Any = None
) -> HostArray:
    """The Complete IoU of the boxes ``boxes1`` and ``boxes2`` pair by pair (shapes (..., 4)
    that broadcast): their IoU less their centres' squared distance over the enclosing box's
    squared diagonal and an aspect-ratio term. Relative formats are refused, as by Keras."""
    if "rel" in bounding_box_format:
        raise ValueError(
            "When using relative bounding box formats (e.g. `rel_yxyx`) the `image_shape` "
            f"argument must be provided.Received `image_shape`: {image_shape}"
        )
    height, width = _height_width(image_shape)
    boxes1 = np.asarray(convert_format(boxes1, bounding_box_format, "xyxy", height, width))
    boxes2 = np.asarray(convert_format(boxes2, bounding_box_format, "xyxy", height, width))
    eps = np.float32(epsilon())
    x_min1, y_min1, x_max1, y_max1 = _split(boxes1)
    x_min2, y_min2, x_max2, y_max2 = _split(boxes2)
    width_1, height_1 = x_max1 - x_min1, y_max1 - y_min1 + eps
    width_2, height_2 = x_max2 - x_min2, y_max2 - y_min2 + eps
    intersection = np.maximum(np.minimum(x_max1, x_max2) - np.maximum(x_min1, x_min2), 0) * (
        np.maximum(np.minimum(y_max1, y_max2) - np.maximum(y_min1, y_min2), 0)
    )
    union = width_1 * height_1 + width_2 * height_2 - intersection + eps
    iou = (intersection / (union + eps))[..., 0]
    convex_w = np.maximum(x_max1, x_max2) - np.minimum(x_min1, x_min2)
    convex_h = np.maximum(y_max1, y_max2) - np.minimum(y_min1, y_min2)
    diagonal = (convex_w**2 + convex_h**2 + eps)[..., 0]
    centres = (
        ((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
        + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2
    )[..., 0]
    ratio = np.arctan(width_2 / height_2) - np.arctan(width_1 / height_1)
    v = (np.float32(4 / math.pi**2) * ratio**2)[..., 0]
    alpha = v / (v - iou + (1 + eps))
    return _out((iou - (centres / diagonal + v * alpha)).astype(np.float32))
