"""Audio preprocessing layers: STFTSpectrogram and MelSpectrogram, Keras 3's
(keras/src/layers/preprocessing/stft_spectrogram.py and mel_spectrogram.py, their kernels made
by :class:`autoconv.initializers.STFT`): arguments, defaults, order, configs, weights and
numbers are theirs.

Both are composed of autoconv's differentiable ops (a 1-D convolution with the Fourier kernels;
``ops.stft`` and a matrix product), so they run on the CPU and the CUDA device and give
gradients. Signals are (batch, time, channels) for STFTSpectrogram (channels-first too) and
(batch, samples) or (samples,) for MelSpectrogram.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from autoconv import config
from autoconv.initializers import STFT, get_window
from autoconv.layers.core import number, positive_int
from autoconv.layers.input_spec import InputSpec
from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops import numpy as np_ops
from autoconv.ops import stft
from autoconv.tensor import Tensor

STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
MEL_BREAK_FREQUENCY_HERTZ = 700.0  # Keras's (HTK's) mel scale
MEL_HIGH_FREQUENCY_Q = 1127.0


def _listed(window: Any) -> Any:
    """A window as its config keeps it: a name or None as given, an array as a list."""
    if window is None or isinstance(window, str):
        return window
    return np.asarray(window.numpy() if isinstance(window, Tensor) else window).tolist()


def _choice(value: Any, allowed: tuple, message: str) -> Any:
    if not isinstance(value, str | type(None)) or value not in allowed:
        raise ValueError(message)
    return value


class STFTSpectrogram(Layer):
    """The short-time Fourier transform of each channel of (batch, time, channels) signals,
    computed as a strided 1-D convolution with Fourier kernels (trainable, as Keras's):
    ``real_kernel`` and ``imag_kernel`` (frame_length, 1, fft_length // 2 + 1) (the first
    unless ``mode="imag"``, the second unless ``mode="real"``), each the cosine or sine of the
    bin's frequency times the ``window`` scaled by ``scaling``.

    ``mode``: "real", "imag", "angle" (arctan2(imag, real)), "stft" (real then imag bins),
    "psd" (the power, its inner bins doubled), "magnitude" (sqrt(max(power, epsilon))) or
    "log" (log(max(magnitude, epsilon))). Frames every ``frame_step`` (frame_length // 2 by
    default) over the ``padding`` ("valid" or "same") signal. Output, F bins a channel (2 F for
    "stft"): (batch, frames, channels * F), or (batch, frames, F, channels) with
    ``expand_dims``; channels-first (batch, channels, time) gives (batch, channels * F, frames)
    or (batch, channels, frames, F).
    """

    def __init__(
        self,
        mode: str = "log",
        frame_length: int = 256,
        frame_step: int | None = None,
        fft_length: int | None = None,
        window: Any = "hann",
        periodic: bool = False,
        scaling: str | None = "density",
        padding: str = "valid",
        expand_dims: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        owner = "STFTSpectrogram"
        window = _listed(window)
        frame_length = positive_int(frame_length, "frame_length", owner)
        if frame_step is not None and (
            positive_int(frame_step, "frame_step", owner) > frame_length
        ):
            raise ValueError(
                "`frame_step` should be a positive integer not greater than `frame_length`. "
                f"Received frame_step={frame_step}, frame_length={frame_length}"
            )
        if fft_length is not None and positive_int(fft_length, "fft_length", owner) < frame_length:
            raise ValueError(
                "`fft_length` should be not less than `frame_length`. "
                f"Received fft_length={fft_length}, frame_length={frame_length}"
            )
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn(
                f"`fft_length` is recommended to be a power of two. Received fft_length="
                f"{fft_length}",
                stacklevel=2,
            )
        _choice(mode, STFT_MODES, "Output mode is invalid, it must be one of "
                f"{', '.join(STFT_MODES)}. Received: mode={mode}")  # fmt: skip
        _choice(scaling, ("density", "spectrum", None), "Scaling is invalid, it must be `None`, "
                f"'density' or 'spectrum'. Received scaling={scaling}")  # fmt: skip
        _choice(padding, ("valid", "same"), "Padding is invalid, it should be 'valid', 'same'. "
                f"Received: padding={padding}")  # fmt: skip
        get_window(window, frame_length, periodic)  # a bad window's error, before any work
        data_format = config.image_data_format() if data_format is None else data_format
        _choice(data_format, ("channels_last", "channels_first"), "The `data_format` argument "
                "must be one of {'channels_first', 'channels_last'}. Received: data_format="
                f"{data_format}")  # fmt: skip
        super().__init__(**kwargs)
        self.mode, self.frame_length, self.frame_step = mode, frame_length, frame_step
        self._frame_step = frame_step or frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** math.ceil(math.log2(frame_length))
        if self._frame_step < 1 or self._fft_length < 2:
            raise ValueError(
                f"{owner}: frame_length={frame_length} leaves no frame step or fewer than 2 "
                "FFT points: give frame_step and fft_length"
            )
        self.window, self.periodic, self.scaling = window, bool(periodic), scaling
        self.padding, self.expand_dims = padding, bool(expand_dims)
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=3)
        self.real_kernel = self.imag_kernel = None

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        # Keras's: mode "real" makes no imaginary kernel, mode "imag" no real one
        sides = (self.mode,) if self.mode in ("real", "imag") else ("real", "imag")
        for side in sides:
            kernel = self.add_weight(shape, self._initializer(side), name=f"{side}_kernel")
            setattr(self, f"{side}_kernel", kernel)

    def _initializer(self, side: str) -> Any:
        def initialize(shape: Shape, dtype: Any = None) -> np.ndarray:
            kernel = STFT(side, self.window, self.scaling, self.periodic)(shape, np.float64)
            return kernel.astype(dtype or "float32")

        return initialize

    def call(self, inputs: Tensor) -> Tensor:
        signals = (
            inputs if self.data_format == "channels_first" else ops.transpose(inputs, (0, 2, 1))
        )
        batch, channels, time = signals.shape
        kernels = [k for k in (self.real_kernel, self.imag_kernel) if k is not None]
        kernel = kernels[0] if len(kernels) == 1 else ops.concatenate(kernels, axis=2)
        frames = ops.conv1d(
            ops.reshape(signals, (batch * channels, time, 1)), kernel,
            stride=self._frame_step, padding=self.padding,
        )  # fmt: skip
        # (batch, channels, frames, bins): real bins then imaginary ones, as the kernels
        spectra = ops.reshape(frames, (batch, channels, *frames.shape[1:]))
        if self.mode in ("real", "imag", "stft"):
            return self._arranged(spectra)
        bins = self._fft_length // 2 + 1
        real, imag = spectra[..., :bins], spectra[..., bins:]
        if self.mode == "angle":
            return self._arranged(np_ops.arctan2(imag, real))
        power = real * real + imag * imag
        if self.mode == "psd":  # the inner bins stand for their negative frequencies too
            inner = np_ops.pad(power[..., 1:-1], ((0, 0), (0, 0), (0, 0), (1, 1)))
            return self._arranged(power + inner)
        magnitude = np_ops.sqrt(np_ops.maximum(power, config.epsilon()))
        if self.mode == "log":
            magnitude = ops.log(np_ops.maximum(magnitude, config.epsilon()))
        return self._arranged(magnitude)

    def _arranged(self, spectra: Tensor) -> Tensor:
        """(batch, channels, frames, bins) in the layer's output layout."""
        batch, channels, frames, bins = spectra.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return ops.transpose(spectra, (0, 2, 3, 1))
            stacked = ops.transpose(spectra, (0, 2, 1, 3))
            return ops.reshape(stacked, (batch, frames, channels * bins))
        if self.expand_dims:
            return spectra
        stacked = ops.transpose(spectra, (0, 1, 3, 2))
        return ops.reshape(stacked, (batch, channels * bins, frames))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"STFTSpectrogram {self.name}: input must be 3-D (batch, time, channels) "
                f"({self.data_format}), got {tuple(input_shape)}"
            )
        if self.data_format == "channels_last":
            batch, time, channels = input_shape
        else:
            batch, channels, time = input_shape
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = time
        if time is not None and self.padding == "same":
            frames = -(-time // self._frame_step)
        elif time is not None:
            frames = (time - self.frame_length) // self._frame_step + 1
            if frames < 1:
                raise ValueError(
                    "Computed output size would be negative. Received `inputs shape="
                    f"{tuple(input_shape)}`, `kernel shape=({self.frame_length},)`."
                )
        merged = None if channels is None else channels * bins
        if self.data_format == "channels_last":
            return (batch, frames, bins, channels) if self.expand_dims else (batch, frames, merged)
        return (batch, channels, frames, bins) if self.expand_dims else (batch, merged, frames)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding,
            "data_format": self.data_format,
            "expand_dims": self.expand_dims,
        }


def _hertz_to_mel(frequencies: Any) -> Any:
    """Hertz to HTK's mel scale: 1127 ln(1 + f / 700)."""
    return MEL_HIGH_FREQUENCY_Q * np.log(1.0 + frequencies / MEL_BREAK_FREQUENCY_HERTZ)


class MelSpectrogram(Layer):
    """Mel spectrograms of audio signals, (batch, samples) -> (batch, num_mel_bins, frames)
    (or one signal (samples,) -> (num_mel_bins, frames)), frames = 1 + samples //
    sequence_stride: ``ops.stft`` (centred: reflect-padded by fft_length // 2; each frame's
    ``window`` of ``sequence_length`` points, "hann", "hamming", an array or None), its
    magnitude ** ``mag_exp``, times :meth:`linear_to_mel_weight_matrix` (triangles between
    ``min_freq`` and ``max_freq``), then, with ``power_to_db``, ``10 log10(max(S, min_power) /
    max(|ref_power|, min_power))`` floored at its maximum (over the whole batch, as Keras's)
    minus ``top_db``. No weights."""

    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    def __init__(
        self,
        fft_length: int = 2048,
        sequence_stride: int = 512,
        sequence_length: int | None = None,
        window: Any = "hann",
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        min_freq: float = 20.0,
        max_freq: float | None = None,
        power_to_db: bool = True,
        top_db: float = 80.0,
        mag_exp: float = 2.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        **kwargs: Any,
    ) -> None:
        owner = "MelSpectrogram"
        window = _listed(window)
        self.fft_length = positive_int(fft_length, "fft_length", owner)
        self.sequence_stride = positive_int(sequence_stride, "sequence_stride", owner)
        self.sequence_length = positive_int(sequence_length or fft_length, "sequence_length", owner)
        if self.fft_length < self.sequence_length:
            raise ValueError(
                "`fft_length` must be greater than or equal to   `sequence_length`. Received: "
                f"`sequence_length`={self.sequence_length}, `fft_length`={self.fft_length}."
            )
        if isinstance(window, str) and window not in ("hann", "hamming"):
            raise ValueError(
                'If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                f"Received: window={window}"
            )
        if window is not None and not isinstance(window, str):
            get_window(window, self.sequence_length)  # its shape checked
        if number(sampling_rate, "sampling_rate", owner) <= 0:
            raise ValueError(f"{owner}: sampling_rate must be positive, got {sampling_rate!r}")
        self.window, self.sampling_rate = window, sampling_rate
        self.num_mel_bins = positive_int(num_mel_bins, "num_mel_bins", owner)
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        if not 0 <= number(min_freq, "min_freq", owner) < number(self.max_freq, "max_freq", owner):
            raise ValueError(
                f"{owner}: min_freq must be >= 0 and below max_freq, got min_freq={min_freq}, "
                f"max_freq={self.max_freq}"
            )
        for name, value in (("mag_exp", mag_exp), ("min_power", min_power),
                            ("ref_power", ref_power)):  # fmt: skip
            number(value, name, owner)
        if power_to_db or top_db is not None:  # (unused without power_to_db: None there, as Keras)
            number(top_db, "top_db", owner)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.ndim not in (1, 2) or inputs.shape[-1] <= self.fft_length // 2:
            raise ValueError(
                f"MelSpectrogram {self.name}: input must be (batch, samples) or (samples,) with "
                f"more than fft_length // 2 = {self.fft_length // 2} samples (the reflected "
                f"padding of centred frames), got shape {inputs.shape}"
            )
        real, imag = stft(
            inputs, self.sequence_length, self.sequence_stride, self.fft_length, self.window
        )  # (..., frames, bins)
        spectrum = ops.pow(real * real + imag * imag, float(self.mag_exp) / 2)  # |X| ** mag_exp
        matrix = self.linear_to_mel_weight_matrix(
            self.num_mel_bins, spectrum.shape[-1], self.sampling_rate, self.min_freq,
            self.max_freq, inputs.dtype,
        )  # fmt: skip
        mel = ops.matmul(spectrum, matrix)
        if self.power_to_db:
            mel = self._decibels(mel)
        return np_ops.swapaxes(mel, -1, -2)

    def _decibels(self, power: Tensor) -> Tensor:
        """10 log10 of ``power`` relative to ``ref_power``, at least its maximum - top_db."""
        floor = np.log10(max(abs(float(self.ref_power)), self.min_power))
        decibels = np_ops.log10(np_ops.maximum(power, self.min_power)) * 10.0 - 10.0 * floor
        return np_ops.maximum(decibels, ops.max(decibels) - self.top_db)

    def linear_to_mel_weight_matrix(
        self,
        num_mel_bins: int = 20,
        num_spectrogram_bins: int = 129,
        sampling_rate: float = 8000,
        lower_edge_hertz: float = 125.0,
        upper_edge_hertz: float = 3800.0,
        dtype: str = "float32",
    ) -> np.ndarray:
        """Keras's (TensorFlow's, HTK's) matrix (num_spectrogram_bins, num_mel_bins) that maps
        linear bins from 0 to sampling_rate / 2 to ``num_mel_bins`` triangles of peak 1, evenly
        spaced in mel between ``lower_edge_hertz`` and ``upper_edge_hertz``; the DC bin's row
        is zeros. Computed in float64 (Keras's in float32: they differ by its rounding), given
        in ``dtype``."""
        linear = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]
        bins_mel = _hertz_to_mel(linear)[:, None]
        edges = np.linspace(
            _hertz_to_mel(float(lower_edge_hertz)), _hertz_to_mel(float(upper_edge_hertz)),
            num_mel_bins + 2,
        )  # fmt: skip
        lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
        lower_slopes = (bins_mel - lower) / (center - lower)
        upper_slopes = (upper - bins_mel) / (upper - center)
        weights = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
        return np.pad(weights, ((1, 0), (0, 0))).astype(dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) not in (1, 2):
            raise ValueError(
                f"MelSpectrogram {self.name}: input must be (batch, samples) or (samples,), got "
                f"{tuple(input_shape)}"
            )
        samples = input_shape[-1]
        frames = None if samples is None else 1 + samples // self.sequence_stride
        return (*input_shape[:-1], self.num_mel_bins, frames)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length,
            "window": self.window,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.max_freq,
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        }
