"""autoconv.name_scope (layers/calls.py's NameScope), as keras.name_scope: the paths of
variables made inside, nested scopes, override_parent, a caller's scope entered once, and the
errors; compared with Keras's paths."""

from __future__ import annotations

import threading

import pytest

import autoconv as ac


def paths(library):
    """The paths of variables ``library`` makes inside name scopes."""
    out = []
    with library.name_scope("outer"):
        out.append(library.Variable(1.0, name="v").path)
        dense = library.layers.Dense(2, name="d")
        dense.build((None, 3))
        out.append(dense.kernel.path)
        with library.name_scope("inner"):
            out.append(library.Variable(1.0, name="u").path)
        with library.name_scope("x", override_parent="a/b"):
            out.append(library.Variable(1.0, name="u").path)
        out.append(library.Variable(1.0, name="u").path)
        caller = object()
        with library.name_scope("c", caller=caller):
            with library.name_scope("c", caller=caller):
                out.append(library.Variable(1.0, name="u").path)
            with library.name_scope("c", caller=caller, deduplicate=False):
                out.append(library.Variable(1.0, name="u").path)
            with library.name_scope("c"):
                out.append(library.Variable(1.0, name="u").path)
        model = library.Sequential([library.Input((3,)), library.layers.Dense(2, name="dd")])
        out.extend(w.path.split("/", 2)[::2] for w in model.weights)  # (the model's name apart)
    out.append(library.Variable(2.0, name="w").path)
    return out


def test_paths_as_keras(keras):
    ours = paths(ac)
    assert ours == paths(keras)
    assert ours[:8] == [
        "outer/v",
        "outer/d/kernel",
        "outer/inner/u",
        "a/b/x/u",
        "outer/u",
        "outer/c/u",
        "outer/c/c/u",
        "outer/c/c/u",
    ]


def test_a_scope_ends_with_its_block_even_on_an_error():
    with pytest.raises(RuntimeError), ac.name_scope("failing"):
        raise RuntimeError("inside")
    assert ac.Variable(1.0, name="after").path == "after"


def test_each_thread_has_its_own_scopes():
    seen = []
    with ac.name_scope("main"):
        thread = threading.Thread(target=lambda: seen.append(ac.Variable(1.0, name="t").path))
        thread.start()
        thread.join()
    assert seen == ["t"]


@pytest.mark.parametrize("name", ["a/b", 3, None])
def test_a_name_with_a_slash_or_not_a_string_is_refused(name):
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        ac.name_scope(name)
