"""MixUp and CutMix (autoconv/layers/image_mixing.py) against real Keras 3.15 (its PyTorch
backend, where installed): Keras's draws applied by both libraries and autoconv's draws applied
by both give the same images and labels; the draws have Keras's keys, shapes and dtypes; dicts
of images and labels, in a call and in a ``Dataset.map`` pipeline that fit reads; configs,
errors and files both ways; a float64 gradcheck; and the same layers on the CUDA device (the
simulator), in a call and in a short fit."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers import CutMix, MixUp
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

CLASSES = {"MixUp": MixUp, "CutMix": CutMix}
CASES = [
    ("MixUp", {}),
    ("MixUp", {"alpha": 1.5}),
    ("CutMix", {}),
    ("CutMix", {"factor": (0.2, 0.6)}),
]
SHAPES = [(4, 6, 7, 3), (3, 5, 5, 1)]


def images(rng, shape, high=255.0):
    return rng.uniform(0.0, high, shape).astype(np.float32)


def one_hot(rng, n, classes=3):
    return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def host(transformation: dict) -> dict:
    """A Keras transformation with its tensors as NumPy arrays."""
    return {k: np.asarray(v.cpu()) if hasattr(v, "cpu") else v for k, v in transformation.items()}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_kerass_draws_and_ours_mix_images_and_labels_as_keras(keras, name, kwargs, shape, rng):
    import torch

    x, y = images(rng, shape), one_hot(rng, shape[0])
    theirs, ours = getattr(keras.layers, name)(**kwargs), CLASSES[name](**kwargs)
    for transformation in (
        host(theirs.get_random_transformation(x)),
        ours.random_transformation(x.shape, rng),
    ):
        expected = np.asarray(theirs.transform_images(x, transformation))
        got = ours.transform_images(ac.Tensor(x), transformation).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)
        expected = np.asarray(theirs.transform_labels(torch.tensor(y), transformation))
        got = ours.transform_labels(ac.Tensor(y), transformation).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(CLASSES))
def test_draws_have_kerass_keys_shapes_and_dtypes(keras, name, rng):
    x = images(rng, SHAPES[0])
    theirs = host(getattr(keras.layers, name)().get_random_transformation(x))
    ours = CLASSES[name]().random_transformation(x.shape, rng)
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        assert value.dtype.kind == theirs[key].dtype.kind, key
        assert value.size == theirs[key].size, key  # CutMix's Keras weight is (N, 1, 1, 1)


def test_draws_are_permutations_and_weights_in_kerass_ranges(rng):
    shape = (300, 6, 8, 1)
    mixed = MixUp(alpha=0.5).random_transformation(shape, rng)
    assert sorted(mixed["permutation_order"]) == list(range(300))
    assert mixed["mix_weight"].mean() == pytest.approx(0.5, abs=0.06)  # Beta(a, a)'s mean
    cut = CutMix(factor=(0.5, 0.5)).random_transformation(shape, rng)
    area = cut["batch_masks"][..., 0].mean(axis=(1, 2))
    # Keras's weight is the box's area; its mask holds the pixels whose corner falls inside
    np.testing.assert_allclose(1 - cut["mix_weight"], area, atol=(6 + 8) / 48)
    assert sorted(cut["permutation_order"]) == list(range(300))


@pytest.mark.parametrize("name", list(CLASSES))
def test_a_dict_mixes_images_and_labels_with_one_draw(name, rng):
    x, y = images(rng, (5, 4, 4, 1)), one_hot(rng, 5, 4)
    out = CLASSES[name](seed=2)({"images": x, "labels": y})
    assert sorted(out) == ["images", "labels"] and out["images"].shape == x.shape
    np.testing.assert_allclose(out["labels"].numpy().sum(axis=1), 1.0, rtol=1e-6)
    drawn = CLASSES[name](seed=2).random_transformation(x.shape, np.random.default_rng(2))
    layer = CLASSES[name]()
    np.testing.assert_allclose(
        out["images"].numpy(), layer.transform_images(ac.Tensor(x), drawn).numpy()
    )
    np.testing.assert_allclose(
        out["labels"].numpy(), layer.transform_labels(ac.Tensor(y), drawn).numpy()
    )
    alone = CLASSES[name](seed=2)(x)
    np.testing.assert_array_equal(alone.numpy(), out["images"].numpy())


@pytest.mark.parametrize("name", list(CLASSES))
def test_inference_and_one_image_pass_unchanged(name, rng):
    x, y = images(rng, (4, 5, 5, 3)), one_hot(rng, 4)
    layer = CLASSES[name](seed=2)  # a permutation that moves images
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    passed = layer({"images": x, "labels": y}, training=False)
    np.testing.assert_array_equal(passed["labels"].numpy(), y)
    single = layer({"images": x[0], "labels": y[0]})
    np.testing.assert_array_equal(single["images"].numpy(), x[0])
    assert not np.array_equal(layer(x).numpy(), x)
    assert layer.compute_output_shape((None, 5, 5, 3)) == (None, 5, 5, 3)


@pytest.mark.parametrize("name", list(CLASSES))
def test_seeds_repeat_and_set_random_seed_reseeds(name, rng):
    x = images(rng, (4, 5, 6, 3))

    def run(**kwargs):
        layer = CLASSES[name](**kwargs)
        return [layer(x).numpy() for _ in range(2)]

    first, again = run(seed=11), run(seed=11)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])
    ac.utils.set_random_seed(4)
    unseeded = run()
    ac.utils.set_random_seed(4)
    np.testing.assert_array_equal(unseeded, run())


def test_a_dataset_map_pipeline_feeds_fit_mixed_batches(rng):
    """Keras's recipe: ``ds.batch(n).map(lambda x, y: mix({"images": x, "labels": y}))``."""
    x, y = images(rng, (8, 4, 4, 1), 1.0), one_hot(rng, 8, 2)
    mix_up, cut_mix = MixUp(seed=3), CutMix(seed=4)
    ds = (
        ac.data.Dataset.from_tensor_slices((x, y))
        .batch(4)
        .map(lambda a, b: mix_up({"images": a, "labels": b}))
        .map(lambda d: cut_mix(d))
        .map(lambda d: (d["images"], d["labels"]))
    )
    batches = list(ds)
    assert len(batches) == 2 and not np.allclose(batches[0][1].numpy(), y[:4])
    np.testing.assert_allclose(batches[0][1].numpy().sum(axis=1), 1.0, rtol=1e-6)
    model = ac.Sequential([ac.Input((4, 4, 1)), ac.layers.Flatten(), ac.layers.Dense(2, "softmax")])
    model.compile("sgd", "categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize(
    ("layer", "transformation"),
    [
        (MixUp(dtype="float64"), {"mix_weight": [0.3, 0.9, 0.5], "permutation_order": [2, 0, 1]}),
        (
            CutMix(dtype="float64"),
            {
                "permutation_order": [1, 2, 0],
                "batch_masks": np.indices((3, 4, 5, 2))[1] < 2,
                "mix_weight": [0.6, 0.6, 0.6],
            },
        ),
    ],
)
def test_gradcheck(layer, transformation, rng):
    images, labels = rng.standard_normal((3, 4, 5, 2)), rng.standard_normal((3, 2))
    assert gradcheck(lambda t: layer.transform_images(t, transformation), [images])
    assert gradcheck(lambda t: layer.transform_labels(t, transformation), [labels])


CONFIG_CASES = [*CASES, ("MixUp", {"seed": 3, "data_format": "channels_last"})]


@pytest.mark.parametrize(("name", "kwargs"), CONFIG_CASES)
def test_configs_are_kerass_and_read_back(keras, name, kwargs):
    ours = ac.Sequential([ac.Input((5, 5, 3)), CLASSES[name](**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input((5, 5, 3)), getattr(keras.layers, name)(**kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"in the range \[0, 1\]"):
        CutMix(factor=1.5)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        MixUp(alpha=0)
    x = np.zeros((4, 3, 3, 1), np.float32)
    with pytest.raises(ValueError, match="labels must be one per image"):
        MixUp()({"images": x, "labels": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match="labels must be one per image"):
        CutMix()({"images": x, "labels": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=r"got the keys \['bounding_boxes', 'images'\]"):
        MixUp()({"images": x, "bounding_boxes": x})
    with pytest.raises(ValueError, match="got the keys"):
        CutMix()({"labels": x})


def test_a_model_of_them_travels_both_ways(keras, tmp_path, rng):
    x = images(rng, (4, 5, 5, 3), 1.0)

    def model(lib):
        front = [lib.layers.MixUp(0.3, seed=1), lib.layers.CutMix(0.5)]
        return lib.Sequential(
            [lib.Input((5, 5, 3)), *front, lib.layers.Flatten(), lib.layers.Dense(2)]
        )

    ours, theirs = model(ac), model(keras)
    theirs.set_weights(ours.get_weights())
    expected = ours.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    assert [type(layer) for layer in from_theirs.layers[:2]] == [MixUp, CutMix]
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
@pytest.mark.parametrize("name", list(CLASSES))
def test_a_layer_on_the_gpu_mixes_as_on_the_cpu(name, rng):
    pytest.importorskip("numba_cuda")
    x, y = images(rng, (3, 4, 5, 2)), one_hot(rng, 3)
    want = CLASSES[name](seed=7)({"images": x, "labels": y})
    on_gpu = CLASSES[name](seed=7)(
        {"images": ac.Tensor(x).to("cuda"), "labels": ac.Tensor(y).to("cuda")}
    )
    assert on_gpu["images"].device == "cuda" and on_gpu["labels"].device == "cuda"
    for key in ("images", "labels"):
        np.testing.assert_allclose(on_gpu[key].numpy(), want[key].numpy(), rtol=1e-6, atol=1e-4)


@pytest.mark.cudasim
def test_fit_on_the_gpu_draws_anew_each_step_as_on_the_cpu(rng):
    x, y = images(rng, (8, 4, 4, 2), 1.0), rng.standard_normal((8, 2)).astype(np.float32)

    def mixing_model() -> ac.Sequential:
        model = ac.Sequential([ac.Input((4, 4, 2)), MixUp(seed=5), CutMix(seed=6),
                               ac.layers.Flatten(), ac.layers.Dense(2)])  # fmt: skip
        model.set_weights([np.sin(np.arange(w.size) * 0.37).reshape(w.shape) * 0.1
                           for w in model.get_weights()])  # fmt: skip
        return model

    fit_on_both_devices(
        mixing_model, x, y, lambda: ac.optimizers.SGD(0.05), "mse", batch_size=2, replayed=True
    )
