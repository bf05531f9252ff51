"""Every core op: float64 gradcheck, float32 in -> float32 out, and PyTorch parity.

One table drives all three checks: (name, autoconv fn, torch fn, input shapes, how inputs
are drawn). Shapes cover broadcasting and size-1 axes.
"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.ops import engine as ops
from autoconv.ops.base import as_tensor
from autoconv.testing import gradcheck
from tests.conftest import away_from_zero, distinct


def normal(shape, rng):
    return rng.standard_normal(shape)


def positive(shape, rng):
    return rng.uniform(0.5, 2.0, shape)


def kinkless(shape, rng):
    return away_from_zero(rng.standard_normal(shape))


def avoiding(*kinks, scale=3.0):
    """Draw N(0, scale**2) values at least 0.1 away from each kink (ReLU6's 0 and 6 ...)."""

    def draw(shape, rng):
        x = rng.standard_normal(shape) * scale
        for kink in kinks:
            x = np.where(np.abs(x - kink) < 0.1, x + 0.25, x)
        return x

    return draw


def wide(shape, rng):
    return rng.standard_normal(shape) * 4


CASES = [
    # name, autoconv fn, torch fn (t = torch module), shapes, draw
    ("add", lambda a, b: a + b, lambda t, a, b: a + b, [(2, 3), (3,)], normal),
    ("add_scalar_left", lambda a: 2.5 + a, lambda t, a: 2.5 + a, [(2, 3)], normal),
    ("sub", lambda a, b: a - b, lambda t, a, b: a - b, [(2, 1, 3), (4, 1)], normal),
    ("rsub", lambda a: 1.0 - a, lambda t, a: 1.0 - a, [(3,)], normal),
    ("mul", lambda a, b: a * b, lambda t, a, b: a * b, [(2, 3), (2, 1)], normal),
    ("div", lambda a, b: a / b, lambda t, a, b: a / b, [(2, 3), (1, 3)], positive),
    ("rdiv", lambda a: 2.0 / a, lambda t, a: 2.0 / a, [(2, 3)], positive),
    ("pow_scalar", lambda a: a**3, lambda t, a: a**3, [(2, 3)], normal),
    ("pow_tensor", lambda a, b: a**b, lambda t, a, b: a**b, [(2, 3), (3,)], positive),
    ("rpow", lambda a: 2.0**a, lambda t, a: 2.0**a, [(4,)], normal),
    ("neg", lambda a: -a, lambda t, a: -a, [(2, 3)], normal),
    ("matmul", lambda a, b: a @ b, lambda t, a, b: a @ b, [(3, 4), (4, 2)], normal),
    ("matmul_batched", lambda a, b: a @ b, lambda t, a, b: a @ b, [(2, 3, 4), (4, 5)], normal),
    ("matmul_vec_mat", lambda a, b: a @ b, lambda t, a, b: a @ b, [(4,), (2, 4, 3)], normal),
    ("matmul_mat_vec", lambda a, b: a @ b, lambda t, a, b: a @ b, [(3, 4), (4,)], normal),
    # Dense's: the bias and the ReLU in the product's pass (its epilogue)
    (
        "matmul_bias",
        lambda a, b, c: ops.matmul(a, b, c),
        lambda t, a, b, c: a @ b + c,
        [(3, 4), (4, 2), (2,)],
        normal,
    ),
    (
        "matmul_bias_relu",
        lambda a, b, c: ops.matmul(a, b, c, relu=True),
        lambda t, a, b, c: t.relu(a @ b + c),
        [(5, 4), (4, 3), (3,)],
        normal,
    ),
    (
        "matmul_relu_batched",
        lambda a, b: ops.matmul(a, b, relu=True),
        lambda t, a, b: t.relu(a @ b),
        [(2, 3, 4), (4, 5)],
        normal,
    ),
    ("sum_all", lambda a: a.sum(), lambda t, a: a.sum(), [(2, 3)], normal),
    ("sum_axis", lambda a: a.sum(axis=1), lambda t, a: a.sum(1), [(2, 3, 4)], normal),
    (
        "sum_keepdims",
        lambda a: a.sum(axis=(0, 2), keepdims=True),
        lambda t, a: a.sum((0, 2), keepdim=True),
        [(2, 3, 4)],
        normal,
    ),
    ("mean_all", lambda a: a.mean(), lambda t, a: a.mean(), [(2, 3)], normal),
    ("mean_axis", lambda a: a.mean(axis=-1), lambda t, a: a.mean(-1), [(2, 3)], normal),
    ("max_all", lambda a: a.max(), lambda t, a: a.max(), [(2, 3)], distinct),
    ("max_axis", lambda a: a.max(axis=0), lambda t, a: a.amax(0), [(3, 4)], distinct),
    (
        "max_keepdims",
        lambda a: a.max(axis=1, keepdims=True),
        lambda t, a: a.amax(1, keepdim=True),
        [(2, 3, 4)],
        distinct,
    ),
    ("reshape", lambda a: a.reshape(3, -1), lambda t, a: a.reshape(3, -1), [(2, 3, 2)], normal),
    (
        "transpose",
        lambda a: a.transpose(2, 0, 1),
        lambda t, a: a.permute(2, 0, 1),
        [(2, 3, 4)],
        normal,
    ),
    ("T", lambda a: a.T, lambda t, a: a.T, [(2, 3)], normal),
    ("flatten", lambda a: a.flatten(), lambda t, a: a.flatten(1), [(2, 3, 4)], normal),
    ("slice", lambda a: a[1:, ::2], lambda t, a: a[1:, ::2], [(3, 5)], normal),
    ("int_index", lambda a: a[1], lambda t, a: a[1], [(3, 4)], normal),
    (
        "array_index_repeated",
        lambda a: a[np.array([0, 2, 0])],
        lambda t, a: a[t.tensor([0, 2, 0])],
        [(3, 2)],
        normal,
    ),
    ("relu", lambda a: a.relu(), lambda t, a: t.relu(a), [(3, 4)], kinkless),
    ("abs", ops.abs, lambda t, a: a.abs(), [(3, 4)], kinkless),
    # Keras's relu arguments (keras/src/activations/activations.py, ReLU.static_call)
    (
        "relu_negative_slope",
        lambda a: ac.relu(a, negative_slope=0.1),
        lambda t, a: t.nn.functional.leaky_relu(a, 0.1),
        [(3, 4)],
        kinkless,
    ),
    (
        "relu_threshold",
        lambda a: ac.relu(a, threshold=0.5),
        lambda t, a: t.nn.functional.threshold(a, 0.5, 0.0),
        [(3, 4)],
        avoiding(0.5, scale=1.0),
    ),
    (
        "relu_negative_threshold",  # a is kept, negative, between the threshold and 0
        lambda a: ac.relu(a, threshold=-0.5),
        lambda t, a: t.nn.functional.threshold(a, -0.5, 0.0),
        [(3, 4)],
        avoiding(-0.5, scale=1.0),
    ),
    (
        "relu_max_value",
        lambda a: ac.relu(a, max_value=1.0),
        lambda t, a: a.clamp(0.0, 1.0),
        [(3, 4)],
        avoiding(0.0, 1.0, scale=1.0),
    ),
    (
        "relu_all_arguments",
        lambda a: ac.relu(a, negative_slope=0.2, max_value=2.0, threshold=0.5),
        lambda t, a: (a * (a > 0.5)).clamp(0.0, 2.0) - 0.2 * t.relu(0.5 - a),
        [(3, 4)],
        avoiding(0.0, 0.5, 2.0, scale=1.5),
    ),
    (
        "leaky_relu",
        ops.leaky_relu,
        lambda t, a: t.nn.functional.leaky_relu(a, 0.2),
        [(3, 4)],
        kinkless,
    ),
    ("relu6", ops.relu6, lambda t, a: t.nn.functional.relu6(a), [(3, 4)], avoiding(0.0, 6.0)),
    ("elu", ops.elu, lambda t, a: t.nn.functional.elu(a), [(3, 4)], kinkless),
    (
        "elu_alpha",
        lambda a: ops.elu(a, alpha=0.5),
        lambda t, a: t.nn.functional.elu(a, 0.5),
        [(3, 4)],
        kinkless,
    ),
    ("selu", ops.selu, lambda t, a: t.nn.functional.selu(a), [(3, 4)], kinkless),
    ("gelu", ops.gelu, lambda t, a: t.nn.functional.gelu(a), [(3, 4)], wide),
    (
        "gelu_tanh",
        lambda a: ops.gelu(a, approximate=True),
        lambda t, a: t.nn.functional.gelu(a, approximate="tanh"),
        [(3, 4)],
        wide,
    ),
    ("silu", ops.silu, lambda t, a: t.nn.functional.silu(a), [(3, 4)], wide),
    ("softplus", ops.softplus, lambda t, a: t.nn.functional.softplus(a), [(3, 4)], wide),
    ("softsign", ops.softsign, lambda t, a: t.nn.functional.softsign(a), [(3, 4)], kinkless),
    (
        "hard_sigmoid",  # Keras 3's x / 6 + 0.5 clipped to [0, 1]: torch's values, but its
        ops.hard_sigmoid,  # gradient uses a float32 1/6, so the reference is the formula
        lambda t, a: (a / 6 + 0.5).clamp(0.0, 1.0),
        [(3, 4)],
        avoiding(-3.0, 3.0),
    ),
    (
        "hard_silu",
        ops.hard_silu,
        lambda t, a: t.nn.functional.hardswish(a),
        [(3, 4)],
        avoiding(-3.0, 3.0),
    ),
    ("mish", ops.mish, lambda t, a: t.nn.functional.mish(a), [(3, 4)], wide),
    ("exp", lambda a: a.exp(), lambda t, a: a.exp(), [(3, 4)], normal),
    ("log", lambda a: a.log(), lambda t, a: a.log(), [(3, 4)], positive),
    ("tanh", lambda a: a.tanh(), lambda t, a: a.tanh(), [(3, 4)], normal),
    ("sigmoid", lambda a: a.sigmoid(), lambda t, a: a.sigmoid(), [(3, 4)], normal),
    ("clip", lambda a: ac.clip(a, -0.5, 0.5), lambda t, a: a.clamp(-0.5, 0.5), [(9,)], kinkless),
    ("abs", lambda a: ops.abs(a), lambda t, a: a.abs(), [(3, 4)], kinkless),
    (
        "sigmoid_cross_entropy",
        lambda z, y: ops.sigmoid_cross_entropy(z * 4, y),
        lambda t, z, y: t.nn.functional.binary_cross_entropy_with_logits(
            z * 4, y, reduction="none"
        ),
        [(3, 4), (3, 4)],
        normal,
    ),
    ("softmax", lambda a: a.softmax(), lambda t, a: a.softmax(-1), [(3, 5)], normal),
    ("softmax_axis0", lambda a: ac.softmax(a, 0), lambda t, a: a.softmax(0), [(3, 5)], normal),
    ("log_softmax", lambda a: a.log_softmax(), lambda t, a: a.log_softmax(-1), [(3, 5)], normal),
    (
        "log_softmax_axis1",
        lambda a: ac.log_softmax(a, axis=1),
        lambda t, a: a.log_softmax(1),
        [(2, 3, 4)],
        normal,
    ),
    (
        "softmax_axes",  # one softmax over several axes, as keras.ops.softmax with a tuple
        lambda a: ac.softmax(a, axis=(0, 2)),
        lambda t, a: (a - a.logsumexp((0, 2), keepdim=True)).exp(),
        [(2, 3, 4)],
        normal,
    ),
    (
        "log_softmax_axes",
        lambda a: ac.log_softmax(a, axis=(0, -1)),
        lambda t, a: a - a.logsumexp((0, 2), keepdim=True),
        [(2, 3, 4)],
        normal,
    ),
]
IDS = [case[0] for case in CASES]


def draw_inputs(shapes, draw, rng):
    arrays = [draw(shape, rng) for shape in shapes]
    if draw is kinkless:  # clip's kinks are at +-0.5
        arrays = [np.where(np.abs(np.abs(a) - 0.5) < 0.05, a + 0.1, a) for a in arrays]
    return arrays


@pytest.mark.parametrize(("name", "fn", "torch_fn", "shapes", "draw"), CASES, ids=IDS)
def test_gradcheck(name, fn, torch_fn, shapes, draw, rng):
    assert gradcheck(fn, draw_inputs(shapes, draw, rng))


@pytest.mark.parametrize(("name", "fn", "torch_fn", "shapes", "draw"), CASES, ids=IDS)
def test_float32_in_float32_out(name, fn, torch_fn, shapes, draw, rng):
    inputs = [
        ac.Tensor(a.astype(np.float32), requires_grad=True) for a in draw_inputs(shapes, draw, rng)
    ]
    out = fn(*inputs)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in inputs:
        assert t.grad.dtype == np.float32 and t.grad.shape == t.shape


@pytest.mark.parametrize(("name", "fn", "torch_fn", "shapes", "draw"), CASES, ids=IDS)
def test_matches_torch(name, fn, torch_fn, shapes, draw, rng, torch):
    arrays = draw_inputs(shapes, draw, rng)
    ours = [ac.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn(*ours), torch_fn(torch, *theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = rng.standard_normal(out.shape)
    out.backward(weights)
    ref.backward(torch.tensor(weights))
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_gradcheck_catches_a_wrong_vjp(monkeypatch):
    """The checker is only worth something if a broken backward fails it."""
    from autoconv.ops import elementwise
    from autoconv.tensor import record
    from autoconv.testing import GradcheckError

    def broken_tanh(a):
        a = as_tensor(a)
        out = np.tanh(a.data)
        return record(out, (a,), lambda g: (g * (1 - out),), "tanh")  # should be 1 - out**2

    monkeypatch.setattr(elementwise, "tanh", broken_tanh)
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a: elementwise.tanh(a), [np.array([0.3, -0.7, 1.2])])


def test_softmax_is_stable_for_huge_logits():
    x = ac.Tensor([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(ac.softmax(x).data, [[1.0, 0.0, 0.0]])
    assert np.isfinite(ac.log_softmax(x).data).all()


def test_sigmoid_does_not_overflow():
    x = ac.Tensor([-200.0, 0.0, 200.0])
    np.testing.assert_allclose(x.sigmoid().data, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_finite_and_exact_far_out(dtype):
    """No exp overflows: softplus(a) is a for large a and exp(a) for very negative a, and
    the other smooth activations reach their asymptotes with finite gradients."""
    big = np.array([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0]).astype(dtype)
    positive = big > 0
    tiny = np.exp(np.minimum(big, 0).astype(np.float64))
    expected = {  # fn: (values, gradients)
        ops.softplus: (np.where(positive, big, tiny), positive),
        ops.sigmoid: (np.where(positive, 1.0, tiny), 0.0),
        ops.silu: (np.where(positive, big, 0.0), positive),
        ops.mish: (np.where(positive, big, 0.0), positive),
        ops.elu: (np.where(positive, big, -1.0), positive),
        ops.gelu: (np.where(positive, big, 0.0), positive),
        lambda a: ops.gelu(a, approximate=True): (np.where(positive, big, 0.0), positive),
    }
    for fn, (values, gradients) in expected.items():
        x = ac.Tensor(big, requires_grad=True)
        out = fn(x)
        out.backward(np.ones(out.shape, dtype))
        assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
        np.testing.assert_allclose(out.data, values, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(x.grad, np.broadcast_to(gradients, big.shape), atol=1e-6)


def test_keras_relu_examples():
    """The examples of keras.activations.relu's docstring."""
    x = [-10.0, -5.0, 0.0, 5.0, 10.0]
    np.testing.assert_array_equal(ac.relu(x).data, [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(ac.relu(x, negative_slope=0.5).data, [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(ac.relu(x, max_value=5.0).data, [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(ac.relu(x, threshold=5.0).data, [0, 0, 0, 0, 10])
    # a slope above 1 keeps Keras's max(x, slope * x)
    np.testing.assert_array_equal(ops.leaky_relu([-1.0, 2.0], 2.0).data, [-1, 4])


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda: ac.Tensor(np.ones((2, 3))) + ac.Tensor(np.ones((4,))), r"add: shapes \(2, 3\)"),
        (lambda: ac.Tensor(np.ones((2, 3))) @ ac.Tensor(np.ones((2, 3))), r"matmul: shapes"),
        (lambda: ac.Tensor(np.ones(3)) @ ac.Tensor(np.ones(())), r"at least 1 dim"),
        (lambda: ac.Tensor(np.ones((2, 3))).reshape(4, 2), r"cannot reshape \(2, 3\)"),
        (lambda: ac.Tensor(np.ones((2, 3))).sum(axis=2), "axis 2 is out of range"),
        (lambda: ac.Tensor(np.ones((2, 3))).transpose(0, 0), "not a permutation"),
        (lambda: ac.Tensor(np.ones((2, 3)))[5], r"getitem: .*shape \(2, 3\)"),
    ],
)
def test_bad_shapes_name_the_op(fn, message):
    with pytest.raises((ValueError, IndexError), match=message):
        fn()


def test_mixed_dtypes_are_refused_not_promoted():
    with pytest.raises(TypeError, match="mul: operands have different dtypes"):
        ac.Tensor(np.ones(2, dtype=np.float32)) * ac.Tensor(np.ones(2, dtype=np.float64))
    # a Python or NumPy float64 scalar takes the tensor's dtype
    assert (ac.Tensor([1.0]) * np.float64(2.0)).dtype == np.float32
