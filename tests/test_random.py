"""autoconv.random as keras.random: signatures, shapes and dtypes, seeding, the distributions'
statistics, dropout and shuffle as autograd ops (CPU and CUDA), and the argument checks.

The statistical checks draw large samples with fixed seeds and allow 6 standard errors."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autoconv.random as random
import autoconv.seeds as seeds
from autoconv.tensor import Tensor
from autoconv.testing import gradcheck
from autoconv.utils import set_random_seed

KERAS_NAMES = [
    "normal",
    "uniform",
    "truncated_normal",
    "randint",
    "shuffle",
    "dropout",
    "categorical",
    "gamma",
    "beta",
    "binomial",
]

# name -> draw(shape, dtype, seed) for the functions that return float Tensors
FLOAT_DRAWS: dict[str, Callable[..., Any]] = {
    "normal": lambda s, d, seed: random.normal(s, dtype=d, seed=seed),
    "uniform": lambda s, d, seed: random.uniform(s, dtype=d, seed=seed),
    "truncated_normal": lambda s, d, seed: random.truncated_normal(s, dtype=d, seed=seed),
    "gamma": lambda s, d, seed: random.gamma(s, 2.0, dtype=d, seed=seed),
    "beta": lambda s, d, seed: random.beta(s, 2.0, 3.0, dtype=d, seed=seed),
    "binomial": lambda s, d, seed: random.binomial(s, 10, 0.5, dtype=d, seed=seed),
}
INPUT = np.arange(24.0).reshape(4, 6)
# name -> draw(seed) as a NumPy array, for every function (dropout and shuffle on INPUT)
DRAWS: dict[str, Callable[[Any], np.ndarray]] = {
    **{name: (lambda seed, f=f: f((5, 4), None, seed).numpy()) for name, f in FLOAT_DRAWS.items()},
    "randint": lambda seed: random.randint((5, 4), 0, 1000, seed=seed),
    "categorical": lambda seed: random.categorical(np.zeros((2, 50)), 10, seed=seed),
    "dropout": lambda seed: random.dropout(INPUT, 0.5, seed=seed).numpy(),
    "shuffle": lambda seed: random.shuffle(INPUT, seed=seed).numpy(),
}


@pytest.fixture
def restore_global_generator(monkeypatch):
    """set_random_seed replaces autoconv's generator: put the test's own back afterwards."""
    monkeypatch.setattr(seeds, "_generator", seeds.generator())
    monkeypatch.setattr(seeds, "_seed", seeds._seed)


def within(samples: np.ndarray, expected_mean: float, expected_var: float) -> None:
    """The sample mean is within 6 standard errors of ``expected_mean``, and the sample
    variance within 6 of ``expected_var`` (its standard error taken as 2 var / sqrt(n): a
    bound for distributions of kurtosis up to 5, as all those tested with it)."""
    n = samples.size
    assert abs(samples.mean() - expected_mean) <= 6 * math.sqrt(expected_var / n)
    assert abs(samples.var() - expected_var) <= 12 * expected_var / math.sqrt(n)


# ---------------------------------------------------------------------- signatures
REQUIRED = "<no default>"


def keras_signatures() -> dict[str, list[tuple[str, Any]]]:
    """Keras's public random functions and SeedGenerator.__init__ as (argument, default)
    lists, read from its source (no Keras backend needed)."""
    spec = importlib.util.find_spec("keras")
    if spec is None or spec.origin is None:
        pytest.skip("keras is not installed")
    folder = Path(spec.origin).parent / "src" / "random"
    signatures = {}
    for file, names in (("random.py", KERAS_NAMES), ("seed_generator.py", ["__init__"])):
        for node in ast.walk(ast.parse((folder / file).read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                args = node.args.args
                defaults = [None] * (len(args) - len(node.args.defaults)) + node.args.defaults
                signatures[node.name] = [
                    (a.arg, REQUIRED if d is None else ast.literal_eval(d))
                    for a, d in zip(args, defaults, strict=True)
                ]
                if node.args.kwarg:
                    signatures[node.name].append(("**" + node.args.kwarg.arg, REQUIRED))
    return signatures


def test_signatures_and_defaults_are_keras():
    signatures = keras_signatures()
    mine = {name: getattr(random, name) for name in KERAS_NAMES}
    mine["__init__"] = random.SeedGenerator.__init__
    for name, fn in mine.items():
        params = [
            ("**" + p.name if p.kind is p.VAR_KEYWORD else p.name, REQUIRED)
            if p.default is p.empty
            else (p.name, p.default)
            for p in inspect.signature(fn).parameters.values()
        ]
        assert params == signatures[name], name


# ------------------------------------------------------------------ shapes and dtypes
@pytest.mark.parametrize("name", FLOAT_DRAWS)
@pytest.mark.parametrize("dtype", [None, "float32", "float64", np.float64])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4), (0, 5), [2, 2]])
def test_float_draws_are_tensors_of_the_shape_and_dtype(name, dtype, shape):
    out = FLOAT_DRAWS[name](shape, dtype, 3)
    assert isinstance(out, Tensor) and out.device == "cpu"
    assert out.shape == tuple(shape)
    assert out.dtype == np.dtype(dtype or "float32")


def test_an_int_is_a_shape_of_one_axis():
    assert random.normal(4, seed=0).shape == (4,)


@pytest.mark.parametrize("dtype", ["int32", "int64", "int16", "uint8", np.int64])
def test_integer_draws_are_numpy_arrays_of_the_dtype(dtype):
    draws = [
        random.randint((3, 4), 0, 100, dtype=dtype, seed=1),
        random.categorical(np.zeros((3, 5)), 4, dtype=dtype, seed=1),
        random.binomial((3, 4), 10, 0.5, dtype=dtype, seed=1),
    ]
    for out, shape in zip(draws, [(3, 4), (3, 4), (3, 4)], strict=True):
        assert type(out) is np.ndarray and out.dtype == np.dtype(dtype) and out.shape == shape


def test_integer_defaults_are_keras():
    assert random.randint((2,), 0, 3, seed=0).dtype == np.int32
    assert random.categorical([[0.0, 1.0]], 3, seed=0).dtype == np.int32
    out = random.binomial((2,), 3, 0.5, seed=0)  # dtype None: floatx, as Keras
    assert isinstance(out, Tensor) and out.dtype == np.float32


def test_categorical_with_a_float_dtype_is_a_tensor():
    out = random.categorical(Tensor([[0.0, 1.0]]), 3, dtype="float64", seed=0)
    assert isinstance(out, Tensor) and out.dtype == np.float64 and out.shape == (1, 3)


# ------------------------------------------------------------------------- seeding
@pytest.mark.parametrize("name", DRAWS)
def test_an_int_seed_gives_the_same_values_every_call(name):
    draw = DRAWS[name]
    np.testing.assert_array_equal(draw(7), draw(7))
    np.testing.assert_array_equal(draw(np.int64(7)), draw(7))
    assert not np.array_equal(draw(7), draw(8))


@pytest.mark.parametrize("name", DRAWS)
def test_a_seed_generator_advances_and_repeats_its_sequence(name):
    draw = DRAWS[name]
    gen = random.SeedGenerator(7)
    first, second = draw(gen), draw(gen)
    assert not np.array_equal(first, second)
    again = random.SeedGenerator(7)
    np.testing.assert_array_equal(draw(again), first)
    np.testing.assert_array_equal(draw(again), second)
    np.testing.assert_array_equal(draw(7), first)  # seed=s draws as SeedGenerator(s) first


@pytest.mark.parametrize("name", DRAWS)
def test_set_random_seed_makes_unseeded_draws_reproducible(name, restore_global_generator):
    draw = DRAWS[name]
    set_random_seed(11)
    first, second = draw(None), draw(None)
    assert not np.array_equal(first, second)
    set_random_seed(11)
    np.testing.assert_array_equal(draw(None), first)
    np.testing.assert_array_equal(draw(None), second)


def test_an_unseeded_seed_generator_follows_set_random_seed(restore_global_generator):
    set_random_seed(5)
    state = random.SeedGenerator().state.copy()
    set_random_seed(5)
    np.testing.assert_array_equal(random.SeedGenerator().state, state)
    assert 1 <= state[0] <= 10**9 and state[1] == 0


def test_seed_generator_state_next_and_config():
    gen = random.SeedGenerator(42, name="gen")
    np.testing.assert_array_equal(gen.next(), [42, 0])
    np.testing.assert_array_equal(gen.next(), [42, 1])
    np.testing.assert_array_equal(gen.state, [42, 2])
    np.testing.assert_array_equal(gen.next(ordered=False), [42, 2])
    np.testing.assert_array_equal(gen.state, [43 * 5387 % 933199, 3 * 5387 % 933199])
    assert gen.get_config() == {"seed": 42, "name": "gen"}
    copy = random.SeedGenerator.from_config(gen.get_config())
    assert copy.name == "gen"
    np.testing.assert_array_equal(copy.state, [42, 0])
    assert random.SeedGenerator(-1).state[0] == 2**64 - 1
    assert random.SeedGenerator().get_config()["seed"] is None


def test_a_seed_generators_state_is_set_back_with_assign_as_keras(keras):
    """Keras's state is a variable: ``numpy()``, ``path``, ``assign`` (a generator set back to
    ``[seed, 0]`` repeats its draws); autoconv's keeps the pair in uint64 (Keras's PyTorch
    backend: int32)."""
    seen = []
    for lib in (random, keras.random):
        gen = lib.SeedGenerator(42, name="gen")
        first = np.asarray(lib.normal((3,), seed=gen))
        assert gen.state.numpy().tolist() == [42, 1]
        gen.state.assign([42, 0])
        np.testing.assert_array_equal(np.asarray(lib.normal((3,), seed=gen)), first)
        state = gen.state
        seen.append((state.path, state.name, state.trainable, tuple(state.shape)))
    assert seen[0] == seen[1] == ("gen/seed_generator_state", "seed_generator_state", False, (2,))
    state = random.SeedGenerator(7, name="g7").state
    assert (
        repr(state)
        == "<Variable path=g7/seed_generator_state, shape=(2,), dtype=uint64, value=[7 0]>"
    )
    with pytest.raises(ValueError, match="g7/seed_generator_state: cannot assign"):
        state.assign([1.5, 0.0])


def test_seed_generators_are_named_as_keras():
    first, second = random.SeedGenerator(1).name, random.SeedGenerator(1).name
    assert first.startswith("seed_generator") and second.startswith("seed_generator_")
    assert first != second


# ---------------------------------------------------------------------- statistics
N = 200_000


def test_normal_statistics():
    x = random.normal((N,), mean=2.0, stddev=3.0, seed=1).numpy().astype(np.float64)
    within(x, 2.0, 9.0)


def test_normal_takes_arrays_of_means():
    x = random.normal((N // 4, 4), mean=np.arange(4.0), stddev=0.5, seed=2).numpy()
    for column in range(4):
        within(x[:, column].astype(np.float64), column, 0.25)


def test_uniform_statistics_and_range():
    x = random.uniform((N,), minval=-2.0, maxval=5.0, dtype="float64", seed=1).numpy()
    assert x.min() >= -2.0 and x.max() < 5.0
    within(x, 1.5, 49 / 12)


def test_uniform_never_rounds_up_to_maxval():
    # float32 holds only 1e8 and 1e8 + 8 in this range: half the draws would round to maxval
    x = random.uniform((1000,), minval=1e8, maxval=1e8 + 8, seed=1).numpy()
    assert (x < np.float32(1e8 + 8)).all() and (x >= np.float32(1e8)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_truncated_normal_stays_within_two_stddevs(dtype):
    mean, stddev = 1.0, 2.0
    x = random.truncated_normal((N,), mean, stddev, dtype=dtype, seed=1).numpy()
    x = x.astype(np.float64)
    assert np.abs(x - mean).max() <= 2 * stddev * (1 + 1e-6)
    assert np.abs(x - mean).max() > 1.99 * stddev  # the tails reach the bounds
    # the variance of N(0, 1) truncated to [-2, 2]: 1 - 2 * 2 * pdf(2) / (cdf(2) - cdf(-2))
    pdf2 = math.exp(-2) / math.sqrt(2 * math.pi)
    truncated_var = 1 - 4 * pdf2 / math.erf(2 / math.sqrt(2))
    within(x, mean, stddev**2 * truncated_var)


def test_gamma_moments_for_each_alpha():
    alpha = np.array([0.5, 2.0, 7.0])
    x = random.gamma((N // 3, 3), alpha, dtype="float64", seed=1).numpy()
    assert (x > 0).all()
    for column, a in enumerate(alpha):
        n = len(x)
        assert abs(x[:, column].mean() - a) <= 6 * math.sqrt(a / n)
        assert abs(x[:, column].var() - a) <= 6 * math.sqrt((2 * a**2 + 6 * a) / n)


def test_beta_moments():
    a, b = 2.0, 5.0
    x = random.beta((N,), a, b, dtype="float64", seed=1).numpy()
    assert (x > 0).all() and (x < 1).all()
    within(x, a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1)))


def test_binomial_moments():
    x = random.binomial((N,), 20, 0.3, dtype="int64", seed=1)
    assert x.min() >= 0 and x.max() <= 20
    within(x.astype(np.float64), 6.0, 4.2)


def test_binomial_takes_arrays_of_counts_and_probabilities():
    x = random.binomial((N // 2, 2), np.array([5.0, 40.0]), [[0.9, 0.1]], seed=1).numpy()
    within(x[:, 0].astype(np.float64), 4.5, 0.45)
    within(x[:, 1].astype(np.float64), 4.0, 3.6)
    assert (random.binomial((3,), 0, 0.5, seed=1).numpy() == 0).all()
    assert (random.binomial((3,), 4, 1.0, seed=1).numpy() == 4).all()


def test_categorical_frequencies_are_the_softmax_of_the_logits():
    logits = np.array([[1.0, 2.0, 0.5, -np.inf], [0.0, 0.0, 0.0, 5.0]])
    samples = random.categorical(logits, N // 2, seed=1)
    assert samples.shape == (2, N // 2)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    for row, p in zip(samples, probabilities, strict=True):
        frequencies = np.bincount(row, minlength=4) / row.size
        np.testing.assert_allclose(frequencies, p, atol=6 * math.sqrt(0.25 / row.size))
    assert (samples[0] != 3).all()  # a -inf logit is never drawn


def test_randint_is_uniform_over_its_range():
    x = random.randint((N,), -3, 4, dtype="int64", seed=1)
    assert x.min() == -3 and x.max() == 3
    np.testing.assert_allclose(np.bincount(x + 3) / N, 1 / 7, atol=6 * math.sqrt(1 / 7 / N))


# ----------------------------------------------------------------------- dropout
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.75])
def test_dropout_drops_a_fraction_rate_and_scales_the_rest(rate, dtype):
    x = Tensor(np.full((N // 4,), 2.0, dtype))
    out = random.dropout(x, rate, seed=3)
    assert out.dtype == dtype and out.shape == x.shape
    values = out.numpy()
    kept = values != 0
    np.testing.assert_array_equal(values[kept], dtype(2.0) * dtype(1 / (1 - rate)))
    assert abs(1 - kept.mean() - rate) <= 6 * math.sqrt(rate * (1 - rate) / x.size)


def test_dropout_gradient_is_the_mask():
    x = Tensor(np.linspace(1.0, 2.0, 30).reshape(5, 6), requires_grad=True, dtype="float64")
    out = random.dropout(x, 0.4, seed=2)
    out.backward(np.ones(out.shape))
    np.testing.assert_allclose(x.grad, out.numpy() / x.numpy())
    assert gradcheck(lambda t: random.dropout(t, 0.4, seed=2), [INPUT])


def test_dropout_noise_shape_shares_the_mask_along_its_ones_and_nones():
    x = np.ones((64, 3, 5))
    out = random.dropout(x, 0.5, noise_shape=(None, 1, 5), seed=1).numpy()
    assert (out == out[:, :1, :]).all()  # the same mask at every position of axis 1
    assert 0 < (out == 0).mean() < 1


def test_dropout_rate_0_is_the_input_and_rate_1_zeros():
    x = Tensor(INPUT, requires_grad=True)
    assert random.dropout(x, 0.0) is x
    out = random.dropout(x, 1, seed=1)
    assert (out.numpy() == 0).all()
    out.sum().backward()
    assert (x.grad == 0).all()


# ----------------------------------------------------------------------- shuffle
@pytest.mark.parametrize(("shape", "axis"), [((6,), 0), ((5, 4), 0), ((3, 7, 2), 1), ((3, 4), -1)])
def test_shuffle_permutes_whole_slices_along_the_axis(shape, axis):
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    out = random.shuffle(x, axis=axis, seed=4).numpy()
    assert out.shape == x.shape and out.dtype == np.float64
    # which input slice each output slice is: its first element over the slice's stride
    stride = math.prod(shape[axis % len(shape) + 1 :])
    order = np.moveaxis(out, axis, 0).reshape(shape[axis], -1)[:, 0].astype(int) // stride
    assert sorted(order) == list(range(shape[axis]))
    assert not np.array_equal(order, np.arange(shape[axis]))
    np.testing.assert_array_equal(out, np.take(x, order, axis=axis))


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_shuffle_keeps_an_integer_arrays_dtype_as_kerass(keras, dtype):
    values = np.arange(10).reshape(5, 2).astype(dtype)
    theirs = keras.ops.convert_to_numpy(keras.random.shuffle(values, seed=1))
    ours = random.shuffle(values, seed=1).numpy()
    assert ours.dtype == theirs.dtype == values.dtype
    assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, values.tolist()))


def test_shuffle_gradient_routes_back_to_the_original_positions():
    x = Tensor(INPUT, requires_grad=True, dtype="float64")
    out = random.shuffle(x, axis=1, seed=5)
    weights = np.arange(out.size, dtype=np.float64).reshape(out.shape)
    out.backward(weights)
    order = (out.numpy()[0]).astype(int)  # INPUT[0] is 0..5: the permutation itself
    expected = np.empty_like(weights)
    expected[:, order] = weights
    np.testing.assert_array_equal(x.grad, expected)
    assert gradcheck(lambda t: random.shuffle(t, axis=1, seed=5), [INPUT])


# ----------------------------------------------------------------------------- CUDA
@pytest.mark.cudasim
def test_dropout_and_shuffle_stay_on_cuda_with_their_gradients():
    pytest.importorskip("numba_cuda")
    from autoconv.backends import namespace

    xp = namespace("cuda")
    x = Tensor(INPUT, requires_grad=True, device="cuda")
    dropped = random.dropout(x, 0.5, seed=1)
    assert dropped.device == "cuda"
    values = dropped.numpy()
    assert set(np.unique(values[values != 0] / INPUT[values != 0])) == {2.0}
    np.testing.assert_array_equal(random.dropout(x, 0.5, seed=1).numpy(), values)
    dropped.backward(xp.asarray(np.ones(INPUT.shape, np.float32)))
    np.testing.assert_array_equal(xp.to_numpy(x.grad), 2.0 * (values != 0))

    x = Tensor(INPUT, requires_grad=True, device="cuda")
    shuffled = random.shuffle(x, axis=1, seed=5)
    assert shuffled.device == "cuda"
    np.testing.assert_array_equal(shuffled.numpy(), random.shuffle(INPUT, axis=1, seed=5).numpy())
    weights = np.arange(INPUT.size, dtype=np.float32).reshape(INPUT.shape)
    shuffled.backward(xp.asarray(weights))
    order = shuffled.numpy()[0].astype(int)
    np.testing.assert_array_equal(xp.to_numpy(x.grad)[:, order], weights)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: random.uniform((2,), dtype="int32"), "`uniform` requires a floating point"),
        (lambda: random.normal((2,), dtype="float16"), "float32 or float64"),
        (lambda: random.gamma((2,), 1.0, dtype="bfloat16"), "float32 or float64"),
        (lambda: random.randint((2,), 0, 5, dtype="float32"), "requires an integer `dtype`"),
        (lambda: random.randint((2,), 0, 5, dtype=None), "requires an integer `dtype`"),
        (lambda: random.randint((2,), 5, 5), "`maxval` must be greater than `minval`"),
        (lambda: random.binomial((2,), 3, 0.5, dtype="float16"), "an integer `dtype`"),
        (lambda: random.categorical([0.0, 1.0], 2), "2-D tensor"),
        (lambda: random.categorical(np.zeros((2, 0)), 2), "2-D tensor"),
        (lambda: random.categorical([[0.0, 1.0]], -1), "`num_samples`"),
        (lambda: random.categorical([[0.0, 1.0]], 2.0), "`num_samples`"),
        (lambda: random.normal((2,), stddev=-1.0), "`stddev` must be non-negative"),
        (lambda: random.truncated_normal((2,), stddev=-1.0), "`stddev` must be non-negative"),
        (lambda: random.normal((2, 3), mean=np.zeros(4)), r"`mean` of shape \(4,\) does not"),
        (lambda: random.uniform((3,), maxval=np.ones((2, 3))), "`maxval` of shape"),
        (lambda: random.normal((-1,)), "`shape` must be a tuple of non-negative ints"),
        (lambda: random.normal("ab"), "`shape` must be a tuple of non-negative ints"),
        (lambda: random.normal((2.0,)), "`shape` must be a tuple of non-negative ints"),
        (lambda: random.gamma((2,), 0.0), "`alpha` must be positive"),
        (lambda: random.beta((2,), 1.0, -1.0), "`beta` must be positive"),
        (lambda: random.binomial((2,), -1, 0.5), "`counts` must be non-negative integers"),
        (lambda: random.binomial((2,), 2.5, 0.5), "`counts` must be non-negative integers"),
        (lambda: random.binomial((2,), 3, 1.5), r"`probabilities` must be in \[0, 1\]"),
        (lambda: random.dropout(INPUT, 1.5), "argument `rate`.*between 0 and 1"),
        (lambda: random.dropout(INPUT, -0.1), "argument `rate`"),
        (lambda: random.dropout(INPUT, "0.5"), "argument `rate`"),
        (lambda: random.dropout(INPUT, 0.5, noise_shape=(4,)), "`noise_shape`"),
        (lambda: random.dropout(INPUT, 0.5, noise_shape=(4, 2)), "noise_shape"),
        (lambda: random.shuffle(INPUT, axis=2), "axis 2 is out of range"),
        (lambda: random.shuffle(INPUT, axis=0.0), "`axis` must be an int"),
        (lambda: random.normal((2,), seed="1"), "`seed` must be either an integer"),
        (lambda: random.normal((2,), seed=1.0), "`seed` must be either an integer"),
        (lambda: random.normal((2,), seed=True), "`seed` must be either an integer"),
        (lambda: random.SeedGenerator(1.5), "Argument `seed` must be an integer"),
        (lambda: random.SeedGenerator(1, backend="numpy"), "Unrecognized keyword arguments"),
    ],
)
def test_bad_arguments_are_refused_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
