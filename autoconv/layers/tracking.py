"""Keras's tracked containers (keras/src/utils/tracking.py): a list or dict that a user's layer
keeps as an attribute is wrapped so that layers put in it later (``self.blocks = []`` then
``self.blocks.append(Dense(4))``, keras.io's usual pattern) become that layer's sublayers,
their weights trained with it; removing one untracks it. Nested lists, dicts and tuples are
tracked all the way down, as Keras tracks them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Track = Callable[[Any], None]


def tracked(value: Any, track: Track, untrack: Track) -> Any:
    """``value`` with ``track`` called on each object in it (depth first) and every list and
    dict in it replaced by a tracked one that calls ``track``/``untrack`` as it changes."""
    if isinstance(value, TrackedList | TrackedDict):
        return value
    if isinstance(value, list):
        return TrackedList(value, track, untrack)
    if isinstance(value, dict):
        return TrackedDict(value, track, untrack)
    if isinstance(value, tuple):
        items = [tracked(item, track, untrack) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    track(value)
    return value


def _untracked(value: Any, untrack: Track) -> None:
    if isinstance(value, list | tuple):
        for item in value:
            _untracked(item, untrack)
    elif isinstance(value, dict):
        for item in value.values():
            _untracked(item, untrack)
    else:
        untrack(value)


class _Tracking:
    """What a tracked container does with a value that comes in or leaves."""

    _track: Track | None
    _untrack: Track | None

    def _tracked(self, value: Any) -> Any:
        track = getattr(self, "_track", None)  # (unset while a pickle refills the container)
        return value if track is None else tracked(value, track, self._untrack)

    def _left(self, value: Any) -> None:
        if getattr(self, "_untrack", None) is not None:
            _untracked(value, self._untrack)

    def __delitem__(self, key: Any) -> None:
        value = self[key]  # type: ignore[index]
        super().__delitem__(key)  # type: ignore[misc]
        self._left(value)


class TrackedList(_Tracking, list):
    """A layer's list attribute: appending, inserting or extending (``+=`` too) tracks what
    is added; ``remove``, ``pop``, ``clear`` and ``del`` untrack what leaves (Keras's
    ``TrackedList``)."""

    def __init__(self, values: Any = (), track: Track | None = None, untrack: Track | None = None):
        self._track, self._untrack = track, untrack
        super().__init__(self._tracked(v) for v in values)

    def append(self, value: Any) -> None:
        super().append(self._tracked(value))

    def insert(self, index: Any, value: Any) -> None:
        super().insert(index, self._tracked(value))

    def extend(self, values: Any) -> None:
        super().extend([self._tracked(v) for v in values])

    def __iadd__(self, values: Any) -> TrackedList:  # ``self.blocks += [Dense(4)]``
        self.extend(values)
        return self

    def remove(self, value: Any) -> None:
        super().remove(value)
        self._left(value)

    def pop(self, index: Any = -1) -> Any:
        value = super().pop(index)
        self._left(value)
        return value

    def clear(self) -> None:
        for value in self:
            self._left(value)
        super().clear()


class TrackedDict(_Tracking, dict):
    """A layer's dict attribute: setting or updating tracks the values; ``pop``, ``popitem``,
    ``clear`` and ``del`` untrack what leaves (Keras's ``TrackedDict``)."""

    def __init__(self, values: Any = (), track: Track | None = None, untrack: Track | None = None):
        self._track, self._untrack = track, untrack
        super().__init__({k: self._tracked(v) for k, v in dict(values).items()})

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, self._tracked(value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update({k: self._tracked(v) for k, v in dict(*args, **kwargs).items()})

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: Any, *default: Any) -> Any:
        if key not in self:
            return super().pop(key, *default)
        value = super().pop(key)
        self._left(value)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._left(value)
        return key, value

    def clear(self) -> None:
        for value in self.values():
            self._left(value)
        super().clear()
