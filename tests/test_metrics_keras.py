"""The confusion counts (TruePositives, TrueNegatives, FalsePositives, FalseNegatives), the
F-scores (F1Score, FBetaScore) and R2Score against Keras 3's own (on its PyTorch backend;
skipped without Keras or torch): values over several weighted batches for every option, reset,
configs both ways, errors, and in compile + fit + evaluate on the CPU and on the GPU."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, metrics, step_replay
from tests.test_metrics import batches

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
COUNTS = ["TruePositives", "TrueNegatives", "FalsePositives", "FalseNegatives"]


def both(cls: str, /, **options):
    """(autoconv's metric, Keras's) of class ``cls`` made with ``options``."""
    return getattr(metrics, cls)(**options), getattr(keras.metrics, cls)(**options)


def fed(pair, data) -> tuple:
    """Both metrics of ``pair`` given the batches ``data``; their results as NumPy."""
    ours, theirs = pair
    for y_true, y_pred, weight in data:
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
    return ours.result(), keras.ops.convert_to_numpy(theirs.result())


def assert_same(got, want) -> None:
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.float32
    np.testing.assert_allclose(got, want, **TOLERANCE)


# ---------------------------------------------------------------------------- draws
def draw_binary(rng, n):
    return rng.integers(0, 2, (n, 1)), rng.uniform(0, 1, (n, 1))


def draw_binary_flat(rng, n):  # labels (n,) beside predictions (n, 1)
    return rng.integers(0, 2, n), rng.uniform(0, 1, (n, 1))


def draw_multi_label(rng, n):
    return rng.integers(0, 2, (n, 4)), rng.uniform(0, 1, (n, 4))


def draw_one_hot(rng, n):
    return np.eye(4)[rng.integers(0, 4, n)], rng.uniform(0, 1, (n, 4))


def draw_ties(rng, n):  # scores 0, 0.5 and 1: ties for a row's largest, a row of zeros
    y_pred = rng.integers(0, 3, (n, 4)) / 2
    y_pred[-1] = 0
    return rng.integers(0, 2, (n, 4)), y_pred


def draw_regression(rng, n):
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 3))


def draw_regression_flat(rng, n):  # targets (n,) beside predictions (n, 1)
    return rng.standard_normal(n), rng.standard_normal((n, 1))


DRAWS = {
    "binary": draw_binary, "binary_flat": draw_binary_flat, "multi_label": draw_multi_label,
    "one_hot": draw_one_hot, "ties": draw_ties, "regression": draw_regression,
    "regression_flat": draw_regression_flat,
}  # fmt: skip


# ------------------------------------------------------------- values against Keras
THRESHOLDS = [None, 0.3, [0.2, 0.5, 0.9], [0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 1.0]]


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("thresholds", THRESHOLDS, ids=str)
@pytest.mark.parametrize("draw", ["binary", "binary_flat", "multi_label"])
@pytest.mark.parametrize("weighted", [True, False])
def test_counts_over_batches_match_keras(name, thresholds, draw, weighted, rng):
    """Evenly spaced thresholds take Keras's bucketed path, the others its direct one."""
    data = batches(rng, DRAWS[draw], weighted=weighted)
    got, want = fed(both(name, thresholds=thresholds), data)
    assert_same(got, want)


def test_counts_take_weights_per_entry_as_keras(rng):
    data = [(*draw_multi_label(rng, 6), rng.uniform(0, 2, (6, 4))) for _ in range(2)]
    for name in COUNTS:
        assert_same(*fed(both(name, thresholds=[0.3, 0.6]), data))


@pytest.mark.parametrize(
    "options", [{}, {"beta": 0.5}, {"beta": 2.0}], ids=["f1", "beta=0.5", "beta=2"]
)
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
@pytest.mark.parametrize("draw", ["one_hot", "multi_label", "ties"])
@pytest.mark.parametrize("weighted", [True, False])
def test_f_scores_over_batches_match_keras(options, average, threshold, draw, weighted, rng):
    name = "FBetaScore" if options else "F1Score"
    data = batches(rng, DRAWS[draw], weighted=weighted)
    got, want = fed(both(name, average=average, threshold=threshold, **options), data)
    assert_same(got, want)
    assert np.shape(got) == ((4,) if average is None else ())


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
@pytest.mark.parametrize("num_regressors", [0, 2])
@pytest.mark.parametrize("draw", ["regression", "regression_flat"])
@pytest.mark.parametrize("weighted", [True, False])
def test_r2_over_batches_matches_keras(aggregation, num_regressors, draw, weighted, rng):
    data = batches(rng, DRAWS[draw], weighted=weighted)
    options = {"class_aggregation": aggregation, "num_regressors": num_regressors}
    got, want = fed(both("R2Score", **options), data)
    assert_same(got, want)


@pytest.mark.parametrize(
    "weight", [2.5, "per_entry", "per_sample_column"], ids=["scalar", "entry", "column"]
)
def test_r2_takes_keras_sample_weight_shapes(weight, rng):
    data = []
    for n in (5, 8):
        y_true, y_pred = draw_regression(rng, n)
        w = {"per_entry": rng.uniform(0, 2, (n, 3)), "per_sample_column": rng.uniform(0, 2, (n, 1))}
        data.append((y_true, y_pred, w.get(weight, weight)))
    assert_same(*fed(both("R2Score", class_aggregation=None), data))


def test_r2_of_constant_targets_and_perfect_predictions_as_keras(rng):
    y_true = np.stack([np.ones(6), rng.standard_normal(6), np.full(6, 2.0)], axis=1)
    y_pred = np.stack([rng.standard_normal(6), rng.standard_normal(6), np.full(6, 2.0)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        got, want = fed(both("R2Score", class_aggregation=None), [(y_true, y_pred, None)])
    np.testing.assert_allclose(got, want, **TOLERANCE)  # 0 (no variance), r2, nan (0 / 0)
    assert got[0] == 0 and np.isnan(got[2])


@pytest.mark.parametrize(("num_regressors", "message"), [(5, "More independent"), (3, "Division")])
def test_adjusted_r2_falls_back_with_keras_warnings(num_regressors, message, rng):
    """4 entries seen: p > n - 1 and p = n - 1 give the plain score, with Keras's warning."""
    ours, theirs = both("R2Score", num_regressors=num_regressors)
    y_true, y_pred = rng.standard_normal((4, 1)), rng.standard_normal((4, 1))
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    with pytest.warns(UserWarning, match=message):
        got = ours.result()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = keras.ops.convert_to_numpy(theirs.result())
    assert_same(got, want)


@pytest.mark.parametrize(
    ("name", "options", "draw"),
    [
        ("TruePositives", {"thresholds": [0.3, 0.7]}, "binary"),
        ("FalseNegatives", {}, "multi_label"),
        ("F1Score", {}, "one_hot"),
        ("F1Score", {"average": "micro"}, "one_hot"),
        ("FBetaScore", {"average": "weighted", "beta": 2.0}, "multi_label"),
        ("R2Score", {}, "regression"),
        ("R2Score", {"class_aggregation": None}, "regression"),
    ],
)
def test_reset_state_as_keras(name, options, draw, rng):
    """After reset_state both report the empty state alike (R2: nan, 0 / 0), and count
    afresh: the shape of the per-class state is kept."""
    pair = both(name, **options)
    fed(pair, batches(rng, DRAWS[draw]))
    for metric in pair:
        metric.reset_state()
    with np.errstate(invalid="ignore"):
        got, want = pair[0].result(), keras.ops.convert_to_numpy(pair[1].result())
    np.testing.assert_allclose(got, want)
    assert np.shape(got) == np.shape(want)
    fresh = both(name, **options)
    data = batches(rng, DRAWS[draw])
    assert_same(fed(pair, data)[0], fed(fresh, data)[1])


def test_keras_documented_values():
    for name, y_true, y_pred in [
        ("TruePositives", [0, 1, 1, 1], [1, 0, 1, 1]),
        ("FalsePositives", [0, 1, 0, 0], [0, 0, 1, 1]),
        ("TrueNegatives", [0, 1, 0, 0], [1, 1, 0, 0]),
        ("FalseNegatives", [0, 1, 1, 1], [0, 1, 0, 0]),
    ]:
        metric = getattr(metrics, name)()
        metric.update_state(y_true, y_pred)
        assert metric.result() == 2.0
        metric.reset_state()
        metric.update_state(y_true, y_pred, sample_weight=[0, 0, 1, 0])
        assert metric.result() == 1.0
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)
    f_beta = metrics.FBetaScore(beta=2.0, threshold=0.5)
    np.testing.assert_allclose(f_beta(y_true, y_pred), [0.3846154, 0.90909094, 0.8333334], 1e-6)
    f1 = metrics.F1Score(threshold=0.5)
    np.testing.assert_allclose(f1(y_true, y_pred), [0.5, 0.8, 0.6666667], rtol=1e-6)
    r2 = metrics.R2Score()
    assert np.isclose(r2([[1], [4], [3]], [[2], [4], [4]]), 0.57142854)


# ------------------------------------------------------------------------- configs
CONFIGS = [
    ("TruePositives", {}),
    ("TrueNegatives", {"thresholds": 0.3}),
    ("FalsePositives", {"thresholds": [0.2, 0.7]}),
    ("FalseNegatives", {"thresholds": [0.0, 0.5, 1.0], "dtype": "float64"}),
    ("F1Score", {}),
    ("F1Score", {"average": "macro", "threshold": 0.3}),
    ("FBetaScore", {"average": "weighted", "beta": 2.0, "threshold": 0.5}),
    ("FBetaScore", {"average": "micro", "beta": 0.5}),
    ("R2Score", {}),
    ("R2Score", {"class_aggregation": None, "num_regressors": 2}),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}),
]


@pytest.mark.parametrize(("name", "options"), CONFIGS)
def test_configs_are_keras_configs_and_round_trip(name, options):
    ours, theirs = both(name, name="m", **options)
    assert ours.get_config() == theirs.get_config()
    again = type(ours).from_config(theirs.get_config())
    assert again.get_config() == ours.get_config()
    entry = metrics.serialize(ours)
    assert type(metrics.get(entry)) is type(ours)
    assert keras.metrics.deserialize(entry).get_config() == theirs.get_config()
    default, keras_default = both(name)
    assert default.name == re.sub(r"_\d+$", "", keras_default.name)


@pytest.mark.parametrize("name", [*COUNTS, "F1Score", "FBetaScore", "R2Score"])
def test_names_as_keras_has_them(name):
    snake = {"F1Score": "f1_score", "FBetaScore": "f_beta_score", "R2Score": "r2_score"}
    key = snake.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    assert metrics.METRICS[name] is metrics.METRICS[key] is getattr(metrics, name)
    assert type(keras.metrics.get(key)).__name__ == name


# -------------------------------------------------------------------------- errors
ERRORS = [
    ("F1Score", {"average": "samples"}, "Invalid `average` argument value"),
    ("FBetaScore", {"beta": 0.0}, "It should be > 0"),
    ("FBetaScore", {"beta": -1.0}, "It should be > 0"),
    ("FBetaScore", {"beta": 1}, "It should be a Python float"),
    ("F1Score", {"threshold": 0.0}, "0 < threshold <= 1"),
    ("F1Score", {"threshold": 1.5}, "0 < threshold <= 1"),
    ("F1Score", {"threshold": 1}, "It should be a Python float"),
    ("TruePositives", {"thresholds": [0.5, 1.2]}, r"Threshold values must be in \[0, 1\]"),
    ("FalseNegatives", {"thresholds": -0.1}, r"Threshold values must be in \[0, 1\]"),
    ("R2Score", {"class_aggregation": "mean"}, "Invalid value for argument `class_aggregation`"),
    ("R2Score", {"num_regressors": -1}, "Invalid value for argument `num_regressors`"),
]


@pytest.mark.parametrize(("name", "options", "message"), ERRORS)
def test_bad_arguments_raise_keras_errors(name, options, message):
    for module in (metrics, keras.metrics):
        with pytest.raises(ValueError, match=message):
            getattr(module, name)(**options)


SHAPES = [
    ("TruePositives", (4, 1), (5, 1), None, "same shape"),
    ("FalsePositives", (4, 3), (4, 2), None, "same shape"),
    ("F1Score", (4,), (4,), None, "expects 2D inputs"),
    ("F1Score", (4, 3), (4, 2), None, "of one shape"),
    ("FBetaScore", (4, 3), (5, 3), None, "of one shape"),
    ("F1Score", (4, 3), (4, 3), (4, 1), r"sample_weight must have shape \(batch_size,\)"),
    ("R2Score", (4,), (4,), None, "expects 2D inputs"),
    ("R2Score", (4, 3), (4, 2), None, "of one shape"),
    ("R2Score", (4, 3), (4, 3), (5,), "does not broadcast"),
]


@pytest.mark.parametrize(("name", "true_shape", "pred_shape", "weight_shape", "message"), SHAPES)
def test_mismatched_shapes_raise_one_clear_error(
    name, true_shape, pred_shape, weight_shape, message, rng
):
    """Where Keras fails (a ValueError of its own, or its backend's error), autoconv raises
    one ValueError that names the shapes."""
    y_true, y_pred = rng.integers(0, 2, true_shape), rng.uniform(0, 1, pred_shape)
    weight = None if weight_shape is None else rng.uniform(0, 1, weight_shape)
    ours, theirs = both(name)
    with pytest.raises(ValueError, match=message):
        ours.update_state(y_true, y_pred, sample_weight=weight)
    with pytest.raises(Exception):  # noqa: B017 (torch's RuntimeError, or Keras's own)
        theirs.update_state(y_true, y_pred, sample_weight=weight)


@pytest.mark.parametrize("name", ["F1Score", "R2Score"])
def test_a_batch_of_other_outputs_than_the_state_is_an_error(name, rng):
    metric = getattr(metrics, name)()
    metric.update_state(np.eye(3)[[0, 1, 2, 1]], rng.uniform(0, 1, (4, 3)))
    with pytest.raises(ValueError, match=r"its state is for output_dim=3"):
        metric.update_state(np.eye(2)[[0, 1]], rng.uniform(0, 1, (2, 2)))


# ------------------------------------------------------------------ compile and fit
def classification_data(units: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    labels = rng.integers(0, max(units, 2), 40)
    y = (
        labels[:, None].astype(np.float32)
        if units == 1
        else np.eye(units, dtype=np.float32)[labels]
    )
    return x, y


def compiled(units: int, device: str, learning_rate: float) -> ac.Model:
    """A one-layer classifier (sigmoid for one unit, else softmax) with every new metric, named
    as in a new session (the second TruePositives() of a session is true_positives_1)."""
    ac.utils.clear_session()
    ac.utils.set_random_seed(0)
    activation = "sigmoid" if units == 1 else "softmax"
    model = ac.Sequential([layers.Input((5,)), layers.Dense(units, activation=activation)])
    model.to(device).compile(
        ac.optimizers.SGD(learning_rate),
        "binary_crossentropy" if units == 1 else "categorical_crossentropy",
        metrics=[
            metrics.TruePositives(), metrics.FalsePositives(thresholds=0.3),
            metrics.TrueNegatives(), metrics.FalseNegatives(), "r2_score",
            metrics.F1Score(average="macro"),
            metrics.FBetaScore(average="micro", beta=2.0, threshold=0.4),
        ],
    )  # fmt: skip
    return model


def keras_values(model: ac.Model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """What Keras's metrics give for the model's predictions of x."""
    predictions = model.predict(x, verbose=0)
    made = {
        "true_positives": keras.metrics.TruePositives(),
        "false_positives": keras.metrics.FalsePositives(thresholds=0.3),
        "true_negatives": keras.metrics.TrueNegatives(),
        "false_negatives": keras.metrics.FalseNegatives(),
        "r2_score": keras.metrics.R2Score(),
        "f1_score": keras.metrics.F1Score(average="macro"),
        "fbeta_score": keras.metrics.FBetaScore(average="micro", beta=2.0, threshold=0.4),
    }
    for metric in made.values():
        metric.update_state(y, predictions)
    return {name: float(keras.ops.convert_to_numpy(m.result())) for name, m in made.items()}


def fit_and_evaluate(model: ac.Model, x: np.ndarray, y: np.ndarray) -> tuple[dict, dict]:
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0).history
    return history, model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)


@pytest.mark.parametrize("units", [1, 3], ids=["binary", "multi_class"])
def test_fit_logs_keras_values_of_a_fixed_model_every_epoch(units):
    """With a learning rate of 0 every epoch sees the same predictions: each epoch's logs (the
    state reset between epochs) and evaluate's are Keras's metrics of model.predict(x)."""
    x, y = classification_data(units)
    model = compiled(units, "cpu", 0.0)
    history, evaluated = fit_and_evaluate(model, x, y)
    want = keras_values(model, x, y)
    assert sorted(history) == sorted(evaluated) == sorted(["loss", *want])
    for name, value in want.items():
        np.testing.assert_allclose(history[name], [value] * 3, **TOLERANCE)
        np.testing.assert_allclose(evaluated[name], value, **TOLERANCE)


@pytest.mark.parametrize("units", [1, 3], ids=["binary", "multi_class"])
def test_evaluate_after_training_gives_keras_values(units):
    x, y = classification_data(units)
    model = compiled(units, "cpu", 0.5)
    fit_and_evaluate(model, x, y)
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for name, value in keras_values(model, x, y).items():
        np.testing.assert_allclose(evaluated[name], value, **TOLERANCE)


@pytest.mark.cudasim
@pytest.mark.parametrize("units", [1, 3], ids=["binary", "multi_class"])
def test_on_the_gpu_fit_and_evaluate_give_the_cpus_values(units, monkeypatch):
    """On device "cuda" the metrics' state stays on the device; fit's steps replay (every
    state array updated in place) and log what the eager steps and the CPU log."""
    pytest.importorskip("numba_cuda")
    x, y = classification_data(units)
    cpu_history, cpu_evaluated = fit_and_evaluate(compiled(units, "cpu", 0.0), x, y)
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager_history, _ = fit_and_evaluate(compiled(units, "cuda", 0.0), x, y)
    model = compiled(units, "cuda", 0.0)
    history, evaluated = fit_and_evaluate(model, x, y)
    assert model._step_replay.replayed >= 6, model._step_replay.why
    assert all(m.device == "cuda" for m in model.metrics)
    assert history == eager_history
    for name, values in cpu_history.items():
        np.testing.assert_allclose(history[name], values, **TOLERANCE)
        np.testing.assert_allclose(evaluated[name], cpu_evaluated[name], **TOLERANCE)


@pytest.mark.cudasim
@pytest.mark.parametrize(
    ("name", "options", "draw"),
    [
        ("TruePositives", {"thresholds": [0.2, 0.6]}, "multi_label"),
        ("FalseNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),
        ("F1Score", {"average": "weighted"}, "ties"),
        ("FBetaScore", {"beta": 2.0, "threshold": 0.4}, "multi_label"),
        ("FBetaScore", {"average": "micro", "beta": 0.5}, "one_hot"),
        ("R2Score", {"class_aggregation": None}, "regression"),
        ("R2Score", {"num_regressors": 2}, "regression_flat"),
    ],
)
def test_gpu_state_gives_the_cpus_values(name, options, draw, rng):
    pytest.importorskip("numba_cuda")
    from autoconv.backends import cuda as cuda_backend

    cpu, gpu = getattr(metrics, name)(**options), getattr(metrics, name)(**options)
    for y_true, y_pred, weight in batches(rng, DRAWS[draw]):
        cpu.update_state(y_true, y_pred, sample_weight=weight)
        gpu.update_state(y_true, ac.Tensor(y_pred, device="cuda"), sample_weight=weight)
    assert all(isinstance(v.data, cuda_backend.CudaArray) for v in gpu.variables)
    np.testing.assert_allclose(gpu.result(), cpu.result(), **TOLERANCE)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_metrics_of_several_values_are_arrays_in_the_logs(device, capsys):
    """F1Score() (one score per class), R2Score(class_aggregation=None) and counts at several
    thresholds log NumPy arrays, as Keras's fit does; the bar shows their means."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    x, y = classification_data(3)
    ac.utils.set_random_seed(0)
    model = ac.Sequential([layers.Input((5,)), layers.Dense(3, activation="softmax")])
    model.to(device).compile(
        ac.optimizers.SGD(0.0), "categorical_crossentropy",
        metrics=[metrics.F1Score(), metrics.R2Score(class_aggregation=None),
                 metrics.TruePositives(thresholds=[0.2, 0.5])],
    )  # fmt: skip
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=2).history
    printed = capsys.readouterr().out
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
    made = {
        "f1_score": keras.metrics.F1Score(),
        "true_positives": keras.metrics.TruePositives(thresholds=[0.2, 0.5]),
    }
    for name, metric in made.items():
        metric.update_state(y, predictions)
        want = keras.ops.convert_to_numpy(metric.result())
        assert [np.shape(v) for v in history[name]] == [want.shape] * 2
        np.testing.assert_allclose(evaluated[name], want, **TOLERANCE)
        np.testing.assert_allclose(history[name][-1], want, **TOLERANCE)
        assert f" - {name}: {float(np.mean(history[name][-1])):.4f}" in printed
    assert np.shape(evaluated["r2_score"]) == (3,)


def test_monitoring_a_metric_of_several_values_is_one_clear_error():
    x, y = classification_data(3)
    model = ac.Sequential([layers.Input((5,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=[metrics.F1Score()])
    stopper = ac.callbacks.EarlyStopping(monitor="f1_score", mode="max")
    with pytest.raises(ValueError, match=r"monitor='f1_score' has 3 values .*average='macro'"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[stopper])
