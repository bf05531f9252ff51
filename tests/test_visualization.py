"""``autoconv.visualization`` against Keras's ``keras.visualization``: the masks drawn, the
galleries' axes and the arrays in them, the errors. Keras draws boxes with OpenCV, which is not
installed: its ``draw_bounding_boxes`` runs here on a stand-in ``cv2`` that draws with
autoconv's rectangle and text, so that everything around the drawing (formats, casts, labels,
their places) is compared; the rectangles are checked against the pixels OpenCV's source
computes and its users report."""

from __future__ import annotations

import importlib
import inspect
import types

import numpy as np
import pytest

import autoconv as ac
from autoconv import visualization as vis
from autoconv.visualization import _pixel, _put_text, _rectangle

NAMES = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]


@pytest.fixture
def plt():
    """matplotlib's pyplot, drawing off screen, no figure left open; without matplotlib the
    galleries' tests skip and the drawing functions' run."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.close("all")
    yield pyplot
    pyplot.close("all")


@pytest.fixture
def keras_cv2(keras, monkeypatch):
    """Keras's drawing module with a ``cv2`` that draws as autoconv does; its calls recorded."""
    module = importlib.import_module("keras.src.visualization.draw_bounding_boxes")
    calls = []

    def rectangle(img, pt1, pt2, color, thickness):
        calls.append(("rectangle", pt1, pt2, tuple(color), thickness))
        _rectangle(img, pt1, pt2, _pixel(color, img.shape[-1]), thickness)

    def put_text(img, text, org, fontFace, fontScale, color, thickness):
        calls.append(("text", text, org, fontScale, tuple(color), thickness))
        _put_text(img, text, org, fontScale, _pixel(color, img.shape[-1]), thickness)

    fake = types.SimpleNamespace(rectangle=rectangle, putText=put_text, FONT_HERSHEY_SIMPLEX=0)
    monkeypatch.setattr(module, "cv2", fake)
    return calls


def gallery(fig):
    """What a gallery shows: its axes' images, titles, size and legends."""
    return {
        "images": [ax.images[0].get_array() for ax in fig.axes],
        "titles": [ax.get_title() for ax in fig.axes],
        "size": tuple(fig.get_size_inches()),
        "legends": [[t.get_text() for t in legend.texts] for legend in fig.legends],
    }


def assert_same_gallery(ours, theirs):
    assert len(ours["images"]) == len(theirs["images"])
    for a, b in zip(ours["images"], theirs["images"], strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert ours["titles"] == theirs["titles"]
    assert ours["size"] == theirs["size"]
    assert ours["legends"] == theirs["legends"]


def run_gallery(function, *args, **kwargs):
    import matplotlib.pyplot as plt

    plt.close("all")
    function(*args, show=False, **kwargs)
    shown = gallery(plt.gcf())
    plt.close("all")
    return shown


def test_names_and_signatures_are_keras(keras):
    assert "visualization" in ac.__all__ and ac.visualization is vis
    assert sorted(vis.__all__) == NAMES
    for name in NAMES:
        ours = inspect.signature(getattr(vis, name)).parameters
        theirs = inspect.signature(getattr(keras.visualization, name)).parameters
        assert [(p.name, p.default, p.kind) for p in ours.values()] == [
            (p.name, p.default, p.kind) for p in theirs.values()
        ], name


# ------------------------------------------------------------------ draw_segmentation_masks
def masks_case(channels_first=False, dtype="float32", classes=4, shape=(2, 5, 6, 3), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, shape).astype(dtype)
    masks = rng.integers(-1, classes, (*shape[:3], 1)).astype("int32")
    if channels_first:
        images, masks = images.transpose(0, 3, 1, 2), masks.transpose(0, 3, 1, 2)
    return images, masks


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"blend": False},
        {"alpha": 0.35},
        {"alpha": 1.0, "ignore_index": 2},
        {"ignore_index": 0},
        {"blend": False, "ignore_index": 0},
        {"color_mapping": {0: (9, 8, 7), 1: (255, 0, 0), 2: (0, 255, 0), 3: (1, 2, 250)}},
        {"data_format": "channels_first"},
        {"dtype": "uint8"},
        {"classes": 7},
    ],
)
def test_draw_segmentation_masks_matches_keras(keras, options):
    options = dict(options)
    case = {k: options.pop(k) for k in ("dtype", "classes") if k in options}
    images, masks = masks_case(options.get("data_format") == "channels_first", **case)
    num_classes = case.get("classes", 4)
    ours = vis.draw_segmentation_masks(images, masks, num_classes=num_classes, **options)
    theirs = keras.visualization.draw_segmentation_masks(
        images, masks, num_classes=num_classes, **options
    )
    theirs = keras.ops.convert_to_numpy(theirs)
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_draw_segmentation_masks_inputs():
    images, masks = masks_case()
    expected = vis.draw_segmentation_masks(images, masks, num_classes=4)
    # a Tensor, and masks (N, H, W) as Keras's docstring has them
    np.testing.assert_array_equal(
        vis.draw_segmentation_masks(ac.Tensor(images), masks[..., 0], num_classes=4), expected
    )
    # num_classes inferred as Keras infers it: the largest value, whose pixels stay unpainted
    inferred = vis.draw_segmentation_masks(images, masks)
    np.testing.assert_array_equal(inferred, vis.draw_segmentation_masks(images, masks, 3))
    top = masks[..., 0] == 3
    blended = (images * np.float32(0.2) + images * np.float32(0.8)).astype("uint8")
    np.testing.assert_array_equal(inferred[top], blended[top])


def test_draw_segmentation_masks_errors_match_keras(keras):
    images, masks = masks_case()
    for args in ((images[0], masks), (images, masks.astype("float32")), (images, masks > 0)):
        with pytest.raises(Exception) as theirs:
            keras.visualization.draw_segmentation_masks(*args, num_classes=4)
        with pytest.raises(type(theirs.value)) as ours:
            vis.draw_segmentation_masks(*args, num_classes=4)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match=r"segmentation_masks.shape=\(2, 5, 6, 2\)"):
        vis.draw_segmentation_masks(images, np.concatenate([masks, masks], -1))
    with pytest.raises(KeyError):  # a colour for every class, as Keras asks
        vis.draw_segmentation_masks(images, masks, num_classes=4, color_mapping={1: (1, 2, 3)})


# ----------------------------------------------------------------------- cv2's rectangles
def drawn(thickness, size=(10, 10), pt1=(0, 4), pt2=(9, 4)):
    image = np.zeros((*size, 1), np.uint8)
    _rectangle(image, pt1, pt2, np.array([1], np.uint8), thickness)
    return image[..., 0]


def test_rectangle_lines_are_opencvs():
    # OpenCV draws a horizontal side of thickness 1..6 1, 3, 5, 5, 7, 7 pixels wide
    for thickness, width in zip(range(7), (1, 1, 3, 5, 5, 7, 7), strict=True):
        image = drawn(thickness, (20, 12), (0, 9), (11, 9))
        assert image[:, 5].sum() == width, thickness
        assert image[9 - width // 2 : 9 + width // 2 + 1].all()
    # cv2.line(np.zeros((10, 10)), (0, 4), (9, 4), 1, 2), as OpenCV prints it
    expected = np.zeros((10, 10), np.uint8)
    expected[3:6] = 1
    np.testing.assert_array_equal(drawn(2), expected)


def test_rectangle_corners_fill_and_clipping():
    image = drawn(2, (12, 12), (3, 3), (8, 8))
    assert image[3, 2] and image[2, 3] and not image[2, 2]  # OpenCV's rounded corner
    assert image[2:10, 2:10].sum() == 64 - 4 - 4  # all but the 4 outer corners and 2x2 inside
    np.testing.assert_array_equal(
        drawn(1, (12, 12), (8, 8), (3, 3)), drawn(0, (12, 12), (3, 3), (8, 8))
    )
    thin = drawn(1, (12, 12), (3, 3), (8, 8))
    assert thin.sum() == 20 and thin[3, 3:9].all() and thin[3:9, 8].all()
    filled = drawn(-1, (12, 12), (8, 3), (3, 8))
    assert filled.sum() == 36 and filled[3:9, 3:9].all()
    clipped = drawn(3, (6, 6), (-4, -4), (2, 2))
    # the corner (2, 2) rounded by OpenCV's disc of radius 2, a diamond: (3, 3) but not beyond
    assert clipped[:5, :5].sum() == 25 - 3 and clipped[3, 3] and not clipped[3:, 3:].all()
    assert drawn(4, (6, 6), (10, 10), (20, 20)).sum() == 0


def test_text_sits_on_its_baseline():
    image = np.zeros((60, 120, 3), np.uint8)
    color = _pixel((10, 300, -4), 3)
    assert color.tolist() == [10, 255, 0]
    _put_text(image, "HH", (5, 40), 1.0, color, 1)
    rows = np.nonzero(image.any(axis=(1, 2)))[0]
    columns = np.nonzero(image.any(axis=(0, 2)))[0]
    assert rows[-1] == 39 and 19 <= 40 - rows[0] <= 23  # capitals 21 pixels, as cv2's
    assert 5 <= columns[0] <= 8
    assert set(map(tuple, image.reshape(-1, 3))) == {(0, 0, 0), (10, 255, 0)}  # no antialias
    bold = np.zeros_like(image)
    _put_text(bold, "HH", (5, 40), 1.0, color, 3)
    assert bold.any(-1).sum() > image.any(-1).sum()
    small = np.zeros_like(image)
    _put_text(small, "HH", (5, 40), 0.5, color, 1)
    assert 9 <= 40 - np.nonzero(small.any(axis=(1, 2)))[0][0] <= 12


# ---------------------------------------------------------------------- draw_bounding_boxes
def boxes_case(fmt="xyxy", dtype="float32", confidences=False, high=1.0, seed=0):
    rng = np.random.default_rng(seed)
    images = (rng.uniform(0, high, (2, 48, 64, 3))).astype(dtype)
    xyxy = np.array(
        [
            [[4, 30, 40, 45], [10.7, 3.2, 60.9, 20.5], [0, 0, 5, 5]],
            [[20, 25, 50, 47], [-5, 10, 30, 70], [1, 1, 2, 2]],
        ],
        "float32",
    )
    boxes = ac.layers.bounding_boxes.convert_format(xyxy, "xyxy", fmt, 48, 64) if fmt else xyxy
    out = {"boxes": np.asarray(boxes), "labels": np.array([[0, 1, -1], [2, 0, 1]])}
    if confidences:
        out["confidences"] = rng.uniform(0, 1, (2, 3)).astype("float32")
    return images, out


@pytest.mark.parametrize(
    "case, options",
    [
        ({}, {}),
        ({}, {"class_mapping": {0: "cat", 2: "dog"}}),
        ({"confidences": True}, {"class_mapping": {0: "cat", 1: "x"}, "font_scale": 0.5}),
        ({"fmt": "rel_xyxy"}, {"line_thickness": 1, "color": (255, 0, 0)}),
        ({"fmt": "center_xywh"}, {"line_thickness": 3, "class_mapping": {1: "a"}}),
        ({"fmt": "yxyx", "high": 255.0}, {"line_thickness": -1}),
        ({"dtype": "uint8", "high": 255}, {"text_thickness": None, "line_thickness": 4,
                                           "class_mapping": {0: "zero", 1: "one"}}),
        ({"high": 900.0}, {"text_thickness": 2, "class_mapping": {0: "a"}, "font_scale": 0.3}),
    ],
)  # fmt: skip
def test_draw_bounding_boxes_matches_keras(keras, keras_cv2, case, options):
    images, boxes = boxes_case(**case)
    options = {"bounding_box_format": case.get("fmt", "xyxy"), **options}
    theirs = keras.visualization.draw_bounding_boxes(images, dict(boxes), **options)
    ours = vis.draw_bounding_boxes(images, dict(boxes), **options)
    assert ours.dtype == theirs.dtype == np.uint8 and ours.shape == images.shape
    np.testing.assert_array_equal(ours, theirs)
    assert sum(call[0] == "rectangle" for call in keras_cv2) == 5  # the -1 label: no box
    as_tensors = {key: ac.Tensor(value) for key, value in boxes.items()}
    np.testing.assert_array_equal(
        vis.draw_bounding_boxes(ac.Tensor(images), as_tensors, **options), ours
    )


def test_draw_bounding_boxes_channels_and_formats():
    images, boxes = boxes_case()
    ours = vis.draw_bounding_boxes(images, boxes, "xyxy", class_mapping={0: "a"})
    first = vis.draw_bounding_boxes(
        images.transpose(0, 3, 1, 2), boxes, "xyxy", class_mapping={0: "a"},
        data_format="channels_first",
    )  # fmt: skip
    np.testing.assert_array_equal(first, ours.transpose(0, 3, 1, 2))
    gray = vis.draw_bounding_boxes(images[..., :1], boxes, "xyxy", color=(7, 8, 9))
    assert set(np.unique(gray)) >= {7} and 8 not in np.unique(gray[images[..., :1] == 0])
    rgba = vis.draw_bounding_boxes(np.concatenate([images, images[..., :1]], -1), boxes, "xyxy")
    assert rgba[0, 30, 4].tolist() == [128, 128, 128, 0]  # cv2's Scalar: a missing value is 0
    with pytest.raises(ValueError, match="1 to 4 channels"):
        vis.draw_bounding_boxes(np.zeros((1, 8, 8, 5)), boxes, "xyxy")
    with pytest.raises(TypeError):  # cv2 takes integer thicknesses only
        vis.draw_bounding_boxes(images, boxes, "xyxy", line_thickness=1.5)


@pytest.mark.parametrize(
    "images, boxes",
    [
        (np.zeros((8, 8, 3)), {"boxes": np.zeros((1, 4)), "labels": np.zeros(1)}),
        (np.zeros((1, 8, 8, 3)), [np.zeros((1, 1, 4))]),
        (np.zeros((1, 8, 8, 3)), {"boxes": np.zeros((1, 1, 4))}),
    ],
)
def test_draw_bounding_boxes_errors_match_keras(keras, keras_cv2, images, boxes):
    with pytest.raises(Exception) as theirs:
        keras.visualization.draw_bounding_boxes(images, boxes, "xyxy")
    with pytest.raises(type(theirs.value)) as ours:
        vis.draw_bounding_boxes(images, boxes, "xyxy")
    assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------------------ galleries
@pytest.mark.parametrize(
    "count, options",
    [
        (1, {}),
        (4, {}),
        (5, {"value_range": (0, 1)}),
        (6, {"rows": 2, "cols": 3, "scale": 1.5}),
        (3, {"rows": 1, "cols": 3, "y_true": [0, 1, 2], "label_map": {0: "a", 1: "b"}}),
        (4, {"cols": 1, "y_pred": np.array([1, 1]), "y_true": np.array([0, 1, 0, 7]),
             "label_map": {0: "a", 1: "b"}}),
        (2, {"value_range": (-1.0, 1.0), "legend_handles": "patches"}),
    ],
)  # fmt: skip
def test_plot_image_gallery_matches_keras(keras, plt, count, options):
    from matplotlib import patches

    if options.get("legend_handles") == "patches":
        options["legend_handles"] = [patches.Patch(color="red", label="red one")]
    high = options.get("value_range", (0, 255))[1]
    images = np.random.default_rng(count).uniform(0, high, (count, 5, 7, 3)).astype("float32")
    theirs = run_gallery(keras.visualization.plot_image_gallery, images, **options)
    ours = run_gallery(vis.plot_image_gallery, ac.Tensor(images), **options)
    assert_same_gallery(ours, theirs)


def test_plot_image_gallery_path_and_channels_first(plt, tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (4, 5, 7, 3)).astype("float32")
    path = tmp_path / "gallery.png"
    vis.plot_image_gallery(images, path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not plt.get_fignums()
    ours = run_gallery(vis.plot_image_gallery, images.transpose(0, 3, 1, 2),
                       data_format="channels_first")  # fmt: skip
    assert_same_gallery(ours, run_gallery(vis.plot_image_gallery, images))


@pytest.mark.parametrize(
    "images, options",
    [
        (np.zeros((2, 4, 4, 3)), {"path": "x.png", "show": True}),
        (np.zeros((2, 4, 4, 3)), {"y_true": [0, 1]}),
        (np.zeros((4, 4, 3)), {}),
    ],
)
def test_plot_image_gallery_errors_match_keras(keras, plt, images, options):
    with pytest.raises(Exception) as theirs:
        keras.visualization.plot_image_gallery(images, **{"show": False, **options})
    with pytest.raises(type(theirs.value)) as ours:
        vis.plot_image_gallery(images, **{"show": False, **options})
    assert str(ours.value) == str(theirs.value)


def test_galleries_without_matplotlib_say_how_to_get_it(without_matplotlib):
    images = np.zeros((1, 4, 4, 3))
    for call in (
        lambda: vis.plot_image_gallery(images),
        lambda: vis.plot_bounding_box_gallery(images, "xyxy"),
        lambda: vis.plot_segmentation_mask_gallery(images, 2),
    ):
        with pytest.raises(ImportError, match=r'needs matplotlib: pip install "autoconv\[viz\]"'):
            call()


@pytest.mark.parametrize(
    "options",
    [
        {"legend": True},
        {"legend": True, "value_range": (0, 1), "rows": 1, "cols": 2},
        {"y_true": "boxes", "class_mapping": {0: "cat", 1: "dog"}},
        {"y_true": "boxes", "y_pred": "boxes", "line_thickness": 1, "font_scale": 0.4,
         "ground_truth_mapping": {0: "t"}, "prediction_mapping": {1: "p"}, "legend": True},
        {"y_pred": "boxes", "text_thickness": 3, "class_mapping": {2: "z"},
         "true_color": (1, 2, 3), "pred_color": (250, 0, 9), "y_true": "boxes"},
    ],
)  # fmt: skip
def test_plot_bounding_box_gallery_matches_keras(keras, keras_cv2, plt, options):
    images, boxes = boxes_case(high=255.0)
    options = {k: dict(boxes) if v == "boxes" else v for k, v in options.items()}
    theirs = run_gallery(keras.visualization.plot_bounding_box_gallery, images, "xyxy", **options)
    ours = run_gallery(vis.plot_bounding_box_gallery, images, "xyxy", **options)
    assert_same_gallery(ours, theirs)
    with pytest.raises(ValueError, match="Only pass `legend` OR `legend_handles`"):
        vis.plot_bounding_box_gallery(images, "xyxy", legend=True, legend_handles=["x"])
    with pytest.raises(ValueError, match="must be batched 4D tensor"):
        vis.plot_bounding_box_gallery(images[0], "xyxy")


@pytest.mark.parametrize(
    "options",
    [
        {"y_true": True},
        {"y_pred": True, "alpha": 0.4},
        {"y_true": True, "y_pred": True, "value_range": (0, 300)},
        {"y_true": True, "blend": False, "ignore_index": 0},
        {"y_true": True, "color_mapping": {0: (0, 0, 0), 1: (1, 1, 1), 2: (9, 9, 9), 3: (5, 5, 5)}},
        {"y_true": True, "data_format": "channels_first"},
    ],
)
def test_plot_segmentation_mask_gallery_matches_keras(keras, plt, options):
    first = options.get("data_format") == "channels_first"
    images, masks = masks_case(first, shape=(2, 5, 6, 3))
    _, other = masks_case(first, shape=(2, 5, 6, 3), seed=1)
    options = {**options}
    for key, value in (("y_true", masks), ("y_pred", other)):
        if key in options:
            options[key] = value
    theirs = run_gallery(keras.visualization.plot_segmentation_mask_gallery, images, 4, **options)
    ours = run_gallery(vis.plot_segmentation_mask_gallery, images, 4, **options)
    assert_same_gallery(ours, theirs)
