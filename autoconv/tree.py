"""Nested structures, as Keras 3's ``keras.tree`` (keras/src/tree/tree_api.py, with the
semantics of its optree implementation, which the JAX and TensorFlow backends use).

A structure is a leaf or a node: a list, a tuple, a namedtuple, a dict (any Mapping type
built from its items: ``OrderedDict``, ``defaultdict``), or an instance of a class registered
with :func:`register_tree_node_class`. ``None`` is a leaf. A dict's children are taken in
sorted key order (an ``OrderedDict``'s in its own); rebuilding one keeps its key order.

>>> flatten({"b": [1, 2], "a": (3, None)})
[3, None, 1, 2]
>>> map_structure(lambda x: x * 2, {"b": [1, 2], "a": 3})
{'b': [2, 4], 'a': 6}
"""

from __future__ import annotations

import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten",
    "flatten_with_path", "is_nested", "lists_to_tuples", "map_shape_structure",
    "map_structure", "map_structure_up_to", "pack_sequence_as", "register_tree_node_class",
    "traverse",
]  # fmt: skip


class MAP_TO_NONE:  # (Keras's name)
    """Returned by :func:`traverse`'s function: put None in the sub-tree's place."""


_registered: set[type] = set()


def register_tree_node_class(cls: type) -> type:
    """Make instances of ``cls`` nodes: ``obj.tree_flatten()`` gives ``(children, metadata)``
    and ``cls.tree_unflatten(metadata, children)`` rebuilds one (optree's protocol, which
    Keras's takes). Usable as a class decorator."""
    for method in ("tree_flatten", "tree_unflatten"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"register_tree_node_class: {cls.__name__} has no {method}()")
    _registered.add(cls)
    return cls


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(structure: Any) -> bool:
    """Whether ``structure`` is a node (a list, tuple, namedtuple, dict or registered class)."""
    return isinstance(structure, list | tuple | Mapping) or type(structure) in _registered


def _children(node: Any) -> tuple[list[Any], list[Any]]:
    """(the keys of a node's children, the children), in flattening order."""
    if isinstance(node, Mapping):
        keys = list(node) if isinstance(node, OrderedDict) else sorted(node)
        return keys, [node[k] for k in keys]
    if type(node) in _registered:
        children = list(node.tree_flatten()[0])
        return list(range(len(children))), children
    return list(range(len(node))), list(node)


def _rebuilt(node: Any, children: list[Any]) -> Any:
    """A node like ``node`` holding ``children`` (in flattening order)."""
    if isinstance(node, Mapping):
        by_key = dict(zip(_children(node)[0], children, strict=True))
        items = [(k, by_key[k]) for k in node]
        if isinstance(node, defaultdict):
            return defaultdict(node.default_factory, items)
        return type(node)(items)
    if type(node) in _registered:
        return type(node).tree_unflatten(node.tree_flatten()[1], children)
    if _is_namedtuple(node):
        return type(node)(*children)
    return type(node)(children)


def flatten(structure: Any) -> list[Any]:
    """The leaves of ``structure``, depth first (a leaf alone gives ``[leaf]``)."""
    if not is_nested(structure):
        return [structure]
    return [leaf for child in _children(structure)[1] for leaf in flatten(child)]


def flatten_with_path(structure: Any) -> list[tuple[tuple[Any, ...], Any]]:
    """``(path, leaf)`` for each leaf: the path of keys and indices from the top."""
    if not is_nested(structure):
        return [((), structure)]
    keys, children = _children(structure)
    return [((key, *path), leaf) for key, child in zip(keys, children, strict=True)
            for path, leaf in flatten_with_path(child)]  # fmt: skip


def _check_same_node(first: Any, other: Any) -> None:
    """Raise Keras's ValueError unless ``other`` is a node of ``first``'s kind and size."""
    if not is_nested(other):
        raise ValueError(f"Expected an instance of {type(first).__name__}, got {other!r}.")
    if isinstance(first, Mapping) != isinstance(other, Mapping) or (
        not isinstance(first, Mapping) and type(first) is not type(other)
    ):
        raise ValueError(f"Expected an instance of {type(first).__name__}, got {other!r}.")
    if isinstance(first, Mapping):
        expected, got = sorted(first), sorted(other)
        if expected != got:
            raise ValueError(
                f"dictionary key mismatch; expected key(s): {expected}, got key(s): {got}, "
                f"missing key(s): {sorted(set(expected) - set(got))}, extra key(s): "
                f"{sorted(set(got) - set(expected))}; dict: {other!r}."
            )
    elif len(_children(first)[1]) != len(_children(other)[1]):
        raise ValueError(
            f"{type(first).__name__} arity mismatch; expected: {len(first)}, got: {len(other)}; "
            f"{type(other).__name__}: {other!r}."
        )


def map_structure(func: Callable[..., Any], *structures: Any, none_is_leaf: bool = True) -> Any:
    """``func`` applied to the leaves at the same place in each of ``structures`` (all of one
    structure), in the first one's structure. With ``none_is_leaf=False`` a None is kept as
    it is (all of the structures must have None there)."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    first = structures[0]
    if not is_nested(first):
        if not none_is_leaf and first is None:
            if any(s is not None for s in structures[1:]):
                raise ValueError(
                    "Structure mismatch: some arguments are None, others are not. Received "
                    f"arguments: {structures}."
                )
            return None
        if any(is_nested(other) for other in structures[1:]):
            raise ValueError("Structures don't have the same nested structure.")
        return func(*structures)
    for other in structures[1:]:
        _check_same_node(first, other)
    columns = zip(*(_children(s)[1] for s in structures), strict=True)
    mapped = [map_structure(func, *column, none_is_leaf=none_is_leaf) for column in columns]
    return _rebuilt(first, mapped)


def map_structure_up_to(shallow_structure: Any, func: Callable[..., Any], *structures: Any) -> Any:
    """``func`` applied to the sub-trees of ``structures`` at the leaves of
    ``shallow_structure`` (a prefix of each of their structures)."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    if not is_nested(shallow_structure):
        return func(*structures)
    for other in structures:
        _check_same_node(shallow_structure, other)
    columns = zip(*(_children(s)[1] for s in (shallow_structure, *structures)), strict=True)
    mapped = [map_structure_up_to(column[0], func, *column[1:]) for column in columns]
    return _rebuilt(shallow_structure, mapped)


def assert_same_structure(a: Any, b: Any, check_types: bool | None = None) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same nested structure."""
    if check_types is not None:
        warnings.warn(
            "The `check_types` argument is deprecated and no longer has any effect, please remove.",
            DeprecationWarning,
            stacklevel=2,
        )
    try:
        map_structure(lambda *_: None, a, b)
    except ValueError:
        raise ValueError("Structures don't have the same nested structure.") from None


def assert_same_paths(a: Any, b: Any) -> None:
    """Raise ValueError, naming the differences, unless ``a`` and ``b`` have the same paths."""
    a_paths = {path for path, _ in flatten_with_path(a)}
    b_paths = {path for path, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        message = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            message += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            message += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(message)


def pack_sequence_as(structure: Any, flat_sequence: Any) -> Any:
    """``structure`` with its leaves replaced, in :func:`flatten`'s order, by
    ``flat_sequence``'s items (exactly as many)."""
    count = len(flatten(structure))
    if not isinstance(flat_sequence, list | tuple):
        raise TypeError(f"flat_sequence must be a list or tuple, got {type(flat_sequence)}")
    if len(flat_sequence) < count:
        raise ValueError(
            f"Too few leaves for PyTreeSpec; expected: {count}, got: {len(flat_sequence)}."
        )
    if len(flat_sequence) > count:
        raise ValueError(f"Too many leaves for PyTreeSpec; expected: {count}.")
    items = iter(flat_sequence)
    return map_structure(lambda _: next(items), structure)


def traverse(func: Callable[[Any], Any], structure: Any, top_down: bool = True) -> Any:
    """``structure`` with each sub-tree passed to ``func``, depth first. Top-down, a sub-tree
    for which ``func`` returns something is replaced by it and not entered; bottom-up, the
    sub-trees (their children done first) are replaced where ``func`` returns something.
    ``MAP_TO_NONE`` stands for None."""
    if not callable(func):
        raise TypeError(f"traverse: func must be callable, got {func!r}")

    def visit(node: Any) -> Any:
        if top_down:
            result = func(node)
            if result is None:
                result = _descend(node)
        else:
            node = _descend(node)
            result = func(node)
            result = node if result is None else result
        return None if result is MAP_TO_NONE else result

    def _descend(node: Any) -> Any:
        if not is_nested(node):
            return node
        return _rebuilt(node, [visit(child) for child in _children(node)[1]])

    return visit(structure)


def lists_to_tuples(structure: Any) -> Any:
    """``structure`` with every list made a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def map_shape_structure(func: Callable[[Any], Any], structure: Any) -> Any:
    """``func`` applied to each shape of ``structure`` (a list or tuple of ints and Nones is a
    shape, not a node)."""

    def is_shape(x: Any) -> bool:
        return isinstance(x, list | tuple) and all(isinstance(e, int | type(None)) for e in x)

    if is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuilt(
        structure, [map_shape_structure(func, child) for child in _children(structure)[1]]
    )
