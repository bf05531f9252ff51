"""A layer's weights (autoconv/layers/layer.py, ``Variable``): ``assign`` changes the values
in place, as Keras's does, so what refers to the variable's array (a step replayed on the GPU)
sees them; the caller's arrays are copied, never shared. Against Keras 3.15: a Variable made as
``keras.Variable`` is, and one a user's layer sets as an attribute is its weight (trained,
saved, in Keras's order)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
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


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("operation", ["assign", "assign_add", "assign_sub"])
def test_assigning_returns_the_values_assigned_as_keras(keras, device, operation):
    start = np.arange(6, dtype=np.float32).reshape(2, 3)
    value = np.array([1.0, 2.0, 3.0] * 2, np.float32).reshape(2, 3)
    variable = on(device, start)
    ours = getattr(variable, operation)(value)
    theirs = getattr(keras.Variable(start), operation)(value)
    assert isinstance(ours, Tensor) and ours.device == variable.device
    np.testing.assert_array_equal(ours.numpy(), keras.ops.convert_to_numpy(theirs))
    variable.assign(np.zeros((2, 3), np.float32))  # the result has values of its own
    np.testing.assert_array_equal(ours.numpy(), keras.ops.convert_to_numpy(theirs))


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


def _unnamed_variables(lib):
    lib.backend.clear_session()

    class Scale(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.gamma = lib.Variable(np.ones(2, np.float32))

        def build(self, shape):
            self.beta = self.add_weight(shape=(2,))

    free = lib.Variable(np.zeros(2, np.float32))
    layers = [Scale(), Scale()]
    for layer in layers:
        layer.build((None, 2))
    return [(free.name, free.path)] + [(w.name, w.path) for l in layers for w in l.weights]


def test_unnamed_variables_are_numbered_for_the_session_as_keras_s(keras):
    """``keras.Variable(value)`` without a name, as keras.io's CaiT sets its LayerScale's gamma
    and its class token: variable, variable_1, ... (Keras's auto_name), counted with the
    unnamed weights, from the start again after ``clear_session``."""
    ours = _unnamed_variables(ac)
    assert ours == _unnamed_variables(keras)
    assert sorted(name for name, _ in ours) == ["variable"] + [f"variable_{i}" for i in range(1, 5)]


# ---------------------------------------------------------- keras.Variable, and as an attribute
CONSTRUCTIONS = {
    "a name": lambda lib: {"initializer": "ones", "shape": (2, 3)},
    "an initializer": lambda lib: {"initializer": lib.initializers.Constant(0.5), "shape": (4,)},
    "a callable": lambda lib: {
        "initializer": lambda shape, dtype=None: np.arange(np.prod(shape)).reshape(shape),
        "shape": [2, 2],
        "dtype": "float64",
    },
    "an array": lambda lib: {"initializer": np.linspace(0, 1, 5, dtype=np.float32)},
    "an array and a dtype": lambda lib: {"initializer": np.ones(3), "dtype": "float32"},
    "not trainable": lambda lib: {"initializer": "zeros", "shape": (), "trainable": False},
}


@pytest.mark.parametrize("given", CONSTRUCTIONS)
def test_a_variable_is_made_as_kerass(keras, given):
    def made(lib):
        variable = lib.Variable(**CONSTRUCTIONS[given](lib), name="v")
        value = np.asarray(variable.numpy())
        return value, tuple(variable.shape), str(variable.dtype), variable.trainable, variable.path

    ours, theirs = made(ac), made(keras)
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert ours[0].dtype == theirs[0].dtype
    assert ours[1:] == theirs[1:]


def test_an_initializer_without_a_shape_is_refused_as_by_keras(keras):
    message = "the `shape` argument should be specified"
    for lib in (ac, keras):
        with pytest.raises(ValueError, match=message):
            lib.Variable(initializer="ones")


def _variables_layer(lib, where):
    """A layer that keeps ``keras.Variable``s as attributes, made ``where`` (Keras's tracker
    makes them its weights)."""

    class Scaled(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scale = lib.Variable(initializer="ones", shape=(3,), name="scale")
            self.offset = lib.Variable(np.full(3, 0.5, np.float32), trainable=False, name="offset")

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(3,), initializer="zeros", name="kernel")
            if where == "build":
                self.shift = lib.Variable(initializer="zeros", shape=(3,), name="shift")
            elif where == "a list":
                self.shifts = [lib.Variable(initializer="zeros", shape=(3,), name="shift")]

        def call(self, inputs):
            shift = self.shift if where == "build" else self.shifts[0]
            return inputs * self.scale + self.kernel + self.offset + shift

    return Scaled(name="scaled")


def _fitted(lib, where):
    layer = _variables_layer(lib, where)
    inputs = lib.Input((3,))
    model = lib.Model(inputs, layer(inputs))
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    model.fit(x, 2 * x + 1, epochs=3, batch_size=4, shuffle=False, verbose=0)
    return layer, model


@pytest.mark.parametrize("where", ["build", "a list"])
def test_variables_set_as_attributes_are_trained_weights_in_kerass_order(keras, where):
    def weights(lib):
        layer, model = _fitted(lib, where)
        return (
            [w.path for w in layer.weights],
            [w.name for w in layer.trainable_weights],
            [w.name for w in layer.non_trainable_weights],
            [np.asarray(w) for w in model.get_weights()],
        )

    ours, theirs = weights(ac), weights(keras)
    assert ours[:3] == theirs[:3]
    assert ours[0] == ["scale", "scaled/kernel", "scaled/shift", "offset"]
    for mine, kerass in zip(ours[3], theirs[3], strict=True):
        np.testing.assert_allclose(mine, kerass, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours[3][0], 1.0)  # the scale was trained


def test_a_frozen_layers_variables_are_not_trainable_as_kerass(keras):
    def split(lib):
        layer = _variables_layer(lib, "build")
        layer.build((None, 3))
        layer.trainable = False
        frozen = [w.name for w in layer.trainable_weights], len(layer.non_trainable_weights)
        layer.trainable = True
        return frozen, [w.name for w in layer.trainable_weights]

    assert split(ac) == split(keras)


@pytest.mark.parametrize(("writer", "reader"), [("autoconv", "keras"), ("keras", "autoconv")])
def test_variables_set_as_attributes_are_saved_and_loaded(keras, tmp_path, writer, reader):
    libs = {"autoconv": ac, "keras": keras}
    _, saved = _fitted(libs[writer], "build")
    saved.save_weights(tmp_path / "m.weights.h5")
    layer = _variables_layer(libs[reader], "build")
    inputs = libs[reader].Input((3,))
    loaded = libs[reader].Model(inputs, layer(inputs))
    loaded.load_weights(tmp_path / "m.weights.h5")
    for mine, theirs in zip(loaded.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_variables_print_as_kerass_with_their_values(keras):
    """The Sequential guide's ``layer.weights`` after a first call, and an optimizer's
    variables (its step count an int, its rate a Python float), print as Keras's."""

    def printed(lib):
        layer = lib.layers.Dense(3, kernel_initializer="ones", name="dense")
        layer(np.ones((1, 4), np.float32))
        optimizer = lib.optimizers.SGD(0.01, momentum=0.9, name="sgd")
        optimizer.build(layer.trainable_weights)
        return repr(layer.weights), repr(optimizer.variables)

    assert printed(ac) == printed(keras)
    assert "value=[[1. 1. 1.]\n [1. 1. 1.]" in printed(ac)[0]


def _counting_model(lib):
    """keras.io's AdaMatch's step counter: an int64 ``keras.Variable`` a subclassed model sets
    as an attribute and counts its calls in (beside a layer's int32 ``add_weight``)."""

    class Counted(lib.layers.Layer):
        def build(self, input_shape):
            self.calls = self.add_weight(
                shape=(), initializer="zeros", dtype="int32", trainable=False, name="calls"
            )

        def call(self, inputs):
            self.calls.assign_add(1)
            return inputs

    class Stepped(lib.Model):
        def __init__(self):
            super().__init__(name="stepped")
            self.dense = lib.layers.Dense(2, kernel_initializer="ones", name="dense")
            self.counted = Counted(name="counted")
            self.current_step = lib.Variable(0, dtype="int64", trainable=False, name="step")

        def call(self, inputs):
            self.current_step.assign_add(1)
            step = lib.ops.cast(self.current_step, "float32")
            return self.counted(self.dense(inputs)) * (0.5 - lib.ops.cos(step / 4) / 2)

    return Stepped()


def test_an_integer_variable_counts_as_kerass(keras, tmp_path):
    found = []
    for lib in (ac, keras):
        model = _counting_model(lib)
        x = np.ones((2, 3), np.float32)
        outputs = [lib.ops.convert_to_numpy(model(x)) for _ in range(3)]
        step = model.current_step
        found.append((
            [w.path for w in model.weights], [w.path for w in model.non_trainable_weights],
            [(w.dtype, w.shape) for w in model.get_weights()], repr(model.counted.calls),
            int(step), (step + 1).numpy(), (step * 2.5).numpy(), float(step < 5), outputs,
            lib.ops.convert_to_numpy(lib.ops.cast(step, "float32")),
        ))  # fmt: skip
        model.save_weights(tmp_path / f"{lib.__name__}.weights.h5")
    assert repr(found[0][:4]) == repr(found[1][:4])  # their paths, order, dtypes and shapes
    for mine, kerass in zip(found[0][4:], found[1][4:], strict=True):
        np.testing.assert_allclose(mine, kerass, rtol=1e-6)
        assert np.asarray(mine).dtype == np.asarray(kerass).dtype
    for writer, reader in (("autoconv", keras), ("keras", ac)):
        model = _counting_model(reader)
        model(np.ones((2, 3), np.float32))
        model.load_weights(tmp_path / f"{writer}.weights.h5")
        assert int(model.current_step) == 3 and int(model.counted.calls) == 3


def test_round_of_a_variable_as_kerass(keras):
    found = []
    for lib in (ac, keras):
        weights = lib.Variable(np.array([1.26, -0.54], np.float32))
        counts = lib.Variable(np.array([3, 4]), dtype="int32", trainable=False)
        found.append([lib.ops.convert_to_numpy(r) for r in (round(weights, 1), round(counts))])
    for mine, kerass in zip(*found, strict=True):
        np.testing.assert_array_equal(mine, kerass)
        assert mine.dtype == kerass.dtype


def test_an_integer_variable_is_never_trainable():
    with pytest.raises(ValueError, match=r"int64 cannot be trainable.*trainable=False"):
        ac.Variable(0, dtype="int64")
    step = ac.Variable(np.zeros(2), dtype="int32", trainable=False)
    with pytest.raises(ValueError, match="cannot be trainable"):
        step.trainable = True
    assert step.assign([3, 4]).numpy().tolist() == [3, 4]


@pytest.mark.parametrize("device", DEVICES)
def test_an_integer_variable_counts_on_the_models_device(device):
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    model = _counting_model(ac)
    x = np.ones((2, 3), np.float32)
    model(x)
    model.to(device)
    outputs = [model(x).numpy() for _ in range(2)]
    assert int(model.current_step) == 3 and int(model.counted.calls) == 3
    assert model.current_step.dtype == np.int64 and model.counted.calls.dtype == np.int32
    for step, output in zip((2, 3), outputs, strict=True):  # (ones kernel: 3 per unit)
        np.testing.assert_allclose(output, np.full((2, 2), 3 * (0.5 - np.cos(step / 4) / 2)), 1e-6)


def test_a_graph_built_on_a_layer_assigns_nothing_as_kerass(keras):
    """A user's layer without ``compute_output_shape`` is run once on zeros when a functional
    graph is built on it; what its call assigns there is dropped, as Keras's symbolic call (in
    a stateless scope) drops it, so its counters count the batches alone."""
    counts = []
    for lib in (ac, keras):

        class Counted(lib.layers.Layer):
            def build(self, input_shape):
                self.calls = self.add_weight(
                    shape=(), initializer="zeros", dtype="int32", trainable=False, name="calls"
                )
                self.total = self.add_weight(
                    shape=(), initializer="zeros", trainable=False, name="total"
                )

            def call(self, inputs):
                self.calls.assign_add(1)
                self.total.assign_add(1.0)
                return inputs * 2

        inputs = lib.Input((3,))
        counted = Counted()
        model = lib.Model(inputs, lib.layers.Dense(1)(counted(inputs)))
        found = [int(counted.calls), float(counted.total)]
        model.compile("sgd", "mse")
        model.fit(np.ones((4, 3)), np.ones((4, 1)), batch_size=2, verbose=0)
        found += [int(counted.calls), float(counted.total)]
        model.predict(np.ones((4, 3)), batch_size=4, verbose=0)
        counts.append([*found, int(counted.calls)])
    assert counts[0] == counts[1] == [0, 0.0, 2, 2.0, 3]


def test_a_python_type_as_dtype_is_kerass(keras):
    """``dtype="int"`` or ``int`` is Keras's int32 (keras.io's Swin Transformer keeps its
    relative position index as ``keras.Variable(..., dtype="int")``), ``float`` float32: not
    NumPy's int64 and float64 (the summary's byte count differed)."""
    index = np.arange(4).reshape(2, 2)
    for lib in (ac, keras):
        layer = lib.layers.Layer()
        made = [
            lib.Variable(initializer=index, shape=(2, 2), dtype="int", trainable=False),
            lib.Variable(index, dtype=int, trainable=False),
            lib.Variable(np.zeros(2), dtype=float),
            layer.add_weight((2,), initializer="zeros", dtype="int", trainable=False),
        ]
        assert [lib.backend.standardize_dtype(v.dtype) for v in made] == [
            "int32",
            "int32",
            "float32",
            "int32",
        ]
