"""autoconv.saving.KerasFileEditor against Keras's: the same printed summary and comparison of
the same files (autoconv's and Keras's), the same edits written as the same weights file, which
both libraries load; Keras's errors; crafted files refused with one ModelFileError."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import autoconv as ac
from autoconv.saving import KerasFileEditor, ModelFileError
from tests.saving.archives import rewrite


def model(library, head=2, dropout=True):
    """A small functional model (its file lays the layers out as dense, dense_1)."""
    inputs = library.Input((4,), name="x")
    hidden = library.layers.Dense(3, name="d1")(inputs)
    if dropout:
        hidden = library.layers.Dropout(0.1, name="drop")(hidden)
    return library.Model(inputs, library.layers.Dense(head, name="d2")(hidden), name="m")


def trained_file(library, path):
    net = model(library)
    rng = np.random.default_rng(0)
    net.set_weights([rng.normal(size=w.shape).astype("float32") for w in net.get_weights()])
    net.compile("adam", "mse")
    net.fit(np.ones((4, 4)), np.zeros((4, 2)), verbose=0)
    net.save(path)
    return net


def printed(capsys, library, path, reference_heads=(2, 5)):
    """What the editor prints opening ``path``, summarizing and comparing it with models of
    ``reference_heads`` outputs, and the comparisons' results."""
    editor = library.saving.KerasFileEditor(str(path))
    editor.summary()
    results = [editor.compare(model(library, head)) for head in reference_heads]
    return capsys.readouterr().out, results, editor


@pytest.mark.parametrize("writer", ["autoconv", "keras"])
def test_the_summary_and_comparisons_print_as_keras(keras, capsys, tmp_path, writer):
    path = tmp_path / "m.keras"
    trained_file(ac if writer == "autoconv" else keras, path)
    capsys.readouterr()
    ours, our_results, editor = printed(capsys, ac, path)
    theirs, their_results, _ = printed(capsys, keras, path)
    assert ours == theirs
    assert "  > layers\n  │   ├─ dense\n  │   │   ├─ 0: shape=(4, 3), dtype=float32" in ours
    assert "...Weight shape mismatch for /layers/dense_1/0" in ours
    # Keras counts the matches of each object again in the next (4 weights match: 6 there)
    assert our_results == [
        {"status": "error", "error_count": 1, "match_count": 4},  # the optimizer's state
        {"status": "error", "error_count": 3, "match_count": 2},
    ]
    assert [r["error_count"] for r in their_results] == [1, 3]
    assert editor.metadata["keras_version"] == "3.15.1" and editor.config["class_name"]
    assert list(editor.weights_dict) == ["layers", "optimizer"]
    assert editor.object_metadata["/layers/dense"] == {"name": "d1"}


def test_a_compatible_file_compares_as_a_success(capsys, tmp_path):
    net = model(ac)
    net.save_weights(tmp_path / "m.weights.h5")
    result = KerasFileEditor(tmp_path / "m.weights.h5").compare(net)
    assert result == {"status": "success", "error_count": 0, "match_count": 4}
    assert "Comparison successful: saved file is compatible with the reference model\n    " in (
        capsys.readouterr().out
    )


def edit(library, path, out):
    editor = library.saving.KerasFileEditor(str(path))
    editor.delete_object("optimizer")
    editor.rename_object("layers/dense_1", "old_head")
    editor.delete_weight("layers/old_head", "1")
    editor.add_weights("layers/old_head", {"1": np.full(2, 0.5, "float32")})
    editor.add_object("layers/dense_1", {"0": np.ones((3, 5), "float32"), "1": np.zeros(5)})
    editor.delete_object("layers/old_head")
    editor.save(out)
    return editor


def test_edits_write_the_file_keras_writes_and_both_load_it(keras, tmp_path, capsys):
    trained_file(ac, tmp_path / "m.keras")
    edit(ac, tmp_path / "m.keras", tmp_path / "ours.weights.h5")
    edit(keras, tmp_path / "m.keras", tmp_path / "theirs.weights.h5")

    def contents(path):
        found = []
        with h5py.File(path) as h5:
            h5.visititems(
                lambda name, item: found.append(
                    (name, np.asarray(item).tolist() if isinstance(item, h5py.Dataset) else None)
                )
            )
        return found

    assert contents(tmp_path / "ours.weights.h5") == contents(tmp_path / "theirs.weights.h5")
    for library in (ac, keras):  # the edited file fits a model with a 5-unit head
        wider = model(library, head=5)
        wider.load_weights(tmp_path / "ours.weights.h5")
        np.testing.assert_array_equal(wider.get_weights()[2], np.ones((3, 5)))


def test_a_name_edits_the_one_object_that_has_it(tmp_path, capsys):
    model(ac).save_weights(tmp_path / "m.weights.h5")
    editor = KerasFileEditor(tmp_path / "m.weights.h5")
    editor.rename_object("dense_1", "head")  # (Keras 3.15 counts it twice and refuses)
    assert list(editor.weights_dict["layers"]) == ["dense", "head"]
    editor.add_object("layers/dense_1", {"0": np.zeros(1)})
    editor.add_object("dense_1", {"0": np.zeros(1)})  # a top-level object of that name
    with pytest.raises(ValueError, match="Name 'dense_1' occurs more than once in the model"):
        editor.delete_object("dense_1")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda e: e.rename_object("layers/dense", "a/b"), "should be a leaf name"),
        (lambda e: e.delete_object("nothere"), "Source name 'nothere' does not appear"),
        (lambda e: e.delete_object("layers/nothere"), "Path 'layers/nothere' not found"),
        (lambda e: e.delete_object("nothing/dense"), "Path 'nothing/dense' not found"),
        (lambda e: e.delete_weight("layers/dense", "7"), r"Weight 7 not found .* \['0', '1'\]"),
        (lambda e: e.add_object("no/where/x", {}), "Path 'no/where' not found"),
        (lambda e: e.add_weights("layers/dense", [1]), "should be a dict"),
        (lambda e: e.save("edited.h5"), "expected a `.weights.h5` extension"),
    ],
)
def test_errors_as_keras(tmp_path, capsys, action, message):
    model(ac).save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match=message):
        action(KerasFileEditor(tmp_path / "m.weights.h5"))


def test_a_file_of_another_kind_is_refused_by_its_name(tmp_path):
    with pytest.raises(ValueError, match=r"expected a `\.keras` `\.weights\.h5` extension"):
        KerasFileEditor(tmp_path / "m.h5")


def test_saving_replaces_a_file_whole(tmp_path, capsys):
    model(ac).save_weights(tmp_path / "m.weights.h5")
    editor = KerasFileEditor(tmp_path / "m.weights.h5")
    editor.delete_object("layers/dense_1")
    editor.resave_weights(tmp_path / "m.weights.h5")
    assert list(KerasFileEditor(tmp_path / "m.weights.h5").weights_dict["layers"]) == ["dense"]


def test_nan_weights_are_shown_not_refused(tmp_path, capsys):
    net = model(ac)
    net.set_weights([np.full(w.shape, np.nan, "float32") for w in net.get_weights()])
    net.save_weights(tmp_path / "m.weights.h5")
    editor = KerasFileEditor(tmp_path / "m.weights.h5")
    assert np.isnan(editor.weights_dict["layers"]["dense"]["0"]).all()


def _soft_link(h5):
    h5["layers/dense/vars/2"] = h5py.SoftLink("/layers/dense/vars/0")


def _external(h5):
    del h5["layers/dense/vars/0"]
    h5.create_dataset(
        "layers/dense/vars/0", shape=(4, 3), dtype="float32", external=[("/etc/hostname", 0, 48)]
    )


def _strings(h5):
    h5["layers/dense/vars/2"] = np.array([b"text"])


@pytest.mark.parametrize(
    ("crafted", "message"),
    [
        (_soft_link, "not allowed: H5 file with SoftLink"),
        (_external, "stored in another file"),
        (_strings, "has dtype"),
    ],
)
def test_a_crafted_file_is_one_model_file_error(tmp_path, crafted, message):
    path = tmp_path / "m.keras"
    model(ac).save(path)
    rewrite(path, edit_weights=crafted)
    with pytest.raises(ModelFileError, match=f"KerasFileEditor: .*m.keras: .*{message}"):
        KerasFileEditor(path)
