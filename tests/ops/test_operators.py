"""Tensor's comparison, remainder, floor-division and abs() operators (autoconv/ops/operators.py):
the values a Keras backend tensor's operators give, float64 gradchecks, and Python's rules for
``None``, ``if`` and dict keys."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pytest

import autoconv
from autoconv import Tensor
from autoconv.backends import namespace
from autoconv.testing import gradcheck

COMPARISONS = [operator.eq, operator.ne, operator.gt, operator.ge, operator.lt, operator.le]
ARITHMETIC = [operator.mod, operator.floordiv]
DEVICES = ["cpu", "cuda"]


def _values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values with exact ties (quarters), so == and <= meet equal elements."""
    return (rng.integers(-8, 9, size=shape) / 4).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", COMPARISONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("other", ["scalar", "array", "tensor", "broadcast"])
def test_comparisons_are_elementwise_bool_arrays(op, other, device, rng) -> None:
    a = _values(rng, (3, 4))
    b = {
        "scalar": 0.25,
        "array": _values(rng, (3, 4)),
        "tensor": Tensor(_values(rng, (3, 4)), device=device),
        "broadcast": _values(rng, (4,)),
    }[other]
    result = op(Tensor(a, device=device), b)
    assert isinstance(result, np.ndarray) and result.dtype == np.bool_
    np.testing.assert_array_equal(result, op(a, np.asarray(b)))


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda f: f.__name__)
def test_an_array_or_number_on_the_left_compares_the_same(op, rng) -> None:
    a, b = _values(rng, (5,)), _values(rng, (5,))
    np.testing.assert_array_equal(op(b, Tensor(a)), op(b, a))
    np.testing.assert_array_equal(op(0.5, Tensor(a)), op(0.5, a))


def test_a_float32_tensor_compares_with_a_python_float_in_float32() -> None:
    """``x == 0.7`` is True for a float32 0.7, as in Keras (PyTorch compares in the tensor's
    dtype): the Python float is Keras's floatx, not float64."""
    assert (Tensor([0.7]) == 0.7).all()
    assert not (Tensor([0.7]) != 0.7).any()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ARITHMETIC, ids=lambda f: f.__name__)
@pytest.mark.parametrize("divisor", [1.5, -1.5, "tensor"])
def test_remainder_and_floor_division_match_numpy(op, divisor, device, rng) -> None:
    a = rng.normal(size=(4, 3)).astype(np.float32) * 4
    b = np.abs(rng.normal(size=(4, 3))).astype(np.float32) + 0.5 if divisor == "tensor" else divisor
    result = op(Tensor(a, device=device), Tensor(b, device=device) if divisor == "tensor" else b)
    assert isinstance(result, Tensor) and result.device == device
    np.testing.assert_allclose(result.numpy(), op(a, np.float32(b)), rtol=1e-6, atol=1e-6)
    reflected = op(3.0, Tensor(np.abs(a) + 0.5, device=device))
    np.testing.assert_allclose(reflected.numpy(), op(np.float32(3.0), np.abs(a) + 0.5), rtol=1e-6)


def test_against_keras_tensors(rng) -> None:
    """The same expressions on Keras's backend tensors (PyTorch) give the same values."""
    torch = pytest.importorskip("torch")
    a, b = _values(rng, (3, 4)), _values(rng, (3, 4)) + 0.125
    ours, theirs = (Tensor(a), Tensor(b)), (torch.tensor(a), torch.tensor(b))
    for op in COMPARISONS:
        np.testing.assert_array_equal(op(*ours), op(*theirs).numpy())
    np.testing.assert_allclose((ours[0] % ours[1]).numpy(), (theirs[0] % theirs[1]).numpy())
    np.testing.assert_array_equal((ours[0] // ours[1]).numpy(), (theirs[0] // theirs[1]).numpy())
    np.testing.assert_array_equal(abs(ours[0]).numpy(), abs(theirs[0]).numpy())


@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_gradchecks(shape, rng) -> None:
    x = Tensor(rng.normal(size=shape) * 3 + 0.1, dtype=np.float64, requires_grad=True)
    y = Tensor(np.abs(rng.normal(size=shape)) + 0.7, dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda t: abs(t), [x])
    assert gradcheck(lambda t, u: t % u, [x, y])
    assert gradcheck(lambda t: 2.5 % (abs(t) + 1.0), [x])


@pytest.mark.parametrize("device", DEVICES)
def test_abs_of_a_tensor_is_a_tensor_op(device) -> None:
    x = Tensor([-2.0, 3.0], requires_grad=True, device=device)
    abs(x).sum().backward()
    np.testing.assert_array_equal(namespace(device).to_numpy(x.grad), [-1.0, 1.0])


def test_none_strings_and_identity() -> None:
    x = Tensor([1.0, 2.0])
    assert (x == None) is False  # noqa: E711 (the operator is what is tested)
    assert (x != None) is True  # noqa: E711
    assert (x == "a") is False
    with pytest.raises(TypeError, match="'<' not supported"):
        x < None  # noqa: B015
    assert {x: 1}[x] == 1 and x in [x] and x in {x}


def test_truth_value() -> None:
    assert Tensor(3.0) and not Tensor(0.0)
    assert bool(Tensor(2.0) > 1)
    assert Tensor([[0.5]])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([]))  # NumPy 2 refuses an empty array's truth value, as PyTorch does


def test_clone_detach_requires_grad_takes_a_step_as_keras_on_pytorch(keras, rng) -> None:
    """The filter visualization of "Deep Learning with Python" on Keras's PyTorch backend:
    ``image.clone().detach().requires_grad_(True)``, a loss, ``backward()``, ``image.grad``
    normalized: the same step as Keras's; ``clone()`` alone stays in the graph, as PyTorch's."""
    start = rng.uniform(0.4, 0.6, (1, 5, 5, 2)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)

    def step(lib: Any) -> np.ndarray:
        image = lib.ops.convert_to_tensor(start)
        image = image.clone().detach().requires_grad_(True)
        loss = lib.ops.mean(lib.ops.conv(image, kernel)[:, :, :, 1])
        loss.backward()
        image = image + 10.0 * lib.ops.normalize(image.grad)
        return lib.ops.convert_to_numpy(image)

    np.testing.assert_allclose(step(autoconv), step(keras), rtol=1e-6)
    x = Tensor([1.0, 2.0], requires_grad=True)
    copy = x.clone()
    assert copy is not x and copy.data is not x.data
    (copy * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
