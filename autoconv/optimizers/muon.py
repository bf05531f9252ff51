"""Keras 3's ``Muon`` optimizer (keras/src/optimizers/muon.py): momentum orthogonalized by a
Newton-Schulz iteration for the 2-D weights, AdamW for the others.

Which step a variable takes is decided once, when the optimizer is built (Keras's
``_should_use_adamw``): AdamW for a variable that is not 2-D, for an embedding (its ``path``
contains "embedding", with ``exclude_embeddings``) and for a variable whose ``path`` one of the
``exclude_layers`` regular expressions matches (``re.search``); the Muon step for every other.

A step, after the base's gradient clipping, is three passes over the parameters:

1. each weight decayed (Keras's ``_apply_weight_decay`` override: ``adam_weight_decay`` for the
   AdamW variables, ``weight_decay`` for the Muon ones, both times the learning rate) and its
   clipped gradient written into a work array (the first pass of Adafactor, the same rule);
2. the AdamW variables: Adam's rule with the learning rate times ``adam_lr_ratio`` (slots
   ``momentum`` and ``velocity``); the Muon variables: m += g + m*(momentum - 1) and the
   direction g + momentum*m (``nesterov``) or m, written over the work array;
3. each Muon variable w -= lr * NS(direction) * sqrt(max(rows, columns)) * ``rms_rate`` (no
   factor when ``rms_rate`` is None), where NS is :func:`newton_schulz`, composed of the
   backend's products and arithmetic, so that it runs on both devices and a replayed GPU step
   records it as any op.

Every variable has both slots, ``momentum`` and ``velocity``; a Muon variable's velocity is
unused (Keras makes none: its ``.keras`` files have no entry there), as the base gives each
shape the same slots.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from autoconv.backends import rules
from autoconv.optimizers.base import Optimizer, check_number
from autoconv.tensor import Tensor
from autoconv.windows import is_int

NORM_EPSILON = 1e-7  # Keras's, added to the direction's Frobenius norm


def newton_schulz(xp: Any, x: Any, steps: int, a: float, b: float, c: float) -> Any:
    """Keras's ``zeropower_via_newtonschulz5`` of the 2-D array ``x`` (rows, columns), a new
    array of its shape: x / (||x||_F + 1e-7), then ``steps`` times x = a*x + (b*A + (c*A) @ A)
    @ x with A = x @ x^T; computed on x^T (and transposed back) when x has more rows than
    columns, so that A is the smaller square. ``xp`` is x's backend."""
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (xp.sqrt((x * x).sum()) + NORM_EPSILON)
    for _ in range(steps):
        gram = xp.matmul(x, x, transpose_b=True)
        poly = b * gram + xp.matmul(c * gram, gram)
        x = a * x + xp.matmul(poly, x)
    return x.T if tall else x


class Muon(Optimizer):
    """Muon (Jordan et al. 2024; Liu et al. 2025's ``rms_rate``) with AdamW for the variables
    it does not suit; see the module's docstring for the step."""

    slot_names = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        adam_beta_1: float = 0.9,
        adam_beta_2: float = 0.999,
        adam_weight_decay: float | None = 0.004,
        epsilon: float = 1e-7,
        weight_decay: float | None = 0.004,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        exclude_layers: Sequence[str] | None = None,
        exclude_embeddings: bool = True,
        muon_a: float = 3.4445,
        muon_b: float = -4.7750,
        muon_c: float = 2.0315,
        adam_lr_ratio: float = 1,
        momentum: float = 0.95,
        ns_steps: int = 5,
        nesterov: bool = True,
        rms_rate: float | None = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs,
        )  # fmt: skip
        owner = "Muon"
        self.adam_beta_1 = check_number(owner, "adam_beta_1", adam_beta_1, 0.0, 1.0, True)
        self.adam_beta_2 = check_number(owner, "adam_beta_2", adam_beta_2, 0.0, 1.0, True)
        if adam_weight_decay is not None:
            check_number(owner, "adam_weight_decay", adam_weight_decay)
        self.adam_weight_decay = adam_weight_decay
        self.epsilon = check_number(owner, "epsilon", epsilon)
        if isinstance(exclude_layers, str) or not all(
            isinstance(pattern, str) for pattern in exclude_layers or []
        ):
            raise ValueError(
                f"{owner}: `exclude_layers` must be a list of strings (regular expressions), "
                f"got {exclude_layers!r}"
            )
        for pattern in exclude_layers or []:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(
                    f"{owner}: `exclude_layers` holds {pattern!r}, not a regular expression: "
                    f"{error}"
                ) from None
        self.exclude_layers = list(exclude_layers or [])
        self.exclude_embeddings = bool(exclude_embeddings)
        self.muon_a = check_number(owner, "muon_a", muon_a, -math.inf)
        self.muon_b = check_number(owner, "muon_b", muon_b, -math.inf)
        self.muon_c = check_number(owner, "muon_c", muon_c, -math.inf)
        check_number(owner, "adam_lr_ratio", adam_lr_ratio)
        self.adam_lr_ratio = adam_lr_ratio  # as given: Keras's config writes the int 1
        self.momentum = check_number(owner, "momentum", momentum, 0.0, 1.0)
        if not is_int(ns_steps) or ns_steps < 0:
            raise ValueError(f"{owner}: `ns_steps` must be an integer >= 0, got {ns_steps!r}")
        self.ns_steps = int(ns_steps)
        self.nesterov = bool(nesterov)
        if rms_rate is not None:
            check_number(owner, "rms_rate", rms_rate)
        self.rms_rate = rms_rate
        self._adamw: dict[int, bool] = {}  # by id of a variable: whether it takes AdamW's step

    # ------------------------------------------------------------------ the variables
    def _should_use_adamw(self, variable: Tensor) -> bool:
        """Keras's choice of AdamW's step for ``variable`` (by its shape and ``path``; a bare
        Tensor, which has no path, by its shape alone)."""
        if len(variable.shape) != 2:
            return True
        path = getattr(variable, "path", None) or ""
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def build(self, variables: Sequence[Tensor]) -> None:
        super().build(variables)
        self._adamw = {id(v): self._should_use_adamw(v) for v in self._variables}

    def _variables_of(self, values: list[Any]) -> list[Tensor]:
        """The variables whose arrays ``values`` are, in their order."""
        by_array = {id(variable.data): variable for variable in self._variables}
        return [by_array[id(value)] for value in values]

    def _use_weight_decay(self, variable: Tensor) -> bool:
        """Keras's ``_use_weight_decay``: not excluded by ``exclude_from_weight_decay`` (which
        the base's ``_decays`` checks only where ``weight_decay`` is set)."""
        if id(variable) in self._no_decay:
            return False
        pattern = self._no_decay_pattern
        return pattern is None or pattern.search(getattr(variable, "name", None) or "") is None

    # ----------------------------------------------------------------------- a step
    def update(self, xp, value, grad, slots, lr, prepare, status):
        scales, clipvalue, _ = prepare  # (each kind of variable has its own weight decay)
        decays = []
        for variable in self._variables_of(value):
            rate = self.adam_weight_decay if self._adamw[id(variable)] else self.weight_decay
            decays.append(
                lr * rate if rate is not None and self._use_weight_decay(variable) else 0.0
            )
        return xp.adafactor_update(
            value, grad, self._work_arrays(value), scales, clipvalue, decays, status
        )

    def _finish_update(
        self, xp: Any, values: list[Any], slots: dict[str, list[Any]], status: Any
    ) -> None:
        """AdamW's step and Muon's momentum (each kind one pass), then Muon's steps."""
        works = self._work_arrays(values)
        adamw = [self._adamw[id(variable)] for variable in self._variables_of(values)]

        def kind(items: list[Any], of_adamw: bool) -> list[Any]:
            return [item for item, own in zip(items, adamw, strict=True) if own == of_adamw]

        momentums, velocities = slots["momentum"], slots["velocity"]
        adam_values, adam_grads = kind(values, True), kind(works, True)
        if adam_values:
            adam_m, adam_v = kind(momentums, True), kind(velocities, True)
            _apply(xp, lambda updates: updates.adam_update(
                adam_values, adam_grads, adam_m, adam_v, None, self._adam_alpha(),
                self.adam_beta_1, self.adam_beta_2, self.epsilon, *_unprepared(adam_values),
                status,
            ))  # fmt: skip
        muon_values, directions = kind(values, False), kind(works, False)
        if not muon_values:
            return
        muon_m = kind(momentums, False)
        _apply(xp, lambda updates: updates.muon_update(
            muon_values, directions, muon_m, directions, self.momentum, self.nesterov,
            *_unprepared(muon_values), status,
        ))  # fmt: skip
        steps = [self._muon_step(xp, direction) for direction in directions]
        _apply(xp, lambda updates: updates.sgd_update(
            muon_values, steps, None, self.learning_rate_value(), 0.0, False,
            *_unprepared(muon_values), status,
        ))  # fmt: skip

    def _adam_alpha(self) -> float:
        """Adam's step size of the next update: lr * adam_lr_ratio * sqrt(1 - beta_2^t) /
        (1 - beta_1^t), t = update_iterations + 1."""
        t = self.update_iterations + 1
        lr = self.learning_rate_value() * self.adam_lr_ratio
        return lr * math.sqrt(1 - self.adam_beta_2**t) / (1 - self.adam_beta_1**t)

    def _muon_step(self, xp: Any, direction: Any) -> Any:
        """The direction orthogonalized, times Keras's ``lr_adjust`` factor (the step before
        the learning rate)."""
        step = newton_schulz(xp, direction, self.ns_steps, self.muon_a, self.muon_b, self.muon_c)
        if self.rms_rate is None:
            return step
        return step * (math.sqrt(max(direction.shape)) * self.rms_rate)

    # ------------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "adam_beta_1": self.adam_beta_1,
            "adam_beta_2": self.adam_beta_2,
            "epsilon": self.epsilon,
            "exclude_layers": self.exclude_layers,
            "muon_a": self.muon_a,
            "muon_b": self.muon_b,
            "muon_c": self.muon_c,
            "adam_lr_ratio": self.adam_lr_ratio,
            "momentum": self.momentum,
            "ns_steps": self.ns_steps,
            "nesterov": self.nesterov,
            "exclude_embeddings": self.exclude_embeddings,
            "adam_weight_decay": self.adam_weight_decay,
            "rms_rate": self.rms_rate,
        }


def _unprepared(values: list[Any]) -> tuple[list[None], float, list[float]]:
    """(scales, clipvalue, decays) that neither clip nor decay (the first pass did both)."""
    return [None] * len(values), 0.0, [0.0] * len(values)


def _apply(xp: Any, make: Callable[[rules.Updates], rules.Call]) -> None:
    """Run the update ``make`` makes (an ``*_update`` call of :class:`rules.Updates`) on the
    backend ``xp``, its scalars computed anew by a replayed step (as the base's updates)."""
    made = make(rules.CALL)
    xp.apply_update(
        made.rule, made.values, made.grads, made.slots, lambda: make(rules.RECALL).scalars(),
        made.scales, made.clipvalue, made.status,
    )  # fmt: skip
