"""Keras 3's sharded weights (``save_weights("m.weights.json", max_shard_size=...)``): the
same index and shards as Keras's, each library loading the other's, Keras's errors for bad
arguments, and one ModelFileError for a damaged or hostile index."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import autoconv as ac

TINY = 100 / 1024**3  # (GB: a shard of 100 bytes, so a small model takes several)


def _model(library):
    layers = library.layers
    model = library.Sequential(
        [library.Input((3,)), layers.Dense(4), layers.Dropout(0.1), layers.Dense(2)]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def _trained(library):
    model = _model(library)
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    return model


@pytest.mark.parametrize("writer", ["keras", "autoconv"])
def test_sharded_weights_load_in_the_other_library(keras, tmp_path, writer):
    libraries = {"keras": keras, "autoconv": ac}
    reader = "autoconv" if writer == "keras" else "keras"
    saved = _trained(libraries[writer])
    (tmp_path / writer).mkdir()
    saved.save_weights(tmp_path / writer / "m.weights.json", max_shard_size=TINY)
    files = sorted(os.listdir(tmp_path / writer))
    assert files == ["m.weights.json", *(f"m_{i:05}.weights.h5" for i in range(4))]
    loaded = _model(libraries[reader])
    if reader == "keras":  # (Keras skips the state of an optimizer not yet built)
        loaded.optimizer.build(loaded.trainable_variables)
    loaded.load_weights(tmp_path / writer / "m.weights.json")
    for want, got in zip(saved.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert int(np.asarray(loaded.optimizer.iterations.numpy())) == 1


def test_the_index_and_shards_are_keras_s(keras, tmp_path):
    """The same index (a group cut across shards listed under each) and arrays per shard."""
    import h5py

    for name, library in (("keras", keras), ("autoconv", ac)):
        (tmp_path / name).mkdir()
        _trained(library).save_weights(tmp_path / name / "m.weights.json", max_shard_size=TINY)
    index = json.loads((tmp_path / "autoconv" / "m.weights.json").read_text())
    assert index == json.loads((tmp_path / "keras" / "m.weights.json").read_text())
    cut = ["m_00000.weights.h5", "m_00001.weights.h5"]
    assert index["weight_map"]["/layers/dense_1/vars"] == cut

    def arrays(path):
        with h5py.File(path, "r") as h5:
            found = []
            h5.visititems(lambda n, o: found.append((n, getattr(o, "shape", None))))
            return found

    for i in range(4):
        name = f"m_{i:05}.weights.h5"
        assert arrays(tmp_path / "autoconv" / name) == arrays(tmp_path / "keras" / name)


def test_bad_arguments_are_keras_s_errors(tmp_path):
    model = _model(ac)
    with pytest.raises(ValueError, match=r"must end in `\.weights\.json` when `max_shard_size`"):
        model.save_weights(tmp_path / "m.h5", max_shard_size=1)
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`\."):
        model.save_weights(tmp_path / "m.weights.json")
    with pytest.raises(ValueError, match=r"The size of 0 is 48\.00 B which exceeds the maximum"):
        model.save_weights(tmp_path / "m.weights.json", max_shard_size=10 / 1024**3)
    with pytest.raises(ValueError):
        model.save_weights(tmp_path / "m.weights.json", max_shard_size="big")
    assert os.listdir(tmp_path) == []  # (nothing written)
    with pytest.warns(UserWarning, match=r"will be renamed to .*m\.weights\.json"):
        model.save_weights(tmp_path / "m.weights.h5", max_shard_size=TINY)
    assert (tmp_path / "m.weights.json").is_file() and not (tmp_path / "m.weights.h5").exists()
    index = (tmp_path / "m.weights.json").read_bytes()
    with pytest.warns(UserWarning, match="already exists and no answer"):  # (no one to ask)
        model.save_weights(tmp_path / "m.weights.json", overwrite=False, max_shard_size=TINY)
    assert (tmp_path / "m.weights.json").read_bytes() == index


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "m_00001.weights.h5").unlink(), r"shard m_00001\.weights\.h5 .*missing"),
        (lambda d: _edit(d, "m_00001.weights.h5", "../m_00001.weights.h5"), "not a plain file"),
        (lambda d: _edit(d, "m_00001.weights.h5", "/etc/hostname"), "not a plain file"),
        (lambda d: (d / "m.weights.json").write_text("{not json"), "is not JSON"),
        (lambda d: (d / "m.weights.json").write_text("[]"), "must be a JSON object"),
        (lambda d: _edit(d, "m_00001.weights.h5", "m_00002.weights.h5"), "lacks it"),
        (lambda d: (d / "m_00002.weights.h5").write_bytes(b"junk"), "not an HDF5 file"),
    ],
)
def test_a_damaged_or_hostile_index_is_one_clear_error(tmp_path, damage, message):
    model = _trained(ac)
    model.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    before = model.get_weights()
    damage(tmp_path)
    with pytest.raises(ac.saving.ModelFileError, match=message):
        model.load_weights(tmp_path / "m.weights.json")
    for want, got in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)  # (nothing set)


def _edit(folder, old, new):
    path = folder / "m.weights.json"
    path.write_text(path.read_text().replace(f'"{old}"', json.dumps(new)))
