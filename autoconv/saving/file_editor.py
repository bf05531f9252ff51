"""``keras.saving.KerasFileEditor``: inspect, edit and resave the weights of a ``.keras``
archive or a ``.weights.h5`` file, as Keras 3's (keras/src/saving/file_editor.py), for
adapting a saved file to a changed architecture.

The weights are read into ``weights_dict``, a tree of dicts as the file lays them out
(``{"layers": {"dense": {"0": kernel, "1": bias}}, "optimizer": {...}}``: each object's
``vars`` group stands for the object), which the editing methods change and :meth:`save`
writes as a ``.weights.h5`` file that ``load_weights`` reads. The file is checked as
``load_model`` checks one: the archive's entries, hard links only, and every dataset a plain
numeric array holding the values it declares, so a crafted file cannot make the editor read
another file or allocate more than the file stores; any problem is one ModelFileError.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import rich.console

from autoconv.atomic import write_atomically
from autoconv.saving import h5_state, keras_file
from autoconv.saving.files import FILE_ERRORS, ModelFileError, reason


def _highlighted(text: str) -> str:
    return f"[color(33)]{text}[/]"  # (Keras's summary_utils.highlight_symbol)


class KerasFileEditor:
    """The weights of the file at ``filepath`` (a ``.keras`` archive, whose ``config`` and
    ``metadata`` it also reads, or a ``.weights.h5`` file), to inspect (:meth:`summary`,
    :meth:`compare`), edit (:meth:`rename_object`, :meth:`delete_object`, :meth:`add_object`,
    :meth:`delete_weight`, :meth:`add_weights`) and write again (:meth:`save`)."""

    def __init__(self, filepath: str | os.PathLike) -> None:
        self.filepath = filepath
        self.metadata: dict[str, Any] | None = None
        self.config: dict[str, Any] | None = None
        self.model = None
        self.console = rich.console.Console(highlight=False)
        path = str(filepath)
        if not path.endswith((".keras", ".weights.h5")):
            raise ValueError(
                "Invalid filename: expected a `.keras` `.weights.h5` extension. "
                f"Received: filepath={filepath}"
            )
        try:
            source: Any = path
            if path.endswith(".keras"):
                with zipfile.ZipFile(path) as archive:
                    entries = keras_file.checked_entries(archive)
                    limit = keras_file.MAX_CONFIG_BYTES
                    read = keras_file.read_entry
                    self.config = json.loads(read(archive, entries[keras_file.CONFIG], limit))
                    self.metadata = json.loads(read(archive, entries[keras_file.METADATA], limit))
                    source = io.BytesIO(read(archive, entries[keras_file.WEIGHTS], None))
            with h5py.File(source, "r") as h5:
                self.weights_dict, self.object_metadata = _extract(h5, {}, "")
        except FILE_ERRORS as error:
            raise ModelFileError(f"KerasFileEditor: {path}: {reason(error)}") from None
        self.console.print(f"Keras model file {_highlighted(repr(path))}")
        if self.metadata is not None:
            version = _highlighted(self.metadata.get("keras_version"))
            date = _highlighted(self.metadata.get("date_saved"))
            self.console.print(f"Saved with Keras {version} - date: {date}")

    # ------------------------------------------------------------------- inspecting
    def summary(self) -> None:
        """Print the tree of the file's objects and weights (their shapes and dtypes)."""
        self.console.print("Weights structure")
        self._print_tree(self.weights_dict, prefix="  ", first=True)

    def _print_tree(self, tree: dict[str, Any], prefix: str, first: bool = False) -> None:
        for index, (key, value) in enumerate(tree.items()):
            last = index == len(tree) - 1
            connector = "> " if first and index == 0 else "└─ " if last else "├─ "
            if isinstance(value, dict):
                self.console.print(f"{prefix}{connector}[bold]{key}[/]")
                self._print_tree(value, prefix + ("    " if last else "│   "))
            elif hasattr(value, "shape"):
                self.console.print(
                    f"{prefix}{connector}[bold]{key}[/]: shape={value.shape}, dtype={value.dtype}"
                )
            else:
                self.console.print(f"{prefix}{connector}{key}: {value}")

    def compare(self, reference_model: Any) -> dict[str, Any]:
        """List every difference between the file's weights and ``reference_model``'s (a
        weight or object missing on either side, a shape that differs), and return
        ``{"status": "success" | "error", "error_count": n, "match_count": m}``."""
        self.console.print("Running comparison")
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as h5:
            h5_state.write(h5, reference_model)
        with h5py.File(buffer, "r") as h5:
            reference, _ = _extract(h5, {}, "")
        checked: set[str] = set()
        errors, matches = self._compare(
            self.weights_dict, reference, "", "saved file", "reference model", checked
        )
        errors += self._compare(
            reference, self.weights_dict, "", "reference model", "saved file", checked
        )[0]
        self.console.print("─────────────────────")
        if errors == 0:
            self.console.print(
                "[color(28)][bold]Comparison successful:[/] saved file is compatible with the "
                "reference model[/]"
            )
            self.console.print(f"    Found {matches} matching weight{'' if matches == 1 else 's'}")
        else:
            self.console.print(
                f"[color(160)][bold]Found {errors} error{'' if errors == 1 else 's'}:[/] saved "
                "file is not compatible with the reference model[/]"
            )
        return {
            "status": "success" if errors == 0 else "error",
            "error_count": errors,
            "match_count": matches,
        }

    def _compare(
        self,
        target: dict[str, Any],
        reference: dict[str, Any],
        path: str,
        target_name: str,
        reference_name: str,
        checked: set[str],
    ) -> tuple[int, int]:
        """(errors, matches) of ``target`` against ``reference`` below ``path``, each error
        printed once (``checked``: the paths already reported)."""
        errors = matches = 0
        for key, expected in reference.items():
            inner = f"{path}/{key}"
            if inner in checked:
                continue
            if key not in target:
                errors += 1
                checked.add(inner)
                kind = "Object" if isinstance(expected, dict) else "Weight"
                self.console.print(
                    f"[color(160)]...{kind} [bold]{inner}[/] present in {reference_name}, "
                    f"missing from {target_name}[/]"
                )
                if isinstance(expected, dict):
                    self.console.print(
                        f"    In {reference_name}, {inner} contains the following keys: "
                        f"{list(expected.keys())}"
                    )
            elif isinstance(expected, dict):
                more_errors, more_matches = self._compare(
                    target[key], expected, inner, target_name, reference_name, checked
                )
                errors, matches = errors + more_errors, matches + more_matches
            elif target[key].shape != expected.shape:
                errors += 1
                checked.add(inner)
                self.console.print(
                    f"[color(160)]...Weight shape mismatch for [bold]{inner}[/][/]\n"
                    f"    In {reference_name}: shape={expected.shape}\n"
                    f"    In {target_name}: shape={target[key].shape}"
                )
            else:
                matches += 1
        return errors, matches

    # ---------------------------------------------------------------------- editing
    def rename_object(self, object_name: str, new_name: str) -> None:
        """Rename an object (a layer): ``object_name`` its name, if only one object has it,
        or its path (``"layers/dense_2"``); ``new_name`` a name, not a path."""

        def rename(tree: dict[str, Any], key: str) -> None:
            tree[new_name] = tree.pop(key)

        self._edit(object_name, new_name, rename)

    def delete_object(self, object_name: str) -> None:
        """Remove an object (a layer) and its weights: its name or path."""
        self._edit(object_name, None, lambda tree, key: tree.pop(key))

    def add_object(self, object_path: str, weights: dict[str, Any]) -> None:
        """Add an object at ``object_path`` (``"layers/dense_2"``; its parent must exist),
        with ``weights`` a dict of its weights by name (``{"0": kernel, "1": bias}``)."""
        _check_weights(weights)
        *parents, name = object_path.split("/")
        tree = self.weights_dict
        for part in parents:
            if part not in tree:
                raise ValueError(f"Path '{'/'.join(parents)}' not found in model.")
            tree = tree[part]
        tree[name] = weights

    def delete_weight(self, object_name: str, weight_name: str) -> None:
        """Remove the weight ``weight_name`` (``"0"``) of an object (its name or path)."""

        def delete(tree: dict[str, Any], key: str) -> None:
            if weight_name not in tree[key]:
                raise ValueError(
                    f"Weight {weight_name} not found in object {object_name}. Weights found: "
                    f"{list(tree[key].keys())}"
                )
            tree[key].pop(weight_name)

        self._edit(object_name, None, delete)

    def add_weights(self, object_name: str, weights: dict[str, Any]) -> None:
        """Add ``weights`` (a dict of arrays by name) to an object (its name or path)."""
        _check_weights(weights)
        self._edit(object_name, None, lambda tree, key: tree[key].update(weights))

    def _edit(self, source: str, target: str | None, edit: Any) -> None:
        """Apply ``edit(parent, key)`` to the object ``source`` names: by its path, or by
        its name where exactly one object has it."""
        if target is not None and "/" in target:
            raise ValueError(
                "Argument `target_name` should be a leaf name, not a full path name. "
                f"Received: target_name='{target}'"
            )
        if "/" in source:
            *parents, key = source.split("/")
            tree = self.weights_dict
            for part in parents:
                if part not in tree:
                    raise ValueError(f"Path '{source}' not found in model.")
                tree = tree[part]
            if key not in tree:
                raise ValueError(f"Path '{source}' not found in model.")
            edit(tree, key)
            return
        holders = _holders(self.weights_dict, source)
        if len(holders) > 1:
            raise ValueError(
                f"Name '{source}' occurs more than once in the model; try passing a complete path"
            )
        if not holders:
            raise ValueError(
                f"Source name '{source}' does not appear in the model. Use "
                "`editor.weights_summary()` to list all objects."
            )
        edit(holders[0], source)

    # ----------------------------------------------------------------------- saving
    def save(self, filepath: str | os.PathLike) -> None:
        """Write the (edited) weights to ``filepath``, a ``.weights.h5`` file (atomically),
        which ``model.load_weights`` reads."""
        filepath = str(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError(
                "Invalid `filepath` argument: expected a `.weights.h5` extension. "
                f"Received: filepath={filepath}"
            )
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as h5:
            _write(h5, self.weights_dict, "")
        data = buffer.getvalue()
        write_atomically(Path(filepath), lambda f: f.write(data))

    def resave_weights(self, filepath: str | os.PathLike) -> None:
        """:meth:`save`, by Keras's other name."""
        self.save(filepath)


# -------------------------------------------------------------------------- the tree
def _extract(group: Any, metadata: dict[str, Any], path: str) -> tuple[dict, dict]:
    """(the tree of ``group``'s objects and arrays, ``{group path: its attributes}``), as
    Keras's editor reads a file: an object's ``vars`` group stands for the object, an empty
    group is left out, and every array is checked as ``load_model`` checks one."""
    if group.attrs:
        metadata[path] = dict(group.attrs.items())
    tree: dict[str, Any] = {}
    for key in group:
        inner = f"{path}/{key}"
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"Not allowed: H5 file with {type(link).__name__}")
        value = group[key]
        if isinstance(value, h5py.Group):
            if "vars" in value:
                value = h5_state.member(value, "vars")
            if isinstance(value, h5py.Group) and len(value):
                tree[key], metadata = _extract(value, metadata, inner)
        elif isinstance(value, h5py.Dataset):
            tree[key] = h5_state.checked_value(value, inner, None, finite=False)
    return tree, metadata


def _write(h5: Any, tree: dict[str, Any], path: str) -> None:
    """``tree`` written as Keras's files lay it out: an object's arrays in its ``vars``."""
    arrays = {k: v for k, v in tree.items() if not isinstance(v, dict)}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            _write(h5, value, f"{path}/{key}" if path else key)
    if arrays:
        group = h5.create_group(f"{path}/vars" if path else "vars")
        for key, value in arrays.items():
            group.create_dataset(
                key, data=np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            )


def _holders(tree: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The dicts of ``tree`` (itself included) that hold ``name`` as a key."""
    found = [tree] if name in tree else []
    for value in tree.values():
        if isinstance(value, dict):
            found += _holders(value, name)
    return found


def _check_weights(weights: Any) -> None:
    if not isinstance(weights, dict):
        raise ValueError(
            "Argument `weights` should be a dict where keys are weight names (usually '0', "
            f"'1', etc.) and values are NumPy arrays. Received: type(weights)={type(weights)}"
        )
