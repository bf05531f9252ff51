"""``autoconv.ops.nn`` against Keras 3.15's ``keras.ops.nn`` on its PyTorch backend (skipped
without Keras or torch): every case's values in float32, a float64 gradient check by central
differences of each differentiable one, the signatures, a few functions on the CUDA simulator
(or a GPU), and the errors.

Where Keras 3.15 is wrong or backend-dependent the reference is the definition instead:
``sparsemax`` (keras-team/keras#23425: its threshold is wrong when two or more entries are in
the support) is compared with Keras on inputs whose support is one entry and with the simplex
projection otherwise; ``average_pool`` with 'same' padding is compared only where the padding is
even (Keras's PyTorch backend pads uneven borders by repeating edge cells).
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any

import numpy as np
import pytest

from autoconv.backends import namespace
from autoconv.ops import nn
from autoconv.tensor import Tensor
from autoconv.testing import gradcheck

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(11)


def real(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def probabilities(*shape: int) -> np.ndarray:
    return RNG.uniform(0.05, 0.95, shape).astype(np.float32)


X = real(2, 3, 4, scale=2.0)
IMAGES, SEQUENCES = real(2, 6, 5, 3), real(2, 7, 3)
SMALL_IMAGES, SMALL_SEQUENCES = real(1, 5, 5, 2), real(1, 6, 2)
LABELS = np.array([0, 4, 2, 1])
ATTENTION = real(1, 3, 2, 4), real(1, 4, 2, 4), real(1, 4, 2, 4)
MASK = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], bool)
CHANNELS_FIRST = np.ascontiguousarray(SMALL_IMAGES.transpose(0, 3, 1, 2))

# (function, arguments, keyword arguments, the arguments to check the gradient of)
CASES: list[tuple[str, tuple, dict[str, Any], tuple[int, ...]]] = [
    *[(name, (X,), {}, (0,)) for name in (
        "relu", "relu6", "sigmoid", "sparse_sigmoid", "softplus", "softsign", "soft_shrink",
        "sparse_plus", "silu", "swish", "squareplus", "log_sigmoid", "leaky_relu",
        "hard_sigmoid", "hard_silu", "hard_swish", "elu", "selu", "gelu", "celu", "glu",
        "tanh_shrink", "hard_tanh", "hard_shrink", "softmax", "log_softmax",
    )],
    ("threshold", (X, 0.3, -2.0), {}, (0,)),
    ("leaky_relu", (X,), {"negative_slope": 0.1}, (0,)),
    ("leaky_relu", (X,), {"negative_slope": 1.5}, (0,)),
    ("elu", (X,), {"alpha": 0.5}, (0,)),
    ("celu", (X,), {"alpha": 2.0}, (0,)),
    ("gelu", (X,), {"approximate": False}, (0,)),
    ("soft_shrink", (X,), {"threshold": 1.0}, (0,)),
    ("hard_shrink", (X,), {"threshold": 1.0}, (0,)),
    ("squareplus", (X,), {"b": 1}, (0,)),
    ("glu", (X,), {"axis": 0}, (0,)),
    *[(name, (X,), {"axis": axis}, (0,))
      for name in ("softmax", "log_softmax") for axis in (0, (1, 2), None)],
    ("sparsemax", (np.array([[0.0, 2.0, 5.0], [3.0, -1.0, 1.5]], np.float32),), {}, (0,)),
    ("sparsemax", (np.array([[0.0, 3.0], [2.0, -1.0], [4.0, 1.0]], np.float32),), {"axis": 0},
     (0,)),
    # convolutions: 2-D, 1-D, strides, dilation (and both), grouped, channels-first
    *[("conv", (x, real(*(3,) * (x.ndim - 2), 2, 3)), kw, (0, 1))
      for x in (SMALL_IMAGES, SMALL_SEQUENCES)
      for kw in ({}, {"strides": 2, "padding": "same"}, {"dilation_rate": 2},
                 {"strides": 2, "dilation_rate": 2, "padding": "same"})],
    ("conv", (SMALL_IMAGES, real(3, 3, 1, 4)), {"padding": "same"}, (0, 1)),
    ("conv", (CHANNELS_FIRST, real(2, 3, 2, 3)), {"data_format": "channels_first"}, (0, 1)),
    ("conv", (IMAGES, real(3, 3, 3, 4)), {"strides": (2, 1), "padding": "SAME"}, ()),
    ("depthwise_conv", (SMALL_IMAGES, real(3, 3, 2, 2)), {}, (0, 1)),
    ("depthwise_conv", (SMALL_IMAGES, real(3, 2, 2, 1)), {"strides": 2, "dilation_rate": 2,
                                                          "padding": "same"}, (0, 1)),
    ("depthwise_conv", (SMALL_SEQUENCES, real(3, 2, 2)), {"padding": "same"}, (0, 1)),
    ("separable_conv", (SMALL_IMAGES, real(2, 2, 2, 2), real(1, 1, 4, 3)), {}, (0, 1, 2)),
    ("separable_conv", (SMALL_SEQUENCES, real(3, 2, 1), real(1, 2, 3)), {"strides": 2}, (0, 1, 2)),
    ("conv_transpose", (SMALL_IMAGES, real(3, 3, 3, 2)), {"strides": 2}, (0, 1)),
    ("conv_transpose", (SMALL_IMAGES, real(3, 3, 3, 2)),
     {"strides": 2, "padding": "same", "output_padding": 1}, (0, 1)),
    ("conv_transpose", (SMALL_IMAGES, real(3, 3, 3, 2)), {"dilation_rate": 2, "padding": "same"},
     (0, 1)),
    ("conv_transpose", (SMALL_SEQUENCES, real(3, 3, 2)), {"strides": 3, "output_padding": 1},
     (0, 1)),
    ("conv_transpose", (CHANNELS_FIRST, real(2, 2, 3, 2)),
     {"strides": 2, "data_format": "channels_first"}, (0, 1)),
    # pools ('same' only where the padding is even: see the module's docstring)
    *[(name, (x,), kw, (0,))
      for name in ("max_pool", "average_pool")
      for x, kw in ((IMAGES, {"pool_size": 2}),
                    (IMAGES, {"pool_size": 3, "strides": 1, "padding": "same"}),
                    (IMAGES, {"pool_size": (2, 3), "strides": (1, 2)}),
                    (SEQUENCES, {"pool_size": 3, "strides": 1, "padding": "same"}),
                    (SEQUENCES, {"pool_size": 2}),
                    (CHANNELS_FIRST, {"pool_size": 2, "data_format": "channels_first"}))],
    *[(name, (x, size), kw, (0,))
      for name in ("adaptive_max_pool", "adaptive_average_pool")
      for x, size, kw in ((IMAGES, 3, {}), (IMAGES, (2, 4), {}), (SEQUENCES, 4, {}),
                          (SEQUENCES, 9, {}), (real(1, 4, 5, 3, 2), (2, 3, 2), {}),
                          (CHANNELS_FIRST, (3, 2), {"data_format": "channels_first"}))],
    # normalization
    ("moments", (X, [0, 1]), {}, (0,)),
    ("moments", (X, 2), {"keepdims": True}, (0,)),
    ("batch_normalization", (X, real(4), probabilities(4) + 0.5, -1, real(4), real(4)), {},
     (0, 1, 2, 4, 5)),
    ("batch_normalization", (X, real(4), probabilities(4) + 0.5, -1, real(4), real(4)), {},
     (0, 4, 5)),
    ("batch_normalization", (X, real(3), probabilities(3) + 0.5, 1), {"epsilon": 0.1}, (0,)),
    ("batch_normalization", (real(5), real(5), probabilities(5), 0), {}, (0, 1, 2)),
    ("layer_normalization", (X, real(4), real(4)), {}, (0, 1, 2)),
    ("layer_normalization", (X,), {"axis": (1, 2), "epsilon": 0.01}, (0,)),
    ("layer_normalization", (X, real(3, 4)), {"axis": [1, 2]}, (0, 1)),
    ("layer_normalization", (X, real(4), real(4)), {"rms_scaling": True}, (0, 1)),
    ("rms_normalization", (X, real(4)), {}, (0, 1)),
    ("rms_normalization", (X, real(3, 4)), {"axis": (1, 2), "epsilon": 0.1}, (0, 1)),
    *[("normalize", (X,), kw, (0,)) for kw in (
        {}, {"order": 1}, {"axis": 1, "order": 3}, {"axis": (1, 2)}, {"axis": (2, 0), "order": 1},
        {"epsilon": 10.0}, {"axis": None},
    )],
    ("normalize", (X[0],), {"axis": None, "order": 1}, (0,)),
    # encodings
    ("one_hot", (np.array([[0, 2], [1, -1]]), 3), {}, ()),
    ("one_hot", (np.array([0, 2, 1]), 4), {"axis": 0}, ()),
    ("one_hot", (np.array([[0, 2], [1, 0]]), 3), {"axis": 1, "dtype": "int32"}, ()),
    ("one_hot", (np.array([0, 2]), 3), {"dtype": "float64"}, ()),
    ("multi_hot", (np.array([[0, 2], [1, 1]]), 4), {}, ()),
    ("multi_hot", (np.array([0, 3]), 4), {"dtype": "int32"}, ()),
    ("multi_hot", (np.array([[0, 2], [1, 1]]), 4), {"axis": 0}, ()),
    # losses
    ("binary_crossentropy", (probabilities(4, 5), probabilities(4, 5)), {}, (0, 1)),
    ("binary_crossentropy", (probabilities(4, 5), real(4, 5, scale=3.0)), {"from_logits": True},
     (0, 1)),
    ("categorical_crossentropy", (probabilities(4, 5), probabilities(4, 5)), {}, (0, 1)),
    ("categorical_crossentropy", (probabilities(4, 5), real(4, 5)), {"from_logits": True}, (0, 1)),
    ("categorical_crossentropy", (probabilities(4, 5), probabilities(4, 5)), {"axis": 0}, (1,)),
    ("sparse_categorical_crossentropy", (LABELS, probabilities(4, 5)), {}, (1,)),
    ("sparse_categorical_crossentropy", (LABELS[:, None], real(4, 5)), {"from_logits": True},
     (1,)),
    ("sparse_categorical_crossentropy", (np.array([0, 3, 1, 2, 2]), probabilities(4, 5)),
     {"axis": 0}, (1,)),
    ("psnr", (probabilities(3, 4), probabilities(3, 4), 1.0), {}, (0, 1)),
    ("psnr", (probabilities(3, 4) * 255, probabilities(3, 4) * 255, 255.0), {}, ()),
    # attention: plain, causal and scaled, bias, mask (and causal), grouped and multi-query
    ("dot_product_attention", ATTENTION, {}, (0, 1, 2)),
    ("dot_product_attention", ATTENTION, {"scale": 0.3, "is_causal": True}, (0, 1, 2)),
    ("dot_product_attention", ATTENTION, {"bias": real(1, 2, 3, 4)}, (0, 1, 2)),
    ("dot_product_attention", ATTENTION, {"mask": MASK}, (0, 1, 2)),
    ("dot_product_attention", ATTENTION, {"mask": MASK, "is_causal": True}, ()),
    ("dot_product_attention", (real(1, 3, 4, 4), real(1, 4, 2, 4), real(1, 4, 2, 4)), {},
     (0, 1, 2)),
    ("dot_product_attention", (real(1, 3, 4, 4), real(1, 4, 1, 4), real(1, 4, 1, 4)), {}, ()),
    # rearranging
    ("depth_to_space", (real(1, 2, 3, 8), 2), {}, (0,)),
    ("depth_to_space", (real(1, 8, 2, 3), 2), {"data_format": "channels_first"}, (0,)),
    ("space_to_depth", (real(1, 4, 6, 2), 2), {}, (0,)),
    ("space_to_depth", (real(1, 2, 4, 6), 2), {"data_format": "channels_first"}, (0,)),
    *[(name, (real(1, 2, 5, 4) if name == "unfold" else None, *extra), kw, (0,))
      for kw in ({"kernel_size": 2}, {"kernel_size": (2, 3), "stride": 2, "padding": 1},
                 {"kernel_size": 2, "dilation": 2, "stride": 2, "padding": (1, 0)})
      for name, extra in (("unfold", ()), ("fold", ((5, 4),)))],
]  # fmt: skip


def arguments(name: str, args: tuple, kwargs: dict[str, Any]) -> tuple:
    """fold's columns are unfold's of an image (the case leaves them None)."""
    if name == "fold" and args[0] is None:
        return (nn.unfold(real(1, 2, 5, 4), **kwargs).numpy(), *args[1:])
    return args


def keras_result(name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    def converted(v: Any) -> Any:
        return keras.ops.convert_to_tensor(v) if isinstance(v, np.ndarray) else v

    out = getattr(keras.ops.nn, name)(
        *map(converted, args), **{k: converted(v) for k, v in kwargs.items()}
    )
    if isinstance(out, tuple):
        return tuple(map(keras.ops.convert_to_numpy, out))
    return keras.ops.convert_to_numpy(out)


def case_id(case: tuple) -> str:
    name, _, kwargs, _ = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items() if k not in ("bias", "mask"))


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize(("name", "args", "kwargs", "grad_of"), CASES, ids=map(case_id, CASES))
def test_values_match_keras(name: str, args: tuple, kwargs: dict, grad_of: tuple) -> None:
    args = arguments(name, args, kwargs)
    ours, theirs = getattr(nn, name)(*args, **kwargs), keras_result(name, args, kwargs)
    pairs = zip(ours, theirs, strict=True) if isinstance(ours, tuple) else [(ours, theirs)]
    for got, want in pairs:
        if np.dtype(want.dtype).kind in "biu":
            assert isinstance(got, np.ndarray) and got.dtype == want.dtype
        else:
            assert isinstance(got, Tensor) and got.dtype == want.dtype
            got = got.numpy()
        assert got.shape == want.shape
        # sums of many products (convolutions, attention) round at the scale of their terms
        scale = max(1.0, float(np.abs(want).max())) if name.endswith(("conv", "attention")) else 1
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale)


GRADIENT_CASES = [case for case in CASES if case[3]]


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize(
    ("name", "args", "kwargs", "grad_of"), GRADIENT_CASES, ids=map(case_id, GRADIENT_CASES)
)
def test_gradients_by_central_differences(name: str, args: tuple, kwargs: dict, grad_of: tuple):
    args = arguments(name, args, kwargs)

    def fn(*wrt: Tensor) -> Tensor:
        full = list(args)
        for index, value in zip(grad_of, wrt, strict=True):
            full[index] = value
        out = getattr(nn, name)(*full, **kwargs)
        return out[1] * 2.0 + out[0] if isinstance(out, tuple) else out  # moments: both

    assert gradcheck(fn, [args[i] for i in grad_of])


def test_every_name_and_signature_is_keras() -> None:
    names = sorted(n for n in dir(keras.ops.nn) if not n.startswith("_"))
    assert sorted(nn.__all__) == names and len(names) == 55
    for name in names:
        ours, theirs = (
            inspect.signature(getattr(nn, name)),
            inspect.signature(getattr(keras.ops.nn, name)),
        )
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs.parameters.values()
        ], name
    assert nn.swish is nn.silu and nn.hard_swish is nn.hard_silu


def reference_sparsemax(z: np.ndarray) -> np.ndarray:
    """The Euclidean projection of each row onto the simplex (Martins & Astudillo, Alg. 1)."""
    ranked = -np.sort(-z, axis=-1)
    cumulative = np.cumsum(ranked, axis=-1)
    k = (1 + np.arange(1, z.shape[-1] + 1) * ranked > cumulative).sum(-1, keepdims=True)
    tau = (np.take_along_axis(cumulative, k - 1, -1) - 1) / k
    return np.maximum(z - tau, 0)


def test_sparsemax_is_the_simplex_projection() -> None:
    """Supports of several entries, where Keras 3.15 is wrong (its result does not sum to 1)."""
    z = real(4, 6)
    out = nn.sparsemax(z).numpy()
    np.testing.assert_allclose(out, reference_sparsemax(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)
    assert ((out > 0).sum(-1) > 1).any()
    assert gradcheck(nn.sparsemax, [z])


def test_one_hot_and_losses_take_labels_of_any_device_and_kind() -> None:
    probs = probabilities(3, 4)
    labels = Tensor(np.array([3.0, 0.0, 1.0]))  # float labels are truncated, as Keras's
    np.testing.assert_allclose(
        nn.sparse_categorical_crossentropy(labels, probs).numpy(),
        nn.sparse_categorical_crossentropy(np.array([3, 0, 1]), probs).numpy(),
    )
    assert nn.one_hot([1, -1], 2, dtype=bool).tolist() == [[False, True], [False, False]]
    assert nn.one_hot(labels, 4).dtype == np.float32


def test_float64_stays_float64_and_mixed_promotes() -> None:
    x64 = X.astype(np.float64)
    assert nn.gelu(x64).dtype == np.float64
    assert nn.conv(SMALL_IMAGES, real(3, 3, 2, 2).astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(nn.softmax(x64).numpy(), keras_result("softmax", (x64,), {}))


def test_batch_normalization_routes_agree() -> None:
    """Constant statistics take the engine's fused batch_norm, differentiable ones the ops'."""
    x, mean, variance, offset, scale = X, real(4), probabilities(4) + 0.5, real(4), real(4)
    fused = nn.batch_normalization(x, mean, variance, -1, offset, scale)
    composed = nn.batch_normalization(
        x, Tensor(mean, requires_grad=True), variance, -1, offset, scale
    )
    assert fused._op == "batch_norm" and composed._op != "batch_norm"
    np.testing.assert_allclose(composed.numpy(), fused.numpy(), rtol=1e-6, atol=1e-6)


def test_rms_scaling_warns_as_in_keras() -> None:
    with pytest.warns(UserWarning, match="deprecated"):
        nn.layer_normalization(X, rms_scaling=True)


# ------------------------------------------------------------------ the CUDA simulator
GPU_CASES = [
    ("conv", (real(1, 4, 4, 2), real(3, 3, 2, 2)), {"padding": "same"}),
    ("max_pool", (real(1, 4, 4, 2),), {"pool_size": 2}),
    ("softmax", (real(2, 5),), {}),
    ("batch_normalization", (real(2, 3, 2), real(2), probabilities(2), -1, real(2), real(2)), {}),
    ("gelu", (real(2, 3),), {}),
    ("hard_shrink", (real(2, 3),), {}),
    ("unfold", (real(1, 2, 3, 3),), {"kernel_size": 2}),
]


@pytest.mark.cudasim
@pytest.mark.parametrize(("name", "args", "kwargs"), GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_on_cuda_tensors_as_on_the_cpu(name: str, args: tuple, kwargs: dict) -> None:
    """Tensors on 'cuda' give results on 'cuda' with the CPU's values and gradients (every
    array argument differentiated; batch_normalization then takes the composed route)."""
    pytest.importorskip("numba_cuda")
    results = []
    for device in ("cpu", "cuda"):
        inputs = [
            Tensor(a.astype(np.float64), requires_grad=True, device=device)
            if isinstance(a, np.ndarray) else a
            for a in args
        ]  # fmt: skip
        out = getattr(nn, name)(*inputs, **kwargs)
        assert out.device == device
        (out * out).sum().backward()
        grads = [namespace(device).to_numpy(t.grad) for t in inputs if isinstance(t, Tensor)]
        results.append((out.numpy(), grads))
    (cpu_out, cpu_grads), (gpu_out, gpu_grads) = results
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-9, atol=1e-12)
    for gpu_grad, cpu_grad in zip(gpu_grads, cpu_grads, strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: nn.conv(IMAGES, real(3, 3, 3, 2), padding="full"), ValueError, "padding"),
        (lambda: nn.conv(IMAGES, real(3, 3, 3, 2), data_format="nhwc"), ValueError,
         "data_format"),
        (lambda: nn.conv(IMAGES, real(3, 3, 2, 2)), ValueError, "evenly divisible"),
        (lambda: nn.conv(IMAGES, real(3, 3, 3, 2), strides=(1, 2, 1)), ValueError, "`strides`"),
        (lambda: nn.conv(IMAGES, real(3, 3, 3)), ValueError, "rank 4"),
        (lambda: nn.conv(real(1, 3, 3, 3, 2), real(2, 2, 2, 1)), ValueError, "rank 5"),
        (lambda: nn.conv(real(2, 3), real(3, 3)), ValueError, "ndim=3, 4 or 5"),
        (lambda: nn.depthwise_conv(IMAGES, real(3, 3, 2, 1)), ValueError, "must match"),
        (lambda: nn.conv_transpose(IMAGES, real(3, 3, 2, 2)), ValueError, "must match"),
        (lambda: nn.conv_transpose(IMAGES, real(3, 3, 2, 3), 2, output_padding=2), ValueError,
         "output_padding"),
        (lambda: nn.max_pool(IMAGES, 0), ValueError, "`pool_size`"),
        (lambda: nn.average_pool(IMAGES, 2, padding="causal"), ValueError, "padding"),
        (lambda: nn.adaptive_max_pool(X[0], 2), ValueError, "ndim=3, 4 or 5"),
        (lambda: nn.batch_normalization(X, real(3), real(4), -1), ValueError, "`mean`"),
        (lambda: nn.moments(X, 0, synchronized=True), NotImplementedError, "synchronized"),
        (lambda: nn.layer_normalization(X, center=False), TypeError, "center"),
        (lambda: nn.normalize(X, order=0), ValueError, "`order`"),
        (lambda: nn.normalize(X, axis=(0, 1), order=3), ValueError, "order 3"),
        (lambda: nn.one_hot([0, 1], 2, sparse=True), ValueError, "sparse"),
        (lambda: nn.one_hot([0, 3], 3), ValueError, "smaller than num_classes"),
        (lambda: nn.multi_hot([0, 1]), ValueError, "`num_classes`"),
        (lambda: nn.binary_crossentropy(X, X[0]), ValueError, "same shape"),
        (lambda: nn.categorical_crossentropy(np.float32(1), np.float32(1)), ValueError, "rank 1"),
        (lambda: nn.sparse_categorical_crossentropy(LABELS[:3], X), ValueError, "up until"),
        (lambda: nn.sparse_categorical_crossentropy(LABELS, real(4, 3)), ValueError,
         r"lie in \[0, 3\)"),
        (lambda: nn.psnr(X, X[0], 1.0), ValueError, "must match"),
        (lambda: nn.glu(real(2, 3)), ValueError, "divisible by 2"),
        (lambda: nn.dot_product_attention(X, X, X), ValueError, "4D inputs"),
        (lambda: nn.dot_product_attention(*ATTENTION, bias=real(1, 2, 3, 4), mask=MASK),
         ValueError, "Only one of"),
        (lambda: nn.dot_product_attention(*ATTENTION, flash_attention=True), ValueError,
         "Flash attention"),
        (lambda: nn.dot_product_attention(*ATTENTION, attn_logits_soft_cap=5.0), ValueError,
         "TPU"),
        (lambda: nn.dot_product_attention(real(1, 3, 3, 4), *ATTENTION[1:]), ValueError,
         "multiple"),
        (lambda: nn.depth_to_space(real(1, 2, 2, 8), 1), ValueError, "at least 2"),
        (lambda: nn.depth_to_space(real(1, 2, 2, 6), 2), ValueError, "block_size\\*\\*2"),
        (lambda: nn.space_to_depth(real(1, 3, 4, 2), 2), ValueError, "Height"),
        (lambda: nn.unfold(X, 2), ValueError, "4D"),
        (lambda: nn.fold(real(1, 8, 5), (4, 4), 2), ValueError, "fold"),
        (lambda: nn.polar(X, X), NotImplementedError, "complex"),
    ],
)  # fmt: skip
def test_errors_name_the_problem(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_normalize_gives_a_zero_vector_back_silently_as_keras() -> None:
    """Gradients normalized pixel by pixel (the filter visualizations of "Deep Learning with
    Python") are zero where nothing reaches: zeros back, without NumPy's divide-by-zero warning,
    as Keras's."""
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = nn.normalize(x).numpy()
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(keras.ops.normalize(x)))
