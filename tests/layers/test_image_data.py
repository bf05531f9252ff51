"""Dict data (images, bounding boxes, segmentation masks, labels) through the image layers, and
MaxNumBoundingBoxes (autoconv/layers/image_data.py), against Keras's own layers."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.host_array import HostArray

BOXES = np.array(
    [[[1, 2, 6, 7], [0, 0, 0, 0], [-2, 3, 14, 9]],
     [[3, 1, 11, 7], [-1, -1, -1, -1], [2, 2, 4, 4]]],
    np.float32,
)  # fmt: skip
LABELS = np.array([[1, 2, 3], [4, 5, 6]])


def numpy(value):
    if hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    return value.numpy() if isinstance(value, ac.Tensor) else np.asarray(value)


def data(rng, fmt="xyxy", single=False):
    """Two images (8, 12) with boxes in ``fmt``, masks and labels (new arrays each call: Keras
    changes the dicts it is given)."""
    boxes = np.asarray(ac.utils.bounding_boxes.convert_format(BOXES, "xyxy", fmt, 8, 12))
    out = {
        "images": rng.uniform(0, 1, (2, 8, 12, 3)).astype(np.float32),
        "bounding_boxes": {"boxes": boxes, "labels": LABELS.copy()},
        "segmentation_masks": rng.integers(0, 3, (2, 8, 12, 1)).astype(np.float32),
        "labels": np.array([0, 1]),
    }
    if single:
        out["bounding_boxes"] = {k: v[0] for k, v in out["bounding_boxes"].items()}
        out = {k: v if k == "bounding_boxes" else v[0] for k, v in out.items()}
    return out


def assert_same(ours, theirs, keys=("images", "segmentation_masks", "labels")):
    for key in keys:
        np.testing.assert_allclose(numpy(ours[key]), numpy(theirs[key]), atol=1e-5, err_msg=key)
    boxes, their_boxes = ours["bounding_boxes"], theirs["bounding_boxes"]
    assert isinstance(boxes["boxes"], HostArray)
    np.testing.assert_allclose(boxes["boxes"], numpy(their_boxes["boxes"]), atol=1e-5)
    np.testing.assert_array_equal(boxes["labels"], numpy(their_boxes["labels"]))


@pytest.mark.parametrize(
    "aspect", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}]
)
@pytest.mark.parametrize("size", [(6, 6), (10, 5)])
@pytest.mark.parametrize("fmt", ["xyxy", "rel_yxyx"])
def test_resizing_moves_boxes_and_masks_as_keras(keras, aspect, size, fmt, rng):
    inputs = data(rng, fmt)
    ours = layers.Resizing(*size, bounding_box_format=fmt, **aspect)(dict(inputs))
    theirs = keras.layers.Resizing(*size, bounding_box_format=fmt, **aspect)(data_copy(inputs))
    assert_same(ours, theirs)


def data_copy(inputs):
    return {k: dict(v) if isinstance(v, dict) else v for k, v in inputs.items()}


@pytest.mark.parametrize("size", [(6, 6), (10, 5), (4, 12)])
@pytest.mark.parametrize("fmt", ["xyxy", "center_xywh"])
def test_center_crop_moves_boxes_and_masks_as_keras(keras, size, fmt, rng):
    inputs = data(rng, fmt)
    ours = layers.CenterCrop(*size, bounding_box_format=fmt)(dict(inputs))
    theirs = keras.layers.CenterCrop(*size, bounding_box_format=fmt)(data_copy(inputs))
    assert_same(ours, theirs)


def test_one_image_with_its_boxes_as_keras(keras, rng):
    inputs = data(rng, single=True)
    ours = layers.CenterCrop(6, 6, bounding_box_format="xyxy")(dict(inputs))
    theirs = keras.layers.CenterCrop(6, 6, bounding_box_format="xyxy")(data_copy(inputs))
    assert ours["bounding_boxes"]["boxes"].shape == (3, 4)
    assert_same(ours, theirs)


@pytest.mark.parametrize("max_number", [2, 5])
def test_max_num_bounding_boxes_as_keras(keras, max_number, rng):
    inputs = data(rng)
    ours = layers.MaxNumBoundingBoxes(max_number, bounding_box_format="xyxy")(dict(inputs))
    their_layer = keras.layers.MaxNumBoundingBoxes(max_number, bounding_box_format="xyxy")
    assert_same(ours, their_layer(data_copy(inputs)))
    shapes = {"images": (2, 8, 12, 3), "bounding_boxes": {"boxes": (2, 3, 4), "labels": (2, 3)}}
    assert layers.MaxNumBoundingBoxes(4).compute_output_shape(shapes)["bounding_boxes"] == {
        "boxes": [2, 4, 4], "labels": [2, 4],
    }  # fmt: skip
    layer = layers.MaxNumBoundingBoxes(max_number, fill_value=-2, bounding_box_format="xyxy")
    config = layer.get_config()
    assert list(config) == [*their_layer.get_config(), "fill_value"]
    again = layers.MaxNumBoundingBoxes.from_config(config)
    assert (again.max_number, again.fill_value) == (max_number, -2)


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
@pytest.mark.parametrize("fmt", ["xyxy", "rel_center_xywh"])
def test_flip_moves_boxes_as_keras_for_the_same_draws(keras, mode, fmt, rng):
    import torch

    inputs = data(rng, fmt)
    flips = np.array([True, False])
    ours = layers.RandomFlip(mode, bounding_box_format=fmt).transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), {"flips": flips}, image_shape=(2, 8, 12, 3)
    )
    keras_flips = {"flips": torch.tensor(flips).reshape(2, 1, 1, 1), "input_shape": (2, 8, 12, 3)}
    theirs = keras.layers.RandomFlip(mode, bounding_box_format=fmt).transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), keras_flips
    )
    np.testing.assert_allclose(ours["boxes"], numpy(theirs["boxes"]), atol=1e-6)
    np.testing.assert_array_equal(ours["labels"], numpy(theirs["labels"]))


def test_one_draw_moves_images_boxes_and_masks_together(rng):
    inputs = data(rng)
    layer = layers.RandomFlip("horizontal", seed=3, bounding_box_format="xyxy")
    out = layer(dict(inputs))
    draw = layer.random_transformation((2, 8, 12, 3), np.random.default_rng(3))
    images = ac.Tensor(inputs["images"])
    np.testing.assert_array_equal(
        out["images"].numpy(), layer.transform_images(images, draw).numpy()
    )
    flipped = inputs["segmentation_masks"][:, :, ::-1]
    expected = np.where(draw["flips"][:, None, None, None], flipped, inputs["segmentation_masks"])
    np.testing.assert_array_equal(out["segmentation_masks"].numpy(), expected)
    boxes = layer.transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), draw, image_shape=(2, 8, 12, 3)
    )
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], boxes["boxes"])
    assert out["labels"] is inputs["labels"]  # integers, as they are
    assert out["bounding_boxes"]["labels"].dtype == inputs["bounding_boxes"]["labels"].dtype
    uint8 = layer(dict(inputs, images=(inputs["images"] * 255).astype(np.uint8)))
    assert uint8["images"].dtype == "float32"
    same = layer(dict(inputs), training=False)
    np.testing.assert_array_equal(same["images"].numpy(), inputs["images"])
    np.testing.assert_array_equal(
        same["bounding_boxes"]["boxes"], inputs["bounding_boxes"]["boxes"]
    )


def test_random_crop_moves_boxes_with_its_window(keras, rng):
    inputs = data(rng)
    inside = {"boxes": np.float32([[[3, 3, 6, 5]], [[2, 4, 5, 6]]]), "labels": np.array([[1], [2]])}
    ours = layers.RandomCrop(5, 6, bounding_box_format="xyxy").transform_bounding_boxes(
        dict(inside), (2, 2), image_shape=(2, 8, 12, 3)
    )
    theirs = keras.layers.RandomCrop(5, 6, bounding_box_format="xyxy").transform_bounding_boxes(
        dict(inside), (2, 2)
    )
    np.testing.assert_allclose(ours["boxes"], numpy(theirs["boxes"]))
    # Where Keras 3.15 is wrong: x moves by left, y by top; clipped to the window.
    layer = layers.RandomCrop(5, 6, bounding_box_format="xyxy")
    moved = layer.transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), (1, 3), image_shape=(2, 8, 12, 3)
    )
    np.testing.assert_allclose(moved["boxes"][0], [[0, 1, 3, 5], [0, 0, 0, 0], [0, 2, 6, 5]])
    np.testing.assert_array_equal(moved["labels"], [[1, -1, 3], [4, -1, 6]])
    out = layers.RandomCrop(5, 6, seed=1, bounding_box_format="xyxy")(dict(inputs))
    assert out["images"].shape == (*out["segmentation_masks"].shape[:3], 3) == (2, 5, 6, 3)


def keras_draws(name, draws, shape):
    """autoconv's draws as Keras's transformation for ``name`` (tensors, its extra keys)."""
    import torch

    theirs = {key: torch.tensor(value) for key, value in draws.items()}
    if name == "RandomRotation":
        return theirs | {"image_height": shape[1], "image_width": shape[2], "batch_size": shape[0]}
    return theirs | {"input_shape": shape}


CORNERS = np.float32([[[0, 0], [11, 0], [0, 7], [11, 7]]] * 2)
AFFINE_DRAWS = [
    ("RandomTranslation", (0.2, 0.2), {"translations": np.float32([[2.5, -1.0], [-4.0, 3.0]])}),
    ("RandomZoom", (0.3,), {"height_zoom": np.float32([[0.7], [1.3]]),
                            "width_zoom": np.float32([[1.2], [0.8]])}),
    ("RandomRotation", (0.3,), {"angle": np.float32([30.0, -100.0])}),
    ("RandomShear", (0.3, 0.2), {"shear_factor": np.float32([[0.3, -0.2], [-0.1, 0.15]])}),
    ("RandomPerspective", (1.0, 0.4), {
        "apply_perspective": np.array([True, False]), "start_points": CORNERS,
        "end_points": CORNERS * np.float32([[[1.1, 0.9]], [[0.95, 1.2]]]) + np.float32(0.5),
    }),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "draws"), AFFINE_DRAWS)
def test_affine_layers_move_boxes_as_keras_for_the_same_draws(keras, name, args, draws, rng):
    inputs, shape = data(rng), (2, 8, 12, 3)
    ours = getattr(layers, name)(*args, bounding_box_format="xyxy").transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), draws, image_shape=shape
    )
    theirs = getattr(keras.layers, name)(*args, bounding_box_format="xyxy")
    theirs = theirs.transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), keras_draws(name, draws, shape)
    )
    np.testing.assert_allclose(ours["boxes"], numpy(theirs["boxes"]), atol=1e-5)
    np.testing.assert_array_equal(ours["labels"], numpy(theirs["labels"]))


@pytest.mark.parametrize(("name", "args", "draws"), AFFINE_DRAWS)
def test_affine_layers_warp_masks_nearest_with_the_images_draws(name, args, draws, rng):
    inputs = data(rng)
    layer = getattr(layers, name)(
        *args, seed=5, interpolation="bilinear", bounding_box_format="xyxy"
    )
    out = layer(dict(inputs))
    draw = layer.random_transformation((2, 8, 12, 3), np.random.default_rng(5))
    masks = ac.Tensor(inputs["segmentation_masks"])
    expected = layer.transform_images(masks, draw, interpolation="nearest").numpy()
    np.testing.assert_array_equal(out["segmentation_masks"].numpy(), expected)
    assert set(np.unique(expected)) <= {0.0, 1.0, 2.0}
    boxes = layer.transform_bounding_boxes(
        dict(inputs["bounding_boxes"]), draw, image_shape=(2, 8, 12, 3)
    )
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], boxes["boxes"])


@pytest.mark.parametrize(
    ("name", "args"),
    [("RandomContrast", (0.5,)), ("RandomGrayscale", (1.0,)), ("AutoContrast", ())],
)
def test_colour_layers_pass_boxes_and_masks_as_keras(name, args, rng):
    inputs = data(rng)
    layer = getattr(layers, name)(*args, bounding_box_format="xyxy")
    out = layer(dict(inputs))
    assert out["images"].shape == (2, 8, 12, 3)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], inputs["bounding_boxes"]["boxes"])
    np.testing.assert_array_equal(out["segmentation_masks"].numpy(), inputs["segmentation_masks"])


@pytest.mark.parametrize(
    ("name", "args"),
    [("RandomFlip", ()), ("Resizing", (3, 4)), ("CenterCrop", (3, 4)), ("RandomCrop", (3, 4)),
     ("RandomContrast", (0.2,))],
)  # fmt: skip
def test_configs_keep_the_bounding_box_format_where_keras_does(keras, name, args):
    seed = {"seed": 1} if name.startswith("Random") else {}
    ours = getattr(layers, name)(*args, bounding_box_format="yxyx", **seed)
    theirs = getattr(keras.layers, name)(*args, bounding_box_format="yxyx", **seed)
    assert list(ours.get_config()) == list(theirs.get_config())
    assert type(ours).from_config(ours.get_config()).bounding_box_format == "yxyx"


def test_errors_name_what_is_not_supported(rng):
    inputs = data(rng)
    with pytest.raises(ValueError, match="didn't specify a bounding box format"):
        layers.Resizing(4, 4, name="r")(dict(inputs))
    with pytest.raises(NotImplementedError, match="RandomElasticTransform does not transform"):
        layers.RandomElasticTransform(bounding_box_format="xyxy")(dict(inputs))
    with pytest.raises(ValueError, match=r"got the keys \['images', 'masks'\]"):
        layers.RandomFlip()({"images": inputs["images"], "masks": inputs["images"]})
    with pytest.raises(ValueError, match="dict with keys 'boxes' and 'labels'"):
        layers.Resizing(4, 4, bounding_box_format="xyxy", name="r")(
            {"images": inputs["images"], "bounding_boxes": {"boxes": BOXES}}
        )
    with pytest.raises(TypeError, match="or a dict of 'images'"):
        layers.Resizing(4, 4, name="r")([inputs["images"]])


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.RandomFlip("horizontal", seed=1, bounding_box_format="xyxy"),
        lambda: layers.Resizing(4, 4, bounding_box_format="xyxy"),
        lambda: layers.RandomRotation(0.2, seed=2, bounding_box_format="xyxy"),
    ],
    ids=["flip", "resizing", "rotation"],
)
def test_a_dict_on_the_gpu_gives_the_cpus_images_boxes_and_masks(make):
    """Images and masks on the GPU go through the device's ops, the boxes through the host's,
    with the same draws as on the CPU."""
    pytest.importorskip("numba_cuda")
    rng = np.random.default_rng(0)
    images = rng.random((2, 8, 8, 3)).astype(np.float32)
    masks = (rng.random((2, 8, 8, 1)) > 0.5).astype(np.float32)
    boxes = {"boxes": np.array([[[1, 1, 4, 4]], [[2, 0, 7, 5]]], np.float32),
             "labels": np.array([[1], [2]])}  # fmt: skip
    on_cpu = make()({"images": images, "bounding_boxes": boxes, "segmentation_masks": masks},
                    training=True)  # fmt: skip
    on_gpu = make()({"images": ac.Tensor(images).to("cuda"), "bounding_boxes": boxes,
                     "segmentation_masks": ac.Tensor(masks).to("cuda")}, training=True)  # fmt: skip
    assert on_gpu["images"].device == "cuda"
    np.testing.assert_allclose(on_gpu["images"].numpy(), on_cpu["images"].numpy(), atol=1e-5)
    np.testing.assert_allclose(on_gpu["segmentation_masks"].numpy(),
                               on_cpu["segmentation_masks"].numpy(), atol=1e-5)  # fmt: skip
    for key in ("boxes", "labels"):
        gpu, cpu = on_gpu["bounding_boxes"][key], on_cpu["bounding_boxes"][key]
        np.testing.assert_allclose(np.asarray(gpu), np.asarray(cpu), atol=1e-4)
