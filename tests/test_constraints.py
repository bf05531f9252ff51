"""autoconv.constraints, Keras's keras.constraints: each constraint's values against real Keras
3.15 (on its PyTorch backend, where installed) and on the CUDA device, get / serialize /
deserialize and Keras's config dicts, the layers' constraint arguments and configs (each
layer's whole config against Keras's, and its files both ways, are in
tests/saving/test_keras_layers.py), and the constraints applied after each optimizer step: fit
matches Keras's training, the GPU's replayed steps the CPU's, a custom layer's and a custom
loop's weights are projected, and a skipped (non-finite) step leaves the weights alone."""

from __future__ import annotations

import inspect
import json
import os

import numpy as np
import pytest

import autoconv as ac
from autoconv import constraints, layers, registration, step_replay
from autoconv import training as training_module
from autoconv.layers import Variable, serialization
from autoconv.ops import engine as ops

os.environ.setdefault("KERAS_BACKEND", "torch")

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # float32, summed in another order than Keras's


@registration.register_keras_serializable("test_constraints")
class Clip(constraints.Constraint):
    """A user's constraint: every element into [-limit, limit]."""

    def __init__(self, limit: float = 1.0) -> None:
        self.limit = limit

    def __call__(self, w):
        return ops.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


def spread(rng, shape):
    """Random weights whose slices have norms from well below 0.5 to well above 2."""
    w = rng.standard_normal(shape)
    return (w * rng.uniform(0.05, 3.0, shape[-1:])).astype(np.float32)


# (class name, arguments, weight shape): the arguments apply to autoconv's class and Keras's.
CASES = [
    ("MaxNorm", {}, (5, 4)),
    ("MaxNorm", {"max_value": 1.5, "axis": 1}, (5, 4)),
    ("MaxNorm", {"max_value": 0.8, "axis": [0, 1, 2]}, (3, 3, 2, 4)),
    ("MaxNorm", {"max_value": 1, "axis": -1}, (3, 2, 6)),
    ("MaxNorm", {"max_value": 3.0, "axis": None}, (4, 3)),
    ("MinMaxNorm", {}, (5, 4)),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.5, "rate": 0.3, "axis": 1}, (5, 4)),
    ("MinMaxNorm", {"min_value": 1.0, "max_value": 2.0, "axis": [0, 1, 2]}, (2, 2, 3, 5)),
    ("UnitNorm", {}, (5, 4)),
    ("UnitNorm", {"axis": [0, 1]}, (3, 3, 4)),
    ("NonNeg", {}, (5, 4)),
    ("Constraint", {}, (4,)),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


# ------------------------------------------------------------------------------- values
@pytest.mark.parametrize(("name", "arguments", "shape"), CASES, ids=IDS)
def test_values_are_keras_s(keras, name, arguments, shape, rng):
    w = spread(rng, shape)
    ours = getattr(constraints, name)(**arguments)(ac.Tensor(w))
    theirs = keras.ops.convert_to_numpy(getattr(keras.constraints, name)(**arguments)(w))
    assert isinstance(ours, ac.Tensor) and ours.dtype == np.float32 and ours.shape == shape
    np.testing.assert_allclose(ours.numpy(), theirs, **TOLERANCE)


@pytest.mark.parametrize(("name", "arguments", "shape"), CASES, ids=IDS)
def test_the_formulas_in_float64_on_arrays(name, arguments, shape, rng):
    w = spread(rng, shape).astype(np.float64)
    axis = arguments.get("axis", 0)
    axes = None if axis is None else tuple(np.atleast_1d(axis))
    norms = np.sqrt((w * w).sum(axis=axes, keepdims=True))
    expected = {
        "MaxNorm": lambda: w * np.clip(norms, 0, arguments.get("max_value", 2)) / (1e-7 + norms),
        "MinMaxNorm": lambda: w * (
            arguments.get("rate", 1.0)
            * np.clip(norms, arguments.get("min_value", 0.0), arguments.get("max_value", 1.0))
            + (1 - arguments.get("rate", 1.0)) * norms
        ) / (1e-7 + norms),
        "UnitNorm": lambda: w / (1e-7 + norms),
        "NonNeg": lambda: np.maximum(w, 0),
        "Constraint": lambda: w,
    }[name]()  # fmt: skip
    out = getattr(constraints, name)(**arguments)(w)  # a NumPy array, as Keras takes one
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12, atol=0)


def test_projections_hold_their_bounds(rng):
    w = spread(rng, (6, 5))

    def norms(t):
        return np.linalg.norm(t.numpy(), axis=0)

    assert (norms(constraints.MaxNorm(1.0)(w)) <= 1.0 + 1e-6).all()
    np.testing.assert_allclose(norms(constraints.UnitNorm()(w)), 1.0, rtol=1e-5)
    kept = norms(constraints.MinMaxNorm(0.5, 1.5)(w))
    assert ((kept >= 0.5 - 1e-6) & (kept <= 1.5 + 1e-6)).all()
    assert (constraints.NonNeg()(w).numpy() >= 0).all()


@pytest.mark.cudasim
@pytest.mark.parametrize(("name", "arguments", "shape"), CASES, ids=IDS)
def test_the_same_values_on_the_cuda_device(name, arguments, shape, rng):
    pytest.importorskip("numba_cuda")
    w = spread(rng, shape)
    constraint = getattr(constraints, name)(**arguments)
    cpu = constraint(ac.Tensor(w))
    gpu = constraint(ac.Tensor(w, device="cuda"))
    assert gpu.device == "cuda" and gpu.dtype == np.float32
    np.testing.assert_allclose(gpu.numpy(), cpu.numpy(), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------- names and configs
def test_names_defaults_and_aliases_are_keras_s(keras):
    from keras.src.constraints import ALL_OBJECTS_DICT

    assert set(constraints.ALL_OBJECTS) == set(ALL_OBJECTS_DICT)

    def defaults(cls):
        return [(p.name, p.default) for p in inspect.signature(cls).parameters.values()]

    for name, cls in constraints.ALL_OBJECTS.items():
        keras_cls = ALL_OBJECTS_DICT[name]
        assert cls.__name__ == keras_cls.__name__ and defaults(cls) == defaults(keras_cls)
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.min_max_norm is constraints.MinMaxNorm
    assert constraints.non_neg is constraints.NonNeg
    assert constraints.unit_norm is constraints.UnitNorm


@pytest.mark.parametrize(("name", "arguments", "shape"), CASES, ids=IDS)
def test_serialize_is_keras_s_and_both_round_trip(keras, name, arguments, shape):
    ours = getattr(constraints, name)(**arguments)
    theirs = getattr(keras.constraints, name)(**arguments)
    entry = constraints.serialize(ours)
    assert entry == keras.constraints.serialize(theirs)
    assert entry["module"] == "keras.constraints" and entry["registered_name"] is None
    for source in (entry, keras.constraints.serialize(theirs)):
        back = constraints.deserialize(source)
        assert type(back) is type(ours) and back.get_config() == ours.get_config()
    assert type(keras.constraints.deserialize(entry)) is type(theirs)
    assert ours.get_config() == theirs.get_config()
    clone = type(ours).from_config(ours.get_config())
    assert type(clone) is type(ours) and clone.get_config() == ours.get_config()


def test_get_takes_what_keras_s_get_takes():
    instance = constraints.UnitNorm(axis=1)
    assert constraints.get(None) is None
    assert constraints.get(instance) is instance
    function = lambda w: w  # noqa: E731
    assert constraints.get(function) is function
    assert type(constraints.get(constraints.NonNeg)) is constraints.NonNeg
    for name, cls in constraints.ALL_OBJECTS.items():
        assert type(constraints.get(name)) is cls
    made = constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0, 1]}})
    assert made.get_config() == {"max_value": 3, "axis": [0, 1]}
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert constraints.serialize(None) is None


@pytest.mark.parametrize(
    "identifier",
    ["no_such_norm", 3, 2.5, [1], {"class_name": "Nope", "config": {}},
     {"class_name": "MaxNorm", "config": [1]}],
)  # fmt: skip
def test_what_is_no_constraint_is_one_clear_error(identifier):
    with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
        constraints.get(identifier)
    with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
        layers.Dense(2, kernel_constraint=identifier)


def test_a_registered_custom_constraint_serializes_and_comes_back():
    entry = constraints.serialize(Clip(0.25))
    assert entry == {
        "module": __name__, "class_name": "Clip", "config": {"limit": 0.25},
        "registered_name": "test_constraints>Clip",
    }  # fmt: skip
    back = constraints.deserialize(entry)
    assert type(back) is Clip and back.limit == 0.25
    assert type(constraints.get("test_constraints>Clip")) is Clip

    class Local(constraints.Constraint):
        pass

    entry = {"class_name": "Local", "config": {}}
    assert type(constraints.deserialize(entry, custom_objects={"Local": Local})) is Local


# ------------------------------------------------------------------------------ layers
# (layer, arguments without the constraints, {argument: constraint}, input shape)
LAYERS = [
    (layers.Dense, {"units": 3}, {"kernel_constraint": "max_norm", "bias_constraint": "non_neg"},
     (4,)),
    (layers.Conv2D, {"filters": 2, "kernel_size": 2},
     {"kernel_constraint": constraints.MaxNorm(1.5, axis=[0, 1, 2]),
      "bias_constraint": constraints.UnitNorm()}, (4, 4, 3)),
    (layers.Conv1D, {"filters": 2, "kernel_size": 2}, {"kernel_constraint": "unit_norm"}, (5, 2)),
    (layers.Conv2DTranspose, {"filters": 2, "kernel_size": 2}, {"bias_constraint": "non_neg"},
     (3, 3, 2)),
    (layers.DepthwiseConv2D, {"kernel_size": 2},
     {"depthwise_constraint": constraints.MinMaxNorm(0.5, 1.0, rate=0.5, axis=[0, 1]),
      "bias_constraint": "max_norm"}, (4, 4, 2)),
    (layers.SeparableConv2D, {"filters": 3, "kernel_size": 2},
     {"depthwise_constraint": "non_neg", "pointwise_constraint": Clip(0.5),
      "bias_constraint": "unit_norm"}, (4, 4, 2)),
    (layers.BatchNormalization, {}, {"beta_constraint": "non_neg", "gamma_constraint": "max_norm"},
     (3,)),
    (layers.LayerNormalization, {}, {"beta_constraint": "unit_norm",
                                     "gamma_constraint": "non_neg"}, (3, 2)),
    (layers.Embedding, {"input_dim": 5, "output_dim": 2},
     {"embeddings_constraint": constraints.UnitNorm(axis=1)}, (3,)),
    (layers.PReLU, {}, {"alpha_constraint": "non_neg"}, (4,)),
]  # fmt: skip
LAYER_IDS = [cls.__name__ for cls, *_ in LAYERS]


def _weight_of(layer, argument):
    """The weight an argument constrains: ``kernel_constraint`` the kernel, and so on."""
    prefix = argument.removesuffix("_constraint")
    if isinstance(layer, layers.DepthwiseConv2D) and prefix == "depthwise":
        prefix = "kernel"  # Keras 3 names the depthwise layer's kernel "kernel"
    if isinstance(layer, layers.SeparableConv2D) and prefix != "bias":
        prefix = f"{prefix}_kernel"
    return getattr(layer, prefix)


@pytest.mark.parametrize(("cls", "arguments", "given", "shape"), LAYERS, ids=LAYER_IDS)
def test_a_layer_constrains_its_weights_and_its_config_keeps_them(cls, arguments, given, shape):
    layer = cls(**arguments, **given)
    layer._maybe_build((None, *shape))
    config = layer.get_config()
    clone = serialization.deserialize(json.loads(json.dumps(serialization.serialize(layer))))
    for argument, value in given.items():
        made = constraints.get(value)
        assert config[argument] == constraints.serialize(made)
        for each in (layer, clone):
            constraint = _weight_of(each, argument).constraint
            assert type(constraint) is type(made) and constraint.get_config() == made.get_config()
    unconstrained = [w for w in layer.weights if w.constraint is None]
    assert len(unconstrained) == len(layer.weights) - len(given)


def test_a_keras_file_keeps_the_constraints_both_ways(keras, tmp_path):
    def build(lib, kernel, bias):
        return lib.Sequential(
            [lib.Input((4,)), lib.layers.Dense(3, kernel_constraint=kernel, bias_constraint=bias)]
        )

    ours = build(ac, constraints.MaxNorm(1.5, axis=1), "non_neg")
    ours.save(tmp_path / "ours.keras")
    dense = keras.saving.load_model(tmp_path / "ours.keras").layers[-1]
    assert type(dense.kernel_constraint) is keras.constraints.MaxNorm
    assert dense.kernel_constraint.get_config() == {"max_value": 1.5, "axis": 1}
    assert type(dense.bias_constraint) is keras.constraints.NonNeg
    build(keras, keras.constraints.UnitNorm(axis=0), None).save(tmp_path / "theirs.keras")
    loaded = ac.saving.load_model(tmp_path / "theirs.keras").layers[-1]
    assert type(loaded.kernel.constraint) is constraints.UnitNorm and loaded.bias.constraint is None
    back = ac.saving.load_model(tmp_path / "ours.keras").layers[-1]
    assert back.kernel.constraint.get_config() == {"max_value": 1.5, "axis": 1}


# ----------------------------------------------------------------------------- training
def convnet(lib, device="cpu"):
    """A small model with a constraint on every kind of weight, with fixed weights (larger than
    the constraints allow, so that each one acts)."""
    c = lib.constraints
    model = lib.Sequential(
        [
            lib.Input((5, 5, 2)),
            lib.layers.Conv2D(3, 3, kernel_constraint=c.MaxNorm(0.5, axis=[0, 1, 2]),
                              bias_constraint=c.NonNeg()),
            lib.layers.Flatten(),
            lib.layers.Dense(4, activation="relu",
                             kernel_constraint=c.MinMaxNorm(0.2, 0.6, rate=0.7)),
            lib.layers.Dense(2, kernel_constraint=c.UnitNorm(), bias_constraint="max_norm"),
        ]
    )  # fmt: skip
    weights = [
        np.cos(np.arange(np.prod(w.shape)) * 0.7 + i).reshape(tuple(w.shape)).astype(np.float32)
        for i, w in enumerate(model.weights)
    ]
    model.set_weights(weights)
    if device != "cpu":
        model = model.to(device)
    model.compile(lib.optimizers.SGD(0.2, momentum=0.5), "mse")
    return model


def training_data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((12, 5, 5, 2)).astype(np.float32), rng.standard_normal(
        (12, 2)
    ).astype(np.float32)


def test_fit_applies_the_constraints_after_each_step_as_keras(keras):
    x, y = training_data()
    ours, theirs = convnet(ac), convnet(keras)
    ours_history = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    theirs_history = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ours_history["loss"], theirs_history["loss"], rtol=1e-5)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, **TOLERANCE)
    kernel, bias = ours.layers[0].kernel.numpy(), ours.layers[0].bias.numpy()
    assert (np.sqrt((kernel**2).sum(axis=(0, 1, 2))) <= 0.5 + 1e-6).all() and (bias >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(ours.layers[3].kernel.numpy(), axis=0), 1, 1e-5)


@pytest.mark.cudasim
def test_the_gpu_s_replayed_steps_constrain_as_the_cpu(monkeypatch):
    pytest.importorskip("numba_cuda")
    x, y = training_data()
    cpu = convnet(ac)
    cpu.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = convnet(ac, "cuda")
        eager.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    replayed = convnet(ac, "cuda")
    replayed.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    runner = replayed._step_replay
    assert runner.why is None and runner.replayed >= 8, runner.why
    for got, eager_weight, want in zip(
        replayed.get_weights(), eager.get_weights(), cpu.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(got, eager_weight)
        np.testing.assert_allclose(got, want, **TOLERANCE)
    assert (replayed.layers[0].bias.numpy() >= 0).all()


def test_a_custom_layer_s_add_weight_constraint_is_applied():
    class Affine(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(
                (input_shape[-1],), "ones", constraint="non_neg", name="scale"
            )
            self.shift = self.add_weight((input_shape[-1],), "zeros", constraint=Clip(0.05))

        def call(self, inputs):
            return inputs * self.scale + self.shift

    x = np.random.default_rng(0).uniform(0.5, 1.5, (16, 3)).astype(np.float32)
    model = ac.Sequential([layers.Input((3,)), Affine()])
    model.compile(ac.optimizers.SGD(0.5), "mse")
    # every output too large whatever the constrained weights: both pushed down each step
    model.fit(x, -2 * x - 5, batch_size=8, epochs=3, verbose=0)
    scale, shift = model.layers[0].scale.numpy(), model.layers[0].shift.numpy()
    assert type(model.layers[0].scale.constraint) is constraints.NonNeg
    np.testing.assert_array_equal(scale, 0)
    np.testing.assert_array_equal(shift, np.float32(-0.05))


@pytest.mark.parametrize("accumulate", [None, 2])
def test_apply_gradients_in_a_custom_loop_constrains_as_by_hand(rng, accumulate):
    dense = layers.Dense(3, kernel_constraint=constraints.MaxNorm(0.5))
    dense._maybe_build((None, 4))
    optimizer = ac.optimizers.SGD(0.3, gradient_accumulation_steps=accumulate)
    kernel, bias = (w.numpy().astype(np.float64) for w in dense.weights)
    added = [0.0, 0.0]  # the gradients accumulated since the last update
    for _ in range(4):
        grads = [rng.standard_normal(w.shape).astype(np.float32) for w in dense.weights]
        optimizer.apply_gradients(zip(grads, dense.trainable_weights, strict=True))
        # Keras's order: the update (every step, or with accumulation every 2nd, with the
        # mean gradient), then the constraint, every step
        added = [a + g for a, g in zip(added, grads, strict=True)]
        if optimizer.iterations % (accumulate or 1) == 0:
            steps = accumulate or 1
            kernel, bias = kernel - 0.3 * added[0] / steps, bias - 0.3 * added[1] / steps
            added = [0.0, 0.0]
        norms = np.sqrt((kernel**2).sum(axis=0, keepdims=True))
        kernel = kernel * np.clip(norms, 0, 0.5) / (1e-7 + norms)
        np.testing.assert_allclose(dense.kernel.numpy(), kernel, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dense.bias.numpy(), bias, rtol=1e-5, atol=1e-6)


def test_a_constraint_giving_another_shape_is_refused():
    weight = Variable(np.ones((2, 3), np.float32), name="kernel")
    weight.constraint = lambda w: ops.sum(w, axis=0)
    with pytest.raises(ValueError, match=r"a constraint's value of shape \(3,\) for a variable"):
        ac.optimizers.SGD(0.1).apply_gradients([(np.ones((2, 3), np.float32), weight)])


def diverging(device):
    """A model whose kernel breaks its constraint until a step projects it (ones: norms 2 > 1),
    and data whose first batch has a NaN target."""
    model = ac.Sequential(
        [layers.Input((4,)), layers.Dense(2, kernel_initializer="ones",
                                          kernel_constraint=constraints.MaxNorm(1.0))]
    )  # fmt: skip
    if device != "cpu":
        model = model.to(device)
    model.compile(ac.optimizers.SGD(0.1), "mse")
    x, y = np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32)
    y[0, 0] = np.nan
    return model, x, y


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_a_skipped_step_and_a_warm_up_leave_the_weights_unconstrained(device):
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    model, x, y = diverging(device)
    training_module.warm_up(model, x[4:], y[4:])  # changes nothing, the constraint included
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), 1)
    with pytest.raises(training_module.TrainingDivergedError, match="batch 1"):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), 1)  # the last good step's
    assert model.optimizer.iterations == 0
    model.fit(x[4:], y[4:], batch_size=4, epochs=1, verbose=0)  # a good step projects it
    assert np.linalg.norm(model.layers[0].kernel.numpy(), axis=0).max() <= 1.0 + 1e-6
