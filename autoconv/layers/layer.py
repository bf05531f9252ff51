"""The base of every layer and model: :class:`Layer`, its weights (:class:`Variable`) and
configs (:mod:`autoconv.layers.serialization` has Keras's object format; a thread's call
state, the training flag outer calls pass down among it, is in :mod:`autoconv.layers.calls`;
Keras's default names in :mod:`autoconv.naming`; a call on symbolic tensors is recorded by
:mod:`autoconv.layers.symbolic`).

Shapes follow Keras 3: ``build(input_shape)`` and ``compute_output_shape(input_shape)`` take
the batch axis first (``None`` when unknown), e.g. ``(None, 28, 28, 1)`` for MNIST images.
A layer is built once it knows its input shape (from the first call, from ``Input`` in a
functional graph, or from ``input_shape=`` on the first layer of a ``Sequential``); building
creates its weights with :meth:`Layer.add_weight`.

(Over ~600 lines on purpose: most of it is one class, Keras's ``Layer``, whose methods share its
state; what could stand apart already does, in ``serialization`` and ``calls``.)
"""

from __future__ import annotations

import abc
import gc
import inspect
import operator
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv import config, constraints, dtype_policies, initializers, regularizers, tree
from autoconv.backends import array_device, namespace, release_work_arrays
from autoconv.dtype_policies import DTypePolicy, python_dtype
from autoconv.host_array import host_array
from autoconv.layers import file_budget, serialization, shape_trace
from autoconv.layers.calls import (
    _Calling,
    building_lock,
    current_training,
    name_scope,
    note_penalty,
    stateless,
    thread_state,
)
from autoconv.layers.input_spec import assert_input_compatibility
from autoconv.layers.symbolic import (
    PositionalShapes,
    Shape,
    SymbolicTensor,
    is_symbolic,
    masked_dry_run,
    symbolic_call,
    warn_mask_dropped,
)
from autoconv.layers.tracking import tracked
from autoconv.metrics.base import Metric, MetricVariable
from autoconv.naming import reset_names, to_snake_case, unique_name, variable_repr
from autoconv.ops import masks
from autoconv.ops.masks import keras_mask, set_keras_mask
from autoconv.tensor import Tensor, no_grad
from autoconv.windows import is_int


def clear_session(free_memory: bool = True) -> None:
    """Reset the automatic layer and model names and release the work arrays kept for reuse,
    as ``keras.utils.clear_session()``; ``free_memory`` runs Python's garbage collection too,
    as Keras's."""
    reset_names()
    dtype_policies.reset_dtype_policy()
    if free_memory:
        gc.collect()
    release_work_arrays()


# ---------------------------------------------------------------------------- weights
# Changes of any weight's or layer's ``trainable`` flag so far: part of the kind of a replayed
# training step (autoconv.step_replay), whose kernels depend on which weights learn and which
# layers run in inference mode, so a layer frozen or unfrozen mid-fit is recorded anew.
trainable_changes = 0


def _trainable_changed() -> None:
    global trainable_changes
    trainable_changes += 1


# A layer call given no ``training`` (None given is one given, as in Keras).
_NOT_GIVEN: Any = object()


class Variable(Tensor, metaclass=abc.ABCMeta):
    """A layer's weight: a Tensor with a name (``kernel``), a path (``conv2d/kernel``) and a
    ``trainable`` flag (a trainable variable gets a gradient in training). Made as Keras's
    ``keras.Variable``: from a value (an array, a Tensor), or from an initializer (a name, an
    initializer, a callable ``(shape, dtype)``) and its ``shape``; its path is its name under
    the layers being built or called; one made without a name is named as Keras names it
    (``variable``, ``variable_1``, ... for the session). A layer tracks one set as its attribute.
    Keras's other variables, which autoconv keeps as views of their owners' state (a metric's,
    an optimizer's), are registered (``Variable.register``): ``isinstance`` holds for them, as
    for Keras's.

    >>> v = Variable(np.zeros((2, 3), np.float32), name="kernel", path="dense/kernel")
    >>> v
    <Variable path=dense/kernel, shape=(2, 3), dtype=float32, value=[[0. 0. 0.]
     [0. 0. 0.]]>
    >>> Variable(initializer="ones", shape=(2,), name="scale").numpy()
    array([1., 1.], dtype=float32)
    """

    __slots__ = ("_trainable", "constraint", "name", "path", "regularizer")

    def __new__(cls, *args: Any, **kwargs: Any) -> Variable:
        # one of an integer or bool dtype is an IntegerVariable (a step counter, say)
        dtype = python_dtype(kwargs.get("dtype", args[2] if len(args) > 2 else None))
        if cls is Variable and _integer_dtype(dtype):
            cls = IntegerVariable
        return super().__new__(cls)

    def __init__(
        self,
        initializer: Any,
        shape: Sequence[int] | None = None,
        dtype: Any = None,
        trainable: bool = True,
        name: str | None = None,
        path: str | None = None,
    ) -> None:
        dtype = python_dtype(dtype)  # int is int32, as Keras's
        value = _initial_value(initializer, shape, dtype)
        super().__init__(value, requires_grad=trainable, dtype=dtype)
        source = value.data if isinstance(value, Tensor) else value
        if self.data is source or (
            isinstance(source, np.ndarray)
            and (not self.data.flags.writeable or np.may_share_memory(self.data, source))
        ):  # its own array, which assign changes in place
            self.data = np.array(self.data) if self.device == "cpu" else self.data.copy()
        self._trainable = bool(trainable)
        name = name or unique_name("variable")
        self.name = name
        self.path = path or "/".join([*thread_state().scopes, name])
        self.regularizer: Callable[[Tensor], Tensor] | None = None
        self.constraint: Callable[[Any], Any] | None = None

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if bool(value) != self._trainable:
            _trainable_changed()
        self._trainable = self.requires_grad = bool(value)

    def assign(self, value: Any) -> Tensor:
        """Replace the values (same shape) in place, on the variable's device, as Keras's
        ``assign``: the variable keeps its array, so a step recorded before (a replayed one,
        :mod:`autoconv.step_replay`) reads the new values; the caller's array is copied.
        Returns the values assigned, a Tensor of their own, as Keras's."""
        self._set(value)
        return Tensor(namespace(self.device).copy(self.data))

    def _set(self, value: Any) -> None:
        """Copy ``value`` (of the variable's shape) into the variable's array, in its dtype;
        nothing in a run that only learns output shapes (Keras's stateless symbolic call)."""
        if thread_state().stateless:
            return
        value = value.data if isinstance(value, Tensor) else value
        host = np.asarray(namespace(array_device(value)).to_numpy(value))
        if host.shape != self.shape:
            raise ValueError(
                f"Variable {self.path}: cannot assign a value of shape {host.shape} to a "
                f"variable of shape {self.shape}"
            )
        xp = namespace(self.device)
        xp.copy_into(self.data, xp.asarray(np.asarray(host, dtype=self.dtype, order="C")))

    def assign_add(self, value: Any) -> Tensor:
        """Add ``value`` (broadcast to the variable's shape) in place, as Keras's."""
        with no_grad():
            return self.assign(
                self + (value.to(self.device) if isinstance(value, Tensor) else value)
            )

    def assign_sub(self, value: Any) -> Tensor:
        """Subtract ``value`` (broadcast to the variable's shape) in place, as Keras's."""
        with no_grad():
            return self.assign(
                self - (value.to(self.device) if isinstance(value, Tensor) else value)
            )

    @property
    def value(self) -> Tensor:
        return self

    def __repr__(self) -> str:
        return variable_repr(self.path, self.shape, self.dtype, self.numpy())

    def __round__(self, ndigits: int | None = None) -> Any:
        """``round(variable, n)``: the values rounded to ``n`` decimals, as Keras's."""
        return host_array(np.round(self.numpy(), ndigits or 0).astype(self.dtype, copy=False))


def _integer_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` (a name, a NumPy dtype; None: not given) is an integer or bool type."""
    if dtype is None:
        return False
    try:
        return np.dtype(getattr(dtype, "name", dtype)).kind in "biu"
    except TypeError:
        return False


def _host_arithmetic(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable:
    """An :class:`IntegerVariable`'s dunder of ``op`` (``reflected``: other op variable): on
    its values, with NumPy, or, with a float Tensor, that Tensor's op on the values in its
    dtype. A Python float makes a float32 result, as Keras's weak promotion of a scalar."""

    def method(self: IntegerVariable, other: Any) -> Any:
        if isinstance(other, Tensor) and not isinstance(other, IntegerVariable):
            mine = Tensor(self.numpy(), dtype=other.dtype, device=other.device)
            return op(other, mine) if reflected else op(mine, other)
        theirs = other.numpy() if isinstance(other, IntegerVariable) else other
        mine = self.numpy()
        result = np.asarray(op(theirs, mine) if reflected else op(mine, theirs))
        if isinstance(other, float) and result.dtype == np.float64:
            result = result.astype(np.float32)
        return host_array(result)

    return method


Variable.register(MetricVariable)


class IntegerVariable(Variable):
    """A :class:`Variable` of an integer or bool dtype, as Keras's (keras.io's AdaMatch's
    step counter, ``keras.Variable(0, dtype="int64", trainable=False)``): never trainable, as
    on Keras's PyTorch backend; ``assign``, ``assign_add``, ``numpy()``, ``int()`` and
    ``ops.cast`` as Keras's, its arithmetic and comparisons computed on its values with NumPy
    (integer arrays with ``numpy()``; with a float Tensor, a Tensor of that dtype).

    >>> step = Variable(0, dtype="int64", trainable=False, name="step")
    >>> _ = step.assign_add(1)
    >>> step
    <Variable path=step, shape=(), dtype=int64, value=1>
    >>> int(step * 3)
    3
    """

    __slots__ = ()

    def __init__(
        self,
        initializer: Any,
        shape: Sequence[int] | None = None,
        dtype: Any = None,
        trainable: bool = True,
        name: str | None = None,
        path: str | None = None,
    ) -> None:
        dtype = python_dtype(dtype)
        value = _initial_value(initializer, shape, dtype)
        if isinstance(value, Tensor):
            value = value.numpy()
        values = np.array(value, dtype=np.dtype(getattr(dtype, "name", dtype)))
        self._refuse_training(trainable, name or "variable", values.dtype)
        # made as a float variable of its shape, then given its own array of its dtype
        super().__init__(np.zeros(values.shape, np.float32), None, None, False, name, path)
        self.data = values if self.device == "cpu" else namespace(self.device).asarray(values)

    @staticmethod
    def _refuse_training(trainable: Any, name: str, dtype: Any) -> None:
        if trainable:
            raise ValueError(
                f"Variable {name} of dtype {dtype} cannot be trainable: only float variables "
                "get gradients (as on Keras's PyTorch backend); give trainable=False"
            )

    @property
    def trainable(self) -> bool:
        return False

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._refuse_training(value, self.path, self.dtype)

    def assign(self, value: Any) -> Any:
        """Replace the values (same shape) in place, cast to the variable's dtype; returns
        them (an array with ``numpy()``)."""
        self._set(value)
        return host_array(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __index__(self) -> int:
        return int(self.numpy())

    def __float__(self) -> float:
        return float(self.numpy())

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def __neg__(self) -> Any:
        return host_array(-self.numpy())

    __add__, __radd__ = _host_arithmetic(operator.add), _host_arithmetic(operator.add, True)
    __sub__, __rsub__ = _host_arithmetic(operator.sub), _host_arithmetic(operator.sub, True)
    __mul__, __rmul__ = _host_arithmetic(operator.mul), _host_arithmetic(operator.mul, True)
    __truediv__ = _host_arithmetic(operator.truediv)
    __rtruediv__ = _host_arithmetic(operator.truediv, True)
    __floordiv__ = _host_arithmetic(operator.floordiv)
    __rfloordiv__ = _host_arithmetic(operator.floordiv, True)
    __mod__, __rmod__ = _host_arithmetic(operator.mod), _host_arithmetic(operator.mod, True)
    __pow__, __rpow__ = _host_arithmetic(operator.pow), _host_arithmetic(operator.pow, True)
    __eq__, __ne__ = _host_arithmetic(operator.eq), _host_arithmetic(operator.ne)  # type: ignore[assignment]
    __lt__, __le__ = _host_arithmetic(operator.lt), _host_arithmetic(operator.le)
    __gt__, __ge__ = _host_arithmetic(operator.gt), _host_arithmetic(operator.ge)
    __hash__ = Variable.__hash__


def _initial_value(initializer: Any, shape: Sequence[int] | None, dtype: Any) -> Any:
    """A Variable's first value: ``initializer`` itself, or what it makes (a name of one, an
    initializer, a callable) for ``shape`` in ``dtype`` (``config.floatx()`` by default)."""
    if isinstance(initializer, str):
        initializer = initializers.get(initializer)
    if not callable(initializer):
        return initializer
    if shape is None:
        raise ValueError(  # Keras's words
            "When creating a Variable from an initializer, the `shape` argument should be "
            f"specified. Received: initializer={initializer} and shape={shape}"
        )
    dtype = config.floatx() if dtype is None else dtype
    return np.asarray(initializer(tuple(shape), dtype=dtype), dtype=dtype)


# ------------------------------------------------------------------------------ layers
# The get_config methods that leave a subclass Keras's automatic config when it defines none:
# Layer's, and Model's (which adds itself).
DEFAULT_GET_CONFIGS: set[Any] = set()
_ACCEPTED_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim")


def _set_by_user() -> bool:
    """Whether the attribute being set is set by code outside autoconv (the first caller
    that is not a ``__setattr__``)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_name == "__setattr__":
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "")
    return not (module == "autoconv" or module.startswith("autoconv."))


# Keras's error for state added to a built layer (its Tracker's lock).
_STATE_LOCKED = (
    "You cannot add new elements of state (variables or sub-layers) to a layer that is already "
    "built. All state must be created in the `__init__()` method or in the `build()` method."
)


class Layer:
    """Base class of layers: a name, weights, ``build`` / ``call`` / ``compute_output_shape``,
    and Keras's weights API.

    Subclasses create weights in ``build(input_shape)`` with :meth:`add_weight` and compute in
    ``call(inputs)`` (add a ``training`` parameter to behave differently in training). Calling
    a layer on an array or a Tensor runs it; calling it on the symbolic output of
    ``autoconv.Input`` records it in a functional graph.

    >>> from autoconv import layers
    >>> dense = layers.Dense(3)
    >>> dense(np.ones((2, 4))).shape
    (2, 3)
    >>> [w.path.split("/")[1] for w in dense.weights]
    ['kernel', 'bias']
    """

    # Integer and bool arrays reach a user's call as they are (Keras keeps their dtype); one of
    # autoconv's own layers gets them as float Tensors unless it sets this (see _takes_integers).
    keeps_integer_inputs = False
    # Keras builds some layers when they are made (its `_build_at_init`: pooling, activation,
    # dropout and noise layers...); a model file then holds no build config for them.
    built_at_init = False
    # Keras locks a layer's state once its build has run: variables and sublayers that a
    # user's code adds later (a weight made in ``call``, ``layer.extra = Dense(2)``) are its
    # ValueError. Functional and Sequential models stay open, as Keras's.
    _locks_state = True
    # Keras's: only tensors (or None) may follow the inputs positionally, except in the data
    # layers that set this (preprocessing, augmentation, lookups, hashing, encoding).
    _allow_non_tensor_positional_args = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        # Keras's automatic config: a user's layer without a get_config of its own is
        # configured by the arguments it was made with (Keras's Layer's autocast too).
        layer = super().__new__(cls)
        # The lists that track what the layer holds exist before its __init__ runs: Keras
        # tracks the sublayers and variables a subclass sets before calling super().__init__().
        object.__setattr__(layer, "_layers", [])
        object.__setattr__(layer, "_trainable_variables", [])
        object.__setattr__(layer, "_non_trainable_variables", [])
        if (
            cls.get_config in DEFAULT_GET_CONFIGS
            and serialization.BUILTIN.get(cls.__name__) is not cls
        ):
            extra = {"autocast": True} if cls.__init__ is Layer.__init__ else {}
            layer._auto_config = serialization.auto_config(cls, args, kwargs, extra)
        return layer

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        activity_regularizer: Any = None,
        autocast: bool = True,
        **kwargs: Any,
    ) -> None:
        unknown = {k: v for k, v in kwargs.items() if k not in _ACCEPTED_KWARGS}
        if unknown:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {unknown}"
            )
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name} (of type {type(name)})"
            )
        self._inbound_nodes: list[Any] = []
        self._losses: list[Tensor] = []
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = _float_dtype(dtype, type(self).__name__)
        # Keras's autocast: whether a call casts its floating inputs to the layer's dtype (False:
        # float32 and float64 inputs reach ``call`` as they are)
        self.autocast = bool(autocast)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = type(self).built_at_init  # (Keras's: built when made; see _maybe_build)
        self._ready = False  # built, and its weights moved to the device it was built for
        self._build_shape: Shape | None = None
        self._input_shape_arg = _declared_input_shape(kwargs, type(self).__name__)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # As Keras: a subclass's build, however it is called (by the first call, by a model,
        # or by hand), runs in the layer's name scope and leaves the layer built; one that
        # defines compute_mask supports masking.
        super().__init_subclass__(**kwargs)
        if "compute_mask" in cls.__dict__ and "supports_masking" not in cls.__dict__:
            cls.supports_masking = True
        serialization.register_builtin(cls)
        if "build" in cls.__dict__:
            cls.build = _building(cls.__dict__["build"])
        if "compute_output_shape" in cls.__dict__:
            cls.compute_output_shape = _sizing(cls.__dict__["compute_output_shape"])

    # ---------------------------------------------------------------- tracking
    def __setattr__(self, name: str, value: Any) -> None:
        # Layers assigned as attributes (or in a list or tuple) are tracked as sublayers, so
        # their weights belong to this layer too (how a subclassed Model finds its layers).
        # Keras tracks private attributes too (a user's `self._dense = Dense(4)`); autoconv's
        # own layers keep internal ones in private attributes and order their sublayers
        # themselves, so a private attribute set by autoconv's code is not tracked.
        # A user's list or dict is Keras's tracked container: layers added to it later count.
        # A Variable a user's code sets (or puts in such a container) is the layer's weight,
        # as Keras's; autoconv's own layers list theirs themselves (add_weight).
        if "_layers" in self.__dict__:
            if isinstance(value, list | dict | tuple) and _set_by_user():
                value = tracked(value, self._track, self._untrack)
            elif isinstance(value, Variable):
                if _set_by_user():
                    self._track(value)
            elif not name.startswith("_") or _set_by_user():
                items = value if isinstance(value, list | tuple) else [value]
                if _set_by_user() and any(map(self._is_new_sublayer, items)):
                    self._check_state_open()
                for item in items:
                    self._track_sublayer(item)
        super().__setattr__(name, value)

    def _is_new_sublayer(self, value: Any) -> bool:
        return isinstance(value, Layer) and all(value is not t for t in self._layers)

    def _check_state_open(self) -> None:
        """Keras's ValueError for state a user's code adds to a layer whose build has run."""
        if self.__dict__.get("_state_locked"):
            raise ValueError(_STATE_LOCKED)

    def _lock_state(self) -> None:
        if self._locks_state:
            self._state_locked = True

    def _track_sublayer(self, value: Any) -> None:
        if isinstance(value, Layer) and all(value is not t for t in self._layers):
            self._layers.append(value)

    def _track(self, value: Any) -> None:
        """Track what a user's code gives the layer: a sublayer, or a Variable, appended to
        the layer's trainable or non-trainable variables by its flag (Keras's Tracker); not
        a view registered as a Variable (an optimizer's learning rate, a metric's state)."""
        if Variable not in type(value).__mro__:
            if self._is_new_sublayer(value):
                self._check_state_open()
            self._track_sublayer(value)
            return
        trainable, frozen = self._trainable_variables, self._non_trainable_variables
        if all(value is not v for v in trainable + frozen):
            self._check_state_open()
            (trainable if value.trainable else frozen).append(value)
            # (as add_weight's; a variable set before super().__init__() keeps its flag)
            value.trainable = value.trainable and self.__dict__.get("_trainable", True)

    def _untrack(self, value: Any) -> None:
        self._layers[:] = [t for t in self._layers if t is not value]
        for variables in (self._trainable_variables, self._non_trainable_variables):
            variables[:] = [v for v in variables if v is not value]

    def _output_shape_sizes(self, shapes: Any) -> Any:
        """What ``compute_output_shape`` gets for a call's ``shapes``, as Keras gives them:
        for a user's call on several tensors (``layer(x, y)``), the first one's where the
        method takes one shape, each by its call argument's name where it takes several
        (``compute_output_shape(self, x_shape, y_shape)``: a :class:`BuildShapes`);
        otherwise the shapes as they are."""
        cls = type(self)
        method = cls.compute_output_shape
        if (
            not isinstance(shapes, PositionalShapes)
            or _own_method(cls, "call")
            or method is Layer.compute_output_shape
        ):
            return shapes
        own = inspect.signature(getattr(method, "__wrapped__", method)).parameters
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                 inspect.Parameter.KEYWORD_ONLY)  # fmt: skip
        names = [name for name, p in own.items() if p.kind in kinds][1:]
        if len(names) == 1:
            return shapes[0]
        return _shapes_by_name(cls, "compute_output_shape", names, shapes) if names else shapes

    # ---------------------------------------------------------------- building
    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first)."""

    def compute_output_shape(self, input_shape: Any, **kwargs: Any) -> Any:
        """The output shape (batch axis first) for inputs of ``input_shape``. The default runs
        the layer once on zeros (batch size 1) to find out, with the call's plain keyword
        arguments (``block(x, height=h)`` in a functional graph), as Keras's symbolic call."""
        return dry_run_shape(self, input_shape, kwargs, rows=True)

    def _maybe_build(self, input_shape: Any, device: str | None = None) -> None:
        """Build the layer for inputs of ``input_shape`` unless it is built, its weights on
        ``device`` (by default :func:`autoconv.config.get_device`, as Keras makes variables on
        its default device). Threads calling an unbuilt layer at once wait for the one that
        builds it (``built`` turns true inside ``build``, before the weights are moved:
        ``_ready`` tells). A layer Keras builds when it is made (:attr:`built_at_init`) is
        ``built`` from the start, as Keras's, and still runs its ``build`` on its first input
        (which checks that input)."""
        if self._ready and self.built:
            return
        with building_lock:
            if not self.built or (self.built_at_init and self._build_shape is None):
                cls = type(self)
                # (an autoconv layer's call on a list, as MultiHeadAttention's eager one, with a
                # user's build(self, query_shape, value_shape): the list's shapes in order)
                listed = type(input_shape) is list and _own_method(cls, "call")
                if (
                    isinstance(input_shape, PositionalShapes)
                    or (listed and getattr(cls.build, "shape_names", ()))
                ) and not (_own_build(cls) and _own_method(cls, "call")):
                    # (a user's call on several tensors builds one of autoconv's builds, that
                    # of a Dense it subclasses, for the first: only autoconv's own calls on
                    # several tensors, MultiHeadAttention's, build theirs for the list)
                    # Keras's build of a call on several tensors: a user's build(self,
                    # input_shape) (or the default one) gets the first tensor's shape, and a
                    # build(self, x_shape, y_shape) each by its call argument's name
                    input_shape = _keras_build_shapes(cls, input_shape)
                try:
                    if isinstance(input_shape, BuildShapes):
                        self.build(**input_shape)
                    else:
                        self.build(input_shape)
                except ValueError as error:
                    raise ValueError(
                        f"Layer '{self.name}' ({type(self).__name__}): {error}"
                    ) from None
                self.built = True
                self._lock_state()
                if self._build_shape is None:  # (a layer without a build of its own)
                    self._build_shape = input_shape
                device = config.get_device() if device is None else device
                for variable in self.weights:
                    if variable.device != device:
                        variable.data = namespace(device).asarray(_host(variable.data))
                        variable.device = device
            self._ready = True

    def _build_by_run(self, input_shape: Any) -> None:
        """Keras's build of a user's layer without a ``build`` of its own that holds unbuilt
        layers (its own ``compute_output_shape`` ran no call): one run on zeros, or Keras's
        warning where the run fails (autoconv's layers build what they hold themselves)."""
        if self._builds_its_layers() or all(sub.built for sub in self._layers):
            return
        try:
            dry_run_shape(self, input_shape)
            self._warn_unbuilt_state()
        except Exception as error:  # (Keras's: the layer stays as it is)
            warnings.warn(
                f"Layer '{self.name}' looks like it has unbuilt state, but Keras is not able to "
                "trace the layer `call()` in order to build it automatically. Possible causes:\n"
                "1. The `call()` method of your layer may be crashing. Try to `__call__()` the "
                "layer eagerly on some test input first to see if it works. E.g. `x = "
                "np.random.random((3, 4)); y = layer(x)`\n2. If the `call()` method is "
                "correct, then you may need to implement the `def build(self, input_shape)` "
                "method on your layer. It should create all variables used by the layer (e.g. "
                "by calling `layer.build()` on all its children layers).\nException "
                f"encountered: ''{error}''",
                stacklevel=4,
            )

    def _builds_its_layers(self) -> bool:
        """Whether the layer has a ``build`` of its own, or is autoconv's (which builds what
        it holds itself)."""
        cls = type(self)
        return cls.build is not Layer.build or serialization.BUILTIN.get(cls.__name__) is cls

    def _warn_unbuilt_state(self) -> None:
        """Keras's warning of a user's layer without a ``build`` that still holds unbuilt
        layers once its first call has run (keras.io's gated residual network's ``project``,
        used only for inputs of another width): Keras's default ``build`` warns then."""
        if not self._builds_its_layers() and any(not sub.built for sub in self._layers):
            warnings.warn(
                f"`build()` was called on layer '{self.name}', however the layer does not have "
                "a `build()` method implemented and it looks like it has unbuilt state. This "
                "will cause the layer to be marked as built, despite not being actually built, "
                "which may cause failures down the line. Make sure to implement a proper "
                "`build()` method.",
                stacklevel=3,
            )

    def add_weight(
        self,
        shape: Sequence[int] = (),
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        name: str | None = None,
    ) -> Variable:
        """Create a weight of ``shape``, initialized by ``initializer`` (a name such as
        ``"glorot_uniform"``, an initializer object or a callable ``(shape, dtype)``), and
        track it. Trainable weights get gradients; non-trainable ones are updated by the
        layer itself (BatchNormalization's moving statistics). ``regularizer`` adds a penalty
        on the weight to the loss; ``constraint`` (anything :func:`autoconv.constraints.get`
        takes) projects the weight after each optimizer update."""
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if any(n is None for n in shape):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) cannot make its weight "
                f"{name or 'variable'} of shape {tuple(shape)}: it depends on an input size that "
                "is unknown (None); give the Input that size, or reduce the unknown axes first "
                "(e.g. with GlobalAveragePooling2D)"
            )
        shape = tuple(int(n) for n in shape)
        file_budget.take_weight(shape, name or "variable")
        dtype = python_dtype(dtype)
        if dtype is None:
            dtype = self.dtype
        elif _integer_dtype(dtype):  # (a Variable of its own kind, never trainable)
            dtype = np.dtype(getattr(dtype, "name", dtype)).name
        else:
            dtype = _float_dtype(dtype, self.name)
        init = initializers.get("glorot_uniform" if initializer is None else initializer)
        value = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        if value.shape != shape:
            raise ValueError(f"initializer gave shape {value.shape}, expected {shape}")
        name = name or unique_name("variable")  # Keras's: variable, variable_1, ... a session
        scopes = thread_state().scopes
        path = "/".join([*scopes, name]) if scopes else f"{self.name}/{name}"
        variable = Variable(value, dtype=dtype, trainable=trainable, name=name, path=path)
        variable.trainable = trainable and self._trainable
        variable.regularizer = regularizers.get(regularizer)
        variable.constraint = constraints.get(constraint)
        if not (caller == "autoconv" or caller.startswith("autoconv.")):
            self._check_state_open()  # (a user's weight after the build, its name taken)
        (self._trainable_variables if trainable else self._non_trainable_variables).append(variable)
        return variable

    # ------------------------------------------------------------------- calling
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The layer's computation (subclasses override it)."""
        return inputs

    def __call__(self, *args: Any, training: Any = _NOT_GIVEN, **kwargs: Any) -> Any:
        """Run the layer on arrays or Tensors (float arrays become Tensors of the layer's dtype,
        as Keras layers cast; integer and bool arrays stay as they are, as Keras's do, but for
        autoconv's own layers that compute on Tensors: see :func:`_takes_integers`), or record it
        in a functional graph when given symbolic tensors. The first argument may be given by
        its name in ``call`` (``layer(logits=x, targets=y)``)."""
        inputs, args = first_argument(self, args, kwargs)
        if args and not self._allow_non_tensor_positional_args:
            _check_positional_tensors(args)
        place = _training_place(type(self))
        if place is not None and len(args) > place:  # (``layer(x, None)``: Keras binds it so)
            if training is not _NOT_GIVEN or args[place] is not None:  # (Keras passes it on
                raise TypeError(  # by keyword too: keras.io's masking guide's model(x, y))
                    f"{type(self).__name__}.call() got multiple values for argument 'training'"
                )
            training, args = args[place], args[:place] + args[place + 1 :]
        if training is _NOT_GIVEN:
            if not args and _requires_training(type(self)):  # (Keras's binding of the call)
                raise TypeError("missing a required argument: 'training'")
            training = None
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, inputs, self.name)
        if is_symbolic(inputs):
            if training is not None:  # kept: the graph runs this call in that mode
                kwargs["training"] = training
            return symbolic_call(self, inputs, args, kwargs)
        previous_mask = kwargs.get("mask")
        dry_run = masks.attached and masked_dry_run(self, inputs, args)  # (warned: symbolic_call)
        if masks.attached:  # (until a mask exists, a call has none to look for)
            previous_mask = _call_masks(self, inputs, args, kwargs)
        # (A Tensor has no integers in it; the image layers' dicts keep their integer labels
        # as Keras's do, and make their integer images Tensors themselves.)
        if (
            _takes_integers(type(self))
            or isinstance(inputs, Tensor)
            or (isinstance(inputs, dict) and getattr(self, "keeps_integer_data", False))
        ):
            inputs = to_tensors(inputs, self.dtype, cast=getattr(self, "autocast", True))
        else:
            inputs = to_tensors(
                inputs,
                self.dtype,
                integer_device=integer_device_of(self),
                cast=getattr(self, "autocast", True),
            )
        first = not self.built
        shapes = _shapes(inputs)
        if args and not self.built and getattr(type(self).build, "shape_names", ()):
            shapes = PositionalShapes([shapes, *(_shapes(a) for a in args if _holds_tensors(a))])
        self._maybe_build(shapes, _device_of(inputs) or integer_device_of(self) or "cpu")
        takes_training, default = training_parameter(type(self))
        training = current_training(training, default)
        if takes_training:  # None only for a call whose default is None (a model's)
            kwargs["training"] = training
        with _Calling(self, training):
            outputs = self.call(inputs, *args, **kwargs)
            if self.activity_regularizer is not None:
                penalty = self.activity_regularizer(outputs)
                self.add_loss(penalty / outputs.shape[0] if outputs.ndim else penalty)
        if self.supports_masking:
            set_keras_mask(outputs, self.compute_mask(inputs, previous_mask))
        elif previous_mask is not None and not dry_run:
            warn_mask_dropped(self)
        if first:
            self._warn_unbuilt_state()
        return outputs

    # ------------------------------------------------------------------- masking
    # Keras's masks: a layer whose ``call`` takes ``mask`` is given the mask its input carries
    # (an Embedding(mask_zero=True)'s, a Masking's); one that supports masking attaches
    # ``compute_mask``'s result to its output, and one that does not drops it, with a warning.
    # Layers that override compute_mask support masking; others say so with this attribute.
    supports_masking = False
    # What the first argument of a call must be (an InputSpec, or one per input), checked
    # before each call, as Keras's; None: no check.
    input_spec: Any = None

    def compute_mask(self, inputs: Any, previous_mask: Any) -> Any:
        """The mask of the output (Keras's: the input's, passed on unchanged), 0/1 where kept."""
        return previous_mask

    # ------------------------------------------------------------------ dtypes
    @property
    def dtype_policy(self) -> DTypePolicy:
        """Keras's policy of the layer's dtype (float32 or float64: compute and weights)."""
        return DTypePolicy(self.dtype)

    @dtype_policy.setter
    def dtype_policy(self, value: Any) -> None:
        """Keras's setter (a policy, its name or entry): the dtype the layer will build its
        weights in and compute in. A built layer's weights keep their dtype, and autoconv's
        weights are in the dtype a layer computes in, so that is an error."""
        name = dtype_policies.get(value).name
        if self.built and self.weights and name != self.dtype:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: its dtype policy cannot change to "
                f"{name!r} once built (its weights are {self.dtype}); set it before the "
                "layer is built, or make the layer with dtype=" + repr(name)
            )
        self.dtype = _float_dtype(name, type(self).__name__)

    @property
    def compute_dtype(self) -> str:
        return self.dtype

    @property
    def variable_dtype(self) -> str:
        return self.dtype

    @property
    def input_dtype(self) -> str:
        """The dtype the layer's float inputs are cast to (its compute dtype), as Keras's."""
        return self.compute_dtype

    # ---------------------------------------------------------------- weights API
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def weights(self) -> list[Variable]:
        """Every weight, Keras's order: this layer's trainable-created, then its
        non-trainable-created, then each sublayer's."""
        seen: set[int] = set()
        weights = []
        for w in [
            *self._trainable_variables,
            *self._non_trainable_variables,
            *(w for layer in self._layers for w in layer.weights),
        ]:
            if id(w) not in seen:
                seen.add(id(w))
                weights.append(w)
        return weights

    variables = weights

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    non_trainable_variables = non_trainable_weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze the layer and its sublayers: a frozen weight gets no
        gradient and no update, and counts as non-trainable."""
        if bool(value) != self._trainable:
            _trainable_changed()
        self._trainable = bool(value)
        for variable in self._trainable_variables:
            variable.trainable = self._trainable
        for layer in self._layers:
            layer.trainable = self._trainable

    def get_weights(self) -> list[np.ndarray]:
        """The values of :attr:`weights` as NumPy arrays."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set :attr:`weights` from arrays in the same order (as :meth:`get_weights` gives)."""
        own = self.weights
        if len(own) != len(weights):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list "
                f"of length {len(weights)}, but the layer was expecting {len(own)} weights."
            )
        values = [np.asarray(v) for v in weights]
        for variable, value in zip(own, values, strict=True):
            if variable.shape != value.shape:
                raise ValueError(
                    f"Layer {self.name} weight shape {variable.shape} is not compatible with "
                    f"provided weight shape {value.shape}."
                )
        for variable, value in zip(own, values, strict=True):
            variable.assign(value)

    # The attributes holding the variables Keras's ``save_own_variables`` of this class stores
    # (Dense's kernel and bias, ...; one left unset or None is skipped), in order; None: all
    # the layer's own variables.
    _saved_variable_names: tuple[str, ...] | None = None

    def _saved_variables(self) -> list[Any]:
        """The variables :meth:`save_own_variables` stores as ``"0"``, ``"1"``, ...: the layer's
        own, those made trainable then the others, or those its class names (a subclass's
        variables of its own beside them not included, as Keras's; none before its build)."""
        if self._saved_variable_names is None:
            return [*self._trainable_variables, *self._non_trainable_variables]
        if not self.built:
            return []
        named = (getattr(self, name, None) for name in self._saved_variable_names)
        return [variable for variable in named if variable is not None]

    def save_own_variables(self, store: dict[str, Any]) -> None:
        """Keras's hook for a layer's part of a model file (its ``vars``): its variables
        (:meth:`_saved_variables`) as ``store["0"]``, ``store["1"]``, ... A layer that keeps
        more overrides it and :meth:`load_own_variables`."""
        for i, variable in enumerate(self._saved_variables()):
            store[f"{i}"] = variable

    def load_own_variables(self, store: Any) -> None:
        """Set the layer's variables from what :meth:`save_own_variables` stored (a mapping of
        ``"0"``, ``"1"``, ... to arrays), as Keras's: the store holds as many entries as the
        layer has own variables."""
        variables = [*self._trainable_variables, *self._non_trainable_variables]
        if len(store.keys()) != len(variables):
            if not variables and not self.built:
                raise ValueError(
                    f"Layer '{self.name}' was never built and thus it doesn't have any "
                    f"variables. However the weights file lists {len(store.keys())} variables "
                    "for this layer. Build it (its parent's build() or its own "
                    "build_from_config()) before loading its variables."
                )
            raise ValueError(
                f"Layer '{self.name}' expected {len(variables)} variables, but received "
                f"{len(store.keys())} variables during loading. Expected: "
                f"{[v.name for v in variables]}"
            )
        for i, variable in enumerate(self._saved_variables()):
            variable.assign(store[f"{i}"])

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't "
                "built. You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(w.size for w in self.weights))

    @property
    def metrics(self) -> list[Any]:
        """Keras's ``Layer.metrics``: the metrics the layer holds as attributes (or in a list,
        tuple or dict attribute), in the order they were set, then its sublayers' (a model's
        ``metrics``). autoconv's own layers hold none: only a user's classes are searched."""
        found: list[Any] = []
        user_class = not type(self).__module__.startswith("autoconv.")
        for value in vars(self).values() if user_class else ():
            if isinstance(value, Metric):
                held: Any = (value,)
            elif isinstance(value, list | tuple):
                held = value
            elif isinstance(value, dict):
                held = value.values()
            else:
                continue
            for item in held:
                if isinstance(item, Metric) and all(item is not m for m in found):
                    found.append(item)
        for layer in self._layers:
            found += layer.metrics
        return found

    @property
    def losses(self) -> list[Tensor]:
        """Regularization penalties, in Keras's order: the activity regularizers' (and
        ``add_loss``'s) of the last call, of this layer and its sublayers, then the weight
        regularizers' (computed now). As Keras's, only the trainable weights' regularizers
        count: a frozen layer's weights add no penalty."""
        penalties = [w.regularizer(w) for w in self.trainable_weights if w.regularizer is not None]
        return self._activity_losses() + penalties

    def _activity_losses(self) -> list[Tensor]:
        return [*self._losses, *(p for layer in self._layers for p in layer._activity_losses())]

    def _clear_losses(self) -> None:
        self._losses = []
        for layer in self._layers:
            layer._clear_losses()

    def _detach_losses(self) -> None:
        """Keep the last call's added losses cut from its graph: Keras's ``losses`` after a
        training or test step hold the step's values."""
        self._losses = [
            loss.detach() if isinstance(loss, Tensor) else loss for loss in self._losses
        ]
        for layer in self._layers:
            layer._detach_losses()

    def add_loss(self, loss: Tensor) -> None:
        """Add a penalty (a scalar Tensor) to the loss ``fit`` minimizes, for this call."""
        self._losses.append(loss)
        note_penalty(loss)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (``from_config``), with Keras's
        keys: its dtype as Keras's ``DTypePolicy``; a user's layer without a ``get_config``
        of its own has Keras's automatic config (the arguments it was made with)."""
        config: dict[str, Any] = {
            **serialization.config_head(self),
            "trainable": self.trainable,
            "dtype": serialization.dtype_policy(self.dtype),
        }
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = serialized(regularizers, self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer ``config`` describes: this class's own ``get_config``, or what Keras 3
        writes for it (:func:`autoconv.layers.serialization.keras_arguments`)."""
        return cls(**serialization.keras_arguments(cls, config))

    def get_build_config(self) -> dict[str, Any] | None:
        """``{"input_shape": ...}``, the shape the layer was built for, or None (Keras's: also
        for a layer Keras builds when it is made, :attr:`built_at_init`); Keras's
        ``{"shapes_dict": {}}`` for a user's ``build(self)`` that takes no shape."""
        if not self.built or self.built_at_init:
            return None
        if not getattr(type(self).build, "takes_shape", True):
            return {"shapes_dict": {}}
        if self._build_shape is None:
            return None
        if isinstance(self._build_shape, BuildShapes):  # a build(self, x_shape, y_shape)
            return {"shapes_dict": {k: _as_tuples(v) for k, v in self._build_shape.items()}}
        return {"input_shape": _as_tuples(self._build_shape)}

    def build_from_config(self, config: dict[str, Any]) -> None:
        """Build the layer for ``config["input_shape"]`` (a :meth:`get_build_config`), or,
        given Keras's ``{"shapes_dict": {}}`` of a ``build(self)`` that takes no shape, build
        it without one."""
        shape = config.get("input_shape")
        shapes = config.get("shapes_dict")
        if shape is not None:
            self._maybe_build(_as_tuples(shape))
            self._warn_unbuilt_state()  # Keras's default build, which loading calls, warns
        elif shapes == {} and not getattr(type(self).build, "takes_shape", True):
            self._maybe_build(None)
        elif shapes and getattr(type(self).build, "shape_names", ()):
            self._maybe_build(BuildShapes({k: _as_tuples(v) for k, v in shapes.items()}))

    @property
    def input_shape(self) -> Shape | None:
        """The batch-first input shape the layer was built for (None before)."""
        return self._build_shape

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call in a functional graph: its one tensor,
        or the list of every tensor the call read (a layer called on a list, or with several
        tensor arguments, as ``attention(query, value)``)."""
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has never been called and thus has no input")
        node = self._inbound_nodes[0]
        return list(node.inputs) if node.list_call or len(node.inputs) > 1 else node.inputs[0]

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call in a functional graph (a list for a
        call with several outputs)."""
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has never been called and thus has no output")
        outputs = self._inbound_nodes[0].outputs
        return list(outputs) if len(outputs) > 1 else outputs[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


DEFAULT_GET_CONFIGS.add(Layer.get_config)


# ------------------------------------------------------------------------------ helpers
def _building(build: Callable[..., None]) -> Callable[..., None]:
    """``build`` in the layer's name scope, once: a subclass's build that calls
    ``super().build()`` runs the base class's in the scope already open (its weights are
    ``layer/kernel``, as Keras names them, not ``layer/layer/kernel``). A ``build(self)``
    that takes no shape is called without one, as Keras calls it: one with only ``*args``
    or ``**kwargs`` after ``self`` too (keras.io's vocal track separation's
    ``build(self, *_)``), as Keras's ``update_shapes_dict_for_target_fn`` names no shape."""
    named = list(inspect.signature(build).parameters.values())[1:]
    takes_shape = any(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in named)

    def run(self: Layer, input_shape: Any, args: tuple, kwargs: dict[str, Any]) -> None:
        if takes_shape:
            build(self, input_shape, *args, **kwargs)
        else:
            build(self)

    def wrapper(self: Layer, input_shape: Any = None, *args: Any, **kwargs: Any) -> None:
        if input_shape is None and not args and kwargs and set(kwargs) <= set(shape_names):
            # build(x_shape=..., y_shape=...): Keras's build by the call arguments' names
            input_shape, kwargs = BuildShapes(kwargs), {}
        if shape_names and args and len(args) < len(shape_names):  # build(x_shape, y_shape)
            input_shape = BuildShapes(zip(shape_names, (input_shape, *args), strict=False))
        if isinstance(input_shape, BuildShapes):
            args, kwargs = (), {**input_shape}
            input_shape = kwargs.pop(shape_names[0], None)
            if self._build_shape is None:
                self._build_shape = BuildShapes({shape_names[0]: input_shape, **kwargs})
        if self._build_shape is None:
            self._build_shape = input_shape
        if self.__dict__.get("_in_build"):
            run(self, input_shape, args, kwargs)
            return
        self._in_build = True
        try:
            with name_scope(self.name):
                run(self, input_shape, args, kwargs)
        finally:
            self._in_build = False
        self.built = True
        self._lock_state()

    wrapper.__doc__, wrapper.__name__ = build.__doc__, build.__name__
    wrapper.takes_shape = takes_shape  # (get_build_config: Keras's record of a shapeless build)
    parameters = list(inspect.signature(build).parameters.values())[1:]
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    # Keras's build(self, x_shape, y_shape) of a user's layer: the shapes by the call
    # arguments' names (autoconv's own layers take a call's several shapes as their list)
    by_names = len(names) > 1 and all(n.endswith("_shape") for n in names)
    shape_names = names if by_names and not build.__module__.startswith("autoconv.") else []
    wrapper.shape_names = tuple(shape_names)
    return wrapper


class BuildShapes(dict):
    """A call's tensor shapes by its arguments' names (``{"x_shape": ..., "y_shape": ...}``),
    for a user's ``build(self, x_shape, y_shape)``, as Keras builds it (and records it in the
    build config's ``shapes_dict``)."""


def _own_build(cls: type) -> bool:
    """Whether the ``build`` ``cls`` uses is one of autoconv's own layers' (not the base
    Layer's default, nor a user's): those take a call's several shapes as their list."""
    return _own_method(cls, "build")


def _own_method(cls: type, name: str) -> bool:
    """Whether the method ``name`` that ``cls`` uses is one of autoconv's own layers' (not
    the base Layer's, nor a user's)."""
    owner = next(c for c in cls.__mro__ if name in c.__dict__)
    return owner is not Layer and owner.__module__.startswith("autoconv.")


def _keras_build_shapes(cls: type, shapes: PositionalShapes) -> Any:
    """What Keras builds a user's layer with for a call on several positional tensors: for a
    ``build(self, x_shape, y_shape)``, each shape by its call argument's name (a
    :class:`BuildShapes`); otherwise the first tensor's shape."""
    names = getattr(cls.build, "shape_names", ())
    if not names:
        return shapes[0]
    if _own_method(cls, "call"):  # (MultiHeadAttention's call takes its tensors as a list)
        return BuildShapes(zip(names, shapes, strict=False))
    return _shapes_by_name(cls, "build", names, shapes)


def _shapes_by_name(
    cls: type, method: str, names: Sequence[str], shapes: PositionalShapes
) -> BuildShapes:
    """A call's positional tensors' ``shapes`` as ``method`` (``build``,
    ``compute_output_shape``) takes them by its parameters' ``names``: each ``<argument of
    call>_shape``, as Keras's ``update_shapes_dict_for_target_fn`` (its ValueError for a name
    that is not one)."""
    arguments = [n for n in inspect.signature(cls.call).parameters][1:]
    unknown = [n for n in names if not n.endswith("_shape") or n[:-6] not in arguments]
    if unknown:
        raise ValueError(
            f"For a `{method}()` method with more than one argument, all arguments should have "
            f"a `_shape` suffix and match an argument from `call()`. E.g. `{method}(self, "
            f"foo_shape, bar_shape)`; `call()` has arguments {arguments}, not one for "
            f"{unknown}"
        )
    # (an argument the call was not given a tensor for keeps the method's default)
    given = {f"{name}_shape": shape for name, shape in zip(arguments, shapes, strict=False)}
    return BuildShapes({n: given[n] for n in names if n in given})


# Two sizes that stand in for an unknown (None) size: an output size that changes with them is
# unknown too (a stride above their spread can map both to one size: the window layers keep
# None themselves, windows.unknown_kept). Where a layer refuses them (a ValueError: a
# sequence longer than its position embedding's table), small ones are tried next.
PROBE_SIZES = ((257, 263), (5, 7), (2, 3))


def _sizing(compute_output_shape: Callable[..., Any], native: bool = True) -> Callable[..., Any]:
    """Let ``compute_output_shape`` take unknown sizes (None after the batch axis, as
    ``Input(shape=(None, None, 3))`` gives). Unless the layer's own method handles None
    (``native``, tried first: it raises TypeError on None arithmetic when it does not), it runs
    with each probe size in their place, and an output size that differs between the two runs
    is None. A call's ``options`` (``return_attention_scores=True``) are passed on."""

    def wrapper(self: Layer, *shapes: Any, **options: Any) -> Any:
        if not shapes and "input_shape" in options:
            shapes = (options.pop("input_shape"),)
        if len(shapes) != 1:  # (a user's method of several shapes, called by a user)
            return compute_output_shape(self, *shapes, **options)
        input_shape = shapes[0]
        if isinstance(input_shape, BuildShapes):  # each shape by its name (Keras's)
            return compute_output_shape(self, **input_shape)
        if not _has_unknown(input_shape):
            return compute_output_shape(self, input_shape, **options)
        if native:
            try:
                return compute_output_shape(self, input_shape, **options)
            except TypeError:
                pass
        else:  # the default: Keras's symbolic call, where the layer's call can run on one
            traced = _traced_shape(self, input_shape, options)
            if traced is not None:
                return traced
        errors = []
        for sizes in PROBE_SIZES:
            try:
                first, second = (compute_output_shape(self, _filled(input_shape, size), **options)
                                 for size in sizes)  # fmt: skip
                return _merged(first, second)
            except ValueError as error:
                errors.append(error)
        raise errors[0]

    wrapper.__doc__ = compute_output_shape.__doc__
    wrapper.__name__ = compute_output_shape.__name__
    wrapper.__wrapped__ = compute_output_shape  # (its own parameters, as Keras reads them)
    return wrapper


# the default, a dry run, would read an unknown size as 1: always probed
Layer.compute_output_shape = _sizing(Layer.compute_output_shape, native=False)


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, tuple | list) and all(n is None or is_int(n) for n in shape)


def _has_unknown(shape: Any) -> bool:
    if _is_shape(shape):
        return None in tuple(shape)[1:]
    return isinstance(shape, list | tuple) and any(_has_unknown(s) for s in shape)


def _filled(shape: Any, size: int) -> Any:
    if _is_shape(shape):
        return (shape[0], *(size if n is None else n for n in tuple(shape)[1:]))
    return [_filled(s, size) for s in shape]


def _merged(first: Any, second: Any) -> Any:
    if _is_shape(first):
        return tuple(a if a == b else None for a, b in zip(first, second, strict=True))
    return [_merged(a, b) for a, b in zip(first, second, strict=True)]


def serialized(module: Any, item: Any) -> Any:
    """``module.serialize(item)`` for a layer's config (None stays None); a user's function
    as Keras's function entry (:func:`serialization.function_entry`: a lambda cannot be
    saved, a NotImplementedError)."""
    if item is None:
        return None
    try:
        return module.serialize(item)
    except (AttributeError, ValueError):
        family = module.__name__.rsplit(".", 1)[-1]
        return serialization.function_entry(item, family)


def _float_dtype(dtype: Any, owner: str) -> str:
    """``dtype`` checked, or the global dtype policy's (``config.floatx()`` unless
    ``config.set_dtype_policy`` set another) when None, as Keras's."""
    if dtype is None:
        return dtype_policies.dtype_policy().name
    name = getattr(dtype, "name", serialization.dtype_name(dtype))
    if isinstance(dtype, type) and issubclass(dtype, np.generic):  # np.float64, as Keras's
        name = np.dtype(dtype).name
    if name == "string":  # Keras's Input(dtype="string") of an end-to-end text model
        raise ValueError(
            f"{owner}: dtype 'string' is not supported: autoconv models take numbers, not "
            "strings. Apply TextVectorization (or StringLookup) to the strings in a "
            "`Dataset.map` (or on arrays) and give the model its integer output, e.g. "
            "Input(shape=(sequence_length,), dtype='int64')"
        )
    if name not in ("float32", "float64"):
        why = "autoconv's layers compute in floats; integer inputs reach them as they are"
        if dtype_policies.integer_dtype(str(name)) is None:
            why = "autoconv has no mixed precision"
        raise ValueError(f"{owner}: dtype must be 'float32' or 'float64' ({why}), got {dtype!r}")
    return str(name)


def _declared_input_shape(kwargs: dict[str, Any], owner: str) -> Shape | None:
    """The batch-first input shape given as ``input_shape=``, ``batch_input_shape=`` or
    ``input_dim=`` (Keras's ways to give the first layer of a Sequential its input)."""
    if kwargs.get("batch_input_shape") is not None:
        return tuple(kwargs["batch_input_shape"])
    shape = kwargs.get("input_shape")
    if shape is None and kwargs.get("input_dim") is not None:
        shape = (kwargs["input_dim"],)
    if shape is None:
        return None
    warnings.warn(  # Keras's words (its Layer.__init__)
        "Do not pass an `input_shape`/`input_dim` argument to a layer. When using Sequential "
        "models, prefer using an `Input(shape)` object as the first layer in the model instead.",
        stacklevel=4,
    )
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        dims = tuple(None if n is None else int(n) for n in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: input_shape must be a tuple of ints, got {shape!r}") from None
    if any(n is not None and n < 1 for n in dims):
        raise ValueError(f"{owner}: input_shape must have positive sizes, got {shape!r}")
    return (kwargs.get("batch_size"), *dims)


def _host(array: Any) -> np.ndarray:
    return namespace(array_device(array)).to_numpy(array)


def _as_tuples(shape: Any) -> Any:
    """A shape as Keras keeps it (and from JSON): a tuple of sizes, or a list of tuples."""
    if not isinstance(shape, list | tuple):
        return shape
    if (
        isinstance(shape, list | tuple)
        and shape
        and all(isinstance(n, list | tuple) for n in shape)
    ):
        return [tuple(n) for n in shape]
    return tuple(shape)


KEEP = "keep"  # to_tensors's integer_device that keeps integer arrays as they are


def to_tensors(
    inputs: Any,
    dtype: str,
    device: str | None = None,
    integer_device: str | None = KEEP,
    cast: bool = True,
) -> Any:
    """Arrays and Tensors as Tensors of a layer's ``dtype`` (Keras casts a layer's floating
    inputs; ``cast=False``, a layer's ``autocast=False``: float32 and float64 ones keep their
    dtype). Integer and bool NumPy arrays (and Python ints) stay as they are, as Keras keeps
    their dtype (token ids, indices: the ops take them as they are), unless an
    ``integer_device`` is given: then they become Tensors of ``dtype`` there too (None: the
    host). NumPy float arrays go to ``device`` where one is given (a model's: Keras moves its
    inputs there); Tensors and GPU arrays stay where they are."""
    if is_integer(inputs):
        if integer_device == KEEP:
            return inputs
        return Tensor(np.asarray(inputs), dtype=dtype, device=integer_device)
    if isinstance(inputs, Tensor):
        from autoconv.ops.engine import cast as cast_to

        return cast_to(inputs, dtype) if cast else inputs
    if isinstance(inputs, list | tuple):
        return type(inputs)(to_tensors(x, dtype, device, integer_device, cast) for x in inputs)
    if isinstance(inputs, dict):
        return {k: to_tensors(v, dtype, device, integer_device, cast) for k, v in inputs.items()}
    if array_device(inputs) == "cuda":
        return Tensor(inputs, dtype=dtype if cast else None)
    array = np.asarray(inputs)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"layer inputs must be numeric arrays, got dtype {array.dtype}")
    return Tensor(array, dtype=dtype if cast or array.dtype.kind != "f" else None, device=device)


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer or bool NumPy array or scalar, or a Python int."""
    if isinstance(value, np.ndarray | np.generic):
        return value.dtype.kind in "biu"
    return isinstance(value, int)


_integer_classes: dict[type, bool] = {}


def _takes_integers(cls: type) -> bool:
    """Whether layers of ``cls`` get integer and bool arrays as they are (Keras's rule): those
    whose ``call`` is a user's, and autoconv's own that say so (``keeps_integer_inputs``: the
    layers that read indices, and Lambda). autoconv's others compute on Tensors and get them
    as float Tensors. (The lookup, hashing and encoding layers take arrays on the host in their
    own ``__call__``.)"""
    if cls not in _integer_classes:
        owner = next(c for c in cls.__mro__ if "call" in c.__dict__)
        own = owner.__module__.startswith("autoconv.")
        _integer_classes[cls] = not own or cls.keeps_integer_inputs
    return _integer_classes[cls]


def takes_as_given(layer: Layer, value: Any) -> bool:
    """Whether ``value`` reaches ``layer`` as it is: an integer or bool array, for a layer
    that takes them (see :func:`_takes_integers`)."""
    return is_integer(value) and _takes_integers(type(layer))


def integer_device_of(layer: Layer) -> str | None:
    """Where one of autoconv's own layers takes integer arrays, as float Tensors (and where a
    layer called on integer arrays alone is built): a model's on its device (``Model.device``,
    where Keras moves its inputs); a layer called inside another layer's call (a model's) on
    the default device, where models make their layers; a layer called directly on the host,
    as float arrays are."""
    device = getattr(layer, "device", None)
    if device is None and thread_state().depth:
        return config.get_device()
    return device


def _shapes(inputs: Any) -> Any:
    if isinstance(inputs, list | tuple):
        return [_shapes(x) for x in inputs]
    if isinstance(inputs, dict):
        return {k: _shapes(v) for k, v in inputs.items()}
    return tuple(inputs.shape) if hasattr(inputs, "shape") else ()


def _device_of(inputs: Any) -> str | None:
    """The device of the first Tensor in ``inputs``; None when they hold none."""
    if isinstance(inputs, Tensor):
        return inputs.device
    if not isinstance(inputs, list | tuple | dict):
        return None
    values = inputs.values() if isinstance(inputs, dict) else inputs
    return next((d for d in map(_device_of, values) if d is not None), None)


_training_parameters: dict[type, tuple[bool, bool | None]] = {}


_mask_parameters: dict[type, tuple[bool, tuple[str, ...]]] = {}


def mask_parameter(cls: type) -> tuple[bool, tuple[str, ...]]:
    """Whether ``cls.call`` has a ``mask`` parameter, and its parameters' names in order."""
    if cls not in _mask_parameters:
        names = tuple(inspect.signature(cls.call).parameters)[1:]
        _mask_parameters[cls] = ("mask" in names, names)
    return _mask_parameters[cls]


def _call_masks(layer: Layer, inputs: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Keras's mask arguments of a call, filled in ``kwargs`` where the call takes them and
    was given none: ``mask`` from the one tensor argument's mask; with several tensor
    arguments, each ``<argument>_mask`` from that argument's. Returns the previous mask the
    output's is computed from: the ``mask`` given, else the first argument's."""
    previous = keras_mask(inputs)
    others = [v for v in args if _is_tensors(v)]
    others += [v for k, v in kwargs.items() if k != "mask" and _is_tensors(v)]
    takes_mask, names = mask_parameter(type(layer))
    if not others:
        if takes_mask and kwargs.get("mask") is None and previous is not None:
            kwargs["mask"] = previous
    elif previous is not None or any(keras_mask(v) is not None for v in others):
        for name, value in (dict(zip(names, (inputs, *args), strict=False)) | kwargs).items():
            mask = keras_mask(value) if _is_tensors(value) else None
            if mask is not None and f"{name}_mask" in names and kwargs.get(f"{name}_mask") is None:
                kwargs[f"{name}_mask"] = mask
    given = kwargs.get("mask")
    return previous if given is None else given


def _holds_tensors(value: Any) -> bool:
    """Whether a call argument is data (an array or a Tensor, or a list or tuple of them)."""
    if isinstance(value, list | tuple):
        return bool(value) and all(_holds_tensors(v) for v in value)
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _is_tensors(value: Any) -> bool:
    """Whether a call argument is a tensor, or a list or tuple of them (Keras's tensor
    arguments: a NumPy array is one too, as Keras's call makes it a tensor first)."""
    if isinstance(value, list | tuple):
        return bool(value) and all(isinstance(v, Tensor | np.ndarray) for v in value)
    return isinstance(value, Tensor | np.ndarray)


def first_argument(layer: Layer, args: tuple, kwargs: dict[str, Any]) -> tuple[Any, tuple]:
    """(the inputs, the other positional arguments) of a call: the first positional argument,
    or the one named as ``call``'s first parameter (taken out of ``kwargs``), as Keras binds a
    call's arguments to ``call``'s signature."""
    if args:
        return args[0], args[1:]
    cls = type(layer)
    if cls not in _first_parameters:
        parameters = list(inspect.signature(cls.call).parameters)
        _first_parameters[cls] = parameters[1] if len(parameters) > 1 else None
    name = _first_parameters[cls]
    if name is None or name not in kwargs:
        raise TypeError(
            f"{cls.__name__}.__call__() missing its first argument "
            f"({name!r}, the inputs of {cls.__name__}.call)"
        )
    return kwargs.pop(name), ()


_first_parameters: dict[type, str | None] = {}


def _check_positional_tensors(args: tuple) -> None:
    """Keras's rule for a call's positional arguments after the inputs: tensors (arrays, None)
    only; a plain value such as ``training`` or a size goes by keyword
    (``layer(x, training=True)``, ``block(x, height=h)``), else Keras's ValueError."""
    for arg in tree.flatten(list(args)):
        if not (
            arg is None or isinstance(arg, Tensor | SymbolicTensor) or hasattr(arg, "__array__")
        ):
            raise ValueError(
                "Only input tensors may be passed as positional arguments. The following "
                f"argument value should be passed as a keyword argument: {arg} (of type "
                f"{type(arg)})"
            )


def training_parameter(cls: type) -> tuple[bool, bool | None]:
    """Whether ``cls.call`` has a ``training`` parameter (Keras passes it only then), and its
    default."""
    if cls not in _training_parameters:
        parameter = inspect.signature(cls.call).parameters.get("training")
        if parameter is None:
            _training_parameters[cls] = (False, None)
        else:
            default = None if parameter.default is parameter.empty else parameter.default
            _training_parameters[cls] = (True, default)
    return _training_parameters[cls]


def _training_place(cls: type) -> int | None:
    """Where ``cls.call``'s ``training`` parameter stands among the positional arguments after
    the inputs (None where it takes none, or only by keyword): a value given there is the
    call's ``training``, as Keras binds the call's arguments."""
    parameters = list(inspect.signature(cls.call).parameters.values())[2:]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for place, parameter in enumerate(parameters):
        if parameter.kind not in positional:
            return None
        if parameter.name == "training":
            return place
    return None


def _requires_training(cls: type) -> bool:
    """Whether ``cls.call`` has a ``training`` parameter without a default: Keras binds a call
    to it before it fills ``training`` in, so a call that gives none is a TypeError."""
    parameter = inspect.signature(cls.call).parameters.get("training")
    return parameter is not None and parameter.default is parameter.empty


def _required_positional(cls: type) -> int:
    """How many tensor arguments ``cls.call`` requires: its positional ones without a default
    (but ``training`` and ``mask``, which Layer.__call__ gives)."""
    parameters = list(inspect.signature(cls.call).parameters.values())[1:]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(
        p.kind in positional and p.default is p.empty and p.name not in ("training", "mask")
        for p in parameters
    )


def dry_run_shape(
    layer: Layer, input_shape: Any, options: dict[str, Any] | None = None, rows: bool = False
) -> Any:
    """The output shape of ``layer`` found by calling it on zeros (of the input's batch size, 1
    where it is unknown; unknown sizes 1), in inference mode (or the mode its ``call``'s
    ``training`` defaults to), on the device of its weights, with
    NumPy's floating-point warnings off (Keras's symbolic call computes no values to warn of)
    and its assignments to variables dropped (Keras's runs in a stateless scope). A
    known batch size gives the output's batch axis as the call makes it (Keras's symbolic call
    keeps it); an unknown one comes back as None, but (with ``rows``) an output's first axis
    that is the same for a batch of 2 (a sum over 4 segments, or into one row: Keras's symbolic
    call finds it the same for its two stand-in batch sizes, and keeps it)."""

    def zeros(shape: Any, batch: int) -> Any:
        if isinstance(shape, list):
            return [zeros(s, batch) for s in shape]
        if isinstance(shape, dict):
            return {key: zeros(s, batch) for key, s in shape.items()}
        dims = tuple(1 if n is None else n for n in shape)
        if shape and shape[0] is None:
            dims = (batch, *dims[1:])
        device = layer.weights[0].device if layer.built and layer.weights else "cpu"
        return Tensor(np.zeros(dims, layer.dtype), device=device)

    # (the mode the call was given, else the one a call given none runs in, as Keras's symbolic
    # call: its ``training``'s default, ``call(self, audio, training=True)`` in keras.io's
    # MelGAN, else inference)
    default = training_parameter(type(layer))[1]
    training = current_training(None, default if isinstance(default, bool) else False)

    def run(batch: int) -> tuple[list[Any], bool]:
        inputs = zeros(input_shape, batch)
        # Zeros are no user's data: a division of them (a ratio of two features) warns of nothing.
        with no_grad(), np.errstate(all="ignore"), stateless():
            if isinstance(input_shape, PositionalShapes) or (
                isinstance(inputs, list) and len(inputs) == _required_positional(type(layer)) > 1
            ):
                out = layer(*inputs, training=training, **(options or {}))  # several: layer(a, b)
            else:
                out = layer(inputs, training=training, **(options or {}))
        layer._clear_losses()
        several = isinstance(out, list | tuple)
        return (list(out) if several else [out]), several

    known = _batch_size(input_shape) is not None
    unbuilt = [] if known else [sub for sub in _sublayers(layer) if not sub.built]
    outs, several = run(1)
    for sub in unbuilt:  # built on the zeros' batch of 1: Keras's symbolic call leaves it None
        if sub.built and sub._build_shape is not None:
            sub._build_shape = _unknown_batch(sub._build_shape)
    if known:
        shapes = [o.shape for o in outs]
    else:
        firsts = [o.shape[0] if rows and o.shape else None for o in outs]
        if any(n is not None for n in firsts):
            try:
                again = [o.shape[:1] for o in run(2)[0]]
            except Exception:  # (a call that takes one row alone: the rows stay unknown)
                again = [()] * len(outs)
            firsts = [n if (n,) == a else None for n, a in zip(firsts, again, strict=True)]
        # (a scalar has no batch axis: Keras's symbolic call gives it shape ())
        shapes = [(n, *o.shape[1:]) if o.shape else () for n, o in zip(firsts, outs, strict=True)]
    return shapes if several else shapes[0]


def _traced_shape(layer: Layer, input_shape: Any, options: dict[str, Any]) -> Any:
    """``layer``'s output shape from its call traced on symbolic tensors, called as
    :func:`dry_run_shape` calls it (None where it cannot be: :mod:`shape_trace`)."""
    takes_training, default = training_parameter(type(layer))
    training = current_training(None, default if isinstance(default, bool) else False)
    kwargs = {**options, "training": training} if takes_training else dict(options)
    spread = isinstance(input_shape, PositionalShapes) or (
        type(input_shape) is list and len(input_shape) == _required_positional(type(layer)) > 1
    )
    return shape_trace.traced_shape(layer, input_shape, kwargs, training, spread)


def _sublayers(layer: Layer) -> list[Layer]:
    """Every layer ``layer`` holds, at any depth."""
    return [found for sub in layer._layers for found in [sub, *_sublayers(sub)]]


def _unknown_batch(shape: Any) -> Any:
    """A build shape of a dry run's batch of 1 with that batch unknown (None), in dicts and
    lists of shapes too."""
    if isinstance(shape, dict):
        return {key: _unknown_batch(s) for key, s in shape.items()}
    if isinstance(shape, list | tuple) and shape and isinstance(shape[0], list | tuple | dict):
        return type(shape)(_unknown_batch(s) for s in shape)
    if isinstance(shape, list | tuple) and shape and shape[0] == 1:
        return (None, *shape[1:])
    return shape


def _batch_size(shape: Any) -> int | None:
    """The batch size of an input shape (of its first tensor's, for several), None unknown."""
    if isinstance(shape, dict):
        shape = [shape[key] for key in sorted(shape)]
    while shape and isinstance(shape[0], tuple | list):
        shape = shape[0]
    return shape[0] if shape else None
