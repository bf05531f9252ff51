"""Metrics of one's own, as keras.io writes them: state made by ``add_variable`` with Keras's
signature, changed by ``assign_add``/``assign``, read by ``result``: the same logs as Keras 3.15
(its PyTorch backend) in fit and evaluate, on the CPU and the CUDA device (the simulator), and
reset at each epoch."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac


def _custom_metrics(lib: Any) -> list[Any]:
    ops = lib.ops

    class CategoricalTruePositives(lib.metrics.Metric):
        """keras.io's "training with built-in methods" guide, as written there."""

        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                values = ops.multiply(values, ops.cast(sample_weight, "float32"))
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    class LargestProbability(lib.metrics.Metric):
        """A vector state with a ones initializer, assign_sub, and arithmetic in result."""

        def __init__(self, **kwargs):
            super().__init__(name="largest", **kwargs)
            self.sums = self.add_variable((3,), "zeros", name="sums")
            self.count = self.add_variable((), "ones", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.sums.assign_add(ops.sum(y_pred, axis=0))
            self.count.assign_add(ops.cast(ops.shape(y_pred)[0], "float32") + 1.0)
            self.count.assign_sub(1.0)

        def result(self):
            return ops.max(self.sums / (self.count - 1.0))

    return [CategoricalTruePositives(), LargestProbability()]


def _fit(lib: Any, x: np.ndarray, y: np.ndarray, device: str | None = None) -> tuple:
    model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(3, activation="softmax")])
    model.set_weights([np.cos(np.arange(15)).reshape(5, 3).astype("float32") * 0.5,
                       np.zeros(3, "float32")])  # fmt: skip
    if device is not None:
        model.to(device)
    model.compile(lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=_custom_metrics(lib))  # fmt: skip
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    return {k: np.asarray(v, float) for k, v in history.items()}, evaluated


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 5)).astype("float32"), rng.integers(0, 3, size=(64, 1))


def test_custom_metrics_log_keras_s_values(data):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    (ours, our_eval), (theirs, their_eval) = _fit(ac, *data), _fit(keras, *data)
    assert ours.keys() == theirs.keys()
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5)
        np.testing.assert_allclose(our_eval[name], their_eval[name], rtol=1e-5)
    assert len(set(ours["categorical_true_positives"])) > 1  # counted anew each epoch


def test_custom_metrics_on_the_gpu_log_the_cpus_values(data):
    pytest.importorskip("numba_cuda")
    (cpu, cpu_eval), (gpu, gpu_eval) = _fit(ac, *data, "cpu"), _fit(ac, *data, "cuda")
    for name in cpu:
        np.testing.assert_allclose(gpu[name], cpu[name], rtol=1e-5)
        np.testing.assert_allclose(gpu_eval[name], cpu_eval[name], rtol=1e-5)


def test_a_variable_takes_values_of_its_shape_only():
    metric = ac.metrics.Metric(name="m")
    variable = metric.add_variable((2,), "ones", name="v")
    assert variable.name == "v" and variable.shape == (2,)
    np.testing.assert_array_equal(variable.numpy(), [1.0, 1.0])
    variable.assign_add(ac.Tensor([1.0, 2.0]))
    np.testing.assert_array_equal(variable.value.numpy(), [2.0, 3.0])
    with pytest.raises(ValueError, match=r"shape \(3,\) to a variable of shape \(2,\)"):
        variable.assign(np.zeros(3))
    metric.reset_state()
    np.testing.assert_array_equal(variable.numpy(), [0.0, 0.0])


def test_assign_returns_the_values_assigned_of_their_own_as_kerass(keras):
    for lib in (ac, keras):
        variable = lib.metrics.Metric(name="m").add_variable((2,), "ones", name="v")
        added = variable.assign_add(np.array([1.0, 2.0], "float32"))
        subtracted = variable.assign_sub(1.0)
        variable.assign(np.zeros(2, "float32"))
        values = [lib.ops.convert_to_numpy(x).tolist() for x in (added, subtracted)]
        assert values == [[2.0, 3.0], [1.0, 2.0]]


def test_the_base_takes_dtype_then_name_as_kerass(keras):
    """``Metric(dtype, name)``: Keras's base order (its subclasses take the name first)."""
    for lib in (ac, keras):
        metric = lib.metrics.Metric("float64", "counter")
        assert (metric.name, str(metric.dtype)) == ("counter", "float64")
        assert lib.metrics.Mean("mean_of_it", "float64").name == "mean_of_it"


def test_variables_are_keras_s(data, keras):
    """``metric.variables``: Keras's variables (path, shape, dtype, value, printed form, a
    ``Variable`` to ``isinstance``), of a metric of one's own and of autoconv's, after a
    batch."""
    x, y = data
    probabilities = np.abs(x[:, :3]) / np.abs(x[:, :3]).sum(axis=1, keepdims=True)
    keras.utils.clear_session()  # Keras's numbered names (auc, auc_1) from the start, as ours

    def variables(lib: Any) -> list:
        metrics = _custom_metrics(lib)
        for metric in metrics:
            metric.update_state(y, probabilities)
        mean, auc = lib.metrics.Mean(), lib.metrics.AUC(num_thresholds=3)
        mean.update_state([1.0, 2.0])
        auc.update_state(y > 0, probabilities[:, 0])
        return [v for metric in [*metrics, mean, auc] for v in metric.variables]

    ours, theirs = variables(ac), variables(keras)
    assert [(v.path, v.name, tuple(v.shape), str(v.dtype)) for v in ours] == [
        (v.path, v.name, tuple(v.shape), str(v.dtype)) for v in theirs
    ]
    for our, their in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(our.numpy(), keras.ops.convert_to_numpy(their), rtol=1e-6)
        assert isinstance(our, ac.Variable) and isinstance(their, keras.Variable)
    assert (
        repr(ours[3])
        == repr(theirs[3])
        == "<Variable path=mean/total, shape=(), dtype=float32, value=3.0>"
    )


def _root_mean_squared_error(lib: Any) -> Any:
    """The book's metric ("Deep Learning with Python", 3rd ed., chapter 7): Keras 2's
    ``add_weight`` in place of ``add_variable``."""
    ops = lib.ops

    class RootMeanSquaredError(lib.metrics.Metric):
        def __init__(self, name="rmse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.mse_sum = self.add_weight(name="mse_sum", initializer="zeros")
            self.total_samples = self.add_weight(name="total_samples", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = ops.one_hot(y_true, num_classes=ops.shape(y_pred)[1])
            self.mse_sum.assign_add(ops.sum(ops.square(y_true - y_pred)))
            self.total_samples.assign_add(ops.shape(y_pred)[0])

        def result(self):
            return ops.sqrt(self.mse_sum / self.total_samples)

    return RootMeanSquaredError()


@pytest.mark.parametrize(
    "make", [_root_mean_squared_error, *(lambda lib, i=i: _custom_metrics(lib)[i] for i in (0, 1))]
)
def test_stateless_updates_leave_the_state_as_kerass(data, keras, make):
    """``add_weight`` (Keras's alias of ``add_variable``) and the stateless calls of Keras's
    metrics guide: ``stateless_update_state`` returns the new values and leaves the metric's
    own state, ``stateless_result`` reads given values, ``stateless_reset_state`` gives zeros."""
    x, y = data
    probabilities = np.abs(x[:, :3]) / np.abs(x[:, :3]).sum(axis=1, keepdims=True)

    def run(lib: Any) -> list:
        metric = make(lib)
        metric.update_state(y[:8, 0], probabilities[:8])
        before = [np.array(v.numpy()) for v in metric.variables]
        state = metric.stateless_update_state(metric.variables, y[8:, 0], probabilities[8:])
        after = [np.array(v.numpy()) for v in metric.variables]
        reset = metric.stateless_reset_state()
        return [
            [v.path for v in metric.variables],
            before,
            after,
            [lib.ops.convert_to_numpy(v) for v in state],
            [lib.ops.convert_to_numpy(metric.stateless_result(state)), metric.result()],
            [lib.ops.convert_to_numpy(v) for v in reset],
        ]

    ours, theirs = run(ac), run(keras)
    assert ours[0] == theirs[0]

    def flat(results: list) -> list:
        return [np.ravel(np.array(value, float)) for values in results[1:] for value in values]

    for our, their in zip(flat(ours), flat(theirs), strict=True):
        np.testing.assert_allclose(our, their, rtol=1e-6)
    assert len(flat(ours)) == 4 * len(ours[0]) + 2
    np.testing.assert_array_equal(np.hstack(ours[1]), np.hstack(ours[2]))  # left as it was
    assert not np.allclose(np.hstack(ours[3]), np.hstack(ours[1]))


def test_stateless_values_must_match_the_variables(keras):
    for lib in (ac, keras):
        metric = lib.metrics.Mean()
        message = r"1:1 to Mean\(\).variables. Received list with length 1, but expected 2"
        with pytest.raises(ValueError, match=message):
            metric.stateless_update_state([0.0], [1.0])
