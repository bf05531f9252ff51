"""autoconv.initializers, Keras's keras.initializers: fans, the statistics of every
distribution at a size where a wrong scale cannot pass, limits, seeds, orthogonality, and
get / serialize / from_config.

Tolerances: with n draws, a sample mean is off by about stddev / sqrt(n) and a sample standard
deviation by about stddev / sqrt(2n); at n >= 73,728 both are under 0.4%, so the 3% (and 0.02
stddev) tolerances below hold by far more than 5 standard errors, while a missing factor (the
receptive field in a fan, 0.8796 in a truncated normal) is off by 12% or more.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autoconv as ac
from autoconv import initializers
from autoconv.initializers import compute_fans
from autoconv.utils import set_random_seed

DENSE = (512, 256)
CONV = (3, 3, 64, 128)  # fan_in 3*3*64 = 576, fan_out 3*3*128 = 1152


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((3, 5), (3, 5)),
        ((3, 3, 2, 8), (18, 72)),  # Conv2D kernel: receptive field 9
        ((5, 4, 8), (20, 40)),  # Conv1D kernel
        ((2, 3, 3, 4, 6), (72, 108)),  # Conv3D kernel
    ],
)
def test_compute_fans(shape, fans):
    assert compute_fans(shape) == fans


# (initializer, shape, expected standard deviation, uniform limit or None for a normal)
SCALED = [
    (initializers.GlorotUniform, DENSE, math.sqrt(2 / (512 + 256)), math.sqrt(6 / (512 + 256))),
    (initializers.GlorotUniform, CONV, math.sqrt(2 / (576 + 1152)), math.sqrt(6 / (576 + 1152))),
    (initializers.GlorotNormal, CONV, math.sqrt(2 / (576 + 1152)), None),
    (initializers.HeUniform, CONV, math.sqrt(2 / 576), math.sqrt(6 / 576)),
    (initializers.HeNormal, CONV, math.sqrt(2 / 576), None),
    (initializers.HeNormal, DENSE, math.sqrt(2 / 512), None),
    (initializers.LecunUniform, CONV, math.sqrt(1 / 576), math.sqrt(3 / 576)),
    (initializers.LecunNormal, CONV, math.sqrt(1 / 576), None),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "shape", "stddev", "limit"), SCALED)
def test_variance_scaling_presets_have_keras_statistics(cls, shape, stddev, limit):
    values = cls(seed=1)(shape)
    assert values.dtype == np.float32 and values.shape == shape
    assert abs(values.mean()) < 0.02 * stddev
    assert values.std() == pytest.approx(stddev, rel=0.03)
    if limit is None:  # truncated at two standard deviations of the untruncated normal
        limit = 2 * stddev / initializers.TRUNCATED_STDDEV
        assert np.abs(values).max() <= limit * (1 + 1e-6)
        assert np.abs(values).max() > 0.95 * limit
    else:  # uniform on [-limit, limit]
        assert np.abs(values).max() <= limit
        assert np.abs(values).max() > 0.999 * limit


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling(mode, distribution):
    fan_in, fan_out = compute_fans(CONV)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    values = initializers.VarianceScaling(3.0, mode, distribution, seed=2)(CONV)
    assert values.std() == pytest.approx(math.sqrt(3.0 / n), rel=0.03)


def test_variance_scaling_arguments_are_checked_as_keras_does():
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_mean")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="cauchy")


def test_a_tiny_fan_is_taken_as_at_least_one():
    values = initializers.VarianceScaling(1.0, "fan_in", "uniform", seed=0)((0, 4000))
    assert values.shape == (0, 4000)
    values = initializers.VarianceScaling(1.0, "fan_in", "uniform", seed=0)(())
    assert abs(float(values)) <= math.sqrt(3.0)


def test_random_normal_uniform_truncated():
    shape = (400, 600)
    normal = initializers.RandomNormal(mean=1.0, stddev=2.0, seed=3)(shape)
    assert normal.mean() == pytest.approx(1.0, abs=0.02)
    assert normal.std() == pytest.approx(2.0, rel=0.01)

    uniform = initializers.RandomUniform(minval=-1.0, maxval=3.0, seed=3)(shape)
    assert uniform.min() >= -1.0 and uniform.max() <= 3.0
    assert uniform.min() < -0.999 and uniform.max() > 2.999
    assert uniform.mean() == pytest.approx(1.0, abs=0.02)
    assert uniform.std() == pytest.approx(4 / math.sqrt(12), rel=0.01)

    truncated = initializers.TruncatedNormal(mean=0.5, stddev=2.0, seed=3)(shape)
    assert truncated.min() >= 0.5 - 4.0 and truncated.max() <= 0.5 + 4.0
    assert truncated.mean() == pytest.approx(0.5, abs=0.02)
    assert truncated.std() == pytest.approx(2.0 * initializers.TRUNCATED_STDDEV, rel=0.01)


def test_keras_defaults():
    assert (initializers.RandomNormal().mean, initializers.RandomNormal().stddev) == (0.0, 0.05)
    assert initializers.TruncatedNormal().stddev == 0.05
    uniform = initializers.RandomUniform()
    assert (uniform.minval, uniform.maxval) == (-0.05, 0.05)
    scaling = initializers.VarianceScaling()
    assert (scaling.scale, scaling.mode, scaling.distribution) == (
        1.0,
        "fan_in",
        "truncated_normal",
    )
    assert initializers.Orthogonal().gain == 1.0 and initializers.Constant().value == 0.0


def test_truncated_stddev_constant_is_that_of_a_normal_truncated_at_two():
    # Var of N(0, 1) truncated to [-2, 2] = 1 - 2 * 2 * phi(2) / (Phi(2) - Phi(-2))
    phi = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert math.sqrt(1 - 4 * phi / mass) == pytest.approx(initializers.TRUNCATED_STDDEV, rel=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: initializers.Zeros(),
        lambda: initializers.Ones(),
        lambda: initializers.Constant(1.5),
        lambda: initializers.Identity(),
        lambda: initializers.RandomNormal(seed=1),
        lambda: initializers.TruncatedNormal(seed=1),
        lambda: initializers.RandomUniform(seed=1),
        lambda: initializers.VarianceScaling(seed=1),
        lambda: initializers.GlorotUniform(seed=1),
        lambda: initializers.Orthogonal(seed=1),
    ],
)
def test_float32_by_default_and_the_dtype_asked_for(make):
    initializer = make()
    values = initializer((4, 3))
    assert isinstance(values, np.ndarray) and values.dtype == np.float32
    assert values.shape == (4, 3)
    assert initializer((4, 3), dtype="float64").dtype == np.float64
    assert initializer((4, 3), dtype=np.dtype("float64")).dtype == np.float64


def test_random_initializers_need_a_float_dtype():
    with pytest.raises(ValueError, match="RandomNormal: random values need a float dtype"):
        initializers.RandomNormal(seed=0)((2,), dtype="int32")
    assert initializers.Zeros()((2,), dtype="int32").dtype == np.int32


def test_constant_ones_zeros_identity():
    np.testing.assert_array_equal(initializers.Constant(2.5)((2, 3)), np.full((2, 3), 2.5))
    np.testing.assert_array_equal(initializers.Ones()(4), np.ones(4))
    np.testing.assert_array_equal(initializers.Zeros()((2, 2)), np.zeros((2, 2)))
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((2, 3)), 3 * np.eye(2, 3))
    with pytest.raises(ValueError, match="only be used for 2D matrices"):
        initializers.Identity()((2, 2, 2))


CONSTANT_VALUES = [
    (2.5, (2, 3)),
    (np.eye(3).flatten(), (9,)),  # a T-net's bias: the identity, flattened
    (np.arange(3.0), (2, 3)),
    ([1.0, 2.0], (2,)),
    (np.float32(0.5), (4,)),
    (np.arange(4, dtype="int64"), (4,)),
]


@pytest.mark.parametrize(("value", "shape"), CONSTANT_VALUES)
def test_constant_values_and_configs_are_keras(keras, value, shape):
    """An array ``value`` broadcasts to the weight, as Keras's; its config is Keras's
    ``__numpy__`` entry, which ``from_config`` reads back."""
    ours, theirs = initializers.Constant(value), keras.initializers.Constant(value)
    expected = keras.ops.convert_to_numpy(theirs(shape))
    np.testing.assert_array_equal(ours(shape), expected)
    assert ours(shape).dtype == expected.dtype
    assert initializers.serialize(ours) == keras.initializers.serialize(theirs)
    rebuilt = initializers.deserialize(keras.initializers.serialize(theirs))
    np.testing.assert_array_equal(rebuilt(shape), expected)


def test_a_tensor_constant_is_keras_tensor_entry(keras, tmp_path):
    """A Tensor value (``ops.eye(3)`` flattened) is Keras's ``__tensor__`` entry, read back
    as a Tensor, through a saved model too."""
    ours = initializers.Constant(ac.ops.reshape(ac.ops.eye(3), (-1,)))
    theirs = keras.initializers.Constant(keras.ops.reshape(keras.ops.eye(3), (-1,)))
    assert initializers.serialize(ours) == keras.initializers.serialize(theirs)
    rebuilt = initializers.deserialize(keras.initializers.serialize(theirs))
    assert isinstance(rebuilt.value, ac.Tensor)
    np.testing.assert_array_equal(rebuilt((9,)), np.eye(3).ravel())
    from autoconv import layers

    model = ac.Sequential([ac.Input((2,)), layers.Dense(9, bias_initializer=ours)])
    model.save(tmp_path / "tensor.keras")
    loaded = ac.saving.load_model(tmp_path / "tensor.keras").layers[0].bias_initializer
    assert initializers.serialize(loaded) == keras.initializers.serialize(theirs)


def test_a_constant_that_cannot_fill_the_shape_is_an_error():
    with pytest.raises(ValueError, match=r"value of shape \(9,\) cannot fill .* \(3, 3\)"):
        initializers.Constant(np.eye(3).flatten())((3, 3))


def test_a_dense_bias_from_an_array_constant_is_saved_and_loaded(tmp_path):
    from autoconv import layers

    model = ac.Sequential(
        [ac.Input((4,)), layers.Dense(9, bias_initializer=initializers.Constant(np.eye(3).ravel()))]
    )
    np.testing.assert_array_equal(model.layers[0].bias.numpy(), np.eye(3).ravel())
    model.save(tmp_path / "tnet.keras")
    loaded = ac.saving.load_model(tmp_path / "tnet.keras")
    np.testing.assert_array_equal(loaded.layers[0].bias_initializer.value, np.eye(3).ravel())


# -------------------------------------------------------------------------------- seeds
def test_a_seeded_initializer_gives_the_same_values_every_call_as_in_keras():
    first = initializers.HeNormal(seed=42)
    np.testing.assert_array_equal(first(CONV), first(CONV))
    np.testing.assert_array_equal(first(CONV), initializers.HeNormal(seed=42)(CONV))
    assert not np.array_equal(first(CONV), initializers.HeNormal(seed=43)(CONV))


def test_an_unseeded_initializer_repeats_itself_but_two_differ():
    """Keras 3: an unseeded initializer takes a seed when made, so it repeats itself."""
    one, two = initializers.GlorotUniform(), initializers.GlorotUniform()
    np.testing.assert_array_equal(one(DENSE), one(DENSE))
    assert not np.array_equal(one(DENSE), two(DENSE))
    assert one.get_config()["seed"] is None  # a clone draws a new seed, as in Keras


def test_set_random_seed_makes_unseeded_initializers_reproducible():
    set_random_seed(7)
    first = [initializers.RandomNormal()((3, 4)), initializers.Orthogonal()((4, 4))]
    set_random_seed(7)
    again = [initializers.RandomNormal()((3, 4)), initializers.Orthogonal()((4, 4))]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    set_random_seed(8)
    assert not np.array_equal(initializers.RandomNormal()((3, 4)), first[0])


@pytest.mark.parametrize("name", ["RandomNormal", "TruncatedNormal", "GlorotUniform", "Orthogonal"])
def test_a_seed_generator_as_seed_advances_at_each_call_as_in_keras(keras, name):
    """Keras takes a ``keras.random.SeedGenerator`` as an initializer's seed: each call draws
    new values; its config holds the generator's ``keras.random`` entry, which from_config
    makes a generator again, repeating the first draws."""
    configs = []
    for lib in (ac, keras):
        make = getattr(lib.initializers, name)
        init = make(seed=lib.random.SeedGenerator(5, name="sg"))
        first, second = np.asarray(init(DENSE)), np.asarray(init(DENSE))
        assert not np.allclose(first, second)
        configs.append(init.get_config())
        copy = make.from_config(init.get_config())
        assert type(copy.seed).__name__ == "SeedGenerator"
        np.testing.assert_array_equal(np.asarray(copy(DENSE)), first)
        np.testing.assert_array_equal(np.asarray(copy(DENSE)), second)
    assert configs[0] == configs[1]
    assert configs[0]["seed"]["config"] == {"seed": 5, "name": "sg"}


@pytest.mark.parametrize("seed", ["1", 1.5, True])
def test_a_seed_must_be_an_int(seed):
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomUniform(seed=seed)


# --------------------------------------------------------------------------- orthogonal
@pytest.mark.parametrize(
    ("shape", "gain"), [((64, 32), 1.0), ((32, 64), 1.0), ((48, 48), 2.0), ((3, 3, 4, 8), 1.0)]
)
def test_orthogonal(shape, gain):
    values = initializers.Orthogonal(gain=gain, seed=5)(shape, dtype="float64")
    assert values.shape == shape
    matrix = values.reshape(-1, shape[-1])
    rows, columns = matrix.shape
    gram = matrix.T @ matrix if rows >= columns else matrix @ matrix.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, columns)), atol=1e-12)


def test_orthogonal_needs_two_axes():
    with pytest.raises(ValueError, match="at least two-dimensional"):
        initializers.Orthogonal()((5,))


# ------------------------------------------------------------------- get and configs
@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("glorot_uniform", initializers.GlorotUniform),
        ("GlorotUniform", initializers.GlorotUniform),
        ("glorot_normal", initializers.GlorotNormal),
        ("he_uniform", initializers.HeUniform),
        ("he_normal", initializers.HeNormal),
        ("lecun_uniform", initializers.LecunUniform),
        ("lecun_normal", initializers.LecunNormal),
        ("zeros", initializers.Zeros),
        ("zero", initializers.Zeros),
        ("ones", initializers.Ones),
        ("one", initializers.Ones),
        ("constant", initializers.Constant),
        ("random_normal", initializers.RandomNormal),
        ("normal", initializers.RandomNormal),
        ("random_uniform", initializers.RandomUniform),
        ("uniform", initializers.RandomUniform),
        ("truncated_normal", initializers.TruncatedNormal),
        ("variance_scaling", initializers.VarianceScaling),
        ("orthogonal", initializers.Orthogonal),
        ("Orthogonal", initializers.Orthogonal),
        ("OrthogonalInitializer", initializers.Orthogonal),
        ("identity", initializers.Identity),
        ("IdentityInitializer", initializers.Identity),
    ],
)
def test_get_by_name(name, cls):
    assert type(initializers.get(name)) is cls


def test_lower_case_names_are_the_classes():
    assert initializers.he_normal is initializers.HeNormal
    assert initializers.glorot_uniform(seed=3).seed == 3


def test_get_other_identifiers():
    assert initializers.get(None) is None
    instance = initializers.HeNormal(seed=1)
    assert initializers.get(instance) is instance
    assert type(initializers.get(initializers.Ones)) is initializers.Ones

    def custom(shape, dtype=None):
        return np.full(shape, 7.0, dtype)

    assert initializers.get(custom) is custom
    keras_form = {
        "module": "keras.initializers",
        "class_name": "RandomNormal",
        "config": {"mean": 1.0, "stddev": 2.0, "seed": 3},
        "registered_name": None,
    }
    made = initializers.get(keras_form)
    assert (type(made), made.mean, made.stddev, made.seed) == (initializers.RandomNormal, 1, 2, 3)


def test_get_refuses_unknown_identifiers():
    with pytest.raises(ValueError, match=r"'he_unifrom'.*known initializers: .*he_uniform"):
        initializers.get("he_unifrom")
    with pytest.raises(ValueError, match="Could not interpret initializer identifier"):
        initializers.get(0.5)


@pytest.mark.parametrize(
    "initializer",
    [
        initializers.Zeros(),
        initializers.Constant(0.25),
        initializers.Identity(gain=0.5),
        initializers.RandomNormal(0.5, 0.1, seed=4),
        initializers.TruncatedNormal(0.5, 0.1, seed=4),
        initializers.RandomUniform(-2.0, 1.0, seed=4),
        initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=4),
        initializers.HeUniform(seed=4),
        initializers.Orthogonal(gain=1.5, seed=4),
    ],
    ids=lambda i: type(i).__name__,
)
def test_configs_rebuild_the_same_initializer(initializer):
    for rebuilt in (
        type(initializer).from_config(initializer.get_config()),
        initializers.deserialize(initializers.serialize(initializer)),
        initializers.get(initializers.serialize(initializer)),
        initializer.clone(),
    ):
        assert type(rebuilt) is type(initializer)
        assert rebuilt.get_config() == initializer.get_config()
        np.testing.assert_array_equal(rebuilt((6, 6)), initializer((6, 6)))


def test_configs_have_keras_keys():
    assert initializers.GlorotUniform(seed=1).get_config() == {
        "seed": 1,
        "input_axes": None,
        "output_axes": None,
    }
    assert initializers.RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert set(initializers.VarianceScaling().get_config()) == {
        "seed",
        "scale",
        "mode",
        "distribution",
        "input_axes",
        "output_axes",
    }
    assert initializers.Orthogonal().get_config() == {"seed": None, "gain": 1.0}


def test_layers_use_glorot_uniform_by_default_with_conv_fans():
    from autoconv import layers

    set_random_seed(0)
    layer = layers.Conv2D(CONV[-1], CONV[:2])
    layer.build((None, 16, 16, CONV[2]))
    kernel = layer.kernel.numpy()
    limit = math.sqrt(6 / (576 + 1152))
    assert np.abs(kernel).max() <= limit
    assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=0.03)  # U(-l, l)


def test_reachable_from_the_package():
    assert ac.initializers is initializers


# ------------------------------------------------------------------------------ STFT
STFT_CASES = [
    {},
    {"side": "imag"},
    {"window": "hamming", "scaling": "spectrum", "periodic": True},
    {"side": "imag", "window": "blackman", "scaling": None},
    {"window": None},
    {"window": [0.5, 1.0, 1.0, 0.25, 0.5, 0.75, 1.0, 0.5]},
]


@pytest.mark.parametrize("arguments", STFT_CASES)
@pytest.mark.parametrize("shape", [(8, 1, 5), (8, 1, 9), (6, 1, 2)])
def test_stft_kernels_are_keras(keras, arguments, shape):
    """Keras's, its window given as our values where it is a name (Keras gets named windows
    from SciPy, not a test extra; ``get_window`` is checked against PyTorch's windows)."""
    window = arguments.get("window", "hann")
    if isinstance(window, list) and len(window) != shape[0]:
        window = window[: shape[0]]
    ours = initializers.STFT(**arguments | {"window": window})
    as_values = initializers.get_window(window, shape[0], arguments.get("periodic", False))
    theirs = keras.initializers.STFT(**arguments | {"window": as_values})
    for dtype in ("float32", "float64"):
        values = ours(shape, dtype=dtype)
        assert values.dtype == np.dtype(dtype) and values.shape == shape
        expected = keras.ops.convert_to_numpy(theirs(shape, dtype=dtype))
        np.testing.assert_allclose(values, expected, rtol=2e-5, atol=2e-6)  # Keras: in dtype


@pytest.mark.parametrize("arguments", [{}, {"side": "imag", "window": None, "scaling": None},
                                       {"window": [0.5, 1.0, 0.25], "periodic": True}])  # fmt: skip
def test_stft_configs_and_entries_are_keras(keras, arguments):
    ours = initializers.STFT(**arguments)
    entry = initializers.serialize(ours)
    assert entry["module"] == "keras.initializers" and entry["class_name"] == "STFT"
    defaults = {"side": "real", "window": "hann", "periodic": False, "scaling": "density"}
    assert ours.get_config() == entry["config"] == defaults | arguments
    if not isinstance(ours.window, str):  # (Keras makes named windows with SciPy)
        theirs = keras.initializers.STFT(**arguments)
        assert entry == keras.initializers.serialize(theirs)
        shape = (3, 1, 4)
        rebuilt = keras.ops.convert_to_numpy(keras.initializers.deserialize(entry)(shape))
        np.testing.assert_allclose(initializers.deserialize(entry)(shape), rebuilt, atol=2e-6)


def test_stft_gives_each_channel_the_same_kernels():
    kernels, one = initializers.STFT("imag")((4, 3, 3)), initializers.STFT("imag")((4, 1, 3))
    assert kernels.shape == (4, 3, 3)
    for channel in range(3):
        np.testing.assert_array_equal(kernels[:, channel], one[:, 0])


def test_stft_names_and_errors_are_keras(keras):
    for name in ("stft", "STFT", "STFTInitializer"):
        assert type(initializers.get(name)) is initializers.STFT
    assert initializers.stft is initializers.STFTInitializer is initializers.STFT
    for arguments, message in [
        ({"side": "both"}, "side should be 'real' or 'imag', not both"),
        ({"scaling": "power"}, "Scaling is invalid, it must be `None`, 'density' or 'spectrum'"),
        ({"window": "kaiser-ish"}, "Unknown window 'kaiser-ish'"),
    ]:
        with pytest.raises(ValueError, match=message):
            initializers.STFT(**arguments)
    with pytest.raises(ValueError, match=r"The shape of `window` must be equal to \[frame_length"):
        initializers.STFT(window=[1.0, 0.5])((4, 1, 3))


@pytest.mark.parametrize("name", ["VarianceScaling", "GlorotUniform", "HeNormal", "LecunUniform"])
def test_fan_axes_are_kerass(keras, name):
    """``input_axes`` / ``output_axes`` choose the fans (Keras 3.15): a (2, 3, 4, 5) kernel with
    fans over axes [0, 2] and [1, 3] has fan_in 8 and fan_out 15; the config keeps them."""
    from keras.src.initializers.random_initializers import compute_fans as keras_fans

    shape, ins, outs = (2, 3, 4, 5), [0, 2], [1, 3]
    assert initializers.compute_fans(shape, ins, outs) == keras_fans(shape, ins, outs) == (8, 15)
    ours = getattr(initializers, name)(seed=3, input_axes=ins, output_axes=outs)
    theirs = getattr(keras.initializers, name)(seed=3, input_axes=ins, output_axes=outs)
    assert ours.get_config() == theirs.get_config()
    assert initializers.deserialize(initializers.serialize(ours)).get_config() == ours.get_config()
    values = ours(shape)
    if ours.distribution == "uniform":  # the limit of the fans the axes give
        n = {"fan_in": 8, "fan_out": 15, "fan_avg": 11.5}[ours.mode]
        assert np.abs(values).max() <= np.sqrt(3 * ours.scale / n)
    np.testing.assert_allclose(values.std(), np.asarray(theirs(shape)).std(), rtol=0.5)


REPRODUCIBILITY_RECIPE = ["RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
                          "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal",
                          "LecunUniform", "Orthogonal"]  # fmt: skip


@pytest.mark.parametrize("name", REPRODUCIBILITY_RECIPE)
def test_a_one_element_draw_is_a_float_as_in_keras(keras, name):
    """keras.io's reproducibility recipe: ``float(initializer(seed=42)(shape=(1, 1)))``, twice
    the same; ``numpy()`` gives the values, as of Keras's tensors."""
    for lib in (ac, keras):
        make = getattr(lib.initializers, name)
        first, second = (float(make(seed=42)(shape=(1, 1))) for _ in range(2))
        assert isinstance(first, float) and first == second
        values = make(seed=42)(shape=(2, 3))
        assert np.asarray(values.numpy()).shape == (2, 3)


@pytest.mark.parametrize("convert", [float, int])
def test_a_draw_of_several_values_is_no_number(convert):
    with pytest.raises(TypeError):
        convert(initializers.Ones()(shape=(2, 1)))
    assert convert(initializers.Ones()(shape=(1, 1, 1))) == 1
