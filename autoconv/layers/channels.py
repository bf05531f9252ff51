"""Keras's ``data_format="channels_first"`` for the spatial layers, which compute
channels-last.

A layer's weights have the same shapes in both layouts (a Conv2D kernel is (kh, kw, in, out)
either way), so a channels-first layer computes what the channels-last one computes on its
input with the channel axis moved last, then moves it back: :class:`ChannelsFirst` does that
around the methods a layer family names in ``channels_moved`` (its ``build``,
``compute_output_shape``, ``call`` or the part of it that reads the layout). The channel axis
is the one just before the ``rank`` spatial axes (1 for images (N, C, H, W), 2 for a
ConvLSTM's sequences (N, T, C, H, W), 0 for one image (C, H, W)); a layer's other arguments
that hold such tensors or shapes are named in ``moved_arguments``. Tensors move through the
differentiable transpose, so gradients flow back in the caller's layout; a channels-last layer
runs its methods as they are. A user's subclass that overrides one of them gets the data in
the layer's layout, as Keras gives it.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from autoconv.ops.convert import standardize_data_format
from autoconv.ops.numpy.arrays import transpose
from autoconv.windows import is_int

IMAGE_KEYS = ("images", "segmentation_masks")  # a dict's entries laid out as images

_inside = threading.local()  # the channels-first layers running their channels-last code


def channel_order(ndim: int, rank: int, to_last: bool) -> list[int] | None:
    """The permutation moving the channel axis of ``ndim`` axes last (or back), or None where
    there is no channel axis before ``rank`` spatial ones."""
    channel = ndim - rank - 1
    if channel < 0:
        return None
    order = list(range(ndim))
    if to_last:
        return [*order[:channel], *order[channel + 1 :], channel]
    return [*order[:channel], ndim - 1, *order[channel:-1]]


def move_channels(value: Any, rank: int, to_last: bool) -> Any:
    """``value`` (a tensor or array, a shape, or a list, tuple or image dict of them) with its
    channel axis moved last (``to_last``) or from last back to before the spatial axes."""
    if hasattr(value, "ndim") and hasattr(value, "shape"):
        order = channel_order(value.ndim, rank, to_last)
        return value if order is None else transpose(value, order)
    if isinstance(value, tuple | list) and all(n is None or is_int(n) for n in value):
        order = channel_order(len(value), rank, to_last)
        return value if order is None else type(value)(value[i] for i in order)
    if isinstance(value, tuple | list):
        return type(value)(move_channels(v, rank, to_last) for v in value)
    if isinstance(value, dict):
        return {
            k: move_channels(v, rank, to_last) if k in IMAGE_KEYS else v for k, v in value.items()
        }
    return value


def as_given(layer: Any, shape: Any) -> tuple:
    """``shape``, one that a channels-first layer's channels-last code was given, as the
    layer's caller gave it (for an error that names it); any other layer's as it is."""
    if not any(running is layer for running in _inside.__dict__.get("layers", [])):
        return tuple(shape)
    return tuple(move_channels(tuple(shape), layer.rank, to_last=False))


def _channels_last_inside(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run channels-last for a channels-first layer: its first argument and the
    layer's ``moved_arguments`` moved in, its result moved back. Calls it makes on the same
    layer (a ``build`` that computes its output shape, a ``super()`` call) run as they are."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "data_format", None) != "channels_first":
            return method(self, *args, **kwargs)
        running = _inside.__dict__.setdefault("layers", [])
        if any(layer is self for layer in running):
            return method(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        names = list(bound.arguments)
        for name in names[1:]:
            if name == names[1] or name in self.moved_arguments:
                bound.arguments[name] = move_channels(bound.arguments[name], self.rank, True)
        running.append(self)
        try:
            result = method(*bound.args, **bound.kwargs)
        finally:
            running.pop()
        return move_channels(result, self.rank, False)

    return wrapper


class ChannelsFirst:
    """A spatial layer's ``data_format``: ``"channels_first"`` runs the methods its family
    names in ``channels_moved`` on channels-last data (see the module's docstring). Put it
    before ``Layer`` among the bases; the layer sets ``rank`` (its spatial axes) and calls
    :meth:`set_data_format`."""

    rank: int
    channels_moved: ClassVar[tuple[str, ...]] = ("build", "compute_output_shape", "call")
    moved_arguments: ClassVar[tuple[str, ...]] = ()  # more arguments laid out as the inputs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # (autoconv's own methods: a user's override gets the caller's layout, as in Keras,
        # and its ``super()`` call moves the channels)
        if cls.__module__.startswith("autoconv."):
            for name in cls.channels_moved:
                if name in cls.__dict__:
                    setattr(cls, name, _channels_last_inside(cls.__dict__[name]))
        super().__init_subclass__(**kwargs)

    def set_data_format(self, data_format: str | None) -> None:
        """Keras's ``data_format``: checked, lower-cased, ``config.image_data_format()``
        when None."""
        self.data_format = standardize_data_format(data_format)
