"""``keras.initializers``: objects that make a layer's starting weights, as NumPy arrays
(Keras 3's ``keras/src/initializers/``).

``initializer(shape, dtype=None)`` returns an array of ``shape`` in ``dtype`` (float32 by
default). Fans follow Keras's :func:`compute_fans`: a Dense kernel (in, out) has fan_in = in
and fan_out = out; a convolution kernel (kh, kw, in, out) has fan_in = kh*kw*in and
fan_out = kh*kw*out.

Seeds follow Keras 3: a random initializer draws its values from its seed, so one instance
gives the same values at every call. Without ``seed=`` it takes a seed when it is made, from
autoconv's generator (so :func:`autoconv.utils.set_random_seed` makes it reproducible) -- two
instances differ, one instance repeats itself.

>>> from autoconv import initializers
>>> initializers.get("glorot_uniform")
GlorotUniform(seed=None, input_axes=None, output_axes=None)
>>> initializers.Constant(2.0)((2,)).tolist()
[2.0, 2.0]
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import numpy as np

from autoconv import config, registration
from autoconv.backends.cpu import blas
from autoconv.host_array import host_array
from autoconv.seeds import SeedGenerator, draw, generator
from autoconv.tensor import Tensor

__all__ = [
    "STFT", "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
    "IdentityInitializer", "Initializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal",
    "OrthogonalInitializer", "RandomNormal", "RandomUniform", "STFTInitializer",
    "TruncatedNormal", "VarianceScaling", "Zeros", "compute_fans", "constant", "deserialize", "get",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal",
    "lecun_uniform", "ones", "orthogonal", "random_normal", "random_uniform", "serialize",
    "stft", "truncated_normal", "variance_scaling", "zeros",
]  # fmt: skip

Shape = tuple[int, ...]
# The standard deviation of a standard normal truncated to [-2, 2]: dividing by it gives the
# truncated draws the wanted variance (Keras's VarianceScaling).
TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape: Any, input_axes: Any = None, output_axes: Any = None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape: with ``input_axes`` and ``output_axes`` both given,
    the products of those axes' sizes; else (1, 1) for a scalar, (n, n) for a vector,
    (rows, columns) for a matrix, and for a convolution kernel (..., in, out) both times the
    receptive field (the product of the leading axes)."""
    shape = _shape(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _shape(shape: Any) -> Shape:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)


def _dtype(dtype: Any) -> np.dtype:
    """``dtype``, or Keras's default float (``config.floatx()``) when None."""
    return np.dtype(config.floatx() if dtype is None else dtype)


def _float_dtype(dtype: Any, name: str) -> np.dtype:
    dtype = _dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"{name}: random values need a float dtype, got {dtype}")
    return dtype


class Initializer:
    """Base class: ``__call__(shape, dtype=None)`` returns the array; ``get_config`` holds the
    constructor arguments, so ``from_config(get_config())`` makes the same initializer."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        raise NotImplementedError("Initializer subclasses must implement __call__()")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each class's own ``__call__`` gives its array as a :class:`HostArray`, so
        ``initializer(shape).numpy()`` and ``float(initializer((1, 1)))`` run as on Keras's
        tensors (a Tensor stays as it is)."""
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            own_call = cls.__dict__["__call__"]
            cls.__call__ = functools.wraps(own_call)(
                lambda self, *args, **kwargs: host_array(own_call(self, *args, **kwargs))
            )

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """The initializer ``config`` describes."""
        return cls(**config)

    def clone(self) -> Initializer:
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


# ------------------------------------------------------------------------------ constant
class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return np.zeros(_shape(shape), _dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return np.ones(_shape(shape), _dtype(dtype))


class Constant(Initializer):
    """``value`` broadcast to the shape: a scalar, or as in Keras an array or a Tensor (a
    Dense bias ``Constant(np.eye(3).flatten())``) whose shape broadcasts to the weight's."""

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, value = _shape(shape), np.asarray(_values(self.value), _dtype(dtype))
        try:
            return np.broadcast_to(value, shape).copy()
        except ValueError:
            raise ValueError(
                f"Constant: a value of shape {value.shape} cannot fill a weight of shape {shape}"
            ) from None

    def get_config(self) -> dict[str, Any]:
        """Keras's config: an array ``value`` as its ``__numpy__`` entry (a Tensor as its
        ``__tensor__`` one), a NumPy number as Python's."""
        value = self.value
        if isinstance(value, np.ndarray | Tensor):
            kind = "__tensor__" if isinstance(value, Tensor) else "__numpy__"
            array = _values(value)
            value = {
                "class_name": kind,
                "config": {"value": array.tolist(), "dtype": array.dtype.name},
            }
        elif isinstance(value, np.generic):
            value = value.item()
        return {"value": value}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constant:
        value = config.get("value")
        if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
            array = np.array(value["config"]["value"], dtype=value["config"]["dtype"])
            array = Tensor(array) if value["class_name"] == "__tensor__" else array
            config = {**config, "value": array}
        return cls(**config)


def _values(value: Any) -> Any:
    """A Tensor's values as a NumPy array (from any device); anything else as it is."""
    return value.numpy() if isinstance(value, Tensor) else value


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; a rectangle gets ones on its
    diagonal)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


# SciPy's ``get_window`` names autoconv computes (with NumPy's symmetric windows: SciPy's own).
WINDOWS = {
    "hann": np.hanning,
    "hamming": np.hamming,
    "blackman": np.blackman,
    "bartlett": np.bartlett,
    "boxcar": np.ones,
}


def get_window(window: Any, length: int, periodic: bool = False) -> np.ndarray | None:
    """The window of ``length`` points, float64, as ``scipy.signal.get_window(window, length,
    fftbins=periodic)`` gives it (a periodic window is the symmetric one of length + 1 without
    its last point; one point is [1.0]); an array-like is taken as it is (its shape checked);
    None is no window."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(
                f"Unknown window {window!r}: autoconv computes the windows {sorted(WINDOWS)} (or "
                "takes an array of frame_length values)"
            )
        if length == 1:
            return np.ones(1)
        return WINDOWS[window](length + 1)[:-1] if periodic else WINDOWS[window](length)
    values = np.asarray(window, dtype=np.float64)
    if values.shape != (length,):
        raise ValueError(
            f"The shape of `window` must be equal to [frame_length].Received: window shape="
            f"{values.shape}"
        )
    return values


class STFT(Initializer):
    """The kernels of a short-time Fourier transform as a 1-D convolution (Keras's
    ``STFTSpectrogram``'s): for a shape (frame_length, 1, bins), kernel[t, 0, k] = cos
    (``side="real"``) or sin (``"imag"``) of -2 pi t k / (2 (bins - 1)), times the ``window``
    (a name of :data:`WINDOWS`, ``frame_length`` values, or None), divided by the window's L2
    norm (``scaling="density"``) or its sum (``"spectrum"``); ``periodic`` windows are SciPy's
    ``fftbins=True`` ones. Computed in float64, then cast; several channels each get the same
    kernels (Keras gives (frame_length, 1, bins) whatever the shape asked for)."""

    def __init__(
        self, side: str = "real", window: Any = "hann", scaling: str | None = "density",
        periodic: bool = False,
    ) -> None:  # fmt: skip
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            get_window(window, 1)  # an unknown name's error, before any work
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(
                "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. Received "
                f"scaling={scaling}"
            )
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape = _shape(shape)
        if len(shape) != 3:
            raise ValueError(f"STFT: shape must be (frame_length, channels, bins), got {shape}")
        frame_length, _, bins = shape
        time = np.arange(frame_length, dtype=np.float64).reshape(-1, 1, 1)
        frequency = np.arange(bins, dtype=np.float64).reshape(1, 1, -1) / ((bins - 1) * 2)
        angles = -2 * time * frequency * np.pi
        kernel = np.cos(angles) if self.side == "real" else np.sin(angles)
        win = get_window(self.window, frame_length, self.periodic)
        if win is not None:
            win = win.reshape(-1, 1, 1)
            scale = {"density": np.sqrt(np.sum(win**2)), "spectrum": np.sum(np.abs(win))}
            kernel = kernel * win / scale.get(self.scaling, 1.0)
        return np.broadcast_to(kernel, shape).astype(_dtype(dtype))  # each channel's the same

    def get_config(self) -> dict[str, Any]:
        window = self.window
        if window is not None and not isinstance(window, str):
            window = np.asarray(window.numpy() if hasattr(window, "numpy") else window).tolist()
        return {"side": self.side, "window": window, "periodic": self.periodic,
                "scaling": self.scaling}  # fmt: skip


# -------------------------------------------------------------------------------- random
class RandomInitializer(Initializer):
    """Base of the random initializers: ``seed`` (an int, or None for one drawn now from
    autoconv's generator) decides every value, so each call gives the same array. A
    :class:`~autoconv.random.SeedGenerator` as ``seed`` advances at each call instead, so calls
    differ, as in Keras; its config holds Keras's ``keras.random`` entry of the generator."""

    def __init__(self, seed: int | SeedGenerator | None = None) -> None:
        self._init_seed = seed
        if isinstance(seed, dict):  # a config's SeedGenerator entry, as Keras's
            if seed.get("class_name") != "SeedGenerator":
                raise ValueError(f"`seed` argument: not a SeedGenerator entry: {seed}")
            seed = SeedGenerator.from_config(seed["config"])
        elif (
            seed is not None
            and not isinstance(seed, SeedGenerator)
            and (not isinstance(seed, int | np.integer) or isinstance(seed, bool))
        ):
            raise ValueError(
                "`seed` argument should be an instance of `keras.random.SeedGenerator()` or an "
                f"integer. Received: seed={seed}"
            )
        # Keras draws a default seed in [1, 1e9] the same way (from Python's random module).
        if seed is None:
            seed = int(generator().integers(1, 10**9 + 1))
        self.seed = seed if isinstance(seed, SeedGenerator) else int(seed)

    def rng(self) -> np.random.Generator:
        """A fresh generator from the seed: the same numbers at every call (from a
        SeedGenerator: the next numbers)."""
        if isinstance(self.seed, SeedGenerator):
            return draw(self.seed)
        return np.random.default_rng(self.seed)

    def get_config(self) -> dict[str, Any]:
        seed = self._init_seed
        if isinstance(seed, SeedGenerator):
            seed = {"module": "keras.random", "class_name": "SeedGenerator",
                    "config": seed.get_config(), "registered_name": None}  # fmt: skip
        return {"seed": seed}


def truncated_normal_draw(
    rng: np.random.Generator, shape: Shape, mean: float, stddev: float
) -> np.ndarray:
    """Normal draws with every value more than 2 stddev from the mean drawn again."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return mean + stddev * values


class RandomNormal(RandomInitializer):
    """Normal values of ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        return self.rng().normal(self.mean, self.stddev, _shape(shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal values of ``mean`` and ``stddev``, those more than two stddev from the mean drawn
    again (so the values' own standard deviation is about 0.88 * stddev)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        return truncated_normal_draw(self.rng(), _shape(shape), self.mean, self.stddev).astype(
            dtype
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform values in [minval, maxval)."""

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        return self.rng().uniform(self.minval, self.maxval, _shape(shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    """Values of variance scale / n, n = fan_in, fan_out or their mean (``mode``), from a
    normal truncated at two standard deviations ('truncated_normal', or 'normal'), a plain
    normal ('untruncated_normal'), or a uniform on [-limit, limit], limit = sqrt(3 * scale / n)
    ('uniform'). ``input_axes`` and ``output_axes`` (lists of axes, both or neither) choose
    the axes whose sizes multiply into the fans (:func:`compute_fans`)."""

    MODES: ClassVar[tuple[str, ...]] = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS: ClassVar[tuple[str, ...]] = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        input_axes: list[int] | None = None,
        output_axes: list[int] | None = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in self.MODES:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {self.MODES}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. "
                f"Please use one of {self.DISTRIBUTIONS}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        variance = self.scale / max(1.0, n[self.mode])
        rng = self.rng()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / TRUNCATED_STDDEV
            values = truncated_normal_draw(rng, shape, 0.0, stddev)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed arguments: only the seed and the fans' axes are
    configurable."""

    preset: ClassVar[tuple[float, str, str]]

    def __init__(
        self,
        seed: int | None = None,
        input_axes: list[int] | None = None,
        output_axes: list[int] | None = None,
    ) -> None:
        scale, mode, distribution = self.preset
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self) -> dict[str, Any]:
        return RandomInitializer.get_config(self) | {"input_axes": self.input_axes,
                                                     "output_axes": self.output_axes}  # fmt: skip


class GlorotUniform(_Preset):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)): Keras's default
    kernel initializer."""

    preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal of standard deviation sqrt(2 / (fan_in + fan_out))."""

    preset = (1.0, "fan_avg", "truncated_normal")


class LecunNormal(_Preset):
    """Truncated normal of standard deviation sqrt(1 / fan_in)."""

    preset = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform on [-limit, limit], limit = sqrt(3 / fan_in)."""

    preset = (1.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated normal of standard deviation sqrt(2 / fan_in)."""

    preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """Uniform on [-limit, limit], limit = sqrt(6 / fan_in)."""

    preset = (2.0, "fan_in", "uniform")


class Orthogonal(RandomInitializer):
    """``gain`` times a random orthogonal matrix: the Q of a QR decomposition of normal draws
    (signs fixed by R's diagonal), with orthonormal columns, or rows when there are fewer rows.
    A shape of more than 2 axes is the matrix (product of the leading axes, last axis)."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        rows, columns = math.prod(shape[:-1]), shape[-1]
        draws = self.rng().standard_normal((max(rows, columns), min(rows, columns)))
        q, r = blas.run(np.linalg.qr, draws)  # LAPACK runs on OpenBLAS's threads too
        q = q * np.sign(np.diag(r))
        if rows < columns:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"gain": self.gain}


OrthogonalInitializer = Orthogonal
IdentityInitializer = Identity
# Keras's lower-case names are the classes themselves: initializers.he_normal(seed=1)
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, truncated_normal, random_uniform = RandomNormal, TruncatedNormal, RandomUniform
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
lecun_normal, lecun_uniform, he_normal, he_uniform = LecunNormal, LecunUniform, HeNormal, HeUniform
stft = STFTInitializer = STFT

_CLASSES = (
    Zeros, Ones, Constant, Identity, RandomNormal, TruncatedNormal, RandomUniform,
    VarianceScaling, GlorotUniform, GlorotNormal, LecunNormal, LecunUniform, HeNormal, HeUniform,
    Orthogonal, STFT,
)  # fmt: skip
ALL_OBJECTS: dict[str, type[Initializer]] = {cls.__name__: cls for cls in _CLASSES} | {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "identity": Identity,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "random_uniform": RandomUniform, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform, "he_normal": HeNormal,
    "he_uniform": HeUniform, "orthogonal": Orthogonal, "OrthogonalInitializer": Orthogonal,
    "orthogonal_initializer": Orthogonal, "IdentityInitializer": Identity,
    "uniform": RandomUniform, "normal": RandomNormal, "one": Ones, "zero": Zeros,
    "stft": STFT, "STFTInitializer": STFT,
}  # fmt: skip


def serialize(initializer: Initializer) -> dict[str, Any]:
    """Keras's entry for the initializer (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`deserialize` turns back into it."""
    return registration.keras_entry(initializer, "keras.initializers", ALL_OBJECTS)


def deserialize(
    config: dict[str, Any] | str, custom_objects: dict[str, Any] | None = None
) -> Initializer:
    """The initializer a :func:`serialize` dict (Keras's, or autoconv's older one without
    ``module``), a name, or a registered (or ``custom_objects``') custom initializer's entry
    makes."""
    return registration.deserialize_object(
        config, ALL_OBJECTS, Initializer, "initializer", custom_objects
    )


def get(identifier: Any) -> Any:
    """The initializer for ``identifier``: a name ('he_normal', 'HeNormal', 'zeros', ...) or a
    config dict made into an instance, a class instantiated with its defaults, an instance or
    any other callable ``(shape, dtype)`` returned as it is; None gives None."""
    return registration.get_object(identifier, deserialize, "initializer")
