"""A user's layer whose config holds objects (autoconv/layers/serialization.py), against Keras
3.15: ``keras.layers.serialize`` writes the layers, regularizers, initializers, constraints,
dtype policies and registered functions in a config as their own entries, a class defined in
``__main__`` under module None, and loading gives ``from_config`` those entries as they are
(a user's ``from_config`` deserializes them, as Keras's guide does); a user's layer without a
``get_config`` of its own has Keras's automatic config, or Keras's NotImplementedError."""

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


def test_an_unregistered_function_in_a_config_is_written_by_its_name_as_kerass(keras):
    def unregistered(x: Any) -> Any:
        return x

    def written(lib: Any) -> Any:
        return lib.layers.serialize(lib.layers.Dense(2, activation=unregistered))

    entry = written(ac)
    assert entry["config"]["activation"] == written(keras)["config"]["activation"]
    assert entry["config"]["activation"]["config"] == "unregistered"
    with pytest.raises(TypeError, match="Could not locate function 'unregistered'"):
        ac.layers.deserialize(entry)
    with ac.utils.custom_object_scope({"unregistered": unregistered}):
        assert ac.layers.deserialize(entry).activation is unregistered


def test_a_lambda_in_a_config_is_refused():
    with pytest.raises(NotImplementedError, match=r"<lambda>.*is a custom function"):
        ac.layers.serialize(_classes(ac).Holder(lambda x: x))


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


# ------------------------------------------------------------------ the automatic config
@functools.cache
def _automatic(lib: Any) -> SimpleNamespace:
    """Users' layers without a ``get_config`` of their own, written against ``lib``, registered
    under the same names in both."""
    register = lib.saving.register_keras_serializable(package=PACKAGE)

    @register
    class Doubling(lib.layers.Layer):  # no constructor of its own
        def call(self, inputs: Any) -> Any:
            return inputs * 2

    class Named(lib.layers.Layer):  # keras.io's TransformerBlock: takes no name
        def __init__(self, units: int, rate: float = 0.1, sizes=(1, 2), extra=None) -> None:
            super().__init__()

    class Spread(lib.layers.Layer):
        def __init__(self, units: int, options: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    @register
    class Projection(lib.layers.Layer):  # keras.io's blocks: sublayers made from arguments
        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(units, kernel_initializer="ones")

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    class Renamed(lib.layers.Layer):  # **kw, not **kwargs: Keras leaves the name out
        def __init__(self, units: int, **kw: Any) -> None:
            super().__init__(**kw)

    class Starred(lib.layers.Layer):
        def __init__(self, *sizes: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    class Positional(lib.layers.Layer):
        def __init__(self, units: int, /, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    return SimpleNamespace(
        Doubling=Doubling, Named=Named, Spread=Spread, Renamed=Renamed, Starred=Starred,
        Positional=Positional, Projection=Projection,
    )  # fmt: skip


# A user's layer made by a library, whose Keras config is automatic.
AUTOMATIC = {
    "no constructor": lambda c: c.Doubling(name="d"),
    "no constructor, its arguments": lambda c: c.Doubling(name="d", dtype="float64"),
    "no name argument": lambda c: c.Named(3),
    "nested defaults": lambda c: c.Named(3, 0.5, [4, {"a": (5, None)}], "x"),
    "**kwargs": lambda c: c.Spread(4, options={"k": [1.5, True]}, name="s", trainable=False),
    "**kw": lambda c: c.Renamed(2, name="r"),
    "empty *args": lambda c: c.Starred(name="st"),
    "a NumPy float": lambda c: c.Spread(np.float64(2.0)),
}


@pytest.mark.parametrize("case", AUTOMATIC)
def test_a_users_layer_without_get_config_has_kerass_automatic_config(keras, case):
    """Keras 3 configures a user's layer that has no ``get_config`` by the arguments it was
    made with (keras.io's ``TransformerBlock``), and so does autoconv."""
    ours, theirs = (AUTOMATIC[case](_automatic(lib)) for lib in (ac, keras))
    assert ours.get_config() == theirs.get_config()
    assert ac.layers.serialize(ours) == keras.layers.serialize(theirs)


# A user's layer made by a library, which Keras cannot configure automatically.
NOT_AUTOMATIC = {
    "a layer argument": lambda c, lib: c.Spread(lib.layers.Dense(2)),
    "a NumPy integer": lambda c, lib: c.Spread(np.int64(2)),
    "a regularizer object": lambda c, lib: c.Doubling(activity_regularizer=lib.regularizers.L2()),
    "*args given": lambda c, lib: c.Starred(1, 2),
    "a positional-only argument": lambda c, lib: c.Positional(3),
}


@pytest.mark.parametrize("case", NOT_AUTOMATIC)
def test_a_layer_without_an_automatic_config_is_kerass_error(keras, case):
    messages = []
    for lib in (ac, keras):
        layer = NOT_AUTOMATIC[case](_automatic(lib), lib)
        with pytest.raises(NotImplementedError, match="Please") as caught:
            layer.get_config()
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(("writer", "reader"), [("keras", "autoconv"), ("autoconv", "keras")])
def test_a_layer_without_a_constructor_travels_with_its_automatic_config(
    tmp_path, request, writer, reader
):
    """Keras writes ``autocast`` in the automatic config of a layer that has no constructor
    of its own (its Layer's argument); autoconv reads it and writes it."""
    source, target = _lib(writer, request), _lib(reader, request)
    _automatic(target)  # (registered before the file is read)
    inputs = source.Input((3,))
    model = source.Model(inputs, _automatic(source).Doubling(name="d")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = target.saving.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("d").get_config() == model.get_layer("d").get_config()
    expected = 2 * X
    np.testing.assert_allclose(np.asarray(loaded.predict(X, verbose=0)), expected)


@pytest.mark.parametrize(("writer", "reader"), [("keras", "autoconv"), ("autoconv", "keras")])
def test_a_block_without_get_config_travels_by_its_arguments(tmp_path, request, writer, reader):
    """A layer made from its arguments (units) and without ``get_config`` is saved with them
    and made again from them when its file is read, in either library."""
    source, target = _lib(writer, request), _lib(reader, request)
    _automatic(target)  # (registered before the file is read)
    inputs = source.Input((3,))
    model = source.Model(inputs, _automatic(source).Projection(2, name="p")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = target.saving.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("p").get_config()["units"] == 2
    expected = np.asarray(model.predict(X, verbose=0))
    np.testing.assert_allclose(np.asarray(loaded.predict(X, verbose=0)), expected, rtol=1e-6)


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
