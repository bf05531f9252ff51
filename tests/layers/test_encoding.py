"""CategoryEncoding and Discretization against real Keras 3.15 (its PyTorch backend, where
installed): outputs, dtypes and shapes, configs, errors, and models of them; Discretization's
adapted boundaries against literal values Keras computed with TensorFlow (its adapt needs
TensorFlow); Tensors in and out on the CPU and on the CUDA device (the simulator), and a short
fit on both."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.data import Dataset
from autoconv.layers.encoding import CategoryEncoding, Discretization
from autoconv.layers.serialization import deserialize
from tests.layers.devices import fit_on_both_devices

CLASSES = {"CategoryEncoding": CategoryEncoding, "Discretization": Discretization}

# (layer, arguments, input, call arguments)
CASES = [
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, [3, 2, 0, 1], {}),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "one_hot"}, [[3], [4], [0]], {}),
    ("CategoryEncoding", {"num_tokens": 4}, [[0, 1], [0, 0], [1, 2], [3, 1]], {}),
    ("CategoryEncoding", {"num_tokens": 6, "output_mode": "binary"}, [1, 5, 5], {}),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "count"}, [[0, 1, 1], [3, 3, 2]], {}),
    ("CategoryEncoding", {"num_tokens": 3, "output_mode": "count"}, 2, {}),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "count"}, [[0, 1], [3, 3]],
     {"count_weights": [[0.1, 0.2], [0.5, 0.25]]}),
    ("CategoryEncoding", {"num_tokens": 3, "dtype": "float64"}, [[2, 1]], {}),
    ("Discretization", {"bin_boundaries": [0.0, 1.0, 2.0]}, [[-1.5, 1.0, 0.5], [2.0, 3.0, 0.0]],
     {}),
    ("Discretization", {"bin_boundaries": [0.5], "output_mode": "one_hot"}, [[0.1], [0.7]], {}),
    ("Discretization", {"bin_boundaries": [0.5, 1.5], "output_mode": "one_hot"}, [0.1, 2.0], {}),
    ("Discretization", {"bin_boundaries": [0.0, 1.0], "output_mode": "multi_hot"},
     [[-1.0, -2.0, 0.5], [3.0, 3.0, 3.0]], {}),
    ("Discretization", {"bin_boundaries": [0.0, 1.0], "output_mode": "count"},
     [[-1.0, -2.0, 0.5], [3.0, 0.2, 3.0]], {}),
]  # fmt: skip
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "kwargs", "x", "call"), CASES, ids=IDS)
def test_outputs_are_keras(keras, name, kwargs, x, call):
    ours = CLASSES[name](**kwargs)(np.asarray(x), **call)
    theirs = getattr(keras.layers, name)(**kwargs)(np.asarray(x), **call)
    expected = theirs.detach().numpy()
    assert isinstance(ours, np.ndarray) and ours.dtype == expected.dtype
    np.testing.assert_allclose(ours, expected, rtol=1e-7)
    assert CLASSES[name](**kwargs)(x, **call).tolist() == ours.tolist()  # lists too


@pytest.mark.parametrize(("name", "kwargs", "x", "call"), CASES, ids=IDS)
def test_a_tensor_gives_a_tensor_without_gradient(name, kwargs, x, call):
    layer = CLASSES[name](**kwargs)
    expected = layer(np.asarray(x), **call)
    tensor = ac.Tensor(np.asarray(x, np.float64), requires_grad=True)
    out = layer(tensor, **call)
    assert isinstance(out, ac.Tensor) and out.dtype == layer.dtype and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), expected)


SHAPES = [
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, (None,), (None, 4)),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, (None, 1), (None, 4)),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, (None, 3), (None, 3, 4)),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "count"}, (None, 3), (None, 4)),
    ("CategoryEncoding", {"num_tokens": 4}, (), (4,)),
    ("Discretization", {"bin_boundaries": [1.0]}, (None, 3), (None, 3)),
    ("Discretization", {"bin_boundaries": [1.0], "output_mode": "one_hot"}, (None, 1), (None, 2)),
    ("Discretization", {"bin_boundaries": [1.0, 2.0], "output_mode": "multi_hot"}, (None, 4, 5),
     (None, 5, 3)),
    ("Discretization", {"num_bins": 4, "output_mode": "count"}, (None,), (4,)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shape", "expected"), SHAPES)
def test_output_shapes_are_keras(keras, name, kwargs, shape, expected):
    assert CLASSES[name](**kwargs).compute_output_shape(shape) == expected
    assert getattr(keras.layers, name)(**kwargs).compute_output_shape(shape) == expected


CONFIGS = [
    ("CategoryEncoding", {"num_tokens": 7}),
    ("CategoryEncoding", {"num_tokens": 3, "output_mode": "count", "name": "codes"}),
    ("Discretization", {"bin_boundaries": [-1.0, 2.5]}),
    ("Discretization", {"num_bins": 3, "epsilon": 0.1, "output_mode": "multi_hot"}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_configs_are_keras_and_read_back(keras, name, kwargs):
    ours, theirs = CLASSES[name](**kwargs), getattr(keras.layers, name)(**kwargs)
    config = ours.get_config()
    assert {**config, "name": None} == {**theirs.get_config(), "name": None}
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config


# Discretization(**kwargs).adapt(data) by Keras 3.15.1 with TensorFlow 2.21 (its adapt needs
# TensorFlow): the boundaries it found.
ADAPTED = [
    ({"num_bins": 3}, np.arange(10.0), [2.3333332538604736, 5.666666507720947]),
    ({"num_bins": 4, "epsilon": 0.1}, np.sin(np.arange(50.0)).reshape(10, 5),
     [-0.7376564741134644, 0.0, 0.6940411329269409]),
    ({"num_bins": 5}, [np.arange(7.0), np.arange(5.0) * 2.5],  # a list: two batches
     [0.3999999761581421, 2.4000000953674316, 4.200000286102295, 5.600000381469727]),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "data", "expected"), ADAPTED)
def test_adapt_finds_kerass_boundaries(kwargs, data, expected):
    layer = Discretization(**kwargs)
    layer.adapt(data)
    np.testing.assert_allclose(layer.bin_boundaries, expected, rtol=1e-6)
    config = layer.get_config()
    assert config["bin_boundaries"] == layer.bin_boundaries and config["num_bins"] is not None
    clone = Discretization.from_config(config)  # both set: the boundaries kept, as Keras
    assert clone.bin_boundaries == layer.bin_boundaries
    x = np.linspace(-1, 10, 7)
    np.testing.assert_array_equal(clone(x), np.digitize(x.astype(np.float32),
                                                        np.float32(expected)))  # fmt: skip


def test_adapt_takes_a_dataset_and_steps():
    data = np.arange(10.0)
    whole, first = Discretization(num_bins=3), Discretization(num_bins=3)
    whole.adapt(Dataset.from_tensor_slices(data).batch(5))
    first.adapt(Dataset.from_tensor_slices(np.concatenate([data, data + 100])).batch(10), steps=1)
    np.testing.assert_allclose(whole.bin_boundaries, [2.3333332538604736, 5.666666507720947])
    assert first.bin_boundaries == whole.bin_boundaries


ERRORS = [
    ("CategoryEncoding", {}, "num_tokens must be set"),
    ("CategoryEncoding", {"num_tokens": 0}, "`num_tokens` must be >= 1"),
    ("CategoryEncoding", {"num_tokens": 3, "output_mode": "int"}, "Unknown arg for output_mode"),
    ("Discretization", {}, "You need to set either `num_bins` or `bin_boundaries`"),
    ("Discretization", {"num_bins": 2, "bin_boundaries": [1.0]}, "should not be set"),
    ("Discretization", {"num_bins": -1}, "must be greater than or equal to 0"),
    ("Discretization", {"num_bins": 2, "output_mode": "tf_idf"}, "`output_mode` argument"),
    ("Discretization", {"num_bins": 2, "sparse": True}, "`sparse=True`"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), ERRORS)
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=message):
        CLASSES[name](**kwargs)


def test_other_errors():
    with pytest.raises(ValueError, match="no sparse tensors"):
        CategoryEncoding(3, sparse=True)
    with pytest.raises(ValueError, match="no sparse tensors"):
        Discretization([1.0], output_mode="count", sparse=True)
    with pytest.raises(ValueError, match=r"0 <= values < num_tokens with num_tokens=3"):
        CategoryEncoding(3)([1, 3])
    with pytest.raises(ValueError, match="`count_weights` is not used"):
        CategoryEncoding(3)([1, 2], count_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="call `adapt"):
        Discretization(num_bins=2)([1.0])
    with pytest.raises(ValueError, match="Cannot adapt a Discretization layer"):
        Discretization([1.0]).adapt([1.0, 2.0])


def encoding_model(lib):
    """A model of both layers on a float feature and an integer feature."""
    floats, ints = lib.Input((3,)), lib.Input((2,))
    buckets = lib.layers.Discretization([-0.5, 0.0, 0.5], output_mode="count")(floats)
    codes = lib.layers.CategoryEncoding(5, output_mode="multi_hot")(ints)
    merged = lib.layers.Concatenate()([buckets, codes])
    out = lib.layers.Dense(3, activation="softmax")(merged)
    model = lib.Model([floats, ints], out)
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def training_data():
    rng = np.random.default_rng(4)
    floats = rng.standard_normal((8, 3)).astype(np.float32)
    ints = rng.integers(0, 5, (8, 2)).astype(np.float32)
    return [floats, ints], np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]


def test_a_model_of_them_predicts_as_keras_and_travels_both_ways(keras, tmp_path):
    x, _ = training_data()
    ours, theirs = encoding_model(ac), encoding_model(keras)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_on_the_cuda_device_a_tensor_stays_there_and_fit_gives_the_cpus_losses():
    pytest.importorskip("numba_cuda")
    x = ac.Tensor(np.array([[0.2, -1.0, 0.7]], np.float32)).to("cuda")
    out = Discretization([0.0, 0.5], output_mode="one_hot")(x)
    assert out.device == "cuda"
    np.testing.assert_array_equal(out.numpy(), [[[0, 1, 0], [1, 0, 0], [0, 0, 1]]])
    inputs, y = training_data()
    fit_on_both_devices(lambda: encoding_model(ac), inputs, y)
