"""Keras 3's sharded weights: ``save_weights("m.weights.json", max_shard_size=...)`` writes
the layout of :mod:`.h5_state` cut into ``m_00000.weights.h5``, ``m_00001.weights.h5``, ...
beside an index ``m.weights.json`` (``{"metadata": {"total_size": bytes}, "weight_map":
{"/<group>/vars": shard name or [names]}}``), as Keras's ``ShardedH5IOStore``: the arrays in
Keras's order, a new shard started where the next array would take the current one past
``max_shard_size`` GB (a group cut across shards is in each of them, listed under every one).

Reading checks the index before opening any shard: a JSON object whose ``weight_map`` names,
for each group, shards by plain file names in the index's folder (no folder, no ``..``), each
one there. A group is read from the shards listed for it, through :func:`h5_state.member`'s
checks; then :func:`h5_state.read` checks every array as it does a single file's."""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autoconv.atomic import check_target, write_atomically
from autoconv.models.summary import readable_size
from autoconv.saving import h5_state
from autoconv.saving.files import (
    FILE_ERRORS,
    ModelFileError,
    checked_dict,
    checked_str,
    reason,
)

MAX_INDEX_BYTES = 64 * 2**20


def _keras_size(value: np.ndarray) -> float:
    """An array's size in bytes as Keras counts it (a boolean is one bit)."""
    bits = 1 if value.dtype == np.bool_ else value.dtype.itemsize * 8
    return math.prod(value.shape) * bits / 8


# ------------------------------------------------------------------------------ writing
class _ShardWriter:
    """What :func:`h5_state.write` writes into (``create_group``), cut into shards in memory."""

    def __init__(self, base: str, max_bytes: float) -> None:
        self.base = base
        self.max_bytes = max_bytes
        self.shards: list[tuple[str, io.BytesIO, Any]] = []
        self.weight_map: dict[str, Any] = {}
        self.total = 0.0
        self.current = 0.0
        self._new_shard()

    def _new_shard(self) -> None:
        name = f"{self.base}_{len(self.shards):05}.weights.h5"
        buffer = io.BytesIO()
        self.shards.append((name, buffer, h5py.File(buffer, "w")))

    def create_group(self, path: str) -> _ShardGroup:
        return _ShardGroup(self, path)

    def add(self, group: _ShardGroup, key: str, value: np.ndarray) -> None:
        size = _keras_size(value)
        self.total += size
        if size > self.max_bytes:
            raise ValueError(
                f"The size of {key} is {readable_size(size)} which exceeds the maximum shard "
                f"size {readable_size(self.max_bytes)}. You can increase the `max_shard_size` "
                "parameter to accommodate the size."
            )
        self.current += size
        if self.current > self.max_bytes:
            self._new_shard()
            self.current = size
        name, _, h5 = self.shards[-1]
        if group.shard != len(self.shards) - 1:  # (the group goes on in the new shard)
            group.group = h5.require_group(group.path)
            group.shard = len(self.shards) - 1
        group.group.create_dataset(key, data=value)
        listed = self.weight_map.get(group.group.name)
        if listed is None:  # (Keras's: a name, made a list at the group's next array)
            self.weight_map[group.group.name] = name
        else:
            listed = listed if isinstance(listed, list) else [listed]
            self.weight_map[group.group.name] = listed + [name] * (name not in listed)

    def files(self) -> list[tuple[str, bytes]]:
        """``(shard name, bytes)`` of every shard, closed."""
        for _, _, h5 in self.shards:
            h5.close()
        return [(name, buffer.getvalue()) for name, buffer, _ in self.shards]

    def index(self) -> str:
        return json.dumps(
            {"metadata": {"total_size": self.total}, "weight_map": self.weight_map}, indent=4
        )


class _ShardGroup:
    """A ``vars`` group being written: in the shard that was current when it was made (its
    ``attrs`` there, as Keras's), continued in later ones as its arrays overflow."""

    def __init__(self, writer: _ShardWriter, path: str) -> None:
        self.writer = writer
        self.path = path
        self.shard = len(writer.shards) - 1
        self.group = writer.shards[-1][2].create_group(path)
        self.attrs = self.group.attrs

    def create_dataset(self, key: str, data: Any) -> None:
        self.writer.add(self, key, np.asarray(data))


def shard_parameters(path: Path, max_shard_size: Any) -> tuple[Path, str, float]:
    """The index's path, the shards' base name and the largest shard in bytes, as Keras's
    ``ShardedH5IOStore`` takes them (a ``.weights.h5`` name becomes ``.weights.json``, with
    its warning)."""
    max_bytes = float(max_shard_size) * 1024**3
    base = path.stem.replace(".weights", "")
    if path.suffix != ".json":
        index = path.with_suffix(".json")
        warnings.warn(
            f"Saving sharded weights requires `*.json` as the extension. The original path: "
            f"{path} will be renamed to {index}.",
            stacklevel=4,
        )
        path = index
    return path, base, max_bytes


def save_weights(model: Any, path: Path, max_shard_size: Any) -> None:
    """Write ``model``'s weights (and optimizer state) as Keras's sharded weights: every shard
    checked and made in memory first, then written (each atomically), the index last."""
    index, base, max_bytes = shard_parameters(path, max_shard_size)
    writer = _ShardWriter(base, max_bytes)
    try:
        h5_state.write(writer, model)  # type: ignore[arg-type]
    finally:
        files = writer.files()
    folder = index.parent
    for target in [index, *(folder / name for name, _ in files)]:
        check_target(target)
    for name, data in files:
        write_atomically(folder / name, lambda f, data=data: f.write(data))
    text = writer.index().encode()
    write_atomically(index, lambda f: f.write(text))


# ------------------------------------------------------------------------------ reading
def read_index(path: Path) -> dict[str, list[str]]:
    """The index's weight map, ``{group: [shard names]}``, each name checked to be a plain
    file name in the index's folder, and each shard there."""
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise ValueError(f"its index is larger than {MAX_INDEX_BYTES} bytes")
    try:
        index = json.loads(path.read_bytes())
    except ValueError as error:
        raise ValueError(f"its index is not JSON ({error})") from None
    weight_map = checked_dict(checked_dict(index, "the index").get("weight_map"), "weight_map")
    shards: dict[str, list[str]] = {}
    for group, listed in weight_map.items():
        names = listed if isinstance(listed, list) else [listed]
        if not names:
            raise ValueError(f"weight_map lists no shard for {group}")
        for name in names:
            checked_str(name, f"a shard name of {group}")
            if Path(name).name != name or name in (".", "..") or "\\" in name or "\0" in name:
                raise ValueError(
                    f"its shard name {name!r} (of {group}) is not a plain file name; the "
                    "shards are files beside the index"
                )
            shard = path.parent / name
            if not shard.is_file():
                raise ValueError(f"its shard {name} (of {group}) is missing from {path.parent}")
        shards[group] = list(dict.fromkeys(names))
    return shards


class ShardedView:
    """The shards of an index as one file to :func:`h5_state.read`: ``get(path)`` gives a
    ``vars`` group from the shards the index lists for it (a dict of its arrays where it is
    cut across several), or None where the index lists none."""

    def __init__(self, folder: Path, shards: dict[str, list[str]]) -> None:
        self.folder = folder
        self.shards = shards
        self.open: dict[str, Any] = {}

    def __enter__(self) -> ShardedView:
        return self

    def __exit__(self, *exc: Any) -> None:
        for h5 in self.open.values():
            h5.close()

    def _file(self, name: str) -> Any:
        if name not in self.open:
            try:
                self.open[name] = h5py.File(self.folder / name, "r")
            except OSError as error:
                raise ValueError(f"its shard {name} is not an HDF5 file ({error})") from None
        return self.open[name]

    def get(self, path: str) -> Any:
        names = self.shards.get(f"/{path}")
        if names is None:
            return None
        parts = []
        for name in names:
            group = h5_state.member(self._file(name), path)
            if group is None or not isinstance(group, h5py.Group):
                raise ValueError(f"its index lists /{path} in shard {name}, which lacks it")
            parts.append(group)
        if len(parts) == 1:
            return parts[0]
        merged: dict[str, Any] = {}
        for name, group in zip(names, parts, strict=True):
            for key in group.keys():
                if key in merged:
                    raise ValueError(f"its /{path}/{key} is in more than one shard ({name})")
                merged[key] = h5_state.member(group, key)
        return merged


def load_weights(model: Any, path: Path, skip_mismatch: bool = False) -> None:
    """Set ``model``'s weights (and its optimizer's state, where both have one) from Keras's
    sharded weights, all checked before any is set, as from a single ``.weights.h5`` file."""
    if not model.built:
        raise ValueError(f"load_weights: model {model.name} is not built yet; build it first")
    try:
        with ShardedView(path.parent, read_index(path)) as view:
            pairs, optimizer_state = h5_state.read_weights_file(view, model, skip_mismatch)
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_weights: {path}: {reason(error)}") from None
    h5_state.assign(model, pairs, optimizer_state)
