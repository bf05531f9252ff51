"""keras.utils.bounding_boxes (autoconv/layers/bounding_boxes.py) against Keras's own."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.host_array import HostArray
from autoconv.layers.bounding_boxes import SUPPORTED_FORMATS

bb = ac.utils.bounding_boxes

XYXY = np.array(
    [[[2.0, 3.0, 10.0, 12.0], [-4.0, 1.0, 5.0, 30.0], [7.5, 0.5, 9.0, 4.0]],
     [[0.0, 0.0, 16.0, 20.0], [1.0, 2.0, 1.0, 9.0], [12.0, 14.0, 19.0, 25.0]]],
    dtype=np.float32,
)  # fmt: skip
H, W = 20, 16


def numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


@pytest.mark.parametrize("source", SUPPORTED_FORMATS)
@pytest.mark.parametrize("target", ["xyxy", "center_yxhw", "rel_xywh", "rel_center_xywh", "YXYX"])
def test_convert_format_matches_keras(keras, source, target):
    boxes = np.asarray(bb.convert_format(XYXY, "xyxy", source, height=H, width=W))
    ours = bb.convert_format(boxes, source, target, height=H, width=W)
    theirs = keras.utils.bounding_boxes.convert_format(boxes, source, target, height=H, width=W)
    assert isinstance(ours, HostArray) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, numpy(theirs), rtol=1e-6, atol=1e-6)
    back = bb.convert_format(ours, target, source, height=H, width=W, dtype="float64")
    assert back.dtype == np.float64
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-5)


def test_convert_format_dicts_and_errors(keras):
    data = {"boxes": XYXY[0], "labels": np.array([1, 2, 3])}
    assert bb.convert_format(data, "xyxy", "xywh") is data
    np.testing.assert_allclose(data["boxes"][1], [-4, 1, 9, 29])
    kb = keras.utils.bounding_boxes
    for args, kwargs in [
        ((XYXY[..., :3], "xyxy", "xywh"), {}),
        ((XYXY, "xyxy", "nope"), {}),
        ((XYXY, "xyxy", "rel_xyxy"), {"height": 3}),
    ]:
        with pytest.raises(ValueError) as theirs:
            kb.convert_format(*args, **kwargs)
        with pytest.raises(ValueError) as ours:
            bb.convert_format(*args, **kwargs)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size_matches_keras(keras, fmt):
    boxes = XYXY if fmt == "xyxy" else XYXY / 10.0
    labels = np.array([[1, 2, 3], [4, 5, 6]])
    ours = bb.clip_to_image_size({"boxes": boxes, "labels": labels}, 6, 8, fmt)
    theirs = keras.utils.bounding_boxes.clip_to_image_size(
        {"boxes": boxes, "labels": labels}, 6, 8, fmt
    )
    np.testing.assert_allclose(ours["boxes"], numpy(theirs["boxes"]), rtol=1e-6)
    np.testing.assert_array_equal(ours["labels"], numpy(theirs["labels"]))
    with pytest.raises(NotImplementedError, match="xywh"):
        bb.clip_to_image_size({"boxes": boxes}, 6, 8, "xywh")
    with pytest.raises(ValueError, match="`height` and `width` must be set"):
        bb.clip_to_image_size({"boxes": boxes}, bounding_box_format="xyxy")


def test_crop_pad_and_affine_transform_match_keras(keras):
    kb = keras.utils.bounding_boxes
    np.testing.assert_allclose(bb.crop(XYXY, 2, 3, 10, 8), numpy(kb.crop(XYXY, 2, 3, 10, 8)))
    np.testing.assert_allclose(bb.pad(XYXY, 2, 3), numpy(kb.pad(XYXY, 2, 3)))
    angle, tx, ty = np.float32([30.0, -75.0]), np.float32([0.1, -0.2]), np.float32([0.0, 0.3])
    scale, sx, sy = np.float32([1.2, 0.8]), np.float32([10.0, 0.0]), np.float32([0.0, -5.0])
    args = (angle, tx, ty, scale, sx, sy, H, W)
    ours = bb.affine_transform(XYXY, *args, center_x=0.3)
    theirs = kb.affine_transform(XYXY, *args, center_x=0.3)
    np.testing.assert_allclose(ours, numpy(theirs), rtol=1e-5, atol=1e-4)
    for function in (bb.crop, bb.pad):
        with pytest.raises(NotImplementedError, match="xyxy"):
            function(XYXY, 1, 1, 4, 4, bounding_box_format="yxyx")


@pytest.mark.parametrize("encoding", ["center_yxhw", "center_xywh"])
@pytest.mark.parametrize("variance", [None, [0.1, 0.1, 0.2, 0.2]])
def test_deltas_round_trip_and_match_keras(keras, encoding, variance):
    kb = keras.utils.bounding_boxes
    anchors = np.float32([[0, 0, 8, 8], [4, 4, 12, 16], [2, 6, 14, 9]])
    boxes = np.abs(XYXY) + np.float32([0, 0, 1, 1])
    args = (anchors, boxes, "xyxy", "rel_xyxy", encoding, variance, (H, W, 3))
    ours = bb.encode_box_to_deltas(*args)
    np.testing.assert_allclose(ours, numpy(kb.encode_box_to_deltas(*args)), rtol=1e-5, atol=1e-6)
    back = bb.decode_deltas_to_boxes(
        anchors, ours, "xyxy", "rel_xyxy", encoding, variance, (H, W, 3)
    )
    theirs = kb.decode_deltas_to_boxes(
        anchors,
        keras.ops.convert_to_tensor(np.asarray(ours)),
        "xyxy",
        "rel_xyxy",
        encoding,
        variance,
        (H, W, 3),
    )
    np.testing.assert_allclose(back, numpy(theirs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back, boxes, rtol=1e-4, atol=1e-5)
    levels = bb.decode_deltas_to_boxes(
        {"p3": anchors}, {"p3": ours[0]}, "xyxy", "rel_xyxy", encoding, variance, (H, W, 3)
    )
    np.testing.assert_allclose(levels["p3"], back[0])
    with pytest.raises(ValueError, match="`variance` must be length 4"):
        bb.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", variance=[1, 2])
    with pytest.raises(ValueError, match="`encoded_format` should be"):
        bb.decode_deltas_to_boxes(anchors, boxes, "xyxy", "xyxy", encoded_format="xyxy")


@pytest.mark.parametrize(("rank1", "rank2"), [(2, 2), (3, 3), (3, 2), (2, 3)])
@pytest.mark.parametrize("masking", [False, True])
def test_compute_iou_matches_keras(keras, rank1, rank2, masking):
    boxes1 = XYXY if rank1 == 3 else XYXY[0]
    boxes2 = XYXY[:, ::-1] - np.float32(2.0) if rank2 == 3 else XYXY[1, :2] - np.float32(40.0)
    args = (boxes1, boxes2, "xyxy", masking, -3)
    if masking and rank1 != rank2:
        return
    ours = bb.compute_iou(*args)
    theirs = keras.utils.bounding_boxes.compute_iou(*args)
    np.testing.assert_allclose(ours, numpy(theirs), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="`image_shape` argument must be provided"):
        bb.compute_iou(boxes1, boxes2, "rel_xyxy")
    with pytest.raises(ValueError, match="expects boxes1 to be batched"):
        bb.compute_iou(boxes1[0, 0] if rank1 == 3 else boxes1[0], boxes2, "xyxy")


@pytest.mark.parametrize("fmt", ["xyxy", "center_xywh"])
def test_compute_ciou_matches_keras(keras, fmt):
    boxes1 = np.asarray(bb.convert_format(XYXY, "xyxy", fmt))
    boxes2 = np.asarray(bb.convert_format(XYXY[::-1] + np.float32(1.5), "xyxy", fmt))
    ours = bb.compute_ciou(boxes1, boxes2, fmt)
    theirs = keras.utils.bounding_boxes.compute_ciou(boxes1, boxes2, fmt)
    np.testing.assert_allclose(ours, numpy(theirs), rtol=1e-5, atol=1e-6)
