"""Weight regularizers, as Keras's ``keras.regularizers`` (the full set arrives with the
regularizers work)."""

from __future__ import annotations

from typing import Any


def get(identifier: Any) -> Any:
    """None, or a regularizer: a callable ``(weight Tensor) -> scalar Tensor``."""
    if identifier is None or callable(identifier):
        return identifier
    raise ValueError(f"unknown regularizer {identifier!r}")


def serialize(regularizer: Any) -> Any:
    return None if regularizer is None else {"class_name": type(regularizer).__name__}
