"""RandomShear, RandomErasing, RandomGaussianBlur, RandomPerspective and RandomElasticTransform
(autoconv/layers/geometric_augmentation.py) against real Keras 3.15 (its PyTorch backend, where
installed): Keras's draws applied by both libraries and autoconv's draws applied by both give
the same images (RandomElasticTransform's with Keras fed autoconv's noise); the draws have
Keras's keys, shapes and dtypes; configs, errors and files both ways; a float64 gradcheck; and
the same layers on the CUDA device (the simulator), in a call and in a short fit."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers import (
    RandomElasticTransform,
    RandomErasing,
    RandomGaussianBlur,
    RandomPerspective,
    RandomShear,
)
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

CLASSES = {
    cls.__name__: cls
    for cls in (
        RandomShear,
        RandomErasing,
        RandomGaussianBlur,
        RandomPerspective,
        RandomElasticTransform,
    )
}

CASES = [
    ("RandomShear", {"x_factor": 0.3, "y_factor": (0.1, 0.5)}),
    ("RandomShear", {"x_factor": 0.6, "fill_mode": "constant", "fill_value": 9.0}),
    ("RandomShear", {"y_factor": 0.4, "fill_mode": "nearest", "interpolation": "nearest"}),
    ("RandomShear", {"x_factor": (0.2, 0.9), "y_factor": 0.2, "fill_mode": "wrap"}),
    ("RandomErasing", {}),
    ("RandomErasing", {"factor": 0.6, "scale": (0.2, 0.6), "fill_value": 30.0}),
    ("RandomErasing", {"fill_value": (10, 20, 300), "value_range": (0, 100)}),
    ("RandomGaussianBlur", {}),
    ("RandomGaussianBlur", {"factor": (0.2, 0.8), "kernel_size": 5, "sigma": (0.2, 0.9)}),
    ("RandomPerspective", {"factor": 0.8, "scale": 0.6}),
    ("RandomPerspective", {"scale": 0.3, "interpolation": "nearest", "fill_value": 5.0}),
]
ELASTIC_CASES = [
    ("RandomElasticTransform", {"factor": 0.9, "scale": 0.5}),
    ("RandomElasticTransform", {"scale": (0.6, 1.0), "fill_mode": "constant", "fill_value": 3.0,
                                "interpolation": "nearest"}),
    ("RandomElasticTransform", {"scale": 0.4, "fill_mode": "wrap", "value_range": (10, 200)}),
]  # fmt: skip
ALL_CASES = CASES + ELASTIC_CASES
SHAPES = [(4, 6, 7, 3), (2, 5, 5, 3)]


def images(rng, shape, high=255.0):
    return rng.uniform(0.0, high, shape).astype(np.float32)


def host(transformation: dict) -> dict:
    """A Keras transformation with its tensors as NumPy arrays."""
    return {k: np.asarray(v.cpu()) if hasattr(v, "cpu") else v for k, v in transformation.items()}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_kerass_draws_and_ours_transform_images_as_keras(keras, name, kwargs, shape, rng):
    x = images(rng, shape)
    theirs, ours = getattr(keras.layers, name)(**kwargs), CLASSES[name](**kwargs)
    for transformation in (
        host(theirs.get_random_transformation(x)),
        ours.random_transformation(x.shape, rng),
    ):
        expected = np.asarray(theirs.transform_images(x, transformation))
        got = ours.transform_images(ac.Tensor(x), transformation).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-3)  # homographies solved


@pytest.mark.parametrize("shape", [(3, 12, 10, 3), (2, 24, 20, 1)])  # displacements of pixels
@pytest.mark.parametrize(("name", "kwargs"), ELASTIC_CASES)
def test_elastic_transforms_as_keras_given_the_same_noise(keras, name, kwargs, shape, rng):
    """Keras draws its noise from torch (dx, then dy); fed autoconv's, it displaces alike."""
    import torch

    from autoconv.seeds import draw

    x = images(rng, shape)
    theirs, ours = keras.layers.RandomElasticTransform(**kwargs), RandomElasticTransform(**kwargs)
    transformation = ours.random_transformation(x.shape, rng)
    transformation["apply_transform"][0] = True
    noise = draw(transformation["seed"]).standard_normal((*shape[:3], 2)).astype(np.float32)
    planes = iter([torch.tensor(noise[..., 0]), torch.tensor(noise[..., 1])])
    normal, torch.normal = torch.normal, lambda *args, **kw: next(planes)
    try:
        expected = np.asarray(theirs.transform_images(x, transformation))
    finally:
        torch.normal = normal
    got = ours.transform_images(ac.Tensor(x), transformation).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-3)
    assert not np.array_equal(got[0], np.clip(x[0], *ours.value_range))


@pytest.mark.parametrize(("name", "kwargs"), [*CASES[::2], ELASTIC_CASES[0]])
def test_draws_have_kerass_keys_shapes_and_dtypes(keras, name, kwargs, rng):
    x = images(rng, SHAPES[0])
    theirs = host(getattr(keras.layers, name)(**kwargs).get_random_transformation(x))
    theirs.pop("input_shape", None)  # RandomShear's, for its bounding boxes
    ours = CLASSES[name](**kwargs).random_transformation(x.shape, rng)
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        if key != "seed":  # RandomElasticTransform's: Keras's seed, autoconv's noise seed
            assert np.shape(value) == theirs[key].shape, key
            assert np.asarray(value).dtype == theirs[key].dtype, key


def test_draws_fall_in_kerass_ranges(rng):
    shape = (400, 8, 10, 1)
    shear = RandomShear((0.2, 0.4), 0.1).random_transformation(shape, rng)["shear_factor"]
    assert ((np.abs(shear[:, 0]) >= 0.2) & (np.abs(shear[:, 0]) <= 0.4)).all()
    assert (np.abs(shear[:, 1]) <= 0.1).all() and (shear[:, 0] < 0).mean() == pytest.approx(
        0.5, abs=0.1
    )
    erased = RandomErasing(0.5, scale=(0.25, 0.25)).random_transformation(shape, rng)
    boxes = erased["batch_masks"][..., 0]
    assert set(boxes.any(axis=2).sum(axis=1)) <= {4, 5} and set(boxes.any(axis=1).sum(axis=1)) <= {
        5,
        6,
    }
    assert erased["apply_erasing"].mean() == pytest.approx(0.25, abs=0.08)  # E[p] = 1/4
    assert (erased["fill_value"] >= 0).all() and (erased["fill_value"] <= 255).all()
    blur = RandomGaussianBlur(factor=0.0, sigma=(0.5, 0.5)).random_transformation(shape, rng)
    assert not blur["should_apply_blur"].any()
    np.testing.assert_allclose(blur["blur_factor"], [0.5 + 1e-6] * 2)
    warp = RandomPerspective(scale=0.4).random_transformation(shape, rng)
    start, end = warp["start_points"], warp["end_points"]
    assert (end[start == 0] == 0).all() and (start[:, 3] == [9, 7]).all()
    assert (np.abs(end[start > 0] / start[start > 0] - 1) <= 0.2 + 1e-6).all()
    assert RandomElasticTransform(scale=0.0).random_transformation(shape, rng) is None
    assert RandomElasticTransform(factor=(0.3, 0.3)).random_transformation(shape, rng)[
        "apply_transform"
    ].mean() == pytest.approx(0.3, abs=0.08)


def test_a_non_square_blur_is_keras_ops_gaussian_blur(rng):
    """Keras's PyTorch backend fails on a non-square kernel; autoconv blurs as its JAX one,
    ``keras.ops.image.gaussian_blur``'s rule (size[0] and sigma[0] along the width)."""
    x = images(rng, (3, 6, 7, 2))
    layer = RandomGaussianBlur(kernel_size=(3, 5))
    transformation = {"should_apply_blur": np.array([True, False, True]), "blur_factor": [0.7, 1.3]}
    got = layer.transform_images(ac.Tensor(x), transformation).numpy()
    blurred = ac.ops.image.gaussian_blur(x, (3, 5), (0.7, 1.3)).numpy()
    np.testing.assert_allclose(got[[0, 2]], np.clip(blurred[[0, 2]], 0, 255), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(got[1], x[1])


@pytest.mark.parametrize(("name", "kwargs"), ALL_CASES)
def test_inference_passes_images_and_training_changes_them(name, kwargs, rng):
    x = images(rng, (6, 12, 10, 3))
    layer = CLASSES[name](seed=3, **kwargs)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    out = layer(x)  # training=True, Keras's default outside a model
    assert out.shape == x.shape and out.dtype == np.float32 and not np.array_equal(out.numpy(), x)
    assert layer.compute_output_shape((None, 12, 10, 3)) == (None, 12, 10, 3)
    one = CLASSES[name](seed=4, **kwargs)(x[0]).numpy()
    np.testing.assert_array_equal(one, CLASSES[name](seed=4, **kwargs)(x[:1]).numpy()[0])


@pytest.mark.parametrize("name", list(CLASSES))
def test_seeds_repeat_and_set_random_seed_reseeds(name, rng):
    x = images(rng, (4, 5, 6, 3))

    def run(**kwargs):
        layer = CLASSES[name](**dict(ALL_CASES)[name], **kwargs)
        return [layer(x).numpy() for _ in range(2)]

    first, again = run(seed=11), run(seed=11)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])
    ac.utils.set_random_seed(4)
    unseeded = run()
    ac.utils.set_random_seed(4)
    np.testing.assert_array_equal(unseeded, run())


@pytest.mark.parametrize(
    ("make", "transformation"),
    [
        (
            lambda: RandomShear(0.5, 0.5, fill_mode="constant", dtype="float64"),
            {"shear_factor": [[0.3, -0.2], [-0.45, 0.1]]},
        ),
        (
            lambda: RandomErasing(value_range=(-10, 10), dtype="float64"),
            {
                "apply_erasing": [True, False],
                "batch_masks": np.indices((2, 4, 5, 2))[2] > 2,
                "fill_value": np.full((2, 4, 5, 2), 3.0),
            },
        ),
        (
            lambda: RandomGaussianBlur(kernel_size=3, value_range=(-10, 10), dtype="float64"),
            {"should_apply_blur": [True, False], "blur_factor": [0.8, 1.2]},
        ),
        (
            lambda: RandomPerspective(dtype="float64"),
            {
                "apply_perspective": [True, False],
                "start_points": [[[0, 0], [4, 0], [0, 3], [4, 3]]] * 2,
                "end_points": [[[0.3, 0.2], [3.6, -0.2], [0.1, 3.3], [4.2, 2.7]]] * 2,
            },
        ),
        (
            lambda: RandomElasticTransform(value_range=(-10, 10), dtype="float64"),
            {"apply_transform": [False, True], "distortion_factor": 0.7, "seed": 3},
        ),
    ],
)
def test_gradcheck(make, transformation, rng):
    layer = make()
    assert gradcheck(
        lambda t: layer.transform_images(t, transformation), [rng.standard_normal((2, 4, 5, 2))]
    )


CONFIG_CASES = [*ALL_CASES, ("RandomShear", {"seed": 3, "data_format": "channels_last"})]


@pytest.mark.parametrize(("name", "kwargs"), CONFIG_CASES)
def test_configs_are_kerass_and_read_back(keras, name, kwargs):
    ours = ac.Sequential([ac.Input((5, 5, 3)), CLASSES[name](**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input((5, 5, 3)), getattr(keras.layers, name)(**kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config


ERROR_CASES = [
    ("RandomShear", {"x_factor": 1.5}, ValueError, r"Received: input_number=1.5"),
    ("RandomShear", {"y_factor": (0.1, 1.2)}, ValueError, r"in the range \[0, 1.0\]"),
    ("RandomShear", {"x_factor": (0.1, 0.2, 0.3)}, ValueError, "Received: x_factor="),
    ("RandomShear", {"fill_mode": "mirror"}, NotImplementedError, "Unknown `fill_mode`"),
    ("RandomShear", {"interpolation": "bicubic"}, NotImplementedError, "Unknown `interpolation`"),
    ("RandomErasing", {"factor": 1.5}, ValueError, r"`factor` argument .* in the range \[0, 1\]"),
    ("RandomErasing", {"scale": (0.1, 0.2, 0.3)}, ValueError, "The `scale` argument"),
    ("RandomGaussianBlur", {"kernel_size": 4}, ValueError, "kernel_size must be an odd number"),
    ("RandomGaussianBlur", {"kernel_size": (3, 5, 7)}, ValueError, "`kernel_size` argument"),
    ("RandomGaussianBlur", {"sigma": 2.0}, ValueError, "The `sigma` argument"),
    ("RandomPerspective", {"scale": 1.5}, ValueError, r"`scale` argument .* range \[0,1\]"),
    ("RandomPerspective", {"interpolation": "bicubic"}, NotImplementedError, "`interpolation`"),
    ("RandomElasticTransform", {"scale": (0.1, 0.2, 0.3)}, ValueError, "The `scale` argument"),
    ("RandomElasticTransform", {"fill_mode": "crop"}, NotImplementedError, "Unknown `fill_mode`"),
]


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), ERROR_CASES)
def test_bad_arguments_raise_kerass_errors(keras, name, kwargs, error, message):
    with pytest.raises(error, match=message):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(error, match=message):
        CLASSES[name](**kwargs)


def test_a_shear_reads_back_its_config_where_keras_cannot(keras):
    """Keras's RandomShear(0.3) writes x_factor (-0.3, 0.3), which its own check rejects."""
    config = RandomShear(0.3, (0.1, 0.2)).get_config()
    assert config["x_factor"] == (-0.3, 0.3)
    assert RandomShear.from_config(config).get_config() == config
    with pytest.raises(TypeError, match=r"input_number=-0\.3"):
        keras.layers.RandomShear.from_config(keras.layers.RandomShear(0.3).get_config())
    with pytest.raises(ValueError, match=r"input_number=-1\.5"):
        RandomShear((-1.5, 0.2))


def test_checks_keras_makes_later_are_made_at_once():
    with pytest.raises(ValueError, match="a list of three numbers"):
        RandomErasing(fill_value=(1, 2))
    with pytest.raises(ValueError, match="a list of three numbers"):
        RandomErasing(fill_value="black")
    with pytest.raises(ValueError, match="a positive odd number"):
        RandomGaussianBlur(kernel_size=-1)
    with pytest.raises(ValueError, match="value_range"):
        RandomGaussianBlur(value_range=1)
    with pytest.raises(ValueError, match=r"rank 3 .* or 4"):
        RandomShear(0.1)(np.zeros((2, 3, 4, 5, 1), np.float32))


def augmenting_model(lib, front) -> object:
    """A small classifier behind the augmentation layers ``front``, its weights a pattern."""
    model = lib.Sequential(
        [lib.Input((5, 5, 3)), *front, lib.layers.Flatten(), lib.layers.Dense(2)]
    )
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def fronts(module, seed=None) -> list:
    return [
        module.RandomShear((0.1, 0.2), (0.0, 0.3), seed=seed),  # Keras reads pairs back
        module.RandomErasing(scale=(0.1, 0.3), value_range=(0, 1), seed=seed),
        module.RandomGaussianBlur(0.5, value_range=(0, 1), seed=seed),
        module.RandomPerspective(0.5, 0.3, seed=seed),
        module.RandomElasticTransform(0.5, value_range=(0, 1), seed=seed),
    ]


def test_a_model_of_them_travels_both_ways_and_predicts_as_keras(keras, tmp_path, rng):
    x = images(rng, (4, 5, 5, 3), 1.0)
    ours, theirs = (
        augmenting_model(ac, fronts(ac.layers)),
        augmenting_model(keras, fronts(keras.layers)),
    )
    expected = ours.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    assert [type(layer) for layer in from_theirs.layers[:5]] == list(CLASSES.values())
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
@pytest.mark.parametrize(("name", "kwargs"), [*CASES[::2], ELASTIC_CASES[0]])
def test_a_layer_on_the_gpu_draws_and_transforms_as_on_the_cpu(name, kwargs, rng):
    pytest.importorskip("numba_cuda")
    x = images(rng, (2, 4, 5, 3))
    want = CLASSES[name](seed=7, **kwargs)(x).numpy()
    on_gpu = CLASSES[name](seed=7, **kwargs)(ac.Tensor(x).to("cuda"))
    assert on_gpu.device == "cuda"
    np.testing.assert_allclose(on_gpu.numpy(), want, rtol=1e-6, atol=1e-4)


@pytest.mark.cudasim
def test_fit_on_the_gpu_draws_anew_each_step_as_on_the_cpu(rng):
    """The same seeds give the same augmented steps on either device; on the GPU the steps
    are replayed, each with the host's new draws as its step input."""
    x, y = images(rng, (8, 5, 5, 3), 1.0), rng.standard_normal((8, 2)).astype(np.float32)
    fit_on_both_devices(
        lambda: augmenting_model(ac, fronts(ac.layers, seed=5)[:3]),  # draws as step inputs
        x, y, lambda: ac.optimizers.SGD(0.05), "mse", batch_size=2, replayed=True,
    )  # fmt: skip


@pytest.mark.cudasim
def test_the_warps_run_eagerly_on_the_gpu_each_step_drawing_anew(rng):
    """RandomPerspective's and RandomElasticTransform's reads are constants of each step, which
    change from step to step: the GPU runs those steps as they come, with the CPU's losses."""
    x, y = images(rng, (4, 5, 5, 3), 1.0), rng.standard_normal((4, 2)).astype(np.float32)

    def warping_model() -> ac.Sequential:
        front = [
            RandomPerspective(0.7, 0.4, seed=1),
            RandomElasticTransform(0.7, value_range=(0, 1), seed=2),
        ]
        return augmenting_model(ac, front)

    fit_on_both_devices(
        warping_model, x, y, lambda: ac.optimizers.SGD(0.05), "mse", batch_size=2, replayed=False
    )


def test_random_crop_takes_its_name_fifth_positionally_as_keras(keras):
    for lib in (keras, ac):
        layer = lib.layers.RandomCrop(2, 3, 5, None, "crop")
        assert (layer.name, layer.get_config()["seed"]) == ("crop", 5)
