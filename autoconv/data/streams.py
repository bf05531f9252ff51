"""The iterators behind :class:`~autoconv.data.Dataset`'s stages: a shuffle buffer, a map on
threads, a prefetch thread, a cache file, windows and interleaving. Each takes and gives plain
iterators of elements, so it knows nothing of Datasets."""

from __future__ import annotations

import itertools
import os
import queue
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def shuffled(elements: Iterator[Any], buffer_size: int, rng: np.random.Generator) -> Iterator:
    """``tf.data``'s shuffle: fill a buffer, then yield a random slot and refill it."""
    buffer = list(itertools.islice(elements, buffer_size))
    slots = iter(())
    for element in elements:
        slot = next(slots, None)
        if slot is None:  # random slots are drawn 1024 at a time: one draw each costs ~us
            slots = iter(rng.integers(len(buffer), size=1024).tolist())
            slot = next(slots)
        yield buffer[slot]
        buffer[slot] = element
    rng.shuffle(buffer)
    yield from buffer


def parallel_map(
    elements: Iterator[Any], fn: Callable[[Any], Any], workers: int, ahead: int | None = None
) -> Iterator:
    """``fn`` over ``elements`` on ``workers`` threads, results in input order, with at most
    ``ahead`` (default 2 * workers) calls started and not yet consumed. An error of ``fn`` is
    raised at its element's place; the threads are gone once the iterator ends or closes."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix="autoconv-map")
    pending: deque = deque()
    ahead = 2 * workers if ahead is None else ahead
    try:
        for element in elements:
            pending.append(pool.submit(fn, element))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


def prefetched(one_pass: Callable[[], Iterator[Any]], buffer_size: int) -> Iterator[Any]:
    """The elements of ``one_pass()``, produced on a background thread into a queue of
    ``buffer_size``; an error there is raised here, at the element it replaced."""
    ready: queue.Queue = queue.Queue(buffer_size)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        elements = one_pass()
        try:
            for element in elements:
                if not put((element, None)):
                    return
            put((_END, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((_END, error))
        finally:
            close = getattr(elements, "close", None)
            if close is not None:
                close()  # stops the stages upstream (a parallel map's threads)

    thread = threading.Thread(target=produce, name="autoconv-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            element, error = ready.get()
            if error is not None:
                raise error
            if element is _END:
                return
            yield element
    finally:
        stop.set()
        thread.join()


def file_cached(one_pass: Callable[[], Iterator[Any]], path: Path) -> Callable[[], Iterator[Any]]:
    """A pass that reads ``path`` if it exists, else runs ``one_pass()`` and writes its
    elements there (atomically, once the pass is complete)."""
    from autoconv.data import cachefile  # it imports the datasets package: only when used

    def iterate() -> Iterator[Any]:
        if path.exists():
            yield from cachefile.read(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = cachefile.Writer(f)
                for element in one_pass():
                    writer.write(element)
                    yield element
                writer.close()
            os.replace(tmp_name, path)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    return iterate


def windows(
    elements: Iterator[Any], size: int, shift: int, stride: int, drop_remainder: bool
) -> Iterator[list[Any]]:
    """``tf.data``'s windows: the k-th holds elements k*shift, k*shift + stride, ... (``size``
    of them, fewer at the end unless ``drop_remainder``), one starting at each k*shift the
    input reaches. Holds at most one window's span of elements."""
    span = (size - 1) * stride + 1
    buffer: deque = deque()
    skip = 0  # elements between this window's start and the next one's, when shift > span
    for element in elements:
        if skip:
            skip -= 1
            continue
        buffer.append(element)
        if len(buffer) == span:
            yield list(itertools.islice(buffer, 0, span, stride))
            for _ in range(min(shift, span)):
                buffer.popleft()
            skip = max(shift - span, 0)
    while buffer and not drop_remainder:  # the windows that start in the input's last span
        yield list(itertools.islice(buffer, 0, span, stride))
        for _ in range(min(shift, len(buffer))):
            buffer.popleft()


def interleaved(
    inputs: Iterator[Any], open_: Callable[[Any], Iterator[Any]], cycle_length: int, block: int
) -> Iterator[Any]:
    """``tf.data``'s interleave, in its deterministic order: ``cycle_length`` slots, each the
    iterator ``open_`` makes of an input element; ``block`` elements from each slot in turn; a
    slot that ends moves the turn on, and an empty slot takes the next input element."""
    slots: list[Iterator[Any] | None] = [None] * cycle_length
    slot, taken, inputs_left, open_count = 0, 0, True, 0
    while inputs_left or open_count:
        current = slots[slot]
        if current is None and inputs_left:
            element = next(inputs, _END)
            if element is _END:
                inputs_left = False
            else:
                slots[slot] = open_(element)
                open_count += 1
            continue
        if current is not None:
            item = next(current, _END)
            if item is not _END:
                yield item
                taken += 1
                if taken < block:
                    continue
            else:
                slots[slot] = None
                open_count -= 1
        slot, taken = (slot + 1) % cycle_length, 0
