"""The ``assets/`` of Keras 3's ``.keras`` archive: a layer's ``save_assets``/``load_assets``
files (a lookup layer's ``vocabulary.txt``) under its path in the state, as Keras's saving_lib
writes them; a vocabulary Keras wrote read back; hostile assets refused with one
ModelFileError, and a save that fails leaving the old file intact."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import autoconv as ac
from autoconv.saving import keras_file
from autoconv.saving.files import ModelFileError

VOCABULARY = "assets/layers/integer_lookup/vocabulary.txt"


def lookup_model(output_mode: str = "multi_hot") -> ac.Model:
    """Keras 3.15.1 with TensorFlow 2.21 saved this model (its Input int64) after
    ``lookup.adapt(np.array([[3, 2], [2, 9], [0, 4]]))``, writing VOCABULARY as
    ``b"-1\\n2\\n9\\n4\\n3"``; it predicted [[2.0, 2.0], [1.0, 1.0]] for [[3, 9], [0, 7]]."""
    lookup = ac.layers.IntegerLookup(output_mode=output_mode, mask_token=0)
    lookup.adapt(np.array([[3, 2], [2, 9], [0, 4]]))
    dense = ac.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    return ac.Sequential([ac.Input((2,)), lookup, dense])


X = np.array([[3, 9], [0, 7]])


def rewritten(path: Path, replace: dict[str, bytes | None]) -> None:
    """``path``'s archive with the entries of ``replace`` replaced, added (bytes) or dropped
    (None)."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries.update(replace)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            if data is not None:
                archive.writestr(name, data)


def test_the_vocabulary_is_written_where_and_as_keras_writes_it(tmp_path):
    model = lookup_model()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert archive.namelist()[-1] == VOCABULARY
        assert archive.read(VOCABULARY) == b"-1\n2\n9\n4\n3"
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_vocabulary() == [-1, 2, 9, 4, 3]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), [[2.0, 2.0], [1.0, 1.0]])


def test_a_vocabulary_keras_wrote_is_the_one_loaded(tmp_path):
    model = lookup_model()
    model.save(tmp_path / "m.keras")
    rewritten(tmp_path / "m.keras", {VOCABULARY: b"-1\n7\n3\n4\n9\n"})  # the newline dropped
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_vocabulary() == [-1, 7, 3, 4, 9]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), [[2.0, 2.0], [1.0, 1.0]])
    rewritten(tmp_path / "m.keras", {VOCABULARY: b"-1\n7\n9\n"})
    with pytest.raises(ModelFileError, match="the vocabulary size cannot be changed"):
        ac.saving.load_model(tmp_path / "m.keras")  # the config's vocabulary_size is 5


def test_a_layer_given_its_vocabulary_keeps_it_in_the_config(tmp_path):
    lookup = ac.layers.IntegerLookup(vocabulary=[5, 6])
    model = ac.Sequential([ac.Input((2,)), lookup])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert not [n for n in archive.namelist() if n.startswith("assets/")]
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(np.array([[6, 1]]), verbose=0), [[2, 0]])


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({VOCABULARY: b"-1\n2\nnot a number"}, "invalid literal"),
        ({VOCABULARY: b"-1\n2\n2"}, "repeated term"),
        ({"assets/layers/integer_lookup/..": b"x"}, "not a plain file name"),
        ({"assets/layers/integer_lookup/a b.txt": b"x"}, "not a plain file name"),
        ({VOCABULARY: None}, "vocabulary.txt"),
    ],
)
def test_hostile_or_broken_assets_are_one_clear_error(tmp_path, replace, message):
    lookup_model().save(tmp_path / "m.keras")
    rewritten(tmp_path / "m.keras", replace)
    with pytest.raises(ModelFileError, match=message):
        ac.saving.load_model(tmp_path / "m.keras")


def test_assets_beyond_the_budget_are_refused(tmp_path, monkeypatch):
    lookup_model().save(tmp_path / "m.keras")
    monkeypatch.setattr(keras_file, "MAX_ASSETS_BYTES", 8)
    with pytest.raises(ModelFileError, match="more than"):
        ac.saving.load_model(tmp_path / "m.keras")


def test_a_save_that_fails_leaves_the_old_file(tmp_path):
    lookup_model().save(tmp_path / "m.keras")
    before = (tmp_path / "m.keras").read_bytes()
    broken = lookup_model("tf_idf")
    broken.layers[0].idf_weights = None  # nothing to write where Keras writes them
    with pytest.raises(ValueError, match="has no idf weights to save"):
        broken.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").read_bytes() == before


def test_a_tf_idf_lookup_travels_in_a_keras_file(tmp_path):
    model = lookup_model("tf_idf")
    model.save(tmp_path / "m.keras")
    again = ac.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))
    np.testing.assert_array_equal(again.layers[0].idf_weights, model.layers[0].idf_weights)


def recorded_load(lib, folder: Path) -> list[str]:
    """The hooks ``load_model`` runs on a Dense subclass whose ``save_assets`` writes a file,
    in order."""
    calls: list[str] = []

    class Noted(lib.layers.Dense):
        def save_assets(self, inner_path):
            Path(inner_path, "note.txt").write_text("kept")

        def load_own_variables(self, store):
            calls.append("load_own_variables")
            super().load_own_variables(store)

        def load_assets(self, inner_path):
            calls.append(f"load_assets {Path(inner_path, 'note.txt').read_text()}")

    model = lib.Sequential([lib.Input((2,)), Noted(1, name="noted")])
    folder.mkdir()
    model.save(folder / "m.keras")
    calls.clear()
    lib.saving.load_model(folder / "m.keras", custom_objects={"Noted": Noted})
    return calls


def test_load_assets_runs_after_the_variables_are_loaded_as_kerass(keras, tmp_path):
    ours = recorded_load(ac, tmp_path / "autoconv")
    assert ours == recorded_load(keras, tmp_path / "keras")
    assert ours == ["load_own_variables", "load_assets kept"]
