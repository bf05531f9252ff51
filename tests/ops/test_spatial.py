"""Image ops (autoconv/ops/spatial.py) against Keras 3's numbers.

The references below are NumPy transcriptions of what Keras runs on its JAX backend:
``resize`` and ``affine_transform`` of keras/src/backend/jax/image.py (the NumPy backend,
keras/src/backend/numpy/image.py, calls the same ``jax.image.resize``), which call
``jax.image.resize`` (jax/_src/image/scale.py) and ``jax.scipy.ndimage.map_coordinates``
(jax/_src/scipy/ndimage.py). The transforms are built as Keras's layers build them
(keras/src/layers/preprocessing/image_preprocessing/random_{rotation,zoom,translation}.py).
PyTorch is a second, independent reference where its conventions map exactly.
"""

from __future__ import annotations

import functools
import itertools
import operator

import numpy as np
import pytest

import autoconv as ac
from autoconv import ops
from autoconv.backends import sampling
from autoconv.testing import gradcheck

MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
INTERPOLATIONS = ("bilinear", "nearest")


# ----------------------------------------------------------------- references (Keras, JAX)
def reference_weight_mat(size_in, size_out, dtype):
    """jax/_src/image/scale.py compute_weight_mat, triangle kernel, antialias=False,
    translation 0: the (size_in, size_out) matrix of one resized axis."""
    scale = size_out / size_in
    inv_scale = 1.0 / scale
    sample_f = (np.arange(size_out, dtype=dtype) + 0.5) * inv_scale - 0.0 * inv_scale - 0.5
    x = np.abs(sample_f[np.newaxis, :] - np.arange(size_in, dtype=dtype)[:, np.newaxis]) / 1.0
    weights = np.maximum(0, 1 - np.abs(x))  # _fill_triangle_kernel
    total = np.sum(weights, axis=0, keepdims=True)
    weights = np.where(
        np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
        np.divide(weights, np.where(total != 0, total, 1)),
        0,
    )
    inside = (sample_f >= -0.5) & (sample_f <= size_in - 0.5)
    return np.where(inside[np.newaxis, :], weights, 0).astype(dtype)


def reference_resize(images, size, interpolation):
    """keras.ops.image.resize(images, size, interpolation) on JAX (antialias=False):
    jax.image.resize(images, (N, h, w, C), method=interpolation), i.e. _resize_nearest or
    _scale_and_translate (one weight matrix per axis whose size changes)."""
    out_shape = (images.shape[0], *size, images.shape[3])
    x = images
    for d in (1, 2):
        m, n = x.shape[d], out_shape[d]
        if m == n:  # JAX leaves such axes alone
            continue
        if interpolation == "nearest":
            offsets = (np.arange(n, dtype=np.float32) + 0.5) * m / n
            x = np.take(x, np.floor(offsets.astype(np.float32)).astype(np.int32), axis=d)
        else:
            weights = reference_weight_mat(m, n, images.dtype)
            x = np.moveaxis(np.tensordot(x, weights, axes=([d], [0])), -1, d)
    return x


def _mirror_index_fixer(index, size):
    s = size - 1
    if s == 0:  # JAX takes a remainder by 0; an axis of one pixel has only pixel 0 to read
        return np.zeros_like(index)
    return np.abs((index + s) % (2 * s) - s)


def _reflect_index_fixer(index, size):
    return np.floor_divide(_mirror_index_fixer(2 * index + 1, 2 * size + 1) - 1, 2)


INDEX_FIXERS = {
    "constant": lambda index, size: index,
    "nearest": lambda index, size: np.clip(index, 0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _mirror_index_fixer,
    "reflect": _reflect_index_fixer,
}


def reference_map_coordinates(image, coordinates, order, mode, cval):
    """jax/_src/scipy/ndimage.py _map_coordinates for orders 0 and 1 (no prefilter)."""
    cval = np.asarray(cval, image.dtype)
    valid_1d_interpolations = []
    for coordinate, size in zip(coordinates, image.shape, strict=True):
        if order == 0:  # _nearest_indices_and_weights: _round_half_to_posinf
            nodes = [(np.floor(coordinate + 0.5).astype(np.int32), coordinate.dtype.type(1))]
        else:  # _linear_indices_and_weights
            lower = np.floor(coordinate)
            upper_weight = coordinate - lower
            index = lower.astype(np.int32)
            nodes = [(index, 1 - upper_weight), (index + 1, upper_weight)]
        valid = []
        for index, weight in nodes:
            fixed = INDEX_FIXERS[mode](index, size)
            ok = (0 <= index) & (index < size) if mode == "constant" else True
            valid.append((np.clip(fixed, 0, size - 1), ok, weight))  # JAX gathers clamp
        valid_1d_interpolations.append(valid)
    outputs = []
    for items in itertools.product(*valid_1d_interpolations):
        indices, validities, weights = zip(*items, strict=True)
        contribution = image[indices]
        if not all(v is True for v in validities):
            contribution = np.where(functools.reduce(operator.and_, validities), contribution, cval)
        outputs.append(functools.reduce(operator.mul, weights) * contribution)
    return sum(outputs[1:], outputs[0]).astype(image.dtype)


def reference_affine_transform(images, transform, interpolation, fill_mode, fill_value):
    """keras/src/backend/jax/image.py affine_transform, channels_last, batched."""
    batch_size = images.shape[0]
    transform = np.array(transform, dtype=images.dtype).reshape(-1, 8)
    transform = np.broadcast_to(transform, (batch_size, 8)).copy()
    meshgrid = np.meshgrid(*[np.arange(size) for size in images.shape[1:]], indexing="ij")
    indices = np.concatenate([np.expand_dims(x, axis=-1) for x in meshgrid], axis=-1)
    indices = np.tile(indices, (batch_size, 1, 1, 1, 1)).astype(images.dtype)  # as JAX promotes
    a0, a2, b1, b2 = (transform[:, k].copy() for k in (0, 2, 4, 5))  # swap the values
    transform[:, 0], transform[:, 2], transform[:, 4], transform[:, 5] = b1, b2, a0, a2
    transform = np.pad(transform, pad_width=[[0, 0], [0, 1]], constant_values=1)
    transform = np.reshape(transform, (batch_size, 3, 3))
    offset = np.pad(transform[:, 0:2, 2].copy(), pad_width=[[0, 0], [0, 1]])
    transform[:, 0:2, 2] = 0
    coordinates = np.einsum("Bhwij, Bjk -> Bhwik", indices, transform)
    coordinates = np.moveaxis(coordinates, source=-1, destination=1)
    coordinates += np.reshape(offset, (*offset.shape, 1, 1, 1))
    order = {"nearest": 0, "bilinear": 1}[interpolation]
    return np.stack(
        [
            reference_map_coordinates(images[i], coordinates[i], order, fill_mode, fill_value)
            for i in range(batch_size)
        ]
    )


# ------------------------------------------------------- transforms as Keras's layers build
def rotation_matrix(angle, height, width):
    """RandomRotation.get_random_transformation, for given angles (radians), float32."""
    angle = np.asarray(angle, np.float32)
    cos, sin = np.cos(angle), np.sin(angle)
    h, w = np.float32(height), np.float32(width)
    x_offset = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
    y_offset = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
    zeros = np.zeros_like(cos)
    return np.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)


def zoom_matrix(zooms, height, width):
    """RandomZoom._get_zoom_matrix: zooms (N, 2) of (width, height) factors, float32."""
    zooms = np.asarray(zooms, np.float32)
    x_offset = ((np.float32(width) - 1.0) / 2.0) * (1.0 - zooms[:, 0:1])
    y_offset = ((np.float32(height) - 1.0) / 2.0) * (1.0 - zooms[:, 1:])
    zeros = np.zeros((len(zooms), 1), np.float32)
    return np.concatenate(
        [zooms[:, 0:1], zeros, x_offset, zeros, zooms[:, 1:], y_offset, zeros, zeros], axis=1
    )


def translation_matrix(translations):
    """RandomTranslation._get_translation_matrix: translations (N, 2) of (dx, dy) pixels."""
    t = np.asarray(translations, np.float32)
    ones, zeros = np.ones((len(t), 1), np.float32), np.zeros((len(t), 1), np.float32)
    return np.concatenate([ones, zeros, -t[:, 0:1], zeros, ones, -t[:, 1:], zeros, zeros], 1)


def keras_transforms(n, height, width, rng):
    """A rotation, a zoom and a translation per image, drawn as the layers draw them."""
    rotation = rotation_matrix(rng.uniform(-np.pi, np.pi, n), height, width)
    zoom = zoom_matrix(1.0 + rng.uniform(-0.4, 0.4, (n, 2)), height, width)
    shift = translation_matrix(rng.uniform(-0.3, 0.3, (n, 2)) * [width, height])
    return {"rotation": rotation, "zoom": zoom, "translation": shift}


IDENTITY = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)


def test_the_index_fixers_are_jaxs():
    for mode, fixer in INDEX_FIXERS.items():
        for size in range(1, 6):
            index = np.arange(-3 * size - 2, 4 * size + 3)
            want = fixer(index, size)
            got = np.array([sampling.source(int(i), size, MODES.index(mode)) for i in index])
            if mode == "constant":
                want = np.where((index >= 0) & (index < size), index, -1)
            np.testing.assert_array_equal(got, want, err_msg=f"{mode}, size {size}")


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_fill_modes_read_what_keras_documents(interpolation):
    """On a row a b c d = 1 2 3 4 shifted by 4 pixels either way (12 columns read), the fill
    modes as Keras's layers document them (mirror as its torch backend's note writes it)."""
    row = np.tile(np.arange(1.0, 5.0).reshape(1, 1, 4, 1), (3, 1, 1, 1))
    shifts = [[1, 0, dx, 0, 1, 0, 0, 0] for dx in (-4, 0, 4)]  # column j reads j + dx
    expected = {
        "reflect": [4, 3, 2, 1, 1, 2, 3, 4, 4, 3, 2, 1],  # d c b a | a b c d | d c b a
        "constant": [9, 9, 9, 9, 1, 2, 3, 4, 9, 9, 9, 9],  # k k k k | a b c d | k k k k
        "wrap": [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4],  # a b c d | a b c d | a b c d
        "nearest": [1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4],  # a a a a | a b c d | d d d d
        "mirror": [3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2],  # c d c b | a b c d | c b a b
    }
    for mode, values in expected.items():
        out = ops.affine_transform(row, shifts, interpolation, mode, fill_value=9.0)
        np.testing.assert_array_equal(out.numpy().ravel(), values, err_msg=mode)
        want = reference_affine_transform(row, shifts, interpolation, mode, 9.0)
        np.testing.assert_array_equal(want.ravel(), values, err_msg=mode)


# ---------------------------------------------------------------------------------- resize
SIZES = [
    ((4, 5), (8, 10)),  # UpSampling2D(2, interpolation="bilinear")
    ((4, 5), (7, 3)),  # up along H, down along W, non-integer factors
    ((6, 9), (3, 3)),  # down by integer factors
    ((5, 5), (5, 2)),  # one axis unchanged
    ((1, 3), (4, 3)),  # from a single row
    ((3, 4), (1, 1)),
]


@pytest.mark.parametrize(("shape", "size"), SIZES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resize_matches_keras(shape, size, interpolation, dtype, rng):
    x = rng.standard_normal((2, *shape, 3)).astype(dtype)
    out = ops.resize(x, size, interpolation)
    assert out.dtype == dtype and out.shape == (2, *size, 3)
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"atol": 2e-6}
    np.testing.assert_allclose(out.numpy(), reference_resize(x, size, interpolation), **tolerance)


@pytest.mark.parametrize(("shape", "size"), SIZES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_resize_gradcheck(shape, size, interpolation, rng):
    x = rng.standard_normal((2, *shape, 2))
    assert gradcheck(lambda t: ops.resize(t, size, interpolation), [x])


@pytest.mark.parametrize(("shape", "size"), SIZES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_resize_matches_torch(shape, size, interpolation, rng, torch):
    """F.interpolate, align_corners=False: 'bilinear' has the same half-pixel rule and edge
    clamp (upscaling and, without antialiasing, downscaling); 'nearest-exact' is JAX's
    floor((i + 0.5) * in / out) ('nearest' in PyTorch drops the half)."""
    x = rng.standard_normal((2, *shape, 3))
    mode = {"bilinear": "bilinear", "nearest": "nearest-exact"}[interpolation]
    theirs = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    ref = torch.nn.functional.interpolate(theirs, size=size, mode=mode, **kwargs)
    ours = ac.Tensor(x, requires_grad=True)
    out = ops.resize(ours, size, interpolation)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy().transpose(0, 2, 3, 1), 1e-12)
    weights = rng.standard_normal(out.shape)
    out.backward(weights)
    ref.backward(torch.tensor(weights.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy().transpose(0, 2, 3, 1), 1e-12)


def test_resize_of_one_image_and_identity(rng):
    x = rng.standard_normal((4, 5, 2))
    out = ops.resize(x, (8, 3))
    np.testing.assert_allclose(out.numpy(), reference_resize(x[None], (8, 3), "bilinear")[0])
    for interpolation in INTERPOLATIONS:
        np.testing.assert_array_equal(ops.resize(x, (4, 5), interpolation).numpy(), x)


def test_upsampling_nearest_is_a_repeat_and_a_resize(rng):
    """UpSampling2D(size=(2, 3)) repeats rows and columns; resize 'nearest' to the same size
    gives the same numbers (floor((i + 0.5) / 2) = i // 2)."""
    x = rng.standard_normal((2, 3, 4, 2))
    repeated = ops.repeat(ops.repeat(x, 2, axis=1), 3, axis=2)
    np.testing.assert_array_equal(repeated.numpy(), np.repeat(np.repeat(x, 2, 1), 3, 2))
    np.testing.assert_array_equal(ops.resize(x, (6, 12), "nearest").numpy(), repeated.numpy())


def test_resize_refuses_what_it_cannot_do():
    x = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"resize: interpolation 'bicubic' is not supported"):
        ops.resize(x, (2, 2), "bicubic")
    with pytest.raises(ValueError, match=r"resize: interpolation must be one of"):
        ops.resize(x, (2, 2), "cubic")
    with pytest.raises(ValueError, match=r"resize: size must be two positive ints"):
        ops.resize(x, (2, 0))
    with pytest.raises(ValueError, match=r"resize: size must be two positive ints"):
        ops.resize(x, (2, 2, 2))
    with pytest.raises(ValueError, match=r"resize: expected images .* got shape \(4, 4\)"):
        ops.resize(np.zeros((4, 4)), (2, 2))


# ------------------------------------------------------------------------ affine_transform
@pytest.mark.parametrize("kind", ["rotation", "zoom", "translation"])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_affine_transform_matches_keras(kind, interpolation, fill_mode, dtype, rng):
    x = rng.standard_normal((3, 6, 7, 2)).astype(dtype)
    transforms = keras_transforms(3, 6, 7, rng)[kind]
    out = ops.affine_transform(x, transforms, interpolation, fill_mode, fill_value=0.5)
    assert out.dtype == dtype and out.shape == x.shape
    want = reference_affine_transform(x, transforms, interpolation, fill_mode, 0.5)
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"atol": 2e-6}
    np.testing.assert_allclose(out.numpy(), want, **tolerance)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", MODES)
def test_identity_and_quarter_turns_are_exact(interpolation, fill_mode, rng):
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    same = ops.affine_transform(x, IDENTITY, interpolation, fill_mode)
    np.testing.assert_array_equal(same.numpy(), x)
    for turns in (1, 2, 3):
        angle = turns * np.pi / 2
        exact = np.round(rotation_matrix([angle, angle], 5, 5))  # cos, sin in {-1, 0, 1}
        out = ops.affine_transform(x, exact, interpolation, fill_mode)
        np.testing.assert_array_equal(out.numpy(), np.rot90(x, turns, axes=(1, 2)))
        # As RandomRotation builds it in float32, cos(pi / 2) is -4.4e-8, not 0: nearest still
        # reads exactly the rotated pixels, bilinear within rounding.
        keras = rotation_matrix([angle, angle], 5, 5)
        out = ops.affine_transform(x, keras, interpolation, fill_mode)
        tolerance = {"atol": 0} if interpolation == "nearest" else {"atol": 3e-6}
        np.testing.assert_allclose(out.numpy(), np.rot90(x, turns, axes=(1, 2)), **tolerance)


def test_a_rotated_non_square_image_reads_the_fill_outside_and_halves_round_up():
    x = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)  # [[1 2 3] [4 5 6]]
    quarter = rotation_matrix([np.pi / 2], 2, 3)
    quarter[:, [0, 1, 3, 4]] = np.round(quarter[:, [0, 1, 3, 4]])  # column 1.5 - y, row x - 0.5
    out = ops.affine_transform(x, quarter, "nearest", "constant", fill_value=-1.0)
    np.testing.assert_array_equal(out.numpy()[0, :, :, 0], [[3, 6, -1], [2, 5, -1]])
    np.testing.assert_array_equal(
        out.numpy(), reference_affine_transform(x, quarter, "nearest", "constant", -1.0)
    )


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", MODES)
def test_affine_transform_gradcheck(interpolation, fill_mode, rng):
    x = rng.standard_normal((2, 4, 5, 2))
    transforms = np.concatenate(
        [keras_transforms(1, 4, 5, rng)["rotation"], keras_transforms(1, 4, 5, rng)["zoom"]]
    )
    assert gradcheck(
        lambda t: ops.affine_transform(t, transforms, interpolation, fill_mode, 0.7), [x]
    )


# PyTorch's grid_sample reads the same pixels where its padding is one of Keras's fill modes:
# zeros = constant 0; border (the coordinate clamped) = nearest (each index clamped); with
# align_corners=True its reflection reflects about the first and last pixel centres (mirror),
# with align_corners=False about the image's edges (reflect). It has no wrap.
TORCH_PADDING = {
    "constant": ("zeros", True),
    "nearest": ("border", True),
    "mirror": ("reflection", True),
    "reflect": ("reflection", False),
}


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", list(TORCH_PADDING))
def test_affine_transform_matches_torch_grid_sample(interpolation, fill_mode, rng, torch):
    x = rng.standard_normal((3, 6, 7, 2))
    transforms = np.concatenate(list(keras_transforms(1, 6, 7, rng).values())).astype(float)
    transforms[:, [0, 1, 3, 4]] *= 1.7  # reach well outside: several reflections
    padding, align_corners = TORCH_PADDING[fill_mode]
    rows, columns = np.meshgrid(np.arange(6.0), np.arange(7.0), indexing="ij")
    t = transforms[:, :, None, None]
    source_x = t[:, 0] * columns + t[:, 1] * rows + t[:, 2]  # pixel coordinates read
    source_y = t[:, 3] * columns + t[:, 4] * rows + t[:, 5]
    if align_corners:
        grid = np.stack([2 * source_x / 6 - 1, 2 * source_y / 5 - 1], axis=-1)
    else:
        grid = np.stack([(2 * source_x + 1) / 7 - 1, (2 * source_y + 1) / 6 - 1], axis=-1)
    theirs = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    ref = torch.nn.functional.grid_sample(
        theirs, torch.tensor(grid), interpolation, padding, align_corners
    )
    ours = ac.Tensor(x, requires_grad=True)
    out = ops.affine_transform(ours, transforms, interpolation, fill_mode)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy().transpose(0, 2, 3, 1), 1e-9)
    weights = rng.standard_normal(out.shape)
    out.backward(weights)
    ref.backward(torch.tensor(weights.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy().transpose(0, 2, 3, 1), 1e-9, 1e-12)


def test_affine_transform_of_one_image_and_tensor_transforms(rng):
    x = rng.standard_normal((6, 7, 2)).astype(np.float32)
    transform = keras_transforms(1, 6, 7, rng)["rotation"]
    out = ops.affine_transform(ac.Tensor(x), ac.Tensor(transform[0]), fill_mode="reflect")
    want = reference_affine_transform(x[None], transform, "bilinear", "reflect", 0.0)[0]
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), want, atol=2e-6)
    batch = ops.affine_transform(np.stack([x, 2 * x]), transform)  # one transform for all
    np.testing.assert_allclose(batch.numpy()[1], 2 * batch.numpy()[0], rtol=1e-6)


def test_affine_transform_refuses_what_it_cannot_do():
    x = np.zeros((2, 4, 4, 1))
    with pytest.raises(ValueError, match=r"affine_transform: interpolation must be one of"):
        ops.affine_transform(x, IDENTITY, "bicubic")
    with pytest.raises(ValueError, match=r"affine_transform: fill_mode must be one of"):
        ops.affine_transform(x, IDENTITY, fill_mode="edge")
    with pytest.raises(ValueError, match=r"transforms must have shape \(8,\), \(1, 8\) or"):
        ops.affine_transform(x, np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"transforms must have shape"):
        ops.affine_transform(x, np.zeros(6))
    with pytest.raises(ValueError, match=r"only affine transforms are supported"):
        ops.affine_transform(x, [1, 0, 0, 0, 1, 0, 0.01, 0])
    with pytest.raises(ValueError, match=r"NaN or an infinity"):
        ops.affine_transform(x, [1, 0, np.nan, 0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"affine_transform: expected images"):
        ops.affine_transform(np.zeros((4, 4)), IDENTITY)


# ------------------------------------------------------------ pad, crop, flip and repeat
AMOUNTS = [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    (((0, 2), (1, 3)), ((0, 2), (1, 3))),  # ZeroPadding2D / Cropping2D's three forms
]


@pytest.mark.parametrize(("amounts", "pairs"), AMOUNTS)
def test_pad2d_and_crop2d_match_numpy_and_gradcheck(amounts, pairs, rng):
    x = rng.standard_normal((2, 5, 6, 3))
    padded = ops.pad2d(x, amounts)
    np.testing.assert_array_equal(padded.numpy(), np.pad(x, ((0, 0), *pairs, (0, 0))))
    (top, bottom), (left, right) = pairs
    cropped = ops.crop2d(x, amounts)
    np.testing.assert_array_equal(cropped.numpy(), x[:, top : 5 - bottom, left : 6 - right])
    np.testing.assert_array_equal(ops.crop2d(padded, amounts).numpy(), x)
    filled = ops.pad2d(x, amounts, value=-2.5)  # Resizing(pad_to_aspect_ratio, fill_value)
    want = np.pad(x, ((0, 0), *pairs, (0, 0)), constant_values=-2.5)
    np.testing.assert_array_equal(filled.numpy(), want)
    assert gradcheck(lambda t: ops.pad2d(t, amounts, value=0.5), [x])
    assert gradcheck(lambda t: ops.crop2d(t, amounts), [x])


def test_pad2d_crop2d_of_one_image_and_float32(rng):
    x = rng.standard_normal((4, 5, 2)).astype(np.float32)
    assert ops.pad2d(x, 1).shape == (6, 7, 2) and ops.pad2d(x, 1).dtype == np.float32
    assert ops.crop2d(x, (1, 2)).shape == (2, 1, 2) and ops.crop2d(x, 1).dtype == np.float32


def test_pad2d_crop2d_refuse_bad_amounts():
    x = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"pad2d: padding must be non-negative ints"):
        ops.pad2d(x, -1)
    with pytest.raises(ValueError, match=r"pad2d: padding must be an int, \(height, width\)"):
        ops.pad2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"crop2d: cropping .* leaves nothing"):
        ops.crop2d(x, ((2, 2), (0, 0)))
    with pytest.raises(ValueError, match=r"crop2d: expected images"):
        ops.crop2d(np.zeros((4, 4)), 1)


@pytest.mark.parametrize("axis", [None, 1, -2, (1, 2), (0, 3)])
def test_flip_matches_numpy_and_gradchecks(axis, rng):
    x = rng.standard_normal((2, 3, 4, 2))
    np.testing.assert_array_equal(ops.flip(x, axis).numpy(), np.flip(x, axis))
    assert gradcheck(lambda t: ops.flip(t, axis), [x])


@pytest.mark.parametrize(
    ("repeats", "axis"), [(2, 1), (3, -2), (1, 0), (0, 1), (2, None), ([1, 0, 2], 1), ([2], 2)]
)
def test_repeat_matches_numpy_and_torch(repeats, axis, rng, torch):
    x = rng.standard_normal((2, 3, 4))
    ours = ac.Tensor(x, requires_grad=True)
    out = ops.repeat(ours, repeats, axis)
    np.testing.assert_array_equal(out.numpy(), np.repeat(x, repeats, axis))
    theirs = torch.tensor(x, requires_grad=True)
    ref = torch.repeat_interleave(theirs, torch.tensor(repeats), dim=axis)
    weights = rng.standard_normal(out.shape)
    out.backward(weights)
    ref.backward(torch.tensor(weights))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
    assert gradcheck(lambda t: ops.repeat(t, repeats, axis), [x])


def test_repeat_refuses_bad_counts():
    with pytest.raises(ValueError, match=r"repeat: repeats must be non-negative ints"):
        ops.repeat(np.zeros((2, 3)), -1, 1)
    with pytest.raises(ValueError, match=r"repeat: repeats must be non-negative ints"):
        ops.repeat(np.zeros((2, 3)), 1.5, 1)
    with pytest.raises(ValueError, match=r"repeat: 2 counts for 3 elements along axis 1"):
        ops.repeat(np.zeros((2, 3)), [1, 2], 1)


def test_float32_stays_float32_through_every_op_and_its_gradient(rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    transforms = keras_transforms(2, 4, 5, rng)["rotation"]
    for fn in (
        lambda t: ops.resize(t, (7, 3)),
        lambda t: ops.resize(t, (2, 9), "nearest"),
        lambda t: ops.affine_transform(t, transforms, "bilinear", "reflect"),
        lambda t: ops.affine_transform(t, transforms, "nearest", "constant", 1.5),
        lambda t: ops.pad2d(t, 1, 0.5),
        lambda t: ops.crop2d(t, 1),
        lambda t: ops.flip(t, 2),
        lambda t: ops.repeat(t, 2, 1),
    ):
        tensor = ac.Tensor(x, requires_grad=True)
        out = fn(tensor)
        out.sum().backward()
        assert out.dtype == np.float32 and tensor.grad.dtype == np.float32


def test_random_contrast_needs_no_new_op(rng):
    """RandomContrast's _adjust_contrast (keras/src/layers/preprocessing/image_preprocessing/
    random_contrast.py) then its clip to value_range, from existing ops, with gradients."""
    x = rng.uniform(0, 255, (2, 4, 5, 3))
    factor = rng.uniform(0.5, 1.5, (2, 1, 1, 1))

    def contrast(t):
        mean = t.mean(axis=-3, keepdims=True).mean(axis=-2, keepdims=True)
        return ac.clip((t - mean) * factor + mean, 0, 255)

    mean = x.mean(axis=-3, keepdims=True).mean(axis=-2, keepdims=True)
    want = np.clip((x - mean) * factor + mean, 0, 255)
    np.testing.assert_allclose(contrast(ac.Tensor(x)).numpy(), want, rtol=1e-12)
    assert gradcheck(contrast, [x])
