"""autoconv.activations, Keras's keras.activations: every name, its values on the examples of
Keras's docstrings, and get / serialize / deserialize with their errors. The ops' gradients,
PyTorch parity and CUDA parity are in tests/ops/test_core_ops.py's table."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autoconv as ac
from autoconv import activations, ops

# Keras 3's keras.activations names (ALL_OBJECTS_DICT of keras/src/activations/__init__.py,
# without crelu, which needs a concatenation autoconv does not have yet).
KERAS_NAMES = {
    "relu", "leaky_relu", "relu6", "softmax", "elu", "selu", "softplus", "softsign", "silu",
    "gelu", "tanh", "sigmoid", "exponential", "hard_sigmoid", "hard_silu", "linear", "mish",
    "log_softmax", "swish", "hard_swish",
}  # fmt: skip


def test_every_keras_name_is_known():
    assert set(activations.ALL_OBJECTS) == KERAS_NAMES
    for name in KERAS_NAMES:
        assert getattr(activations, name) is activations.get(name)


@pytest.mark.parametrize("name", sorted(KERAS_NAMES))
def test_each_takes_a_list_or_tensor_and_returns_a_tensor_with_a_gradient(name, rng):
    fn = activations.get(name)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    assert isinstance(fn(x.tolist()), ac.Tensor)
    t = ac.Tensor(x, requires_grad=True)
    out = fn(t)
    assert isinstance(out, ac.Tensor) and out.shape == (2, 3) and out.dtype == np.float32
    if name != "linear":
        out.sum().backward()
        assert t.grad.shape == (2, 3) and np.isfinite(t.grad).all()


def erf(values):
    return np.array([math.erf(v) for v in values])


X = np.array([-6.0, -1.0, 0.0, 1.0, 6.0])
# Examples of Keras's docstrings (keras/src/ops/nn.py, keras/src/activations/activations.py),
# and the formulas of keras/src/backend/numpy/nn.py where a docstring has none.
EXAMPLES = [
    ("relu", {}, [-10.0, -5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 5.0, 10.0]),
    ("relu", {"negative_slope": 0.5}, [-10.0, -5.0, 0.0, 5.0, 10.0], [-5, -2.5, 0, 5, 10]),
    ("relu", {"max_value": 5.0}, [-10.0, -5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 5.0, 5.0]),
    ("relu", {"threshold": 5.0}, [-10.0, -5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 0.0, 10.0]),
    ("leaky_relu", {}, [-1.0, 0.0, 1.0], [-0.2, 0.0, 1.0]),
    ("relu6", {}, [-3.0, -2.0, 0.1, 0.2, 6.0, 8.0], [0.0, 0.0, 0.1, 0.2, 6.0, 6.0]),
    ("sigmoid", {}, X, [0.00247262, 0.26894142, 0.5, 0.7310586, 0.9975274]),
    ("silu", {}, X, [-0.0148357, -0.26894142, 0.0, 0.7310586, 5.9851646]),
    ("swish", {}, X, [-0.0148357, -0.26894142, 0.0, 0.7310586, 5.9851646]),
    ("softplus", {}, [-0.555, 0.0, 0.555], [0.45366603, 0.6931472, 1.008666]),
    ("softsign", {}, [-0.1, -10.0, 1.0, 0.0, 100.0], [-0.09090909, -0.90909094, 0.5, 0, 0.990099]),
    ("hard_silu", {}, [-3.0, -1.0, 0.0, 1.0, 3.0], [0.0, -0.3333333, 0.0, 0.6666667, 3.0]),
    ("hard_swish", {}, [-4.0, 4.0], [0.0, 4.0]),
    ("hard_sigmoid", {}, [-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0], [0, 0, 0.25, 0.5, 0.75, 1, 1]),
    ("elu", {}, [-1.0, 0.0, 1.0], [-0.63212055, 0.0, 1.0]),
    ("elu", {"alpha": 2.0}, [-1.0, 0.0, 1.0], [-1.2642411, 0.0, 1.0]),
    ("selu", {}, [-1.0, 0.0, 1.0], [-1.11133055, 0.0, 1.05070098]),
    ("gelu", {}, [-1.0, 0.0, 1.0], [-0.15865525, 0.0, 0.84134475]),
    ("gelu", {}, X, X * (1 + erf(X / math.sqrt(2))) / 2),
    (
        "gelu",
        {"approximate": True},
        X,
        0.5 * X * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3))),
    ),
    ("mish", {}, X, X * np.tanh(np.log1p(np.exp(X)))),
    ("exponential", {}, [-1.0, 0.0, 2.0], np.exp([-1.0, 0.0, 2.0])),
    ("tanh", {}, [-1.0, 0.0, 2.0], np.tanh([-1.0, 0.0, 2.0])),
    ("linear", {}, [-1.0, 0.0, 2.0], [-1.0, 0.0, 2.0]),
    ("softmax", {}, [-1.0, 0.0, 1.0], [0.09003057, 0.24472847, 0.66524096]),
    ("log_softmax", {}, [-1.0, 0.0, 1.0], [-2.40760596, -1.40760596, -0.40760596]),
]


@pytest.mark.parametrize(("name", "kwargs", "x", "expected"), EXAMPLES)
def test_values_match_keras(name, kwargs, x, expected):
    got = getattr(activations, name)(np.asarray(x, np.float64), **kwargs)
    np.testing.assert_allclose(got.data, expected, rtol=2e-7, atol=1e-7)


def test_softmax_and_log_softmax_take_an_axis():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(activations.softmax(x, axis=0).data.sum(axis=0), [1, 1, 1])
    both = activations.log_softmax(x, axis=(0, 1)).data
    np.testing.assert_allclose(np.exp(both).sum(), 1.0)


def test_linear_returns_the_same_tensor():
    t = ac.Tensor([1.0, -2.0])
    assert activations.linear(t) is t


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu

    def custom(x):
        return x * 2

    assert activations.get(custom) is custom
    assert activations.get(ops.relu) is ops.relu


def test_get_refuses_unknown_identifiers_and_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'relux'.*known activations: elu, exponential, gelu"):
        activations.get("relux")
    with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
        activations.get(3)
    with pytest.raises(ValueError, match="Could not interpret"):
        activations.get("Relu")  # names are case-sensitive, as in Keras


@pytest.mark.parametrize("name", sorted(KERAS_NAMES))
def test_serialize_round_trip(name):
    fn = activations.get(name)
    saved = activations.serialize(fn)
    assert saved == {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
    assert activations.deserialize(saved) is fn
    assert activations.get(saved) is fn


def test_deserialize_reads_keras_dict_form_and_custom_objects():
    keras_form = {
        "module": "keras.activations",
        "class_name": "function",
        "config": "gelu",
        "registered_name": "gelu",
    }
    assert activations.get(keras_form) is activations.gelu

    def mine(x):
        return x

    assert activations.deserialize("mine", custom_objects={"mine": mine}) is mine
    with pytest.raises(ValueError, match="known activations"):
        activations.deserialize({"config": "nope"})


def test_serialize_refuses_other_callables():
    with pytest.raises(ValueError, match="not one of autoconv's activations"):
        activations.serialize(lambda x: x)
    with pytest.raises(ValueError, match="cannot be saved by name"):
        activations.serialize(ops.relu)  # an op, not the namespace's function


def test_reachable_from_the_package():
    assert ac.activations is activations
