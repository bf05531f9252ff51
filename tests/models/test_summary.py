"""``model.summary()``'s parameter counts against Keras 3.15's (PyTorch backend): the
optimizer's line, from ``optimizer.variables``, once the optimizer is built; the output
shape of a user's layer in a subclassed model; what ``expand_nested`` opens."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac


def param_lines(lib, optimizer: str, kwargs: dict, fit: bool) -> list[str]:
    dense = [lib.layers.Dense(3, name="a"), lib.layers.Dense(2, name="b")]
    model = lib.Sequential([lib.Input((4,)), *dense], name="net")
    model.compile(optimizer=getattr(lib.optimizers, optimizer)(**kwargs), loss="mse")
    if fit:
        x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
        model.fit(x, x[:, :2], batch_size=8, epochs=1, verbose=0)
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return [line for line in "\n".join(lines).splitlines() if "params:" in line]


@pytest.mark.parametrize("fit", [False, True])
@pytest.mark.parametrize(
    ("optimizer", "kwargs"),
    [("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adam", {}), ("RMSprop", {}), ("Nadam", {}),
     ("Adafactor", {})],
)  # fmt: skip
def test_the_optimizer_params_line_is_kerass(keras, optimizer, kwargs, fit):
    """Keras prints "Optimizer params" once the optimizer is built, counting its step count
    and learning rate too: plain SGD's line after a step is 2 (8.00 B)."""
    ours = param_lines(ac, optimizer, kwargs, fit)
    assert ours == param_lines(keras, optimizer, kwargs, fit)
    assert any(line.startswith(" Optimizer params:") for line in ours) == fit


def test_print_fn_gets_kerass_whole_text_in_one_call(keras):
    """Keras 3.15 hands ``print_fn`` the whole summary at once, its last line ended with a
    newline (``model.summary(print_fn=file.write)`` writes a complete file)."""
    calls = {}
    for lib in (ac, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="dense")], name="net")
        calls[lib] = []
        model.summary(print_fn=calls[lib].append)
    assert len(calls[ac]) == 1 and calls[ac][0].endswith("(0.00 B)\n")
    assert calls[ac] == calls[keras]


def shape_cells(lib) -> dict[str, str]:
    """The Output Shape cells of a subclassed model's user layers, called on data."""

    class Plain(lib.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    class Shaped(Plain):
        def compute_output_shape(self, input_shape):
            return input_shape

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.plain = Plain(name="plain")
            self.shaped = Shaped(name="shaped")

        def call(self, inputs):
            return self.shaped(self.plain(inputs))

    model = Net()
    model(np.ones((2, 3), "float32"))
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    rows = "\n".join(lines).splitlines()
    return {name: next(r for r in rows if f"{name} (" in r).split("│")[2].strip() for name in
            ("plain", "shaped")}  # fmt: skip


def test_a_users_layer_without_compute_output_shape_shows_a_question_mark(keras):
    """Keras's summary asks a layer called outside a graph for ``compute_output_shape``: a
    user's layer made from ``Layer`` without one shows "?" (the subclassing guide's VAE)."""
    ours, kerass = shape_cells(ac), shape_cells(keras)
    assert ours["plain"] == kerass["plain"] == "?"
    # (one written: its shape, the batch axis the size of the batch it was built by)
    assert ours["shaped"] == kerass["shaped"] == "(2, 3)"


def test_a_layer_keras_builds_when_made_counts_0_params_in_an_unbuilt_model(keras):
    """A subclassed model summarized before it is called: a weightless layer Keras builds
    when it is made (a global pooling) shows 0 parameters, the others "0 (unbuilt)"."""

    def rows(lib):
        class Head(lib.Model):
            def __init__(self):
                super().__init__(name="head")
                self.gap = lib.layers.GlobalAveragePooling1D(name="gap")
                self.dense = lib.layers.Dense(2, name="dense")

            def call(self, inputs):
                return self.dense(self.gap(inputs))

        lines: list[str] = []
        Head().summary(print_fn=lambda text, **_: lines.append(text))
        return [row for row in "\n".join(lines).splitlines() if row.startswith("│")]

    assert rows(ac) == rows(keras)


def recommender_rows(lib) -> list[str]:
    """The rows of keras.io's movielens recommender (a subclassed model of embeddings of the
    input's columns) called on an ``Input``."""

    class Recommender(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.users = lib.layers.Embedding(5, 4, name="users")
            self.movies = lib.layers.Embedding(6, 4, name="movies")

        def call(self, inputs):
            both = self.users(inputs[:, 0]) * self.movies(inputs[:, 1])
            return lib.ops.sum(both, axis=1)

    model = Recommender(name="recommender")
    model(lib.Input((2,)))
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return [row for row in "\n".join(lines).splitlines() if row.startswith("│")]


def test_the_layers_a_subclassed_model_builds_on_an_input_show_an_unknown_batch(keras):
    """The run that sizes a subclassed model's output on an ``Input`` builds its layers: their
    rows show the batch size unknown, as Keras's symbolic call leaves it (Keras's PyTorch
    backend shows its stand-in size, 83, where its TensorFlow and JAX backends show None)."""
    ours = [" ".join(row.split()) for row in recommender_rows(ac)]
    kerass = [" ".join(row.replace("(83,", "(None,").split()) for row in recommender_rows(keras)]
    assert ours == kerass and "(None, 4)" in ours[1]


def nested_rows(lib, subclassed: bool) -> list[str]:
    """``summary(expand_nested=True)``'s rows for a graph of layers that hold others
    (Bidirectional, MultiHeadAttention, TimeDistributed, a user's block) and of models (a
    Sequential, and a subclassed one)."""

    class Block(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first, self.second = lib.layers.Dense(4), lib.layers.Dense(4)

        def call(self, inputs):
            return self.second(self.first(inputs))

    class Net(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(4, name="inner")

        def call(self, inputs):
            return self.dense(inputs)

    inputs = lib.Input((5, 4), name="sequence")
    x = lib.layers.Bidirectional(lib.layers.LSTM(2, return_sequences=True), name="bi")(inputs)
    x = lib.layers.MultiHeadAttention(2, 2, name="mha")(x, x)
    x = lib.layers.TimeDistributed(lib.layers.Dense(4), name="td")(x)
    x = Block(name="block")(x)
    dense = [lib.layers.Dense(4, name="s1"), lib.layers.Dense(4, name="s2")]
    x = lib.Sequential(dense, name="stack")(x)
    if subclassed:
        x = Net(name="net")(x)
    lines: list[str] = []
    lib.Model(inputs, x).summary(expand_nested=True, print_fn=lambda t, **_: lines.append(t))
    rows = "\n".join(lines).splitlines()[1:]  # (the model's name counts the session's)
    if subclassed:  # (Keras shows the batch size of a build's trial run for "inner")
        return [row.split("│")[1] for row in rows if row.startswith("│")]
    return rows


@pytest.mark.parametrize("subclassed", [False, True])
def test_expand_nested_opens_models_only_as_kerass(keras, subclassed):
    """Keras's ``expand_nested`` lists the layers of what has ``layers`` (models, Pipeline):
    a Bidirectional LSTM, attention or a user's block of layers stays one row."""
    ours = nested_rows(ac, subclassed)
    assert ours == nested_rows(keras, subclassed)
    assert sum("   └ " in row for row in ours) == (3 if subclassed else 2)


def called_graph_rows(lib) -> list[str]:
    """The summary's rows of a subclassed model whose call runs functional models on data
    (keras.io's Perceiver: a cross-attention model of a dict of inputs, then a model of one
    input)."""
    layers = lib.layers
    latent, data = layers.Input((4, 3), name="latent"), layers.Input((5, 3), name="data")
    attended = layers.Attention()([latent, data])
    cross = lib.Model({"latent": latent, "data": data}, attended, name="cross")
    single = layers.Input((4, 3))
    split = lib.Model(single, layers.Dense(2)(single), name="split")

    class Perceiver(lib.Model):
        def __init__(self):
            super().__init__(name="perceiver")
            self.cross, self.split = cross, split

        def call(self, inputs):
            latent = lib.ops.ones((1, 4, 3))  # (a batch of one, broadcast)
            return self.split(self.cross({"latent": latent, "data": inputs}))

    model = Perceiver()
    model(np.ones((2, 5, 3), "float32"))
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return "\n".join(lines).splitlines()[1:]


def test_a_functional_model_called_in_a_subclassed_call_shows_its_outputs_shapes(keras):
    """Keras's functional model keeps the node it was made with: outside a graph, its row
    shows its outputs' shapes (a dict-input model's too, where autoconv showed "?")."""
    ours = called_graph_rows(ac)
    assert ours == called_graph_rows(keras)
    assert any("(None, 4, 3)" in row for row in ours)


def nested_graph_rows(lib) -> list[str]:
    """``summary(expand_nested=True)``'s rows of a functional model called in another: its
    Input and a pooling layer (no weights, no build shape) among its rows."""
    inputs = lib.Input((8, 8, 1), name="image")
    x = lib.layers.MaxPooling2D(name="pool")(lib.layers.Conv2D(2, 3, name="conv")(inputs))
    inner = lib.Model(inputs, lib.layers.Flatten(name="flat")(x), name="inner")
    outer_input = lib.Input((8, 8, 1), name="outer_image")
    lines: list[str] = []
    lib.Model(outer_input, inner(outer_input), name="outer").summary(
        expand_nested=True, print_fn=lambda t, **_: lines.append(t)
    )
    return "\n".join(lines).splitlines()


def test_a_nested_models_rows_show_their_shapes_in_it_as_kerass(keras):
    ours = nested_graph_rows(ac)
    assert ours == nested_graph_rows(keras)
    assert any("└ image (InputLayer)" in row and "(None, 8, 8, 1)" in row for row in ours)
    assert any("└ pool (MaxPooling2D)" in row and "(None, 3, 3, 2)" in row for row in ours)


def encoder_rows(lib) -> list[str]:
    """The summary's rows of the book's VAE: a subclassed model whose call runs an encoder of
    two outputs (here the second of one axis)."""
    inputs = lib.Input((3,))
    outputs = [lib.layers.Dense(2)(inputs), lib.ops.sum(inputs, axis=-1)]
    encoder = lib.Model(inputs, outputs, name="encoder")

    class VAE(lib.Model):
        def __init__(self):
            super().__init__(name="vae")
            self.encoder = encoder

        def call(self, x):
            return self.encoder(x)

    model = VAE()
    model(np.ones((2, 3), "float32"))
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return "\n".join(lines).splitlines()[1:]


def test_a_functional_model_of_several_outputs_called_in_a_call_shows_kerass_shape(keras):
    """Outside a graph Keras formats a functional model's ``output_shape``: several outputs'
    as one shape of tuples, ``((None, 2), (None,))``, not the list a graph's node shows."""
    ours = encoder_rows(ac)
    assert ours == encoder_rows(keras)
    assert any("((None, 2), (None,))" in row for row in ours)
