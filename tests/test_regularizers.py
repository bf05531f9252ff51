"""autoconv.regularizers, Keras's keras.regularizers: penalties and their gradients against the
formulas of keras/src/regularizers/regularizers.py, the defaults, the argument checks, get /
serialize / from_config, and the same penalty on the CUDA device."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import regularizers
from autoconv.testing import gradcheck
from tests.conftest import away_from_zero


def weight(rng, shape=(4, 3)):
    return away_from_zero(rng.standard_normal(shape))  # |w| is not differentiable at 0


def orthogonal_penalty(w, factor, mode):
    """Keras's formula in NumPy: factor * 0.5 * sum_{i != j} |cos(u_i, u_j)| / pairs."""
    vectors = w if mode == "rows" else w.T
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    product = unit @ unit.T
    size = len(vectors)
    return (
        factor * 0.5 * np.abs(product - np.diag(np.diag(product))).sum() / (size * (size - 1) / 2)
    )


L1_FACTOR = float(np.float32(0.3))  # (L1's and OrthogonalRegularizer's factors: float32)
CASES = [
    # regularizer, penalty(w), gradient(w)
    (
        regularizers.L1(0.3),
        lambda w: L1_FACTOR * np.abs(w).sum(),
        lambda w: L1_FACTOR * np.sign(w),
    ),
    (regularizers.L2(0.1), lambda w: 0.1 * (w**2).sum(), lambda w: 0.2 * w),
    (
        regularizers.L1L2(l1=0.01, l2=0.02),
        lambda w: 0.01 * np.abs(w).sum() + 0.02 * (w**2).sum(),
        lambda w: 0.01 * np.sign(w) + 0.04 * w,
    ),
    (regularizers.L1L2(l2=0.5), lambda w: 0.5 * (w**2).sum(), lambda w: w),
    (
        regularizers.OrthogonalRegularizer(0.2),
        lambda w: orthogonal_penalty(w, float(np.float32(0.2)), "rows"),
        None,
    ),
    (
        regularizers.OrthogonalRegularizer(0.3, mode="columns"),
        lambda w: orthogonal_penalty(w, float(np.float32(0.3)), "columns"),
        None,
    ),
]
IDS = [repr(case[0]) for case in CASES]


@pytest.mark.parametrize(("regularizer", "penalty", "gradient"), CASES, ids=IDS)
def test_penalty_and_gradient_match_the_formulas(regularizer, penalty, gradient, rng):
    w = weight(rng)
    t = ac.Tensor(w, requires_grad=True)
    out = regularizer(t)
    assert isinstance(out, ac.Tensor) and out.shape == ()
    np.testing.assert_allclose(out.item(), penalty(w), rtol=1e-12)
    out.backward()
    if gradient is not None:
        np.testing.assert_allclose(t.grad, gradient(w), rtol=1e-12)
    assert gradcheck(regularizer, [w])


@pytest.mark.parametrize(("regularizer", "penalty", "gradient"), CASES, ids=IDS)
def test_float32_stays_float32(regularizer, penalty, gradient, rng):
    w = weight(rng).astype(np.float32)
    t = ac.Tensor(w, requires_grad=True)
    out = regularizer(t)
    out.backward()
    assert out.dtype == np.float32 and t.grad.dtype == np.float32
    np.testing.assert_allclose(out.item(), penalty(w.astype(np.float64)), rtol=1e-5)


def test_keras_docstring_examples():
    # keras.regularizers docstring: L2(2.) on ones(5, 5) is 50 (no factor 1/2 in Keras 3)
    assert regularizers.L2(2.0)(np.ones((5, 5))).item() == 50.0
    assert regularizers.L1(0.01)(2 * np.ones((5, 5))).item() == pytest.approx(0.5)


def test_keras_defaults():
    # L1's and OrthogonalRegularizer's factors are float32, as Keras keeps them
    assert regularizers.L1().l1 == np.float32(0.01) and regularizers.L2().l2 == 0.01
    assert regularizers.L1(None).l1 == np.float32(0.01) and regularizers.L2(None).l2 == 0.01
    both = regularizers.L1L2()
    assert (both.l1, both.l2) == (0.0, 0.0)
    orthogonal = regularizers.OrthogonalRegularizer()
    assert (orthogonal.factor, orthogonal.mode) == (np.float32(0.01), "rows")


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.regularizers.L1(0.01),
        lambda lib: lib.regularizers.L2(0.01),
        lambda lib: lib.regularizers.L1L2(0.01, 0.02),
        lambda lib: lib.regularizers.OrthogonalRegularizer(0.3, "columns"),
    ],
)
def test_configs_are_kerass(keras, make):
    """The same numbers in the config (L1's 0.01 is 0.009999999776482582, as Keras's float32
    tensor gives it)."""
    assert make(ac).get_config() == make(keras).get_config()
    # Keras 3's "l1_l2" is the class L1L2: both factors 0 (its docstring's 0.01 is stale)
    by_name = regularizers.get("l1_l2")
    assert (by_name.l1, by_name.l2) == (0.0, 0.0)
    assert regularizers.l1_l2 is regularizers.L1L2 and regularizers.l2 is regularizers.L2


@pytest.mark.parametrize("name", ["l1", "L2", "l1l2", "L1L2", "orthogonal_regularizer"])
def test_get_takes_kerass_names(keras, name):
    # Keras's get knows each class by its name and its snake-cased name ("l1l2")
    assert type(regularizers.get(name)).__name__ == type(keras.regularizers.get(name)).__name__


def test_l1l2_of_zeros_is_a_zero_tensor():
    out = regularizers.L1L2()(ac.Tensor(np.ones(3, np.float32)))
    assert isinstance(out, ac.Tensor) and out.item() == 0.0 and out.dtype == np.float32


def test_orthogonal_regularizer_values():
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    assert regularizers.OrthogonalRegularizer(1.0)(q).item() == pytest.approx(0.0, abs=1e-12)
    same_rows = np.ones((4, 3))  # every pair has |cos| = 1: the mean is 1, the penalty factor/2*2
    assert regularizers.OrthogonalRegularizer(0.5)(same_rows).item() == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: regularizers.L1(-0.1), "Invalid value for argument l1"),
        (lambda: regularizers.L2(float("nan")), "Invalid value for argument l2"),
        (lambda: regularizers.L1L2(l2=float("inf")), "Invalid value for argument l2"),
        (lambda: regularizers.L2("0.1"), "Invalid value for argument l2"),
        (lambda: regularizers.OrthogonalRegularizer(-1.0), "argument factor"),
        (lambda: regularizers.OrthogonalRegularizer(mode="diagonal"), "mode"),
        (lambda: regularizers.OrthogonalRegularizer()(np.ones((2, 2, 2))), "must have rank 2"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "regularizer",
    [
        regularizers.L1(0.5),
        regularizers.L2(0.25),
        regularizers.L1L2(0.1, 0.2),
        regularizers.OrthogonalRegularizer(0.1, "columns"),
    ],
    ids=lambda r: type(r).__name__,
)
def test_configs_rebuild_the_same_regularizer(regularizer, rng):
    w = weight(rng)
    for rebuilt in (
        type(regularizer).from_config(regularizer.get_config()),
        regularizers.deserialize(regularizers.serialize(regularizer)),
        regularizers.get(regularizers.serialize(regularizer)),
    ):
        assert type(rebuilt) is type(regularizer)
        assert rebuilt.get_config() == regularizer.get_config()
        assert rebuilt(w).item() == regularizer(w).item()


def test_get():
    assert regularizers.get(None) is None
    for name, cls in [
        ("l1", regularizers.L1),
        ("L1", regularizers.L1),
        ("l2", regularizers.L2),
        ("L2", regularizers.L2),
        ("L1L2", regularizers.L1L2),
        ("orthogonal_regularizer", regularizers.OrthogonalRegularizer),
        ("OrthogonalRegularizer", regularizers.OrthogonalRegularizer),
    ]:
        assert type(regularizers.get(name)) is cls
    instance = regularizers.L2(0.3)
    assert regularizers.get(instance) is instance
    assert type(regularizers.get(regularizers.L1)) is regularizers.L1

    def custom(w):
        return (w * w).sum()

    assert regularizers.get(custom) is custom
    keras_form = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.5}}
    assert regularizers.get(keras_form).l2 == 0.5


def test_get_refuses_unknown_identifiers():
    with pytest.raises(ValueError, match=r"'l3'.*known regularizers: .*l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
        regularizers.get(0.01)


def test_base_class_and_reachable_from_the_package():
    assert regularizers.Regularizer()(np.ones(2)) == 0.0
    with pytest.raises(NotImplementedError, match="Regularizer does not implement get_config"):
        regularizers.Regularizer().get_config()
    assert repr(regularizers.Regularizer()) == "Regularizer()"
    assert ac.regularizers is regularizers


@pytest.mark.cudasim
@pytest.mark.parametrize(("regularizer", "penalty", "gradient"), CASES, ids=IDS)
def test_same_penalty_and_gradient_on_cuda(regularizer, penalty, gradient, rng):
    pytest.importorskip("numba_cuda")
    w = weight(rng, (3, 2))
    results = []
    for device in ("cpu", "cuda"):
        t = ac.Tensor(w, requires_grad=True, device=device)
        out = regularizer(t)
        out.backward()
        assert out.device == device
        results.append((out.numpy(), ac.backends.namespace(device).to_numpy(t.grad)))
    for gpu, cpu in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-12)
