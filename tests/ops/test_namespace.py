"""``autoconv.ops`` has every name of ``keras.ops`` (Keras 3.15), each submodule Keras's, and
docs/keras-ops.md says truly which are implemented."""

from __future__ import annotations

import inspect
import os
import pathlib
import re

import pytest

from autoconv import ops
from tests.ops import ops_table

os.environ.setdefault("KERAS_BACKEND", "torch")
DOCS = pathlib.Path(__file__).parents[2] / "docs" / "keras-ops.md"


def documented() -> dict[str, list[tuple[str, str]]]:
    """The table in docs/keras-ops.md: (name, status) rows by namespace."""
    groups: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"## (?:`ops\.(\w+)`|core and math)", line)
        if heading:
            current = heading.group(1) or "core_and_math"
            groups[current] = []
        row = re.match(r"\| `(\w+)` \| (.+) \|$", line)
        if row:
            groups[current].append((row.group(1), row.group(2)))
    return groups


def test_the_table_covers_keras_names() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    names = ops_table.keras_names()
    assert {g: [n for n, _ in rows] for g, rows in documented().items()} == names
    assert sum(len(v) for v in names.values()) >= 341


def test_the_table_is_current() -> None:
    groups = {g: [n for n, _ in rows] for g, rows in documented().items()}
    assert DOCS.read_text() == ops_table.table(groups)


@pytest.mark.parametrize(
    ("group", "name"),
    [(g, n) for g, rows in documented().items() for n, _ in rows],
)
def test_every_name_exists_and_unimplemented_ones_say_so(group: str, name: str) -> None:
    module = ops if group == "core_and_math" else getattr(ops, group)
    function = getattr(module, name)
    assert callable(function)
    if group in ("numpy", "nn", "linalg"):
        assert callable(getattr(ops, name))  # also at the top, as in Keras
    why = getattr(function, "not_implemented", None)
    if why:
        with pytest.raises(NotImplementedError, match=name):
            function()


@pytest.mark.parametrize(
    ("group", "name"),
    [(g, n) for g, rows in documented().items() for n, _ in rows],
)
def test_signatures_are_keras_s(group: str, name: str) -> None:
    """Every function takes Keras's arguments, named and defaulted as Keras's: a call written
    for Keras binds the same way (and a graph's recorded call saves as Keras saves it)."""
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    theirs = getattr(keras.ops if group == "core_and_math" else getattr(keras.ops, group), name)
    ours = getattr(ops if group == "core_and_math" else getattr(ops, group), name)
    ours = getattr(ours, "computes", ours)

    def parameters(function: object) -> list[tuple[str, object]]:
        return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]

    assert parameters(ours) == parameters(theirs)
