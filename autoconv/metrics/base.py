"""The metrics' base classes: :class:`Metric` (its state on the predictions' device, read
back only by ``result()``), :class:`Sum`, :class:`Mean` and :class:`MeanMetricWrapper` (the mean
of a function's per-sample values)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autoconv import initializers
from autoconv.backends import array_device, namespace
from autoconv.host_array import host_array
from autoconv.losses import apply_mask, squeeze_or_expand_to_same_rank
from autoconv.metrics.functions import array_of, check_two_dimensional, function, on_device
from autoconv.naming import to_snake_case, unique_name, variable_repr
from autoconv.ops.masks import as_mask, keras_mask
from autoconv.tensor import FLOAT_DTYPES, Tensor, no_grad


# ------------------------------------------------------------------------ base classes
def state_tensor(array: Any) -> Tensor:
    """A copy of a state array as a Tensor on its device, what Keras's variable ``assign``
    returns: an integer state's as float32 (autoconv's Tensors hold floats; a read back to
    the host would keep the GPU's steps from being replayed)."""
    if array.dtype in FLOAT_DTYPES:
        return Tensor(namespace(array_device(array)).copy(array))
    return Tensor(array.astype(np.float32))


class MetricVariable(Tensor):
    """A metric's state variable (what :meth:`Metric.add_variable` returns): a Tensor whose
    values are the state array the metric holds (so that ``reset_state``, a move to the GPU and
    a replayed step see one array), changed in place by ``assign``, ``assign_add`` and
    ``assign_sub``, as a Keras variable."""

    __slots__ = ("_key", "_metric", "name")

    def __init__(self, metric: Metric, key: str, name: str) -> None:
        self._metric, self._key, self.name = metric, key, name
        self.requires_grad, self.grad, self._parents, self._backward, self._op = (
            False, None, (), None, "",
        )  # fmt: skip

    @property  # type: ignore[override]
    def data(self) -> Any:
        return getattr(self._metric, self._key)

    @property  # type: ignore[override]
    def device(self) -> str:
        return array_device(self.data)

    @property
    def value(self) -> Tensor:
        return Tensor(self.data)

    @property
    def path(self) -> str:
        """Keras's: the metric's name and the variable's (``mean/total``)."""
        return f"{self._metric.name}/{self.name}"

    def __repr__(self) -> str:
        return variable_repr(self.path, self.shape, self.dtype, self.numpy())

    def assign(self, value: Any) -> Tensor:
        """Set the values (of the variable's shape; a Tensor, array or number); returns them,
        a Tensor of their own, as Keras's ``assign``."""
        setattr(self._metric, self._key, self._like(value))  # in place (Metric.__setattr__)
        return state_tensor(self.data)

    def _like(self, value: Any) -> Any:
        """``value`` (a Tensor, array or number) as an array of the variable's shape, dtype
        and device (a copy where it must move or change dtype)."""
        new = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array_device(new) != self.device:
            new = namespace(self.device).asarray(namespace(array_device(new)).to_numpy(new))
        new = new.astype(self.dtype, copy=False)
        if tuple(new.shape) != tuple(self.shape):
            raise ValueError(
                f"{self.name}: cannot assign a value of shape {tuple(new.shape)} to a variable "
                f"of shape {tuple(self.shape)}"
            )
        return new

    def assign_add(self, value: Any) -> Tensor:
        with no_grad():
            return self.assign(self + self._here(value))

    def assign_sub(self, value: Any) -> Tensor:
        with no_grad():
            return self.assign(self - self._here(value))

    def _here(self, value: Any) -> Any:
        """``value`` on the variable's device (a count made on the host from integer labels
        adds to a variable on the GPU)."""
        return value.to(self.device) if isinstance(value, Tensor) else value


class Metric:
    """Base class: state variables (device arrays, made by ``add_variable``), updated by
    ``update_state``, read by ``result``. Calling a metric updates it and returns the result.
    ``_direction`` ("up" or "down", as in Keras) tells callbacks with ``mode="auto"`` whether
    the metric improves by growing or shrinking; a metric without one needs an explicit mode."""

    def __init__(self, dtype: Any = None, name: str | None = None) -> None:
        """Keras's order: ``dtype`` first (its subclasses take ``name`` first)."""
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = np.dtype(dtype or np.float32)
        self.device = "cpu"
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._names: dict[str, str] = {}  # (an add_variable's key: the name it was given)

    def __setattr__(self, name: str, value: Any) -> None:
        """A state variable given a new value of its shape, dtype and device takes it in place
        (``self.total = self.total + x`` writes into the array ``total`` already is): a step
        the GPU replays (autoconv/step_replay.py) updates the arrays it recorded."""
        old = self.__dict__.get(name)
        if (
            name in self.__dict__.get("_shapes", ())
            and old is not None
            and not isinstance(old, np.generic)
            and array_device(old) == array_device(value)
            and np.shape(value) == old.shape
            and getattr(value, "dtype", None) == old.dtype
        ):
            namespace(array_device(old)).copy_into(old, value)
            return
        object.__setattr__(self, name, value)

    def _add_state(self, shape: tuple[int, ...], name: str) -> None:
        """A state array of zeros, kept as ``self.<name>``."""
        self._shapes[name] = tuple(shape)
        setattr(self, name, namespace(self.device).zeros(tuple(shape), self.dtype))

    def add_variable(
        self,
        shape: tuple[int, ...],
        initializer: Any,
        dtype: Any = None,
        aggregation: str = "sum",
        name: str | None = None,
    ) -> MetricVariable:
        """Keras's: a state variable of ``shape`` for a metric of your own, made by
        ``initializer`` (a name such as ``"zeros"``, or an initializer) and returned to keep as
        an attribute; ``update_state`` changes it with ``assign_add`` (``assign``,
        ``assign_sub``), ``result`` returns it (or arithmetic on it), ``reset_state`` sets it
        back to zeros. ``aggregation`` (how replicas combine) is accepted and has no effect:
        one process holds the whole state."""
        if dtype is not None:
            dtype = np.dtype(dtype)
        variable_name = name or "variable"
        key = f"_variable_{len(self._shapes)}_{variable_name}"
        self._shapes[key] = tuple(shape)
        self._names[key] = variable_name
        values = np.asarray(initializers.get(initializer)(tuple(shape), dtype or self.dtype))
        setattr(self, key, namespace(self.device).asarray(values.astype(dtype or self.dtype)))
        return MetricVariable(self, key, variable_name)

    def add_weight(
        self,
        shape: tuple[int, ...] = (),
        initializer: Any = None,
        dtype: Any = None,
        name: str | None = None,
    ) -> MetricVariable:
        """Keras's alias of :meth:`add_variable` (a scalar by default), kept from Keras 2's
        metrics (the book's ``self.add_weight(name="mse_sum", initializer="zeros")``)."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[MetricVariable]:
        """Keras's: the state variables in the order they were made, with Keras's names
        (a mean's ``total`` and ``count``, an ``add_variable``'s name), each standing for its
        state array (``.data``)."""
        return [MetricVariable(self, key, self._names.get(key, key)) for key in self._shapes]

    @contextlib.contextmanager
    def _stateless(self, values: Any = None) -> Iterator[list[MetricVariable]]:
        """Keras's ``StatelessScope`` over the state: inside the block the variables hold
        copies of ``values`` (one per variable, in ``variables``' order; None: of their own
        values), which the block may change; the metric's own arrays are put back after."""
        variables = self.variables
        if values is not None and len(values) != len(variables):
            raise ValueError(
                "Argument `metric_variables` must be a list of tensors corresponding 1:1 to "
                f"{type(self).__name__}().variables. Received list with length {len(values)}, "
                f"but expected {len(variables)} variables."
            )
        own = [v.data for v in variables]
        given = own if values is None else values
        copies = [
            namespace(v.device).copy(v._like(x)) for v, x in zip(variables, given, strict=True)
        ]
        for v, array in zip(variables, copies, strict=True):
            object.__setattr__(v._metric, v._key, array)
        try:
            yield variables
        finally:
            for v, array in zip(variables, own, strict=True):
                object.__setattr__(v._metric, v._key, array)

    def stateless_update_state(self, metric_variables: Any, *args: Any, **kwargs: Any) -> list:
        """Keras's: ``update_state(*args, **kwargs)`` applied to ``metric_variables`` (values
        for ``variables``, in order) in place of the metric's state, which stays as it was;
        returns the new values, as Tensors."""
        with self._stateless(metric_variables) as variables:
            self.update_state(*args, **kwargs)
            return [Tensor(v.data) for v in variables]

    def stateless_result(self, metric_variables: Any) -> Any:
        """Keras's: ``result()`` of the state ``metric_variables`` (values for ``variables``).
        A result that is a variable itself is given back as Keras's is: the variable, which
        reads the metric's own state once the call returns."""
        with self._stateless(metric_variables):
            return self.result()

    def stateless_reset_state(self) -> list:
        """Keras's: the values ``reset_state()`` would give the variables, as Tensors; the
        metric's state stays as it was."""
        with self._stateless() as variables:
            self.reset_state()
            return [Tensor(v.data) for v in variables]

    def reset_state(self) -> None:
        """Every state array back to zeros, in place where it is on the metric's device (one
        launch each on the GPU; a replayed step updates the arrays it recorded)."""
        xp = namespace(self.device)
        for name, shape in self._shapes.items():
            old = self.__dict__.get(name)
            if (
                old is None
                or isinstance(old, np.generic)
                or array_device(old) != self.device
                or old.shape != tuple(shape)
            ):
                setattr(self, name, xp.zeros(shape, self.dtype))
            else:
                xp.zero(old)

    def _to(self, device: str) -> Any:
        """Move the state to ``device`` (once, when the data first comes from there); return
        that device's backend module."""
        if device != self.device:
            for name in self._shapes:
                setattr(self, name, on_device(device, getattr(self, name)))
            self.device = device
        return namespace(device)

    def _state_per_class(
        self, y_true: Any, y_pred: Any, names: tuple[str, ...], per_class: bool = True
    ) -> Any:
        """For a metric of (N, C) inputs whose state has one value per class (one in all,
        where not ``per_class``), made at the first batch (C then fixed in ``_classes``, None
        until then in the metric's ``__init__``): check the inputs, move the state to y_pred's
        device, and return that device's backend."""
        check_two_dimensional(type(self).__name__, y_true, y_pred, self._classes)
        xp = self._to(array_device(y_pred))
        if self._classes is None:
            self._classes = y_pred.shape[1]
            for name in names:
                self._add_state((self._classes,) if per_class else (), name)
        return xp

    def _in_place(self, *names: str) -> list[Any]:
        """The state arrays ``names``, as arrays a backend updates in place (an update out of
        place may have left a NumPy scalar: arithmetic on a 0-d array gives one)."""
        for name in names:
            if isinstance(getattr(self, name), np.generic):
                setattr(self, name, np.array(getattr(self, name)))
        return [getattr(self, name) for name in names]

    def _read(self, name: str) -> np.ndarray:
        """State ``name`` as a NumPy array of its own: a snapshot, never the state array itself
        (which the CPU's to_numpy hands back, and which later updates change in place)."""
        return np.array(namespace(self.device).to_numpy(getattr(self, name)), copy=True)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each class's own ``result`` gives a NumPy result as a :class:`HostArray`, so
        ``metric.result().numpy()`` runs as on Keras's backend tensors (a Tensor or a dict of
        results, as a user's metric may give, stays as it is)."""
        super().__init_subclass__(**kwargs)
        if "result" in cls.__dict__:
            own_result = cls.__dict__["result"]
            cls.result = functools.wraps(own_result)(lambda self: host_array(own_result(self)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _samplewise(values: Any, sample_weight: Any, reduce: str, dtype: Any) -> tuple[Any, Any]:
    """Keras's reduce_to_samplewise_values: weight the values, then reduce values and weights
    to one per sample (``reduce``: 'mean' or 'sum' over the trailing axes)."""

    def reduced(a: Any, axes: range) -> Any:
        return getattr(a, reduce)(axis=tuple(axes)) if len(axes) else a

    if sample_weight is not None:
        sample_weight = on_device(array_device(values), sample_weight, dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        values = reduced(values, range(weight_ndim, values.ndim))
        sample_weight = namespace(array_device(values)).broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        sample_weight = reduced(sample_weight, range(1, weight_ndim))
    return reduced(values, range(1, values.ndim)), sample_weight


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._add_state((), "total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = array_of(values)
        self._to(array_device(values))
        values, _ = _samplewise(values.astype(self.dtype), sample_weight, "sum", self.dtype)
        self.total = self.total + values.sum()

    def result(self) -> Any:
        return self._read("total")[()]


class Mean(Metric):
    """The (weighted) mean of the values given: sum(values * weights) / sum(weights)."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._add_state((), "total")
        self._add_state((), "count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = array_of(values)
        xp = self._to(array_device(values))
        values = values.astype(self.dtype, copy=False)
        if self._weighted_scalar(values, sample_weight):
            # A batch's mean loss weighted by its size: nothing to reduce; added in place.
            xp.update_metrics(
                *self._in_place("total", "count"), values, sample_weight, None, None, None, None
            )
            return
        values, sample_weight = _samplewise(values, sample_weight, "mean", self.dtype)
        self.total = self.total + values.sum()
        if sample_weight is not None:
            self.count = self.count + sample_weight.sum()
        else:
            self.count = self.count + (values.shape[0] if values.ndim else 1)

    def result(self) -> Any:
        total, count = self._read("total"), self._read("count")
        return (total / count if count != 0 else np.zeros_like(total))[()]

    @staticmethod
    def _weighted_scalar(values: Any, sample_weight: Any) -> bool:
        """Whether ``values`` is one number weighted by a number (a batch's mean loss by its
        size), which the backend's ``update_metrics`` adds in place."""
        return isinstance(sample_weight, int | float) and values.ndim == 0


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)``, a function of per-sample values (a loss
    function, an accuracy ...), weighted by the sample weights."""

    def __init__(
        self, fn: Callable[..., Any], name: str | None = None, dtype: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch; a Keras mask on ``y_pred`` (a Tensor) weighs its masked entries 0."""
        mask = keras_mask(y_pred)
        with no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        if mask is not None:
            sample_weight = apply_mask(sample_weight, as_mask(mask, y_pred).data, "sum")
        super().update_state(values, sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn.__name__
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        if "fn" in config:
            config = {**config, "fn": function(config["fn"])}
        return cls(**config)
