"""Muon (autoconv/optimizers/muon.py) against real Keras 3's (keras/src/optimizers/muon.py and
its tests): the same variables and gradients, step by step, on the CPU and on the CUDA device
(the simulator), both kinds of variable; its Newton-Schulz iteration; a fit on both devices,
replayed on the GPU; configs; errors; Keras's ``.keras`` files with its state, both ways."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import optimizers
from autoconv.backends import namespace
from autoconv.layers.layer import Variable
from autoconv.optimizers.muon import newton_schulz
from autoconv.saving import h5_state
from tests.layers.devices import fit_on_both_devices

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)]
STEPS = 3
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}

# (path, shape): a wide and a tall matrix on Muon's step; a vector, an embedding and a matrix
# that ``exclude_layers=["output"]`` names, on AdamW's.
VARIABLES = [
    ("hidden_kernel", (3, 5)),
    ("tall_kernel", (6, 2)),
    ("hidden_bias", (5,)),
    ("embedding_table", (4, 3)),
    ("output_kernel", (5, 2)),
]
CASES = {
    "defaults": {"learning_rate": 0.01, "exclude_layers": ["output"]},
    "plain-momentum-decays": {
        "learning_rate": 0.02, "nesterov": False, "weight_decay": 0.1, "adam_weight_decay": 0.05,
        "adam_lr_ratio": 0.5, "momentum": 0.8, "rms_rate": None, "exclude_layers": ["out.*"],
    },
    "embeddings-on-muon-clipped": {
        "exclude_embeddings": False, "global_clipnorm": 1.0, "ns_steps": 3,
        "weight_decay": None, "adam_beta_1": 0.8, "epsilon": 1e-4,
    },
    "schedule-ema-accumulation": {
        "clipnorm": 0.5, "use_ema": True, "ema_momentum": 0.5,
        "gradient_accumulation_steps": 2, "exclude_layers": ["output"],
    },
}  # fmt: skip
SCHEDULED = "schedule-ema-accumulation"


def use_device(device: str) -> None:
    if device == "cuda":
        pytest.importorskip("numba_cuda")


def make(lib, case: str):
    config = dict(CASES[case])
    if case == SCHEDULED:
        config["learning_rate"] = lib.optimizers.schedules.ExponentialDecay(
            0.05, decay_steps=2, decay_rate=0.5
        )
    return lib.optimizers.Muon(**config)


def keras_state(keras_opt) -> dict[str, np.ndarray]:
    """Keras's optimizer variables by name (``<variable>_momentum``, ...)."""
    return {v.path.split("/")[-1]: np.asarray(v.numpy()) for v in keras_opt.variables}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_steps_match_keras(keras, case, device, rng):
    use_device(device)
    starts = [rng.normal(size=shape).astype(np.float32) for _, shape in VARIABLES]
    theirs = [keras.Variable(w, name=path) for w, (path, _) in zip(starts, VARIABLES, strict=True)]
    ours = [
        Variable(ac.Tensor(w, device=device), name=path)
        for w, (path, _) in zip(starts, VARIABLES, strict=True)
    ]
    keras_opt, opt = make(keras, case), make(ac, case)
    for _ in range(STEPS * 2 if case == SCHEDULED else STEPS):
        grads = [rng.normal(size=w.shape).astype(np.float32) for w in starts]
        keras_opt.apply([keras.ops.convert_to_tensor(g) for g in grads], theirs)
        opt.apply(grads, ours)
        for mine, reference in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(mine.numpy(), reference.numpy(), **TOLERANCE)
    state = keras_state(keras_opt)
    adamw = [opt._should_use_adamw(v) for v in ours]
    assert adamw == [keras_opt._should_use_adamw(v) for v in theirs]
    assert adamw[:3] == [False, False, True]  # (the others depend on the case)
    for variable, slots, on_adamw in zip(ours, opt.slots, adamw, strict=True):
        for name in ("momentum", "velocity", "average"):
            key = f"{variable.path}_{name}"
            if (name == "velocity" and not on_adamw) or (name == "average" and not opt.use_ema):
                assert key not in state  # (a Muon variable's velocity is unused here)
                continue
            host = namespace(device).to_numpy(slots[name])
            np.testing.assert_allclose(host, state[key], **TOLERANCE)


@pytest.mark.parametrize("shape", [(2, 2), (3, 7), (7, 3), (1, 4)])
@pytest.mark.parametrize("device", DEVICES)
def test_newton_schulz_is_kerass(keras, shape, device, rng):
    """Keras's ``zeropower_via_newtonschulz5``, and its test's numbers."""
    use_device(device)
    x = rng.normal(size=shape).astype(np.float32)
    xp = namespace(device)
    ours = xp.to_numpy(newton_schulz(xp, xp.asarray(x), 5, 3.4445, -4.7750, 2.0315))
    theirs = keras.optimizers.Muon().zeropower_via_newtonschulz5(keras.ops.array(x), 5)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), **TOLERANCE)
    # near-orthogonal: the singular values of the result lie around 1
    assert np.all(np.abs(np.linalg.svd(ours, compute_uv=False) - 1) < 0.35)
    given = np.array([[0.2499, 0.9105], [0.2655, 0.8824]], np.float32)
    result = newton_schulz(namespace("cpu"), given, 5, 3.4445, -4.7750, 2.0315)
    np.testing.assert_allclose(result, [[-0.4422, 0.6457], [0.7285, 0.2968]], atol=1e-3)


def test_single_steps_of_kerass_tests():
    """keras/src/optimizers/muon_test.py's single steps (AdamW's and Muon's) and decays."""
    opt = optimizers.Muon(weight_decay=0)
    vector = Variable(np.array([1.0, 2.0, 3.0, 4.0], np.float32), name="test_vars")
    matrix = Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    opt.learning_rate = 0.5
    opt.apply(
        [np.array([1.0, 6.0, 7.0, 2.0]), np.array([[1.0, 6.0], [7.0, 2.0]])], [vector, matrix]
    )
    # (the vector's AdamW decay: adam_weight_decay 0.004 * lr 0.5 first)
    np.testing.assert_allclose(vector.numpy(), np.array([1, 2, 3, 4]) * 0.998 - 0.5, atol=1e-4)
    np.testing.assert_allclose(
        matrix.numpy(), [[0.988775, 1.887053], [2.873428, 3.97035]], atol=1e-2
    )
    decayed = Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    scalar = Variable(np.array(2.0, np.float32))
    opt = optimizers.Muon(learning_rate=1.0, weight_decay=0.01, adam_weight_decay=0.02, ns_steps=0)
    opt.apply([np.zeros((2, 2)), np.zeros(())], [decayed, scalar])
    np.testing.assert_allclose(decayed.numpy(), [[0.99, 1.98], [2.97, 3.96]], rtol=1e-6)
    np.testing.assert_allclose(scalar.numpy(), 2.0 * 0.98, rtol=1e-6)


def test_weight_decay_exclusions_hold_for_both_kinds():
    kept = [
        Variable(np.ones((2, 2), np.float32), name="kept_kernel"),
        Variable(np.ones(2, np.float32), name="kept_bias"),
    ]
    decayed = Variable(np.ones(2, np.float32), name="bias")
    opt = optimizers.Muon(learning_rate=1.0, weight_decay=None, adam_weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["kept"])
    opt.apply([np.zeros((2, 2)), np.zeros(2), np.zeros(2)], [*kept, decayed])
    np.testing.assert_allclose(kept[1].numpy(), 1.0)
    np.testing.assert_allclose(decayed.numpy(), 0.5)  # weight_decay None: AdamW's still decays


def small_model():
    ac.utils.set_random_seed(3)
    return ac.Sequential(
        [ac.Input((5,)), ac.layers.Dense(6, activation="relu", name="hidden"),
         ac.layers.Dense(3, name="output")]
    )  # fmt: skip


def test_fit_on_both_devices_replays_with_the_cpus_losses(rng):
    x = rng.normal(size=(12, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]
    losses = fit_on_both_devices(
        small_model, x, y, lambda: optimizers.Muon(0.02, exclude_layers=["output"]),
        replayed=True, epochs=2,
    )  # fmt: skip
    assert losses[0][-1] < losses[0][0]


@pytest.mark.parametrize("case", list(CASES))
def test_config_is_keras_and_reads_back(keras, case):
    ours, theirs = make(ac, case), make(keras, case)
    config, expected = ours.get_config(), theirs.get_config()
    assert config["name"] == "muon" and expected.pop("name").startswith("muon")  # (Keras: muon_8)
    assert config.keys() - {"name"} == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):  # (Keras's learning rate is a float32's)
            assert config[key] == pytest.approx(value, rel=1e-7), key
        else:
            assert config[key] == value, key
    again = optimizers.deserialize(optimizers.serialize(ours))
    assert type(again) is optimizers.Muon and again.get_config() == config
    back = keras.optimizers.deserialize(optimizers.serialize(ours))
    assert back.get_config()["exclude_layers"] == expected["exclude_layers"]


def test_keras_defaults_and_names(keras):
    assert optimizers.get("Muon").name == "muon"  # (then muon_1, ..., as Keras names them)
    same = {"learning_rate": 0.001, "name": "muon"}  # (Keras's: a float32's, muon_<n>)
    assert optimizers.get("muon").get_config() | same == keras.optimizers.Muon().get_config() | same


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"adam_beta_1": 1.0}, "adam_beta_1"),
        ({"adam_beta_2": -0.1}, "adam_beta_2"),
        ({"adam_weight_decay": -1}, "adam_weight_decay"),
        ({"momentum": 1.5}, "momentum"),
        ({"ns_steps": 2.5}, "ns_steps"),
        ({"rms_rate": "big"}, "rms_rate"),
        ({"exclude_layers": "output"}, "exclude_layers"),
        ({"exclude_layers": ["(unclosed"]}, "not a regular expression"),
        ({"muon_a": None}, "muon_a"),
        ({"adam_lr_ratio": -1}, "adam_lr_ratio"),
        ({"beta_1": 0.9}, "not recognized"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.Muon(**kwargs)


def keras_and_ours(keras):
    """The same model in Keras and autoconv (an embedding, a hidden and an output layer),
    with the same weights, compiled with Muon."""
    rng = np.random.default_rng(0)

    def build(lib):
        model = lib.Sequential(
            [lib.Input((3,), dtype="int32"), lib.layers.Embedding(5, 4, name="embedding"),
             lib.layers.Flatten(), lib.layers.Dense(6, name="hidden"),
             lib.layers.Dense(2, name="output")],
            name="m",
        )  # fmt: skip
        model.compile(lib.optimizers.Muon(0.01, exclude_layers=["output"]), "mse")
        return model

    theirs, ours = build(keras), build(ac)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.integers(0, 5, (8, 3)).astype(np.int32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    return theirs, ours, x, y


def test_keras_files_with_its_state_travel_both_ways(keras, tmp_path):
    theirs, _, x, y = keras_and_ours(keras)
    theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    loaded = ac.saving.load_model(tmp_path / "keras.keras")
    keras_values = [np.asarray(v.numpy()) for v in theirs.optimizer.variables]
    ours_values = h5_state.optimizer_values(loaded)
    assert len(ours_values) == len(keras_values) == 2 + 5 + 4  # 5 momentums, 4 velocities
    for mine, reference in zip(ours_values, keras_values, strict=True):
        np.testing.assert_array_equal(mine, reference)
    # a step on each from there, then autoconv's file back into Keras
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for mine, reference in zip(loaded.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)
    loaded.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    assert type(back.optimizer).__name__.endswith("Muon")
    assert back.optimizer.get_config()["exclude_layers"] == ["output"]
    for mine, reference in zip(
        h5_state.optimizer_values(loaded), back.optimizer.variables, strict=True
    ):
        np.testing.assert_allclose(mine, np.asarray(reference.numpy()), rtol=1e-6)
