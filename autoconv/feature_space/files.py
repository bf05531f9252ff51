"""A FeatureSpace's ``.keras`` archive, as Keras 3's ``FeatureSpace.save`` writes it (its
keras/src/saving/saving_lib.py walking keras/src/layers/preprocessing/feature_space.py):
``config.json`` (the FeatureSpace's entry), ``model.weights.h5`` (a group per layer, Keras's
walk of the FeatureSpace: itself, ``concat``, ``crossers/...``, ``one_hot_encoders/...``,
``preprocessors/...``, the layers of each dict named after their class, ``normalization``,
``string_lookup``, ``string_lookup_1``, ...) and ``assets/`` (the lookups' vocabularies).

Kept apart from :mod:`autoconv.saving.keras_file`, whose walk knows models (their layers, and
layers held in lists), not a FeatureSpace's dicts of layers; its checks of an archive's entries
are shared.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import h5py

from autoconv.atomic import write_atomically
from autoconv.layers import Layer
from autoconv.layers.serialization import deserialize, serialize
from autoconv.saving import h5_state, keras_file
from autoconv.saving.files import FILE_ERRORS, ModelFileError, checked_dict, reason
from autoconv.saving.keras_file import (
    ASSET_NAME,
    CONFIG,
    KERAS_VERSION,
    MAX_ASSETS_BYTES,
    MAX_CONFIG_BYTES,
    METADATA,
    WEIGHTS,
    checked_entries,
    read_entry,
)

ASSETS = "assets"


def saveables(space: Any) -> list[tuple[str, Layer]]:
    """``(group path, layer)`` in Keras's walk of a FeatureSpace: itself, then its ``concat``,
    ``crossers``, ``one_hot_encoders`` and ``preprocessors``, each layer of a dict named after
    its class (``string_lookup``, ``string_lookup_1``, ...)."""
    found: list[tuple[str, Layer]] = [("", space)]
    if space.concat is not None:
        found.append(("concat", space.concat))
    for attribute in ("crossers", "one_hot_encoders", "preprocessors"):
        used: dict[str, int] = {}
        for layer in getattr(space, attribute).values():
            group = h5_state._unique(h5_state.snake_case(type(layer).__name__), used)
            found.append((f"{attribute}/{group}", layer))
    return found


def save(space: Any, filepath: str | os.PathLike) -> None:
    """Write ``space`` as a ``.keras`` archive at ``filepath`` (atomically, replacing it)."""
    path = Path(filepath)
    if path.suffix != ".keras":
        raise ValueError(
            f"Invalid `filepath` argument: expected a `.keras` extension. Received: {path}"
        )
    config = json.dumps(serialize(space)).encode()
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    weights = io.BytesIO()
    assets: dict[str, bytes] = {}
    with h5py.File(weights, "w") as h5:
        for where, layer in saveables(space):
            group = h5.create_group(f"{where}/vars" if where else "vars")
            group.attrs["name"] = layer.name
            for i, variable in enumerate(h5_state.own_variables(layer)):
                group.create_dataset(str(i), data=variable.numpy())
            if hasattr(layer, "save_assets"):
                with tempfile.TemporaryDirectory() as folder:
                    layer.save_assets(folder)
                    for name in sorted(os.listdir(folder)):
                        assets[f"{ASSETS}/{where}/{name}"] = Path(folder, name).read_bytes()

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, json.dumps(metadata))
            archive.writestr(CONFIG, config)
            archive.writestr(WEIGHTS, weights.getvalue())
            for name, data in assets.items():
                archive.writestr(name, data)

    write_atomically(path, write)


def load_feature_space(filepath: str | os.PathLike) -> Any:
    """The FeatureSpace of a ``.keras`` archive that Keras's ``FeatureSpace.save`` (or
    autoconv's) wrote: its config, its preprocessors' statistics and vocabularies, all read
    and checked before any is set (one ModelFileError naming the file otherwise)."""
    path = Path(filepath)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = checked_entries(archive)
            config = json.loads(read_entry(archive, entries[CONFIG], MAX_CONFIG_BYTES))
            checked_dict(config, "config.json")
            if config.get("class_name") != "FeatureSpace":
                raise ValueError(
                    f"its config describes a {config.get('class_name')}, not a FeatureSpace"
                )
            space = deserialize(config)
            if WEIGHTS not in entries:
                raise ValueError(f"it has no {WEIGHTS}")
            pairs = []
            with h5py.File(io.BytesIO(read_entry(archive, entries[WEIGHTS], None)), "r") as h5:
                for where, layer in saveables(space):
                    for i, variable in enumerate(h5_state.own_variables(layer)):
                        item = h5_state.member(h5, f"{where}/vars/{i}")
                        what = f"weight {i} of {layer.name} (at {where})"
                        pairs.append((variable, h5_state.checked_value(item, what, variable.shape)))
            budget = MAX_ASSETS_BYTES
            for where, layer in saveables(space):
                if not hasattr(layer, "load_assets"):
                    continue
                prefix = f"{ASSETS}/{where}/"
                with tempfile.TemporaryDirectory() as folder:
                    for name, entry in entries.items():
                        file = name[len(prefix) :]
                        if name.startswith(prefix) and ASSET_NAME.fullmatch(file):
                            data = read_entry(archive, entry, budget)
                            budget -= len(data)
                            Path(folder, file).write_bytes(data)
                    layer.load_assets(folder)
    except ModelFileError:
        raise
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_model: {path}: {reason(error)}") from None
    for variable, value in pairs:
        variable.assign(value.astype(variable.dtype, copy=False))
    return space


keras_file.ARCHIVE_READERS["FeatureSpace"] = load_feature_space  # load_model reads these too
