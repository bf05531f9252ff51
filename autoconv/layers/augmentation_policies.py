"""The augmentation policies RandAugment and AugMix, built from autoconv's augmentation layers.
Arguments, defaults, order, configs, sub-layers and numbers are Keras 3's
(keras/src/layers/preprocessing/image_preprocessing/rand_augment.py and aug_mix.py).

Images are channels-last RGB: a batch (N, H, W, 3) or one image (H, W, 3), with values in
``value_range``. Each policy holds its sub-layers under Keras's attribute names
(``random_shear``, ``random_translation``, ...), made with the policy's ``factor`` (a float f
gives (0, f), within [0, 1]), ``value_range`` and ``interpolation``, and follows the contract of
:mod:`autoconv.layers.augmentation`: ``random_transformation(shape, rng)`` makes Keras's draws in
Keras's structure (the sub-layers' draws under their names), ``transform_images(images,
transformation)`` applies them, and the images pass unchanged in inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomImageLayer,
    RandomRotation,
    RandomTranslation,
    drawn,
    is_number,
    per_step,
    value_range_pair,
)
from autoconv.layers.color_augmentation import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomPosterization,
    RandomSharpness,
    Solarization,
)
from autoconv.layers.geometric_augmentation import RandomShear
from autoconv.layers.layer import Layer
from autoconv.layers.preprocessing import F32, factor_bounds
from autoconv.ops import engine as ops
from autoconv.ops.convert import tensor
from autoconv.ops.masks import choose
from autoconv.tensor import Tensor
from autoconv.windows import is_int

# Each sub-layer by its Keras attribute name, made from (factor, value_range, interpolation)
# as the policies make it.
SUB_LAYERS: dict[str, Callable[[tuple[float, float], Any, str], Layer]] = {
    "random_shear": lambda f, _, i: RandomShear(x_factor=f, y_factor=f, interpolation=i),
    "random_translation": lambda f, _, i: RandomTranslation(f, f, interpolation=i),
    "random_rotation": lambda f, _, i: RandomRotation(f, interpolation=i),
    "random_brightness": lambda f, v, _: RandomBrightness(f, value_range=v),
    "random_color_degeneration": lambda f, v, _: RandomColorDegeneration(f, value_range=v),
    "random_contrast": lambda f, v, _: RandomContrast(f, value_range=v),
    "random_sharpness": lambda f, v, _: RandomSharpness(f, value_range=v),
    "random_posterization": lambda f, v, _: RandomPosterization(max(1, int(8 * f[1])), v),
    "solarization": lambda f, v, _: Solarization(f, f, value_range=v),
    "auto_contrast": lambda f, v, _: AutoContrast(value_range=v),
    "equalization": lambda f, v, _: Equalization(value_range=v),
}
RAND_AUGMENT_LAYERS = (
    "random_shear", "random_translation", "random_rotation", "random_brightness",
    "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
    "solarization", "auto_contrast", "equalization",
)  # fmt: skip
AUG_MIX_LAYERS = (
    "random_shear", "random_translation", "random_rotation", "random_posterization",
    "solarization", "auto_contrast", "equalization",
)  # fmt: skip
AUG_MIX_LAYERS_ALL = (
    *AUG_MIX_LAYERS,
    "random_brightness", "random_color_degeneration", "random_contrast", "random_sharpness",
)  # fmt: skip


def _count(value: Any, name: str, owner: str, least: int) -> int:
    """``value`` as an int of at least ``least`` (NumPy integers too)."""
    if not is_int(value) or value < least:
        raise ValueError(f"{owner}: `{name}` must be an int of at least {least}, got {value!r}")
    return int(value)


def _last(config: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``config`` with ``keys`` moved to its end, in that order."""
    for key in keys:
        config[key] = config.pop(key)
    return config


class AugmentationPolicy(RandomImageLayer):
    """The base of the policies: ``factor``, ``value_range``, ``interpolation`` and the
    sub-layers named in ``names`` (``self.names``, in Keras's order), made as Keras makes them."""

    def __init__(
        self,
        names: Sequence[str],
        value_range: Sequence[float],
        factor: Any,
        interpolation: str,
        seed: int | None,
        data_format: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        value_range_pair(value_range)
        self.value_range = value_range  # as given, as Keras keeps it
        self.factor = factor_bounds(factor, (0, 1))
        self.interpolation = interpolation
        self.names = tuple(names)
        for name in self.names:  # tracked as sublayers, as Keras's
            setattr(self, name, SUB_LAYERS[name](self.factor, value_range, interpolation))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "value_range": self.value_range,
            "factor": self.factor,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


class RandAugment(AugmentationPolicy):
    """Applies ``num_ops`` augmentations in turn, each one of the 11 sub-layers (shear,
    translation, rotation, brightness, color degeneration, contrast, sharpness, posterization,
    solarization, auto-contrast, equalization) chosen uniformly, once for the whole batch; each
    sub-layer draws its parameters once per call (per image), so a sub-layer chosen twice
    applies the same parameters twice. As Keras, every op computes all 11 sub-layers and keeps
    the chosen one (Keras's ``where``): the step's work is the same whatever is drawn, so a
    training step the GPU replays draws anew."""

    def __init__(
        self,
        value_range: Sequence[float] = (0, 255),
        num_ops: int = 2,
        factor: Any = 0.5,
        interpolation: str = "bilinear",
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.num_ops = _count(num_ops, "num_ops", "RandAugment", 0)
        super().__init__(
            RAND_AUGMENT_LAYERS, value_range, factor, interpolation, seed, data_format, **kwargs
        )

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: the ops' sub-layer indices (``num_ops``,), then each
        sub-layer's draws by its name."""
        indices = rng.integers(0, len(self.names), self.num_ops).astype(np.int32)
        transforms = {
            name: getattr(self, name).random_transformation(shape, rng) for name in self.names
        }
        return {"transforms": transforms, "layer_idxes": indices}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """Keras's ``transform_images``: for each op i and each sub-layer k in turn, images =
        where(layer_idxes[i] == k, sub-layer k's images, images). One draw of
        ``transformation`` a step: the first step input (the choices) makes it, the sub-layers'
        step inputs, made after it, read it."""
        step: dict[str, Any] = {}

        def choices() -> np.ndarray:
            step["draws"] = drawn(transformation)
            indices = np.asarray(step["draws"]["layer_idxes"], np.int64).reshape(-1)
            return np.eye(len(self.names))[indices]  # (num_ops, sub-layers), one-hot

        def part(name: str) -> Callable[[], Any]:
            return lambda: step["draws"]["transforms"][name]

        chosen = per_step(choices, images)
        for i in range(self.num_ops):
            for k, name in enumerate(self.names):
                out = getattr(self, name).transform_images(images, part(name))
                images = choose(chosen[i, k], out, images)
        return images

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {"num_ops": self.num_ops}
        return _last(config, "factor", "interpolation", "seed")  # Keras's order


class AugMix(AugmentationPolicy):
    """Mixes ``num_chains`` augmentation chains of the batch: each chain applies up to
    ``chain_depth`` sub-layers in turn (each step one of the sub-layers, or none, chosen
    uniformly), the chains' images are summed with Dirichlet(``alpha``) weights, and the
    result mixed with the images by a Beta(``alpha``, ``alpha``) weight w: w * images +
    (1 - w) * mix, clipped to ``value_range``. ``all_ops=False`` leaves out brightness, color
    degeneration, contrast and sharpness. The chains' sub-layers are chosen on the host at
    each call (as Keras does), so a call's work changes with its draws: its mixing weights
    are uploaded as constants of the step, and a training step on the GPU runs eagerly, each
    drawing anew (a replay would keep one draw's chains)."""

    def __init__(
        self,
        value_range: Sequence[float] = (0, 255),
        num_chains: int = 3,
        chain_depth: int = 3,
        factor: Any = 0.3,
        alpha: float = 1.0,
        all_ops: bool = True,
        interpolation: str = "bilinear",
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.num_chains = _count(num_chains, "num_chains", "AugMix", 1)
        self.chain_depth = _count(chain_depth, "chain_depth", "AugMix", 0)
        if not is_number(alpha) or not alpha > 0:
            raise ValueError(f"AugMix: `alpha` must be a number above 0, got {alpha!r}")
        if not isinstance(all_ops, bool):
            raise ValueError(f"AugMix: `all_ops` must be True or False, got {all_ops!r}")
        self.alpha, self.all_ops = alpha, all_ops
        names = AUG_MIX_LAYERS_ALL if all_ops else AUG_MIX_LAYERS
        super().__init__(names, value_range, factor, interpolation, seed, data_format, **kwargs)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: the chains' weights (Gamma(alpha) draws over their
        sum), the images' weight (Beta), then each chain's steps: a choice among the
        sub-layers and none (Keras's ``random.choice``, here from ``rng``), and the chosen
        sub-layer's draws."""
        gamma = rng.gamma(self.alpha, size=self.num_chains).astype(F32)
        weight = F32(rng.beta(self.alpha, self.alpha))
        chains = []
        for _ in range(self.num_chains):
            chain = []
            for _ in range(self.chain_depth):
                k = int(rng.integers(0, len(self.names) + 1))
                if k < len(self.names):
                    layer = getattr(self, self.names[k])
                    draws = layer.random_transformation(shape, rng)
                    chain.append({"layer_name": self.names[k], "transformation": draws})
            chains.append(chain)
        return {
            "chain_mixing_weights": gamma / gamma.sum(),
            "weight_sample": weight,
            "chain_transforms": chains,
        }

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """Keras's ``transform_images``: each chain's sub-layers in turn on the images, the
        chains summed with their weights, mixed with the images and clipped."""
        t = drawn(transformation)
        weights = tensor(np.asarray(t["chain_mixing_weights"]).reshape(-1), like=images)
        weight = tensor(np.asarray(t["weight_sample"]).reshape(()), like=images)
        mixed = None
        for i, chain in enumerate(t["chain_transforms"]):
            out = images
            for step in chain:
                out = getattr(self, step["layer_name"]).transform_images(
                    out, step["transformation"]
                )
            mixed = out * weights[i] if mixed is None else mixed + out * weights[i]
        low, high = value_range_pair(self.value_range)
        return ops.clip(weight * images + (1.0 - weight) * mixed, low, high)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
        }
        config = _last(config, "factor") | {"alpha": self.alpha, "all_ops": self.all_ops}
        return _last(config, "interpolation", "seed")  # Keras's order
