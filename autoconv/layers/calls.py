"""A thread's layer calls: the state the layer calls of one thread share, each thread its own
(as Keras's call context), so that models called in several threads at once never see each
other's: the training flag outer calls pass down, the name scopes weights are made under, how
deep the calls are nested, the penalties of the outermost call, and whether the calls only
learn shapes (:func:`stateless`); and the lock under which one layer at a time is built.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

# One layer is built at a time in the process (a model builds its layers inside its own build).
building_lock = threading.RLock()


class _CallState:
    """What the layer calls of one thread share (each thread has its own, as in Keras, so
    that models called in several threads at once never see each other's): the name scopes,
    the training flags outer calls pass down, how deep the calls are nested, and the penalties
    (activity regularizers, ``add_loss``) of the outermost call."""

    __slots__ = ("depth", "losses", "scopes", "stateless", "training")

    def __init__(self) -> None:
        self.scopes: list[str] = []
        self.training: list[bool | None] = []
        self.depth = 0
        self.losses: list[Any] = []
        # Inside a run that only learns output shapes: the variables' assignments are dropped
        self.stateless = False


@contextlib.contextmanager
def stateless() -> Iterator[None]:
    """Run a model or layer only to learn its output shapes, as Keras's symbolic call runs in
    a ``StatelessScope``: what it assigns to variables (a counter's ``assign_add``) is dropped,
    so the variables keep their values."""
    state = thread_state()
    previous, state.stateless = state.stateless, True
    try:
        yield
    finally:
        state.stateless = previous


_threads = threading.local()


def thread_state() -> _CallState:
    """This thread's :class:`_CallState` (one thread-local lookup; its fields are plain)."""
    try:
        return _threads.state
    except AttributeError:
        _threads.state = state = _CallState()
        return state


# Whether any penalty was ever added in the process (note_penalty): until then an outermost call
# has none to clear (walking every layer to clear nothing took some 5 us a call of the MNIST
# model).
_penalties_added = False


def note_penalty(loss: Any) -> None:
    """A layer added a penalty: from now on outermost calls clear them, and a call in
    progress in this thread gathers it (a training step reads its own thread's)."""
    global _penalties_added
    _penalties_added = True
    state = thread_state()
    if state.depth:
        state.losses.append(loss)


def _entered(layer: Any) -> _CallState:
    """This thread's call state, one call deeper; an outermost call (none around it) first
    clears ``layer``'s penalties and its sublayers' from an earlier call, as Keras does."""
    state = thread_state()
    if state.depth == 0 and _penalties_added:
        layer._clear_losses()
        state.losses = []
    state.depth += 1
    return state


class outermost_call:
    """The context of a call from outside any layer call (``model(x)``, or a training step's
    forward pass): as in Keras, it starts with no penalties, ``layer``'s and its sublayers'
    from an earlier call cleared; ``with outermost_call(model) as penalties`` gives the list of
    the penalties added in it, in this thread. Inside another call it changes nothing."""

    __slots__ = ("layer",)

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def __enter__(self) -> list[Any]:
        return _entered(self.layer).losses

    def __exit__(self, *exc: Any) -> None:
        thread_state().depth -= 1


class _Calling:
    """A layer's call, in one context (it runs for every layer called, so one object): an
    :class:`outermost_call` of the layer, inside :func:`training_context` of ``training`` and
    :func:`name_scope` of its name."""

    __slots__ = ("layer", "training")

    def __init__(self, layer: Any, training: bool | None) -> None:
        self.layer, self.training = layer, None if training is None else bool(training)

    def __enter__(self) -> None:
        state = _entered(self.layer)
        state.training.append(self.training)
        state.scopes.append(self.layer.name)

    def __exit__(self, *exc: Any) -> None:
        state = thread_state()
        state.scopes.pop()
        state.training.pop()
        state.depth -= 1


# ------------------------------------------------------------------------ name scopes
class _Pushed:
    """A context that pushes ``value`` on ``stack`` and pops it on the way out (a small class,
    not a generator: layers enter two of these on every call)."""

    __slots__ = ("stack", "value")

    def __init__(self, stack: list, value: Any) -> None:
        self.stack, self.value = stack, value

    def __enter__(self) -> None:
        self.stack.append(self.value)

    def __exit__(self, *exc: Any) -> None:
        self.stack.pop()


def name_scope(name: str) -> _Pushed:
    """Weights made inside are named under ``name`` (Keras's paths: a layer built by a
    Sequential model is ``sequential/dense/kernel``)."""
    return _Pushed(thread_state().scopes, name)


class NameScope:
    """Keras's ``keras.name_scope``: variables made inside have paths under ``name``
    (``with name_scope("block"):`` then ``Variable(1.0, name="v").path == "block/v"``), after
    the scopes around it, or after ``override_parent`` (a path) instead of them. A scope with
    a ``caller`` entered again right inside one of the same name and caller is entered once
    (``deduplicate``). ``name`` is a string without ``/``."""

    def __init__(
        self,
        name: str,
        caller: Any = None,
        deduplicate: bool = True,
        override_parent: str | None = None,
    ) -> None:
        if not isinstance(name, str) or "/" in name:
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name}"
            )
        self.name, self.caller = name, caller
        self.deduplicate, self.override_parent = deduplicate, override_parent
        self._outer: list[str] | None = None  # the scopes it replaced, while entered
        self.depth = 0  # how many scopes there are inside it, while entered

    def __enter__(self) -> NameScope:
        scopes = thread_state().scopes
        entered = getattr(_threads, "name_scopes", None)
        if entered is None:
            entered = _threads.name_scopes = []
        if self.deduplicate and self.caller is not None and entered:
            inner = entered[-1]
            if (
                inner.caller is self.caller
                and inner.name == self.name
                and inner.depth == len(scopes)
            ):
                self._outer = None
                return self
        self._outer = list(scopes)
        if self.override_parent is not None:
            scopes[:] = [p for p in self.override_parent.split("/") if p]
        scopes.append(self.name)
        self.depth = len(scopes)
        entered.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._outer is not None:
            thread_state().scopes[:] = self._outer
            _threads.name_scopes.pop()
            self._outer = None


# ---------------------------------------------------------------------- training flag
def training_context(training: bool | None) -> _Pushed:
    """Layers called inside with ``training=None`` run in this mode (Keras passes an outer
    call's ``training`` down to the layers it calls); None leaves them their own default."""
    return _Pushed(thread_state().training, None if training is None else bool(training))


def current_training(training: bool | None, default: bool | None = None) -> bool | None:
    """Keras's order: ``training`` if given, else the enclosing call's, else ``default`` (the
    default of the layer's ``call``: False for most layers, True for the augmentation layers,
    which therefore augment when called on their own)."""
    if training is not None:
        return bool(training)
    stack = thread_state().training
    if stack and stack[-1] is not None:
        return stack[-1]
    return default
