"""The Tensor and the autograd engine."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.tensor import unbroadcast


def test_float32_by_default_and_float64_kept():
    assert ac.Tensor([1, 2, 3]).dtype == np.float32
    assert ac.Tensor(np.arange(3, dtype=np.uint8)).dtype == np.float32
    assert ac.Tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64
    assert ac.Tensor([1.0], dtype="float64").dtype == np.float64


@pytest.mark.parametrize("bad", [np.array(["a"]), np.array([1 + 2j]), np.array([object()])])
def test_unsupported_dtype_is_a_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        ac.Tensor(bad)


def test_attributes():
    t = ac.Tensor(np.ones((2, 3)), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.device == "cpu" and t.requires_grad and t.grad is None
    copy = t.numpy()
    copy[0, 0] = 5
    assert t.data[0, 0] == 1, "numpy() must return a copy"
    d = t.detach()
    assert not d.requires_grad and np.shares_memory(d.data, t.data)
    assert t.to("cpu") is t


def test_unknown_device_names_it():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        ac.Tensor([1.0]).to("tpu")
    with pytest.raises(ValueError, match="unknown device"):
        ac.Tensor([1.0], device="gpu0")


def test_gradients_accumulate_across_uses_and_calls():
    x = ac.Tensor([2.0, 3.0], requires_grad=True)
    (x * x + x).sum().backward()  # d/dx = 2x + 1
    np.testing.assert_allclose(x.grad, [5.0, 7.0])
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [7.0, 9.0])


def test_diamond_graph_sums_both_paths():
    x = ac.Tensor([1.5], requires_grad=True)
    a = x * 3
    b = x.exp()
    (a * b).sum().backward()  # d/dx 3x e^x = 3e^x + 3x e^x
    np.testing.assert_allclose(x.grad, 3 * np.exp(1.5) * (1 + 1.5), rtol=1e-6)


def test_long_chain_does_not_hit_recursion_limit():
    x = ac.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_backward_non_scalar_needs_gradient():
    x = ac.Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=r"non-scalar tensor of shape \(2, 2\)"):
        (x * 2).backward()
    (x * 2).backward(np.full((2, 2), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 2)))
    with pytest.raises(ValueError, match="gradient shape"):
        (x * 2).backward(np.ones(3))


def test_backward_without_grad_is_clear():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ac.Tensor([1.0]).sum().backward()


def test_graph_is_freed_unless_retained():
    x = ac.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


def test_no_grad_records_nothing():
    x = ac.Tensor([1.0], requires_grad=True)
    with ac.no_grad():
        assert not ac.is_grad_enabled()
        y = x * 2
    assert ac.is_grad_enabled()
    assert not y.requires_grad and y._parents == ()


def test_intermediate_tensors_keep_no_grad():
    x = ac.Tensor([1.0, -1.0], requires_grad=True)
    h = x * 2
    h.relu().sum().backward()
    assert h.grad is None and x.grad is not None


def test_retain_grad_keeps_an_intermediate_tensors_gradient_as_pytorch(torch):
    values = np.array([[1.0, -2.0, 0.5], [3.0, -0.5, 2.0]])
    x = ac.Tensor(values, requires_grad=True, dtype="float64")
    h = x * x  # the gradient reaches h along two paths, and twice through backward()
    h.retain_grad()
    (h.relu() + h * 3).sum().backward(retain_graph=True)
    h.sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    th = tx * tx
    th.retain_grad()
    (th.relu() + th * 3).sum().backward(retain_graph=True)
    th.sum().backward()
    np.testing.assert_allclose(h.grad, th.grad.numpy())
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    h.grad *= 10  # its own array
    np.testing.assert_allclose(x.grad, tx.grad.numpy())


def test_requires_grad_marks_a_models_input_for_its_gradient_as_pytorch(torch):
    """keras.io's FGSM in PyTorch form: ``datas.requires_grad_()`` for ``tape.watch(datas)``,
    then the loss's gradient with respect to the images, as PyTorch's."""
    values = np.array([[1.0, -2.0, 0.5], [3.0, -0.5, 2.0]])
    weights = np.array([[0.3, -1.0], [2.0, 0.1], [-0.4, 0.7]])
    x = ac.Tensor(values, dtype="float64")
    assert x.requires_grad_() is x and x.requires_grad
    (x @ ac.Tensor(weights, dtype="float64")).relu().sum().backward()
    tx = torch.tensor(values).requires_grad_()
    (tx @ torch.tensor(weights)).relu().sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    assert not x.requires_grad_(False).requires_grad


def test_retain_grad_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ac.Tensor([1.0]).retain_grad()


def test_leaf_grad_is_writable_and_not_shared():
    a = ac.Tensor([1.0, 2.0], requires_grad=True)
    b = ac.Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10
    np.testing.assert_allclose(b.grad, [1.0, 1.0])


@pytest.mark.parametrize(
    ("grad_shape", "shape", "expected"),
    [
        ((2, 3), (2, 3), np.ones((2, 3))),
        ((2, 3), (3,), np.full(3, 2.0)),
        ((2, 3), (2, 1), np.full((2, 1), 3.0)),
        ((4, 2, 3), (1, 3), np.full((1, 3), 8.0)),
        ((2, 3), (), np.array(6.0)),
    ],
)
def test_unbroadcast(grad_shape, shape, expected):
    np.testing.assert_array_equal(unbroadcast(np.ones(grad_shape), shape), expected)


def test_array_on_the_left_defers_to_tensor():
    x = ac.Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, ac.Tensor) and y.dtype == np.float32


def test_numpy_functions_read_a_tensor_and_arithmetic_with_arrays_stays_a_tensor_op():
    t = ac.Tensor(np.array([1.0, 3.0, 2.0], np.float32), requires_grad=True)
    assert np.argmax(t) == 1
    assert float(np.max(t)) == 3.0 and float(np.mean(t)) == 2.0  # the Tensor methods, as Keras
    assert f"{100 * np.max(t):.2f} percent" == "300.00 percent"
    with pytest.raises(ValueError, match="out= is not supported"):
        np.max(t, out=np.zeros(()))
    copied = np.asarray(t)
    copied[0] = 9.0
    assert t.numpy()[0] == 1.0  # a copy
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    mixed = np.ones(3, np.float32) * t
    assert isinstance(mixed, ac.Tensor)
    mixed.sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones(3))
