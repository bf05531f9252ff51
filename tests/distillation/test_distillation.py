"""``autoconv.distillation`` against real Keras 3.15's ``keras.distillation`` (its PyTorch
backend, where installed): each distillation loss's value for the same outputs and its config;
a Distiller's fit (the loss history and the student's weights), evaluate and predict from the
same teacher and student weights; Keras's errors; configs and files both ways; a float64
gradcheck of the losses; and a short fit on the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.distillation import (
    DistillationLoss,
    Distiller,
    FeatureDistillation,
    LogitsDistillation,
)
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices


def _pair(lib: Any, rng: np.random.Generator, outputs: int = 1) -> tuple[Any, Any]:
    """(teacher, student) logits of ``lib``: one (5, 4) Tensor each, or a list of them."""
    import torch

    def tensor(array: np.ndarray) -> Any:
        return ac.Tensor(array) if lib is ac else torch.tensor(array)

    made = [[tensor(rng.normal(0, 2, (5, 4)).astype(np.float32)) for _ in range(2)]
            for _ in range(outputs)]  # fmt: skip
    if outputs == 1:
        return made[0]
    return [t for t, _ in made], [s for _, s in made]


def _array(value: Any) -> np.ndarray:
    """An autoconv Tensor's or a torch tensor's values."""
    return value.numpy() if isinstance(value, ac.Tensor) else value.detach().cpu().numpy()


# (class name, arguments made from the library, number of outputs)
LOSSES = [
    ("LogitsDistillation", lambda lib: {}, 1),
    ("LogitsDistillation", lambda lib: {"temperature": 1}, 1),
    ("LogitsDistillation", lambda lib: {"temperature": 2.5, "loss": "kld"}, 1),
    ("LogitsDistillation", lambda lib: {"loss": "KLDivergence"}, 1),
    ("LogitsDistillation", lambda lib: {"temperature": 4.0, "loss": lib.losses.KLDivergence()}, 1),
    ("LogitsDistillation", lambda lib: {"temperature": 2.0, "loss": "mse"}, 1),
    ("LogitsDistillation", lambda lib: {"loss": ["kl_divergence", None]}, 2),
    ("LogitsDistillation", lambda lib: {"loss": [lib.losses.KLDivergence(), "mae"]}, 2),
    ("FeatureDistillation", lambda lib: {}, 1),
    ("FeatureDistillation", lambda lib: {"loss": "cosine_similarity"}, 1),
    ("FeatureDistillation", lambda lib: {"loss": lib.losses.MeanAbsoluteError()}, 1),
    ("FeatureDistillation", lambda lib: {"loss": ["mse", None], "teacher_layer_name": "t"}, 2),
    ("FeatureDistillation", lambda lib: {"loss": [None, "huber"], "student_layer_name": "s"}, 2),
]


@pytest.mark.parametrize(("name", "arguments", "outputs"), LOSSES)
def test_losses_and_configs_match_keras(keras, name, arguments, outputs):
    values, configs = [], []
    for lib in (ac, keras):
        loss = getattr(lib.distillation, name)(**arguments(lib))
        teacher, student = _pair(lib, np.random.default_rng(3), outputs)
        loss.validate_outputs(teacher, student)
        values.append(float(_array(loss.compute_loss(teacher, student))))
        configs.append(json.loads(json.dumps(loss.get_config())))
    np.testing.assert_allclose(values[0], values[1], rtol=2e-6)
    assert configs[0] == configs[1]
    again = getattr(ac.distillation, name).from_config(configs[0])
    teacher, student = _pair(ac, np.random.default_rng(3), outputs)
    np.testing.assert_allclose(again.compute_loss(teacher, student).item(), values[0], rtol=1e-7)


def test_loss_names_become_what_keras_losses_get_gives():
    """A function's name or alias is Keras's function (no softmax, no temperature squared),
    a class name an instance of the class."""
    assert LogitsDistillation().loss is ac.losses.kl_divergence
    assert FeatureDistillation(loss="mae").loss is ac.losses.mean_absolute_error
    assert isinstance(LogitsDistillation(loss="KLDivergence").loss, ac.losses.KLDivergence)
    assert FeatureDistillation(loss=["mse", None]).loss == [ac.losses.mean_squared_error, None]


def test_crossentropy_on_logits_is_refused_where_keras_computes_a_number(keras):
    """autoconv's categorical_crossentropy refuses targets below zero (docs/keras.md), so
    LogitsDistillation(loss="categorical_crossentropy") takes non-negative outputs only; on
    those it is Keras's."""
    rng = np.random.default_rng(5)
    teacher, student = rng.uniform(0.1, 1, (2, 5, 4)).astype(np.float32)
    values = []
    for lib, tensor in ((ac, ac.Tensor), (keras, keras.ops.convert_to_tensor)):
        loss = lib.distillation.LogitsDistillation(2.0, "categorical_crossentropy")
        values.append(float(_array(loss.compute_loss(tensor(teacher), tensor(student)))))
    np.testing.assert_allclose(values[0], values[1], rtol=2e-6)
    with pytest.raises(ValueError, match="categorical_crossentropy: y_true holds values below"):
        loss = LogitsDistillation(2.0, "categorical_crossentropy")
        loss.compute_loss(ac.Tensor(teacher - 0.5), ac.Tensor(student))


@pytest.mark.parametrize(
    ("loss", "outputs"),
    [
        (LogitsDistillation(2.0, ac.losses.KLDivergence()), 1),
        (LogitsDistillation(3.0, "mse"), 1),
        (FeatureDistillation("cosine_similarity"), 1),
        (FeatureDistillation(["mse", "huber"]), 2),
    ],
)
def test_gradcheck(loss, outputs):
    """The gradients of the student's outputs (a list of two for two; the teacher's are
    targets, constants as every loss's)."""
    rng = np.random.default_rng(4)
    given = [ac.Tensor(t) for t in rng.normal(size=(outputs, 3, 4))]
    teacher = given if outputs > 1 else given[0]

    def fn(*student: ac.Tensor) -> ac.Tensor:
        return loss.compute_loss(teacher, list(student) if outputs > 1 else student[0])

    assert gradcheck(fn, list(rng.normal(size=(outputs, 3, 4))))


# ------------------------------------------------------------------------ the Distiller
def _sequential(lib: Any, name: str, hidden: int) -> Any:
    layers = lib.layers
    return lib.Sequential(
        [lib.Input((4,), name=f"{name}_input"),
         layers.Dense(hidden, activation="tanh", name=f"{name}_dense_1"),
         layers.Dense(3, name=f"{name}_output")],
        name=name,
    )  # fmt: skip


def _subclassed(lib: Any, hidden: int) -> Any:
    """Keras's test models: two Dense layers in a ``call`` of one's own."""

    class Simple(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense1 = lib.layers.Dense(hidden, activation="relu")
            self.dense2 = lib.layers.Dense(3)

        def call(self, inputs: Any, training: Any = None) -> Any:
            return self.dense2(self.dense1(inputs))

    return Simple()


def _weighted(model: Any) -> Any:
    model(np.zeros((1, 4), np.float32))  # built, so its weights can be set
    model.set_weights([np.sin(np.arange(w.size) * 0.41 + i).reshape(w.shape) * 0.6
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def _models(lib: Any, teacher_hidden: int) -> tuple[Any, Any]:
    """A Sequential teacher and student (5 hidden units), their weights set."""
    return _weighted(_sequential(lib, "teacher", teacher_hidden)), _weighted(
        _sequential(lib, "student", 5)
    )


def _logits_only(lib: Any) -> Any:
    teacher, student = _models(lib, 6)
    distiller = lib.distillation.Distiller(teacher, student, lib.distillation.LogitsDistillation())
    loss = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
    distiller.compile(lib.optimizers.SGD(0.1), loss, metrics=["accuracy"])
    return distiller


def _features_and_logits(lib: Any) -> Any:
    """Keras's multi-loss case: logits (a KLDivergence, softened), an intermediate layer, the
    final outputs, weighted; the student's loss a function on one-hot targets."""
    teacher, student = _models(lib, 5)
    d = lib.distillation
    distiller = d.Distiller(
        teacher,
        student,
        [d.LogitsDistillation(2.0, lib.losses.KLDivergence()),
         d.FeatureDistillation("mse", "teacher_dense_1", "student_dense_1"),
         d.FeatureDistillation("mae", "teacher_output")],
        distillation_loss_weights=[1.0, 0.5, 0.3],
        student_loss_weight=0.3,
    )  # fmt: skip
    distiller.compile(lib.optimizers.SGD(0.2), "mean_squared_error", metrics=["mae"])
    return distiller


def _distillation_alone(lib: Any) -> Any:
    teacher, student = _weighted(_subclassed(lib, 6)), _weighted(_subclassed(lib, 4))
    d = lib.distillation
    distiller = d.Distiller(teacher, student, [d.LogitsDistillation(1.5, "mse")], None, 0.0)
    distiller.compile(lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return distiller


def _student_alone(lib: Any) -> Any:
    teacher, student = _models(lib, 6)
    d = lib.distillation
    distiller = d.Distiller(teacher, student, d.FeatureDistillation(), student_loss_weight=1)
    distiller.compile(lib.optimizers.SGD(0.1), lib.losses.SparseCategoricalCrossentropy(True))
    return distiller


@pytest.mark.parametrize(
    ("build", "one_hot"),
    [(_logits_only, False), (_features_and_logits, True), (_distillation_alone, False),
     (_student_alone, False)],
)  # fmt: skip
def test_fit_evaluate_and_predict_match_keras(keras, build, one_hot):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (10, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 10)
    y = np.eye(3, dtype=np.float32)[labels] if one_hot else labels
    runs = []
    for lib in (ac, keras):
        distiller = build(lib)
        teacher_before = [w.copy() for w in distiller.teacher.get_weights()]
        history = distiller.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
        for before, after in zip(teacher_before, distiller.teacher.get_weights(), strict=True):
            np.testing.assert_array_equal(before, after)  # the teacher is frozen
        evaluated = distiller.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
        predicted = distiller.predict(x, verbose=0)
        runs.append((history, evaluated, predicted, distiller.student.get_weights()))
    (ours, our_eval, our_pred, our_weights), (theirs, their_eval, their_pred, their_weights) = runs
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, err_msg=key)
    assert sorted(our_eval) == sorted(their_eval)
    for key in their_eval:
        np.testing.assert_allclose(our_eval[key], their_eval[key], rtol=2e-5, err_msg=key)
    np.testing.assert_allclose(our_pred, their_pred, rtol=1e-4, atol=1e-6)
    for mine, keras_weight in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-6)


def test_the_distiller_is_the_student_with_keras_trackers():
    distiller = _features_and_logits(ac)
    x = np.random.default_rng(1).uniform(-1, 1, (6, 4)).astype(np.float32)
    np.testing.assert_array_equal(distiller(x).numpy(), distiller.student(x).numpy())
    assert not distiller.teacher.trainable and distiller.student.trainable
    assert distiller.trainable_weights == distiller.student.trainable_weights
    distiller.fit(x, np.eye(3)[[0, 1, 2, 0, 1, 2]], epochs=1, verbose=0)
    assert [m.name for m in distiller.metrics] == [
        "loss", "compile_metrics", "student_loss", "distillation_loss", "total_loss"
    ]  # fmt: skip
    assert len(distiller._teacher_feature_extractor.outputs) == 3  # final, dense_1, output
    assert len(distiller._student_feature_extractor.outputs) == 2  # final, dense_1
    assert distiller._teacher_feature_extractor.name == "teacher_multi_feature_extractor"
    assert distiller.to("cpu") is distiller and distiller._student_feature_extractor.device == "cpu"
    single = Distiller(_sequential(ac, "t", 3), _sequential(ac, "s", 3), LogitsDistillation())
    assert single.distillation_loss_weights == [1.0]
    assert single._teacher_feature_extractor is None


# ------------------------------------------------------------------------------ errors
def _errors(lib: Any) -> dict[str, Any]:
    """Each bad argument of Keras's distillation API, as a function of the library."""
    d, layers = lib.distillation, lib.layers

    def models(teacher_shape=(4,), student_shape=(4,), units=3, dtype=None):
        teacher = lib.Sequential([lib.Input(teacher_shape), layers.Dense(3, name="t")])
        student = lib.Sequential(
            [lib.Input(student_shape), layers.Dense(units, dtype=dtype, name="s")]
        )
        return teacher, student

    logits = d.LogitsDistillation()
    return {
        "teacher": lambda: d.Distiller("not_a_model", models()[1], logits),
        "student": lambda: d.Distiller(models()[0], "not_a_model", logits),
        "input rank": lambda: d.Distiller(*models(student_shape=(2, 4)), logits),
        "input shape": lambda: d.Distiller(*models(student_shape=(5,)), logits),
        "output shape": lambda: d.Distiller(*models(units=4), logits),
        "output dtype": lambda: d.Distiller(*models(dtype="float64"), logits),
        "weight type": lambda: d.Distiller(*models(), logits, student_loss_weight="0.5"),
        "weight range": lambda: d.Distiller(*models(), logits, student_loss_weight=1.5),
        "no losses": lambda: d.Distiller(*models(), None),
        "loss weights": lambda: d.Distiller(*models(), [logits, logits], [1.0]),
        "layer name": lambda: d.Distiller(*models(), d.FeatureDistillation(teacher_layer_name="x")),
        "student layer": lambda: d.Distiller(
            *models(), d.FeatureDistillation(student_layer_name="x")
        ),
        "subclassed": lambda: d.Distiller(
            _subclassed(lib, 2),
            _subclassed(lib, 2),
            d.FeatureDistillation(teacher_layer_name="a", student_layer_name="b"),
        ),
        "compile loss": lambda: d.Distiller(*models(), logits).compile("sgd"),
        "compile metrics": lambda: d.Distiller(*models(), logits).compile("sgd", "mse", "mae"),
        "temperature": lambda: d.LogitsDistillation(temperature=0),
        "temperature type": lambda: d.LogitsDistillation(temperature="3"),
        "logits none": lambda: d.LogitsDistillation(loss=[None, None]),
        "features none": lambda: d.FeatureDistillation(loss=None),
        "structure": lambda: d.LogitsDistillation().validate_outputs(
            np.zeros((2, 3)), {"output": np.zeros((2, 3))}
        ),
    }


@pytest.mark.parametrize("case", sorted(_errors(ac)))
def test_errors_are_keras_errors(keras, case):
    messages = []
    for lib in (ac, keras):
        with pytest.raises(ValueError) as raised:
            _errors(lib)[case]()
        messages.append(str(raised.value))
    if case == "structure":  # each library's tree names the mismatch its own way
        return
    assert messages[0] == messages[1]


def test_a_non_scalar_distillation_loss_is_named():
    class PerSample(DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            return ac.ops.mean(ac.ops.square(teacher_outputs - student_outputs), axis=-1)

    distiller = Distiller(_sequential(ac, "t", 3), _sequential(ac, "s", 3), PerSample())
    distiller.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"PerSample returned a non-scalar loss with shape \(4,\)"):
        distiller.fit(np.ones((4, 4)), np.ones((4, 3)), verbose=0)


def test_feature_loss_structure_mismatch_is_named():
    loss = FeatureDistillation(["mse", "mae"])
    with pytest.raises(ValueError, match=r"^Loss structure mismatch\. Loss structure: \[\*, \*\]"):
        loss.validate_outputs(ac.Tensor(np.ones((2, 3))), ac.Tensor(np.ones((2, 3))))


# ------------------------------------------------------------------- configs and files
def _without_input_build_configs(entry: Any) -> Any:
    """``entry`` without the InputLayers' ``build_config`` (autoconv's Sequential config adds
    one, which Keras's leaves out)."""
    if isinstance(entry, list):
        return [_without_input_build_configs(e) for e in entry]
    if not isinstance(entry, dict):
        return entry
    kept = {k: _without_input_build_configs(v) for k, v in entry.items() if k != "shared_object_id"}
    if entry.get("class_name") == "InputLayer":
        kept.pop("build_config", None)
    return kept


def test_config_is_keras_and_round_trips(keras):
    ours, theirs = _features_and_logits(ac), _features_and_logits(keras)
    config = json.loads(json.dumps(ours.get_config()))
    expected = _without_input_build_configs(json.loads(json.dumps(theirs.get_config())))
    assert _without_input_build_configs(config) == expected
    x = np.random.default_rng(2).uniform(-1, 1, (3, 4)).astype(np.float32)
    for rebuilt in (Distiller.from_config(config), theirs.from_config(config)):
        assert rebuilt.student_loss_weight == 0.3
        assert rebuilt.distillation_loss_weights == [1.0, 0.5, 0.3]
        assert [type(loss).__name__ for loss in rebuilt.distillation_losses] == [
            "LogitsDistillation", "FeatureDistillation", "FeatureDistillation"
        ]  # fmt: skip
        assert rebuilt.distillation_losses[1].teacher_layer_name == "teacher_dense_1"
        assert not rebuilt.teacher.trainable
        rebuilt.student.set_weights(ours.student.get_weights())
        np.testing.assert_allclose(_array(rebuilt(x)), ours(x).numpy(), rtol=1e-6)


def test_files_travel_to_keras_and_back(keras, tmp_path):
    distiller = _features_and_logits(ac)
    x = np.random.default_rng(5).uniform(-1, 1, (6, 4)).astype(np.float32)
    distiller.fit(x, np.eye(3)[[0, 1, 2, 0, 1, 2]], batch_size=3, epochs=1, verbose=0)
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    expected = distiller.predict(x, verbose=0)
    with pytest.warns(UserWarning, match=r"`compile\(\)` was not called as part of model loading"):
        loaded = ac.saving.load_model(path)
    assert isinstance(loaded, Distiller) and not loaded.compiled
    assert loaded.student_loss_weight == 0.3
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its compile skipped, as ours
        in_keras = keras.models.load_model(path)
    assert type(in_keras).__name__ == "Distiller"
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-7)
    in_keras.save(tmp_path / "from_keras.keras")  # its student under Keras's layers/ groups
    back = ac.saving.load_model(tmp_path / "from_keras.keras")  # (not compiled: no warning)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ devices
@pytest.mark.cudasim
def test_fit_on_the_gpu_matches_the_cpu():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (8, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    fit_on_both_devices(
        lambda: _features_and_logits(ac), x, y, optimizer="sgd", loss="mse", epochs=2
    )
