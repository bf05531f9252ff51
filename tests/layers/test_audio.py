"""STFTSpectrogram and MelSpectrogram against real Keras 3.15 (its PyTorch backend, where
installed): outputs and gradients with the same weights in float64 for every mode and option,
weights and parameter counts, the initial Fourier kernels, configs, errors; a float64
gradcheck; a model of them trained as in Keras and its files both ways; and a short fit on the
CPU and on the CUDA device (the simulator) giving the same losses.

Keras computes its named STFT windows with SciPy (not installed here): its layers are given the
same windows as arrays, and autoconv's windows are checked against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.initializers import get_window
from autoconv.layers.audio import MelSpectrogram, STFTSpectrogram
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]
# (input shape, arguments): every mode, window, scaling, padding and layout
STFT_CASES = [
    ((2, 20, 2), {"mode": "log", "frame_length": 6, "frame_step": 2}),
    ((2, 19, 1), {"mode": "magnitude", "frame_length": 5, "fft_length": 8, "window": "hamming",
                  "padding": "same"}),
    ((1, 16, 3), {"mode": "psd", "frame_length": 4, "frame_step": 3, "scaling": "spectrum",
                  "periodic": True}),
    ((2, 15, 2), {"mode": "real", "frame_length": 6, "fft_length": 16, "window": "blackman",
                  "expand_dims": True}),
    ((2, 3, 17), {"mode": "imag", "frame_length": 5, "frame_step": 2, "window": "bartlett",
                  "data_format": "channels_first"}),
    ((2, 18, 2), {"mode": "angle", "frame_length": 6, "frame_step": 4, "scaling": None,
                  "padding": "same", "expand_dims": True}),
    ((1, 2, 14), {"mode": "stft", "frame_length": 4, "window": None,
                  "data_format": "channels_first", "expand_dims": True}),
    ((2, 16, 1), {"mode": "log", "frame_length": 4, "frame_step": 4, "window": "boxcar",
                  "data_format": "channels_first", "padding": "same"}),
    ((1, 12, 2), {"mode": "psd", "frame_length": 5, "window": [0.2, 1.0, 0.5, 0.7, 0.1]}),
]  # fmt: skip
STFT_IDS = [f"{kwargs['mode']}-{i}" for i, (_, kwargs) in enumerate(STFT_CASES)]
MEL_CASES = [
    ((2, 40), {"fft_length": 16, "sequence_stride": 4, "num_mel_bins": 5, "sampling_rate": 800}),
    ((41,), {"fft_length": 16, "sequence_stride": 5, "sequence_length": 10, "window": "hamming",
             "num_mel_bins": 4, "sampling_rate": 1000, "min_freq": 50.0, "max_freq": 400.0,
             "power_to_db": False, "top_db": None, "mag_exp": 1.0}),
    ((3, 33), {"fft_length": 8, "sequence_stride": 3, "window": None, "num_mel_bins": 3,
               "sampling_rate": 200, "top_db": 12.0, "ref_power": 0.5, "min_power": 1e-3}),
    ((2, 30), {"fft_length": 12, "sequence_stride": 7, "sequence_length": 9,
               "window": [0.3, 0.5, 0.9, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1], "num_mel_bins": 3,
               "sampling_rate": 300, "mag_exp": 3.0}),
]  # fmt: skip
MEL_IDS = [f"mel-{i}" for i in range(len(MEL_CASES))]
# Keras rounds to float32 where a float64 tensor meets a Python float (the epsilon floors, its
# arctan2): autoconv, in float64 throughout, agrees with it to float32's precision.
FLOAT64_TOLERANCE = {"rtol": 2e-6, "atol": 2e-6}


def keras_arguments(kwargs: dict) -> dict:
    """``kwargs`` for Keras's STFTSpectrogram: a named window as the array it stands for."""
    window = kwargs.get("window", "hann")
    if not isinstance(window, str):
        return kwargs
    frame_length = kwargs["frame_length"]
    return kwargs | {"window": get_window(window, frame_length, kwargs.get("periodic", False))
                     .tolist()}  # fmt: skip


def kernels_for(layer, rng) -> list[np.ndarray]:
    """Random kernels away from the Fourier ones, so that a misplaced weight shows."""
    return [w.numpy() + rng.uniform(-0.3, 0.3, w.shape) for w in layer.weights]


def stft_pair(keras, kwargs, shape, rng, dtype="float64"):
    """autoconv's and Keras's STFTSpectrogram, built for ``shape``, with the same random
    kernels (after checking that both start from the same Fourier kernels)."""
    ours = STFTSpectrogram(dtype=dtype, **kwargs)
    theirs = keras.layers.STFTSpectrogram(dtype=dtype, **keras_arguments(kwargs))
    ours.build((None, *shape[1:]))
    theirs.build((None, *shape[1:]))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-6, atol=1e-6)
    values = [v.astype(dtype) for v in kernels_for(ours, rng)]
    ours.set_weights(values)
    theirs.set_weights(values)
    return ours, theirs


def outputs_and_gradients(ours, theirs, x, rng) -> tuple[list, list]:
    """Each layer's output on x, the gradient of x and of each weight, for one upstream."""
    import torch

    mine = ac.Tensor(x, requires_grad=True)
    out = ours(mine)
    upstream = rng.standard_normal(out.shape)
    (out * upstream).sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference)
    (expected * torch.tensor(upstream)).sum().backward()
    return (
        [out.numpy(), mine.grad, *(w.grad for w in ours.weights)],
        [expected.detach().numpy(), reference.grad.numpy(),
         *(w.value.grad.numpy() for w in theirs.weights)],
    )  # fmt: skip


@pytest.mark.parametrize(("shape", "kwargs"), STFT_CASES, ids=STFT_IDS)
def test_stft_outputs_and_gradients_match_keras(keras, shape, kwargs, rng):
    ours, theirs = stft_pair(keras, kwargs, shape, rng)
    x = rng.standard_normal(shape)
    mine, expected = outputs_and_gradients(ours, theirs, x, rng)
    assert mine[0].shape == tuple(theirs.compute_output_shape(shape))
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    for got, want in zip(mine, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mine[0], expected[0], **FLOAT64_TOLERANCE)


@pytest.mark.parametrize(("shape", "kwargs"), STFT_CASES[:4], ids=STFT_IDS[:4])
def test_stft_float32_outputs_match_keras(keras, shape, kwargs, rng):
    ours, theirs = stft_pair(keras, kwargs, shape, rng, dtype="float32")
    x = rng.standard_normal(shape).astype(np.float32)
    out = ours(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), np.asarray(theirs(x).detach()), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize(("shape", "kwargs"), STFT_CASES, ids=STFT_IDS)
def test_gradcheck_through_the_stft_layer(shape, kwargs, rng):
    layer = STFTSpectrogram(dtype="float64", **kwargs)
    layer.build((None, *shape[1:]))
    names = [w.path.split("/")[-1] for w in layer.weights]

    def fn(x, *kernels):
        for name, kernel in zip(names, kernels, strict=True):
            setattr(layer, name, kernel)  # the call reads them: gradients reach them
        return layer(x)

    assert gradcheck(fn, [rng.standard_normal(shape), *kernels_for(layer, rng)])


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "bartlett"])
@pytest.mark.parametrize("length", [1, 2, 5, 8])
@pytest.mark.parametrize("periodic", [False, True])
def test_named_windows_are_scipys(name, length, periodic):
    """scipy.signal.get_window(name, length, fftbins=periodic), which PyTorch's windows equal
    (a periodic window of one point is [1.0] in SciPy)."""
    torch = pytest.importorskip("torch")
    expected = getattr(torch, f"{name}_window")(length, periodic=periodic, dtype=torch.float64)
    if length == 1:
        expected = torch.ones(1, dtype=torch.float64)
    np.testing.assert_allclose(get_window(name, length, periodic), expected.numpy(), atol=1e-15)
    np.testing.assert_array_equal(get_window("boxcar", length, periodic), np.ones(length))


def test_stft_is_the_fourier_transform_of_each_frame(rng):
    """The "stft" mode of a rectangular window without scaling is numpy.fft.rfft of each
    frame zero-padded to fft_length (its bins' frequencies k / fft_length)."""
    x = rng.standard_normal((2, 20, 3))
    layer = STFTSpectrogram("stft", 6, 2, 8, window=None, scaling=None, expand_dims=True,
                            dtype="float64")  # fmt: skip
    out = layer(x).numpy()  # (batch, frames, 2 * bins, channels)
    frames = np.stack([x[:, t : t + 6] for t in range(0, 15, 2)], axis=1)
    spectrum = np.fft.rfft(frames, 8, axis=2)
    np.testing.assert_allclose(out[:, :, :5], spectrum.real, atol=1e-12)
    np.testing.assert_allclose(out[:, :, 5:], spectrum.imag, atol=1e-12)
    assert STFTSpectrogram(frame_length=8).compute_output_shape((None, None, 2)) == (None, None, 10)


def keras_mel_matrix(keras, layer) -> np.ndarray:
    """Keras's (float32) matrix of ``layer``'s mel bins."""
    matrix = keras.layers.MelSpectrogram().linear_to_mel_weight_matrix(
        layer.num_mel_bins, layer.fft_length // 2 + 1, layer.sampling_rate, layer.min_freq,
        layer.max_freq,
    )  # fmt: skip
    return np.asarray(matrix)


@pytest.mark.parametrize(("shape", "kwargs"), MEL_CASES, ids=MEL_IDS)
def test_mel_outputs_and_gradients_match_keras(keras, shape, kwargs, rng, monkeypatch):
    """With Keras's matrix, the same numbers (Keras computes its matrix in float32; autoconv's
    own, in float64, is checked against it next)."""
    ours = MelSpectrogram(dtype="float64", **kwargs)
    theirs = keras.layers.MelSpectrogram(dtype="float64", **kwargs)
    x = rng.standard_normal(shape)
    matrix = keras_mel_matrix(keras, ours)
    monkeypatch.setattr(ours, "linear_to_mel_weight_matrix", lambda *a: matrix.astype(a[-1]))
    mine, expected = outputs_and_gradients(ours, theirs, x, rng)
    assert mine[0].shape == tuple(theirs.compute_output_shape(shape))
    for got, want in zip(mine, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("shape", "kwargs"), MEL_CASES, ids=MEL_IDS)
def test_mel_matrix_and_float32_outputs_match_keras(keras, shape, kwargs, rng):
    ours, theirs = MelSpectrogram(**kwargs), keras.layers.MelSpectrogram(**kwargs)
    matrix = ours.linear_to_mel_weight_matrix(
        ours.num_mel_bins, ours.fft_length // 2 + 1, ours.sampling_rate, ours.min_freq,
        ours.max_freq, "float64",
    )  # fmt: skip
    np.testing.assert_allclose(matrix, keras_mel_matrix(keras, ours), atol=5e-5)
    x = rng.standard_normal(shape).astype(np.float32)
    out = ours(x)
    assert out.dtype == np.float32 and out.shape == tuple(theirs.compute_output_shape(shape))
    expected = np.asarray(theirs(x))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


@pytest.mark.parametrize(("shape", "kwargs"), MEL_CASES, ids=MEL_IDS)
def test_gradcheck_through_the_mel_layer(shape, kwargs, rng):
    layer = MelSpectrogram(dtype="float64", **kwargs)
    assert gradcheck(layer, [rng.standard_normal(shape)])


def test_mel_frames_and_decibels(rng):
    """1 + samples // stride frames (where Keras's compute_output_shape says
    (samples + stride + 1) // stride, one more when stride divides samples + 1); decibels
    floored at the batch's maximum - top_db."""
    layer = MelSpectrogram(8, 4, num_mel_bins=3, sampling_rate=100, top_db=5.0, dtype="float64")
    x = rng.standard_normal((2, 23))
    out = layer(x).numpy()
    assert out.shape == layer.compute_output_shape((2, 23)) == (2, 3, 6)
    assert out.min() == pytest.approx(out.max() - 5.0)
    power = MelSpectrogram(8, 4, num_mel_bins=3, sampling_rate=100, power_to_db=False,
                           dtype="float64")(x).numpy()  # fmt: skip
    np.testing.assert_allclose(out, np.maximum(10 * np.log10(power), out.max() - 5.0), atol=1e-12)


def test_array_windows_are_kept_as_lists_and_saved(tmp_path, rng):
    window = np.hanning(6)
    stft = STFTSpectrogram(frame_length=6, window=window, dtype="float64")
    mel = MelSpectrogram(16, 4, 6, ac.Tensor(window), num_mel_bins=3, sampling_rate=400)
    assert stft.get_config()["window"] == mel.get_config()["window"] == window.tolist()
    x = rng.standard_normal((1, 12, 1))
    named = STFTSpectrogram(frame_length=6, window="hann", dtype="float64")  # symmetric: the same
    np.testing.assert_allclose(stft(x).numpy(), named(x).numpy(), rtol=1e-12)
    model = ac.Sequential([ac.Input((30,)), mel])
    model.save(tmp_path / "mel.keras")
    x = rng.standard_normal((2, 30)).astype(np.float32)
    loaded = ac.saving.load_model(tmp_path / "mel.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


CONFIG_CASES = [
    ("STFTSpectrogram", {"window": [0.5, 1.0, 0.5, 0.25]  , "frame_length": 4}, (12, 2)),
    ("STFTSpectrogram", {"mode": "stft", "frame_length": 6, "frame_step": 2, "fft_length": 8,
                         "window": None, "periodic": True, "scaling": "spectrum",
                         "padding": "same", "expand_dims": True}, (12, 1)),
    ("STFTSpectrogram", {"mode": "angle", "frame_length": 4, "window": None, "scaling": None,
                         "data_format": "channels_first", "trainable": False}, (2, 12)),
    ("MelSpectrogram", {}, (3000,)),
    ("MelSpectrogram", {"fft_length": 64, "sequence_stride": 8, "sequence_length": 32,
                        "window": "hamming", "sampling_rate": 8000, "num_mel_bins": 16,
                        "min_freq": 40.0, "max_freq": 3000.0, "power_to_db": False,
                        "top_db": 60.0, "mag_exp": 1.0, "min_power": 1e-6, "ref_power": 2.0},
     (100,)),
    ("MelSpectrogram", {"window": None, "fft_length": 16}, (40,)),
]  # fmt: skip
CLASSES = {"STFTSpectrogram": STFTSpectrogram, "MelSpectrogram": MelSpectrogram}


@pytest.mark.parametrize(("name", "kwargs", "shape"), CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, name, kwargs, shape):
    ours = ac.Sequential([ac.Input(shape), CLASSES[name](**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config
    unbuilt = getattr(keras.layers, name)(**kwargs).get_config()
    assert {**CLASSES[name](**kwargs).get_config(), "name": None} == {**unbuilt, "name": None}
    assert len(ours.trainable_weights) == len(theirs.layers[-1].trainable_weights)


ERROR_CASES = [
    ("STFTSpectrogram", {"frame_length": 4, "frame_step": 5}, "`frame_step` should be a positive"),
    ("STFTSpectrogram", {"frame_length": 8, "fft_length": 4}, "`fft_length` should be not less"),
    ("STFTSpectrogram", {"mode": "power"}, "Output mode is invalid"),
    ("STFTSpectrogram", {"scaling": "l2"}, "Scaling is invalid"),
    ("STFTSpectrogram", {"padding": "causal"}, "Padding is invalid"),
    ("MelSpectrogram", {"fft_length": 16, "sequence_length": 32}, "`fft_length` must be greater"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), ERROR_CASES)
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=message):
        CLASSES[name](**kwargs)


def test_top_db_may_be_none_only_without_decibels():
    """Keras uses top_db only with power_to_db (its None there fails at the call): autoconv
    refuses that at construction."""
    assert MelSpectrogram(power_to_db=False, top_db=None).get_config()["top_db"] is None
    with pytest.raises(ValueError, match="top_db must be a number, got None"):
        MelSpectrogram(top_db=None)


def test_bad_windows_and_inputs_raise_before_any_work(keras):
    x = np.zeros((1, 12, 1), np.float32)
    with pytest.raises(ValueError, match=r"The shape of `window` must be equal to \[frame_len"):
        keras.layers.STFTSpectrogram(frame_length=4, window=[1.0, 2.0])(x)
    with pytest.raises(ValueError, match=r"The shape of `window` must be equal to \[frame_len"):
        STFTSpectrogram(frame_length=4, window=[1.0, 2.0])
    with pytest.warns(UserWarning, match="recommended to be a power of two"):
        STFTSpectrogram(frame_length=4, fft_length=6)
    with pytest.raises(ValueError, match="Unknown window 'kaiser'"):
        STFTSpectrogram(window="kaiser")
    with pytest.raises(ValueError, match='it must be one of `"hann"`, `"hamming"`'):
        keras.layers.MelSpectrogram(window="blackman")(np.zeros(3000, np.float32))
    with pytest.raises(ValueError, match='it must be one of `"hann"`, `"hamming"`'):
        MelSpectrogram(window="blackman")
    with pytest.raises(ValueError, match="min_freq must be >= 0 and below max_freq"):
        MelSpectrogram(sampling_rate=100, min_freq=60.0)
    with pytest.raises(ValueError, match="data_format"):
        STFTSpectrogram(data_format="channels_middle")
    with pytest.raises(ValueError, match="expected ndim=3"):
        STFTSpectrogram(frame_length=4)(np.zeros((12, 1), np.float32))
    with pytest.raises(ValueError, match="Computed output size would be negative"):
        STFTSpectrogram(frame_length=16)(x)
    with pytest.raises(ValueError, match="more than fft_length // 2 = 8 samples"):
        MelSpectrogram(fft_length=16)(np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(batch, samples\) or \(samples,\)"):
        MelSpectrogram(fft_length=16)(np.zeros((2, 2, 20), np.float32))


WINDOW = [0.1, 0.6, 1.0, 0.8, 0.3, 0.05]


def spectral_model(lib, stft_layer, mel_layer) -> object:
    """(batch, 24) signals through a trainable STFTSpectrogram and a MelSpectrogram, side by
    side, into a softmax; its weights a fixed pattern."""
    inputs = lib.Input((24,))
    stft = stft_layer(lib.layers.Reshape((24, 1))(inputs))
    mel = mel_layer(inputs)
    merged = lib.layers.Concatenate()([lib.layers.Flatten()(stft), lib.layers.Flatten()(mel)])
    model = lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(merged))
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def layers_of(module) -> tuple:
    return (
        module.STFTSpectrogram("log", 6, 3, 8, window=WINDOW, padding="same"),
        module.MelSpectrogram(
            16, 4, num_mel_bins=4, sampling_rate=400, power_to_db=False, mag_exp=1.0
        ),
    )


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 24)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]


def test_a_model_of_them_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    x, y = training_data()
    ours = spectral_model(ac, *layers_of(ac.layers))
    theirs = spectral_model(keras, *layers_of(keras.layers))
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.01), "categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-4, atol=1e-5)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    expected = ours.predict(x, verbose=0)
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    fit_on_both_devices(lambda: spectral_model(ac, *layers_of(ac.layers)), x, y)
