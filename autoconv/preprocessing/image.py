"""Image files and arrays, as ``keras.utils`` / ``keras.preprocessing.image`` handle them.

``load_img`` reads a file into a Pillow image, ``img_to_array`` turns it into a float32
(height, width, channels) array, ``array_to_img`` and ``save_img`` go back. Semantics and
defaults follow Keras 3 (``keras/src/utils/image_utils.py``): ``load_img`` resizes with
Pillow's own filters (default ``"nearest"``), unlike ``image_dataset_from_directory``.

>>> import numpy as np
>>> img = array_to_img(np.zeros((2, 3, 1)), scale=False)
>>> img.mode, img.size, img_to_array(img).shape
('L', (3, 2), (2, 3, 1))
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from typing import Any

import numpy as np
from PIL import Image

from autoconv.data.resize import smart_resize as _smart_resize
from autoconv.ops.convert import standardize_data_format

PIL_INTERPOLATION_METHODS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}


def array_to_img(
    x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None
) -> Image.Image:
    """A 3-D array (h, w, c) as a Pillow image: c = 1 gives "L" (or "I" above 255), 3 "RGB",
    4 "RGBA". ``scale`` first maps the array's min..max to 0..255; values are truncated to
    uint8, as Keras does."""
    data_format = standardize_data_format(data_format)
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(
            f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}"
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:  # a 32-bit integer grayscale image
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A Pillow image as a float32 array (h, w, c); a grayscale image gets c = 1."""
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        shape = (1, *x.shape) if data_format == "channels_first" else (*x.shape, 1)
        x = x.reshape(shape)
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def save_img(
    path: Any,
    x: Any,
    data_format: str | None = None,
    file_format: str | None = None,
    scale: bool = True,
    **kwargs: Any,
) -> None:
    """Save an array (h, w, c) as an image file; the format comes from the file name unless
    ``file_format`` is given. An RGBA image saved as JPEG is converted to RGB, with a
    warning. ``kwargs`` go to Pillow's ``Image.save``."""
    data_format = standardize_data_format(data_format)
    if file_format is not None and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    suffix = os.path.splitext(os.fsdecode(path))[1].lower() if _is_path(path) else ""
    jpeg = file_format == "jpeg" or (file_format is None and suffix in (".jpg", ".jpeg"))
    if img.mode == "RGBA" and jpeg:
        warnings.warn(
            "The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(
    path: Any,
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
) -> Image.Image:
    """Read an image file (path or ``io.BytesIO``) into a Pillow image.

    ``color_mode``: "grayscale" (8-, 16- or 32-bit grayscale kept, anything else made "L"),
    "rgb" or "rgba". ``target_size`` = (height, width) resizes with Pillow's
    ``interpolation`` filter ("nearest", "bilinear", "bicubic", "hamming", "box",
    "lanczos"); ``keep_aspect_ratio`` first crops the largest centred window with the
    target's aspect ratio.
    """
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, pathlib.Path | bytes | str):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")

    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            if interpolation not in PIL_INTERPOLATION_METHODS:
                raise ValueError(
                    f"Invalid interpolation method {interpolation} specified. Supported "
                    f"methods are {', '.join(PIL_INTERPOLATION_METHODS)}"
                )
            resample = PIL_INTERPOLATION_METHODS[interpolation]
            if keep_aspect_ratio:
                width, height = img.size
                target_width, target_height = width_height
                crop_height = min(height, (width * target_height) // target_width)
                crop_width = min(width, (height * target_width) // target_height)
                top = (height - crop_height) // 2
                left = (width - crop_width) // 2
                box = (left, top, left + crop_width, top + crop_height)
                img = img.resize(width_height, resample, box=box)
            else:
                img = img.resize(width_height, resample)
    return img


def smart_resize(
    x: Any,
    size: tuple[int, int],
    interpolation: str = "bilinear",
    data_format: str = "channels_last",
) -> np.ndarray:
    """Resize an image (h, w, c) or a batch (n, h, w, c) to ``size`` without distorting it:
    the largest centred crop with the target's aspect ratio, then resized (float32)."""
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            "Expected an image array with shape `(height, width, channels)`, or "
            "`(batch_size, height, width, channels)`, but got input with incorrect rank, "
            f"of shape {x.shape}."
        )
    channels_first = standardize_data_format(data_format) == "channels_first"
    images = x if x.ndim == 4 else x[None]
    if channels_first:
        images = images.transpose(0, 2, 3, 1)
    out = np.stack([_smart_resize(image, tuple(size), interpolation) for image in images])
    if channels_first:
        out = out.transpose(0, 3, 1, 2)
    return out if x.ndim == 4 else out[0]


def _is_path(path: Any) -> bool:
    return isinstance(path, str | bytes | os.PathLike)
