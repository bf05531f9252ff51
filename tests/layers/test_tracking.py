"""How a user's layer finds its sublayers and takes its call's arguments, against Keras 3:
layers kept in lists and dicts (appended, set, removed later), the first argument given by
name, several positional tensors in a functional graph, the input_shape warning, and the
metrics a layer holds."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import autoconv as ac


def blocks_model(lib, fill):
    """A subclassed model whose sublayers are put in containers after they are made."""

    class Blocks(lib.Model):
        def __init__(self):
            super().__init__(name="blocks")
            self.stack = []
            self.head = lib.layers.Dense(1, name="head")
            self.by_name = {}
            fill(self, lib)

        def call(self, x):
            for layer in self.stack:
                x = layer(x)
            for layer in self.by_name.values():
                x = layer(x)
            return self.head(x)

    model = Blocks()
    model(np.ones((2, 3), np.float32))
    return model


def appended(model, lib):
    for i in range(2):
        model.stack.append(lib.layers.Dense(4, name=f"dense_{i}"))


def extended_and_inserted(model, lib):
    model.stack.extend([lib.layers.Dense(4, name="b"), lib.layers.Dense(4, name="c")])
    model.stack.insert(0, lib.layers.Dense(4, name="a"))


def set_in_a_dict(model, lib):
    model.by_name["x"] = lib.layers.Dense(4, name="x")
    model.by_name.update({"y": lib.layers.Dense(3, name="y")})


def nested(model, lib):
    model.stack.append([lib.layers.Dense(4, name="inner")])
    model.stack = [model.stack[0][0], lib.layers.Dense(2, name="outer")]


def removed(model, lib):
    appended(model, lib)
    model.stack.append(lib.layers.Dense(4, name="gone"))
    model.stack.pop()


def added_with_plus_equals(model, lib):
    """keras.io's Forward-Forward: ``self.layer_list += [FFDense(...)]`` after an Input."""
    model.stack += [lib.layers.Dense(4, name="first")]
    model.stack += [lib.layers.Dense(3, name="second")]


@pytest.mark.parametrize(
    "fill",
    [appended, extended_and_inserted, set_in_a_dict, nested, removed, added_with_plus_equals],
)
def test_layers_put_in_containers_are_tracked_as_in_keras(fill, keras):
    ours, theirs = blocks_model(ac, fill), blocks_model(keras, fill)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]


def test_appended_layers_train():
    model = blocks_model(ac, appended)
    before = [w.copy() for w in model.get_weights()]
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32), verbose=0)
    assert len(before) == 6
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


class SetBeforeInit(ac.layers.Layer):
    """keras.io's Switch Transformer sets its sublayers before calling super().__init__()."""

    def __init__(self):
        self.route = ac.layers.Dense(2, name="route")
        self.experts = [ac.layers.Dense(2, name=f"expert_{i}") for i in range(2)]
        self.scale = ac.Variable(np.ones(2, np.float32), trainable=False, name="scale")
        super().__init__(name="set_before_init")

    def call(self, x):
        return (self.route(x) + self.experts[0](x) + self.experts[1](x)) * self.scale


def test_layers_and_variables_set_before_super_init_are_tracked():
    """As Keras's tracker, made on the first attribute set (on TensorFlow and JAX; PyTorch's
    Module refuses a sublayer before its __init__, so Keras on PyTorch cannot run this)."""
    layer = SetBeforeInit()
    layer.experts.append(ac.layers.Dense(1, name="more"))  # the list is tracked too
    assert [sub.name for sub in layer.layers][-1] == "more"
    layer.experts.pop()
    layer(np.ones((1, 3), np.float32))
    assert [sub.name for sub in layer.layers] == ["route", "expert_0", "expert_1"]
    assert [w.name for w in layer.trainable_weights] == ["kernel", "bias"] * 3
    assert [w.name for w in layer.non_trainable_weights] == ["scale"]


class Holder(ac.layers.Layer):
    def __init__(self):
        super().__init__(name="holder")
        self.parts = []
        self.parts.append(ac.layers.Dense(2, name="part"))

    def call(self, x):
        return self.parts[0](x)


def test_a_tracked_list_stays_a_list_and_pickles_with_its_layer():
    holder = Holder()  # (unbuilt: a built layer's state is locked, as Keras's)
    assert isinstance(holder.parts, list) and holder.parts == list(holder.parts)
    copy = pickle.loads(pickle.dumps(holder))
    assert [layer.name for layer in copy.layers] == ["part"]
    copy.parts.append(ac.layers.Dense(1, name="more"))  # the copy's list tracks for the copy
    assert [layer.name for layer in copy.layers] == ["part", "more"]
    assert [layer.name for layer in holder.layers] == ["part"]


class Endpoint(ac.layers.Layer):
    """keras.io's endpoint layer pattern: the first argument named, the targets optional."""

    def call(self, logits, targets=None, sample_weight=None):
        return ac.ops.softmax(logits) if targets is None else logits + targets


def test_the_first_argument_may_be_given_by_name():
    x = np.ones((2, 3), np.float32)
    layer = Endpoint()
    np.testing.assert_allclose(layer(logits=x, targets=x).numpy(), 2 * x)
    np.testing.assert_allclose(layer(logits=x).numpy(), layer(x).numpy())
    with pytest.raises(TypeError, match=r"missing its first argument \('logits'"):
        layer(targets=x)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_several_positional_tensors_in_a_graph_give_keras_s_shape(count, keras):
    def output_shape(lib, layer):
        logits = lib.layers.Dense(2)(lib.Input((4,)))
        extras = [lib.Input((2,)) for _ in range(count - 1)]
        return tuple(layer(logits, *extras).shape)

    class KerasEndpoint(keras.layers.Layer):
        def call(self, logits, targets=None, sample_weight=None):
            return keras.ops.softmax(logits)

    assert output_shape(ac, Endpoint()) == output_shape(keras, KerasEndpoint()) == (None, 2)


def _joining(lib, by_shape_names: bool = True):
    """A user's layer of two tensors whose ``compute_output_shape`` takes their shapes by
    Keras's names, ``<call argument>_shape`` (or, wrongly, by the call arguments' own)."""

    class Joining(lib.layers.Layer):
        def call(self, a, b):
            return lib.ops.concatenate([a, b], axis=-1)

        def compute_output_shape(self, a_shape, b_shape):
            return (*a_shape[:-1], a_shape[-1] + b_shape[-1])

    class Misnamed(Joining):
        def compute_output_shape(self, a, b):
            return (*a[:-1], a[-1] + b[-1])

    return Joining() if by_shape_names else Misnamed()


def test_a_compute_output_shape_of_several_shapes_gets_each_by_name_as_kerass(keras):
    """In a graph (unknown sizes too), a model's compute_output_shape, and called directly,
    by position or name; names that are not ``<call argument>_shape``: Keras's error."""
    results = []
    for lib in (ac, keras):
        a, b = lib.Input((None, 3)), lib.Input((None, 2))
        model = lib.Model([a, b], _joining(lib)(a, b))
        layer = _joining(lib)
        results.append([
            tuple(model.outputs[0].shape),
            tuple(model.compute_output_shape([(4, 6, 3), (4, 6, 2)])),
            layer.compute_output_shape((1, 3), (1, 2)),
            layer.compute_output_shape(a_shape=(1, 3), b_shape=(1, 1)),
        ])  # fmt: skip
        with pytest.raises(ValueError, match="all arguments should have a `_shape` suffix"):
            _joining(lib, by_shape_names=False)(a, b)
    assert results[0] == results[1] == [(None, None, 5), (4, 6, 5), (1, 5), (1, 4)]


@pytest.mark.parametrize("argument", [{"input_shape": (3,)}, {"input_dim": 3}])
def test_input_shape_on_a_layer_warns_as_keras(argument):
    with pytest.warns(UserWarning, match="Do not pass an `input_shape`/`input_dim` argument"):
        model = ac.Sequential([ac.layers.Dense(2, **argument)])
    assert model.input_shape == (None, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ac.layers.Dense(2)


def test_a_layer_lists_the_metrics_it_holds_as_keras(keras):
    """Keras's ``layer.metrics``: its own metrics (in a list attribute too), then its
    sublayers', as the subclassing guide's layers keep them."""

    def metric_names(lib):
        class Inner(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.accuracy = lib.metrics.BinaryAccuracy(name="acc")

        class Outer(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.total = lib.metrics.Sum(name="total")
                self.inner = Inner()
                self.trackers = [lib.metrics.Mean(name="m1"), lib.metrics.Mean(name="m2")]

        return [metric.name for metric in Outer().metrics]

    assert metric_names(ac) == metric_names(keras)


def test_an_optimizers_or_metrics_variable_set_on_a_layer_is_not_its_weight():
    """They are Variables to isinstance, as Keras's, but views of their owners' state: a
    layer that keeps one (a learning rate to read in call) does not make it its weight."""
    optimizer, mean = ac.optimizers.Adam(0.01), ac.metrics.Mean()

    class Keeper(ac.layers.Layer):
        def __init__(self):
            super().__init__()
            self.rate, self.total = optimizer.learning_rate, mean.variables[0]
            self.own = ac.Variable(np.zeros(2, np.float32), name="own", trainable=False)

    assert isinstance(Keeper().rate, ac.Variable)
    assert [w.name for w in Keeper().weights] == ["own"]
