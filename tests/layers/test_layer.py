"""The base Layer's call, against Keras 3.15: integer and bool arrays reach a layer as they are
(Keras casts only floating inputs), and a known batch size (``Input(batch_size=...)``) stays in
the shapes of symbolic calls, summaries included."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, ops

IDS = np.array([[1, 3, 0], [2, 2, 4]])


def _numpy(value: Any) -> np.ndarray:
    """A value of either library (autoconv Tensor, torch tensor, NumPy) as a NumPy array."""
    if isinstance(value, ac.Tensor | np.ndarray):
        return np.asarray(value)
    return value.detach().cpu().numpy()  # a torch tensor, from Keras


def _dtype_name(value: Any) -> str:
    dtype = value.dtype
    return str(dtype).removeprefix("torch.") if "torch" in str(dtype) else np.dtype(dtype).name


def _seen_dtype(lib: Any, array: np.ndarray) -> str:
    """The dtype a user's layer of ``lib`` sees in its call for ``array``."""
    seen = []

    class Probe(lib.layers.Layer):
        def call(self, inputs):
            seen.append(_dtype_name(inputs))
            return inputs

    Probe()(array)
    return seen[0]


# ------------------------------------------------------------------ integer inputs
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool", "float32", "float64"])
def test_a_users_layer_sees_the_dtype_keras_gives_it(keras, dtype):
    array = (IDS % 2 if dtype == "bool" else IDS).astype(dtype)
    assert _seen_dtype(ac, array) == _seen_dtype(keras, array)


def _index_layer(lib: Any, how: str) -> Any:
    table = np.arange(15, dtype="float32").reshape(5, 3)

    class Indexing(lib.layers.Layer):
        def call(self, ids):
            if how == "take":
                return lib.ops.take(table, ids, axis=0)
            if how == "one_hot":
                return lib.ops.one_hot(ids, 5)
            return lib.ops.stack([table[int(i)] for i in lib.ops.convert_to_numpy(ids[0])])

    return Indexing()


@pytest.mark.parametrize("how", ["take", "one_hot", "python_index"])
def test_indices_in_a_users_layer_match_keras(keras, how):
    got = _index_layer(ac, how)(IDS)
    want = _index_layer(keras, how)(IDS)
    np.testing.assert_allclose(_numpy(got), _numpy(want))


def test_a_lambda_keeps_integers_as_keras(keras):
    got = layers.Lambda(lambda t: t * 2)(IDS.astype("int32"))
    want = keras.layers.Lambda(lambda t: t * 2)(IDS.astype("int32"))
    assert _dtype_name(got) == _dtype_name(want) == "int32"
    np.testing.assert_array_equal(_numpy(got), _numpy(want))


# autoconv's layers that compute in floats, on integer inputs: Keras's values (not
# LayerNormalization's: Keras's PyTorch backend takes an integer input's mean in integers)
BUILTINS = {
    "Dense": lambda lib: lib.layers.Dense(3, kernel_initializer="ones", bias_initializer="ones"),
    "Embedding": lambda lib: lib.layers.Embedding(5, 2, embeddings_initializer="ones"),
    "CategoryEncoding": lambda lib: lib.layers.CategoryEncoding(5, output_mode="count"),
    "Flatten": lambda lib: lib.layers.Flatten(),
    "Reshape": lambda lib: lib.layers.Reshape((3, 1)),
    "BatchNormalization": lambda lib: lib.layers.BatchNormalization(),
    "Rescaling": lambda lib: lib.layers.Rescaling(0.5, offset=1),
    "Normalization": lambda lib: lib.layers.Normalization(mean=1.0, variance=4.0),
    "GlobalAveragePooling1D": lambda lib: lib.layers.GlobalAveragePooling1D(),
}


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_builtin_layers_on_integers_match_keras(keras, name, dtype):
    inputs = IDS[..., None] if name == "GlobalAveragePooling1D" else IDS
    got = BUILTINS[name](ac)(inputs.astype(dtype))
    want = BUILTINS[name](keras)(inputs.astype(dtype))
    np.testing.assert_allclose(_numpy(got), _numpy(want), rtol=1e-6, atol=1e-6)


CONVOLUTIONS = {
    "Conv1D": (lambda lib: lib.layers.Conv1D(2, 2, kernel_initializer="ones"), (2, 5, 3)),
    "Conv2D": (lambda lib: lib.layers.Conv2D(2, 3, kernel_initializer="ones"), (2, 5, 5, 3)),
    "DepthwiseConv2D": (
        lambda lib: lib.layers.DepthwiseConv2D(3, depthwise_initializer="ones"),
        (2, 5, 5, 3),
    ),
}


@pytest.mark.parametrize("name", CONVOLUTIONS)
def test_convolutions_cast_integers_to_their_dtype(keras, name):
    """Keras's PyTorch backend fails on an integer input (its convolution takes the input's
    dtype); autoconv computes in the layer's float dtype, as Keras's other backends, which
    give the values of the same numbers as floats."""
    make, shape = CONVOLUTIONS[name]
    images = np.arange(np.prod(shape)).reshape(shape) % 7
    got = make(ac)(images.astype("uint8"))
    want = make(keras)(images.astype("float32"))
    assert _dtype_name(got) == "float32"
    np.testing.assert_allclose(_numpy(got), _numpy(want), rtol=1e-6)


def test_an_embedding_reads_indices_beyond_float32s_integers(keras):
    """2**24 + 1 is not a float32: an index cast to float32 would read the row before it."""
    ids = np.array([[2**24 + 1, 2**24]])
    table = (np.arange(2**24 + 2) % 7).astype("float32")[:, None]  # rows 2**24, 2**24 + 1 differ
    ours = layers.Embedding(len(table), 1, weights=[table])
    theirs = keras.layers.Embedding(len(table), 1, weights=[table])
    got = _numpy(ours(ids))
    np.testing.assert_array_equal(got, _numpy(theirs(ids)))
    assert got[0, 0, 0] != got[0, 1, 0]


def _ids_model(lib: Any) -> Any:
    class Tokens(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.embed = lib.layers.Embedding(5, 2, embeddings_initializer="ones")
            self.dense = lib.layers.Dense(2, kernel_initializer="ones")
            self.pick = _index_layer(lib, "take")
            self.rescale = lib.layers.Rescaling(0.5)

        def call(self, ids):
            return self.dense(self.embed(ids)), self.pick(ids), self.rescale(ids)

    return Tokens()


def test_a_subclassed_model_passes_integers_to_its_layers_as_keras(keras):
    got, want = _ids_model(ac)(IDS), _ids_model(keras)(IDS)
    for ours, theirs in zip(got, want, strict=True):
        np.testing.assert_allclose(_numpy(ours), _numpy(theirs), rtol=1e-6)


def test_lookups_in_a_subclassed_model_read_large_ids_exactly():
    """Hashing and IntegerLookup in a model's call get the ids, not float32 Tensors of them,
    so ids beyond 2**24 hash and look up as in a direct call."""

    class Lookups(ac.Model):
        def __init__(self) -> None:
            super().__init__()
            self.hash = layers.Hashing(1000)
            self.lookup = layers.IntegerLookup(vocabulary=[2**24 + 1])

        def call(self, ids):
            return self.hash(ids), self.lookup(ids)

    ids = np.array([[2**24 + 1, 2**24, 5]])
    hashed, looked_up = Lookups()(ids)
    np.testing.assert_array_equal(_numpy(hashed), layers.Hashing(1000)(ids))
    np.testing.assert_array_equal(_numpy(looked_up), [[1, 0, 0]])


def _token_model(lib: Any, kind: str) -> Any:
    inputs = lib.Input(shape=(3,), dtype="int32")
    embed = lib.layers.Embedding(5, 2, embeddings_initializer="ones", mask_zero=True)
    dense = lib.layers.Dense(2, kernel_initializer="ones")
    if kind == "sequential":
        return lib.Sequential([inputs, embed, lib.layers.GlobalAveragePooling1D(), dense])
    return lib.Model(inputs, dense(lib.layers.GlobalAveragePooling1D()(embed(inputs))))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_graph_models_on_integer_ids_match_keras(keras, kind):
    got, want = _token_model(ac, kind)(IDS), _token_model(keras, kind)(IDS)
    np.testing.assert_allclose(_numpy(got), _numpy(want), rtol=1e-6)


def test_float_inputs_still_become_tensors_of_the_layers_dtype():
    seen = []

    class Probe(layers.Layer):
        def call(self, inputs):
            seen.append(inputs)
            return inputs

    Probe(dtype="float64")([np.ones(2, "float32"), np.ones(2, "int32")])
    floats, ints = seen[0]
    assert isinstance(floats, ac.Tensor) and floats.dtype == np.float64
    assert isinstance(ints, np.ndarray) and ints.dtype == np.int32


@pytest.mark.parametrize("autocast", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_autocast_false_keeps_the_float_inputs_dtype_as_keras(keras, autocast, dtype):
    seen = {}
    for lib in (ac, keras):

        class Probe(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(autocast=autocast, **kwargs)

            def call(self, inputs):
                return inputs

        layer = Probe(dtype="float32")
        assert layer.autocast is autocast
        seen[lib] = _dtype_name(layer(np.ones(2, dtype)))
    assert seen[ac] == seen[keras] == ("float32" if autocast else dtype)


# --------------------------------------------------------------- known batch sizes
class Doubled(layers.Layer):
    """A user's layer without compute_output_shape: its shape comes from a dry run."""

    def call(self, inputs):
        return ops.concatenate([inputs, inputs], axis=-1)


def _keras_doubled(keras: Any) -> Any:
    class Doubled(keras.layers.Layer):
        def call(self, inputs):
            return keras.ops.concatenate([inputs, inputs], axis=-1)

    return Doubled(name="doubled")


def _stack(lib: Any, doubled: Any) -> list[Any]:
    return [
        lib.layers.Conv2D(2, 3, name="conv"),
        lib.layers.Flatten(name="flat"),
        lib.layers.Reshape((6, 12), name="reshape"),
        doubled,
        lib.layers.Lambda(lambda t: t * 2, name="twice"),
        lib.layers.Dense(5, name="dense"),
    ]


def _batch_model(lib: Any, kind: str, doubled: Any) -> Any:
    inputs = lib.Input(shape=(8, 8, 3), batch_size=4, name="images")
    if kind == "sequential":
        return lib.Sequential([inputs, *_stack(lib, doubled)], name="model")
    x = inputs
    for layer in _stack(lib, doubled):
        x = layer(x)
    return lib.Model(inputs, [x, lib.layers.Flatten(name="flat_out")(x)], name="model")


def _summary(model: Any) -> str:
    lines: list[str] = []
    model.summary(line_length=100, print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines).strip()


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_known_batch_size_stays_in_every_shape_as_keras(keras, kind):
    keras.backend.clear_session()
    ours = _batch_model(ac, kind, Doubled(name="doubled"))
    theirs = _batch_model(keras, kind, _keras_doubled(keras))
    assert [t.shape for t in ours.outputs] == [tuple(t.shape) for t in theirs.outputs]
    assert [layer.output.shape for layer in ours.layers] == [
        tuple(layer.output.shape) for layer in theirs.layers
    ]
    assert ours.outputs[0].shape == (4, 6, 5)
    assert _summary(ours) == _summary(theirs)


@pytest.mark.parametrize("batch_shape", [(2, 5, 3), (2, None, 3), (None, 5, 3), (None, None, 3)])
def test_a_dry_run_keeps_the_batch_size_keras_keeps(keras, batch_shape):
    got = Doubled()(ac.Input(batch_shape=batch_shape))
    want = _keras_doubled(keras)(keras.Input(batch_shape=batch_shape))
    assert got.shape == tuple(want.shape)


def test_a_dry_run_of_several_inputs_keeps_the_batch_size(keras):
    got = layers.Lambda(lambda ts: ts[0] + ts[1])([ac.Input(batch_shape=(3, 2))] * 2)
    want = keras.layers.Lambda(lambda ts: ts[0] + ts[1])([keras.Input(batch_shape=(3, 2))] * 2)
    assert got.shape == tuple(want.shape) == (3, 2)


def _pooled(lib: Any) -> Any:
    """keras.io's MPNN readout: every row summed into one of a fixed number of segments."""

    class Pooled(lib.layers.Layer):
        def call(self, inputs):
            segments = lib.ops.zeros((lib.ops.shape(inputs)[0],), "int32")
            return lib.ops.segment_sum(inputs, segments, num_segments=4)

    return Pooled()


def _summed(lib: Any) -> Any:
    """A user's layer that sums the batch into one row."""

    class Summed(lib.layers.Layer):
        def call(self, inputs):
            return lib.ops.sum(inputs, axis=0, keepdims=True)

    return Summed()


@pytest.mark.parametrize("make, rows", [(_pooled, 4), (_summed, 1)])
def test_a_dry_run_keeps_rows_that_do_not_follow_the_batch_as_keras(keras, make, rows):
    got = make(ac)(ac.Input((3,)))
    want = make(keras)(keras.Input((3,)))
    assert got.shape == tuple(want.shape) == (rows, 3)
    assert Doubled()(ac.Input((3,))).shape == (None, 6)  # rows that follow it stay unknown


def _mean(lib: Any) -> Any:
    """A user's layer that gives a scalar (a loss-like mean over the whole batch)."""

    class Mean(lib.layers.Layer):
        def call(self, inputs):
            return lib.ops.mean(inputs)

    return Mean()


def test_a_dry_run_gives_a_scalar_no_batch_axis_as_keras(keras):
    got = _mean(ac)(ac.Input((3,)))
    want = _mean(keras)(keras.Input((3,)))
    assert got.shape == tuple(want.shape) == ()


class Ratio(layers.Layer):
    """A user's feature layer dividing one input by another (its dry run divides zeros)."""

    def call(self, inputs):
        return ops.log(inputs["a"] / inputs["b"])


def test_a_dry_run_warns_of_nothing_as_keras(keras):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = Ratio()({"a": ac.Input(shape=(1,)), "b": ac.Input(shape=(1,))})
    want = keras.layers.Lambda(lambda t: keras.ops.log(t["a"] / t["b"]))(
        {"a": keras.Input(shape=(1,)), "b": keras.Input(shape=(1,))}
    )
    assert got.shape == tuple(want.shape) == (None, 1)


def _images_model(kind: str) -> Any:
    """A model of uint8 images through Rescaling and Conv2D, and ids through Embedding."""
    conv = layers.Conv2D(2, 3, kernel_initializer="ones")
    embed = layers.Embedding(5, 2, embeddings_initializer="ones")
    rescale = layers.Rescaling(1 / 255)
    if kind == "functional":
        images = ac.Input(shape=(5, 5, 1), dtype="uint8")
        return ac.Model(images, conv(rescale(images)))

    class Images(ac.Model):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.embed, self.rescale = conv, embed, rescale

        def call(self, images):
            return self.conv(self.rescale(images)), self.embed(images[:, 0, :, 0] % 5)

    return Images()


@pytest.mark.parametrize("kind", ["subclassed", "functional"])
def test_integer_inputs_reach_a_models_layers_on_its_device(kind):
    pytest.importorskip("numba_cuda")
    images = (np.arange(50).reshape(2, 5, 5, 1) * 5).astype("uint8")
    outputs = {}
    for device in ("cpu", "cuda"):
        with ac.device(device):
            model = _images_model(kind)
            got = model(images)
        outputs[device] = [np.asarray(t) for t in (got if isinstance(got, tuple) else [got])]
        assert {w.device for w in model.weights} == {device}
    for on_cpu, on_gpu in zip(outputs["cpu"], outputs["cuda"], strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-5)


def _masked_sum_model(lib: Any) -> Any:
    """Two inputs, one of them a bool mask (Input(dtype="bool")) read by ops and layers."""
    values, mask = lib.Input((4,), name="values"), lib.Input((4,), dtype="bool", name="mask")
    kept = lib.layers.Multiply()([values, lib.ops.cast(mask, "float32")])
    chosen = lib.ops.where(mask, values, 0.0)
    dense = lib.layers.Dense(1, kernel_initializer="ones")
    return lib.Model([values, mask], dense(lib.layers.Add()([kept, chosen])))


def test_a_bool_input_as_kerass(keras, tmp_path):
    """``Input(dtype="bool")``: its dtype, the model's predictions and a training step as
    Keras's, and a saved model keeps the input's dtype and its predictions both ways."""
    rng = np.random.default_rng(0)
    x, mask = rng.random((8, 4)).astype("float32"), rng.random((8, 4)) > 0.5
    y = rng.random((8, 1)).astype("float32")
    found = {}
    for lib in (ac, keras):
        model = _masked_sum_model(lib)
        model.compile(lib.optimizers.SGD(0.1), "mse")
        before = model.predict([x, mask], verbose=0)
        loss = model.fit([x, mask], y, batch_size=4, shuffle=False, verbose=0).history["loss"]
        model.save(tmp_path / f"{lib.__name__}.keras")
        found[lib.__name__] = (model.inputs[1].dtype, before, loss, model.predict([x, mask]))
    ours, theirs = found["autoconv"], found["keras"]
    assert ours[0] == theirs[0] == "bool"
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)
    for writer, reader in (("autoconv", keras), ("keras", ac)):
        loaded = reader.saving.load_model(tmp_path / f"{writer}.keras")
        assert loaded.inputs[1].dtype == "bool"
        np.testing.assert_allclose(
            loaded.predict([x, mask], verbose=0), found[writer][3], rtol=1e-5
        )


def _block_model(lib: Any, kind: str, register: bool = False) -> Any:
    """A graph holding a user's block of two Dense layers that has its own
    ``compute_output_shape`` but no ``build``."""

    class Block(lib.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.first = lib.layers.Dense(4, name="first")
            self.second = lib.layers.Dense(3, name="second")

        def call(self, inputs: Any) -> Any:
            return self.second(self.first(inputs))

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (*input_shape[:-1], 3)

    if register:
        Block = lib.saving.register_keras_serializable(package="layer_tests")(Block)
    if kind == "sequential":
        return lib.Sequential([lib.Input((5,)), Block(name="block")], name="blocks")
    inputs = lib.Input((5,))
    return lib.Model(inputs, Block(name="block")(inputs))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_layer_without_build_is_built_by_a_run_in_a_graph_as_kerass(keras, kind):
    """Keras builds a layer that has no ``build`` and holds unbuilt layers by running its
    call once, though its ``compute_output_shape`` says the shape: the graph has the weights
    before any data goes through."""
    ours, theirs = _block_model(ac, kind), _block_model(keras, kind)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert len(ours.weights) == 4 and ours.count_params() == theirs.count_params()


def test_a_keras_file_of_a_layer_without_build_loads(keras, tmp_path):
    theirs = _block_model(keras, "functional", register=True)
    _block_model(ac, "functional", register=True)  # (registered before the file is read)
    theirs.save(tmp_path / "m.keras")
    ours = ac.saving.load_model(tmp_path / "m.keras")
    x = np.linspace(-1, 1, 10, dtype=np.float32).reshape(2, 5)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_a_layer_that_cannot_run_on_its_own_warns_as_kerass():
    """Keras's warning where the run that would build it fails; the graph is made."""

    class Failing(layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = layers.Dense(2)

        def call(self, inputs: Any) -> Any:
            raise RuntimeError("no run")

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (*input_shape[:-1], 2)

    inputs = ac.Input((3,))
    with pytest.warns(UserWarning, match="(?s)looks like it has unbuilt state.*no run"):
        model = ac.Model(inputs, Failing(name="failing")(inputs))
    assert model.output_shape == (None, 2) and not model.weights


def _unused_sublayer_block(lib: Any, name: str) -> Any:
    """keras.io's gated residual network: its ``project`` runs only on inputs of another
    width than its units, so it stays unbuilt."""

    class Gated(lib.layers.Layer):
        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.dense = lib.layers.Dense(units)
            self.project = lib.layers.Dense(units)

        def call(self, inputs: Any) -> Any:
            if inputs.shape[-1] != self.units:
                inputs = self.project(inputs)
            return inputs + self.dense(inputs)

    return Gated(3, name=name)


@pytest.mark.parametrize("symbolic", [False, True])
def test_a_layer_left_with_unbuilt_layers_warns_as_kerass(keras, symbolic):
    """Keras's default ``build`` warns where a user's layer holds a layer its first call did
    not build; none where its call built them all."""
    message = r"`build\(\)` was called on layer 'gated', however the layer does not have"
    for lib in (keras, ac):
        x = lib.Input((3,)) if symbolic else np.ones((2, 3), np.float32)
        with pytest.warns(UserWarning, match=message):
            _unused_sublayer_block(lib, "gated")(x)
        x = lib.Input((4,)) if symbolic else np.ones((2, 4), np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _unused_sublayer_block(lib, "projected")(x)


def test_loading_a_layer_that_holds_layers_without_a_build_warns_as_kerass(keras, tmp_path):
    """Loading builds a user's layer from its build config through the default build, which
    warns in Keras that its layers are unbuilt (keras.io's token learner's PatchEncoder, its
    Embedding); the model then runs as saved."""
    message = r"`build\(\)` was called on layer 'gated', however the layer does not have"
    x = np.ones((2, 4), np.float32)
    for lib in (ac, keras):
        inputs = lib.Input((4,))
        model = lib.Model(inputs, _unused_sublayer_block(lib, "gated")(inputs))
        model.save(tmp_path / f"{lib.__name__}.keras")
    for lib, writer in ((ac, "keras"), (keras, "autoconv")):
        objects = {"Gated": type(_unused_sublayer_block(lib, "gated"))}
        with pytest.warns(UserWarning, match=message):
            loaded = lib.saving.load_model(tmp_path / f"{writer}.keras", custom_objects=objects)
        assert np.asarray(loaded.predict(x, verbose=0)).shape == (2, 3)


def _no_shape_build_layer(lib: Any) -> Any:
    """A layer whose ``build(self)`` takes no shape (its sublayer is built by the call)."""

    class NoShapeBuild(lib.layers.Layer):
        def __init__(self) -> None:
            super().__init__(name="no_shape_build")
            self.dense = lib.layers.Dense(2, name="dense")

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs["x"] if isinstance(inputs, dict) else inputs)

        def build(self) -> None:
            self.built = True

    return NoShapeBuild()


@pytest.mark.parametrize("as_dict", [False, True])
def test_a_build_without_a_shape_is_called_as_kerass(keras, as_dict):
    """Keras calls a ``build(self)`` without the input's shape; the call then runs."""
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    inputs = {"x": x} if as_dict else x
    ours, theirs = _no_shape_build_layer(ac), _no_shape_build_layer(keras)
    expected = _numpy(theirs(inputs))
    assert ours.built is False
    got = ours(inputs)
    assert ours.built and got.shape == expected.shape == (2, 2)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(np.asarray(ours(inputs)), expected, rtol=1e-6, atol=1e-6)


def _star_build_layer(lib: Any, seen: list) -> Any:
    """keras.io's vocal track separation's layers: ``build(self, *_)`` makes the sublayers."""

    class StarBuild(lib.layers.Layer):
        def build(self, *args: Any) -> None:
            seen.append(args)
            self.dense = lib.layers.Dense(2)

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    return StarBuild()


def test_a_build_of_only_star_args_is_called_without_a_shape_as_kerass(keras):
    """A ``build(self, *_)``: Keras names no shape for it, so calls it with none and records
    ``{"shapes_dict": {}}``."""
    found = []
    for lib in (ac, keras):
        seen: list[Any] = []
        layer = _star_build_layer(lib, seen)
        layer(lib.Input((3,)))
        found.append((seen, layer.get_build_config()))
    assert found[0] == found[1] == ([()], {"shapes_dict": {}})


def _no_shape_build_model(lib: Any) -> Any:
    """A functional model of a ``build(self)`` layer that takes ``**kwargs`` (so it loads)."""

    class NoShapeBuild(lib.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2, name="dense")

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs["x"])

        def build(self) -> None:
            self.built = True

    inputs = {"x": lib.Input((3,), name="x")}
    return lib.Model(inputs, NoShapeBuild(name="no_shape")(inputs))


def test_a_build_without_a_shape_has_kerass_build_config_both_ways(keras, tmp_path):
    """keras.io's variable selection network's ``build(self)``: Keras records it as
    ``{"shapes_dict": {}}`` and builds it with no shape on loading (an input shape there is
    Keras's TypeError); a file of either library loads in the other."""
    x = {"x": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)}
    ours, theirs = _no_shape_build_model(ac), _no_shape_build_model(keras)
    for model in (ours, theirs):
        assert model.get_layer("no_shape").get_build_config() == {"shapes_dict": {}}
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    expected = np.asarray(theirs.predict(x, verbose=0))
    objects = {"NoShapeBuild": type(theirs.get_layer("no_shape"))}
    in_keras = keras.saving.load_model(tmp_path / "ours.keras", custom_objects=objects)
    np.testing.assert_allclose(np.asarray(in_keras.predict(x, verbose=0)), expected, rtol=1e-6)
    objects = {"NoShapeBuild": type(ours.get_layer("no_shape"))}
    loaded = ac.saving.load_model(tmp_path / "theirs.keras", custom_objects=objects)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    assert loaded.get_layer("no_shape").get_build_config() == {"shapes_dict": {}}


def test_a_plain_value_after_the_inputs_must_be_a_keyword_as_keras(keras):
    """keras.io's GAN-ADA ``self.augmenter(images, training)``: Keras refuses a bool (or
    number, or string) given positionally after the inputs."""
    x = np.ones((2, 4, 4, 3), np.float32)
    message = "Only input tensors may be passed as positional arguments"
    for lib in (keras, ac):
        model = lib.Sequential([lib.Input((4, 4, 3)), lib.layers.Dense(2)])
        with pytest.raises(ValueError, match=message):
            model(x, True)
        with pytest.raises(ValueError, match=message):
            lib.layers.Dense(2)(x, 0.5)
        assert tuple(model(x, training=True).shape) == (2, 4, 4, 2)


def _lazy_weight(lib: Any) -> Any:
    class LazyWeight(lib.layers.Layer):  # (the weight made by the first call)
        def call(self, inputs: Any) -> Any:
            if not hasattr(self, "w"):
                self.w = self.add_weight(shape=(3, 2))
            return lib.ops.matmul(inputs, self.w)

    return LazyWeight()


def test_state_added_to_a_built_layer_is_kerass_error(keras):
    """Keras locks a layer's variables and sublayers once its build has run: a weight made in
    ``call``, or a variable or layer set on it later, is its ValueError; a functional model
    and a Sequential stay open."""
    x = np.ones((2, 3), np.float32)
    message = "You cannot add new elements of state .variables or sub-layers. to a layer that"
    for lib in (keras, ac):
        with pytest.raises(ValueError, match=message):
            _lazy_weight(lib)(x)
        dense = lib.layers.Dense(2)
        dense(x)
        with pytest.raises(ValueError, match=message):
            dense.add_weight(shape=(1,))
        with pytest.raises(ValueError, match=message):
            dense.extra = lib.Variable(np.ones(2, np.float32))
        with pytest.raises(ValueError, match=message):
            dense.extra = lib.layers.Dense(2)
        assert len(dense.weights) == 2
        inputs = lib.Input((3,))
        model = lib.Model(inputs, lib.layers.Dense(2)(inputs))
        model.extra = lib.layers.Dense(2)
        stack = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        stack.add(lib.layers.Dense(1))
        assert tuple(stack(x).shape) == (2, 1)


def test_losses_list_the_activity_penalties_before_the_weights_as_kerass(keras):
    found = []
    for lib in (ac, keras):
        regularizers = lib.regularizers
        layer = lib.layers.Dense(
            2, kernel_initializer="ones", kernel_regularizer=regularizers.L2(0.5),
            bias_regularizer=regularizers.L1(2.0), activity_regularizer=regularizers.L1(1.0),
        )  # fmt: skip
        layer(np.ones((1, 3), np.float32))
        found.append([float(lib.ops.convert_to_numpy(loss)) for loss in layer.losses])
    assert found[0] == found[1] == [6.0, 3.0, 0.0]  # activity, kernel, bias


def test_a_numpy_float_type_is_a_layers_dtype_as_kerass(keras):
    ours, theirs = layers.Dense(2, dtype=np.float64), keras.layers.Dense(2, dtype=np.float64)
    assert (ours.dtype, ours.compute_dtype, ours.input_dtype) == ("float64",) * 3
    assert repr(ours.dtype_policy) == repr(theirs.dtype_policy)
    assert ours.input_dtype == theirs.input_dtype


def test_dtype_policy_is_set_before_the_build_as_kerass(keras):
    ours, theirs = layers.Dense(2), keras.layers.Dense(2)
    ours.dtype_policy = theirs.dtype_policy = "float64"
    assert repr(ours.dtype_policy) == repr(theirs.dtype_policy)
    assert ours(np.ones((1, 3), "float32")).dtype == np.float64
    with pytest.raises(ValueError, match="cannot change to 'float32' once built"):
        ours.dtype_policy = ac.DTypePolicy("float32")
