"""A user's layer whose config holds objects (autoconv/layers/serialization.py), against Keras
3.15: ``keras.layers.serialize`` writes the layers, regularizers, initializers, constraints,
dtype policies and registered functions in a config as their own entries, a class defined in
``__main__`` under module None, and loading gives ``from_config`` those entries as they are
(a user's ``from_config`` deserializes them, as Keras's guide does)."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import autoconv as ac

PACKAGE = "layer_serialization_tests"
X = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)


@functools.cache
def _classes(lib: Any) -> SimpleNamespace:
    """The test's classes and function written against ``lib`` (autoconv or Keras), registered
    under the same names in both, as a user writes them."""
    register = lib.saving.register_keras_serializable(package=PACKAGE)

    @register
    def halved(x: Any) -> Any:
        return x * 0.5

    class Holder(lib.layers.Layer):
        """A layer that keeps one object and returns it in its config."""

        def __init__(self, item: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.item = item

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "item": self.item}

    class Wrapping(lib.layers.Layer):
        """A layer around a Dense, with a regularizer, initializers and an activation in its
        config, its ``from_config`` deserializing them (keras.io's serialization guide)."""

        def __init__(self, inner: Any, reg: Any, inits: Any, fn: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.inner, self.reg, self.inits, self.fn = inner, reg, list(inits), fn

        def build(self, input_shape: Any) -> None:
            if not self.inner.built:  # (loading builds it from its own build_config)
                self.inner.build(input_shape)

        def call(self, inputs: Any) -> Any:
            return self.fn(self.inner(inputs))

        def get_config(self) -> dict[str, Any]:
            extra = {"inner": self.inner, "reg": self.reg, "inits": self.inits, "fn": self.fn}
            return {**super().get_config(), **extra}

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any:
            config = dict(config)
            config["inner"] = lib.layers.deserialize(config["inner"])
            config["reg"] = lib.regularizers.deserialize(config["reg"])
            config["inits"] = [lib.initializers.deserialize(c) for c in config["inits"]]
            config["fn"] = lib.activations.get(config["fn"])
            return cls(**config)

    return SimpleNamespace(halved=halved, Holder=register(Holder), Wrapping=register(Wrapping))


def _lib(name: str, request: pytest.FixtureRequest) -> Any:
    return ac if name == "autoconv" else request.getfixturevalue("keras")


# What a config may hold, made with a library.
ITEMS = {
    "layer": lambda lib: lib.layers.Dense(2, name="inner"),
    "regularizer": lambda lib: lib.regularizers.L1(0.01),
    "initializers": lambda lib: [lib.initializers.Zeros(), lib.initializers.Constant(0.5)],
    "constraint in a dict": lambda lib: {"c": lib.constraints.MaxNorm(2.0), "n": 3},
    "tuple": lambda lib: (1, lib.regularizers.L2(0.1)),
    "dtype policy": lambda lib: lib.DTypePolicy("float64"),
    "registered function": lambda lib: _classes(lib).halved,
    "activation": lambda lib: lib.activations.relu,
    "plain values": lambda lib: {"a": [1, 2.5, "x", None, True]},
}


@pytest.mark.parametrize("item", ITEMS)
def test_the_objects_in_a_config_are_written_as_kerass_entries(keras, item):
    def written(lib: Any) -> Any:
        layer = _classes(lib).Holder(ITEMS[item](lib), name="holder")
        return lib.layers.serialize(layer)

    assert written(ac) == written(keras)


@pytest.mark.parametrize("module", ["__main__", "my_models"])
def test_the_module_of_a_users_class_is_kerass(keras, module):
    """Keras writes None as the module of a class defined in ``__main__`` (a script's)."""

    def written(lib: Any) -> Any:
        cls = type("Scripted", (lib.layers.Layer,), {"__module__": module})
        entry = lib.layers.serialize(cls(name="s"))
        return entry["module"], entry["class_name"], entry["registered_name"]

    assert written(ac) == written(keras)
    assert written(ac)[0] == (None if module == "__main__" else module)


@pytest.mark.parametrize("item", ["layer", "regularizer", "registered function"])
def test_the_default_from_config_gets_the_entries_as_kerass(keras, item):
    def loaded(lib: Any) -> Any:
        entry = lib.layers.serialize(_classes(lib).Holder(ITEMS[item](lib), name="holder"))
        return entry["config"]["item"], lib.layers.deserialize(entry).item

    (ours, our_item), (theirs, their_item) = loaded(ac), loaded(keras)
    assert isinstance(our_item, dict)
    assert our_item == ours == theirs == their_item


def test_an_unregistered_function_in_a_config_is_refused_by_name():
    def unregistered(x: Any) -> Any:
        return x

    with pytest.raises(NotImplementedError, match=r"unregistered.*is a custom function"):
        ac.layers.serialize(_classes(ac).Holder(unregistered))


def _wrapping_model(lib: Any) -> Any:
    classes = _classes(lib)
    inputs = lib.Input((3,))
    layer = classes.Wrapping(
        lib.layers.Dense(2, name="inner"),
        lib.regularizers.L1(0.01),
        [lib.initializers.Zeros(), lib.initializers.Constant(0.5)],
        classes.halved,
        name="wrapping",
    )
    model = lib.Model(inputs, layer(inputs))
    model.set_weights([np.linspace(-1, 1, 6).reshape(3, 2), np.array([0.25, -0.5])])
    return model


@pytest.mark.parametrize(
    ("writer", "reader"), [("autoconv", "autoconv"), ("keras", "autoconv"), ("autoconv", "keras")]
)
def test_a_layer_holding_objects_travels_with_them(tmp_path, request, writer, reader):
    source, target = _lib(writer, request), _lib(reader, request)
    classes = _classes(target)  # (registered before the file is read)
    model = _wrapping_model(source)
    model.save(tmp_path / "m.keras")
    loaded = target.saving.load_model(tmp_path / "m.keras")
    layer = loaded.get_layer("wrapping")
    assert isinstance(layer.inner, target.layers.Dense)
    assert isinstance(layer.reg, target.regularizers.L1)
    assert [type(i).__name__ for i in layer.inits] == ["Zeros", "Constant"]
    assert layer.fn is classes.halved
    expected = np.asarray(model.predict(X, verbose=0))
    np.testing.assert_allclose(np.asarray(loaded.predict(X, verbose=0)), expected, rtol=1e-6)


def _holding(lib: Any) -> Any:
    """The guide's layer whose ``get_config`` gives its Variable itself."""

    class Holding(lib.layers.Layer):
        def __init__(self, a: float) -> None:
            super().__init__()
            self.var = lib.Variable(a, name="var_a")

        def get_config(self) -> dict[str, Any]:
            return {"a": self.var}

    return Holding(5.0)


def test_a_variable_in_a_config_is_kerass_type_error(keras):
    """The saving guide's ``get_config`` returning ``{"a": self.var}``: Keras 3.15 (PyTorch
    backend) refuses the Variable when it serializes the layer, and so does autoconv."""
    messages = []
    for lib in (ac, keras):
        with pytest.raises(TypeError, match="Cannot serialize object") as caught:
            lib.layers.serialize(_holding(lib))
        messages.append(str(caught.value).split(" of type ")[1].split(". ", 1)[1])
    assert messages[0] == messages[1]


# ------------------------------------------------------- Keras's automatic config
@functools.cache
def _unconfigured(lib: Any) -> SimpleNamespace:
    """User layers that define no ``get_config`` (keras.io's PixelCNN and VQ-VAE layers), for
    which Keras writes the arguments each was made with."""

    class Masked(lib.layers.Layer):  # PixelConvLayer: a Conv2D's arguments in **kwargs
        def __init__(self, mask_type: str, **kwargs: Any) -> None:
            super().__init__()
            self.mask_type = mask_type
            self.conv = lib.layers.Conv2D(**kwargs)

        def call(self, inputs: Any) -> Any:
            return self.conv(inputs)

    class Quantizer(lib.layers.Layer):  # VectorQuantizer: a default, a name in **kwargs
        def __init__(self, num: int, dim: int, beta: float = 0.25, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.num, self.dim, self.beta = num, dim, beta

    class Nameless(lib.layers.Layer):  # a constructor taking no name: none in the config
        def __init__(self, sizes: Any, table: Any = None) -> None:
            super().__init__()
            self.sizes, self.table = sizes, table

    return SimpleNamespace(Masked=Masked, Quantizer=Quantizer, Nameless=Nameless)


UNCONFIGURED = {
    "kwargs spread": lambda c: c.Masked("A", filters=2, kernel_size=3, padding="same"),
    "defaults and name": lambda c: c.Quantizer(8, 4, name="vq"),
    "nested values": lambda c: c.Nameless([1, (2, 3)], table={"a": None, "b": "x"}),
}


@pytest.mark.parametrize("case", list(UNCONFIGURED))
def test_a_layer_without_get_config_has_kerass_automatic_config(keras, case):
    ours = UNCONFIGURED[case](_unconfigured(ac)).get_config()
    theirs = UNCONFIGURED[case](_unconfigured(keras)).get_config()
    assert list(ours) == list(theirs)
    assert {k: v for k, v in ours.items() if k != "name"} == {
        k: v for k, v in theirs.items() if k != "name"
    }


@pytest.mark.parametrize("lib_name", ["autoconv", "keras"])
def test_a_non_serializable_argument_leaves_no_config(request, lib_name):
    lib = _lib(lib_name, request)
    layer = _unconfigured(lib).Nameless([lib.layers.Dense(2)])
    with pytest.raises(NotImplementedError, match="must override `get_config\\(\\)`"):
        layer.get_config()


@pytest.mark.parametrize(
    ("writer", "reader"), [("autoconv", "autoconv"), ("keras", "autoconv"), ("autoconv", "keras")]
)
def test_a_layer_without_get_config_is_saved_and_loaded(tmp_path, request, writer, reader):
    source, target = _lib(writer, request), _lib(reader, request)
    inputs = source.Input((5, 5, 1))
    outputs = _unconfigured(source).Masked("B", filters=2, kernel_size=3)(inputs)
    model = source.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    masked = _unconfigured(target).Masked
    loaded = target.saving.load_model(tmp_path / "m.keras", custom_objects={"Masked": masked})
    assert loaded.layers[1].mask_type == "B"
    images = np.linspace(0, 1, 50, dtype=np.float32).reshape(2, 5, 5, 1)
    expected = np.asarray(model.predict(images, verbose=0))
    np.testing.assert_allclose(np.asarray(loaded.predict(images, verbose=0)), expected, rtol=1e-6)
