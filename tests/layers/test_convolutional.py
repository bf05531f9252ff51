"""Convolution layers (Conv1D, Conv2D with groups, SeparableConv2D, DepthwiseConv2D,
Conv2DTranspose): Keras's output shapes, parameter counts, weight names, shapes and fans,
values against PyTorch, float64 gradchecks through the layers, configs, saving, the conv+pool
fusion rule, and a small Xception block."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck
from autoconv.windows import padding_amounts
from tests.ops.test_convolution import torch_conv2d


# --------------------------------------------------------------- shapes and parameters
@pytest.mark.parametrize(
    ("make", "in_shape", "out_shape", "params"),
    [
        # the depthwise 3*3*32 + pointwise 32*64 + bias 64 of Keras's summary
        (lambda: layers.SeparableConv2D(64, 3), (32, 32, 32), (30, 30, 64), 2400),
        (lambda: layers.SeparableConv2D(16, 3, 2, "same", depth_multiplier=2), (9, 9, 4),
         (5, 5, 16), 72 + 128 + 16),
        (lambda: layers.SeparableConv2D(8, (3, 2), dilation_rate=2, use_bias=False), (9, 9, 3),
         (5, 7, 8), 18 + 24),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=3), (10, 10, 12), (8, 8, 36), 360),
        (lambda: layers.DepthwiseConv2D((3, 3), 2, "SAME"), (7, 7, 5), (4, 4, 5), 50),
        (lambda: layers.DepthwiseConv2D(2, dilation_rate=(2, 1), use_bias=False), (6, 6, 2),
         (4, 5, 2), 8),
        # Keras's docstring example: (4, 10, 8, 128) -> (4, 20, 16, 32)
        (lambda: layers.Conv2DTranspose(32, 2, 2, activation="relu"), (10, 8, 128),
         (20, 16, 32), 16416),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (5, 5, 2),
         (10, 10, 4), 76),
        (lambda: layers.Conv2DTranspose(4, 3, 2, "same", output_padding=0), (5, 5, 2),
         (9, 9, 4), 76),
        (lambda: layers.Conv2DTranspose(4, 3, 2, output_padding=(1, 0)), (5, 5, 2),
         (12, 11, 4), 76),
        (lambda: layers.Conv2DTranspose(3, 2, strides=3), (4, 4, 1), (12, 12, 3), 15),
        (lambda: layers.Conv2DTranspose(2, 3, dilation_rate=2), (4, 4, 1), (8, 8, 2), 20),
        (lambda: layers.Conv2D(64, 3, groups=4), (8, 8, 32), (6, 6, 64), 4672),
        (lambda: layers.Conv2D(6, 1, strides=2, padding="same", groups=3), (5, 5, 3),
         (3, 3, 6), 12),
        # Keras's docstring example: (4, 10, 128) -> (4, 8, 32)
        (lambda: layers.Conv1D(32, 3, activation="relu"), (10, 128), (8, 32), 12320),
        (lambda: layers.Conv1D(8, 3, padding="causal", dilation_rate=2), (10, 4), (10, 8), 104),
        (lambda: layers.Conv1D(8, 4, 2, "same", groups=2, use_bias=False), (9, 4), (5, 8), 64),
        (lambda: layers.Conv1D(6, (3,), padding="CAUSAL", strides=2), (7, 3), (4, 6), 60),
    ],
)  # fmt: skip
def test_shapes_and_params_as_keras(make, in_shape, out_shape, params):
    layer = make()
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    out = layer(np.random.default_rng(0).random((2, *in_shape)))
    assert out.shape == (2, *out_shape) and out.dtype == np.float32
    assert layer.count_params() == params


@pytest.mark.parametrize("padding", ["SAME", "Valid"])
@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda p: layers.Conv2D(3, 3, 2, p), (2, 7, 6, 2)),
        (lambda p: layers.Conv1D(3, 3, 2, p), (2, 7, 2)),
        (lambda p: layers.DepthwiseConv2D(3, 2, p), (2, 7, 6, 2)),
        (lambda p: layers.SeparableConv2D(3, 3, 2, p), (2, 7, 6, 2)),
        (lambda p: layers.Conv2DTranspose(3, 3, 2, p), (2, 4, 3, 2)),
    ],
)
def test_padding_is_lower_cased_as_keras(make, shape, padding, rng):
    """Keras's convolutions store standardize_padding(padding): 'SAME' is 'same'."""
    x = rng.random(shape)
    upper, lower = make(padding), make(padding.lower())
    assert upper.padding == padding.lower() == upper.get_config()["padding"]
    out = upper(x)
    lower(x)
    lower.set_weights(upper.get_weights())
    np.testing.assert_array_equal(out.numpy(), lower(x).numpy())


@pytest.mark.parametrize(
    ("make", "weights"),
    [
        (lambda: layers.SeparableConv2D(5, 3, depth_multiplier=2),
         [("depthwise_kernel", (3, 3, 4, 2)), ("pointwise_kernel", (1, 1, 8, 5)),
          ("bias", (5,))]),
        (lambda: layers.DepthwiseConv2D((2, 3), depth_multiplier=2),
         [("kernel", (2, 3, 4, 2)), ("bias", (8,))]),
        (lambda: layers.Conv2DTranspose(6, (2, 3)), [("kernel", (2, 3, 6, 4)), ("bias", (6,))]),
        (lambda: layers.Conv2D(6, 3, groups=2), [("kernel", (3, 3, 2, 6)), ("bias", (6,))]),
        (lambda: layers.Conv1D(6, 3, groups=2, use_bias=False), [("kernel", (3, 2, 6))]),
    ],
)  # fmt: skip
def test_weights_in_keras_order_names_and_layouts(make, weights):
    layer = make()
    rank = 1 if isinstance(layer, layers.Conv1D) else 2
    layer.build((None, *(7,) * rank, 4))
    assert [(w.name, w.shape) for w in layer.weights] == weights
    assert [w.path for w in layer.weights] == [f"{layer.name}/{name}" for name, _ in weights]


def glorot_limit(shape):
    """Keras's compute_fans: the receptive field times the last two axes."""
    receptive = int(np.prod(shape[:-2]))
    return np.sqrt(6 / (receptive * (shape[-2] + shape[-1])))


@pytest.mark.parametrize(
    ("make", "input_shape"),
    [
        (lambda: layers.SeparableConv2D(64, 3), (None, 32, 32, 32)),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 8, 8, 24)),
        (lambda: layers.Conv2DTranspose(16, 3), (None, 8, 8, 24)),
        (lambda: layers.Conv2D(32, 3, groups=4), (None, 8, 8, 32)),
        (lambda: layers.Conv1D(32, 5), (None, 8, 24)),
    ],
)
def test_each_kernel_draws_with_its_own_fans(make, input_shape):
    ac.utils.set_random_seed(5)
    layer = make()
    layer.build(input_shape)
    kernels = [w for w in layer.weights if w.name != "bias"]
    for kernel in kernels:
        limit = glorot_limit(kernel.shape)
        assert 0.9 * limit < np.abs(kernel.numpy()).max() <= limit, kernel.path
    assert not layer.bias.numpy().any()


def test_fan_in_of_a_transposed_kernel_is_keras_s_filters_axis():
    """Keras takes the kernel's second-to-last axis as fan_in: the filters, for (kh, kw,
    filters, in)."""
    ac.utils.set_random_seed(6)
    layer = layers.Conv2DTranspose(4, 3, kernel_initializer="he_uniform")
    layer.build((None, 5, 5, 30))
    limit = np.sqrt(6 / (9 * 4))
    assert 0.9 * limit < np.abs(layer.kernel.numpy()).max() <= limit


def test_each_kernel_has_its_own_initializer_and_regularizer():
    layer = layers.SeparableConv2D(
        3, 2, depthwise_initializer="ones", pointwise_initializer="zeros",
        bias_initializer="ones", depthwise_regularizer="l2", pointwise_regularizer="l1",
        bias_regularizer=ac.regularizers.L2(0.5),
    )  # fmt: skip
    layer.build((None, 4, 4, 2))
    assert (layer.depthwise_kernel.numpy() == 1).all() and not layer.pointwise_kernel.numpy().any()
    np.testing.assert_array_equal(layer.bias.numpy(), np.ones(3))
    penalties = [float(p.item()) for p in layer.losses]
    np.testing.assert_allclose(penalties, [0.01 * 8, 0.0, 0.5 * 3], rtol=1e-6)


# ------------------------------------------------------------------ values vs PyTorch
def with_weights(layer, input_shape, rng):
    """``layer`` built for ``input_shape`` (by a first call) with random weights."""
    layer(np.zeros((1, *input_shape[1:])))
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.weights])
    return layer


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize(
    ("groups", "strides", "padding", "dilation", "activation"),
    [(2, 1, "valid", 1, None), (3, 2, "same", 1, "relu"), (6, 1, "same", 2, "tanh"),
     (1, (2, 1), "valid", 1, "relu"), (3, 1, 1, 1, None)],
)  # fmt: skip
def test_grouped_conv2d_matches_torch(groups, strides, padding, dilation, activation, rng, torch):
    layer = layers.Conv2D(6, 3, strides, padding, dilation_rate=dilation, groups=groups,
                          activation=activation, dtype="float64")  # fmt: skip
    with_weights(layer, (None, 7, 8, 6), rng)
    x = rng.standard_normal((2, 7, 8, 6))
    w, b = layer.get_weights()
    ref, _ = torch_conv2d(torch, x, w, b, strides, padding, dilation, groups)
    ref = {"relu": torch.relu, "tanh": torch.tanh, None: lambda t: t}[activation](ref)
    np.testing.assert_allclose(layer(x).numpy(), nhwc(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("multiplier", "strides", "padding", "dilation"),
    [(1, 1, "valid", 1), (2, 2, "same", 1), (3, 1, "same", (2, 1))],
)
def test_depthwise_conv2d_is_torch_grouped_by_channel(multiplier, strides, padding, dilation,
                                                      rng, torch):  # fmt: skip
    layer = layers.DepthwiseConv2D(3, strides, padding, multiplier, dilation_rate=dilation,
                                   dtype="float64")  # fmt: skip
    with_weights(layer, (None, 7, 7, 4), rng)
    x = rng.standard_normal((2, 7, 7, 4))
    w, b = layer.get_weights()
    # Keras's output channel c*M + m is channel c with kernel m: torch's group c, filter m
    grouped = w.reshape(3, 3, 1, 4 * multiplier)
    ref, _ = torch_conv2d(torch, x, grouped, b, strides, padding, dilation, 4)
    np.testing.assert_allclose(layer(x).numpy(), nhwc(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("multiplier", "strides", "padding", "activation"),
    [(1, 1, "valid", None), (2, 2, "same", "relu"), (1, (1, 2), "same", "tanh")],
)
def test_separable_conv2d_is_depthwise_then_pointwise_in_torch(multiplier, strides, padding,
                                                               activation, rng, torch):  # fmt: skip
    layer = layers.SeparableConv2D(5, 3, strides, padding, depth_multiplier=multiplier,
                                   activation=activation, dtype="float64")  # fmt: skip
    with_weights(layer, (None, 6, 7, 3), rng)
    x = rng.standard_normal((2, 6, 7, 3))
    depthwise, pointwise, b = layer.get_weights()
    grouped = depthwise.reshape(3, 3, 1, 3 * multiplier)
    mid, _ = torch_conv2d(torch, x, grouped, np.zeros(3 * multiplier), strides, padding, 1, 3)
    tp = torch.tensor(pointwise.transpose(3, 2, 0, 1))
    ref = torch.nn.functional.conv2d(mid, tp, torch.tensor(b))
    ref = {"relu": torch.relu, "tanh": torch.tanh, None: lambda t: t}[activation](ref)
    np.testing.assert_allclose(layer(x).numpy(), nhwc(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("kernel", "strides", "padding", "output_padding", "dilation", "torch_padding"),
    [
        (3, 2, "valid", 1, 1, 0),  # 'valid' with output_padding is torch's as it is
        ((3, 2), (3, 2), "valid", (2, 1), 1, 0),
        (3, 1, "valid", None, 2, 0),
        (4, 2, "same", None, 1, 1),  # 'same' crops (k' - s) / 2 from each side here
        (2, 2, "same", None, 1, 0),
    ],
)
def test_conv2d_transpose_matches_torch(kernel, strides, padding, output_padding, dilation,
                                        torch_padding, rng, torch):  # fmt: skip
    layer = layers.Conv2DTranspose(
        3, kernel, strides, padding, output_padding, dilation_rate=dilation, dtype="float64"
    )
    with_weights(layer, (None, 4, 5, 2), rng)
    x = rng.standard_normal((2, 4, 5, 2))
    w, b = layer.get_weights()
    ref = torch.nn.functional.conv_transpose2d(
        torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(w.transpose(3, 2, 0, 1)),
        torch.tensor(b), stride=strides, padding=torch_padding,
        output_padding=output_padding or 0, dilation=dilation,
    )  # fmt: skip
    out = layer(x)
    assert out.shape[1:] == layer.compute_output_shape((None, 4, 5, 2))[1:]
    np.testing.assert_allclose(out.numpy(), nhwc(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("kernel", "strides", "padding", "dilation", "groups"),
    [(3, 1, "valid", 1, 1), (3, 1, "causal", 2, 2), (2, 1, "causal", 1, 1),
     (4, 2, "same", 1, 2), (3, 1, "same", 3, 1), (2, 3, "causal", 1, 4)],
)  # fmt: skip
def test_conv1d_matches_torch_with_causal_as_left_padding(kernel, strides, padding, dilation,
                                                           groups, rng, torch):  # fmt: skip
    layer = layers.Conv1D(4, kernel, strides, padding, dilation_rate=dilation, groups=groups,
                          dtype="float64")  # fmt: skip
    with_weights(layer, (None, 9, 4), rng)
    x = rng.standard_normal((2, 9, 4))
    w, b = layer.get_weights()
    tx = torch.tensor(x.transpose(0, 2, 1))
    if padding == "causal":  # Keras's Conv1D: dilation*(k-1) zeros on the left, then 'valid'
        before, after = dilation * (kernel - 1), 0
    else:
        before, after = padding_amounts(padding, 9, kernel, strides, dilation, "ref")
    tx = torch.nn.functional.pad(tx, (before, after))
    tw = torch.tensor(w.transpose(2, 1, 0))  # (k, in/g, out) -> (out, in/g, k)
    ref = torch.nn.functional.conv1d(tx, tw, torch.tensor(b), strides, 0, dilation, groups)
    np.testing.assert_allclose(
        layer(x).numpy(), ref.numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12
    )


def test_causal_output_reads_no_later_step(rng):
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2, dtype="float64")
    x = rng.standard_normal((1, 10, 3))
    before = layer(x).numpy()
    x[0, 6:] += 1.0  # change steps 6 and later only
    after = layer(x).numpy()
    np.testing.assert_array_equal(after[0, :6], before[0, :6])
    assert not np.allclose(after[0, 6:], before[0, 6:])


# -------------------------------------------------------------------------- gradients
def layer_gradcheck(layer, x):
    """gradcheck of the layer's output with respect to its input and every weight (the
    layer's weight attributes are swapped for the checker's tensors during the check)."""
    layer(x)  # build
    names = [w.name for w in layer.weights]
    own = [getattr(layer, name) for name in names]

    def fn(x, *weights):
        for name, weight in zip(names, weights, strict=True):
            setattr(layer, name, weight)
        return layer(x)

    try:
        return gradcheck(fn, [x, *[w.numpy() for w in own]])
    finally:
        for name, weight in zip(names, own, strict=True):
            setattr(layer, name, weight)


@pytest.mark.parametrize(
    ("make", "in_shape"),
    [
        (lambda: layers.Conv2D(4, 2, groups=2, activation="tanh"), (4, 5, 4)),
        (lambda: layers.Conv2D(4, 3, 2, "same", groups=4), (5, 5, 4)),
        (
            lambda: layers.SeparableConv2D(3, 2, 2, "same", depth_multiplier=2, activation="tanh"),
            (5, 4, 2),
        ),
        (lambda: layers.SeparableConv2D(2, 3, dilation_rate=2, use_bias=False), (6, 6, 2)),
        (lambda: layers.DepthwiseConv2D(2, depth_multiplier=2, activation="tanh"), (4, 4, 2)),
        (lambda: layers.DepthwiseConv2D(3, 2, "same"), (5, 5, 2)),
        (lambda: layers.Conv2DTranspose(2, 3, 2, "same", output_padding=1), (3, 3, 2)),
        (lambda: layers.Conv2DTranspose(2, 2, 2, activation="tanh"), (3, 2, 3)),
        (lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2, groups=2), (6, 2)),
        (lambda: layers.Conv1D(3, 2, 2, "same", activation="tanh"), (5, 3)),
    ],
)
def test_gradcheck_through_the_layer(make, in_shape, rng):
    layer = make()
    layer = type(layer).from_config(layer.get_config() | {"dtype": "float64"})
    x = rng.standard_normal((2, *in_shape))
    with_weights(layer, (None, *in_shape), rng)
    assert layer_gradcheck(layer, x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Conv2D(4, 3, groups=2, activation="relu"),
        lambda: layers.SeparableConv2D(4, 3, activation="relu"),
        lambda: layers.DepthwiseConv2D(3, activation="relu"),
        lambda: layers.Conv2DTranspose(4, 3, activation="softmax"),
    ],
)
def test_output_is_the_activation_of_pre_activation(make, rng):
    """The fused ReLU gives what the activation applied after the convolution gives, and
    pre_activation (what a softmax output hands a cross-entropy) is the convolution."""
    layer = make()
    x = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    out = layer(x).numpy()
    logits = layer.pre_activation(ac.Tensor(x))
    np.testing.assert_allclose(out, layer.activation(logits).numpy(), rtol=1e-6, atol=1e-7)
    assert (logits.numpy() < 0).any()


# ---------------------------------------------------------------------------- configs
GROUPED = {"groups": 2, "activation": "relu", "kernel_regularizer": "l2", "use_bias": False}
SEPARABLE = {
    "depth_multiplier": 3, "activation": "tanh", "depthwise_initializer": "he_normal",
    "pointwise_initializer": "ones", "bias_initializer": "ones", "depthwise_regularizer": "l1",
    "pointwise_regularizer": "l2", "bias_regularizer": "l2", "activity_regularizer": "l1",
}  # fmt: skip
DEPTHWISE = {"dilation_rate": 2, "depthwise_initializer": "lecun_normal",
             "depthwise_regularizer": "l2"}  # fmt: skip


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Conv2D(8, (2, 3), 2, "same", name="c", **GROUPED),
        lambda: layers.SeparableConv2D(6, 3, (1, 2), "valid", name="s", **SEPARABLE),
        lambda: layers.DepthwiseConv2D(3, 1, "same", 2, name="d", **DEPTHWISE),
        lambda: layers.Conv2DTranspose(4, 3, 2, "same", (1, 0), name="t", dtype="float64"),
        lambda: layers.Conv2DTranspose(4, 3, name="t0"),
        lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2, groups=2, name="c1"),
        lambda: layers.Conv2D(4, 3, padding=(1, 2), name="c2"),
    ],
)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": config})
    assert type(clone) is type(layer) and clone.get_config() == config
    assert config["data_format"] == "channels_last"
    rank = 1 if isinstance(layer, layers.Conv1D) else 2
    shape = (None, *(9,) * rank, 4)
    assert clone.compute_output_shape(shape) == layer.compute_output_shape(shape)


def test_config_names_keras_s_arguments():
    config = layers.SeparableConv2D(4, 3).get_config()
    keras_keys = {
        "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
        "data_format", "dilation_rate", "depth_multiplier", "activation", "use_bias",
        "depthwise_initializer", "pointwise_initializer", "bias_initializer",
        "depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
        "activity_regularizer", "depthwise_constraint", "pointwise_constraint", "bias_constraint",
    }  # fmt: skip
    assert set(config) == keras_keys
    assert layers.Conv2DTranspose(2, 2).get_config()["output_padding"] is None
    assert layers.Convolution2D is layers.Conv2D and layers.Convolution1D is layers.Conv1D
    assert layers.SeparableConvolution2D is layers.SeparableConv2D
    assert layers.Convolution2DTranspose is layers.Conv2DTranspose


@pytest.mark.parametrize(
    ("name", "args"),
    [("Conv1D", (2, 3)), ("Conv2D", (2, 3)), ("Conv3D", (2, 3)), ("Conv1DTranspose", (2, 3)),
     ("Conv2DTranspose", (2, 3)), ("Conv3DTranspose", (2, 3)), ("SeparableConv1D", (2, 3)),
     ("SeparableConv2D", (2, 3)), ("DepthwiseConv1D", (3,)), ("DepthwiseConv2D", (3,))],
)  # fmt: skip
@pytest.mark.parametrize("activity_regularizer", [None, "l2"])
def test_config_entries_in_keras_s_order(keras, name, args, activity_regularizer):
    """As Keras's config.json lists them: filters (after depth_multiplier) first, output_padding
    after padding, groups after dilation_rate (a set activity_regularizer after the dtype)."""
    ours = getattr(layers, name)(*args, activity_regularizer=activity_regularizer)
    theirs = getattr(keras.layers, name)(*args, activity_regularizer=activity_regularizer)
    assert list(ours.get_config()) == list(theirs.get_config())


# -------------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.SeparableConv2D(4, 3, data_format="nchw"), "`data_format` argument"),
        (lambda: layers.Conv1D(4, 3, data_format="first"), "`data_format` argument must be"),
        (lambda: layers.Conv2D(4, 3, kernel_constraint="no_such_norm"),
         "Could not interpret constraint identifier: 'no_such_norm'"),
        (lambda: layers.SeparableConv2D(4, 3, pointwise_constraint=2.0),
         "Could not interpret constraint identifier: 2.0"),
        (lambda: layers.DepthwiseConv2D(3, depthwise_constraint="nope"), "constraint identifier"),
        (lambda: layers.Conv2DTranspose(4, 3, bias_constraint=[1]), "constraint identifier"),
        (lambda: layers.Conv1D(4, 3, kernel_constraint="nope"), "constraint identifier"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), "The `padding` argument must be"),
        (lambda: layers.SeparableConv2D(4, 3, padding="full"), "The `padding` argument must"),
        (lambda: layers.Conv2DTranspose(4, 3, padding=1), "padding must be 'valid' or 'same'"),
        (lambda: layers.Conv2D(6, 3, groups=4), "number of filters must be evenly divisible"),
        (lambda: layers.Conv1D(6, 3, groups=0), "groups must be a positive int"),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2),
         "`output_padding` must be < `strides`"),
        (lambda: layers.Conv2DTranspose(4, 3, output_padding=-1), "do not satisfy `value >= 0`"),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier must be"),
        (lambda: layers.SeparableConv2D(0, 3), "filters must be a positive int"),
        (lambda: layers.Conv1D(4, (3, 3)), "must be a tuple of 1 integers"),
        (lambda: layers.SeparableConv2D(4, 3, strides=2, dilation_rate=2),
         "cannot be used together"),
        (lambda: layers.Conv1D(4, 3, strides=2, dilation_rate=2), "cannot be used together"),
    ],
)  # fmt: skip
def test_bad_arguments_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_input_channels_must_divide_into_the_groups():
    with pytest.raises(ValueError, match="input channels must be evenly divisible"):
        layers.Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3)))


def test_wrong_input_rank_names_the_layer():
    with pytest.raises(ValueError, match=r"conv1d.*\(batch, steps, channels\)"):
        layers.Conv1D(2, 3)(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        layers.SeparableConv2D(2, 3)(np.zeros((1, 5, 3)))


# ------------------------------------------------------------------- models and saving
def conv_zoo(input_shape=(8, 8, 4)) -> ac.Model:
    inputs = ac.Input(shape=input_shape)
    x = layers.Conv2D(4, 3, padding="same", groups=2, activation="relu")(inputs)
    x = layers.SeparableConv2D(6, 3, depth_multiplier=2, activation="relu")(x)
    x = layers.DepthwiseConv2D(2, strides=2, padding="same", activation="tanh")(x)
    x = layers.Conv2DTranspose(3, 3, strides=2, output_padding=1)(x)
    x = layers.GlobalMaxPooling2D()(x)
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(x))


def test_save_and_load_a_model_of_every_conv(tmp_path, rng):
    ac.utils.set_random_seed(2)
    model = conv_zoo()
    x = rng.random((4, 8, 8, 4)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 4), 3)
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    model.save(tmp_path / "convs.keras")
    loaded = ac.load_model(tmp_path / "convs.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "InputLayer", "Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose",
        "GlobalMaxPooling2D", "Dense",
    ]  # fmt: skip
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert loaded.layers[4].output_padding == (1, 1) and loaded.layers[1].groups == 2
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_grouped_conv2d_is_not_fused_with_its_pooling():
    """conv2d_max_pool has no groups: a grouped Conv2D before a MaxPooling2D runs as two ops,
    a one-group one as one, and both give the layers' own results."""
    for groups in (1, 2):
        ac.utils.set_random_seed(0)
        model = ac.Sequential([
            layers.Conv2D(4, 3, groups=groups, activation="relu", input_shape=(7, 7, 4)),
            layers.MaxPooling2D(2),
            layers.Flatten(),
        ])  # fmt: skip
        assert model.plan.steps[0].fused == (groups == 1)
        x = np.random.default_rng(1).standard_normal((3, 7, 7, 4)).astype(np.float32)
        by_layer = x
        for layer in model.layers:
            by_layer = layer(by_layer)
        np.testing.assert_array_equal(model(x).numpy(), by_layer.numpy())


def small_xception(input_shape=(16, 16, 3), sizes=(8, 16)) -> ac.Model:
    """keras-io "Image classification from scratch"'s make_model, smaller: separable
    convolutions in residual blocks joined by ``layers.add`` with a strided 1x1 Conv2D (with
    BatchNormalization where autoconv has it)."""
    norm = getattr(layers, "BatchNormalization", None)

    def normalized(x):
        return norm()(x) if norm is not None else x

    inputs = ac.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(sizes[0], 3, strides=2, padding="same")(x)
    x = layers.Activation("relu")(normalized(x))
    previous_block_activation = x
    for size in sizes:
        x = layers.Activation("relu")(x)
        x = normalized(layers.SeparableConv2D(size, 3, padding="same")(x))
        x = layers.Activation("relu")(x)
        x = normalized(layers.SeparableConv2D(size, 3, padding="same")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    x = layers.SeparableConv2D(2 * sizes[-1], 3, padding="same")(x)
    x = layers.Activation("relu")(normalized(x))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25)(x)
    return ac.Model(inputs, layers.Dense(1, activation=None)(x))


def test_small_xception_block_builds_summarizes_and_trains_a_step(rng):
    ac.utils.set_random_seed(0)
    model = small_xception()
    assert model.compute_output_shape((None, 16, 16, 3)) == (None, 1)
    separable = [layer for layer in model.layers if isinstance(layer, layers.SeparableConv2D)]
    assert [layer.compute_output_shape(layer.input_shape) for layer in separable] == [
        (None, 8, 8, 8), (None, 8, 8, 8), (None, 4, 4, 16), (None, 4, 4, 16), (None, 2, 2, 32),
    ]  # fmt: skip
    # 9*c + c*f + f for each separable convolution
    assert [layer.count_params() for layer in separable] == [144, 144, 216, 416, 688]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "│ separable_conv2d_2  │ (None, 4, 4, 16)  │        216 │" in text
    assert "(SeparableConv2D)" in text and "│ add (Add)" in text
    if not hasattr(layers, "BatchNormalization"):  # 224 + 144 + 144 + 72 + 216 + ... + 33
        assert model.count_params() == 2081
    assert f"Total params: {model.count_params():,}" in text
    model.compile(
        optimizer=ac.optimizers.Adam(3e-4),
        loss=ac.losses.BinaryCrossentropy(from_logits=True),
        metrics=[ac.metrics.BinaryAccuracy(name="acc")],
    )
    x = rng.integers(0, 256, (4, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 2, (4, 1)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    changed = [not np.array_equal(b, a) for b, a in zip(before, model.get_weights(), strict=True)]
    trainable = [w.trainable for w in model.weights]
    assert all(c for c, t in zip(changed, trainable, strict=True) if t)


# -------------------------------------------------------------- unknown (None) sizes
@pytest.mark.parametrize(
    ("name", "arguments", "in_shape"),
    [
        ("Conv2D", {"filters": 8, "kernel_size": 16, "strides": 16}, (None, None, 3)),  # patches
        ("Conv2D", {"filters": 8, "kernel_size": 16, "strides": 16}, (32, None, 3)),
        ("Conv1D", {"filters": 8, "kernel_size": 300}, (None, 3)),  # wider than any probe
        ("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 4},
         (None, 3)),
        ("DepthwiseConv2D", {"kernel_size": 16, "strides": 16}, (None, None, 3)),
        ("SeparableConv2D", {"filters": 4, "kernel_size": 8, "strides": 8}, (None, 12, 3)),
        ("SeparableConv1D", {"filters": 4, "kernel_size": 8, "strides": 8, "padding": "same"},
         (None, 3)),
        ("DepthwiseConv1D", {"kernel_size": 8, "strides": 8}, (None, 3)),
        ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 16}, (None, 5, 3)),
        ("Conv1DTranspose", {"filters": 4, "kernel_size": 8, "strides": 8}, (None, 3)),
        ("Conv3D", {"filters": 4, "kernel_size": 8, "strides": 8}, (None, None, 16, 3)),
        ("Conv3DTranspose", {"filters": 4, "kernel_size": 3, "strides": 8}, (None, 2, None, 3)),
    ],
)  # fmt: skip
def test_an_unknown_size_convolves_to_an_unknown_size_as_keras(keras, name, arguments, in_shape):
    """An unknown (None) size gives None whatever the window, as Keras's (a stride coarser
    than the probe sizes' spread once mapped both to one size); known sizes are computed."""
    ours = getattr(layers, name)(**arguments)(ac.Input(in_shape)).shape
    theirs = getattr(keras.layers, name)(**arguments)(keras.Input(in_shape)).shape
    assert tuple(ours) == tuple(theirs)
