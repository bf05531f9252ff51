"""ScheduleFreeAdamW (autoconv/optimizers/schedule_free.py) against Keras 3's
(keras/src/optimizers/schedule_free_adamw.py and its tests), on the CPU and on the CUDA device
(the simulator): its ``update_step`` as written, transcribed in NumPy; real Keras, step by step,
with the base options (clipping, weight decay, warm-up, moving averages, accumulation, a
schedule); a fit on both devices, replayed on the GPU; configs; errors; Keras's ``.keras`` files
with its state, both ways.

Real Keras on its PyTorch (or TensorFlow) backend reads ``momentum_old`` after the momentum's
in-place update (``momentum.value`` is the variable's own storage), which its source means to
read before; autoconv follows the source (as Keras's JAX backend computes it). The two agree
where that read cannot matter: at the first step (its average weight 1/t is 1) and with
``beta_1=1`` (y is the average itself), which is how the real-Keras tests compare.
"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import optimizers
from autoconv.backends import namespace
from autoconv.layers.layer import Variable
from autoconv.saving import h5_state
from tests.layers.devices import fit_on_both_devices

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)]
SHAPES = [(3, 4), (5,)]
STEPS = 5
TOLERANCE = {np.float32: {"rtol": 2e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-11, "atol": 1e-13}}


def use_device(device: str) -> None:
    if device == "cuda":
        pytest.importorskip("numba_cuda")


def draw(rng, steps: int = STEPS):
    starts = [rng.normal(size=shape) for shape in SHAPES]
    return starts, [[rng.normal(size=shape) for shape in SHAPES] for _ in range(steps)]


def run_ours(device, config, starts, grad_steps, dtype=np.float32):
    """Our optimizer over ``grad_steps``: the weights after each step, and the optimizer."""
    xp = namespace(device)
    params = [Variable(ac.Tensor(w.astype(dtype), device=device), name=f"w{i}")
              for i, w in enumerate(starts)]  # fmt: skip
    opt = optimizers.ScheduleFreeAdamW(**config)
    seen = []
    for grads in grad_steps:
        opt.apply([g.astype(dtype) for g in grads], params)
        seen.append([np.array(xp.to_numpy(p.data)) for p in params])  # (copies)
    return seen, opt


# ---------------------------------------------------- Keras's update_step, as written
def keras_update_step(w, g, z, v, t, lr, config, dt):
    """``update_step`` of schedule_free_adamw.py in NumPy, in place, in the dtype ``dt`` (the
    momentum read before its update, as the source says)."""
    b1, b2 = dt(config.get("beta_1", 0.9)), dt(config.get("beta_2", 0.999))
    eps, step = dt(config.get("epsilon", 1e-8)), dt(t)
    if config.get("warmup_steps", 0) > 0:
        lr = lr * np.minimum(step / dt(config["warmup_steps"]), dt(1.0))
    z_old = z.copy()
    v += (np.square(g) - v) * (1 - b2)
    z -= lr * g / (np.sqrt(v / (1 - b2**step)) + eps)
    weight = dt(1.0) / step
    x = (w - (1 - b1) * z_old) / b1
    x = (1 - weight) * x + weight * z
    w[...] = (1 - b1) * z + b1 * x


def keras_run(config, starts, grad_steps, dt):
    """Keras's ``apply`` (weight decay, then update_step) over ``grad_steps``, as written."""
    lr = dt(config.get("learning_rate", 0.0025))
    ws = [w.astype(dt) for w in starts]
    zs, vs = [w.copy() for w in ws], [np.zeros_like(w) for w in ws]  # its build: z = w
    seen = []
    for t, grads in enumerate(grad_steps, 1):
        for w, g, z, v in zip(ws, grads, zs, vs, strict=True):
            if config.get("weight_decay") is not None:
                w -= w * dt(config["weight_decay"]) * lr
            keras_update_step(w, g.astype(dt), z, v, t, lr, config, dt)
        seen.append([w.copy() for w in ws])
    return seen, zs, vs


WRITTEN = [
    {},
    {"learning_rate": 0.05, "warmup_steps": 3},
    {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-6, "weight_decay": 0.1},
]


@pytest.mark.parametrize("config", WRITTEN, ids=["defaults", "warmup", "options-decay"])
@pytest.mark.parametrize(
    ("device", "dtype"),
    [("cpu", np.float32), ("cpu", np.float64),
     pytest.param("cuda", np.float32, marks=pytest.mark.cudasim)],
)  # fmt: skip
def test_steps_are_kerass_update_step_as_written(config, device, dtype, rng):
    use_device(device)
    starts, grad_steps = draw(rng)
    ours, opt = run_ours(device, config, starts, grad_steps, dtype)
    theirs, zs, vs = keras_run(config, starts, grad_steps, dtype)
    for mine, reference in zip(ours, theirs, strict=True):
        for a, b in zip(mine, reference, strict=True):
            np.testing.assert_allclose(a, b, **TOLERANCE[dtype])
    xp = namespace(device)
    for slots, z, v in zip(opt.slots, zs, vs, strict=True):
        np.testing.assert_allclose(xp.to_numpy(slots["momentum"]), z, **TOLERANCE[dtype])
        np.testing.assert_allclose(xp.to_numpy(slots["velocity"]), v, **TOLERANCE[dtype])


# Real Keras, where its backends' read of the momentum cannot matter (beta_1 = 1).
BASE = {
    "warmup-decay": {"beta_1": 1.0, "learning_rate": 0.05, "warmup_steps": 2, "weight_decay": 0.05},
    "global-clip-ema": {
        "beta_1": 1.0, "global_clipnorm": 0.5, "use_ema": True, "ema_momentum": 0.5,
    },
    "clip-ema-overwrite": {
        "beta_1": 1.0, "clipnorm": 0.5, "use_ema": True, "ema_overwrite_frequency": 2,
    },
    "accumulation-clipvalue-schedule": {
        "beta_1": 1.0, "gradient_accumulation_steps": 2, "clipvalue": 0.3, "schedule": True,
    },
}  # fmt: skip


def make(lib, config):
    config = dict(config)
    if config.pop("schedule", False):
        config["learning_rate"] = lib.optimizers.schedules.ExponentialDecay(
            0.05, decay_steps=2, decay_rate=0.5
        )
    return lib.optimizers.ScheduleFreeAdamW(**config)


@pytest.mark.parametrize("case", list(BASE))
@pytest.mark.parametrize("device", DEVICES)
def test_steps_match_real_keras_with_the_base_options(keras, case, device, rng):
    use_device(device)
    starts, grad_steps = draw(rng)
    theirs = [keras.Variable(w.astype(np.float32), name=f"w{i}") for i, w in enumerate(starts)]
    keras_opt = make(keras, BASE[case])
    opt = make(ac, BASE[case])
    ours = [Variable(ac.Tensor(w.astype(np.float32), device=device), name=f"w{i}")
            for i, w in enumerate(starts)]  # fmt: skip
    for grads in grad_steps:
        grads = [g.astype(np.float32) for g in grads]
        keras_opt.apply([keras.ops.convert_to_tensor(g) for g in grads], theirs)
        opt.apply(grads, ours)
        for mine, reference in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(mine.numpy(), reference.numpy(), **TOLERANCE[np.float32])
    state = {v.path.split("/")[-1]: np.asarray(v.numpy()) for v in keras_opt.variables}
    xp = namespace(device)
    for variable, slots in zip(ours, opt.slots, strict=True):
        for name, value in slots.items():
            expected = state[f"{variable.name}_{name}"]
            np.testing.assert_allclose(xp.to_numpy(value), expected, **TOLERANCE[np.float32])


def test_the_first_step_is_real_kerass_and_the_momentum_starts_at_the_weights(keras, rng):
    starts, grad_steps = draw(rng, steps=1)
    theirs = [keras.Variable(w.astype(np.float32)) for w in starts]
    keras_opt = keras.optimizers.ScheduleFreeAdamW(learning_rate=0.1, warmup_steps=4)
    keras_opt.build(theirs)
    opt = optimizers.ScheduleFreeAdamW(learning_rate=0.1, warmup_steps=4)
    ours = [Variable(w.astype(np.float32)) for w in starts]
    opt.build(ours)
    for slots, w in zip(opt.slots, starts, strict=True):
        np.testing.assert_array_equal(slots["momentum"], w.astype(np.float32))
        assert not np.shares_memory(slots["momentum"], w)
    keras_opt.apply([keras.ops.convert_to_tensor(g.astype(np.float32)) for g in grad_steps[0]])
    opt.apply([g.astype(np.float32) for g in grad_steps[0]])
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-6)


def test_kerass_tests_of_weight_decay_warmup_and_steps():
    """keras/src/optimizers/schedule_free_adamw_test.py's checks."""
    kept = Variable(np.array(2.0, np.float32), name="exclude")
    opt = optimizers.ScheduleFreeAdamW(learning_rate=1.0, weight_decay=0.004)
    opt.exclude_from_weight_decay(var_names=["exclude"])
    opt.apply([np.zeros(())], [kept])
    assert kept.numpy() == pytest.approx(2.0, abs=1e-6)
    first, warmed = (Variable(np.array([1.0, 2.0, 3.0], np.float32)) for _ in range(2))
    optimizers.ScheduleFreeAdamW(0.5).apply([np.ones(3)], [first])
    optimizers.ScheduleFreeAdamW(0.5, warmup_steps=10).apply([np.ones(3)], [warmed])
    assert np.all(np.abs(warmed.numpy() - [1, 2, 3]) < np.abs(first.numpy() - [1, 2, 3]))
    walked = Variable(np.array([1.0, 2.0, 3.0], np.float32))
    opt = optimizers.ScheduleFreeAdamW(0.01)
    for _ in range(10):
        opt.apply([np.full(3, 0.1)], [walked])
    assert np.all(walked.numpy() < [1.0, 2.0, 3.0])


def small_model():
    ac.utils.set_random_seed(3)
    return ac.Sequential(
        [ac.Input((5,)), ac.layers.Dense(6, activation="relu"), ac.layers.Dense(3)]
    )  # fmt: skip


def test_fit_on_both_devices_replays_with_the_cpus_losses(rng):
    x = rng.normal(size=(12, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]
    losses = fit_on_both_devices(
        small_model, x, y, lambda: optimizers.ScheduleFreeAdamW(0.02, warmup_steps=3),
        replayed=True, epochs=2,
    )  # fmt: skip
    assert losses[0][-1] < losses[0][0]


@pytest.mark.parametrize(
    "config", [{}, {"learning_rate": 0.005, "beta_1": 0.95, "beta_2": 0.99, "epsilon": 1e-6,
                    "warmup_steps": 100, "weight_decay": 0.01, "clipnorm": 1.0}]
)  # fmt: skip
def test_config_is_keras_and_reads_back(keras, config):
    ours = optimizers.ScheduleFreeAdamW(**config)
    got, expected = ours.get_config(), keras.optimizers.ScheduleFreeAdamW(**config).get_config()
    assert got["name"] == "schedule_free_adam_w" and expected.pop("name").startswith(got["name"])
    assert got.keys() - {"name"} == expected.keys()
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value, rel=1e-7) if isinstance(value, float) else value)
    again = optimizers.deserialize(optimizers.serialize(ours))
    assert type(again) is optimizers.ScheduleFreeAdamW and again.get_config() == got
    assert (
        keras.optimizers.deserialize(optimizers.serialize(ours)).get_config()["warmup_steps"]
        == (got["warmup_steps"])
    )
    assert isinstance(optimizers.get("schedulefreeadamw"), optimizers.ScheduleFreeAdamW)
    assert isinstance(optimizers.get("ScheduleFreeAdamW"), optimizers.ScheduleFreeAdamW)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta_1": 0.0}, "beta_1"),
        ({"beta_2": 1.0}, "beta_2"),
        ({"epsilon": -1e-8}, "epsilon"),
        ({"warmup_steps": 2.5}, "warmup_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"momentum": 0.9}, "not recognized"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.ScheduleFreeAdamW(**kwargs)


def test_keras_files_with_its_state_travel_both_ways(keras, tmp_path, rng):
    def build(lib):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3), lib.layers.Dense(2)])
        model.compile(lib.optimizers.ScheduleFreeAdamW(0.01, warmup_steps=2), "mse")
        return model

    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    theirs = build(keras)
    theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    loaded = ac.saving.load_model(tmp_path / "keras.keras")
    keras_values = [np.asarray(v.numpy()) for v in theirs.optimizer.variables]
    ours_values = h5_state.optimizer_values(loaded)
    assert len(ours_values) == len(keras_values) == 2 + 2 * 4
    for mine, reference in zip(ours_values, keras_values, strict=True):
        np.testing.assert_array_equal(mine, reference)
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # (its momentum kept)
    assert loaded.optimizer.iterations == 3
    loaded.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    for mine, reference in zip(
        h5_state.optimizer_values(loaded), back.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(mine, np.asarray(reference.numpy()))
