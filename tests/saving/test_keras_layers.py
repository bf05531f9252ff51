"""Every layer autoconv has, through Keras's own files in both directions, with real Keras 3.15
(on its PyTorch backend; skipped where Keras or torch is not installed):

- built with the same arguments, autoconv's layer config is the config Keras writes (every
  key and value; only the layer's name may differ);
- a model of the layer saved by autoconv loads in Keras and predicts the same numbers, and
  a model Keras saved loads in autoconv and predicts the same numbers; its weights (in
  Keras's ``.weights.h5`` layout) load into a model autoconv built itself;
- for every optimizer, a model Keras trained two steps loads in autoconv with the optimizer's
  step count and every slot, and the next step gives the same weights in both (and the other
  way round): training resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TOLERANCE = {"rtol": 2e-5, "atol": 2e-6}

# (layer class name, its arguments, one sample's input shape): every layer, in the options
# that change what Keras writes.
LAYERS: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("Dense", {"units": 3, "activation": "relu"}, (4,)),
    ("Dense", {"units": 2, "use_bias": False, "kernel_initializer": "he_normal"}, (3,)),
    ("Dense", {"units": 3, "kernel_regularizer": "l2", "bias_regularizer": "l1"}, (4,)),
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (4, 3), "bias_axes": "d",
                     "activation": "relu"}, (4, 5)),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 3, "kernel_regularizer": "l2"},
     (4,)),
    ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 2, "bias_axes": "c",
                     "kernel_initializer": "he_normal", "kernel_constraint": "unit_norm"},
     (3, 4)),
    ("Activation", {"activation": "tanh"}, (4,)),
    ("Conv1D", {"filters": 3, "kernel_size": 2, "dilation_rate": 2, "padding": "causal"}, (8, 2)),
    ("Conv1D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (9, 3)),
    ("SeparableConv1D", {"filters": 3, "kernel_size": 3, "depth_multiplier": 2}, (7, 2)),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same",
                         "use_bias": False, "activation": "relu"}, (7, 3)),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (6, 2)),
    ("DepthwiseConv1D", {"kernel_size": 2, "dilation_rate": 2, "use_bias": False}, (6, 3)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
     (4, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
     (4, 3)),
    ("Conv2D", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (7, 7, 2)),
    ("Conv2D", {"filters": 4, "kernel_size": (2, 3), "groups": 2, "activation": "relu"}, (6, 6, 4)),
    ("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2}, (8, 8, 1)),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
     (4, 5, 2)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": (2, 3), "strides": (2, 1)}, (3, 4, 3)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (5, 5, 2)),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2}, (6, 6, 2)),
    ("SeparableConv2D", {"filters": 3, "kernel_size": 2, "strides": 2, "padding": "same",
                         "use_bias": False}, (5, 5, 3)),
    ("BatchNormalization", {"momentum": 0.9, "epsilon": 1e-2}, (5, 5, 3)),
    ("BatchNormalization", {"center": False, "scale": False}, (4,)),
    ("LayerNormalization", {}, (4, 3)),
    ("LayerNormalization", {"axis": [2, 3], "epsilon": 1e-5, "center": False}, (3, 3, 2)),
    ("Normalization", {"mean": [0.5, -1.0], "variance": [2.0, 0.25]}, (3, 2)),
    ("Normalization", {"axis": -1}, (4, 3)),
    ("GroupNormalization", {"groups": 2}, (4, 4, 6)),
    ("GroupNormalization", {"groups": -1, "axis": 1, "center": False, "epsilon": 1e-5}, (3, 4)),
    ("UnitNormalization", {}, (4, 3)),
    ("UnitNormalization", {"axis": [1, 2]}, (3, 2, 2)),
    ("RMSNormalization", {}, (5,)),
    ("RMSNormalization", {"axis": [2, 3], "epsilon": 1e-4}, (2, 3, 4)),
    ("Dropout", {"rate": 0.3, "seed": 4}, (4,)),
    ("SpatialDropout2D", {"rate": 0.2}, (4, 4, 2)),
    ("SpatialDropout1D", {"rate": 0.3, "seed": 2}, (5, 3)),
    ("ActivityRegularization", {"l1": 0.01, "l2": 0.02}, (4,)),
    ("GaussianDropout", {"rate": 0.2}, (4,)),
    ("AlphaDropout", {"rate": 0.2, "noise_shape": (None, 1), "seed": 3}, (4,)),
    ("Masking", {"mask_value": 0.5}, (3, 2)),
    ("Embedding", {"input_dim": 10, "output_dim": 3}, (5,)),
    ("Embedding", {"input_dim": 4, "output_dim": 2, "embeddings_initializer": "ones",
                   "embeddings_regularizer": "l2"}, (2, 3)),
    ("GaussianNoise", {"stddev": 0.1}, (4,)),
    ("Flatten", {}, (3, 2, 2)),
    ("Reshape", {"target_shape": (6, 2)}, (3, 4)),
    ("Permute", {"dims": (2, 1)}, (3, 4)),
    ("Identity", {}, (3,)),
    ("MaxPooling1D", {"pool_size": 2}, (7, 2)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (7, 2)),
    ("MaxPooling2D", {"pool_size": (2, 3), "strides": 2, "padding": "same"}, (7, 7, 2)),
    ("AveragePooling2D", {"pool_size": 2}, (6, 6, 2)),
    ("GlobalMaxPooling1D", {}, (5, 3)),
    ("GlobalAveragePooling1D", {"keepdims": True}, (5, 3)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (4, 4, 3)),
    ("GlobalAveragePooling2D", {}, (4, 4, 3)),
    ("AdaptiveAveragePooling1D", {"output_size": 3}, (7, 2)),
    ("AdaptiveMaxPooling1D", {"output_size": 4}, (6, 2)),
    ("AdaptiveAveragePooling2D", {"output_size": (2, 3)}, (5, 7, 2)),
    ("AdaptiveMaxPooling2D", {"output_size": 2}, (5, 4, 3)),
    ("AdaptiveAveragePooling3D", {"output_size": (2, 1, 3)}, (4, 3, 5, 2)),
    ("AdaptiveMaxPooling3D", {"output_size": 2}, (3, 4, 4, 2)),
    ("ReLU", {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}, (4,)),
    ("LeakyReLU", {"negative_slope": 0.2}, (4,)),
    ("ELU", {"alpha": 0.5}, (4,)),
    ("PReLU", {"shared_axes": [1, 2]}, (3, 3, 2)),
    ("PReLU", {"alpha_initializer": "ones"}, (4,)),
    ("Softmax", {"axis": -1}, (5,)),
    ("Rescaling", {"scale": 1 / 255, "offset": -1.0}, (3, 3, 1)),
    ("Resizing", {"height": 4, "width": 6, "interpolation": "bilinear"}, (8, 8, 2)),
    ("Resizing", {"height": 3, "width": 5, "antialias": True}, (8, 8, 2)),
    ("Resizing", {"height": 3, "width": 3, "interpolation": "nearest",
                  "crop_to_aspect_ratio": True}, (6, 8, 1)),
    ("CenterCrop", {"height": 3, "width": 2}, (5, 5, 1)),
    ("RandomFlip", {"mode": "horizontal", "seed": 1}, (4, 4, 1)),
    ("RandomRotation", {"factor": 0.1, "fill_mode": "constant", "seed": 2}, (6, 6, 1)),
    ("RandomZoom", {"height_factor": 0.2, "width_factor": (-0.1, 0.3)}, (6, 6, 1)),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.2}, (6, 6, 1)),
    ("RandomContrast", {"factor": 0.2}, (4, 4, 3)),
    ("RandomBrightness", {"factor": (-0.1, 0.2)}, (4, 4, 3)),
    ("RandomCrop", {"height": 3, "width": 3}, (5, 5, 1)),
    ("RandomGrayscale", {"factor": 0.3, "seed": 1}, (4, 4, 3)),
    ("RandomInvert", {"factor": (0.2, 0.6), "value_range": (0, 1)}, (4, 4, 3)),
    ("Solarization", {"addition_factor": 0.1, "threshold_factor": (0.2, 0.5),
                      "value_range": (0, 1), "seed": 2}, (4, 4, 3)),
    ("RandomPosterization", {"factor": (2, 5), "value_range": (0, 1)}, (4, 4, 3)),
    ("AutoContrast", {"value_range": (0, 1)}, (4, 4, 3)),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"value_range": (0, 1), "clip_limit": 16.0,
                                                      "tile_grid_size": (2, 2)}, (8, 8, 2)),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"value_range": [-1, 1], "clip_limit": 0,
                                                      "tile_grid_size": (1, 3)}, (5, 6, 1)),
    ("RandomColorDegeneration", {"factor": 0.4, "value_range": (0, 1)}, (4, 4, 3)),
    ("RandomSaturation", {"factor": (0.2, 0.7), "seed": 3}, (4, 4, 3)),
    ("RandomHue", {"factor": 0.5, "value_range": (0, 1)}, (4, 4, 3)),
    ("RandomSharpness", {"factor": 0.6, "value_range": (0, 1)}, (4, 4, 3)),
    ("RandomColorJitter", {"value_range": (0, 1), "brightness_factor": 0.2, "hue_factor": 0.1,
                           "contrast_factor": 0.3, "saturation_factor": 0.5, "seed": 4}, (4, 4, 3)),
    # (no Equalization: Keras 3.15's returns its input as its output spec, so no Keras model
    # can hold one: "Tensor ... from operation 'equalization' is part of a cycle")
    ("RandomShear", {}, (4, 4, 1)),
    ("RandomShear", {"x_factor": (0.1, 0.3), "y_factor": (0.0, 0.2), "interpolation": "nearest",
                     "fill_mode": "constant", "fill_value": 2.0, "seed": 1}, (6, 6, 1)),
    ("RandomErasing", {}, (4, 4, 3)),
    ("RandomErasing", {"factor": 0.5, "scale": (0.1, 0.4), "fill_value": 3.0,
                       "value_range": (0, 1), "seed": 2}, (5, 5, 3)),
    ("RandomErasing", {"fill_value": (1, 2, 3)}, (4, 4, 3)),
    ("RandomGaussianBlur", {}, (4, 4, 1)),
    ("RandomGaussianBlur", {"factor": (0.2, 0.7), "kernel_size": 5, "sigma": (0.1, 0.5),
                            "value_range": (0, 1), "seed": 3}, (6, 6, 2)),
    ("MixUp", {}, (4, 4, 3)),
    ("MixUp", {"alpha": 0.4, "seed": 2}, (4, 4, 3)),
    ("CutMix", {}, (4, 4, 3)),
    ("CutMix", {"factor": (0.2, 0.6), "seed": 4}, (4, 4, 1)),
    ("RandomPerspective", {}, (4, 4, 1)),
    ("RandomPerspective", {"factor": (0.2, 0.5), "scale": 0.4, "interpolation": "nearest",
                           "fill_value": 1.0, "seed": 5}, (5, 5, 2)),
    ("RandomElasticTransform", {}, (4, 4, 1)),
    ("RandomElasticTransform", {"factor": 0.5, "scale": (0.1, 0.3), "interpolation": "nearest",
                                "fill_mode": "mirror", "fill_value": 2.0, "value_range": (0, 1),
                                "seed": 6}, (5, 5, 2)),
    ("RandAugment", {}, (4, 4, 3)),
    ("RandAugment", {"value_range": (0, 1), "num_ops": 3, "factor": (0.2, 0.6),
                     "interpolation": "nearest", "seed": 3}, (4, 4, 3)),
    ("AugMix", {}, (4, 4, 3)),
    ("AugMix", {"value_range": (0, 1), "num_chains": 2, "chain_depth": 1, "factor": 0.5,
                "alpha": 0.5, "all_ops": False, "interpolation": "nearest", "seed": 2}, (4, 4, 3)),
    ("Cropping2D", {"cropping": ((1, 0), (0, 2))}, (5, 6, 1)),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 1))}, (3, 3, 2)),
    ("UpSampling2D", {"size": 2}, (3, 3, 2)),
    ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (3, 3, 1)),
    ("Cropping1D", {"cropping": (1, 2)}, (6, 2)),
    ("ZeroPadding1D", {"padding": (2, 1)}, (3, 2)),
    ("UpSampling1D", {"size": 3}, (3, 2)),
    ("RepeatVector", {"n": 3}, (4,)),
    ("Conv3D", {"filters": 2, "kernel_size": (2, 3, 2), "strides": (1, 2, 1), "padding": "same",
                "activation": "relu"}, (4, 5, 4, 2)),
    ("Conv3D", {"filters": 4, "kernel_size": 2, "groups": 2, "dilation_rate": 2,
                "use_bias": False}, (5, 5, 5, 2)),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "kernel_constraint": "unit_norm",
                "bias_regularizer": "l2"}, (3, 3, 3, 1)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                         "output_padding": 1}, (3, 3, 3, 2)),
    ("Conv3DTranspose", {"filters": 3, "kernel_size": (2, 1, 2), "strides": (2, 1, 1),
                         "bias_constraint": "non_neg"}, (2, 3, 3, 2)),
    ("MaxPooling3D", {"pool_size": (2, 3, 2), "strides": 1, "padding": "same"}, (4, 4, 4, 2)),
    ("AveragePooling3D", {"pool_size": 2}, (4, 4, 4, 2)),
    ("GlobalAveragePooling3D", {"keepdims": True}, (3, 3, 3, 2)),
    ("GlobalMaxPooling3D", {}, (3, 3, 3, 2)),
    ("UpSampling3D", {"size": (2, 1, 3)}, (2, 2, 2, 1)),
    ("ZeroPadding3D", {"padding": ((1, 0), (0, 2), (1, 1))}, (2, 2, 2, 1)),
    ("Cropping3D", {"cropping": ((1, 0), (1, 2), (0, 1))}, (3, 5, 4, 1)),
    ("SpatialDropout3D", {"rate": 0.2, "seed": 3}, (2, 2, 2, 2)),
    ("SimpleRNN", {"units": 3}, (4, 2)),
    ("SimpleRNN", {"units": 2, "activation": "relu", "use_bias": False, "return_sequences": True,
                   "go_backwards": True, "dropout": 0.1, "recurrent_constraint": "unit_norm"},
     (4, 3)),
    ("LSTM", {"units": 3, "return_sequences": True}, (5, 2)),
    ("LSTM", {"units": 2, "unit_forget_bias": False, "recurrent_activation": "hard_sigmoid",
              "dropout": 0.2, "recurrent_dropout": 0.1, "seed": 1, "kernel_regularizer": "l2",
              "go_backwards": True, "unroll": True}, (3, 2)),
    ("GRU", {"units": 3}, (4, 2)),
    ("GRU", {"units": 2, "reset_after": False, "return_sequences": True, "use_bias": False,
             "activation": "softsign", "recurrent_initializer": "glorot_uniform"}, (4, 3)),
    ("GRU", {"units": 2, "go_backwards": True, "bias_constraint": "non_neg",
             "bias_regularizer": "l1", "use_cudnn": False}, (3, 2)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True},
     (3, 4, 4, 1)),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "padding": "same"}, (2, 3, 3, 2, 1)),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 2, "strides": 2, "go_backwards": True,
                    "unit_forget_bias": False, "recurrent_dropout": 0.1}, (3, 5, 2)),
    # weight constraints, by name and as Keras's entries
    ("Dense", {"units": 3, "kernel_constraint": "max_norm", "bias_constraint": "non_neg"}, (4,)),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "kernel_constraint": "unit_norm"}, (5, 2)),
    ("Conv2D", {"filters": 2, "kernel_size": 2, "bias_constraint": "unit_norm",
                "kernel_constraint": {"class_name": "MaxNorm",
                                      "config": {"max_value": 1.5, "axis": [0, 1, 2]}}},
     (4, 4, 2)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "bias_constraint": "non_neg"}, (3, 3, 2)),
    ("DepthwiseConv2D", {"kernel_size": 2, "depthwise_constraint": "unit_norm"}, (4, 4, 2)),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 2, "depthwise_constraint": "non_neg",
                         "pointwise_constraint": {
                             "module": "keras.constraints", "class_name": "MinMaxNorm",
                             "config": {"min_value": 0.5, "max_value": 1.0, "rate": 0.5,
                                        "axis": [0, 1, 2]}, "registered_name": None},
                         "bias_constraint": "max_norm"}, (4, 4, 2)),
    ("BatchNormalization", {"beta_constraint": "non_neg", "gamma_constraint": "max_norm"}, (3,)),
    ("LayerNormalization", {"gamma_constraint": "non_neg"}, (3, 2)),
    ("GroupNormalization", {"groups": 1, "beta_constraint": "non_neg", "gamma_regularizer": "l2"},
     (3, 2)),
    ("Embedding", {"input_dim": 5, "output_dim": 2, "embeddings_constraint": "unit_norm"}, (3,)),
    ("ReversibleEmbedding", {"input_dim": 5, "output_dim": 2}, (3,)),
    ("ReversibleEmbedding", {"input_dim": 6, "output_dim": 2, "tie_weights": False,
                             "logit_soft_cap": 2.0, "reverse_dtype": "float32",
                             "mask_zero": True}, (3,)),
    ("PReLU", {"alpha_constraint": "non_neg"}, (4,)),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, (1,)),
    ("CategoryEncoding", {"num_tokens": 3}, (2,)),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, (3,)),
    ("Discretization", {"bin_boundaries": [0.25, 0.5, 0.75]}, (4,)),
    ("Discretization", {"bin_boundaries": [0.3, 0.6], "output_mode": "one_hot", "epsilon": 0.05},
     (1,)),
    ("Discretization", {"bin_boundaries": [0.5], "output_mode": "count"}, (3,)),
    # Keras names its STFT windows through SciPy (not a test extra): windows as arrays or None
    ("STFTSpectrogram", {"frame_length": 4, "window": [0.5, 1.0, 0.75, 0.25]}, (12, 2)),
    ("STFTSpectrogram", {"mode": "stft", "frame_length": 4, "frame_step": 2, "fft_length": 8,
                         "window": None, "scaling": "spectrum", "padding": "same",
                         "expand_dims": True}, (10, 1)),
    ("STFTSpectrogram", {"mode": "imag", "frame_length": 4, "window": None, "periodic": True,
                         "scaling": None, "data_format": "channels_first"}, (2, 12)),
    ("STFTSpectrogram", {"mode": "psd", "frame_length": 4, "window": [1.0, 0.5, 0.5, 1.0],
                         "trainable": False}, (9, 1)),
    ("MelSpectrogram", {"fft_length": 16, "sequence_stride": 4, "num_mel_bins": 4,
                        "sampling_rate": 800, "ref_power": 1e-3}, (40,)),  # no decibels near 0
    ("MelSpectrogram", {"fft_length": 8, "sequence_stride": 3, "sequence_length": 6,
                        "window": "hamming", "num_mel_bins": 3, "sampling_rate": 1000,
                        "min_freq": 50.0, "max_freq": 400.0, "power_to_db": False,
                        "mag_exp": 0.5}, (20,)),
]  # fmt: skip
MERGING = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
# arguments whose tuples and lists a config keeps apart, beyond LAYERS's (a shape of None: the
# layer unbuilt)
TYPED: list[tuple[str, dict[str, Any], tuple[int, ...] | None]] = [
    ("InputLayer", {"shape": ()}, None),
    ("InputLayer", {"batch_shape": [None, 3]}, None),
    ("Conv2D", {"filters": 2, "kernel_size": [2, 3], "strides": [1, 2]}, (6, 6, 1)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2, "output_padding": [1, 0]},
     (3, 3, 1)),
    ("MaxPooling2D", {"pool_size": [2, 2], "strides": [1, 1]}, None),
    ("Normalization", {"axis": None}, None),
    ("Normalization", {"axis": [1, 2]}, None),
    ("Dropout", {"rate": 0.1, "noise_shape": [None, 1]}, None),
    ("AlphaDropout", {"rate": 0.1, "noise_shape": [None, 1]}, None),
    ("Softmax", {"axis": (1, 2)}, (3, 3, 2)),
    ("Softmax", {"axis": [1, 2]}, (3, 3, 2)),
    ("RandomBrightness", {"factor": 0.2, "value_range": (1, 0)}, None),
    ("RandomContrast", {"factor": 0.2, "value_range": [0, 1]}, None),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "attention_axes": (1,)}, None),
]  # fmt: skip


def _ids(cases: list[tuple]) -> list[str]:
    return [f"{name}-{i}" for i, (name, *_) in enumerate(cases)]


def _plain(value: Any) -> Any:
    """A config as its JSON text would give it back (tuples as lists)."""
    return json.loads(json.dumps(value))


def _rounded(value: Any) -> Any:
    """``value`` with its floats to float32 precision (Keras keeps some as float32)."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_rounded(item) for item in value)
    if isinstance(value, float):
        return float(np.float32(value))
    return value


def _deterministic_weights(model: Any) -> list[np.ndarray]:
    """A fixed pattern for every weight (a variance kept positive)."""
    values = []
    for i, w in enumerate(model.weights):
        shape = tuple(w.shape)
        value = np.sin(np.arange(int(np.prod(shape))) * 0.37 + i).reshape(shape) * 0.3
        if "variance" in w.name:
            value = np.abs(value) + 0.5
        values.append(value.astype(np.float32))
    return values


def _inputs(shape: tuple[int, ...], n: int = 3) -> np.ndarray:
    return np.random.default_rng(1).random((n, *shape)).astype(np.float32)


def _autoconv_model(name: str, kwargs: dict, shape: tuple) -> ac.Model:
    return ac.Sequential([ac.layers.Input(shape=shape), getattr(ac.layers, name)(**kwargs)])


def _keras_model(name: str, kwargs: dict, shape: tuple) -> Any:
    return keras.Sequential([keras.Input(shape=shape), getattr(keras.layers, name)(**kwargs)])


def _configs(name: str, kwargs: dict, shape: tuple | None) -> tuple[dict, dict]:
    """autoconv's and Keras's config of the layer (built in a model for ``shape``, or not
    built), less their names (and RandomCrop's seed, which each drew for itself)."""
    if shape is None:
        ours = getattr(ac.layers, name)(**kwargs).get_config()
        theirs = getattr(keras.layers, name)(**kwargs).get_config()
    else:
        ours = _autoconv_model(name, kwargs, shape).layers[-1].get_config()
        theirs = _keras_model(name, kwargs, shape).layers[-1].get_config()
    ours.pop("name"), theirs.pop("name")
    if name == "RandomCrop":
        assert isinstance(ours.pop("seed"), int) and isinstance(theirs.pop("seed"), int)
    return ours, theirs


@pytest.mark.parametrize(("name", "kwargs", "shape"), LAYERS, ids=_ids(LAYERS))
def test_a_layers_config_is_the_one_keras_writes(name, kwargs, shape):
    ours, theirs = _configs(name, kwargs, shape)
    assert _rounded(_plain(ours)) == _rounded(_plain(theirs))


@pytest.mark.parametrize(("name", "kwargs", "shape"), LAYERS + TYPED, ids=_ids(LAYERS + TYPED))
def test_a_layers_config_has_kerass_tuples_and_lists(name, kwargs, shape):
    """A tuple where Keras's config has a tuple (``kernel_size == (5, 5)``), a list where it
    has a list (Keras's TrackedList is a list): a tuple never equals a list."""
    ours, theirs = _configs(name, kwargs, shape)
    assert _rounded(ours) == _rounded(theirs)


@pytest.mark.parametrize(("name", "kwargs", "shape"), LAYERS, ids=_ids(LAYERS))
def test_autoconvs_file_of_a_layer_loads_in_keras_with_the_same_predictions(
    tmp_path, name, kwargs, shape
):
    model = _autoconv_model(name, kwargs, shape)
    model.set_weights(_deterministic_weights(model))
    x = _inputs(shape)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in model.weights]
    np.testing.assert_allclose(
        np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0), **TOLERANCE
    )


@pytest.mark.parametrize(("name", "kwargs", "shape"), LAYERS, ids=_ids(LAYERS))
def test_keras_file_of_a_layer_loads_in_autoconv_with_the_same_predictions(
    tmp_path, name, kwargs, shape
):
    model = _keras_model(name, kwargs, shape)
    model.set_weights(_deterministic_weights(model))
    x = _inputs(shape)
    expected = np.asarray(model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    ours = ac.saving.load_model(tmp_path / "m.keras")
    assert type(ours.layers[-1]).__name__ == name
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, **TOLERANCE)
    built = _autoconv_model(name, kwargs, shape)
    built.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, **TOLERANCE)


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("input_dtype", [None, "int32"])
@pytest.mark.parametrize("direction", ["keras to autoconv", "autoconv to keras"])
def test_an_embedding_model_travels_with_its_lookups(tmp_path, direction, input_dtype, mask_zero):
    """Integer inputs (the generic cases above feed floats in [0, 1): index 0 only), also
    through an Input of Keras's integer dtype; with ``mask_zero`` the average leaves the
    padding (index 0) out."""
    x = np.random.default_rng(2).integers(0, 10, (4, 5))
    x[:, 3:] = 0

    def build(lib: Any) -> Any:
        stack = [lib.layers.Embedding(10, 3, mask_zero=mask_zero),
                 lib.layers.GlobalAveragePooling1D()]  # fmt: skip
        inputs = lib.Input(shape=(5,), dtype=input_dtype)
        model = lib.Sequential([inputs, *stack, lib.layers.Dense(2)])
        model.set_weights(_deterministic_weights(model))
        return model

    source, load = (keras, ac.saving.load_model)
    if direction == "autoconv to keras":
        source, load = (ac, keras.saving.load_model)
    model = build(source)
    model.save(tmp_path / "m.keras")
    expected = np.asarray(build(keras).predict(x, verbose=0))
    loaded = load(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected, **TOLERANCE)


@pytest.mark.parametrize("name", MERGING)
def test_merging_layers_travel_both_ways(tmp_path, name):
    kwargs = {"axis": -1} if name == "Concatenate" else {}
    a, b = _inputs((4,)), _inputs((4,), 3)[::-1].copy()

    def build(lib: Any) -> Any:
        left, right = lib.Input(shape=(4,)), lib.Input(shape=(4,))
        merged = getattr(lib.layers, name)(**kwargs)([lib.layers.Dense(4)(left), right])
        return lib.Model([left, right], lib.layers.Dense(2)(merged))

    ours, theirs = build(ac), build(keras)
    theirs.set_weights(_deterministic_weights(theirs))
    ours.set_weights(_deterministic_weights(ours))
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    from_keras = ac.saving.load_model(tmp_path / "keras.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    expected = np.asarray(theirs.predict([a, b], verbose=0))
    np.testing.assert_allclose(from_keras.predict([a, b], verbose=0), expected, **TOLERANCE)
    np.testing.assert_allclose(ours.predict([a, b], verbose=0), expected, **TOLERANCE)
    np.testing.assert_allclose(
        np.asarray(from_ours.predict([a, b], verbose=0)), expected, **TOLERANCE
    )


# ------------------------------------------------------------------------- optimizers
OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Lamb", {"learning_rate": 0.01}),
    ("Adafactor", {"learning_rate": 0.01}),  # r and c of the kernels only
    ("Lion", {"learning_rate": 0.001}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.01, "clipnorm": 1.0}),
    # the base class's moving averages and gradient accumulators, before the class's slots
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_overwrite_frequency": 2}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "gradient_accumulation_steps": 2}),
    ("Adafactor", {"learning_rate": 0.01, "use_ema": True, "clip_threshold": 0.5}),
    (
        "Nadam",
        {
            "learning_rate": 0.01,
            "use_ema": True,
            "ema_momentum": 0.5,
            "gradient_accumulation_steps": 3,
        },
    ),
    (
        "RMSprop",
        {
            "learning_rate": 0.01,
            "centered": True,
            "use_ema": True,
            "gradient_accumulation_steps": 2,
            "clipnorm": 1.0,
        },
    ),
]


def _classifier(lib: Any) -> Any:
    return lib.Sequential(
        [lib.Input(shape=(6, 6, 1)), lib.layers.Conv2D(2, 3, activation="relu"),
         lib.layers.BatchNormalization(),
         lib.layers.Flatten(), lib.layers.Dense(3, activation="softmax")]
    )  # fmt: skip


def _batch() -> tuple[np.ndarray, np.ndarray]:
    x = _inputs((6, 6, 1), 8)
    return x, np.eye(3, dtype=np.float32)[np.arange(8) % 3]


def _trained(lib: Any, name: str, kwargs: dict) -> Any:
    model = _classifier(lib)
    model.set_weights(_deterministic_weights(model))
    optimizer = getattr(lib.optimizers, name)(**kwargs)
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    x, y = _batch()
    model.train_on_batch(x, y)
    model.train_on_batch(x[::-1], y[::-1])
    return model


def _keras_slots(model: Any) -> list[np.ndarray]:
    """Keras's optimizer variables after its step count and learning rate, in its order."""
    return [np.asarray(v) for v in model.optimizer.variables[2:]]


@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZERS, ids=_ids(OPTIMIZERS))
def test_training_keras_started_resumes_in_autoconv(tmp_path, name, kwargs):
    theirs = _trained(keras, name, kwargs)
    theirs.save(tmp_path / "m.keras")
    ours = ac.saving.load_model(tmp_path / "m.keras")
    assert type(ours.optimizer).__name__ == name
    assert ours.optimizer.iterations == 2
    x, y = _batch()
    theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZERS, ids=_ids(OPTIMIZERS))
def test_training_autoconv_started_resumes_in_keras(tmp_path, name, kwargs):
    ours = _trained(ac, name, kwargs)
    ours.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    assert type(theirs.optimizer).__name__ == name
    assert int(theirs.optimizer._iterations) == 2  # the steps; Keras's iterations, the updates
    assert int(theirs.optimizer.iterations) == ours.optimizer.update_iterations
    reference = _trained(keras, name, kwargs)  # the same two steps taken by Keras itself
    for a, b in zip(_keras_slots(theirs), _keras_slots(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    x, y = _batch()
    theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"use_ema": True},
        {"use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 3},
        {"gradient_accumulation_steps": 3, "global_clipnorm": 0.5},
        {"use_ema": True, "gradient_accumulation_steps": 2, "ema_overwrite_frequency": 2},
    ],
)
def test_fit_with_moving_averages_or_accumulation_ends_where_keras_does(kwargs):
    """Whole fits: the averages after every step, the overwrites, the accumulated updates, and
    the weights set to their averages when fit ends (finalize_variable_values)."""
    x, y = _inputs((6, 6, 1), 20), np.eye(3, dtype=np.float32)[np.arange(20) % 3]
    models = []
    for lib in (keras, ac):
        model = _classifier(lib)
        model.set_weights(_deterministic_weights(model))
        model.compile(lib.optimizers.Adam(0.02, **kwargs), "categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        models.append(model)
    for theirs, ours in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=1e-5)
