"""autoconv.tree against Keras 3.15's keras.tree (its optree implementation, the semantics of
the JAX and TensorFlow backends; optree comes with Keras): flatten, paths, mapping, packing,
traversal, structure checks and registered classes, over nested lists, tuples, namedtuples,
dicts (sorted keys, rebuilt in their own order), defaultdicts and None leaves."""

from __future__ import annotations

import collections
import os
from typing import Any

import pytest

from autoconv import tree

Point = collections.namedtuple("Point", "y x")

STRUCTURES: list[Any] = [
    1,
    None,
    [],
    [1, None, (2, 3)],
    {"b": [1, None, (2, 3)], "a": Point(4, {"z": 5, "y": 6})},
    collections.OrderedDict([("z", 1), ("a", [2, {"k": 3}])]),
    collections.defaultdict(list, {"q": (1,), "p": [2, 3]}),
    ((), [[]], {"e": {}}),
]


@pytest.fixture(scope="module")
def keras_tree():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("optree")
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from keras.src.tree import optree_impl

    return optree_impl


@pytest.mark.parametrize("structure", STRUCTURES, ids=repr)
def test_flattening_and_packing_match_keras(keras_tree, structure):
    assert tree.flatten(structure) == keras_tree.flatten(structure)
    assert tree.flatten_with_path(structure) == keras_tree.flatten_with_path(structure)
    assert tree.is_nested(structure) == keras_tree.is_nested(structure)
    count = len(tree.flatten(structure))
    packed, expected = (impl.pack_sequence_as(structure, list(range(count)))
                        for impl in (tree, keras_tree))  # fmt: skip
    assert packed == expected and type(packed) is type(expected)
    assert repr(packed) == repr(expected)  # key order kept


@pytest.mark.parametrize("structure", STRUCTURES, ids=repr)
def test_mapping_and_traversal_match_keras(keras_tree, structure):
    def double(x: Any) -> Any:
        return None if x is None else x * 2

    assert repr(tree.map_structure(double, structure)) == repr(
        keras_tree.map_structure(double, structure)
    )
    assert repr(tree.lists_to_tuples(structure)) == repr(keras_tree.lists_to_tuples(structure))
    for top_down in (True, False):
        ours, theirs = [], []
        tree.traverse(ours.append, structure, top_down=top_down)
        keras_tree.traverse(theirs.append, structure, top_down=top_down)
        assert repr(ours) == repr(theirs)


def test_map_structure_over_several_structures_and_none_leaves():
    assert tree.map_structure(lambda a, b: a + b, {"x": 1, "y": 2}, {"y": 3, "x": 4}) == {
        "x": 5, "y": 5}  # fmt: skip
    assert tree.map_structure(lambda x: 1, [None, 2], none_is_leaf=False) == [None, 1]
    with pytest.raises(ValueError, match="some arguments are None, others are not"):
        tree.map_structure(lambda a, b: a, [None], [1], none_is_leaf=False)
    with pytest.raises(ValueError, match="Must provide at least one structure"):
        tree.map_structure(lambda: 0)


@pytest.mark.parametrize(
    ("a", "b"),
    [([1, 2], (1, 2)), ([1, 2], [1, [2]]), ({"a": 1}, {"b": 1}), ([1], [1, 2]), (1, [1])],
)
def test_mismatched_structures_are_refused_as_keras_refuses_them(keras_tree, a, b):
    with pytest.raises(ValueError) as theirs:
        keras_tree.map_structure(lambda *_: None, a, b)
    with pytest.raises(ValueError) as ours:
        tree.map_structure(lambda *_: None, a, b)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="Structures don't have the same nested structure"):
        tree.assert_same_structure(a, b)


def test_assert_same_paths_names_the_differences(keras_tree):
    a, b = {"x": 1, "y": [2]}, {"x": 1, "z": [2]}
    with pytest.raises(ValueError) as ours:
        tree.assert_same_paths(a, b)
    with pytest.raises(ValueError) as theirs:
        keras_tree.assert_same_paths(a, b)
    assert str(ours.value) == str(theirs.value)
    tree.assert_same_paths({"x": [1]}, {"x": (5,)})


def test_map_structure_up_to_and_shapes(keras_tree):
    shallow, deep = [1, {"a": 2}], [[1, 2], {"a": (3, 4)}]
    assert tree.map_structure_up_to(shallow, len, deep) == keras_tree.map_structure_up_to(
        shallow, len, deep
    )
    shapes = {"x": (None, 3), "y": [(1,), (2, None)]}
    assert tree.map_shape_structure(list, shapes) == keras_tree.map_shape_structure(list, shapes)


def test_pack_sequence_as_counts_the_leaves(keras_tree):
    for flat in ([1], [1, 2, 3]):
        with pytest.raises(ValueError) as ours:
            tree.pack_sequence_as([1, [2]], flat)
        with pytest.raises(ValueError) as theirs:
            keras_tree.pack_sequence_as([1, [2]], flat)
        assert str(ours.value) == str(theirs.value)


def test_traverse_replaces_and_prunes():
    structure = [(1, 2), [3], {"a": 4}]
    assert tree.traverse(lambda x: "t" if isinstance(x, tuple) else None, structure) == [
        "t", [3], {"a": 4}]  # fmt: skip
    assert tree.traverse(lambda x: tree.MAP_TO_NONE if x == 3 else None, structure) == [
        (1, 2), [None], {"a": 4}]  # fmt: skip


@tree.register_tree_node_class
class Pair:
    def __init__(self, left: Any, right: Any, tag: str = "") -> None:
        self.left, self.right, self.tag = left, right, tag

    def tree_flatten(self) -> tuple[list[Any], str]:
        return [self.left, self.right], self.tag

    @classmethod
    def tree_unflatten(cls, tag: str, children: list[Any]) -> Pair:
        return cls(*children, tag=tag)


def test_registered_classes_are_nodes():
    doubled = tree.map_structure(lambda x: x * 2, [Pair(1, [2]), 3])
    assert isinstance(doubled[0], Pair) and (doubled[0].left, doubled[0].right) == (2, [4])
    assert tree.flatten(Pair(Pair(1, 2, "in"), 3)) == [1, 2, 3]
    with pytest.raises(TypeError, match="has no tree_flatten"):
        tree.register_tree_node_class(int)
