"""MultiOptimizer and OptimizerMap (autoconv/optimizers/multi_optimizer.py) against real Keras
3's (keras/src/optimizers/multi_optimizer.py and its tests): the same model's weights and
gradients, step by step, on the CPU and on the CUDA device; a fit on both devices; configs;
errors; Keras's ``.keras`` files with the optimizer's state, both ways."""

from __future__ import annotations

import re

import numpy as np
import pytest

import autoconv as ac
from autoconv import optimizers
from autoconv.callbacks import SwapEMAWeights
from autoconv.saving import h5_state
from tests.layers.devices import fit_on_both_devices

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)]
STEPS = 4


def use_device(device: str) -> None:
    if device == "cuda":
        pytest.importorskip("numba_cuda")


def dense_models(keras, sizes: tuple[int, ...], seed: int = 0):
    """The same MLP (layers ``d1``, ``d2``, ... in a model named ``m``) in Keras and autoconv,
    with the same random weights."""
    rng = np.random.default_rng(seed)

    def make(lib):
        return lib.Sequential(
            [lib.Input((sizes[0],))]
            + [lib.layers.Dense(n, name=f"d{i + 1}") for i, n in enumerate(sizes[1:])],
            name="m",
        )

    theirs, ours = make(keras), make(ac)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return theirs, ours


# Each case: the inner optimizers (the same in Keras and autoconv, each named after its
# class) as (map key or None for the default, class name, arguments). The keys leave the
# model's name out: a model loaded from a file, Keras's as autoconv's, has its weights' paths
# without it.
CASES = {
    "sgd-adam-rmsprop": [
        (".*d1/.*", "SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
        (".*d2/kernel", "Adam", {"learning_rate": 0.02, "amsgrad": True, "clipnorm": 0.5}),
        (None, "RMSprop", {"learning_rate": 0.01, "centered": True, "weight_decay": 0.1}),
    ],
    "global-clip-schedule-ema-accumulation": [
        (".*d[12]/kernel", "Adam", {"learning_rate": 0.05, "global_clipnorm": 0.3}),
        (".*d1/bias", "SGD", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.5}),
        (None, "RMSprop", {"momentum": 0.5, "gradient_accumulation_steps": 2, "schedule": 1}),
    ],
}


def make_multi(lib, case: str, name: str | None = None):
    """A MultiOptimizer of ``CASES[case]`` in ``lib`` (keras or autoconv)."""
    made = {}
    for key, class_name, arguments in CASES[case]:
        arguments = dict(arguments)
        if arguments.pop("schedule", None):
            arguments["learning_rate"] = lib.optimizers.schedules.ExponentialDecay(
                0.02, decay_steps=2, decay_rate=0.5
            )
        made[key] = getattr(lib.optimizers, class_name)(name=class_name.lower(), **arguments)
    default = made.pop(None)
    return lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(default, made), name=name)


@pytest.mark.parametrize("sizes", [(3, 4, 2), (5, 2, 3, 1)])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_steps_match_keras(keras, sizes, case, device):
    """Half the steps on the CPU, then the model (its optimizer's state too) moved to
    ``device`` for the rest."""
    use_device(device)
    theirs, ours = dense_models(keras, sizes)
    keras_opt, opt = make_multi(keras, case), make_multi(ac, case)
    ours.compile(optimizer=opt, loss="mse")  # (for its state in Keras's layout)
    rng = np.random.default_rng(1)
    for step in range(STEPS):
        if step == STEPS // 2:
            ours.to(device)
        grads = [rng.normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
        keras_opt.apply([keras.ops.convert_to_tensor(g) for g in grads], theirs.weights)
        opt.apply(grads, ours.trainable_weights)
        for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(mine, reference, rtol=2e-5, atol=2e-6)
    assert opt.iterations == int(keras_opt.iterations.numpy()) == STEPS
    assert [type(o).__name__ for o in opt.optimizers] == [
        type(o).__name__.removeprefix("Torch") for o in keras_opt.optimizers
    ]
    assert [o.iterations for o in opt.optimizers] == [
        int(o._iterations.numpy()) for o in keras_opt.optimizers
    ]
    assert [o.update_iterations for o in opt.optimizers] == [
        int(o.iterations.numpy()) for o in keras_opt.optimizers
    ]
    keras_state = [v.numpy() for v in keras_opt.variables]
    ours_state = h5_state.optimizer_values(ours)
    assert len(ours_state) == len(keras_state)
    for mine, reference in zip(ours_state, keras_state, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=2e-5, atol=2e-6)


def test_skipped_steps_change_nothing_and_are_discarded_from_every_count(keras):
    """The training loop's status (a non-finite gradient) makes every inner optimizer skip
    its update; ``discard_steps`` takes the steps back from each count."""
    _, model = dense_models(keras, (3, 4, 2))
    opt = make_multi(ac, "global-clip-schedule-ema-accumulation")
    params = model.trainable_weights
    for param in params:
        param.grad = np.ones(param.shape, np.float32)
    opt.step(params)
    before = model.get_weights(), [{k: v.copy() for k, v in s.items()} for s in opt.slots]
    for _ in range(2):
        opt.step(params, np.array([2, 1]))  # a gradient went non-finite at step 1
    for weight, kept in zip(model.get_weights(), before[0], strict=True):
        np.testing.assert_array_equal(weight, kept)
    for slots, kept in zip(opt.slots, before[1], strict=True):
        for name, value in slots.items():
            np.testing.assert_array_equal(value, kept[name])
    assert [o.iterations for o in (opt, *opt.optimizers)] == [3, 3, 3, 3]
    opt.discard_steps(2)
    assert [o.iterations for o in (opt, *opt.optimizers)] == [1, 1, 1, 1]


def test_a_variable_goes_to_its_optimizer_by_path_as_keras(keras):
    chosen = []
    for lib, model in zip((keras, ac), dense_models(keras, (2, 3, 3, 1)), strict=True):
        adam, sgd, rms = lib.optimizers.Adam(), lib.optimizers.SGD(), lib.optimizers.RMSprop()
        mapping = lib.optimizers.OptimizerMap(default_optimizer=rms)
        mapping["m/d1/kernel"] = adam  # an exact key before the patterns
        mapping["m/d[12]/.*"] = sgd
        multi = lib.optimizers.MultiOptimizer(mapping)
        multi.build(model.trainable_weights)
        assert multi.optimizers == [adam, sgd, rms]
        chosen.append([multi.optimizers.index(mapping(v)) for v in model.trainable_weights])
    assert chosen[1] == chosen[0] == [0, 1, 1, 1, 2, 2]
    mapping = optimizers.OptimizerMap(optimizers.SGD())
    mapping[".*kernel.*"] = optimizers.Adam()
    mapping[".*d1.*"] = optimizers.Adam()
    with pytest.raises(ValueError, match="Multiple optimizers assigned to variable m/d1/kernel"):
        optimizers.MultiOptimizer(mapping).build(model.trainable_weights)


def test_stateful_apply_and_counts_as_keras_tests_them():
    model = ac.Sequential(
        [ac.Input((1,)), ac.layers.Dense(2, use_bias=False, name="dense_1"),
         ac.layers.Dense(1, use_bias=False, name="dense_2"),
         ac.layers.Dense(1, use_bias=False, name="other")], name="s",
    )  # fmt: skip
    model.set_weights([np.full((1, 2), 2.0), np.full((2, 1), 3.0), np.full((1, 1), 4.0)])
    slow, fast, idle = optimizers.SGD(0.1), optimizers.SGD(1.0), optimizers.SGD(0.0)
    multi = optimizers.MultiOptimizer(
        optimizers.OptimizerMap(idle, {".*dense_1/.*": slow, ".*dense_2/.*": fast})
    )
    multi.apply([np.ones((1, 2)), np.ones((2, 1)), np.ones((1, 1))], model.trainable_weights)
    w1, w2, w3 = model.get_weights()
    np.testing.assert_allclose(w1, 1.9)
    np.testing.assert_allclose(w2, 2.0)
    np.testing.assert_allclose(w3, 4.0)
    assert multi.iterations == 1 and [o.iterations for o in multi.optimizers] == [1, 1, 1]
    multi.apply([np.ones((1, 2)), np.ones((2, 1)), np.ones((1, 1))])  # built: variables known
    assert multi.iterations == 2
    with pytest.raises(ValueError, match="Gradients must match trainable variables one-to-one"):
        multi.apply([np.ones((1, 2))], model.trainable_weights[:1])


def test_a_function_chooses_and_new_optimizers_join_in_order():
    adam, sgd = optimizers.Adam(1e-3), optimizers.SGD(1e-2)

    def choose(variable):
        return adam if "dense_1" in variable.path else sgd

    multi = optimizers.MultiOptimizer(choose)
    assert multi.optimizers == []
    model = ac.Sequential([ac.Input((1,)), ac.layers.Dense(1, use_bias=False, name="dense_1"),
                           ac.layers.Dense(1, use_bias=False, name="dense_2")])  # fmt: skip
    model.set_weights([np.ones((1, 1)), np.ones((1, 1))])
    multi.apply([np.ones((1, 1)), np.ones((1, 1))], model.trainable_weights)
    assert multi.optimizers == [adam, sgd]
    np.testing.assert_allclose(model.get_weights()[1], [[0.99]])


def test_fit_counts_as_keras_and_leaves_an_idle_default_alone(keras):
    x, y = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)
    results = []
    for lib in (keras, ac):
        opt = lib.optimizers.MultiOptimizer(
            lib.optimizers.OptimizerMap(
                default_optimizer=lib.optimizers.SGD(learning_rate=0.1),
                optimizer_map={
                    ".*dense_1/.*": lib.optimizers.SGD(learning_rate=1e-3),
                    ".*dense_2/.*": lib.optimizers.SGD(learning_rate=1e-2),
                },
            )
        )
        model = lib.Sequential(
            [lib.Input((1,)),
             lib.layers.Dense(2, kernel_initializer="ones", use_bias=False, name="dense_1"),
             lib.layers.Dense(1, kernel_initializer="ones", use_bias=False, name="dense_2")]
        )  # fmt: skip
        model.compile(loss="mse", optimizer=opt)
        model.fit(x, y, batch_size=1, epochs=1, verbose=0)
        counts = [int(np.asarray(o.iterations)) for o in (opt, *opt.optimizers)]
        results.append((model.get_weights(), counts))
    (theirs, their_counts), (ours, our_counts) = results
    assert our_counts == their_counts == [1, 1, 1, 0]
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6)
    np.testing.assert_allclose(ours[0], [[0.996, 0.996]], rtol=1e-6)


def small_convnet():
    ac.utils.set_random_seed(3)
    return ac.Sequential(
        [ac.Input((6, 6, 2)), ac.layers.Conv2D(3, 3, activation="relu", name="conv"),
         ac.layers.Flatten(), ac.layers.Dense(4, name="head")]
    )  # fmt: skip


def fit_optimizer():
    return optimizers.MultiOptimizer(
        optimizers.OptimizerMap(
            optimizers.RMSprop(0.01),
            {".*conv/.*": optimizers.SGD(0.05, momentum=0.9), ".*head/kernel": optimizers.Adam()},
        )
    )


def test_fit_on_both_devices_replays_with_the_cpus_losses():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 6, 6, 2)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 12)]
    # (Adam's bias correction changes every step: a replay must count its inner steps.)
    fit_on_both_devices(small_convnet, x, y, fit_optimizer, replayed=True, epochs=3)


def test_swap_ema_weights_swaps_only_the_averaged_optimizers():
    averaged, plain = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9), optimizers.SGD(0.1)
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(plain, {".*dense_1/.*": averaged}))
    model = ac.Sequential(
        [ac.Input((1,)),
         ac.layers.Dense(2, kernel_initializer="ones", use_bias=False, name="dense_1"),
         ac.layers.Dense(1, kernel_initializer="ones", use_bias=False, name="dense_2")]
    )  # fmt: skip
    model.compile(loss="mse", optimizer=multi)
    model.train_on_batch(np.ones((1, 1)), np.ones((1, 1)))
    model.set_weights([np.full((1, 2), 2.0), np.full((2, 1), 3.0)])
    averaged.slots[0]["average"][...] = 9.0
    swap = SwapEMAWeights()
    swap.set_model(model)
    swap.on_test_begin()
    np.testing.assert_allclose(model.get_weights()[0], 9.0)
    np.testing.assert_allclose(model.get_weights()[1], 3.0)
    np.testing.assert_allclose(averaged.slots[0]["average"], 2.0)
    swap.on_test_end()
    np.testing.assert_allclose(model.get_weights()[0], 2.0)
    np.testing.assert_allclose(averaged.slots[0]["average"], 9.0)
    multi.finalize_variable_values(model.trainable_weights)
    np.testing.assert_allclose(model.get_weights()[0], 9.0)
    with pytest.raises(ValueError, match="at least one inner optimizer has `use_ema=True`"):
        optimizers.MultiOptimizer(optimizers.OptimizerMap(plain)).swap_moving_averages()


def strip_modules(entry):
    """An optimizer entry without the Python module and registered name of each optimizer in
    it (Keras writes its backend's class, ``keras.src.backend.torch.optimizers.torch_adam``
    registered as ``Adam``; autoconv ``keras.optimizers``, as for a single optimizer), its
    numbers in float32 (Keras's learning rates are float32 variables)."""
    if isinstance(entry, dict):
        return {
            k: strip_modules(v) for k, v in entry.items() if k not in ("module", "registered_name")
        }
    return np.float32(entry) if isinstance(entry, float) else entry


@pytest.mark.parametrize("case", list(CASES))
def test_config_is_keras_and_reads_back_both_ways(keras, case):
    theirs = keras.optimizers.serialize(make_multi(keras, case, "multi"))
    ours = optimizers.serialize(make_multi(ac, case, "multi"))
    for entry in (ours, ours["config"]["optimizer_map"], theirs, theirs["config"]["optimizer_map"]):
        assert (entry["module"], entry["registered_name"]) == ("keras.optimizers", None)
    assert strip_modules(ours) == strip_modules(theirs)
    read = optimizers.deserialize(theirs)
    assert strip_modules(optimizers.serialize(read)) == strip_modules(theirs)
    assert [type(o).__name__ for o in read.optimizers] == [n for _, n, _ in CASES[case]]
    back = keras.optimizers.deserialize(ours)
    assert strip_modules(keras.optimizers.serialize(back)) == strip_modules(theirs)
    assert optimizers.get(ours).get_config() == ours["config"]


def test_config_of_a_registered_function():
    @ac.saving.register_keras_serializable(package="test_multi")
    def everything_sgd(variable):
        return optimizers.SGD()

    entry = optimizers.serialize(optimizers.MultiOptimizer(everything_sgd, name="both"))
    assert entry["config"] == {
        "optimizer_map": {
            "module": __name__, "class_name": "function",
            "config": "test_multi>everything_sgd", "registered_name": "test_multi>everything_sgd",
        },
        "loss_scale_factor": None,
        "name": "both",
    }  # fmt: skip
    assert optimizers.deserialize(entry)._optimizer_map is everything_sgd
    with pytest.raises(ValueError, match="cannot be serialized"):
        optimizers.MultiOptimizer(lambda v: optimizers.SGD()).get_config()


def test_names_and_learning_rate_as_keras(keras):
    ac.layers.clear_session()
    keras.utils.clear_session()
    for lib in (keras, ac):
        first = lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(lib.optimizers.SGD()))
        second = lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(lib.optimizers.SGD()))
        assert (first.name, second.name) == ("multi_optimizer", "multi_optimizer_1")
        with pytest.raises(AttributeError, match="Learning rate cannot be accessed"):
            _ = first.learning_rate
        with pytest.raises(AttributeError, match="Learning rate cannot be set"):
            first.learning_rate = 1.0


def keras_and_ours_raise(keras, make, error, match):
    """``make(lib)`` raises ``error`` matching ``match`` with Keras and with autoconv."""
    for lib in (keras, ac):
        with pytest.raises(error, match=match):
            make(lib)


def built_on_one(lib, mapping):
    """A MultiOptimizer of ``mapping(lib)`` built on a one-unit Dense layer's weights."""
    model = lib.Sequential([lib.Input((1,)), lib.layers.Dense(1, name="d")], name="m")
    lib.optimizers.MultiOptimizer(mapping(lib)).build(model.trainable_weights)


ERRORS = {
    "default not an optimizer": (
        lambda lib: lib.optimizers.OptimizerMap("sgd"), TypeError, "default_optimizer must be"
    ),
    "map not a dict": (
        lambda lib: lib.optimizers.OptimizerMap(lib.optimizers.SGD(), [1]), TypeError,
        "optimizer_map must be a dictionary",
    ),
    "duplicated key": (
        lambda lib: _set_twice(lib), ValueError, "already exists in the OptimizerMap"
    ),
    "key not a string": (
        lambda lib: lib.optimizers.OptimizerMap(lib.optimizers.SGD()).__setitem__(
            1, lib.optimizers.SGD()
        ), ValueError, "key must be a string",
    ),
    "value not an optimizer": (
        lambda lib: lib.optimizers.OptimizerMap(lib.optimizers.SGD()).__setitem__(".*", "adam"),
        ValueError, "optimizer must be a Keras Optimizer instance",
    ),
    "a MultiOptimizer inside": (
        lambda lib: lib.optimizers.OptimizerMap(lib.optimizers.SGD()).__setitem__(
            ".*", lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(lib.optimizers.SGD()))
        ), ValueError, "optimizer cannot be MultiOptimizer.",
    ),
    "two keys match": (
        lambda lib: built_on_one(
            lib, lambda lib: lib.optimizers.OptimizerMap(
                lib.optimizers.SGD(),
                {"m/.*": lib.optimizers.SGD(), ".*/kernel": lib.optimizers.Adam()},
            ),
        ), ValueError, "Multiple optimizers assigned to variable m/d/kernel",
    ),
    "a function gives no optimizer": (
        lambda lib: built_on_one(lib, lambda lib: lambda v: "sgd"), ValueError,
        "is not an Optimizer instance",
    ),
    "a function gives a MultiOptimizer": (
        lambda lib: built_on_one(
            lib, lambda lib: lambda v: lib.optimizers.MultiOptimizer(lambda w: None)
        ), ValueError, re.escape("MultiOptimizer cannot be used inside an MultiOptimizer."),
    ),
}  # fmt: skip


def _set_twice(lib):
    mapping = lib.optimizers.OptimizerMap(lib.optimizers.SGD())
    mapping["m/.*"] = lib.optimizers.SGD()
    mapping["m/.*"] = lib.optimizers.Adam()


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_as_keras(keras, name):
    make, error, match = ERRORS[name]
    keras_and_ours_raise(keras, make, error, match)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: optimizers.MultiOptimizer(optimizers.SGD()), "optimizer_map must be an"),
        (lambda: optimizers.MultiOptimizer(lambda v: None, loss_scale_factor=2.0), "not supp"),
        (lambda: optimizers.OptimizerMap(optimizers.SGD(), {"d(": optimizers.SGD()}), "regular"),
        (lambda: optimizers.OptimizerMap(optimizers.SGD())(ac.Tensor([1.0])), "has no path"),
    ],
)
def test_autoconvs_own_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("writer", ["keras", "autoconv"])
def test_keras_files_carry_the_state_both_ways(keras, tmp_path, case, writer):
    """A .keras file with the optimizer's state, written by one library after a few steps,
    read by the other: the same state, and the same next step."""
    theirs, ours = dense_models(keras, (3, 4, 2))
    theirs.compile(optimizer=make_multi(keras, case), loss="mse")
    ours.compile(optimizer=make_multi(ac, case), loss="mse")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    path = tmp_path / "model.keras"
    if writer == "keras":
        theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        theirs.save(path)
        ours = ac.saving.load_model(path)
    else:
        ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        ours.save(path)
        theirs = keras.saving.load_model(path)
    opt, keras_opt = ours.optimizer, theirs.optimizer
    assert isinstance(opt, optimizers.MultiOptimizer) and opt.iterations == 4
    assert [o.iterations for o in opt.optimizers] == [
        int(o._iterations.numpy()) for o in keras_opt.optimizers
    ]
    keras_state = [v.numpy() for v in keras_opt.variables]
    for mine, reference in zip(h5_state.optimizer_values(ours), keras_state, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-7)
    grads = [rng.normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
    keras_opt.apply([keras.ops.convert_to_tensor(g) for g in grads], theirs.weights)
    opt.apply(grads, ours.trainable_weights)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=2e-5, atol=2e-6)
