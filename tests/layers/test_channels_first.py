"""Keras's ``data_format="channels_first"`` (autoconv/layers/channels.py) on every spatial layer
family, against Keras 3 on its PyTorch backend: the same weights give the same outputs, input
gradients, output shapes and configs; in a functional model (its symbolic shapes, its
predictions, a ``.keras`` file both ways); the augmentation layers as their channels-last
selves on the moved images; ``config.set_image_data_format`` as the default."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import config, layers

CASES = [
    ("Conv2D", {"filters": 3, "kernel_size": 2, "padding": "same"}, (2, 2, 5, 4)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "groups": 2,
                "activation": "softmax"}, (2, 4, 7, 6)),  # (Keras's softmax: the last axis)
    ("Conv1D", {"filters": 3, "kernel_size": 2, "activation": "relu"}, (2, 2, 6)),
    ("Conv3D", {"filters": 3, "kernel_size": 2}, (1, 2, 3, 4, 3)),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 2, "strides": 2}, (2, 2, 3, 4)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2}, (1, 2, 2, 3, 2)),
    ("SeparableConv2D", {"filters": 3, "kernel_size": 2, "depth_multiplier": 2}, (2, 2, 5, 4)),
    ("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2}, (2, 2, 5, 4)),
    ("DepthwiseConv1D", {"kernel_size": 2}, (2, 2, 5)),
    ("MaxPooling2D", {"pool_size": 2}, (2, 3, 4, 6)),
    ("AveragePooling1D", {"pool_size": 2, "padding": "same"}, (2, 3, 5)),
    ("MaxPooling3D", {"pool_size": 2}, (1, 2, 4, 4, 2)),
    ("AdaptiveAveragePooling2D", {"output_size": 2}, (2, 3, 4, 5)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (2, 3, 4, 5)),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 1))}, (2, 3, 4, 5)),
    ("ZeroPadding1D", {"padding": (1, 2)}, (2, 3, 4)),
    ("Cropping2D", {"cropping": ((1, 0), (0, 1))}, (2, 3, 4, 5)),
    ("UpSampling2D", {"size": (2, 2), "interpolation": "bilinear"}, (2, 3, 3, 4)),
    ("ZeroPadding3D", {"padding": 1}, (1, 2, 2, 3, 2)),
    ("Cropping3D", {"cropping": 1}, (1, 2, 4, 3, 3)),
    ("UpSampling3D", {"size": 2}, (1, 2, 2, 3, 2)),
    ("Resizing", {"height": 3, "width": 5}, (2, 3, 4, 6)),
    ("CenterCrop", {"height": 3, "width": 2}, (2, 3, 4, 6)),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 2, "return_sequences": True,
                    "return_state": True}, (1, 2, 2, 3)),  # (Keras's ConvLSTMs: slow)
]  # fmt: skip


def _pair(keras, name, kwargs, shape):
    """Keras's layer and autoconv's, channels-first, with Keras's weights."""
    theirs = getattr(keras.layers, name)(data_format="channels_first", **kwargs)
    ours = getattr(layers, name)(data_format="channels_first", **kwargs)
    theirs.build(shape)
    ours.build(shape)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    return theirs, ours


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES)
def test_a_channels_first_layer_computes_as_kerass(keras, rng, name, kwargs, shape):
    import torch

    theirs, ours = _pair(keras, name, kwargs, shape)
    x = rng.uniform(0.1, 0.9, shape).astype(np.float32)
    reference, mine = torch.tensor(x, requires_grad=True), ac.Tensor(x, requires_grad=True)
    expected, out = theirs(reference), ours(mine)
    if isinstance(out, list | tuple):  # (ConvLSTM's states, moved back too)
        for e, o in zip(expected[1:], out[1:], strict=True):
            np.testing.assert_allclose(o.numpy(), e.detach().numpy(), rtol=1e-5, atol=1e-6)
        expected, out = expected[0], out[0]
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    (out * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-4, atol=1e-5)
    unknown = (None, *shape[1:])
    assert (
        np.array(ours.compute_output_shape(unknown), dtype=object).tolist()
        == np.array(theirs.compute_output_shape(unknown), dtype=object).tolist()
    )
    assert ours.get_config()["data_format"] == theirs.get_config()["data_format"]


def test_a_conv_lstm_takes_its_initial_state_channels_first(rng):
    """As its channels-last self on the moved sequences and states."""
    first = layers.ConvLSTM2D(2, 2, data_format="channels_first", return_state=True)
    last = layers.ConvLSTM2D(2, 2, data_format="channels_last", return_state=True)
    x = rng.standard_normal((1, 2, 2, 4, 4)).astype(np.float32)
    states = [rng.standard_normal((1, 2, 3, 3)).astype(np.float32) for _ in range(2)]
    last.build((1, 2, 4, 4, 2))
    first.build(x.shape)
    first.set_weights(last.get_weights())
    out = first(x, initial_state=states)
    expected = last(
        x.transpose(0, 1, 3, 4, 2), initial_state=[s.transpose(0, 2, 3, 1) for s in states]
    )
    for o, e in zip(out, expected, strict=True):
        np.testing.assert_allclose(o.numpy(), np.moveaxis(e.numpy(), -1, -3), rtol=1e-5, atol=1e-6)


def test_a_stateful_conv_lstm_keeps_its_states_channels_first_as_kerass(keras, rng):
    theirs, ours = _pair(keras, "ConvLSTM1D", {"filters": 2, "kernel_size": 2, "stateful": True,
                                               "padding": "same"}, (2, 2, 3, 4))  # fmt: skip
    for _ in range(2):  # the second call starts from the states the first kept
        x = rng.uniform(0.1, 0.9, (2, 2, 3, 4)).astype(np.float32)
        expected, out = theirs(x), ours(x)
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
        for mine, kept in zip(ours.states, theirs.states, strict=True):
            assert mine.shape == tuple(kept.shape) == (2, 2, 4)  # (batch, filters, steps)
            np.testing.assert_allclose(mine.numpy(), np.asarray(kept), rtol=1e-5, atol=1e-6)
    ours.reset_state()
    assert [s.shape for s in ours.states] == [(2, 2, 4)] * 2 and not ours.states[0].numpy().any()


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        (layers.Conv2D(2, 3, data_format="channels_first"), (2, 3, 5),
         r"input must be \(batch, channels, height, width\), got \(2, 3, 5\)"),
        (layers.MaxPooling1D(data_format="channels_first"), (2, 3, 4, 5),
         r"input must be \(batch, channels, steps\), got \(2, 3, 4, 5\)"),
        (layers.ConvLSTM2D(2, 3, data_format="channels_first"), (2, 3, 4, 5),
         r"expected ndim=5, found ndim=4. Full shape received: \(2, 3, 4, 5\)"),
    ],
)  # fmt: skip
def test_a_wrong_rank_is_named_in_the_layers_layout(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape, np.float32))


def _classifier(lib):
    """Conv2D, BatchNormalization(axis=1), MaxPooling2D and Flatten channels-first, then Dense."""
    images = lib.Input((2, 6, 6))
    x = lib.layers.Conv2D(3, 3, data_format="channels_first", activation="relu")(images)
    x = lib.layers.BatchNormalization(axis=1)(x)
    x = lib.layers.MaxPooling2D(data_format="channels_first")(x)
    flat = lib.layers.Flatten(data_format="channels_first")(x)
    return lib.Model(images, lib.layers.Dense(2)(flat))


def test_a_channels_first_model_its_shapes_predictions_and_files_as_kerass(keras, rng, tmp_path):
    theirs, ours = _classifier(keras), _classifier(ac)
    symbolic = [(layer.input.shape, layer.output.shape) for layer in ours.layers[1:]]
    assert symbolic == [(tuple(layer.input.shape), tuple(layer.output.shape))
                        for layer in theirs.layers[1:]]  # fmt: skip
    weights = [rng.uniform(0.5, 1.5, np.shape(w)).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    loaded = ac.saving.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    back = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert back.layers[1].get_config()["data_format"] == "channels_first"


AUGMENTATIONS = [
    ("RandomFlip", {}),
    ("RandomRotation", {"factor": 0.2}),
    ("RandomCrop", {"height": 3, "width": 4}),
    ("RandomContrast", {"factor": 0.5}),
    ("RandomHue", {"factor": 0.5, "value_range": (0, 1)}),
    ("RandomPerspective", {"factor": 0.8}),
    ("CutMix", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), AUGMENTATIONS)
def test_an_augmentation_channels_first_is_its_channels_last_self_on_moved_images(
    rng, name, kwargs
):
    images = rng.uniform(0, 1, (4, 5, 6, 3)).astype(np.float32)  # channels-last
    last = getattr(layers, name)(seed=3, data_format="channels_last", **kwargs)
    first = getattr(layers, name)(seed=3, data_format="channels_first", **kwargs)
    moved = ac.Tensor(images.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    out = first(moved)
    expected = last(images).numpy().transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert first.compute_output_shape(moved.shape) == out.shape
    out.sum().backward()
    assert moved.grad.shape == moved.shape
    masks = rng.integers(0, 3, (4, 1, 5, 6)).astype(np.float32)
    if name in ("RandomFlip", "RandomCrop"):  # (a dict's masks laid out as its images)
        data = first({"images": moved.numpy(), "segmentation_masks": masks})
        assert data["segmentation_masks"].shape[:2] == (4, 1)


def test_set_image_data_format_is_the_default_of_the_spatial_layers(keras, rng):
    images = rng.uniform(0, 1, (2, 3, 4, 4)).astype(np.float32)
    upsampled = layers.UpSampling2D(interpolation="bilinear")(images).numpy()
    config.set_image_data_format("channels_first")
    keras.config.set_image_data_format("channels_first")
    try:
        made = [
            (layers.Conv2D(2, 3), keras.layers.Conv2D(2, 3)),
            (layers.MaxPooling1D(), keras.layers.MaxPooling1D()),
            (layers.Cropping3D(), keras.layers.Cropping3D()),
            (layers.RandomFlip(), keras.layers.RandomFlip()),
            (layers.ConvLSTM2D(2, 2), keras.layers.ConvLSTM2D(2, 2)),
            (layers.SpatialDropout3D(0.5), keras.layers.SpatialDropout3D(0.5)),
        ]
        for ours, theirs in made:
            assert ours.data_format == ours.get_config()["data_format"] == "channels_first"
            assert ours.get_config()["data_format"] == theirs.get_config()["data_format"]
        assert made[0][0](images).shape == (2, 2, 2, 2)
        pooled = ac.ops.average_pool(images, 2).numpy()  # (keras.ops too)
        np.testing.assert_allclose(pooled, keras.ops.average_pool(images, 2).numpy(), 1e-6)
        # (the image ops the layers run inside are told their layout, not the default's)
        explicit = layers.UpSampling2D(interpolation="bilinear", data_format="channels_last")
        np.testing.assert_array_equal(explicit(images).numpy(), upsampled)
    finally:
        config.set_image_data_format("channels_last")
        keras.config.set_image_data_format("channels_last")


def test_a_users_override_gets_the_layers_layout(keras, rng):
    """As Keras's: a subclass's ``call`` reads channels-first data; its ``super().call``
    pools them."""

    def subclass(lib):
        class Pool(lib.layers.MaxPooling2D):
            def call(self, inputs):
                return super().call(inputs) * lib.ops.mean(inputs, axis=(2, 3), keepdims=True)

        return Pool(data_format="channels_first")

    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    expected = subclass(keras)(x).detach().numpy()
    np.testing.assert_allclose(subclass(ac)(x).numpy(), expected, rtol=1e-5, atol=1e-6)
