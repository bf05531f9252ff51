"""A user's classes in Keras's files, as Keras 3.15 saves and loads them: a layer that overrides
``save_own_variables`` / ``load_own_variables`` (what it stores beside its weights travels in
``.keras`` and ``.weights.h5`` files, both ways between autoconv and Keras; a crafted file's
arrays are still checked; a Dense subclass's variable beside Dense's kernel and bias, as the
guide's), Keras's default hooks, and a registered subclassed model (its
config, then its ``build_config``: built before its weights load).
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest

import autoconv as ac
from autoconv.saving.files import ModelFileError
from tests.saving.archives import rewrite

PACKAGE = "custom_state_tests"
X = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
EXTRA = np.array([1.0, 2.0, 3.0], np.float32)


@functools.cache
def _classes(lib: Any) -> SimpleNamespace:
    """The test's classes written against ``lib`` (autoconv or Keras) and registered under the
    same names in both, as a user writes them."""
    register = lib.saving.register_keras_serializable(package=PACKAGE)

    class Remembering(lib.layers.Dense):
        """A Dense that saves an array of its own beside its weights (Keras's guide's way)."""

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(units, **kwargs)
            self.extra = np.zeros(3, np.float32)
            self.loaded_keys: list[str] | None = None

        def save_own_variables(self, store: Any) -> None:
            super().save_own_variables(store)
            store["extra"] = self.extra

        def load_own_variables(self, store: Any) -> None:
            self.loaded_keys = sorted(store.keys())
            self.extra = np.asarray(store["extra"])
            for i, variable in enumerate(self.weights):
                variable.assign(store[f"{i}"])

    class WithVariable(lib.layers.Dense):
        """Keras's guide's Dense with a variable of its own, stored by its hooks as "variables"
        (Dense's ``save_own_variables`` stores only the kernel and the bias)."""

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(units, **kwargs)
            self.my_variable = lib.Variable(np.zeros(units), name="my_variable", dtype="float32")

        def save_own_variables(self, store: Any) -> None:
            super().save_own_variables(store)
            store["variables"] = self.my_variable.numpy()

        def load_own_variables(self, store: Any) -> None:
            self.my_variable.assign(store["variables"])
            super().load_own_variables(store)

    class SetUp(lib.layers.Layer):
        """Keras's guide's layer whose ``build`` takes an initializer too, kept in its build
        config, so it is built by hand, then rebuilt from that config when loaded."""

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape: Any, layer_init: str) -> None:
            self.layer_init, self.input_shape_ = layer_init, input_shape
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init)

        def call(self, inputs: Any) -> Any:
            return lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

        def get_build_config(self) -> dict[str, Any]:
            return {"layer_init": self.layer_init, "input_shape": self.input_shape_}

        def build_from_config(self, config: dict[str, Any]) -> None:
            self.build(config["input_shape"], config["layer_init"])

    class Twice(lib.Model):
        """A subclassed model with its layers made in ``__init__`` and a config of its own."""

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.hidden = lib.layers.Dense(units, activation="relu")
            self.out = lib.layers.Dense(1)

        def call(self, inputs: Any) -> Any:
            return self.out(self.hidden(inputs))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    class SelfBuilt(Twice):
        """The same model with a ``build`` of its own (which Keras's loader calls instead)."""

        def build(self, input_shape: Any) -> None:
            self.hidden.build(input_shape)
            self.out.build((*input_shape[:-1], self.units))

    class Pair(Twice):
        """A subclassed model of two inputs, given as a list."""

        def call(self, inputs: Any) -> Any:
            return self.out(self.hidden(inputs[0]) * inputs[1])

    class Automatic(lib.Model):
        """A subclassed model without a ``get_config``: Keras's automatic config (the
        arguments it was made with) saves it, as its constructor takes ``**kwargs``."""

        def __init__(self, units: int = 2, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.dense = lib.layers.Dense(units)

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    class Plain(lib.Model):
        """Keras's guides' subclassed model: no ``get_config``, and a constructor that takes
        no ``**kwargs`` (so neither the name, trainable nor dtype)."""

        def __init__(self, units: int = 2) -> None:
            super().__init__()
            self.units = units
            self.dense = lib.layers.Dense(units)

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    def tenth_squares(y_true: Any, y_pred: Any) -> Any:
        return lib.ops.sum(lib.ops.square(y_pred - y_true) / 10.0, axis=1)

    def mean_pred(y_true: Any, y_pred: Any) -> Any:
        return lib.ops.mean(y_pred)

    class OwnCompile(Automatic):
        """Keras's guide's model whose compile settings go to its file through its own
        ``get_compile_config`` (the objects it was given) and ``compile_from_config``."""

        def compile(self, optimizer: Any, loss_fn: Any, metrics: Any) -> None:
            super().compile(optimizer=optimizer, loss=loss_fn, metrics=metrics)
            self.given = {"optimizer": optimizer, "loss_fn": loss_fn, "metrics": metrics}

        def get_compile_config(self) -> dict[str, Any]:
            return self.given

        def compile_from_config(self, config: dict[str, Any]) -> None:
            self.compile(**{k: lib.saving.deserialize_keras_object(v) for k, v in config.items()})

    classes = (
        Remembering, WithVariable, SetUp, Twice, SelfBuilt, Pair, Automatic, OwnCompile, Plain,
    )  # fmt: skip
    return SimpleNamespace(
        **{cls.__name__: register(cls) for cls in classes},
        **{fn.__name__: register(fn) for fn in (tenth_squares, mean_pred)},
    )


def _lib(name: str, request: pytest.FixtureRequest) -> Any:
    return ac if name == "autoconv" else request.getfixturevalue("keras")


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _remembering(lib: Any) -> Any:
    return lib.Sequential([lib.Input((2,)), _classes(lib).Remembering(3)])


DIRECTIONS = [("autoconv", "autoconv"), ("keras", "autoconv"), ("autoconv", "keras")]


# ------------------------------------------------------------------ a layer's own store
@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
@pytest.mark.parametrize("kind", ["keras", "weights.h5"])
def test_what_a_layer_stores_beside_its_weights_travels(tmp_path, request, writer, reader, kind):
    source, target = _lib(writer, request), _lib(reader, request)
    model = _remembering(source)
    model.layers[0].extra = EXTRA
    path = tmp_path / f"m.{kind}"
    if kind == "keras":
        model.save(path)
        loaded = target.saving.load_model(path)
    else:
        model.save_weights(path)
        loaded = _remembering(target)
        loaded.load_weights(path)
    layer = loaded.layers[0]
    assert type(layer).__name__ == "Remembering"
    assert layer.loaded_keys == ["0", "1", "extra"]
    np.testing.assert_array_equal(layer.extra, EXTRA)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(_numpy(ours), _numpy(theirs))


@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
@pytest.mark.parametrize("kind", ["keras", "weights.h5"])
def test_a_dense_subclass_stores_its_variable_beside_the_kernel_and_bias(
    tmp_path, request, writer, reader, kind
):
    source, target = _lib(writer, request), _lib(reader, request)

    def make(lib: Any) -> Any:
        return lib.Sequential([lib.Input((2,)), _classes(lib).WithVariable(3)])

    model = make(source)
    model.layers[0].my_variable.assign(EXTRA)
    path = tmp_path / f"m.{kind}"
    if kind == "keras":
        model.save(path)
        with zipfile.ZipFile(path) as archive:
            weights = io.BytesIO(archive.read("model.weights.h5"))
        loaded = target.saving.load_model(path)
    else:
        model.save_weights(path)
        weights = path
        loaded = make(target)
        loaded.load_weights(path)
    with h5py.File(weights) as h5:
        assert sorted(h5["layers/with_variable/vars"]) == ["0", "1", "variables"]
    np.testing.assert_array_equal(_numpy(loaded.layers[0].my_variable), EXTRA)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(_numpy(ours), _numpy(theirs))


@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
def test_an_unbuilt_sequential_of_a_layer_built_by_hand_saves_with_a_warning(
    tmp_path, request, writer, reader
):
    source, target = _lib(writer, request), _lib(reader, request)
    layer = _classes(source).SetUp(3)
    layer.build((2,), "random_normal")
    model = source.Sequential([layer])
    path = tmp_path / "m.keras"
    with pytest.warns(UserWarning, match="saving a model that has not yet been built"):
        model.save(path)
    loaded = target.saving.load_model(path)
    assert loaded.layers[0].get_build_config() == {
        "layer_init": "random_normal",
        "input_shape": [2],
    }
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(_numpy(ours), _numpy(theirs))
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        ("Dense", {"units": 3}, (2, 4)),
        ("BatchNormalization", {}, (2, 4)),
        ("Conv2D", {"filters": 2, "kernel_size": 3}, (1, 5, 5, 1)),
    ],
)
def test_the_default_hooks_store_and_load_the_weights_as_kerass(keras, name, kwargs, shape):
    ours = getattr(ac.layers, name)(name="layer", **kwargs)
    theirs = getattr(keras.layers, name)(name="layer", **kwargs)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(0)
    values = [rng.normal(size=w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(values)
    mine, kerass = {}, {}
    ours.save_own_variables(mine)
    theirs.save_own_variables(kerass)
    assert list(mine) == list(kerass)
    ours.load_own_variables({key: _numpy(value) for key, value in kerass.items()})
    for key in kerass:
        np.testing.assert_array_equal(_numpy(mine[key]), _numpy(kerass[key]))
    errors = []
    for layer in (ours, theirs):
        with pytest.raises(ValueError) as caught:
            layer.load_own_variables({**mine, "extra": EXTRA})
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_an_unbuilt_layer_refuses_variables_as_kerass(keras):
    errors = []
    for lib in (ac, keras):
        with pytest.raises(ValueError) as caught:
            lib.layers.Dense(2, name="d").load_own_variables({"0": np.zeros((2, 2))})
        errors.append(str(caught.value))
    assert errors[0].startswith(errors[1].split("\n")[0])


# ------------------------------------------------------------------ crafted files
def _unstored(group: Any, key: str) -> None:
    group.create_dataset(key, shape=(2**30,), dtype="f4", chunks=(1024,))  # nothing written


def _compressed(group: Any, key: str) -> None:
    group.create_dataset(key, data=EXTRA, compression="gzip")


def _soft_link(group: Any, key: str) -> None:
    group[key] = h5py.SoftLink("/layers/remembering/vars/0")


@pytest.mark.parametrize(
    ("craft", "message"),
    [
        (_unstored, "extra of layer remembering .* declares more values than the file stores"),
        (_compressed, "extra of layer remembering .* is stored compressed"),
        (_soft_link, "its extra is a SoftLink"),
        (lambda g, k: g.create_dataset(k, data=np.array([1.0, np.nan])), "holds NaN"),
        (lambda g, k: g.create_dataset(k, data=np.array([b"a"])), "extra .* has dtype"),
        (lambda g, k: g.create_group(k), "extra of layer remembering .* is not an array"),
    ],
)
def test_a_crafted_array_for_a_layers_own_store_is_refused(tmp_path, craft, message):
    model = _remembering(ac)
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as h5:
        group = h5["layers/remembering/vars"]
        del group["extra"]
        craft(group, "extra")
    before = model.get_weights()
    with pytest.raises(ModelFileError, match=message):
        model.load_weights(path)
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)
    assert model.layers[0].loaded_keys is None  # (its load_own_variables never ran)


@pytest.mark.parametrize("saves_its_own", [True, False])
def test_an_extra_array_goes_only_to_a_layer_that_loads_its_own(tmp_path, saves_its_own):
    writer = _remembering(ac)
    writer.save_weights(tmp_path / "m.weights.h5")
    # A Dense of the same class name (so of the same group) that loads as a default layer does:
    # overriding save_own_variables alone leaves the strict load.
    dense = ac.layers.Dense
    saving = lambda self, store: dense.save_own_variables(self, store)  # noqa: E731
    cls = type("Remembering", (dense,), {"save_own_variables": saving} if saves_its_own else {})
    assert ac.saving.h5_state.custom_store(cls(3), "save_own_variables") is saves_its_own
    reader = ac.Sequential([ac.Input((2,)), cls(3)])
    with pytest.raises(ModelFileError, match=r"keeps \[\] beside its weights, the file holds"):
        reader.load_weights(tmp_path / "m.weights.h5")


# ------------------------------------------------------------------ a subclassed model
def _inputs(name: str) -> Any:
    return [X, X[:, :1]] if name == "Pair" else X


@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
@pytest.mark.parametrize("name", ["Twice", "SelfBuilt", "Pair"])
def test_a_registered_subclassed_model_travels_with_its_weights(
    tmp_path, request, writer, reader, name
):
    source, target = _lib(writer, request), _lib(reader, request)
    model = getattr(_classes(source), name)(5)
    expected = _numpy(model.predict(_inputs(name), verbose=0))
    model.save(tmp_path / "m.keras")
    loaded = target.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is getattr(_classes(target), name) and loaded.units == 5
    assert len(loaded.weights) == 4
    np.testing.assert_allclose(
        _numpy(loaded.predict(_inputs(name), verbose=0)), expected, rtol=1e-5, atol=1e-6
    )


def test_a_subclassed_model_keeps_its_build_config(tmp_path):
    model = _classes(ac).Twice(5)
    model(X)
    model.save(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert (
        loaded.get_build_config() == model.get_build_config() == {"input_shape": (4, 2)}
    )  # X.shape


@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
def test_a_subclassed_model_without_get_config_travels_by_its_automatic_config(
    tmp_path, request, writer, reader
):
    source, target = _lib(writer, request), _lib(reader, request)
    keras_config = _classes(request.getfixturevalue("keras")).Automatic(name="auto").get_config()
    model = _classes(source).Automatic(name="auto")
    assert model.get_config() == keras_config  # the name, the arguments, trainable and dtype
    expected = _numpy(model.predict(X, verbose=0))
    model.save(tmp_path / "m.keras")
    cls = _classes(target).Automatic
    loaded = target.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is cls and loaded.name == "auto" and loaded.units == 2
    got = _numpy(loaded.predict(X, verbose=0))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_a_subclassed_models_automatic_config_keeps_the_arguments_given(tmp_path):
    # (Keras's Model.__new__ does not pass them on: its automatic config holds the defaults.)
    model = _classes(ac).Automatic(units=3)
    model(X)
    assert model.get_config()["units"] == 3
    model.save(tmp_path / "m.keras")
    assert ac.saving.load_model(tmp_path / "m.keras").units == 3


@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
def test_a_models_own_compile_config_is_saved_as_entries(tmp_path, request, writer, reader):
    source, target = _lib(writer, request), _lib(reader, request)
    made, read = _classes(source), _classes(target)
    model = made.OwnCompile()
    model.compile(source.optimizers.SGD(0.5), made.tenth_squares, ["mae", made.mean_pred])
    model(X)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        written = json.loads(archive.read("config.json"))["compile_config"]
    assert written["loss_fn"] == {
        "module": "builtins",
        "class_name": "function",
        "config": f"{PACKAGE}>tenth_squares",
        "registered_name": "function",
    }
    assert written["optimizer"]["class_name"] == "SGD"
    loaded = target.saving.load_model(tmp_path / "m.keras")
    assert loaded.given["loss_fn"] is read.tenth_squares
    assert loaded.given["metrics"] == ["mae", read.mean_pred]
    assert float(loaded.given["optimizer"].learning_rate) == 0.5


@pytest.mark.parametrize(("writer", "reader"), DIRECTIONS)
def test_a_subclassed_model_whose_constructor_takes_no_kwargs_travels(
    tmp_path, request, writer, reader
):
    # Its automatic config holds only what its constructor takes (Keras 3.0's rule): Keras
    # 3.15 writes trainable and dtype there too, and then cannot load its own file.
    source, target = _lib(writer, request), _lib(reader, request)
    model = _classes(source).Plain()
    expected = _numpy(model.predict(X, verbose=0))
    if writer == "autoconv":
        assert model.get_config() == {"units": 2}
    model.save(tmp_path / "m.keras")
    loaded = target.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is _classes(target).Plain and loaded.units == 2
    got = _numpy(loaded.predict(X, verbose=0))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_a_subclassed_model_made_of_objects_without_get_config_is_not_saved(tmp_path):
    class Unconfigured(ac.Model):
        def __init__(self, dense: Any) -> None:
            super().__init__()
            self.dense = dense

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    model = Unconfigured(ac.layers.Dense(2))
    model(X)
    with pytest.raises(NotImplementedError, match=r"is a subclassed model.*Define its get_config"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize(
    ("input_shape", "message"),
    [
        ([None, 2**25], "built by a run on a sample, reads 33554432 values: too many"),
        ([None, "2"], r"its input shape \[None, '2'\] is not a shape"),
        ([None, -2], "is not a shape"),
        ([], "is not a shape"),
    ],
)
def test_a_crafted_build_config_of_a_subclassed_model_is_refused(tmp_path, input_shape, message):
    model = _classes(ac).Twice(5)
    model(X)
    model.save(tmp_path / "crafted.keras")
    rewrite(tmp_path / "crafted.keras", lambda config: config["build_config"].update(
        input_shape=input_shape))  # fmt: skip
    with pytest.raises(ModelFileError, match=message):
        ac.saving.load_model(tmp_path / "crafted.keras")
