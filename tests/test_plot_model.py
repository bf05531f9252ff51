"""plot_model and model_to_dot: Keras 3.15's labels and edges (keras/src/utils/
model_visualization.py; compared with Keras's own model_to_dot where pydot and Keras are
installed), DOT files, pictures drawn with Pillow, and the errors before anything is written."""

from __future__ import annotations

import os
import re
import sys
import types

import pytest
from PIL import Image

import autoconv as ac
from autoconv.plot_model import model_graph, model_to_dot, plot_model, to_dot

FLAGS = ("show_shapes", "show_dtype", "show_layer_activations", "show_trainable")
ALL = dict.fromkeys(FLAGS, True)


# The same models in autoconv and in Keras (`k` is either module: their APIs are the same).
def sequential(k):
    return k.Sequential(
        [
            k.Input((8,)),
            k.layers.Dense(4, activation="relu", name="d1"),
            k.layers.Dropout(0.5, name="drop"),
            k.layers.Dense(2, activation="softmax", name="d2"),
        ],
        name="seq",
    )


def two_inputs_two_outputs(k):
    """Two inputs (one int32), a merge (Add), a branch into two Dense merged again
    (Concatenate), two outputs; `y` frozen."""
    a, b = k.Input((8,), name="a"), k.Input((8,), name="b", dtype="int32")
    x = k.layers.Dense(4, activation="relu", name="x")(a)
    y = k.layers.Dense(4, name="y")(b)
    added = k.layers.Add(name="add")([x, y])
    c1, c2 = k.layers.Dense(3, name="c1")(added), k.layers.Dense(3, name="c2")(added)
    joined = k.layers.Concatenate(name="cat")([c1, c2])
    o1 = k.layers.Dense(1, activation="sigmoid", name="o1")(joined)
    model = k.Model([a, b], [o1, k.layers.Dense(2, name="o2")(added)], name="two")
    model.get_layer("y").trainable = False
    return model


def nested(k):
    """A functional model and a Sequential, each called inside a functional model."""
    inner_input = k.Input((4,), name="inner_in")
    inner = k.Model(inner_input, k.layers.Dense(3, name="inner_d")(inner_input), name="inner")
    stack = k.Sequential(
        [k.Input((3,)), k.layers.Dense(2, name="s1"), k.layers.Dense(2, name="s2")],
        name="subseq",
    )
    inputs = k.Input((4,), name="outer_in")
    hidden = stack(inner(k.layers.Dense(4, name="pre")(inputs)))
    return k.Model(inputs, k.layers.Dense(1, name="post")(hidden), name="outer")


def sequential_in_sequential(k):
    inner = k.Sequential(
        [k.Input((4,)), k.layers.Dense(3, name="i1"), k.layers.Dense(3, name="i2")], name="in_seq"
    )
    return k.Sequential([k.Input((4,)), inner, k.layers.Dense(2, name="last")], name="outer_seq")


MODELS = [sequential, two_inputs_two_outputs, nested, sequential_in_sequential]


def parse(dot):
    """(boxes: each the texts of its table cells, edges: (source title, destination title),
    clusters: their names) of DOT text as Keras's model_to_dot writes it."""
    titles, boxes = {}, []
    for node, label in re.findall(
        r"^(\d+) \[label=(<.*>), fontname=Helvetica, border=0", dot, re.M
    ):
        cells = [re.sub(r"<[^>]+>", "", td) for td in re.findall(r"<td[^>]*>(.*?)</td>", label)]
        titles[node] = cells[0]
        boxes.append(cells)
    edges = [
        (titles[a], titles[b]) for a, b in re.findall(r"^(\d+) -> (\d+) \[penwidth=2\];", dot, re.M)
    ]
    return boxes, edges, re.findall(r"^subgraph cluster_(\w+) \{", dot, re.M)


def dot_text(model, **flags):
    return to_dot(model_graph(model, **{"show_layer_names": True, **flags}))


# ---------------------------------------------------------------------------- labels
# What Keras 3.15's model_to_dot shows for these models (its output, cell by cell).
FUNCTIONAL_BOXES = [
    ["a (InputLayer)", "Output shape: (None, 8)", "Output dtype: float32"],
    ["b (InputLayer)", "Output shape: (None, 8)", "Output dtype: int32"],
    ["x (Dense)", "Activation: relu", "Input shape: (None, 8)", "Output shape: (None, 4)",
     "Output dtype: float32", "Trainable"],
    ["y (Dense)", "Activation: linear", "Input shape: (None, 8)", "Output shape: (None, 4)",
     "Output dtype: float32", "Non-trainable"],
    ["add (Add)", "Input shape: [(None, 4), (None, 4)]", "Output shape: (None, 4)",
     "Output dtype: float32"],
    ["c1 (Dense)", "Activation: linear", "Input shape: (None, 4)", "Output shape: (None, 3)",
     "Output dtype: float32", "Trainable"],
    ["c2 (Dense)", "Activation: linear", "Input shape: (None, 4)", "Output shape: (None, 3)",
     "Output dtype: float32", "Trainable"],
    ["cat (Concatenate)", "Input shape: [(None, 3), (None, 3)]", "Output shape: (None, 6)",
     "Output dtype: float32"],
    ["o1 (Dense)", "Activation: sigmoid", "Input shape: (None, 6)", "Output shape: (None, 1)",
     "Output dtype: float32", "Trainable"],
    ["o2 (Dense)", "Activation: linear", "Input shape: (None, 4)", "Output shape: (None, 2)",
     "Output dtype: float32", "Trainable"],
]  # fmt: skip
FUNCTIONAL_EDGES = [
    ("a (InputLayer)", "x (Dense)"), ("b (InputLayer)", "y (Dense)"), ("x (Dense)", "add (Add)"),
    ("y (Dense)", "add (Add)"), ("add (Add)", "c1 (Dense)"), ("add (Add)", "c2 (Dense)"),
    ("c1 (Dense)", "cat (Concatenate)"), ("c2 (Dense)", "cat (Concatenate)"),
    ("cat (Concatenate)", "o1 (Dense)"), ("add (Add)", "o2 (Dense)"),
]  # fmt: skip
SEQUENTIAL_BOXES = [
    ["d1 (Dense)", "Activation: relu", "Input shape: (None, 8)", "Output shape: (None, 4)",
     "Output dtype: float32", "Trainable"],
    ["drop (Dropout)", "Input shape: (None, 4)", "Output shape: (None, 4)",
     "Output dtype: float32"],
    ["d2 (Dense)", "Activation: softmax", "Input shape: (None, 4)", "Output shape: (None, 2)",
     "Output dtype: float32", "Trainable"],
]  # fmt: skip
NESTED_BOXES = [
    ["outer_in (InputLayer)", "Output shape: (None, 4)", "Output dtype: float32"],
    ["pre (Dense)", "Activation: linear", "Input shape: (None, 4)", "Output shape: (None, 4)",
     "Output dtype: float32", "Trainable"],
    ["inner (Functional)", "Input shape: (None, 4)", "Output shape: (None, 3)",
     "Output dtype: float32", "Trainable"],
    ["subseq (Sequential)", "Input shape: (None, 3)", "Output shape: (None, 2)",
     "Output dtype: float32", "Trainable"],
    ["post (Dense)", "Activation: linear", "Input shape: (None, 2)", "Output shape: (None, 1)",
     "Output dtype: float32", "Trainable"],
]  # fmt: skip


SEQUENTIAL_EDGES = [("d1 (Dense)", "drop (Dropout)"), ("drop (Dropout)", "d2 (Dense)")]
NESTED_EDGES = [
    ("outer_in (InputLayer)", "pre (Dense)"), ("pre (Dense)", "inner (Functional)"),
    ("inner (Functional)", "subseq (Sequential)"), ("subseq (Sequential)", "post (Dense)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "boxes", "edges"),
    [
        (sequential, SEQUENTIAL_BOXES, SEQUENTIAL_EDGES),
        (two_inputs_two_outputs, FUNCTIONAL_BOXES, FUNCTIONAL_EDGES),
        (nested, NESTED_BOXES, NESTED_EDGES),
    ],
    ids=["sequential", "functional", "nested"],
)
def test_every_flag_gives_keras_labels_and_edges(make, boxes, edges):
    assert parse(dot_text(make(ac), **ALL)) == (boxes, edges, [])


def test_expand_nested_draws_the_nested_layers_and_connects_them():
    boxes, edges, clusters = parse(dot_text(nested(ac), expand_nested=True))
    assert [cells[0] for cells in boxes] == [
        "outer_in (InputLayer)", "pre (Dense)", "inner_in (InputLayer)", "inner_d (Dense)",
        "s1 (Dense)", "s2 (Dense)", "post (Dense)",
    ]  # fmt: skip
    assert clusters == ["inner", "subseq"]
    assert edges == [
        ("inner_in (InputLayer)", "inner_d (Dense)"),  # inside `inner`
        ("s1 (Dense)", "s2 (Dense)"),  # inside `subseq`
        ("outer_in (InputLayer)", "pre (Dense)"),
        ("pre (Dense)", "inner_in (InputLayer)"),  # into a functional model: its Input
        ("inner_d (Dense)", "s1 (Dense)"),  # out of it, into a Sequential's first layer
        ("s2 (Dense)", "post (Dense)"),
    ]
    text = dot_text(sequential_in_sequential(ac), expand_nested=True)
    _, edges, clusters = parse(text)
    assert clusters == ["in_seq"]
    assert 'subgraph cluster_in_seq {\nstyle=dashed;\nlabel="in_seq";\nlabeljust=l;' in text
    assert edges == [("i1 (Dense)", "i2 (Dense)"), ("i2 (Dense)", "last (Dense)")]
    _, edges, clusters = parse(dot_text(sequential_in_sequential(ac)))
    assert clusters == [] and edges == [("in_seq (Sequential)", "last (Dense)")]


# Each flag alone, for three boxes of the functional model (Keras's cells for each).
ONE_FLAG = {
    None: {"a": ["a (InputLayer)"], "y": ["y (Dense)"], "add": ["add (Add)"]},
    "show_shapes": {
        "a": ["a (InputLayer)", "Output shape: (None, 8)"],
        "y": ["y (Dense)", "Input shape: (None, 8)", "Output shape: (None, 4)"],
        "add": ["add (Add)", "Input shape: [(None, 4), (None, 4)]", "Output shape: (None, 4)"],
    },
    "show_dtype": {
        "b": ["b (InputLayer)", "Output dtype: int32"],
        "y": ["y (Dense)", "Output dtype: float32"],
        "add": ["add (Add)", "Output dtype: float32"],
    },
    "show_layer_activations": {
        "a": ["a (InputLayer)"],
        "x": ["x (Dense)", "Activation: relu"],
        "y": ["y (Dense)", "Activation: linear"],
    },
    "show_trainable": {
        "a": ["a (InputLayer)"],  # no weights: no cell
        "x": ["x (Dense)", "Trainable"],
        "y": ["y (Dense)", "Non-trainable"],
    },
}


@pytest.mark.parametrize("flag", list(ONE_FLAG))
def test_each_flag_adds_its_cells(flag):
    boxes, _, _ = parse(dot_text(two_inputs_two_outputs(ac), **({flag: True} if flag else {})))
    by_name = {cells[0].split(" ")[0]: cells for cells in boxes}
    for name, cells in ONE_FLAG[flag].items():
        assert by_name[name] == cells


def test_label_markup_is_keras():
    """The HTML table Keras's make_layer_label builds, byte for byte: colspan counts the
    flags (2 for shapes), names are bold, a frozen layer's cell is firebrick."""
    dot = dot_text(two_inputs_two_outputs(ac), **ALL)
    label = re.search(r"label=(<<table.*?y</b> \(Dense\).*?</table>>)", dot).group(1)
    assert label == (
        '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10"><tr>'
        '<td colspan="4" bgcolor="black"><font point-size="16" color="white"><b>y</b> (Dense)'
        '</font></td></tr><tr><td bgcolor="white" colspan="4"><font point-size="14">'
        "Activation: <b>linear</b></font></td></tr><tr>"
        '<td bgcolor="white"><font point-size="14">Input shape: <b>(None, 8)</b></font></td>'
        '<td bgcolor="white"><font point-size="14">Output shape: <b>(None, 4)</b></font></td>'
        '<td bgcolor="white"><font point-size="14">Output dtype: <b>float32</b></font></td>'
        '<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b>'
        "</font></td></tr></table>>"
    )
    untitled = dot_text(sequential(ac), show_layer_names=False)
    assert '<font point-size="16" color="white"><b>Dense</b></font>' in untitled
    assert "d1" not in untitled


def test_ops_subclassed_models_and_shared_layers():
    inputs = ac.Input((8,), name="a")
    shared = ac.layers.Dense(8, name="shared")
    hidden = shared(shared(inputs * 2))
    outputs = ac.layers.Add(name="twice")([hidden, hidden])
    boxes, edges, _ = parse(dot_text(ac.Model(inputs, outputs), show_shapes=True))
    assert boxes[1] == ["multiply (Multiply)", "Input shape: (None, 8)", "Output shape: (None, 8)"]
    # One box for the layer called twice; an edge between two boxes once, as Keras's add_edge.
    assert [cells[0] for cells in boxes] == [
        "a (InputLayer)",
        "multiply (Multiply)",
        "shared (Dense)",
        "twice (Add)",
    ]
    assert edges == [
        ("a (InputLayer)", "multiply (Multiply)"),
        ("multiply (Multiply)", "shared (Dense)"),
        ("shared (Dense)", "shared (Dense)"),
        ("shared (Dense)", "twice (Add)"),
    ]

    class Net(ac.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = ac.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(ac.ops.ones((1, 3)))
    assert parse(dot_text(net, show_shapes=True)) == (
        [["net (Net)", "Input shape: ?", "Output shape: ?"]],
        [],
        [],
    )


def test_activation_rows_where_keras_has_them():
    """Keras's Dense, convolutions and Activation layers have an `activation`; its ReLU and
    Softmax layers do not (autoconv's are Activation layers)."""
    model = ac.Sequential(
        [
            ac.Input((6, 6, 1)),
            ac.layers.Conv2D(2, 3, activation="swish", name="conv"),
            ac.layers.ReLU(name="relu"),
            ac.layers.Activation("tanh", name="act"),
            ac.layers.Flatten(name="flat"),
            ac.layers.Softmax(name="soft"),
        ]
    )
    boxes, _, _ = parse(dot_text(model, show_layer_activations=True))
    assert boxes == [
        ["conv (Conv2D)", "Activation: silu"],
        ["relu (ReLU)"],
        ["act (Activation)", "Activation: tanh"],
        ["flat (Flatten)"],
        ["soft (Softmax)"],
    ]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("flags", [{}, {"show_layer_names": False, **ALL}, {"expand_nested": True}])
def test_same_dot_as_keras(make, flags):
    """Keras 3.15's model_to_dot of the same model (needs pydot, and Keras on PyTorch): the
    same text but for the node ids (Keras's are the layers' ids)."""
    pydot = pytest.importorskip("pydot")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")

    def numbered(text):  # node ids in order of appearance
        ids = {}
        return re.sub(r"(?m)^\d+|(?<=-> )\d+", lambda m: ids.setdefault(m[0], str(len(ids))), text)

    expected = numbered(keras.utils.model_to_dot(make(keras), **flags).to_string())
    ours = model_to_dot(make(ac), **flags)
    assert isinstance(ours, pydot.Dot)
    assert ours.to_string() == expected
    assert dot_text(make(ac), **{"show_layer_names": True, **flags}) == expected


def test_model_to_dot_needs_pydot(monkeypatch):
    for name in ("pydot", "pydot_ng", "pydotplus"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails
    with pytest.raises(ImportError, match=r"You must install pydot \(`pip install pydot`\)"):
        model_to_dot(sequential(ac))


# ------------------------------------------------------------------------------ files
@pytest.mark.parametrize("extension", [".dot", ".gv"])
def test_dot_files(tmp_path, extension):
    model = two_inputs_two_outputs(ac)
    path = tmp_path / f"model{extension}"
    assert ac.utils.plot_model(model, path, rankdir="LR", dpi=96, show_shapes=True) is None
    text = path.read_text()
    expected = to_dot(model_graph(model, show_shapes=True), "LR", 96)
    assert text == expected
    assert text.startswith("digraph G {\nrankdir=LR;\nconcentrate=true;\ndpi=96;\nsplines=ortho;")
    # plot_model hides layer names by default (model_to_dot shows them), as Keras.
    assert "<b>Dense</b>" in text and "o1" not in text


def picture(model, path, **arguments):
    plot_model(model, path, **{"dpi": 36, **arguments})
    image = Image.open(path)
    image.load()
    return image


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("rankdir", ["TB", "LR", "BT", "RL"])
def test_png_orientation(tmp_path, make, rankdir):
    image = picture(make(ac), tmp_path / "m.png", rankdir=rankdir)
    assert image.format == "PNG" and image.mode == "RGB"
    width, height = image.size
    if make is sequential:  # a chain: long along the ranks
        assert (height > width) if rankdir in ("TB", "BT") else (width > height)
    # Black title bars, white background, no other colour without show_trainable.
    colours = {colour for _, colour in image.getcolors(width * height)}
    assert (0, 0, 0) in colours and (255, 255, 255) in colours
    assert (34, 139, 34) not in colours


@pytest.mark.parametrize("rankdir", ["TB", "LR", "BT", "RL"])
def test_rankdir_puts_the_inputs_first(tmp_path, rankdir):
    """The Input's box comes first in the direction of rankdir, the Dense (the one box with
    a green Trainable cell) last."""
    inputs = ac.Input((8,))
    model = ac.Model(inputs, ac.layers.Dense(2)(inputs))
    image = picture(model, tmp_path / "m.png", rankdir=rankdir, show_trainable=True)
    width, height = image.size
    green = [
        (x, y)
        for x in range(width)
        for y in range(height)
        if image.getpixel((x, y)) == (34, 139, 34)
    ]
    x = sum(x for x, _ in green) / len(green) / width
    y = sum(y for _, y in green) / len(green) / height
    where = {"TB": y > 0.5, "BT": y < 0.5, "LR": x > 0.5, "RL": x < 0.5}
    assert where[rankdir]


def test_dpi_scales_the_picture(tmp_path):
    model = two_inputs_two_outputs(ac)
    small = picture(model, tmp_path / "small.png", dpi=36, show_shapes=True)
    large = picture(model, tmp_path / "large.png", dpi=72, show_shapes=True)
    assert large.info["dpi"] == pytest.approx((72, 72), abs=0.5)
    for a, b in zip(small.size, large.size, strict=True):
        assert 1.8 < b / a < 2.2


def test_trainable_cells_are_coloured(tmp_path):
    image = picture(two_inputs_two_outputs(ac), tmp_path / "m.png", show_trainable=True)
    colours = {colour for _, colour in image.getcolors(image.size[0] * image.size[1])}
    assert {(34, 139, 34), (178, 34, 34)} <= colours  # forestgreen, firebrick (y is frozen)


def test_expand_nested_frames_the_nested_models(tmp_path):
    model = nested(ac)
    flat = picture(model, tmp_path / "flat.png")
    expanded = picture(model, tmp_path / "expanded.png", expand_nested=True)
    assert expanded.size[1] > flat.size[1]  # 7 ranks and two frames, against 5 ranks


@pytest.mark.parametrize(
    ("name", "image_format"),
    [("m.jpg", "JPEG"), ("m.JPEG", "JPEG"), ("m.bmp", "BMP"), ("m.gif", "GIF"), ("model", "PNG")],
)
def test_image_formats(tmp_path, name, image_format):
    assert picture(sequential(ac), tmp_path / name).format == image_format


def test_pdf(tmp_path):
    path = tmp_path / "m.pdf"
    assert plot_model(sequential(ac), path, dpi=36) is None
    assert path.read_bytes().startswith(b"%PDF")


def test_a_picture_too_big_is_drawn_smaller(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    with pytest.warns(UserWarning, match="would be .* pixels, drawn at dpi="):
        image = picture(sequential(ac), tmp_path / "m.png", dpi=200)
    assert image.size[0] * image.size[1] <= 50_000


def test_returns_an_ipython_image_for_pictures(tmp_path, monkeypatch):
    display = types.SimpleNamespace(Image=lambda **kwargs: ("Image", kwargs))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(display=display))
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    model = sequential(ac)
    shown = plot_model(model, tmp_path / "m.png", dpi=36)
    assert shown == ("Image", {"filename": str(tmp_path / "m.png"), "format": "png"})
    assert plot_model(model, tmp_path / "m.jpg", dpi=36)[1]["format"] == "jpeg"
    assert plot_model(model, tmp_path / "m.dot") is None
    assert plot_model(model, tmp_path / "m.pdf", dpi=36) is None
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert plot_model(model, tmp_path / "m.png", dpi=36) is None


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("model", "arguments", "error", "message"),
    [
        (lambda: ac.Sequential([ac.layers.Dense(2)]), {}, ValueError, "has not yet been built"),
        (lambda: sequential(ac), {"rankdir": "XY"}, ValueError, "rankdir must be one of 'TB'"),
        (lambda: sequential(ac), {"dpi": 0}, ValueError, "dpi must be a positive number"),
        (lambda: sequential(ac), {"splines": None}, ValueError, "splines must be a string"),
        (lambda: sequential(ac), {"layer_range": ["a", "b"]}, ValueError, "no longer supported"),
        (lambda: sequential(ac), {"colour": 1}, ValueError, "Unrecognized keyword arguments"),
        (lambda: sequential(ac), {"to_file": "m.svg"}, ValueError, r"cannot write m\.svg.*png"),
        (lambda: sequential(ac), {"to_file": "m.txt"}, ValueError, r"\.dot, \.gv"),
        (lambda: sequential(ac), {"to_file": "no/such/m.png"}, FileNotFoundError, "does not exist"),
        (lambda: sequential(ac), {"to_file": "."}, IsADirectoryError, "it is a folder"),
        (lambda: ac.layers.Dense, {}, TypeError, "plot_model and model_to_dot take a model"),
    ],
    ids=[
        "unbuilt",
        "rankdir",
        "dpi",
        "splines",
        "layer_range",
        "kwarg",
        "svg",
        "txt",
        "folder",
        "dir",
        "type",
    ],
)
def test_errors_come_before_any_file(tmp_path, monkeypatch, model, arguments, error, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        plot_model(model(), **{"to_file": "m.png", **arguments})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.png"
    path.write_bytes(b"old picture")

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        plot_model(sequential(ac), path, dpi=36)
    assert path.read_bytes() == b"old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]  # no temporary file left
