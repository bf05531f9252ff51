"""``keras.visualization``: images with their bounding boxes or segmentation masks drawn on
them, and matplotlib galleries of them (Keras 3's keras/src/visualization/: names, arguments,
defaults, checks, errors and layouts are theirs). Everything is computed with NumPy on the
host; images are NumPy arrays or Tensors, batched (N, H, W, C), or (N, C, H, W) with
``data_format="channels_first"``.

Where autoconv differs from Keras, and why:

- ``draw_bounding_boxes`` draws without OpenCV, which Keras needs. Its rectangles are OpenCV's
  ``cv2.rectangle`` of the same integer corners and thickness (8-connected lines), as
  OpenCV's drawing.cpp computes them: a thickness of 0 or 1 draws 1-pixel lines; a thickness
  ``t`` of 2 or more draws each side ``(t + 1) // 2`` pixels out from it on both hands (so
  widths 3, 5, 5, 7, 7, ... for 2, 3, 4, 5, 6, ..., as OpenCV does) with OpenCV's filled
  midpoint circle of that radius at each corner (its rounded corners); a negative thickness
  fills the rectangle; everything clipped to the image. Only this axis-aligned case is drawn,
  so pixels are expected to match; that was read from OpenCV's source, not compared with a
  running OpenCV.
- Its labels are drawn with Pillow's default font (Aileron), not OpenCV's Hershey Simplex
  strokes, so their pixels differ: the text starts at OpenCV's origin (its baseline's left
  end), its capitals are ``21 * font_scale`` pixels tall as Hershey Simplex's are, it is not
  antialiased (as ``cv2.putText``'s default line type is not), and a ``text_thickness`` of 2
  or more widens the strokes by ``(text_thickness + 1) // 2`` pixels a side, as it widens
  OpenCV's. With Pillow before 10.1, its one small bitmap font is used at every scale.
- Keras's ``channels_first`` images are transposed once where Keras transposes them twice
  (``plot_image_gallery``) or not at all (``draw_bounding_boxes``, which then fails in
  OpenCV); ``draw_bounding_boxes`` returns them channels-first again.
- ``draw_segmentation_masks`` takes masks (N, H, W) as its docstring says (Keras's code fails
  on them), and values outside ``[0, num_classes)`` are not drawn, as Keras does on JAX and
  TensorFlow (on PyTorch, Keras raises). With ``blend=False`` it returns a float32 NumPy array
  where Keras returns its backend's tensor.
- The galleries call ``plt.show()`` as Keras does and return None; with ``show=False`` the
  figure stays open (``plt.gcf()``).

matplotlib is the optional ``viz`` extra (``pip install "autoconv[viz]"``), imported only by
the ``plot_*`` functions; Pillow (a dependency) draws the labels.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any

import numpy as np

from autoconv.config import image_data_format
from autoconv.layers.bounding_boxes import convert_format, host

__all__ = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]

HERSHEY_CAP_HEIGHT = 21  # pixels at font_scale 1: Hershey Simplex's capitals, baseline to top


def _pyplot(function: str) -> Any:
    """matplotlib's pyplot, with the display backend matplotlib chose (``plt.show()`` works)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        from autoconv.viz import MissingDependencyError

        raise MissingDependencyError(
            f'`{function}` needs matplotlib: pip install "autoconv[viz]"'
        ) from None
    return plt


def _channels_last(images: Any, data_format: str | None) -> tuple[np.ndarray, bool]:
    """A batch of images (N, H, W, C) on the host (NumPy), transposed from (N, C, H, W) where
    ``data_format`` (the config's when None) says channels-first; and whether it did."""
    images = host(images)
    if images.ndim != 4:
        raise ValueError(
            f"`images` must be batched 4D tensor. Received: images.shape={images.shape}"
        )
    channels_first = (data_format or image_data_format()) == "channels_first"
    return (images.transpose(0, 2, 3, 1) if channels_first else images), channels_first


# --------------------------------------------------------------------------- bounding boxes
def draw_bounding_boxes(
    images: Any,
    bounding_boxes: dict[str, Any],
    bounding_box_format: str,
    class_mapping: dict[int, str] | None = None,
    color: Any = (128, 128, 128),
    line_thickness: int = 2,
    text_thickness: int = 1,
    font_scale: float = 1.0,
    data_format: str | None = None,
) -> np.ndarray:
    """``images`` (N, H, W, C) with the boxes of ``bounding_boxes`` drawn on them, as uint8.

    ``bounding_boxes`` is a dict: ``"boxes"`` (N, B, 4) in ``bounding_box_format`` (any
    ``keras.utils.bounding_boxes.convert_format`` takes; corners truncated to integers),
    ``"labels"`` (N, B) class ids (-1: no box) and optionally ``"confidences"`` (N, B). A box
    whose class is in ``class_mapping`` ({id: name}) is labelled with its name (and
    ``"name | 0.87"`` with confidences) above it, or inside it near the image's top. ``color``
    is the boxes' and labels' RGB (saturated to 0..255; images of 1 to 4 channels, as OpenCV);
    ``line_thickness`` is the rectangles' (negative: filled), ``text_thickness`` (0 or None:
    ``line_thickness``) and ``font_scale`` the labels'. Float images at most 1 are scaled by
    255, others clipped to 0..255. Returns a new array of the images' shape; see the module's
    docstring for what differs from Keras's OpenCV drawing.
    """
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    line_thickness, text_thickness = operator.index(line_thickness), operator.index(text_thickness)
    images, channels_first = _channels_last(images, data_format)
    if not isinstance(bounding_boxes, dict):
        raise TypeError(
            "`bounding_boxes` should be a dict. "
            f"Received: bounding_boxes={bounding_boxes} of type {type(bounding_boxes)}"
        )
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError(
            "`bounding_boxes` should be a dict containing 'boxes' and "
            f"'labels' keys. Received: bounding_boxes={bounding_boxes}"
        )
    height, width, channels = images.shape[1:]
    if not 1 <= channels <= 4:
        raise ValueError(
            f"draw_bounding_boxes draws on images of 1 to 4 channels, as OpenCV does; got "
            f"images of {channels}"
        )
    bounding_boxes = convert_format(
        bounding_boxes.copy(), bounding_box_format, "xyxy", height, width
    )
    if images.dtype.kind == "f" and images.size > 0:
        if images.max() <= 1.0:
            images = np.clip(images, 0, 1) * 255
        else:
            images = np.clip(images, 0, 255)
    images = images.astype("uint8")  # a copy, drawn on in place
    boxes = host(bounding_boxes["boxes"])
    labels = host(bounding_boxes["labels"])
    confidences = host(bounding_boxes["confidences"]) if "confidences" in bounding_boxes else None
    pixel = _pixel(color, channels)
    for i, image in enumerate(images):
        for b, box in enumerate(boxes[i]):
            x1, y1, x2, y2 = (int(v) for v in box.astype("int32"))
            c = int(labels[i][b].astype("int32"))
            if c == -1:
                continue
            _rectangle(image, (x1, y1), (x2, y2), pixel, line_thickness)
            if c in class_mapping:
                label = class_mapping[c]
                if confidences is not None:
                    label = f"{label} | {confidences[i][b]:.2f}"
                origin = _text_location(x1, y1, font_scale, text_thickness)
                _put_text(image, label, origin, font_scale, pixel, text_thickness)
    return images.transpose(0, 3, 1, 2) if channels_first else images


def _text_location(x: int, y: int, font_scale: float, thickness: int) -> tuple[int, int]:
    """Keras's text origin: above the box, or inside it when too near the image's top."""
    font_height = int(font_scale * 12)
    if y - 8 - 2 * font_height > 0:
        return x, y - 8
    return x + 3, y + 2 * font_height + thickness + 3


def _pixel(color: Any, channels: int) -> np.ndarray:
    """``color`` as OpenCV writes it into a uint8 pixel of ``channels``: its first values,
    rounded half to even and saturated to 0..255, missing ones 0."""
    values = np.atleast_1d(np.asarray(color, dtype=np.float64))
    if values.ndim != 1 or values.size > 4:
        raise ValueError(f"`color` must be 1 to 4 numbers, got {color!r}")
    scalar = np.zeros(4)
    scalar[: values.size] = values
    return np.clip(np.rint(scalar[:channels]), 0, 255).astype(np.uint8)


def _paint(image: np.ndarray, top: int, bottom: int, left: int, right: int, pixel: Any) -> None:
    """Rows top..bottom and columns left..right (inclusive) of ``image`` set to ``pixel``,
    what of them lies in the image."""
    height, width = image.shape[:2]
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, height - 1), min(right, width - 1)
    if top <= bottom and left <= right:
        image[top : bottom + 1, left : right + 1] = pixel


@functools.lru_cache(maxsize=32)
def _disc(radius: int) -> tuple[tuple[int, int], ...]:
    """OpenCV's filled circle (drawing.cpp's ``Circle``, a midpoint circle) as (dy, dx): it
    covers rows ``cy - dy`` and ``cy + dy`` from ``cx - dx`` to ``cx + dx``."""
    spans = []
    err, dx, dy, plus, minus = 0, radius, 0, 1, 2 * radius - 1
    while dx >= dy:
        spans += [(dy, dx), (dx, dy)]
        dy += 1
        err += plus
        plus += 2
        if err > 0:
            err -= minus
            dx -= 1
            minus -= 2
    return tuple(spans)


def _rectangle(
    image: np.ndarray, pt1: tuple[int, int], pt2: tuple[int, int], pixel: Any, thickness: int
) -> None:
    """``cv2.rectangle(image, pt1, pt2, pixel, thickness)`` with its default 8-connected lines,
    in place on one image (H, W, C); see the module's docstring."""
    (x1, y1), (x2, y2) = pt1, pt2
    if thickness < 0:
        _paint(image, min(y1, y2), max(y1, y2), min(x1, x2), max(x1, x2), pixel)
        return
    half = (thickness + 1) // 2 if thickness > 1 else 0
    # Each side a band `half` pixels out from it across its direction, not along it.
    _paint(image, y1 - half, y1 + half, min(x1, x2), max(x1, x2), pixel)
    _paint(image, y2 - half, y2 + half, min(x1, x2), max(x1, x2), pixel)
    _paint(image, min(y1, y2), max(y1, y2), x1 - half, x1 + half, pixel)
    _paint(image, min(y1, y2), max(y1, y2), x2 - half, x2 + half, pixel)
    if half:  # a thick line's round caps, at each corner
        for cx, cy in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)):
            for dy, dx in _disc(half):
                _paint(image, cy - dy, cy - dy, cx - dx, cx + dx, pixel)
                _paint(image, cy + dy, cy + dy, cx - dx, cx + dx, pixel)


@functools.lru_cache(maxsize=16)
def _font(font_scale: float) -> Any:
    """Pillow's default font, sized so that its capitals are as tall as Hershey Simplex's at
    ``font_scale``; its one bitmap font before Pillow 10.1."""
    from PIL import ImageFont

    try:
        probe = ImageFont.load_default(100)
    except TypeError:  # Pillow before 10.1
        return ImageFont.load_default()
    if not isinstance(probe, ImageFont.FreeTypeFont):  # Pillow without FreeType
        return probe
    cap = -probe.getbbox("H", anchor="ls")[1]
    return ImageFont.load_default(max(1, round(HERSHEY_CAP_HEIGHT * font_scale * 100 / cap)))


def _put_text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    font_scale: float,
    pixel: Any,
    thickness: int,
) -> None:
    """``text`` written in place on one image (H, W, C) from ``origin``, the left end of its
    baseline, as ``cv2.putText`` places it; see the module's docstring."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = image.shape[:2]
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"  # no antialiasing, as cv2.putText's LINE_8
    font = _font(font_scale)
    stroke = (thickness + 1) // 2 if thickness > 1 else 0
    if isinstance(font, ImageFont.FreeTypeFont):
        draw.text(
            origin, text, fill=255, font=font, anchor="ls", stroke_width=stroke, stroke_fill=255
        )
    else:  # a bitmap font has no anchors: its box's bottom on the baseline
        bottom = font.getbbox(text)[3]
        draw.text((origin[0], origin[1] - bottom), text, fill=255, font=font)
    image[np.asarray(canvas) >= 128] = pixel


# ---------------------------------------------------------------------- segmentation masks
def draw_segmentation_masks(
    images: Any,
    segmentation_masks: Any,
    num_classes: int | None = None,
    color_mapping: dict[int, Any] | None = None,
    alpha: float = 0.8,
    blend: bool = True,
    ignore_index: int = -1,
    data_format: str | None = None,
) -> np.ndarray:
    """``images`` (N, H, W, C) with each pixel of class ``k`` of ``segmentation_masks``
    (integers, (N, H, W) or (N, H, W, 1)) painted in ``color_mapping[k]`` for ``k`` in
    ``0..num_classes - 1`` (default: the masks' largest value, as Keras, so that class is not
    painted; pass ``num_classes`` to paint every class), Keras's palette without a mapping.

    ``blend``: ``image * (1 - alpha) + painted * alpha`` in float32, the image kept where the
    mask is ``ignore_index``, as uint8; without it the painted images as float32. Channels-first
    inputs come back channels-last, as Keras's do.
    """
    images, channels_first = _channels_last(images, data_format)
    masks = host(segmentation_masks)
    if channels_first and masks.ndim == 4:
        masks = masks.transpose(0, 2, 3, 1)
    images = images.astype(np.float32)
    if masks.dtype.kind not in "iu":
        raise TypeError(
            "`segmentation_masks` must be in integer dtype. "
            f"Received: segmentation_masks.dtype={masks.dtype.name}"
        )
    if masks.ndim == 3:
        masks = masks[..., None]
    if masks.ndim != 4 or masks.shape[-1] != 1 or masks.shape[:3] != images.shape[:3]:
        raise ValueError(
            "`segmentation_masks` must be (batch_size, height, width) or (batch_size, height, "
            f"width, 1) for images {images.shape}. Received: segmentation_masks.shape="
            f"{host(segmentation_masks).shape}"
        )
    if num_classes is None:
        num_classes = int(masks.max())
    if color_mapping is None:
        colors = _color_palette(num_classes)
    else:
        colors = [color_mapping[i] for i in range(num_classes)]
    classes = masks[..., 0]
    painted = images.copy()
    for k, color in enumerate(colors):
        painted[classes == k] = np.array(color, dtype=painted.dtype)
    if not blend:
        return painted
    blended = images * (1 - alpha) + painted * alpha
    blended = np.where((classes != ignore_index)[..., None], blended, images)
    return blended.astype(np.uint8)


def _color_palette(num_classes: int) -> list[list[int]]:
    """Keras's default colours of classes 0..num_classes - 1."""
    palette = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])
    return [((i * palette) % 255).tolist() for i in range(num_classes)]


# --------------------------------------------------------------------------------- galleries
def plot_image_gallery(
    images: Any,
    y_true: Any = None,
    y_pred: Any = None,
    label_map: dict[Any, str] | None = None,
    rows: int | None = None,
    cols: int | None = None,
    value_range: tuple[float, float] = (0, 255),
    scale: float = 2,
    path: str | None = None,
    show: bool | None = None,
    transparent: bool = True,
    dpi: float = 60,
    legend_handles: list[Any] | None = None,
    data_format: str | None = None,
) -> None:
    """The first ``rows * cols`` of ``images`` (N, H, W, C) in a matplotlib grid of
    ``scale``-inch cells (default ``rows``: ceil(sqrt(N)), ``cols``: N // rows), titled
    ``"Label: name  Pred: name"`` from ``y_true`` and ``y_pred`` (N,) through ``label_map``.

    Pixels are mapped from ``value_range`` to 0..255 (in float32) and shown as uint8. With
    ``path`` the figure is saved there (``dpi``, ``transparent``) and closed; else with
    ``show`` (default: no ``path``) ``plt.show()`` displays it; else it stays open.
    """
    plt = _pyplot("plot_image_gallery")
    if path is not None and show:
        raise ValueError("plot_gallery() expects either `path` to be set, or `show` to be true.")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError(
            "If `y_true` or `y_pred` are provided, a `label_map` must also be provided."
        )
    show = show if show is not None else path is None
    data_format = data_format or image_data_format()
    images = host(images)
    batch_size = images.shape[0] if images.ndim == 4 else 1
    rows = rows or math.ceil(math.sqrt(batch_size))
    cols = cols or batch_size // rows  # Keras's: ceil of a floor division
    if images.ndim != 4:
        raise ValueError(
            "`plot_images_gallery()` requires you to batch your `np.array` samples together."
        )
    images = images[: min(rows * cols, batch_size)]
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    fig, axes = plt.subplots(
        nrows=rows,
        ncols=cols,
        figsize=(cols * scale, rows * scale),
        frameon=False,
        layout="tight",
        squeeze=True,
        sharex="row",
        sharey="col",
    )
    fig.subplots_adjust(wspace=0, hspace=0)
    if isinstance(axes, np.ndarray) and axes.ndim == 1:
        axes = np.expand_dims(axes, 0 if rows == 1 else -1)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    images = _transform_value_range(images, value_range, (0, 255))
    y_true = None if y_true is None else host(y_true)
    y_pred = None if y_pred is None else host(y_pred)
    for row in range(rows):
        for col in range(cols):
            index = row * cols + col
            axis = axes[row, col] if isinstance(axes, np.ndarray) else axes
            axis.imshow(images[index].astype("uint8"))
            axis.margins(x=0, y=0)
            axis.axis("off")
            title = []
            if y_true is not None and index < len(y_true):
                title.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
            if y_pred is not None and index < len(y_pred):
                title.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
            if title:
                axis.set_title("  ".join(title), fontsize=8)
    if path is not None:
        fig.savefig(path, pad_inches=0, bbox_inches="tight", transparent=transparent, dpi=dpi)
        plt.close(fig)
    elif show:
        plt.show()
        plt.close(fig)


def _transform_value_range(
    images: np.ndarray, original_range: Any, target_range: Any
) -> np.ndarray:
    """Keras's ``_transform_value_range``: ``images`` mapped linearly from one range to the
    other in float32; unchanged (any dtype) when the ranges are equal."""
    if original_range[0] == target_range[0] and original_range[1] == target_range[1]:
        return images
    low, high = np.float32(original_range[0]), np.float32(original_range[1])
    target_low, target_high = np.float32(target_range[0]), np.float32(target_range[1])
    images = (images.astype(np.float32) - low) / (high - low)
    return images * (target_high - target_low) + target_low


def plot_bounding_box_gallery(
    images: Any,
    bounding_box_format: str,
    y_true: dict[str, Any] | None = None,
    y_pred: dict[str, Any] | None = None,
    value_range: tuple[float, float] = (0, 255),
    true_color: Any = (0, 188, 212),
    pred_color: Any = (255, 235, 59),
    line_thickness: int = 2,
    font_scale: float = 1.0,
    text_thickness: int | None = None,
    class_mapping: dict[int, str] | None = None,
    ground_truth_mapping: dict[int, str] | None = None,
    prediction_mapping: dict[int, str] | None = None,
    legend: bool = False,
    legend_handles: list[Any] | None = None,
    rows: int | None = None,
    cols: int | None = None,
    data_format: str | None = None,
    **kwargs: Any,
) -> None:
    """``plot_image_gallery`` of ``images`` (N, H, W, C) with the boxes of ``y_true`` drawn in
    ``true_color`` and those of ``y_pred`` in ``pred_color`` (dicts as
    ``draw_bounding_boxes`` takes, labelled through ``ground_truth_mapping`` and
    ``prediction_mapping``, or else ``class_mapping``). ``legend`` adds a legend of the two
    colours (or pass matplotlib ``legend_handles``, not both); ``kwargs`` go to
    ``plot_image_gallery``.
    """
    _pyplot("plot_bounding_box_gallery")
    from matplotlib import patches

    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    images, _ = _channels_last(images, data_format)
    draw = functools.partial(
        draw_bounding_boxes,
        bounding_box_format=bounding_box_format,
        line_thickness=line_thickness,
        text_thickness=text_thickness,
        font_scale=font_scale,
        data_format="channels_last",
    )
    if y_true is not None:
        images = draw(images, y_true, color=true_color, class_mapping=ground_truth_mapping)
    if y_pred is not None:
        images = draw(images, y_pred, color=pred_color, class_mapping=prediction_mapping)
    if legend:
        if legend_handles:
            raise ValueError(
                "Only pass `legend` OR `legend_handles` to "
                "`keras.visualization.plot_bounding_box_gallery()`."
            )
        legend_handles = [
            patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
            patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction"),
        ]
    return plot_image_gallery(
        images,
        value_range=value_range,
        legend_handles=legend_handles,
        rows=rows,
        cols=cols,
        data_format="channels_last",
        **kwargs,
    )


def plot_segmentation_mask_gallery(
    images: Any,
    num_classes: int,
    value_range: tuple[float, float] = (0, 255),
    y_true: Any = None,
    y_pred: Any = None,
    color_mapping: dict[int, Any] | None = None,
    blend: bool = True,
    alpha: float = 0.8,
    ignore_index: int = -1,
    data_format: str | None = None,
    **kwargs: Any,
) -> None:
    """``plot_image_gallery`` of a row per image of ``images`` (N, H, W, C): the image, then
    it with the masks ``y_true``, then with ``y_pred`` (each (N, H, W) or (N, H, W, 1), cast
    to int32) drawn by ``draw_segmentation_masks``; ``kwargs`` go to ``plot_image_gallery``.
    """
    images, channels_first = _channels_last(images, data_format)
    draw = functools.partial(
        draw_segmentation_masks,
        num_classes=num_classes,
        color_mapping=color_mapping,
        alpha=alpha,
        ignore_index=ignore_index,
        blend=blend,
        data_format="channels_last",
    )
    columns = [images]
    for masks in (y_true, y_pred):
        if masks is not None:
            masks = host(masks)
            if channels_first and masks.ndim == 4:
                masks = masks.transpose(0, 2, 3, 1)
            columns.append(draw(images, masks.astype(np.int32)))
    # (N * columns, H, W, C): each image followed by its drawn masks
    gallery = np.stack([column[i] for i in range(len(images)) for column in columns])
    return plot_image_gallery(
        gallery,
        value_range=value_range,
        rows=len(images),
        cols=len(columns),
        data_format="channels_last",
        **kwargs,
    )
