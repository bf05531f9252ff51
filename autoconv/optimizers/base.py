"""The optimizer base class: Keras 3's ``BaseOptimizer`` (keras/src/optimizers/base_optimizer.py)
on autoconv Tensors, with each parameter's whole update fused into one kernel of its device.

What one step does, in Keras's order, for every parameter that has a gradient:

1. clip the gradients: by ``clipnorm`` (each gradient to that L2 norm), or ``global_clipnorm``
   (all gradients together), or ``clipvalue`` (each element into [-clipvalue, clipvalue]);
2. decay the weight: w <- w - w * weight_decay * lr (decoupled, as AdamW; every optimizer);
3. the optimizer's own update (``update_step`` in Keras);

then (after the wrappers below) each parameter that has a ``constraint`` (a layer's weight made
with ``add_weight(constraint=...)``, see :mod:`autoconv.constraints`) is set to
``constraint(parameter)`` in place, as Keras's ``apply`` does, and ``iterations`` += 1.
``lr`` is the learning rate of this step: a float, or a schedule evaluated at ``iterations``
(the number of steps done before it). The factor of clipping by norm is computed on the
device (``clip_scale``), and 2 and 3 run in one kernel over every parameter (the backends'
``*_update``, given lists), so a step never reads a value back to the host, and on the GPU
launches one kernel for its update.

Keras's two wrappers of those updates, each a pass of its own per parameter:

- ``gradient_accumulation_steps=n``: a step whose ``iterations + 1`` is not a multiple of n
  only adds its gradients into each parameter's ``gradient_accumulator`` slot; the n-th
  updates with (gradient + accumulator) / n (then clipped, decayed, ...) and zeroes the
  accumulator. The update rules then count updates, ``iterations // n``
  (:attr:`Optimizer.update_iterations`, Keras's ``iterations`` property); the learning rate
  schedule still sees every step.
- ``use_ema=True``: after every step, each weight's ``average`` slot becomes
  ema_momentum * average + (1 - ema_momentum) * weight (the weight itself while no update
  was done), and every ``ema_overwrite_frequency`` updates the weights take their averages;
  ``finalize_variable_values`` (which fit calls at its end, as Keras's) does it once more.

A skipped step. The training loop passes ``status`` (the backends' ``new_status``): once it
is set (a loss or gradient went non-finite), every update kernel does nothing, nor is a
constraint's value written back, so the weights and slots stay those of the last good step.
Only ``iterations``, counted on the host, moves on: when the loop reads the status back and
learns that its last ``n`` steps were skipped, it calls ``optimizer.discard_steps(n)``, and
the saved state (weights, slots, iterations) is again that of the last good step.

(Over ~600 lines on purpose: Keras's ``BaseOptimizer`` is one class, and the parts of a step are
kept in its order in one place.)
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from autoconv import naming
from autoconv.backends import array_device, namespace, rules
from autoconv.host_array import host_array
from autoconv.optimizers import schedules
from autoconv.optimizers.scalar_variables import IterationVariable, LearningRateVariable
from autoconv.optimizers.variables import optimizer_variables
from autoconv.tensor import Tensor, no_grad
from autoconv.windows import is_int


def check_number(
    owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf,
    high_open: bool = False, low_open: bool = False,
) -> float:  # fmt: skip
    """``value`` as a float if it is a real number in the range, else a ValueError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{owner}: `{name}` must be a number in {interval}, got {value!r}")
    return value


def check_count(owner: str, name: str, value: Any) -> int:
    """``value`` (an int, a 0-d integer array or an iteration variable) as an int >= 0, else a
    ValueError."""
    number = np.asarray(value)
    if number.ndim != 0 or number.dtype.kind not in "iu" or number < 0:
        raise ValueError(f"{owner}: `{name}` must be an int >= 0, got {value!r}")
    return int(number)


class Optimizer:
    """Base class: the learning rate (a float or a schedule), ``iterations``, clipping and
    weight decay, and per-parameter slot arrays.

    ``slots`` is a list of dicts, one per parameter in the order the optimizer was built
    with, mapping each of ``slot_names`` to an array on the parameter's device, of the shape
    :meth:`slot_shape` gives (the parameter's, unless an optimizer says otherwise).
    Subclasses set ``slot_names`` (and ``initial_slot_values`` where a slot does not start at
    0), and define :meth:`update` with their backend kernel.
    """

    slot_names: tuple[str, ...] = ()
    initial_slot_values: Mapping[str, float] = MappingProxyType({})

    def __init__(
        self,
        learning_rate: float | schedules.LearningRateSchedule | Callable[[], float],
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=2
            )
        if kwargs:
            raise ValueError(f"{owner}: argument(s) not recognized: {kwargs}")
        if loss_scale_factor is not None:  # Keras's, for mixed precision, which autoconv lacks
            raise ValueError(
                f"{owner}: `loss_scale_factor={loss_scale_factor!r}` is not supported by "
                "autoconv (Keras's default, None, is)"
            )
        if gradient_accumulation_steps and (
            not is_int(gradient_accumulation_steps) or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                f"{owner}: `gradient_accumulation_steps` must be an integer >= 2. Received: "
                f"gradient_accumulation_steps={gradient_accumulation_steps}"
            )
        if use_ema:
            check_number(owner, "ema_momentum", ema_momentum, 0.0, 1.0)
            if ema_overwrite_frequency and (
                not is_int(ema_overwrite_frequency) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    f"{owner}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency}"
                )
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clips.values()) > 1:
            raise ValueError(
                f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        for argument, value in clips.items():
            if value is not None:
                check_number(owner, argument, value)
        if weight_decay is not None:
            check_number(owner, "weight_decay", weight_decay)
        self.name = naming.unique_name(naming.to_snake_case(owner)) if name is None else name
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._iterations = 0
        self.slots: list[dict[str, Any]] = []
        self._learning_rate: Any = None
        self.learning_rate = learning_rate
        self._variables: list[Tensor] = []
        self._index: dict[int, int] = {}
        self._no_decay: set[int] = set()
        self._no_decay_pattern: re.Pattern | None = None
        self._work: dict[int, tuple[Any, Any]] = {}  # by id of a parameter's array

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self) -> Any:
        """The learning rate, as Keras gives it: a number's as Keras's float32 variable (a
        :class:`LearningRateVariable`: ``assign``, ``numpy()``, arithmetic), a schedule's
        value at ``iterations`` and a function's value as a 0-d float32 array with
        ``numpy()``, as a schedule returns it. Set it to a number, a schedule or a function
        of no arguments."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule | Callable):
            return host_array(np.float32(self.learning_rate_value()))
        return LearningRateVariable(self)

    def learning_rate_value(self) -> float:
        """The learning rate of the next step, a float as it was given (a schedule evaluated
        at ``iterations``): what the steps take."""
        rate = self._learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            return float(rate(self._iterations))
        if callable(rate):
            return float(rate())
        return rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you should "
                "instantiate the optimizer with a float `learning_rate` argument."
            )
        if isinstance(value, LearningRateVariable | Tensor | np.ndarray) and np.size(value) == 1:
            value = float(value.numpy() if hasattr(value, "numpy") else value)  # (a variable's)
        self._learning_rate = check_number(type(self).__name__, "learning_rate", value)

    @property
    def iterations(self) -> IterationVariable:
        """The steps taken, as Keras's int32 ``iteration`` variable (a live view: ``int()``,
        ``numpy()``, arithmetic as an int, ``assign``). Set it to an int >= 0."""
        return IterationVariable(self)

    @iterations.setter
    def iterations(self, value: Any) -> None:
        self._iterations = check_count(type(self).__name__, "iterations", value)

    @property
    def update_iterations(self) -> int:
        """The updates done: ``iterations``, or ``iterations // gradient_accumulation_steps``
        when gradients accumulate (what Keras's ``iterations`` property then gives)."""
        return self._iterations // (self.gradient_accumulation_steps or 1)

    # --------------------------------------------------------------------- variables
    @property
    def all_slot_names(self) -> tuple[str, ...]:
        """Every slot of a parameter, in Keras's order: the moving average (``use_ema``), the
        gradient accumulator (``gradient_accumulation_steps``), then ``slot_names``."""
        return (
            ("average",) * bool(self.use_ema)
            + ("gradient_accumulator",) * bool(self.gradient_accumulation_steps)
            + tuple(self.slot_names)
        )

    def slot_shape(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The shape of slot ``name`` of a variable of shape ``shape``: the variable's, or
        None where that variable has no such slot (Adafactor's factors of a vector)."""
        return shape

    def slot_names_of(self, shape: tuple[int, ...]) -> tuple[str, ...]:
        """The slots a variable of shape ``shape`` has, in :attr:`all_slot_names`' order."""
        return tuple(n for n in self.all_slot_names if self.slot_shape(n, shape) is not None)

    def build(self, variables: Sequence[Tensor]) -> None:
        """Create the slots of ``variables`` (zeros, or ``initial_slot_values``), once; slots
        already set for as many variables (a loaded model's) are kept."""
        self._variables = list(variables)
        self._index = {id(v): i for i, v in enumerate(self._variables)}
        if len(self.slots) != len(self._variables):
            self.slots = [
                {
                    name: namespace(v.device).asarray(
                        np.full(
                            self.slot_shape(name, v.shape),
                            self.initial_slot_values.get(name, 0.0),
                            v.dtype,
                        )
                    )
                    for name in self.slot_names_of(v.shape)
                }
                for v in self._variables
            ]
        for variable, slots in zip(self._variables, self.slots, strict=True):
            self._check_slots(variable, slots)

    def _check_slots(self, variable: Tensor, slots: Any) -> None:
        """Slots kept from before (a loaded or assigned state) must be this variable's: every
        slot name it has, each an array of its :meth:`slot_shape` on its device (the update
        kernels index them by the variable's elements)."""
        owner, what = (
            type(self).__name__,
            getattr(variable, "path", f"a variable of shape {variable.shape}"),
        )
        names = self.slot_names_of(variable.shape)
        if not isinstance(slots, dict) or set(slots) != set(names):
            raise ValueError(
                f"{owner}: the state of {what} must hold the slots {list(names)}, got "
                f"{sorted(slots) if isinstance(slots, dict) else slots!r}"
            )
        for name, slot in slots.items():
            shape, wanted = getattr(slot, "shape", None), self.slot_shape(name, variable.shape)
            if (
                shape is None
                or tuple(shape) != tuple(wanted)
                or array_device(slot) != variable.device
            ):
                raise ValueError(
                    f"{owner}: optimizer slot {name!r} of {what} has shape {shape} on "
                    f"{array_device(slot) if shape is not None else '?'}; it must have shape "
                    f"{tuple(wanted)} on {variable.device}"
                )

    @property
    def built(self) -> bool:
        return bool(self._variables)

    @property
    def variables(self) -> list[Any]:
        """Keras's ``optimizer.variables``: ``iteration``, ``learning_rate`` (unless it is a
        schedule), then, once built, the slots in Keras's order and with its names (see
        :mod:`autoconv.optimizers.variables`)."""
        return optimizer_variables(self)

    def _check_known(self, variables: Sequence[Tensor]) -> None:
        """Build on the first variables seen; later ones must be among them, as in Keras."""
        if not self.built:
            self.build(variables)
        for variable in variables:
            if id(variable) not in self._index:
                raise ValueError(
                    f"{type(self).__name__}: unknown variable (of shape {variable.shape}). This "
                    "optimizer can only be called for the variables it was originally built "
                    "with. When working with a new set of variables, you should recreate a new "
                    "optimizer instance."
                )

    def exclude_from_weight_decay(
        self, var_list: Iterable[Tensor] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        """Exclude variables from weight decay: those in ``var_list``, and those whose
        ``name`` contains one of ``var_names`` (a regular expression search, as Keras)."""
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before the optimizer is "
                "built."
            )
        self._no_decay = {id(v) for v in var_list or []}
        names = set(var_names or [])
        self._no_decay_pattern = re.compile("|".join(names)) if names else None

    def _decays(self, variable: Tensor) -> bool:
        if self.weight_decay is None or id(variable) in self._no_decay:
            return False
        if self._no_decay_pattern is not None:
            name = getattr(variable, "name", None)
            if name is None:
                raise ValueError(
                    "exclude_from_weight_decay(var_names=...) needs named variables; this one "
                    f"(of shape {variable.shape}) has no name: pass it in var_list instead"
                )
            return self._no_decay_pattern.search(name) is None
        return True

    # ----------------------------------------------------------------------- steps
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Tensor]]) -> int:
        """Keras's ``apply_gradients(zip(grads, variables))``; returns ``iterations``."""
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs, strict=True)
            self.apply(list(grads), list(variables))
        return self._iterations

    def apply(
        self, grads: Sequence[Any], trainable_variables: Sequence[Tensor] | None = None
    ) -> None:
        """Update ``trainable_variables`` (Tensors, in place) with ``grads`` (arrays or
        Tensors of their shapes, None where a variable has none), as Keras's ``apply``. The
        variables may be left out once the optimizer is built."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                    "first."
                )
            variables = self._variables
        else:
            variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"{type(self).__name__}.apply: {len(grads)} gradients for {len(variables)} "
                "variables"
            )
        self._check_known(variables)
        missing = [i for i, g in enumerate(grads) if g is None]
        if len(missing) == len(grads):
            raise ValueError("No gradients provided for any variable.")
        if missing:  # (Keras's: the variables' paths, in order)
            names = [getattr(variables[i], "path", None) or i for i in missing]
            warnings.warn(
                f"Gradients do not exist for variables {names} when minimizing the loss. If "
                "using `model.compile()`, did you forget to provide a `loss` argument?",
                stacklevel=2,
            )
        pairs = [
            (v, self._like(g, v, "gradient"))
            for g, v in zip(grads, variables, strict=True)
            if g is not None
        ]
        self._step([v for v, _ in pairs], [g for _, g in pairs], None)

    @staticmethod
    def _like(value: Any, variable: Tensor, what: str) -> Any:
        """``value`` (a gradient, a constraint's result: an array or a Tensor) as an array on
        ``variable``'s device, in its dtype; a ValueError unless it has its shape."""
        value = value.data if isinstance(value, Tensor) else value
        here = array_device(value)
        if here != variable.device:
            value = namespace(here).to_numpy(value)
        value = namespace(variable.device).asarray(value, dtype=variable.dtype)
        if value.shape != variable.shape:
            raise ValueError(
                f"{what} of shape {value.shape} for a variable of shape {variable.shape}"
            )
        return value

    def step(self, params: Sequence[Tensor], status: Any = None) -> None:
        """Update every parameter that has a ``.grad`` (the training loop's entry point).

        ``status`` (from the backend's ``new_status``, set by ``check_finite``) makes every
        update kernel do nothing once a loss or gradient went non-finite; see
        :meth:`discard_steps`."""
        if not params:
            return
        self._check_known(params)
        with_grad = [p for p in params if p.grad is not None]
        self._step(with_grad, [p.grad for p in with_grad], status)

    def _step(self, params: list[Tensor], grads: list[Any], status: Any) -> None:
        if params:
            xp = namespace(params[0].device)
            status = xp.new_status() if status is None else status
            slots = [self.slots[self._index[id(param)]] for param in params]
            steps = self.gradient_accumulation_steps
            if not self._updates_now():  # a step between updates
                for grad, own in zip(grads, slots, strict=True):
                    xp.accumulate_gradient(own["gradient_accumulator"], grad, status)
            else:
                if steps:
                    grads = [
                        xp.release_gradient(own["gradient_accumulator"], grad, steps, status)
                        for grad, own in zip(grads, slots, strict=True)
                    ]
                self._update(xp, params, grads, slots, status)
            if self.use_ema:
                self._update_averages(xp, status)
            self._constrain(xp, params, status)
        self.iterations = self._iterations + 1

    def _update(
        self, xp: Any, params: list[Tensor], grads: list[Any], slots: list[dict], status: Any
    ) -> None:
        """Clip, decay and update every parameter (Keras's ``update_step``), on the device: all
        of them in one call of :meth:`update` (one launch per dtype on the GPU), each with its
        own clipping factor and weight decay (0 for a variable excluded from it)."""
        scales: list[Any] = [None] * len(params)
        if self.global_clipnorm:
            scales = [xp.clip_scale(grads, self.global_clipnorm, False)] * len(params)
        elif self.clipnorm:
            scales = [xp.clip_scale([g], self.clipnorm, True) for g in grads]
        values = [p.data for p in params]
        # Each slot's arrays, one per parameter (None where a parameter has no such slot).
        by_name = {name: [own.get(name) for own in slots] for name in self.all_slot_names}

        def call(updates: rules.Updates) -> rules.Call:
            """The step's update as :meth:`update` makes it, its scalars (the learning rate,
            bias corrections, decays) computed now, from ``iterations``."""
            lr = self.learning_rate_value()
            decays = [lr * self.weight_decay if self._decays(p) else 0.0 for p in params]
            prepare = (scales, self.clipvalue or 0.0, decays)
            return self.update(updates, values, grads, by_name, lr, prepare, status)

        # On the GPU a replayed step computes its scalars anew, without checking the arrays
        # again: call(rules.RECALL).scalars().
        made = call(rules.CALL)
        xp.apply_update(
            made.rule, made.values, made.grads, made.slots, lambda: call(rules.RECALL).scalars(),
            made.scales, made.clipvalue, status,
        )  # fmt: skip
        self._finish_update(xp, values, by_name, status)

    def _finish_update(
        self, xp: Any, values: list[Any], slots: dict[str, list[Any]], status: Any
    ) -> None:
        """What an update does after its rule's pass over every parameter (Lamb's scaled
        step, Adafactor's factored second moments), given the slots as :meth:`update` does;
        nothing for most optimizers."""

    def _constrain(self, xp: Any, params: list[Tensor], status: Any) -> None:
        """Keras's weight constraints, after a step (an update's or an accumulation's, as
        Keras's ``apply``): each parameter with a ``constraint`` becomes ``constraint(param)``,
        computed with autoconv's ops on its device (a replayed step records them as any op)
        and written in place, unless ``status`` is set: a skipped step (or ``warm_up``'s)
        leaves the weights as they were (Keras has no status, and constrains every step)."""
        for param in params:
            constraint = getattr(param, "constraint", None)
            if constraint is not None:
                with no_grad():
                    value = self._like(constraint(param), param, "a constraint's value")
                xp.guarded_copy(param.data, value, status)

    def _work_arrays(self, values: list[Any]) -> list[Any]:
        """An array of each parameter's shape for the passes of an update to hand on (Lamb's
        direction, Adafactor's gradient), made once per parameter array (the same every step,
        as a replayed step needs; not part of the state)."""
        kept = {}
        for value in values:
            value_and_work = self._work.get(id(value))
            if value_and_work is None or value_and_work[0] is not value:
                value_and_work = (value, namespace(array_device(value)).zeros_like(value))
            kept[id(value)] = value_and_work
        self._work = kept
        return [work for _, work in kept.values()]

    def _updates_now(self) -> bool:
        """Whether the next step updates the weights: every step, or with
        ``gradient_accumulation_steps`` n every n-th (the others add their gradients up)."""
        steps = self.gradient_accumulation_steps
        return not steps or (self._iterations + 1) % steps == 0

    def _averaging_now(self) -> tuple[float, bool]:
        """The next step's moving-average momentum and whether it overwrites the variables
        with their averages (``use_ema``): momentum 0 while no update is done, and an
        overwrite every ``ema_overwrite_frequency`` updates."""
        done = self.update_iterations
        frequency = self.ema_overwrite_frequency
        return self.ema_momentum if done else 0.0, bool(frequency) and (done + 1) % frequency == 0

    def step_kind(self) -> tuple:
        """What the next step does that another step may not (an update or an accumulation,
        the averages' momentum and overwrite): steps of one kind launch the same kernels with
        the same arguments, so a replay (autoconv.step_replay) records each kind apart."""
        return (self._updates_now(), *(self._averaging_now() if self.use_ema else ()))

    def _update_averages(self, xp: Any, status: Any) -> None:
        """Keras's moving averages of every variable, after a step (see :meth:`_averaging_now`)."""
        momentum, overwrite = self._averaging_now()
        for variable, own in zip(self._variables, self.slots, strict=True):
            xp.ema_update(own["average"], variable.data, momentum, overwrite, status)

    def finalize_variable_values(self, var_list: Sequence[Tensor]) -> None:
        """With ``use_ema``, set each variable of ``var_list`` to its moving average (what
        Keras's fit does when it ends); nothing otherwise, or before there are averages."""
        if not self.use_ema or not self.slots:
            return
        self._check_known(var_list)
        for variable in var_list:
            average = self.slots[self._index[id(variable)]]["average"]
            namespace(variable.device).copy_into(variable.data, average)  # (see Variable.assign)

    def swap_moving_averages(self, reset: bool = False) -> None:
        """With ``use_ema``, exchange each variable's value and its moving average in place
        (so captured GPU steps still see the same arrays), as Keras's ``SwapEMAWeights``;
        with ``reset``, set each average to its variable's value instead. Nothing before the
        first step (there are no averages yet)."""
        if not self.use_ema:
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                f"Received: use_ema={self.use_ema}"
            )
        for variable, own in zip(self._variables, self.slots, strict=True):
            xp = namespace(variable.device)
            if reset:
                xp.copy_into(own["average"], variable.data)
                continue
            value = xp.copy(variable.data)
            xp.copy_into(variable.data, own["average"])
            xp.copy_into(own["average"], value)

    def update(
        self, xp: Any, value: list[Any], grad: list[Any], slots: dict[str, list[Any]],
        lr: float, prepare: tuple[list[Any], float, list[float]], status: Any,
    ) -> Any:  # fmt: skip
        """Update the parameters' arrays ``value`` in place with the backend ``xp``'s fused
        kernel, given their gradients ``grad`` and ``slots`` (each slot name's arrays, one per
        parameter): every argument of a parameter is a list in the parameters' order, which
        the backends' ``*_update`` take as they are. ``prepare`` is (scales, clipvalue,
        decays): the clipping and weight decay every ``*_update`` applies first (see
        :func:`autoconv.backends.rules.prepare`), its arguments before status."""
        raise NotImplementedError

    def discard_steps(self, count: int) -> None:
        """Take back the last ``count`` steps from ``iterations``: steps whose update the
        device skipped because ``status`` was set (the weights and slots did not change)."""
        if not 0 <= count <= self._iterations:
            raise ValueError(f"discard_steps: count must be in [0, {self._iterations}]")
        self.iterations = self._iterations - count

    def zero_grad(self, params: Iterable[Tensor]) -> None:
        for param in params:
            param.grad = None

    # ------------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as Keras's ``get_config`` (a schedule serialized, a
        number as Keras's float32 variable holds it: 0.1 gives 0.10000000149011612)."""
        rate = self._learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            rate = schedules.serialize(rate)
        elif not callable(rate):
            rate = float(np.float32(rate))
        return {
            "name": self.name,
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Optimizer:
        """The optimizer ``get_config`` describes (without its state)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} iterations={self._iterations}>"
