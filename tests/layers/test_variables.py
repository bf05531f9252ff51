"""A layer's weights (autoconv/layers/layer.py, ``Variable``): ``assign`` changes the values
in place, as Keras's does, so what refers to the variable's array (a step replayed on the GPU)
sees them; the caller's arrays are copied, never shared."""

from __future__ import annotations

import numpy as np
import pytest

from autoconv import Tensor
from autoconv.layers.layer import Variable

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)]


def on(device: str, value: np.ndarray) -> Variable:
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    return Variable(Tensor(value).to(device), name="kernel", path="dense/kernel")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("given", [np.float64, np.int32, "tensor"])
@pytest.mark.parametrize("shape", [(2, 3), ()], ids=["2x3", "scalar"])
def test_assign_writes_the_values_into_the_variables_own_array(device, dtype, given, shape):
    variable = on(device, np.zeros(shape, dtype))
    array = variable.data
    values = np.arange(1, 1 + int(np.prod(shape))).reshape(shape)
    value = Variable(values.astype(np.float32)) if given == "tensor" else values.astype(given)
    variable.assign(value)
    assert variable.data is array
    assert variable.dtype == dtype
    np.testing.assert_array_equal(variable.numpy(), values)


@pytest.mark.parametrize("device", DEVICES)
def test_a_wrong_shape_is_refused_and_changes_nothing(device):
    variable = on(device, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dense/kernel: cannot assign a value of shape \(3, 2\)"):
        variable.assign(np.zeros((3, 2)))
    np.testing.assert_array_equal(variable.numpy(), np.ones((2, 3)))


@pytest.mark.parametrize("device", DEVICES)
def test_the_callers_arrays_are_never_the_variables(device):
    """Neither the array a variable is made from nor one assigned to it changes with it."""
    made_from = np.ones((4,), np.float32)
    variable = on(device, made_from)
    assigned = np.full((4,), 2.0, np.float32)
    variable.assign(assigned)
    variable.assign(np.full((4,), 3.0, np.float32))
    np.testing.assert_array_equal(made_from, np.ones(4))
    np.testing.assert_array_equal(assigned, np.full(4, 2.0))
    assigned[:] = 5.0
    np.testing.assert_array_equal(variable.numpy(), np.full(4, 3.0))


def test_a_variable_made_from_a_read_only_array_or_a_view_can_be_assigned():
    frozen = np.arange(6, dtype=np.float32)
    frozen.flags.writeable = False
    whole = np.zeros((2, 6), np.float32)
    for value in (frozen, np.broadcast_to(np.float32(1.0), (6,)), whole[0]):
        variable = Variable(value)
        variable.assign(np.full(6, 7.0))
        np.testing.assert_array_equal(variable.numpy(), np.full(6, 7.0))
    np.testing.assert_array_equal(frozen, np.arange(6))
    np.testing.assert_array_equal(whole, np.zeros((2, 6)))


@pytest.mark.cudasim
def test_a_variable_made_from_a_tensor_on_the_gpu_has_its_own_array():
    pytest.importorskip("numba_cuda")
    tensor = Tensor(np.ones(3, np.float32)).to("cuda")
    variable = Variable(tensor)
    variable.assign(np.zeros(3))
    np.testing.assert_array_equal(tensor.numpy(), np.ones(3))
    np.testing.assert_array_equal(variable.numpy(), np.zeros(3))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("operation", ["assign_add", "assign_sub"])
@pytest.mark.parametrize("given", ["number", "array", "tensor", "host tensor"])
def test_assign_add_and_sub_change_the_values_in_place(device, operation, given):
    variable = on(device, np.arange(6, dtype=np.float32).reshape(2, 3))
    array = variable.data
    delta = np.array([1.0, 2.0, 3.0], np.float32)  # broadcast over the rows
    value = {"number": 2.0, "array": delta, "tensor": Tensor(delta).to(variable.device),
             "host tensor": Tensor(delta)}[given]  # fmt: skip
    getattr(variable, operation)(value)
    sign = 1 if operation == "assign_add" else -1
    expected = np.arange(6, dtype=np.float32).reshape(2, 3) + sign * np.asarray(value)
    np.testing.assert_array_equal(variable.numpy(), expected)
    assert variable.data is array


def test_unnamed_weights_are_numbered_for_the_session_as_keras_s(keras):
    """``add_weight`` without a name: variable, variable_1, ... (Keras's auto_name), so that
    two unnamed weights of a layer have two paths."""
    import autoconv as ac

    names = []
    for lib in (ac, keras):
        lib.backend.clear_session()

        class Affine(lib.layers.Layer):
            matmul = staticmethod(lib.ops.matmul)

            def build(self, shape):
                self.w = self.add_weight(shape=(shape[-1], 2))
                self.b = self.add_weight(shape=(2,))

            def call(self, x):
                return self.matmul(x, self.w) + self.b

        made = []
        for _ in range(2):
            layer = Affine()
            layer(np.ones((1, 3), np.float32))
            made += [(w.name, w.path) for w in layer.weights]
        names.append(made)
    assert names[0] == names[1]
    assert names[0][1] == ("variable_1", "affine/variable_1")
