"""Editing a saved ``.keras`` archive in place, for the tests that feed autoconv a crafted
or damaged file."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def rewrite(
    path: Path,
    edit_config: Callable[[dict[str, Any]], None] | None = None,
    edit_weights: Callable[[Any], None] | None = None,
) -> None:
    """Rewrite the .keras archive at ``path`` with its config.json (a dict given to
    ``edit_config``) and its model.weights.h5 (an open h5py file given to ``edit_weights``)
    edited; its other files kept as they were."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    if edit_config:
        config = json.loads(files["config.json"])
        edit_config(config)
        files["config.json"] = json.dumps(config).encode()
    if edit_weights:
        import h5py

        weights = io.BytesIO(files["model.weights.h5"])
        with h5py.File(weights, "r+") as h5:
            edit_weights(h5)
        files["model.weights.h5"] = weights.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
