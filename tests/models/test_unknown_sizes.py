"""Output sizes that depend on an unknown (None) input size are unknown, as Keras's symbolic
shape inference finds them, where stand-in sizes would map to one size: a stride of 8 maps
257 and 263 to 33, so keras.io's RetinaNet (a feature pyramid's boxes reshaped to
``(N, -1, 4)`` and concatenated) had a fixed anchor count. The model still runs on images of
any size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autoconv as ac


def _box_heads(lib: Any, x: Any, convs: list, first: int) -> Any:
    """Keras's RetinaNet's heads on a tiny pyramid: the outputs of ``convs`` (stride 2 each)
    from the ``first`` on, reshaped to ``(N, -1, 4)`` and concatenated: their box count."""
    boxes = []
    for i, conv in enumerate(convs):
        x = conv(x)
        if i >= first:
            boxes.append(lib.ops.reshape(x, [lib.ops.shape(x)[0], -1, 4]))
    return lib.ops.concatenate(boxes, axis=1)


def _pyramid(lib: Any, depth: int = 3, first: int = 2) -> Any:
    """A user's layer (no ``compute_output_shape``) computing :func:`_box_heads`."""

    class Pyramid(lib.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.convs = [lib.layers.Conv2D(4, 1, strides=2, padding="same")
                          for _ in range(depth)]  # fmt: skip

        def call(self, x: Any) -> Any:
            return _box_heads(lib, x, self.convs, first)

    return Pyramid()


# (name, the graph's output given the library and its Input((None, None, 3)))
GRAPHS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("user_layer", lambda lib, x: _pyramid(lib)(x)),
    ("ops_reshape_by_shape", lambda lib, x: _box_heads(lib, x, _convs(lib, 3), 1)),
    ("max_pool_op", lambda lib, x: lib.ops.max_pool(x, 2, 2, "same")),
    # (a window that does not fit in a size of 1)
    ("valid_max_pool_op", lambda lib, x: lib.ops.max_pool(x, 2, 2, "valid")),
    ("valid_average_pool_op", lambda lib, x: lib.ops.average_pool(x, 3, 1, "valid")),
    ("stepped_slice", lambda lib, x: x[:, ::2]),
]


def _convs(lib: Any, depth: int) -> list:
    return [lib.layers.Conv2D(4, 1, strides=2, padding="same") for _ in range(depth)]


@pytest.mark.parametrize(("name", "graph"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_an_output_size_of_an_unknown_size_is_unknown_as_kerass(
    keras: Any, name: str, graph: Callable
) -> None:
    shapes = []
    for lib in (ac, keras):
        inputs = lib.Input((None, None, 3))
        outputs = graph(lib, inputs)
        shapes.append((tuple(outputs.shape), lib.Model(inputs, outputs).output_shape))
    assert shapes[0] == shapes[1]
    assert None in shapes[0][0][1:]


def test_a_user_layer_sizes_its_output_by_its_layers_rules() -> None:
    """Strides up to 32 (stride-2 convolutions; Keras's RetinaNet's go to 128): the anchor
    count is unknown, as the same layers give it in a functional graph (Keras's on PyTorch
    runs the call on sizes 83 and 89 instead, which a stride of 16 maps to one size)."""
    inputs = ac.Input((None, None, 3))
    traced = _pyramid(ac, depth=5, first=3)(inputs)
    graph = _box_heads(ac, inputs, _convs(ac, 5), 3)
    assert traced.shape == graph.shape == (None, None, 4)


def test_tracing_a_user_layer_takes_no_names_nor_calls() -> None:
    """The call traced for its shape records nothing: its layers have no call in the graph
    and the graph's next op is named as Keras names it (its trace calls no Operation)."""
    ac.backend.clear_session()
    inputs = ac.Input((None, None, 3))
    pyramid = _pyramid(ac)
    outputs = ac.ops.reshape(pyramid(inputs), (-1, 4))
    assert [len(conv._inbound_nodes) for conv in pyramid.convs] == [0, 0, 0]
    assert outputs.node.layer.name == "reshape"


def test_a_model_of_unknown_sizes_predicts_and_fits_images_of_two_sizes() -> None:
    inputs = ac.Input((None, None, 3))
    model = ac.Model(inputs, _pyramid(ac, depth=2, first=0)(inputs))
    model.compile("sgd", "mse")
    for size, boxes in ((8, 4 * 4 + 2 * 2), (4, 2 * 2 + 1)):
        images = np.ones((2, size, size, 3), np.float32)
        assert model.predict(images, verbose=0).shape == (2, boxes, 4)
        history = model.fit(images, np.zeros((2, boxes, 4), np.float32), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    ("pool", "window", "strides"), [("max_pool", 2, 2), ("average_pool", 3, 1)]
)
def test_a_valid_window_op_on_unknown_sizes_runs_on_images_of_two_sizes(
    pool: str, window: int, strides: int
) -> None:
    """The window does not fit in a size of 1: the output's shape is found at larger sizes."""
    inputs = ac.Input((None, None, 3))
    model = ac.Model(inputs, getattr(ac.ops, pool)(inputs, window, strides, "valid"))
    for size in (7, 9):
        out = (size - window) // strides + 1
        assert model.predict(np.ones((2, size, size, 3), np.float32), verbose=0).shape == (
            2, out, out, 3)  # fmt: skip


ITEMS = [
    (slice(None), slice(0, 1)),  # a slice of an unknown size: unknown (autoconv's trials: 1)
    (slice(None), 2),  # past a size of 1 (the trials' stand-in failed)
    (slice(None), slice(None), slice(1, 2), 1),
    (Ellipsis, -1),
    (slice(None), None, Ellipsis, 2),
    (0,),
]


@pytest.mark.parametrize("key", ITEMS, ids=[str(k) for k in ITEMS])
def test_an_index_on_unknown_sizes_gives_kerass_shape_and_the_items(keras: Any, key: Any) -> None:
    shapes = [tuple(lib.Input((None, None, 3))[key].shape) for lib in (ac, keras)]
    assert shapes[0] == shapes[1]
    inputs = ac.Input((None, None, 3), dtype="int32")
    model = ac.Model(inputs, inputs[key])
    images = np.arange(2 * 4 * 5 * 3, dtype=np.int32).reshape(2, 4, 5, 3)
    np.testing.assert_array_equal(model.predict(images, verbose=0), images[key])


@pytest.mark.parametrize(
    ("key", "message"),
    [((slice(None), slice(None), slice(None), 3), "out-of-bounds index"),
     ((0, 0, 0, 0, 0), "too many indices")],
)  # fmt: skip
def test_an_index_past_a_known_size_is_kerass_error(key: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ac.Input((None, None, 3))[key]
