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
