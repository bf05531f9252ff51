"""The metrics Keras 3.15 added to the first ones: the IoU family (IoU, MeanIoU, BinaryIoU,
OneHotIoU, OneHotMeanIoU), the correlations (PearsonCorrelation, ConcordanceCorrelation and
their functions) and the rates at a constraint (PrecisionAtRecall, RecallAtPrecision,
SensitivityAtSpecificity, SpecificityAtSensitivity), against Keras's own on its PyTorch
backend (skipped without Keras or torch): results after each of several weighted batches and
after a reset, configs and entries both ways, errors, the state on the CUDA device (the
simulator), and in compile + fit + evaluate by object and by name on both devices."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, metrics

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

# Keras warns that float weights are truncated by the IoU metrics' int32 state (as are ours)
pytestmark = pytest.mark.filterwarnings("ignore:You are passing weight as `float`")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


# -------------------------------------------------------------------------------- draws
# Each gives (y_true, y_pred, the shape of one weight per label) for n samples.
def draw_labels(rng, n, classes=4):
    """Labels of (n, 2) with some outside [0, classes), predictions with fractions (Keras
    truncates them)."""
    y_true = rng.integers(-1, classes + 1, (n, 2))
    return y_true, rng.integers(0, classes, (n, 2)) + rng.uniform(0, 0.9, (n, 2)), (n, 2)


def draw_one_hot(rng, n, classes=4):
    return np.eye(classes)[rng.integers(0, classes, n)], rng.uniform(0, 1, (n, classes)), (n,)


def draw_one_hot_labels(rng, n, classes=4):
    return np.eye(classes)[rng.integers(0, classes, n)], rng.integers(0, classes, n), (n,)


def draw_one_hot_first(rng, n, classes=4):
    """Scores along axis 1 of (n, classes, 2)."""
    y_true = np.eye(classes)[rng.integers(0, classes, (n, 2))].transpose(0, 2, 1)
    return y_true, rng.uniform(0, 1, (n, classes, 2)), (n, 2)


def draw_binary(rng, n):
    return rng.integers(0, 2, n), rng.uniform(0, 1, n), (n,)


def draw_multi_label(rng, n):
    return rng.integers(0, 2, (n, 3)), rng.uniform(0, 1, (n, 3)), (n,)


def draw_regression(rng, n):
    y_true = rng.standard_normal((n, 4))
    return y_true, y_true + rng.standard_normal((n, 4)), (n,)


CASES = [
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, draw_labels),
    ("IoU", {"num_classes": 4, "target_class_ids": [1], "ignore_class": 0}, draw_labels),
    ("IoU", {"num_classes": 4, "target_class_ids": [3, 1], "dtype": "float32"}, draw_labels),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 1], "sparse_y_true": False,
             "sparse_y_pred": False}, draw_one_hot),
    ("MeanIoU", {"num_classes": 4}, draw_labels),
    ("MeanIoU", {"num_classes": 4, "ignore_class": 2, "sparse_y_true": False},
     draw_one_hot_labels),
    ("BinaryIoU", {}, draw_binary),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, draw_binary),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [0, 3]}, draw_one_hot),
    ("OneHotMeanIoU", {"num_classes": 4}, draw_one_hot),
    ("OneHotMeanIoU", {"num_classes": 4, "sparse_y_pred": True, "ignore_class": 1},
     draw_one_hot_labels),
    ("PearsonCorrelation", {}, draw_regression),
    ("ConcordanceCorrelation", {}, draw_regression),
    ("ConcordanceCorrelation", {"dtype": "float64"}, draw_regression),
    ("PrecisionAtRecall", {"recall": 0.6}, draw_multi_label),
    ("PrecisionAtRecall", {"recall": 0.3, "num_thresholds": 7, "class_id": 1}, draw_multi_label),
    ("RecallAtPrecision", {"precision": 0.5}, draw_binary),
    ("RecallAtPrecision", {"precision": 0.8, "num_thresholds": 1}, draw_multi_label),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, draw_multi_label),
    ("SensitivityAtSpecificity", {"specificity": 0.9, "class_id": 2}, draw_multi_label),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4}, draw_binary),
    ("SpecificityAtSensitivity", {"sensitivity": 0.7, "num_thresholds": 20}, draw_multi_label),
]  # fmt: skip
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def batches(rng, draw):
    """Three batches of different sizes: weighted (with a zero, and weights above 1 that an
    int32 state truncates), unweighted, weighted."""
    out = []
    for i, size in enumerate([5, 3, 6]):
        y_true, y_pred, weight_shape = draw(rng, size)
        weight = None if i == 1 else rng.uniform(0, 3, weight_shape)
        if weight is not None:
            weight.reshape(-1)[0] = 0.0
        out.append((y_true, y_pred, weight))
    return out


def keras_result(metric) -> np.ndarray:
    return keras.ops.convert_to_numpy(metric.result())


@pytest.mark.parametrize(("name", "options", "draw"), CASES, ids=IDS)
def test_results_after_each_batch_and_a_reset_are_kerass(name, options, draw, rng):
    """update_state returns what Keras's does: the IoU metrics' confusion matrix after the
    batch (float32 where Keras's is int32), the others nothing."""
    ours, theirs = getattr(metrics, name)(**options), getattr(keras.metrics, name)(**options)
    for y_true, y_pred, weight in batches(rng, draw):
        returned = ours.update_state(y_true, y_pred, sample_weight=weight)
        keras_returned = theirs.update_state(y_true, y_pred, sample_weight=weight)
        assert (returned is None) == (keras_returned is None)
        if returned is not None:
            want = keras.ops.convert_to_numpy(keras_returned)
            np.testing.assert_array_equal(returned.numpy(), want)
        np.testing.assert_allclose(ours.result(), keras_result(theirs), **TOLERANCE)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours.result(), keras_result(theirs), **TOLERANCE)
    y_true, y_pred, _ = draw(rng, 4)
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    np.testing.assert_allclose(ours.result(), keras_result(theirs), **TOLERANCE)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_one_hot_scores_along_another_axis(device, rng):
    """axis=1 takes the class along axis 1 (Keras 3.15's own fails in result(), which sums
    its per-class IoUs along that axis of a 1-D array)."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    along_1, last = metrics.OneHotIoU(4, [0, 2], axis=1), metrics.OneHotIoU(4, [0, 2])
    for y_true, y_pred, weight in batches(rng, draw_one_hot_first):
        along_1.update_state(y_true, ac.Tensor(y_pred, device=device), sample_weight=weight)
        last.update_state(y_true.transpose(0, 2, 1), y_pred.transpose(0, 2, 1), weight)
    np.testing.assert_allclose(along_1.result(), last.result(), **TOLERANCE)
    assert along_1.result() > 0


@pytest.mark.parametrize("name", ["pearson_correlation", "concordance_correlation"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_the_correlation_functions_are_kerass(name, axis, rng):
    y_true, y_pred, _ = draw_regression(rng, 5)
    ours = getattr(metrics, name)(y_true, y_pred, axis=axis)
    theirs = getattr(keras.metrics, name)(y_true, y_pred, axis=axis)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6)


@pytest.mark.parametrize(("name", "options", "draw"), CASES, ids=IDS)
def test_configs_and_entries_are_kerass_both_ways(name, options, draw):
    ours, theirs = getattr(metrics, name)(**options), getattr(keras.metrics, name)(**options)
    assert ours.name == keras.src.utils.naming.to_snake_case(name)  # Keras numbers its own
    mine, keras_config = ours.get_config(), theirs.get_config()
    mine.pop("name"), keras_config.pop("name")
    assert mine == keras_config
    back = metrics.get(keras.saving.serialize_keras_object(theirs))
    assert type(back) is type(ours) and back.get_config() == theirs.get_config()
    again = keras.saving.deserialize_keras_object(metrics.serialize(ours))
    assert type(again).__name__ == name and again.get_config() == ours.get_config()


def test_errors():
    with pytest.raises(ValueError, match=r"Target class id 4 is out of range, which is \[0, 4\)"):
        metrics.IoU(num_classes=4, target_class_ids=[0, 4])
    with pytest.raises(ValueError, match=r"`recall` must be in the range \[0, 1\]"):
        metrics.PrecisionAtRecall(recall=1.5)
    with pytest.raises(ValueError, match=r"`specificity` must be in the range \[0, 1\]"):
        metrics.SensitivityAtSpecificity(-0.1)
    with pytest.raises(ValueError, match="`num_thresholds` must be an integer > 0"):
        metrics.RecallAtPrecision(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match="sample_weight must give one weight per label"):
        metrics.MeanIoU(3).update_state([0, 1, 2], [0, 1, 1], sample_weight=[1, 2])
    with pytest.raises(ValueError, match="one label per entry"):
        metrics.MeanIoU(3).update_state([0, 1, 2], [0, 1])


@pytest.mark.cudasim
@pytest.mark.parametrize(("name", "options", "draw"), CASES[::2], ids=IDS[::2])
def test_the_state_on_the_cuda_device_gives_the_cpus_results(name, options, draw, rng):
    pytest.importorskip("numba_cuda")
    from autoconv.backends import cuda as cuda_backend

    cpu, gpu = getattr(metrics, name)(**options), getattr(metrics, name)(**options)
    for y_true, y_pred, weight in batches(rng, draw):
        cpu.update_state(y_true, y_pred, sample_weight=weight)
        gpu.update_state(y_true, ac.Tensor(y_pred, device="cuda"), sample_weight=weight)
    assert gpu.device == "cuda"
    assert all(isinstance(v.data, cuda_backend.CudaArray) for v in gpu.variables)
    np.testing.assert_allclose(gpu.result(), cpu.result(), **TOLERANCE)


def metrics_of(units: int) -> tuple[list, dict]:
    """(what compile is given, by object and by name; Keras's metrics of the same names)."""
    if units == 1:
        ours = [
            metrics.BinaryIoU(), metrics.SensitivityAtSpecificity(0.5),
            metrics.RecallAtPrecision(0.4, num_thresholds=11), "concordance_correlation",
        ]  # fmt: skip
        theirs = [
            keras.metrics.BinaryIoU(), keras.metrics.SensitivityAtSpecificity(0.5),
            keras.metrics.RecallAtPrecision(0.4, num_thresholds=11),
            keras.metrics.ConcordanceCorrelation(),
        ]  # fmt: skip
    else:
        ours = [
            metrics.OneHotMeanIoU(3), metrics.OneHotIoU(3, [0, 2]),
            metrics.PrecisionAtRecall(0.5, class_id=1), "pearson_correlation",
        ]  # fmt: skip
        theirs = [
            keras.metrics.OneHotMeanIoU(3), keras.metrics.OneHotIoU(3, [0, 2]),
            keras.metrics.PrecisionAtRecall(0.5, class_id=1),
            keras.metrics.PearsonCorrelation(),
        ]  # fmt: skip
    names = [m if isinstance(m, str) else m.name for m in ours]
    return ours, dict(zip(names, theirs, strict=True))


def compiled(units: int, device: str, chosen: list) -> ac.Model:
    ac.utils.set_random_seed(0)
    activation = "sigmoid" if units == 1 else "softmax"
    model = ac.Sequential([layers.Input((5,)), layers.Dense(units, activation=activation)])
    model.to(device).compile(
        ac.optimizers.SGD(0.0),
        "binary_crossentropy" if units == 1 else "categorical_crossentropy",
        metrics=chosen,
    )
    return model


@pytest.mark.parametrize("units", [1, 3], ids=["binary", "multi_class"])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_compiled_by_object_and_name_fit_and_evaluate_give_kerass_values(units, device, rng):
    """With a learning rate of 0, each epoch's logs and evaluate's are Keras's metrics of
    model.predict(x); on device "cuda" the state stays there."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    x = rng.standard_normal((24, 5)).astype(np.float32)
    labels = rng.integers(0, units + (units == 1), 24)
    y = labels.reshape(-1, 1).astype(np.float32) if units == 1 else np.eye(3)[labels]
    chosen, theirs = metrics_of(units)  # (made once: a second MeanIoU() is mean_io_u_1)
    model = compiled(units, device, chosen)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert all(m.device == device for m in model.metrics)
    predictions = model.predict(x, verbose=0)
    for name, metric in theirs.items():
        metric.update_state(y, predictions)
        want = keras_result(metric)
        assert np.isfinite(want)
        np.testing.assert_allclose(history[name], [want] * 2, **TOLERANCE)
        np.testing.assert_allclose(evaluated[name], want, **TOLERANCE)
