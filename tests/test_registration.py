"""Functions by name (autoconv/registration.py), against Keras 3.15: a function registered with
``register_keras_serializable`` (or given in ``custom_objects`` or a scope) is written as Keras
writes every function, ``{"module": "builtins", "class_name": "function", "config":
"package>name", "registered_name": "function"}``, wherever a layer's config holds one (an
activation, an initializer, a regularizer, a constraint), and that entry gives it back."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import registration

PACKAGE = "registration_tests"


@functools.cache
def _functions(lib: Any) -> dict[str, Any]:
    """One function per argument of Dense that takes a callable, written against ``lib`` and
    registered under the same names in both libraries."""
    register = lib.saving.register_keras_serializable(package=PACKAGE)

    def halved(x: Any) -> Any:
        return x * 0.5

    def filled(shape: Any, dtype: Any = None) -> Any:
        return np.full(shape, 0.25, dtype)

    def penalty(weight: Any) -> Any:
        return lib.ops.sum(lib.ops.abs(weight)) * 0.01

    def clipped(weight: Any) -> Any:
        return lib.ops.clip(weight, -1.0, 1.0)

    return {
        "activation": register(halved),
        "kernel_initializer": register(filled),
        "kernel_regularizer": register(penalty),
        "kernel_constraint": register(clipped),
    }


def _dense(lib: Any, argument: str) -> Any:
    return lib.layers.Dense(2, name="dense", **{argument: _functions(lib)[argument]})


@pytest.mark.parametrize("argument", ["activation", "kernel_initializer", "kernel_regularizer",
                                      "kernel_constraint"])  # fmt: skip
def test_a_registered_function_in_a_config_is_written_as_kerass(keras, argument):
    ours = _dense(ac, argument).get_config()[argument]
    assert ours == _dense(keras, argument).get_config()[argument]
    assert ours["config"] == f"{PACKAGE}>{_functions(ac)[argument].__name__}"


@pytest.mark.parametrize("argument", ["activation", "kernel_initializer", "kernel_regularizer",
                                      "kernel_constraint"])  # fmt: skip
def test_kerass_config_gives_the_registered_function_back(keras, argument):
    registered = _functions(ac)[argument]  # (registered before the config is read)
    config = _dense(keras, argument).get_config()
    assert getattr(ac.layers.Dense.from_config(config), argument) is registered


@pytest.mark.parametrize("argument", ["kernel_initializer", "kernel_regularizer",
                                      "kernel_constraint"])  # fmt: skip
def test_an_unregistered_function_is_written_by_its_name_as_kerass(keras, argument):
    def unregistered(x: Any, dtype: Any = None) -> Any:
        return x

    ours = ac.layers.Dense(2, **{argument: unregistered}).get_config()[argument]
    assert ours == keras.layers.Dense(2, **{argument: unregistered}).get_config()[argument]
    assert ours["config"] == "unregistered"
    with ac.saving.custom_object_scope({"unregistered": unregistered}):
        config = ac.layers.Dense(2, **{argument: unregistered}).get_config()
        assert getattr(ac.layers.Dense.from_config(config), argument) is unregistered


def test_a_function_given_by_name_in_a_scope_is_saved_and_found():
    def scoped(x: Any) -> Any:
        return x

    assert registration.function_name(scoped) is None
    with ac.saving.custom_object_scope({"scoped": scoped}):
        assert registration.function_name(scoped) == "scoped"
        entry = registration.function_entry("scoped")
        assert registration.find_function(entry) is scoped
    assert registration.find_function(entry) is None
    assert registration.find_function(entry, custom_objects={"scoped": scoped}) is scoped


def test_a_function_not_found_is_named(keras):
    registered = _functions(ac)["activation"]
    entry = keras.saving.serialize_keras_object(_functions(keras)["activation"])
    missing = {**entry, "config": f"{PACKAGE}>missing"}
    with pytest.raises(TypeError, match=f"Could not locate function '{PACKAGE}>missing'"):
        ac.regularizers.get(missing)
    assert ac.regularizers.get(entry) is registered
