"""Hashing and HashedCrossing against Keras 3.15.1 with TensorFlow 2.21 (Keras's layers need
TensorFlow, which the project does not install): TensorFlow's FarmHash and SipHash values, the
bins, encodings and configs, as literal values Keras and TensorFlow produced; errors; a model
of Hashing on the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers.hashing import HashedCrossing, Hashing, fingerprint64, siphash

STRINGS = ["", "a", "hello world", "x" * 20, "é" * 20,
           "The quick brown fox jumps over the lazy dog, twice over" * 2]  # fmt: skip


def test_the_hashes_are_tensorflows():
    """tf.strings.to_hash_bucket_fast(STRINGS, 2**62) and to_hash_bucket_strong(STRINGS,
    2**62, key=[1, 2]) by TensorFlow 2.21 (lengths 0 to 110: every FarmHash branch)."""
    fast = [1936946117179621455, 3694432073954588131, 1769834696496558107, 3621402210320469444,
            2101234252769292372, 1616981126028192572]  # fmt: skip
    strong = [443797209252341627, 546566331822570742, 1015233985318741638, 407717789338964422,
              3540142447415508390, 63905505450277697]  # fmt: skip
    assert [fingerprint64(s.encode()) % 2**62 for s in STRINGS] == fast
    assert [siphash((1, 2), s.encode()) % 2**62 for s in STRINGS] == strong


X = np.array([["a", "b", "c"], ["hello", "", "é"]])
# Keras 3.15.1 with TensorFlow 2.21: keras.layers.Hashing(**kwargs)(x), its dtype and values.
HASHED = [
    ({"num_bins": 5}, X, "int64", [[4, 2, 2], [1, 3, 0]]),
    ({"num_bins": 7, "salt": [3, 9]}, X, "int64", [[2, 1, 4], [6, 5, 6]]),
    ({"num_bins": 7, "salt": 133}, X, "int64", [[4, 5, 3], [0, 6, 0]]),
    ({"num_bins": 4, "mask_value": ""}, X, "int64", [[1, 2, 2], [2, 0, 2]]),
    ({"num_bins": 10}, np.array([[1, -2, 300], [0, 7, 12345678901]]), "int64",
     [[9, 5, 5], [5, 8, 2]]),
    ({"num_bins": 3, "mask_value": 0}, np.array([[1, 0], [0, 7]]), "int64", [[2, 0], [0, 1]]),
    ({"num_bins": 6}, np.array([[1.7, -2.5]]), "int64", [[3, 1]]),
    ({"num_bins": 4, "output_mode": "one_hot"}, np.array([["a"], ["b"], ["zz"]]), "float32",
     [[0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 1, 0]]),
    ({"num_bins": 4, "output_mode": "multi_hot"}, X, "float32", [[1, 0, 1, 1], [1, 1, 0, 1]]),
    ({"num_bins": 4, "output_mode": "count"}, X, "float32", [[1, 0, 1, 1], [1, 1, 0, 1]]),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "x", "dtype", "expected"), HASHED)
def test_hashing_gives_kerass_bins(kwargs, x, dtype, expected):
    layer = Hashing(**kwargs)
    out = layer(x)
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.tolist() == expected
    assert layer(x.tolist()).tolist() == expected
    assert layer.compute_output_shape(x.shape) == out.shape


# Keras 3.15.1 with TensorFlow 2.21: keras.layers.HashedCrossing(**kwargs)(features).
CROSSED = [
    ({"num_bins": 9}, [np.array([["a"], ["bb"], ["é"]]), np.array([["x"], ["y"], ["x"]])],
     "int64", [[7], [3], [0]]),
    ({"num_bins": 100}, [np.array(["a", "bb"]), np.array([7, -3])], "int64", [56, 62]),
    ({"num_bins": 50}, [np.array([1, 2]), np.array(["p", "q"]), np.array([10, 10])], "int64",
     [29, 40]),
    ({"num_bins": 13}, [np.array("a"), np.array(4)], "int64", 12),
    ({"num_bins": 4, "output_mode": "one_hot"}, [np.array([["a"], ["b"]]), np.array([[1], [2]])],
     "float32", [[0, 1, 0, 0], [0, 1, 0, 0]]),
    ({"num_bins": 5, "output_mode": "one_hot"}, [np.array(["a", "b", "c"]), np.array([1, 2, 3])],
     "float32", [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "features", "dtype", "expected"), CROSSED)
def test_hashed_crossing_gives_kerass_bins(kwargs, features, dtype, expected):
    out = HashedCrossing(**kwargs)(tuple(features))
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.tolist() == expected


def test_configs_are_kerass_and_read_back():
    """Keras 3.15.1 with TensorFlow 2.21's get_config() (without the name)."""
    policy = {"module": "keras", "class_name": "DTypePolicy", "registered_name": None}
    layer = Hashing(5)
    assert layer.get_config() == {
        "name": layer.name, "trainable": True, "dtype": {**policy, "config": {"name": "int64"}},
        "num_bins": 5, "salt": None, "mask_value": None, "output_mode": "int", "sparse": False,
    }  # fmt: skip
    counting = Hashing(4, output_mode="count", salt=(1, 2), mask_value="")
    assert counting.get_config()["dtype"] == {**policy, "config": {"name": "float32"}}
    assert counting.get_config()["salt"] == [1, 2]
    for original in (layer, counting, Hashing(3, dtype="int32")):
        clone = Hashing.from_config(original.get_config())
        assert clone.get_config() == original.get_config()
    crossing = HashedCrossing(5)
    assert crossing.get_config() == {"num_bins": 5, "output_mode": "int", "sparse": False,
                                     "name": crossing.name, "dtype": "int64"}  # fmt: skip
    assert HashedCrossing(4, output_mode="one_hot").get_config()["dtype"] == "float32"
    clone = HashedCrossing.from_config(crossing.get_config())
    assert clone.get_config() == crossing.get_config()


ERRORS = [
    (Hashing, {"num_bins": 0}, "cannot be `None` or non-positive"),
    (Hashing, {"num_bins": 3, "dtype": "float32"}, "`dtype` should be an integer type"),
    (Hashing, {"num_bins": 3, "output_mode": "tf_idf"}, "Invalid value for argument"),
    (Hashing, {"num_bins": 3, "sparse": True}, "`sparse` may only be true"),
    (Hashing, {"num_bins": 3, "output_mode": "count", "sparse": True}, "no sparse tensors"),
    (Hashing, {"num_bins": 3, "salt": "pepper"}, "The `salt` argument for `Hashing`"),
    (HashedCrossing, {"num_bins": 3, "output_mode": "count"}, "`output_mode` argument"),
    (HashedCrossing, {"num_bins": 3, "sparse": True}, "no sparse tensors"),
]


@pytest.mark.parametrize(("cls", "kwargs", "message"), ERRORS)
def test_bad_arguments_raise_one_clear_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_bad_crossing_inputs():
    crossing = HashedCrossing(3)
    with pytest.raises(ValueError, match="a list or tuple of inputs"):
        crossing(np.array([1, 2]))
    with pytest.raises(ValueError, match="at least two inputs"):
        crossing([np.array([1, 2])])
    with pytest.raises(ValueError, match="should have equal shape"):
        crossing([np.array([1, 2]), np.array([1, 2, 3])])
    with pytest.raises(ValueError, match=r"should have shape `\(\)`"):
        crossing([np.ones((2, 2), int), np.ones((2, 2), int)])


def hashing_model():
    model = ac.Sequential([ac.Input((3,)), Hashing(6, output_mode="multi_hot", salt=5),
                           ac.layers.Dense(3, activation="softmax")])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape)
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def test_hashing_runs_in_a_model_and_on_tensors():
    model = hashing_model()
    x = np.array([[1, 5, 9], [2, 2, 0]])
    hashed = model.layers[0](x)
    assert hashed.dtype == np.float32 and hashed.shape == (2, 6)
    expected = model.layers[1](hashed).numpy()
    np.testing.assert_allclose(model.predict(x.astype(np.float32), verbose=0), expected, 1e-6)
    out = model.layers[0](ac.Tensor(x.astype(np.float32)))
    assert isinstance(out, ac.Tensor) and out.numpy().tolist() == hashed.tolist()


def test_an_eager_call_on_arrays_gives_an_array_with_a_tensors_numpy():
    hashed = Hashing(num_bins=3)(np.array([["a"], ["b"]]))
    assert type(hashed.numpy()) is np.ndarray and hashed.numpy().shape == (2, 1)
    crossed = HashedCrossing(num_bins=5)((np.array(["a"]), np.array([1])))
    assert crossed.numpy().shape == (1,)


@pytest.mark.cudasim
def test_fit_of_a_hashing_model_on_the_gpu_gives_the_cpus_losses():
    from tests.layers.devices import fit_on_both_devices

    rng = np.random.default_rng(6)
    x = rng.integers(0, 20, (8, 3)).astype(np.float32)
    fit_on_both_devices(hashing_model, x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)])


def test_a_hashing_model_travels_through_a_keras_file(tmp_path):
    """Keras 3.15.1 with TensorFlow 2.21 loaded this file and predicted
    [[0.3861690163612366, 0.3370542824268341, 0.2767767012119293]] for [[1, 5, 9]]."""
    model = hashing_model()
    model.save(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    x = np.array([[1.0, 5.0, 9.0]])
    expected = [[0.3861690163612366, 0.3370542824268341, 0.2767767012119293]]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
