"""Arrays cut into batches on the model's device: :class:`ArrayBatches` (``fit``'s, ``evaluate``'s
and ``predict``'s arrays, uploaded once and gathered there, shuffled in an order of the epoch's)
and :class:`Places` (a batch that comes from the host, copied into device arrays of its shape
that a recorded step reads). The data is checked first (:mod:`autoconv.batches`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

from autoconv import distributed
from autoconv.backends import namespace
from autoconv.data.epochs import RAN_OUT
from autoconv.seeds import epoch_generator

SMALL_INTEGERS = ("uint8", "int8", "uint16", "int16")  # exact in float32


def resident(x: np.ndarray, integer: bool = False) -> np.ndarray:
    """Inputs as they stay on the model's device: images of small integers (uint8 pixels) as
    they are, 4x smaller than float32 (a batch becomes float32 on the device as the step
    takes it, as Keras casts inputs to the model's dtype), and the integers of an ``integer``
    input (one the model keeps integer: ``Trainer._integer_inputs``); any other numbers as
    float32."""
    if x.dtype.name in SMALL_INTEGERS or (integer and x.dtype.kind in "biu"):
        return x
    return x.astype(np.float32, copy=False)


def resident_inputs(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    """A batch's (or the data's) inputs as they stay on ``model``'s device (:func:`resident`)."""
    integer = model._integer_inputs(len(xs))
    return [resident(a, i) for a, i in zip(xs, integer, strict=True)]


class ArrayBatches:
    """Inputs (see :func:`resident`), targets and sample weights on the model's device
    (uploaded once), served in batches gathered there: shuffled anew each epoch when
    ``shuffle``. Over several processes (:mod:`autoconv.distributed`) each batch is this
    process's share of the global batch, and every process shuffles as process 0 does; unless
    not ``shared`` (predict's: every process sees every batch)."""

    def __init__(
        self, model: Any, x: list[np.ndarray], y: list[Any], w: Any, batch_size: int,
        shared: bool = True,
    ) -> None:  # fmt: skip
        self.xp = namespace(model.device)
        self.world = distributed.current() if shared else None
        self.samples = len(x[0])
        self.batch_size = batch_size
        self.x = [self.xp.asarray(a) for a in resident_inputs(model, x)]
        self.y = [None if a is None else self.xp.asarray(a) for a in y]
        self.w = None if w is None else self.xp.asarray(w)
        self.steps = math.ceil(self.samples / batch_size)
        self.start = 0  # the batch being served: where it starts in the pass's order
        self._identity: Any = None
        self._order: Any = None
        self._order_of_pass: Any = None  # the pass's order (None: in order), and its batches
        self._taken = 0  # taken (0: no pass under way), when an epoch takes `steps` of them

    def batches(
        self, shuffle: bool, steps: int | None = None, epoch: int = 0, first: int = 0
    ) -> Iterator[Batch]:
        """A :class:`Batch` per batch ((inputs, targets, weights), device arrays, weights None
        if none) of one epoch, in an order of ``epoch``'s (see
        :func:`autoconv.seeds.epoch_generator`) when ``shuffle``; from the epoch's batch
        ``first`` on (the same order: a resumed epoch skips the batches done). Take each
        batch's arrays before the next batch is drawn. Without ``steps`` an epoch is a pass
        over the arrays; with ``steps`` (``steps_per_epoch``) it takes the next ``steps``
        batches of a pass that goes on from epoch to epoch, as Keras's epoch iterator: a pass
        that ends first ends the epoch, with Keras's warning, and the next starts a new one."""
        if steps is None or self._taken == 0:
            self._taken, self._order_of_pass = 0, None
            if shuffle:
                order = epoch_generator(epoch).permutation(self.samples)
                if self.world is not None:  # every process takes process 0's order
                    order = self.world.broadcast(order)
                self._order_of_pass = self._shuffled(order)
        order, begin = self._order_of_pass, self._taken
        left = self.steps - begin
        if steps is not None and steps > left:
            warnings.warn(RAN_OUT, stacklevel=2)
        for step in range(begin + first, begin + (left if steps is None else min(steps, left))):
            self._taken = (step + 1) % self.steps  # 0: the pass is over
            start = step * self.batch_size
            stop = min(start + self.batch_size, self.samples)
            if self.world is not None:
                start, stop = self.world.share(start, stop)
            count = stop - start
            self.start = start  # where the step input of a recorded gather reads it
            if order is None:  # in order: a slice, or gathered in order for a recording
                in_order = partial(self._gather, self._in_order(), count)
                cut = partial(self._slice, slice(start, stop))
                yield Batch(cut, count, ("in order", count), in_order)
            else:
                yield Batch(partial(self._gather, order, count), count, ("shuffled", count))

    def ran_out(self) -> bool:
        """Never: arrays make every pass (see :meth:`DatasetBatches.ran_out`)."""
        return False

    def _shuffled(self, order: np.ndarray) -> Any:
        """The epoch's ``order`` in the one device array every shuffled pass gathers from,
        refilled in place: a step recorded in one epoch replays in the next."""
        fresh = self.xp.asarray(order.astype(np.int32))
        if self._order is None:
            self._order = fresh
        else:
            self.xp.copy_into(self._order, fresh)
        return self._order

    def _in_order(self) -> Any:
        """0, 1, ... on the device (made once): the order of an unshuffled pass."""
        if self._identity is None:
            self._identity = self.xp.asarray(np.arange(self.samples, dtype=np.int32))
        return self._identity

    def _slice(self, cut: slice) -> tuple:
        def pick(a: Any) -> Any:
            return None if a is None else a[cut]

        return [pick(a) for a in self.x], [pick(a) for a in self.y], pick(self.w)

    def _gather(self, order: Any, count: int) -> tuple:
        """The batch at ``self.start`` of ``order``, gathered on the device at a step input
        (so that a replayed step gathers each batch at its own place)."""
        xp = self.xp
        start = xp.step_input(lambda: [self.start], np.int64)

        def pick(a: Any) -> Any:
            return None if a is None else xp.take_window(a, order, start, count)

        return [pick(a) for a in self.x], [pick(a) for a in self.y], pick(self.w)


class Batch:
    """One batch of ``fit``'s, ``evaluate``'s data: ``arrays()`` gives (inputs, targets,
    weights) on the model's device, and the batch unpacks to them as well. ``key`` says which
    steps are one program a replay can repeat (:mod:`autoconv.step_replay`): batches of one
    key whose ``replayable()`` arrays are gathered from the same arrays in the same order at a
    step input (``arrays`` itself, or a cheaper slice of the same rows for a step run as it
    comes), or, for a dataset's batch, ``load()`` first copies its host values into the arrays
    every batch of its key is read from (``replayable()`` then gives them); None for a batch
    no step replays."""

    __slots__ = ("arrays", "count", "key", "load", "replayable")

    def __init__(
        self, arrays: Callable[[], tuple], count: int, key: Any = None,
        replayable: Callable[[], tuple] | None = None, load: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.arrays, self.count, self.key, self.load = arrays, count, key, load
        self.replayable = arrays if replayable is None else replayable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.arrays())


# Batch shapes that get device arrays of their own, which each batch of the shape is loaded into
# so that its steps replay (a dataset pass's full batches and its last, shorter one, with room);
# batches of further shapes run as they come.
PLACES = 4


class _Place:
    """The device arrays each batch of one shape is loaded into, (inputs, targets, weights) as
    a batch's: a replayed step reads its batch where the recorded one read its own. A key of
    :class:`Batch` by identity."""

    __slots__ = ("arrays",)

    def __init__(self) -> None:
        self.arrays: tuple | None = None

    def load(self, xp: Any, given: tuple) -> None:
        """Copy the arrays ``given`` (inputs, targets, weights: on the host, or on the device)
        into the place (made at the first batch)."""
        if self.arrays is None:
            self.arrays = _each(given, lambda a: xp.empty(a.shape, a.dtype))
        _each(self.arrays, partial(_copy, xp), given)

    def loaded(self) -> tuple:
        """The arrays the last batch was loaded into."""
        return self.arrays


def _copy(xp: Any, target: Any, source: Any) -> None:
    """target[...] = source: from the host (asynchronously on the GPU), or on the device."""
    if isinstance(source, np.ndarray):
        xp.copy_from_host(target, source)
    else:
        xp.copy_into(target, source)


class Places:
    """The places (:class:`_Place`) of up to ``PLACES`` batch shapes and dtypes: a dataset's,
    for one pass or ``fit``; a model's for its one-batch calls (``train_on_batch``), kept from
    call to call."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self._by_shapes: dict[tuple, _Place] = {}

    def batch(self, given: tuple, count: int) -> Batch:
        """The :class:`Batch` of the arrays ``given`` (inputs, targets, weights, on the host or
        the device): put on the device as they are for a step run as it comes, or loaded into
        the place of their shapes for a recorded or replayed one."""
        xs, ys, w = given
        shapes = tuple(None if a is None else (a.shape, a.dtype.str) for a in (*xs, *ys, w))
        place = self._by_shapes.get(shapes)
        if place is None and len(self._by_shapes) < PLACES:
            place = self._by_shapes[shapes] = _Place()
        arrays = partial(_each, given, self.xp.asarray)
        if place is None:
            return Batch(arrays, count)
        load = partial(place.load, self.xp, given)
        return Batch(arrays, count, ("place", place), place.loaded, load)


def _each(batch: tuple, change: Callable, *others: tuple) -> tuple:
    """(inputs, targets, weights) with ``change`` applied to each array (with the same array
    of each of ``others``); None stays None."""

    def one(a: Any, *more: Any) -> Any:
        return None if a is None else change(a, *more)

    (xs, ys, w), rest = batch, [tuple(o) for o in others]
    return (
        [one(a, *(o[0][k] for o in rest)) for k, a in enumerate(xs)],
        [one(a, *(o[1][k] for o in rest)) for k, a in enumerate(ys)],
        one(w, *(o[2] for o in rest)),
    )
