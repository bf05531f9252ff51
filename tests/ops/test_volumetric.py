"""The 3-D convolutions, transposed convolutions and pools (``autoconv.ops.volumetric``, and
``keras.ops.nn``'s conv, depthwise_conv, separable_conv, conv_transpose, max_pool and
average_pool of 5-D inputs) against Keras 3.15's on its PyTorch backend (skipped without Keras
or torch): values and gradients in float64, a float64 gradcheck, 'same' averages against
their definition, zero padding and cropping, the errors, and the CUDA simulator against the
CPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autoconv.backends import namespace
from autoconv.ops import nn, volumetric
from autoconv.tensor import Tensor
from autoconv.testing import gradcheck

RNG = np.random.default_rng(5)


def real(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


VOLUMES = real(2, 4, 5, 4, 2)
SMALL = real(1, 3, 4, 3, 2)

# (function, arguments, keyword arguments): every option of each function
CASES: list[tuple[str, tuple, dict[str, Any]]] = [
    ("conv", (VOLUMES, real(2, 3, 2, 2, 3)), {}),
    ("conv", (VOLUMES, real(3, 3, 3, 2, 3)), {"strides": 2, "padding": "same"}),
    ("conv", (VOLUMES, real(2, 2, 2, 2, 2)), {"strides": (1, 2, 3), "padding": "SAME"}),
    ("conv", (VOLUMES, real(2, 2, 2, 2, 3)), {"dilation_rate": (2, 1, 2)}),
    (
        "conv",
        (VOLUMES, real(2, 2, 2, 2, 3)),
        {"strides": (2, 2, 1), "dilation_rate": 2, "padding": "same"},
    ),
    ("conv", (VOLUMES, real(1, 2, 2, 1, 4)), {}),  # two groups
    (
        "conv",
        (np.ascontiguousarray(VOLUMES.transpose(0, 4, 1, 2, 3)), real(2, 2, 2, 2, 3)),
        {"data_format": "channels_first", "padding": "same"},
    ),
    ("depthwise_conv", (VOLUMES, real(2, 3, 2, 2, 2)), {"strides": 2, "padding": "same"}),
    ("separable_conv", (VOLUMES, real(2, 2, 2, 2, 2), real(1, 1, 1, 4, 3)), {"padding": "same"}),
    ("conv_transpose", (VOLUMES, real(2, 3, 2, 3, 2)), {}),
    ("conv_transpose", (VOLUMES, real(3, 3, 3, 3, 2)), {"strides": 2, "padding": "same"}),
    ("conv_transpose", (VOLUMES, real(2, 2, 3, 3, 2)), {"strides": (3, 1, 2)}),
    (
        "conv_transpose",
        (VOLUMES, real(3, 2, 3, 3, 2)),
        {"strides": 2, "padding": "same", "output_padding": (1, 0, 1)},
    ),
    ("conv_transpose", (VOLUMES, real(2, 2, 2, 3, 2)), {"dilation_rate": (2, 1, 2)}),
    ("max_pool", (VOLUMES,), {"pool_size": 2}),
    ("max_pool", (VOLUMES,), {"pool_size": (2, 3, 2), "strides": 1, "padding": "same"}),
    ("average_pool", (VOLUMES,), {"pool_size": (2, 3, 2), "strides": (1, 2, 1)}),
    ("average_pool", (VOLUMES,), {"pool_size": 3, "strides": 1, "padding": "same"}),
]


def case_id(case: tuple) -> str:
    name, _, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES, ids=map(case_id, CASES))
def test_values_and_gradients_match_keras(keras, name, args, kwargs):
    import torch

    ours = [Tensor(a, requires_grad=True) for a in args]
    theirs = [torch.tensor(a, requires_grad=True) for a in args]
    out = getattr(nn, name)(*ours, **kwargs)
    expected = getattr(keras.ops, name)(*theirs, **kwargs)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = RNG.standard_normal(out.shape)
    (out * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-10, atol=1e-12)


GRADCHECK_CASES = [
    (
        volumetric.conv3d,
        (SMALL, real(2, 2, 2, 2, 2), real(2)),
        {"strides": (2, 1, 2), "padding": "same"},
    ),
    (volumetric.conv3d, (SMALL, real(2, 2, 1, 1, 2)), {"dilation": (1, 2, 1), "groups": 2}),
    (volumetric.depthwise_conv3d, (SMALL, real(2, 2, 2, 2, 2), real(4)), {"padding": "same"}),
    (
        volumetric.conv3d_transpose,
        (SMALL, real(2, 2, 2, 3, 2), real(3)),
        {"strides": 2, "padding": "same"},
    ),
    (volumetric.conv3d_transpose, (SMALL, real(3, 2, 2, 2, 2)), {"dilation": (2, 1, 1)}),
    (volumetric.max_pool3d, (SMALL,), {"pool_size": 2, "strides": 1, "padding": "same"}),
    (volumetric.avg_pool3d, (SMALL,), {"pool_size": (2, 3, 2), "padding": "same"}),
    (volumetric.pad3d, (SMALL,), {"padding": ((1, 0), (0, 2), (1, 1))}),
    (volumetric.crop3d, (SMALL,), {"cropping": ((1, 0), (1, 2), (0, 1))}),
]


@pytest.mark.parametrize(
    ("op", "args", "kwargs"),
    GRADCHECK_CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(GRADCHECK_CASES)],
)
def test_gradcheck(op, args, kwargs):
    assert gradcheck(lambda *xs: op(*xs, **kwargs), list(args))


def _box_means(x: np.ndarray, size: tuple, strides: tuple) -> np.ndarray:
    """'same' average pooling by its definition: the mean of each box's cells inside x."""
    sizes = x.shape[1:4]
    out_sizes = [-(-n // s) for n, s in zip(sizes, strides, strict=True)]
    before = [
        max((o - 1) * s + k - n, 0) // 2
        for o, s, k, n in zip(out_sizes, strides, size, sizes, strict=True)
    ]
    out = np.empty((x.shape[0], *out_sizes, x.shape[-1]))
    for index in np.ndindex(*out_sizes):
        box = tuple(
            slice(max(i * s - b, 0), min(i * s - b + k, n))
            for i, s, b, k, n in zip(index, strides, before, size, sizes, strict=True)
        )
        out[(slice(None), *index)] = x[(slice(None), *box)].mean(axis=(1, 2, 3))
    return out


@pytest.mark.parametrize(("size", "strides"), [((2, 3, 2), (1, 1, 1)), ((3, 2, 4), (2, 3, 1))])
def test_same_average_pool_divides_by_the_cells_inside(size, strides):
    """Uneven 'same' padding, where Keras's PyTorch backend counts repeated edge cells: the
    separable pool is still the mean over each box's cells inside the volume."""
    out = nn.average_pool(VOLUMES, size, strides, padding="same").numpy()
    np.testing.assert_allclose(out, _box_means(VOLUMES, size, strides), rtol=1e-12)


def test_padding_and_cropping_place_the_volume():
    padded = volumetric.pad3d(SMALL, ((1, 2), (0, 1), (2, 0))).numpy()
    assert padded.shape == (1, 6, 5, 5, 2)
    np.testing.assert_array_equal(padded[:, 1:4, 0:4, 2:5], SMALL)
    assert np.abs(padded).sum() == pytest.approx(np.abs(SMALL).sum())
    cropped = volumetric.crop3d(SMALL, ((1, 0), (1, 2), (0, 1))).numpy()
    np.testing.assert_array_equal(cropped, SMALL[:, 1:, 1:2, :2])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: volumetric.conv3d(real(1, 3, 3, 3), real(2, 2, 2, 3, 1)), "volumes"),
        (lambda: volumetric.conv3d(SMALL, real(2, 2, 2, 1)), "KD, KH, KW"),
        (lambda: volumetric.conv3d(SMALL, real(4, 2, 2, 2, 1)), "output would be empty"),
        (lambda: volumetric.conv3d(SMALL, real(1, 1, 1, 2, 1), strides=(1, 0, 1)), "strides"),
        (lambda: volumetric.conv3d(SMALL, real(1, 1, 1, 2, 1), padding="full"), "padding"),
        (lambda: volumetric.conv3d_transpose(SMALL, real(2, 2, 2, 1, 2), b=real(2)), "b must"),
        (
            lambda: volumetric.conv3d_transpose(
                SMALL, real(2, 2, 2, 1, 2), strides=2, output_padding=(2, 0, 0)
            ),
            "output_padding",
        ),
        (lambda: volumetric.max_pool3d(SMALL, (1, 2)), "pool_size"),
        (lambda: nn.max_pool(SMALL, 4), "output would be empty"),
        (lambda: nn.conv(SMALL, real(2, 2, 2, 1)), "rank 5"),
        (lambda: nn.conv_transpose(SMALL, real(2, 2, 2, 1, 3)), "must match"),
        (lambda: nn.average_pool(SMALL, 2, strides=(1, 1)), "`strides`"),
    ],
)
def test_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


GPU_CASES = [
    (volumetric.conv3d, (SMALL, real(2, 2, 2, 2, 3), real(3)), {"strides": 2, "padding": "same"}),
    (volumetric.conv3d_transpose, (SMALL, real(2, 2, 2, 3, 2), real(3)), {"strides": (2, 1, 1)}),
    (volumetric.max_pool3d, (SMALL,), {"pool_size": 2, "strides": 1}),
    (volumetric.avg_pool3d, (SMALL,), {"pool_size": 2, "padding": "same"}),
    (volumetric.pad3d, (SMALL,), {"padding": ((1, 0), (0, 1), (1, 1))}),
]


@pytest.mark.cudasim
@pytest.mark.parametrize(
    ("op", "args", "kwargs"), GPU_CASES, ids=[c[0].__name__ for c in GPU_CASES]
)
def test_on_the_cuda_device_as_on_the_cpu(op, args, kwargs):
    pytest.importorskip("numba_cuda")
    results = []
    for device in ("cpu", "cuda"):
        inputs = [Tensor(a, requires_grad=True, device=device) for a in args]
        out = op(*inputs, **kwargs)
        assert out.device == device
        (out * out).sum().backward()
        grads = [namespace(device).to_numpy(t.grad) for t in inputs]
        results.append((out.numpy(), grads))
    (cpu_out, cpu_grads), (gpu_out, gpu_grads) = results
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-9, atol=1e-12)
    for gpu_grad, cpu_grad in zip(gpu_grads, cpu_grads, strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-9, atol=1e-12)
