"""The ownership rule of both backends' pools of reused memory: a pooled object is free when the
pool's own list is all that refers to it (a view, a tensor, a closure or a user's variable that
holds it, or holds a view of it, keeps it taken).

Use it as ``for item in pool_list: if references(item) <= FREE: ...`` — the count FREE was
measured in that same pattern (the references the loop and the call add vary between Python
versions, so it is measured, not assumed). Unlike a ``__del__`` that puts memory back, it never
hands out memory whose owner the garbage collector is tearing down in a cycle.
"""

from __future__ import annotations

import sys
from typing import Any


def references(item: Any) -> int:
    """``sys.getrefcount(item)``: compare with FREE inside a loop over the pool's list."""
    return sys.getrefcount(item)


def _references_when_free() -> int:
    for item in [object()]:
        return references(item)
    raise AssertionError("unreachable")


FREE = _references_when_free()


# The backends' ``owned(array)``: whether the one function that calls it (with the array in
# one local variable) is all that refers to the array, and the array all that refers to the
# memory it views. The counts it compares with are measured in the same patterns.
def _references_in_callee(item: Any) -> int:
    return references(item)


def _references_when_sole() -> int:
    item = object()
    return _references_in_callee(item)


class _Viewer:
    __slots__ = ("base",)


def _references_when_viewed() -> int:
    viewer = _Viewer()
    viewer.base = object()
    base = viewer.base
    return references(base)


def _references_when_held_in_pool() -> int:
    viewer = _Viewer()
    viewer.base = object()
    pool = [viewer.base]
    count = references(viewer.base)
    del pool
    return count


SOLE = _references_when_sole()
"""``references(array)`` inside ``owned(array)`` when only its caller's variable holds it."""
VIEWED = _references_when_viewed()
"""``references(base)`` for ``base = array.base`` (a local) when only ``array`` refers to it."""
HELD_IN_POOL = _references_when_held_in_pool()
"""``references(array._buffer)`` when only ``array`` and its pool's list refer to the buffer."""
