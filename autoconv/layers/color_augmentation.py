"""The color augmentation layers: RandomGrayscale, RandomInvert, Solarization,
RandomPosterization, AutoContrast, RandomColorDegeneration, RandomSaturation, RandomHue,
RandomSharpness, RandomColorJitter and Equalization. Arguments, defaults, order, configs and
numbers are Keras 3's (keras/src/layers/preprocessing/image_preprocessing/).

Images are channels-last: a batch (N, H, W, C) or one image (H, W, C), with values in
``value_range``. They follow :mod:`autoconv.layers.augmentation`'s contract
(:class:`~autoconv.layers.augmentation.RandomImageLayer`): ``random_transformation(shape, rng)``
makes Keras's draws (in its structure: a dict, or RandomGrayscale's bare mask), and
``transform_images(images, transformation)`` applies them; what is drawn reaches the device
through ``per_step``. The image math is autoconv's differentiable ops, so it runs on either
device; tests of the values against the draws (a pixel above a threshold, a constant channel)
are 0/1 masks computed on the images' device. Posterization and Equalization read integers
from the values, as Keras does (a cast to an integer type): they pass no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomImageLayer,
    checked_range,
    drawn,
    is_number,
    per_step,
)
from autoconv.layers.image_data import call_on_data
from autoconv.layers.layer import Shape
from autoconv.layers.preprocessing import F32, factor_bounds, image_batch
from autoconv.ops import engine as ops
from autoconv.ops import image as image_ops
from autoconv.ops.convert import tensor
from autoconv.ops.masks import choose, mask, truncated
from autoconv.seeds import generator
from autoconv.tensor import Tensor

EPSILON = F32(1e-7)  # keras.config.epsilon(), RandomSaturation's


# ----------------------------------------------------------------------------- helpers
def _floats(value_range: Sequence[Any]) -> tuple[float, float]:
    return float(value_range[0]), float(value_range[1])


def rescale(images: Tensor, source: Sequence[Any], target: Sequence[Any]) -> Tensor:
    """Keras's ``_transform_value_range``: values moved linearly from the range ``source``
    to ``target`` (unchanged when the two are the same)."""
    (source_low, source_high), (target_low, target_high) = _floats(source), _floats(target)
    if (source_low, source_high) == (target_low, target_high):
        return images
    unit = (images - source_low) / (source_high - source_low)
    return unit * (target_high - target_low) + target_low


def per_image(transformation: Any, key: str | None, like: Tensor) -> Tensor:
    """One drawn value per image (``transformation[key]``, or the draws themselves when
    ``key`` is None) as an (N, 1, 1, 1) tensor, drawn anew at each step."""

    def compute() -> np.ndarray:
        values = drawn(transformation)
        return np.asarray(values if key is None else values[key]).reshape(-1, 1, 1, 1)

    return per_step(compute, like)


def _unit_factor(factor: Any, name: str) -> tuple[float, float]:
    """Solarization's ``_set_factor``: a number f in [0, 1] gives (0, f), a pair within [0, 1]
    is sorted."""
    values = list(factor) if isinstance(factor, tuple | list) else [0, factor]
    if len(values) != 2 or not all(is_number(v) and 0 <= v <= 1 for v in values):
        raise ValueError(
            "The `addition_factor` and `threshold_factor` arguments should be a number (or a "
            f"list of two numbers) in the range [0, 1]. Received: {name}={factor}"
        )
    lower, upper = sorted(values)
    return lower, upper


class ColorLayer(RandomImageLayer):
    """A color augmentation with Keras's ``seed`` and ``data_format`` keys in its config."""

    KEEPS_BOXES = True

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"data_format": self.data_format, "seed": self.seed}


def seed_last(config: dict[str, Any]) -> dict[str, Any]:
    """A color layer's config with ``seed`` moved after its own keys, as Keras writes it."""
    config["seed"] = config.pop("seed")
    return config


# ----------------------------------------------------------------------------- layers
class FactorLayer(ColorLayer):
    """A color augmentation of Keras's arguments ``(factor, value_range=(0, 255),
    data_format=None, seed=None)``: ``factor`` a number or pair within ``factor_limits`` (a
    number f gives (-f, f) where the limits reach below 0, else (0, f)), ``value_range`` kept
    sorted unless ``sorted_range`` is False, both in its config."""

    factor_limits: tuple[float, float]
    sorted_range = True

    def __init__(
        self,
        factor: Any,
        value_range: Sequence[float] = (0, 255),
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = factor_bounds(factor, self.factor_limits)
        self.value_range = checked_range(value_range, sort=self.sorted_range)

    def get_config(self) -> dict[str, Any]:
        return seed_last(
            super().get_config() | {"factor": self.factor, "value_range": self.value_range}
        )


class RandomGrayscale(ColorLayer):
    """Each image, with probability ``factor``, replaced by its grayscale (0.2989 R + 0.587 G +
    0.114 B) in every channel. One-channel images are their own grayscale."""

    def __init__(
        self,
        factor: float = 0.5,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        if not is_number(factor) or factor < 0 or factor > 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor}")
        self.factor = factor

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's ``should_apply``: a bool (N, 1, 1, 1)."""
        return (rng.uniform(size=shape[0]).astype(F32) < self.factor).reshape(-1, 1, 1, 1)

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        gray = image_ops.rgb_to_grayscale(images, "channels_last")
        return choose(per_image(transformation, None, images), gray, images)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {"factor": self.factor}
        del config["seed"]  # Keras's RandomGrayscale does not write it
        return config


class RandomInvert(ColorLayer):
    """Each image inverted (``value_range[1] - x``) with a probability drawn uniformly from
    ``factor`` (a float f gives (0, f), within [0, 1])."""

    def __init__(
        self,
        factor: Any = 1.0,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = factor_bounds(factor, (0, 1))
        self.value_range = checked_range(value_range, sort=False)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        probability = rng.uniform(*self.factor, shape[0]).astype(F32)
        threshold = rng.uniform(0.0, 1.0, shape[0]).astype(F32)
        return {"apply_inversion": threshold < probability}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        invert = per_image(transformation, "apply_inversion", images)
        return choose(invert, float(self.value_range[1]) - images, images)

    def get_config(self) -> dict[str, Any]:
        return seed_last(
            super().get_config() | {"factor": self.factor, "value_range": self.value_range}
        )


class Solarization(ColorLayer):
    """In the scale (0, 255): ``addition`` added and clipped to it, then every value at or
    above ``threshold`` replaced by 255 - value. Both are drawn per image, uniformly from
    [lower, upper * 255] of ``addition_factor`` and ``threshold_factor`` (a float f gives
    (0, f), within [0, 1]; the lower bound is not scaled by 255, as in Keras)."""

    def __init__(
        self,
        addition_factor: Any = 0.0,
        threshold_factor: Any = 0.0,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, kwargs.pop("data_format", None), **kwargs)
        self.addition_factor = _unit_factor(addition_factor, "addition_factor")
        self.threshold_factor = _unit_factor(threshold_factor, "threshold_factor")
        self.value_range = checked_range(value_range)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        n = shape[0]
        (a_low, a_high), (t_low, t_high) = self.addition_factor, self.threshold_factor
        additions = rng.uniform(a_low, a_high * 255, n).astype(F32).reshape(-1, 1, 1, 1)
        thresholds = rng.uniform(t_low, t_high * 255, n).astype(F32).reshape(-1, 1, 1, 1)
        return {"additions": additions, "thresholds": thresholds}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        additions = per_image(transformation, "additions", images)
        thresholds = per_image(transformation, "thresholds", images)
        results = ops.clip(rescale(images, self.value_range, (0, 255)) + additions, 0.0, 255.0)
        below = mask(results.data < thresholds.data, results)
        return rescale(choose(below, results, 255.0 - results), (0, 255), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return seed_last(
            super().get_config()
            | {
                "value_range": self.value_range,
                "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor,
            }
        )


class RandomPosterization(ColorLayer):
    """Keeps ``bits`` of each 8-bit value (in the scale (0, 255), truncated to an integer):
    ``bits`` an integer drawn per image from [1, factor) (``factor`` an int in [1, 8]; a pair
    (lower, upper) draws from [lower, upper), a pair of equal values is that many bits)."""

    MAX_FACTOR = 8

    def __init__(
        self,
        factor: Any,
        value_range: Sequence[float] = (0, 255),
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        lower, upper = factor_bounds(factor, (1, self.MAX_FACTOR))
        if lower != int(lower) or upper != int(upper):
            raise ValueError(
                f"RandomPosterization: `factor` should be whole numbers of bits. Received: "
                f"factor={factor}"
            )
        self.factor = (int(lower), int(upper))
        self.value_range = checked_range(value_range)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        lower, upper = self.factor
        bits = rng.integers(lower, upper, shape[0]) if lower != upper else np.full(shape[0], lower)
        return {"shift_factor": (self.MAX_FACTOR - bits).astype(np.uint8)}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        def steps() -> np.ndarray:
            shifts = np.asarray(drawn(transformation)["shift_factor"], np.int64)
            return (2.0 ** shifts.reshape(-1, 1, 1, 1)).astype(F32)

        step = per_step(steps, images)  # 2 ** shift: x >> shift << shift = trunc(x / step) * step
        values = truncated(rescale(images, self.value_range, (0, 255)))
        return rescale(truncated(values / step) * step, (0, 255), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return seed_last(
            super().get_config() | {"factor": self.factor, "value_range": self.value_range}
        )


class UnrandomLayer(RandomImageLayer):
    """A layer of the family that draws nothing (Keras's ``get_random_transformation`` gives
    None) and has no seed."""

    KEEPS_BOXES = True

    def __init__(self, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(None, data_format, **kwargs)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        return None


class AutoContrast(UnrandomLayer):
    """Each channel of each image stretched linearly so that its lowest value is the low end
    of ``value_range`` and its highest the high end; a constant channel is left as it is. Not
    random, and applied in inference too, as Keras's."""

    def __init__(self, value_range: Sequence[float] = (0, 255), **kwargs: Any) -> None:
        super().__init__(kwargs.pop("data_format", None), **kwargs)
        self.value_range = checked_range(value_range)

    def call(self, inputs: Any, training: bool = True) -> Any:
        if isinstance(inputs, dict):
            return call_on_data(self, inputs, None, lambda x: self.transform_images(x, None))
        images, single = image_batch(self, inputs)
        out = self.transform_images(images, None)
        return ops.reshape(out, out.shape[1:]) if single else out

    def transform_images(self, images: Tensor, transformation: Any = None) -> Tensor:
        scaled = rescale(images, self.value_range, (0, 255))
        high = ops.max(scaled, axis=(1, 2), keepdims=True)
        low = -ops.max(-scaled, axis=(1, 2), keepdims=True)
        constant = mask(high.data == low.data, high)  # Keras's 255 / 0 gives NaN: the input
        scale = 255.0 / (high - low + constant)
        results = ops.clip(scaled * scale - low * scale, 0.0, 255.0)
        return choose(constant, images, rescale(results, (0, 255), self.value_range))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "value_range": self.value_range,
        }


class RandomColorDegeneration(FactorLayer):
    """Each RGB image blended towards its grayscale: ``x + f * (gray - x)`` with f drawn
    uniformly from ``factor`` (a float f gives (-f, f), within [-1, 1]), clipped to
    ``value_range``."""

    factor_limits = (-1, 1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) not in (3, 4):
            raise ValueError(
                "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                f"images). Received: input_shape={input_shape}"
            )
        if input_shape[-1] is not None and input_shape[-1] != 3:
            raise ValueError(
                "Input images must have 3 channels, but received images with "
                f"{input_shape[-1]} channels."
            )
        return input_shape

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        return {"factor": rng.uniform(*self.factor, shape[0]).astype(F32).reshape(-1, 1, 1, 1)}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        self.compute_output_shape(images.shape)
        factor = per_image(transformation, "factor", images)
        gray = image_ops.rgb_to_grayscale(images, "channels_last")
        return ops.clip(images + factor * (gray - images), *_floats(self.value_range))


def _with_hsv_plane(images: Tensor, plane: int, change: Any) -> Tensor:
    """RGB ``images`` through HSV with ``change(p)`` applied to HSV plane ``plane``."""
    hsv = image_ops.rgb_to_hsv(images, "channels_last")
    planes = [hsv[..., c : c + 1] for c in range(3)]
    planes[plane] = change(planes[plane])
    return image_ops.hsv_to_rgb(ops.concatenate(planes, axis=-1), "channels_last")


class RandomSaturation(FactorLayer):
    """Each RGB image's saturation multiplied by f / (1 - f + 1e-7), f drawn uniformly from
    ``factor`` (a float f gives (-f, f), within [-1, 1]: 0.5 keeps it, 0 makes gray, 1 the
    most saturated), and clipped to ``value_range`` (Keras's clip, though saturation is in
    [0, 1])."""

    factor_limits = (-1, 1)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        factor = rng.uniform(*self.factor, shape[0]).astype(F32)
        return {"factor": factor / (F32(1) - factor + EPSILON)}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        factor = per_image(transformation, "factor", images)
        low, high = _floats(self.value_range)
        return _with_hsv_plane(images, 1, lambda s: ops.clip(s * factor, low, high))


class RandomHue(FactorLayer):
    """Each RGB image's hue turned by ±f / 2 of a full turn, f drawn uniformly from ``factor``
    (a float f gives (0, f), within [0, 1]) and the sign by a fair coin; computed in the scale
    (0, 1) of ``value_range`` and clipped to it."""

    factor_limits = (0, 1)
    sorted_range = False

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        n = shape[0]
        sign = np.where(rng.uniform(size=n).astype(F32) > 0.5, F32(-1), F32(1))
        factor = rng.uniform(*self.factor, n).astype(F32)
        return {"factor": sign * factor * F32(0.5)}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        factor = per_image(transformation, "factor", images)

        def turn(hue: Tensor) -> Tensor:
            hue = hue + factor
            hue = choose(mask(hue.data > 1.0, hue), hue - 1.0, hue)
            return choose(mask(hue.data < 0.0, hue), hue + 1.0, hue)

        rgb = _with_hsv_plane(rescale(images, self.value_range, (0, 1)), 0, turn)
        return rescale(ops.clip(rgb, 0.0, 1.0), (0, 1), self.value_range)


SMOOTHING = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


class RandomSharpness(FactorLayer):
    """Each image moved away from (or towards) its smoothed self: ``x + (1 - 2f) * (smooth -
    x)``, f drawn uniformly from ``factor`` (a float f gives (0, f), within [0, 1]; 0.5 keeps
    the image), smooth the 3x3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 per channel with
    zeros around; clipped to ``value_range``."""

    factor_limits = (0, 1)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        return {"factor": rng.uniform(*self.factor, shape[0]).astype(F32)}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        sharpness = per_image(transformation, "factor", images) * 2.0
        channels = images.shape[-1]
        kernel = tensor(np.repeat(SMOOTHING[:, :, None, None], channels, axis=2), like=images)
        smoothed = ops.depthwise_conv2d(images, kernel, padding="same")
        out = images + (1.0 - sharpness) * (smoothed - images)
        return ops.clip(out, *_floats(self.value_range))


class RandomColorJitter(ColorLayer):
    """RandomBrightness, RandomContrast, RandomSaturation and RandomHue in turn, each made
    with its factor (those given; None leaves it out) and ``value_range``; each draws from
    this layer's generator (its ``seed``), in that order."""

    def __init__(
        self,
        value_range: Sequence[float] = (0, 255),
        brightness_factor: Any = None,
        contrast_factor: Any = None,
        saturation_factor: Any = None,
        hue_factor: Any = None,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.value_range = checked_range(value_range, sort=False)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        kinds = {
            "brightness": (RandomBrightness, brightness_factor),
            "contrast": (RandomContrast, contrast_factor),
            "saturation": (RandomSaturation, saturation_factor),
            "hue": (RandomHue, hue_factor),
        }
        self.jitters = {
            key: kind(factor=factor, value_range=value_range)
            for key, (kind, factor) in kinds.items()
            if factor is not None
        }

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Each jitter's draws, by its key ('brightness', 'contrast', 'saturation', 'hue')."""
        return {key: layer.random_transformation(shape, rng) for key, layer in self.jitters.items()}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """The jitters in turn; ``call``'s (a function) has each draw its own at each step."""
        shape, rng = images.shape, self._generator or generator()
        for key, layer in self.jitters.items():
            draws = transformation[key] if not callable(transformation) else (
                lambda layer=layer: layer.random_transformation(shape, rng)
            )  # fmt: skip
            images = layer.transform_images(images, draws)
        return images

    def get_config(self) -> dict[str, Any]:
        return seed_last(
            super().get_config()
            | {
                "value_range": self.value_range,
                "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor,
            }
        )


def _scale_values(values: Tensor, source: Sequence[Any], target: Sequence[Any]) -> Tensor:
    """Equalization's ``_scale_values``: values * scale + offset taking ``source`` to
    ``target``."""
    (source_low, source_high), (target_low, target_high) = _floats(source), _floats(target)
    scale = (target_high - target_low) / (source_high - source_low)
    return values * scale + (target_low - source_low * scale)


def one_hot_rows(indices: Tensor, bins: int) -> Tensor:
    """One-hot rows (M, bins) of the whole-number values of ``indices``, a constant."""
    flat = ops.reshape(indices, (-1,)).data
    return Tensor(backend(indices).one_hot(flat, bins, indices.dtype), device=indices.device)


def _round_half_to_even(x: Tensor) -> Tensor:
    """Non-negative x rounded to the nearest integer, ties to even (a constant)."""
    up = truncated(x + 0.5)
    odd = up - truncated(up * 0.5) * 2.0
    tie = mask((up - x).data == 0.5, x)
    return up - tie * odd


class Equalization(UnrandomLayer):
    """Histogram equalization of each channel, in training: the values (in the scale (0, 255))
    mapped through the cumulative histogram of ``bins`` bins of that channel over the whole
    batch (as Keras computes it), stretched to (0, 255); a channel whose values all fall in
    one bin is left as it is. The histogram is counted on the images' device (a one-hot row
    per value, so N * H * W * bins numbers a channel)."""

    def __init__(
        self,
        value_range: Sequence[float] = (0, 255),
        bins: int = 256,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
            raise ValueError(f"Equalization: `bins` should be an int of 2 or more. Received: "
                             f"bins={bins!r}")  # fmt: skip
        self.bins = int(bins)
        self.value_range = checked_range(value_range)

    def transform_images(self, images: Tensor, transformation: Any = None) -> Tensor:
        channels = [self._equalize(images[..., c]) for c in range(images.shape[-1])]
        return ops.concatenate([ops.reshape(c, (*c.shape, 1)) for c in channels], axis=-1)

    def _equalize(self, channel: Tensor) -> Tensor:
        """Keras's ``_equalize_channel`` for one channel (N, H, W) of the batch."""
        bins = self.bins
        channel = _scale_values(channel, self.value_range, (0, 255))
        scaled = channel * float(bins - 1) / 255.0
        rows = one_hot_rows(ops.clip(truncated(scaled), 0.0, bins - 1.0), bins)
        histogram = ops.sum(rows, axis=0, keepdims=True)  # (1, bins)
        upper = tensor(np.triu(np.ones((bins, bins))), like=rows)
        cumulative = ops.matmul(histogram, upper)  # (1, bins): Keras's cumsum
        occupied = ops.sum(mask(histogram.data > 0, histogram))
        empty = mask(cumulative.data == 0, cumulative) * float(rows.shape[0] + 1)
        first = -ops.max(-(cumulative + empty))  # the first count above 0
        spread = cumulative[:, bins - 1 :] - first
        spread = spread + mask(spread.data == 0, spread)
        table = ops.clip(_round_half_to_even((cumulative - first) * 255.0 / spread), 0.0, 255.0)
        places = truncated(ops.clip((channel / 255.0) * float(bins - 1), 0.0, bins - 1.0))
        looked_up = ops.matmul(one_hot_rows(places, bins), ops.reshape(table, (bins, 1)))
        looked_up = ops.reshape(looked_up, channel.shape)
        equalized = choose(mask(occupied.data <= 1, occupied), channel, looked_up)
        return _scale_values(equalized, (0, 255), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "bins": self.bins,
            "value_range": self.value_range,
        }
