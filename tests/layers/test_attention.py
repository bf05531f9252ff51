"""EinsumDense, MultiHeadAttention, Attention and AdditiveAttention against real Keras 3.15 (its
PyTorch backend, where installed): outputs, attention scores and gradients with the same
weights (float64), weight names, order and parameter counts, configs, errors, files both ways;
the two-operand einsum against NumPy's; a float64 gradcheck; and a short fit that gives
Keras's losses, and the same losses on the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers.attention import AdditiveAttention, Attention
from autoconv.layers.einsum_dense import EinsumDense, contract
from autoconv.layers.grouped_query_attention import GroupQueryAttention
from autoconv.layers.multi_head_attention import MultiHeadAttention
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

CLASSES = {cls.__name__: cls for cls in (EinsumDense, MultiHeadAttention, Attention,
                                         AdditiveAttention, GroupQueryAttention)}  # fmt: skip
HEADED = ("MultiHeadAttention", "GroupQueryAttention")  # called on query, value (, key)
OURS = SimpleNamespace(**CLASSES)  # in place of keras.layers
TOLERANCE = {"rtol": 1e-9, "atol": 1e-10}
# Keras 3.15's float64 Attention and AdditiveAttention, and its MultiHeadAttention's fused
# dot_product_attention (taken without return_attention_scores), compute in float32 in places
# (its promotion of Python floats): they agree to float32's precision.
ATTENTION_TOLERANCE = {"rtol": 2e-6, "atol": 2e-6}


def weights_for(layer, rng) -> list[np.ndarray]:
    """Random weights away from their initial ones, so that a wrong broadcast shows."""
    return [rng.uniform(0.3, 1.0, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights]


def owners(layer) -> list[tuple[object, str]]:
    """(layer or sublayer, attribute) of each weight, in the order of ``layer.weights``."""
    return [(owner, w.name) for owner in [layer, *layer.layers] for w in owner.weights
            if any(w is v for v in owner._trainable_variables)]  # fmt: skip


def _inputs(shapes, rng) -> list[np.ndarray]:
    return [rng.standard_normal(s) for s in shapes]


def build_for(layer, name, shapes) -> None:
    """Build for inputs of ``shapes`` as Keras's build takes them: MultiHeadAttention's one by
    one, the attention layers' as a list, EinsumDense's one shape."""
    shapes = [(None, *s[1:]) for s in shapes]
    if name in HEADED:
        layer.build(*shapes)
    else:
        layer.build(shapes if len(shapes) > 1 else shapes[0])


def call_on(name, layer, inputs, **call):
    """The layer on ``inputs``: MultiHeadAttention's query, value (, key); the attention
    layers' list; EinsumDense's one input."""
    if name in HEADED:
        return layer(*inputs, **call)
    return layer(list(inputs) if len(inputs) > 1 else inputs[0], **call)


def both_with_gradients(keras, name, kwargs, shapes, call, rng):
    """The layer ``name`` of autoconv and of Keras (float64, the same weights) on inputs of
    ``shapes``: each one's outputs (and scores), the inputs' and the weights' gradients for a
    random upstream."""
    import torch

    xs = _inputs(shapes, rng)
    ours = CLASSES[name](dtype="float64", **kwargs)
    theirs = getattr(keras.layers, name)(dtype="float64", **kwargs)
    build_for(ours, name, shapes)
    build_for(theirs, name, shapes)
    assert [w.path.split("/", 1)[1] for w in ours.weights] == [
        w.path.split("/", 1)[1] for w in theirs.weights
    ]
    assert ours.count_params() == theirs.count_params()
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    mine = [ac.Tensor(x, requires_grad=True) for x in xs]
    reference = [torch.tensor(x, requires_grad=True) for x in xs]
    keras_call = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    out = call_on(name, ours, mine, **call)
    expected = call_on(name, theirs, reference, **keras_call)
    scores = []
    if call.get("return_attention_scores"):
        (out, score), (expected, keras_score) = out, expected
        scores = [(score.numpy(), keras_score.detach().numpy())]
    upstream = rng.standard_normal(out.shape)
    (out * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    ours_all = [out.numpy(), *(x.grad for x in mine), *(w.grad for w in ours.weights)]
    theirs_all = [expected.detach().numpy(), *(x.grad.numpy() for x in reference),
                  *(w.value.grad.numpy() for w in theirs.weights)]  # fmt: skip
    return ours_all + [s[0] for s in scores], theirs_all + [s[1] for s in scores]


def _mask(shape, seed=5) -> np.ndarray:
    """A random boolean mask with at least one True along the last axis."""
    mask = np.random.default_rng(seed).random(shape) > 0.4
    mask[..., 0] = True
    return mask


# (class, arguments, input shapes, call arguments)
EINSUM_CASES = [
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (None, 4), "bias_axes": "d"},
     [(2, 3, 5)], {}),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "activation": "tanh"},
     [(3, 5)], {}),
    ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 4, "bias_axes": "c"},
     [(2, 3, 5)], {}),
    ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (None, 2, 3),
                     "bias_axes": "de"}, [(2, 3, 4)], {}),
    ("EinsumDense", {"equation": "...cd,cde->...e", "output_shape": 4, "bias_axes": "e"},
     [(2, 3, 2, 5)], {}),
    ("EinsumDense", {"equation": "ab...,bc->ac...", "output_shape": 4, "bias_axes": "c"},
     [(2, 5, 3)], {}),
    ("EinsumDense", {"equation": "abcd,cde->abe", "output_shape": (4, 3), "bias_axes": "b"},
     [(2, 4, 2, 3)], {}),
]  # fmt: skip
MHA_CASES = [
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(2, 4, 5), (2, 3, 5)],
     {"return_attention_scores": True}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(2, 4, 5), (2, 4, 5)], {}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "value_dim": 3, "output_shape": 6,
                            "use_gate": True}, [(2, 4, 5), (2, 3, 4), (2, 3, 2)],
     {"return_attention_scores": True, "attention_mask": _mask((2, 4, 3))}),
    ("MultiHeadAttention", {"num_heads": 3, "key_dim": 2, "use_bias": False},
     [(2, 4, 3), (2, 4, 3)], {"use_causal_mask": True, "return_attention_scores": True}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "sliding_window": 2},
     [(2, 5, 3), (2, 5, 3)], {"value_mask": _mask((2, 5)), "use_causal_mask": True,
                              "return_attention_scores": True}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "attention_axes": (1, 2)},
     [(2, 3, 2, 4), (2, 2, 2, 4)], {"return_attention_scores": True}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "attention_axes": 2,
                            "output_shape": (2, 3)}, [(2, 2, 3, 4), (2, 2, 3, 4)],
     {"key_mask": _mask((2, 2, 3)), "return_attention_scores": True}),
]  # fmt: skip
ATTENTION_CASES = [
    ("Attention", {}, [(2, 4, 3), (2, 5, 3)], {"return_attention_scores": True}),
    ("Attention", {"use_scale": True}, [(2, 4, 3), (2, 5, 3), (2, 5, 3)],
     {"mask": [_mask((2, 4)), _mask((2, 5))], "return_attention_scores": True}),
    ("Attention", {"score_mode": "concat", "use_scale": True}, [(2, 4, 3), (2, 4, 3)],
     {"use_causal_mask": True, "return_attention_scores": True}),
    ("Attention", {"score_mode": "concat"}, [(2, 3, 2), (2, 4, 2)],
     {"mask": [None, _mask((2, 4))], "use_causal_mask": True}),
    ("AdditiveAttention", {}, [(2, 4, 3), (2, 5, 3)], {"return_attention_scores": True}),
    ("AdditiveAttention", {"use_scale": False}, [(2, 4, 3), (2, 5, 3), (2, 5, 3)],
     {"mask": [_mask((2, 4)), None]}),
    ("AdditiveAttention", {}, [(2, 4, 3), (2, 4, 3)], {"mask": [None, _mask((2, 4))],
                                                       "use_causal_mask": True}),
]  # fmt: skip
GQA_CASES = [
    ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2},
     [(2, 4, 5), (2, 3, 5)], {"return_attention_scores": True}),
    ("GroupQueryAttention", {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1,
                             "use_gate": True, "use_bias": False}, [(2, 4, 5), (2, 3, 5),
                                                                    (2, 3, 2)],
     {"return_attention_scores": True, "attention_mask": _mask((2, 4, 3))}),
    ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2,
                             "sliding_window": 2}, [(2, 5, 3), (2, 5, 3)],
     {"value_mask": _mask((2, 5)), "use_causal_mask": True, "return_attention_scores": True}),
]  # fmt: skip
CASES = EINSUM_CASES + MHA_CASES + ATTENTION_CASES + GQA_CASES
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "kwargs", "shapes", "call"), CASES, ids=IDS)
def test_outputs_scores_and_gradients_match_keras(keras, name, kwargs, shapes, call, rng):
    ours, theirs = both_with_gradients(keras, name, kwargs, shapes, call, rng)
    assert len(ours) == len(theirs)
    precise = name == "EinsumDense" or (name in HEADED and "return_attention_scores" in call)
    tolerance = TOLERANCE if precise else ATTENTION_TOLERANCE
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, **tolerance)


@pytest.mark.parametrize(("name", "kwargs", "shapes", "call"), CASES, ids=IDS)
def test_gradcheck_through_the_layer(name, kwargs, shapes, call, rng):
    layer = CLASSES[name](dtype="float64", **kwargs)
    build_for(layer, name, shapes)
    places = owners(layer)
    call = {k: v for k, v in call.items() if k != "return_attention_scores"}

    def fn(*arrays):
        xs, weights = arrays[: len(shapes)], arrays[len(shapes) :]
        for (owner, attribute), weight in zip(places, weights, strict=True):
            setattr(owner, attribute, weight)  # the call reads them: gradients reach them
        return call_on(name, layer, xs, **call)

    assert gradcheck(fn, [*_inputs(shapes, rng), *weights_for(layer, rng)])


CONTRACTIONS = [
    ("abc,cd->abd", (2, 3, 4), (4, 5)),
    ("aecd,abcd->acbe", (2, 5, 3, 4), (2, 6, 3, 4)),
    ("acbe,aecd->abcd", (2, 3, 6, 5), (2, 5, 3, 4)),
    ("abcd,cde->abe", (2, 3, 4, 5), (4, 5, 6)),
    ("...b,bc->...c", (2, 3, 4), (4, 5)),
    ("ab,cd->abd", (2, 3), (4, 5)),  # c summed alone
    ("abc,abc->ab", (2, 3, 4), (1, 3, 4)),  # a batch axis broadcast
]


@pytest.mark.parametrize(("equation", "shape_a", "shape_b"), CONTRACTIONS)
def test_contract_is_numpys_einsum_with_its_gradient(equation, shape_a, shape_b, rng):
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    out = contract(equation, ac.Tensor(a), ac.Tensor(b)).numpy()
    np.testing.assert_allclose(out, np.einsum(equation, a, b), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, y: contract(equation, x, y), [a, b])


def test_variance_scaling_kernels_take_kerass_fans():
    """Keras gives a variance-scaling initializer the kernel's input and output axes: a
    (32, 8, 16) query kernel has fan_in 32 and fan_out 128, not a convolution's fans."""
    layer = EinsumDense("abc,cde->abde", (None, 8, 16), kernel_initializer="glorot_normal")
    layer.build((None, 5, 32))
    assert np.std(layer.kernel.numpy()) == pytest.approx(np.sqrt(2 / (32 + 128)), rel=0.05)
    # as Keras's: a None of output_shape stays None, even where the input's size is known
    assert EinsumDense("abc,cd->abd", (None, 7)).compute_output_shape((None, 4, 3)) == (
        None, None, 7)  # fmt: skip


def test_masked_positions_get_no_weight(rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    mask = _mask((2, 3, 5))
    _, scores = MultiHeadAttention(2, 2)(q, v, attention_mask=mask, return_attention_scores=True)
    assert np.all(scores.numpy()[np.broadcast_to(~mask[:, None], scores.shape)] == 0)
    np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-6)
    _, weights = Attention()([q, v], mask=[None, mask[:, 0]], return_attention_scores=True)
    assert np.all(weights.numpy()[np.broadcast_to(~mask[:, :1], weights.shape)] < 1e-30)


# regularizers of factors float32 holds exactly (Keras's configs keep them in float32)
L1 = {"class_name": "L1", "config": {"l1": 0.5}}
L2 = {"class_name": "L2", "config": {"l2": 0.25}}
# (class, arguments, the Input shapes of one sample)
CONFIG_CASES = [
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (None, 4), "bias_axes": "d",
                     "activation": "relu", "kernel_initializer": "he_normal",
                     "kernel_regularizer": L2, "bias_constraint": "non_neg"}, [(3, 5)]),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 3}, [(5,)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(4, 6), (3, 6)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "value_dim": 2, "dropout": 0.1,
                            "use_bias": False, "output_shape": 5, "attention_axes": 1,
                            "kernel_initializer": "he_uniform", "bias_initializer": "ones",
                            "kernel_regularizer": L1, "bias_regularizer": L2,
                            "kernel_constraint": "max_norm", "seed": 3},
     [(4, 6), (3, 6), (3, 2)]),
    ("MultiHeadAttention", {"num_heads": 1, "key_dim": 2, "use_gate": True,
                            "sliding_window": 3, "activity_regularizer": L2}, [(4, 6), (4, 6)]),
    ("Attention", {"use_scale": True, "score_mode": "concat", "dropout": 0.2, "seed": 1},
     [(4, 3), (5, 3)]),
    ("Attention", {}, [(4, 3), (5, 3), (5, 3)]),
    ("AdditiveAttention", {"use_scale": False, "dropout": 0.1}, [(4, 3), (5, 3)]),
    ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2},
     [(4, 6), (3, 6)]),
    ("GroupQueryAttention", {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1,
                             "dropout": 0.1, "use_bias": False, "use_gate": True,
                             "sliding_window": 2, "kernel_initializer": "he_uniform",
                             "kernel_regularizer": L1, "bias_constraint": "non_neg",
                             "seed": 3}, [(4, 6), (3, 6), (3, 2)]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shapes"), CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, name, kwargs, shapes):
    built = []
    for lib, module in ((ac, OURS), (keras, keras.layers)):
        inputs = [lib.Input(s) for s in shapes]
        layer = getattr(module, name)(**kwargs)
        call_on(name, layer, inputs)
        built.append(layer)
    ours, theirs = built
    assert {**ours.get_config(), "name": None} == {**theirs.get_config(), "name": None}
    assert _plain(ours.get_build_config()) == _plain(theirs.get_build_config())
    config = ours.get_config()
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config
    unbuilt = getattr(keras.layers, name)(**kwargs).get_config()
    assert {**CLASSES[name](**kwargs).get_config(), "name": None} == {**unbuilt, "name": None}


def _plain(value):
    """Shapes as lists (Keras keeps tuples in memory, its files lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


ERROR_CASES = [
    ("EinsumDense", {"equation": "ab,bc", "output_shape": 3}, [(4,)], "Invalid einsum equation"),
    ("EinsumDense", {"equation": "ab,bc->ad", "output_shape": 3}, [(4,)],
     "Dimension 'd' was specified in the output"),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "x"}, [(4,)],
     "Bias dimension 'x' was requested"),
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (5, 2)}, [(4, 3)],
     "Input shape and output shape do not match at shared dimension 'b'"),
    ("EinsumDense", {"equation": "ab,xc->ac", "output_shape": 3}, [(4,)],
     "Weight dimension 'x' did not have a match"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(4, 6), (3, 6), (2, 6)],
     "All dimensions of `value` and `key`, except the last one, must be equal"),
    ("Attention", {}, [(4, 3)], "must be called on a list of inputs"),
    ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1},
     [(4, 6), (3, 5)], "The last dimension of `query_shape` and `value_shape` must be equal"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shapes", "message"), ERROR_CASES)
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, shapes, message):
    for lib, module in ((keras, keras.layers), (ac, OURS)):
        inputs = [lib.Input(s) for s in shapes]
        with pytest.raises(ValueError, match=message):
            call_on(name, getattr(module, name)(**kwargs), inputs)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MultiHeadAttention(0, 2), "expected a positive integer. Received: num_heads=0"),
        (lambda: MultiHeadAttention(2, 2.5), "Received: key_dim=2.5"),
        (lambda: MultiHeadAttention(2, 2, value_dim=-1), "Received: value_dim=-1"),
        (lambda: MultiHeadAttention(2, 2, attention_axes="x"), "must be an int, list, or tuple"),
        (lambda: MultiHeadAttention(2, 2, flash_attention=True), "flash_attention is not supp"),
        (lambda: MultiHeadAttention(2, 2, sliding_window=0), "must be `None` or a positive"),
        (lambda: EinsumDense("ab,bc->ac", 3, lora_rank=4), "lora_rank=4 is not supported"),
        (lambda: EinsumDense("ab,bc->ac", 3, quantization_config={}), "quantization_config"),
        (lambda: Attention(score_mode="add"), "Expected one of {'dot', 'concat'}"),
        (lambda: GroupQueryAttention(2, 3, 2), "must be divisible by `num_key_value_heads`"),
    ],
)
def test_constructor_checks(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_call_checks(rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = MultiHeadAttention(2, 2)
    with pytest.raises(ValueError, match="does not broadcast to the attention scores"):
        layer(q, v, attention_mask=np.ones((2, 3, 4), bool))
    for wrong in ([q], [[q, v]]):  # as Keras: a value is required, a list is no query
        with pytest.raises(TypeError, match="value"):
            layer(*wrong)
    with pytest.raises(ValueError, match="mask must be a list"):
        Attention()([q, v], mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="inputs list of length 2 or 3"):
        Attention()([q, v, v, v])
    dense = EinsumDense("...b,bc->...c", 3)
    dense(q)
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        dense(np.ones((2, 4), np.float32))


def test_regularizers_reach_the_loss_and_training_mode_drops(rng):
    layer = MultiHeadAttention(2, 2, kernel_regularizer=ac.regularizers.L2(0.5), dropout=0.5,
                               seed=1)  # fmt: skip
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    inference = layer(q, q).numpy()
    assert len(layer.losses) == 4  # a kernel of each projection
    np.testing.assert_array_equal(layer(q, q).numpy(), inference)
    _, scores = layer(q, q, training=True, return_attention_scores=True)
    assert not np.allclose(layer(q, q, training=True).numpy(), inference)
    np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-5)  # before the dropout


# ------------------------------------------------------------------------------------ files
def two_input_model(lib, name, kwargs):
    """(query (4, 6), value (5, 6)) -> the layer -> Flatten -> Dense(2)."""
    query, value = lib.Input((4, 6)), lib.Input((5, 6))
    layer = getattr(lib.layers, name)(**kwargs)
    out = layer(query, value) if name in HEADED else layer([query, value])
    return lib.Model([query, value], lib.layers.Dense(2)(lib.layers.Flatten()(out)))


def _deterministic(model) -> list[np.ndarray]:
    shapes = [tuple(w.shape) for w in model.weights]
    return [np.sin(np.arange(np.prod(s)) * 0.37 + i).reshape(s).astype(np.float32) * 0.3
            for i, s in enumerate(shapes)]  # fmt: skip


def _pair() -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.random((3, 4, 6)).astype(np.float32), rng.random((3, 5, 6)).astype(np.float32)]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("Attention", {"use_scale": True}), ("Attention", {"score_mode": "concat"}),
     ("AdditiveAttention", {}),
     ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2,
                              "use_gate": True})],
)  # fmt: skip
def test_attention_models_travel_both_ways(keras, tmp_path, name, kwargs):
    x = _pair()
    for source, load in ((ac, keras.saving.load_model), (keras, ac.saving.load_model)):
        model = two_input_model(source, name, kwargs)
        model.set_weights(_deterministic(model))
        expected = np.asarray(model.predict(x, verbose=0))
        model.save(tmp_path / "m.keras")
        loaded = load(tmp_path / "m.keras")
        assert loaded.layers[2].get_config() == model.layers[2].get_config()
        np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected, 2e-5, 2e-6)


@pytest.mark.parametrize("kwargs", [{"num_heads": 2, "key_dim": 3},
                                    {"num_heads": 2, "key_dim": 2, "use_gate": True,
                                     "output_shape": 4, "use_bias": False}])  # fmt: skip
def test_multi_head_attention_travels_both_ways(keras, tmp_path, kwargs):
    """Its weights in Keras's groups (``query_dense``, ..., ``_gate_dense``) both ways; its
    config (and build config) from each library's file builds the other's layer with the same
    predictions; the model's .keras files travel both ways (tests/models/test_call_arguments.py
    has its masks and options)."""
    x = _pair()
    ours, theirs = (
        two_input_model(ac, "MultiHeadAttention", kwargs),
        two_input_model(keras, "MultiHeadAttention", kwargs),
    )
    ours.set_weights(_deterministic(ours))
    expected = ours.predict(x, verbose=0)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, 2e-5, 2e-6)
    theirs.set_weights([w[::-1] for w in _deterministic(theirs)])
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, 2e-5, 2e-6)
    # the layer's entry, each library's read by the other
    from keras.src.saving import serialization_lib

    ours_entry = ac.saving.serialize_keras_object(ours.layers[2])
    theirs_entry = serialization_lib.serialize_keras_object(theirs.layers[2])
    from_theirs = deserialize(theirs_entry)
    from_ours = serialization_lib.deserialize_keras_object(_plain(ours_entry))
    assert from_theirs.built and from_ours.built
    from_theirs.set_weights(theirs.layers[2].get_weights())
    from_ours.set_weights(theirs.layers[2].get_weights())
    q = x[0].astype(np.float32)
    want = np.asarray(theirs.layers[2](q, q).detach().cpu())
    np.testing.assert_allclose(from_theirs(q, q).numpy(), want, 2e-5, 2e-6)
    np.testing.assert_allclose(np.asarray(from_ours(q, q).detach().cpu()), want, 2e-5, 2e-6)
    ours.save(tmp_path / "ours.keras")
    again = ac.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, 2e-5, 2e-6)
    in_keras = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(in_keras.predict(x, verbose=0)), expected, 2e-5, 2e-6)
    theirs.save(tmp_path / "theirs.keras")
    np.testing.assert_allclose(
        ac.saving.load_model(tmp_path / "theirs.keras").predict(x, verbose=0), expected, 2e-5, 2e-6
    )


def _locality_attention(lib):
    """keras.io's vit_small_ds's MultiHeadAttentionLSA: Keras's private hooks overridden, the
    query divided by a trained temperature (Keras 3.15 passes return_attention_scores too)."""

    class LocalityAttention(lib.layers.MultiHeadAttention):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tau = lib.Variable(np.sqrt(float(self._key_dim)) * 1.5, trainable=True)

        def _compute_attention(
            self, query, key, value, attention_mask=None, training=None,
            return_attention_scores=False,
        ):  # fmt: skip
            query = lib.ops.multiply(query, 1.0 / self.tau)
            scores = lib.ops.einsum(self._dot_product_equation, key, query)
            scores = self._masked_softmax(scores, attention_mask)
            dropped = self._dropout_layer(scores, training=training)
            return lib.ops.einsum(self._combine_equation, dropped, value), scores

    return LocalityAttention(num_heads=2, key_dim=3, dropout=0.1)


def test_a_subclass_overriding_compute_attention_runs_as_kerass(keras):
    """The diagonal masked out, as keras.io's vit_small_ds does: the same outputs, scores and
    weights (the temperature among them) as Keras's, eager and in training."""
    v = _pair()[1]
    q = v * 0.5 + 0.1
    mask = (1 - np.eye(5, dtype=np.float32))[None]
    found, weights = [], None
    for lib in (ac, keras):
        # (a fresh session: the temperature's automatic name counts the variables made before)
        (ac.layers.clear_session if lib is ac else keras.utils.clear_session)()
        layer = _locality_attention(lib)
        layer(q, v)
        weights = weights or weights_for(layer, np.random.default_rng(3))
        layer.set_weights(weights)
        out, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
        trained = layer(q, v, attention_mask=mask, training=True)
        found.append([np.asarray(lib.ops.convert_to_numpy(x)) for x in (out, scores)])
        found[-1] += [[w.path for w in layer.weights], tuple(trained.shape)]
    for mine, theirs in zip(found[0][:2], found[1][:2], strict=True):
        np.testing.assert_allclose(mine, theirs, 2e-5, 2e-6)
    assert found[0][2:] == found[1][2:]
    assert np.all(found[0][1][..., np.arange(5), np.arange(5)] == 0)


def masked_model(lib, name, causal):
    """(query (4, 6), value (5, 6), their masks (4,) and (5,)) -> the layer called with
    ``mask=[query_mask, value_mask]`` and its scores -> [Dense(2) of its output, the scores]."""
    query, value = lib.Input((4, 6), name="q"), lib.Input((5, 6), name="v")
    masks = [lib.Input((4,), name="qm"), lib.Input((5,), name="vm")]
    layer = getattr(lib.layers, name)(name="attention")
    out, scores = layer([query, value], mask=masks, return_attention_scores=True,
                        use_causal_mask=causal)  # fmt: skip
    return lib.Model([query, value, *masks], [lib.layers.Dense(2, name="head")(out), scores])


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
@pytest.mark.parametrize("causal", [False, True])
def test_masks_and_scores_in_a_functional_model_as_keras(keras, tmp_path, name, causal):
    """Keras's call (masks as tensors, two outputs) in a graph: the same predictions and
    config as Keras's, and the files both ways."""
    rng = np.random.default_rng(4)
    masks = [np.ones((3, 4), np.float32), (rng.random((3, 5)) > 0.4).astype(np.float32)]
    masks[0][0, 1] = masks[1][:, 0] = 0.0  # every query attends somewhere
    x = [*_pair(), *masks]
    models = [masked_model(lib, name, causal) for lib in (ac, keras)]
    for model in models:
        model.set_weights(_deterministic(model))
    ours, theirs = models
    assert (
        json.loads(ours.to_json())["config"]["layers"][4]["inbound_nodes"]
        == json.loads(theirs.to_json())["config"]["layers"][4]["inbound_nodes"]
    )
    expected = [np.asarray(v) for v in theirs.predict(x, verbose=0)]
    for model, load in ((ours, keras.saving.load_model), (theirs, ac.saving.load_model)):
        for got, want in zip(model.predict(x, verbose=0), expected, strict=True):
            np.testing.assert_allclose(np.asarray(got), want, 2e-5, 2e-6)
        model.save(tmp_path / "m.keras")
        for got, want in zip(load(tmp_path / "m.keras").predict(x, verbose=0), expected,
                             strict=True):  # fmt: skip
            np.testing.assert_allclose(np.asarray(got), want, 2e-5, 2e-6)


def query_mask_model(lib):
    """Keras's translation tutorial's decoder attention: tokens embedded with
    ``mask_zero=True``, self-attention given ``query_mask=`` (a padding mask of its own), which
    Keras 3.15 ignores for the query's Keras mask."""
    tokens = lib.Input((5,), dtype="int32", name="tokens")
    embedded = lib.layers.Embedding(7, 4, mask_zero=True, name="embed")(tokens)
    padding = lib.ops.cast(lib.ops.not_equal(tokens, 0), "bool")
    attended = lib.layers.MultiHeadAttention(2, 3, name="mha")(
        query=embedded, value=embedded, key=embedded, query_mask=padding
    )
    return lib.Model(tokens, lib.layers.GlobalAveragePooling1D()(attended))


def test_a_query_mask_argument_is_ignored_for_the_querys_keras_mask_as_keras(keras, rng):
    tokens = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 2, 1], [3, 0, 0, 0, 0]], np.int32)
    models = [query_mask_model(lib) for lib in (ac, keras)]
    models[0].set_weights(models[1].get_weights())
    expected = np.asarray(models[1].predict(tokens, verbose=0))
    np.testing.assert_allclose(models[0].predict(tokens, verbose=0), expected, 2e-5, 2e-6)
    layer = MultiHeadAttention(2, 2)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    given = np.array([[1, 1, 0], [1, 0, 0]], bool)
    np.testing.assert_array_equal(layer(q, v, query_mask=given).numpy(), layer(q, v).numpy())


@pytest.mark.parametrize("scores", [False, True])
def test_grouped_query_attention_uses_a_query_mask_argument_as_keras(keras, rng, scores):
    """Keras's GroupedQueryAttention, unlike its MultiHeadAttention, uses ``query_mask=``: a
    query position masked out attends to every key alike (its fused attention), or gets zero
    scores (its Softmax layer, when it returns them)."""
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    v = rng.standard_normal((2, 5, 4)).astype(np.float32)
    masks = {"query_mask": np.array([[1, 1, 0], [1, 1, 1]], bool),
             "value_mask": np.array([[1, 1, 1, 0, 0], [1] * 5], bool)}  # fmt: skip
    layers = [lib.layers.GroupQueryAttention(3, 2, 1) for lib in (ac, keras)]
    layers[1](q, v)
    layers[0].build(q.shape, v.shape)
    layers[0].set_weights(layers[1].get_weights())
    ours, theirs = (layer(q, v, **masks, return_attention_scores=scores) for layer in layers)
    for a, b in zip(ours if scores else [ours], theirs if scores else [theirs], strict=True):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), 1e-5, 1e-6)


# ----------------------------------------------------------------------------------- naming
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}),
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "use_gate": True, "dropout": 0.1}),
        ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 2, "num_key_value_heads": 1}),
        ("Attention", {"dropout": 0.1}),
        ("AdditiveAttention", {}),
        ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (None, 8)}),
    ],
)
def test_layers_made_after_an_attention_layer_get_kerass_names(keras, name, kwargs):
    """Keras's MultiHeadAttention builds internal Softmax and Dropout layers, which use up
    ``softmax`` and ``dropout``: the user's next ones are ``softmax_1`` and ``dropout_1``."""
    operands = 1 if name == "EinsumDense" else 2
    names = []
    for lib in (ac, keras):
        lib.utils.clear_session()
        inputs = lib.Input((5, 8))
        layer = getattr(lib.layers, name)(**kwargs)
        x = call_on(name, layer, [inputs] * operands)
        made = [lib.layers.Dropout(0.1), lib.layers.Softmax(), lib.layers.Dense(2)]
        for user_layer in made:
            x = user_layer(x)
        again = getattr(lib.layers, name)(**kwargs)
        call_on(name, again, [x] * operands)
        made += [lib.layers.Dropout(0.1), lib.layers.Softmax()]
        names.append([layer.name, again.name, *(made_layer.name for made_layer in made)])
    assert names[0] == names[1]


# ----------------------------------------------------------------------------------- fitting
def vit_block(lib) -> object:
    """A transformer block as keras-io's ViT tutorial makes it, on sequences (6, 4)."""
    inputs = lib.Input((6, 4))
    x = lib.layers.EinsumDense("abc,cd->abd", (6, 8), bias_axes="d")(inputs)
    attended = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = lib.layers.LayerNormalization(epsilon=1e-6)(lib.layers.Add()([attended, x]))
    x = lib.layers.Attention(use_scale=True)([x, x])
    x = lib.layers.AdditiveAttention()([x, inputs[:, :, :1] * x])
    outputs = lib.layers.Dense(3, activation="softmax")(lib.layers.Flatten()(x))
    model = lib.Model(inputs, outputs)
    model.set_weights([np.cos(np.arange(w.size) * 0.41 + i).reshape(tuple(w.shape)) * 0.4
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6, 4)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]


def test_a_transformer_block_trains_as_in_keras(keras):
    x, y = training_data()
    histories = []
    for lib in (ac, keras):
        model = vit_block(lib)
        model.compile(lib.optimizers.SGD(0.1), "categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    # its steps recorded and replayed: nothing computed on the host
    fit_on_both_devices(lambda: vit_block(ac), x, y, replayed=True)


@pytest.mark.cudasim
def test_grouped_query_attention_trains_alike_on_both_devices():
    x, y = training_data()

    def model():
        inputs = ac.Input((6, 4))
        attention = GroupQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=2)
        out = attention(inputs, inputs, use_causal_mask=True)
        made = ac.Model(inputs, ac.layers.Dense(3, activation="softmax")(ac.layers.Flatten()(out)))
        made.set_weights([np.cos(np.arange(w.size) * 0.41 + i).reshape(tuple(w.shape)) * 0.4
                          for i, w in enumerate(made.get_weights())])  # fmt: skip
        return made

    fit_on_both_devices(model, x, y, replayed=True)
