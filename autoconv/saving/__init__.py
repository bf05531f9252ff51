"""``autoconv.saving``, as ``keras.saving``: models and weights in Keras 3's files, and the
registry of a user's own classes.

- ``save_model(model, "name.keras")`` (``model.save``) writes Keras 3's ``.keras`` archive,
  which Keras loads; ``load_model`` reads Keras's archives (and autoconv's own files from
  before, which it says to save again) with their compile settings and optimizer state.
- ``model.save_weights("name.weights.h5")`` / ``model.load_weights`` use Keras's HDF5 layout
  (``max_shard_size``: Keras's sharded weights, ``name.weights.json`` and its shards).
- Keras 2's (and tf.keras's) legacy ``.h5`` models and weights load too, and
  ``model.save("name.h5")`` writes one as Keras 3 still does (:mod:`.legacy_h5`).
- ``register_keras_serializable``, ``get_custom_objects``, ``custom_object_scope``,
  ``get_registered_name`` / ``get_registered_object``: how a model file finds a user's own
  layers, losses and functions by name (:mod:`autoconv.registration`).
- ``KerasFileEditor``: the weights of a ``.keras`` or ``.weights.h5`` file, to inspect, edit
  and write again (:mod:`.file_editor`).
- ``serialize_keras_object`` / ``deserialize_keras_object``: Keras's object entries;
  ``model_from_json`` (Keras's ``keras.models.model_from_json``, also
  ``autoconv.models.model_from_json``) reads ``model.to_json()``'s, Keras's or autoconv's.

Loading is safe by default, as Keras's: no Python code in a file is run (a ``Lambda`` layer's
is refused), every class a file names is autoconv's own or one the user registered, and every
size is checked against what the file holds before anything is allocated. The file formats are
in :mod:`.keras_file` (with :mod:`.h5_state`; sharded weights in :mod:`.sharded`),
:mod:`.legacy_h5` and :mod:`.npz_file`
(autoconv 0.1's, read only);
:mod:`.files` holds what they share.

>>> import autoconv as ac, tempfile, os
>>> model = ac.Sequential([ac.Input((3,)), ac.layers.Dense(2)])
>>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
>>> model.save(path)
>>> ac.saving.load_model(path).count_params()
8
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autoconv import (
    activations,
    constraints,
    initializers,
    losses,
    metrics,
    optimizers,
    regularizers,
)
from autoconv.layers import Layer, operation
from autoconv.layers import serialization as layer_serialization
from autoconv.models import Model
from autoconv.registration import (
    CustomObjectScope,
    custom_object_scope,
    function_entry,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    require_function,
)
from autoconv.saving import files, keras_file, legacy_h5, npz_file, sharded
from autoconv.saving.file_editor import KerasFileEditor
from autoconv.saving.files import FILE_ERRORS, MissingKerasFile, ModelFileError, reason
from autoconv.tensor import Tensor

__all__ = [
    "CustomObjectScope",
    "KerasFileEditor",
    "ModelFileError",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "model_from_json",
    "register_keras_serializable",
    "save_model",
    "save_weights",
    "serialize_keras_object",
]


def save_model(
    model: Any, filepath: str | os.PathLike, overwrite: bool = True, zipped: bool | None = None
) -> None:
    """Write ``model`` (its architecture, weights, compile settings and optimizer state) to a
    Keras 3 ``.keras`` archive, atomically (a failed save leaves the old file as it was).
    ``zipped=False`` writes the archive's files into the folder ``filepath`` instead, as
    Keras's (``load_model`` reads the folder, Keras's or autoconv's). With
    ``overwrite=False``, an existing ``filepath`` is replaced only if the user answers Keras's
    question "y" (:func:`.files.ask_to_proceed_with_overwrite`)."""
    path = Path(filepath)
    folder = zipped is not None and not zipped and not path.name.endswith((".h5", ".hdf5"))
    legacy = path.name.endswith((".h5", ".hdf5"))
    if folder and path.name.endswith(".keras"):
        raise ValueError(
            "When using `zipped=False`, the `filepath` argument should not end in `.keras`. "
            f"Received: filepath={filepath}"
        )
    if not (folder or legacy or path.name.endswith(".keras")):
        raise ValueError(
            "Invalid filepath extension for saving. Please add either a `.keras` extension for "
            f"the native Keras format (recommended) or a `.h5` extension. Received: "
            f"filepath={filepath}."  # (Keras's, less its model.export: no SavedModels here)
        )
    if legacy:
        logging.getLogger("autoconv").warning(
            "You are saving your model as an HDF5 file via `model.save()` or "
            "`keras.saving.save_model(model)`. This file format is considered legacy. We "
            "recommend using instead the native Keras format, e.g. `model.save('my_model.keras')` "
            "or `keras.saving.save_model(model, 'my_model.keras')`. "
        )
        if not model.built:
            raise ValueError(
                f"save: model {model.name} is not built yet; call it on data or build it first"
            )
    if not overwrite and path.exists() and not files.ask_to_proceed_with_overwrite(filepath):
        return
    if folder:
        keras_file.save_model_to_folder(model, path)
    elif legacy:
        legacy_h5.save_model(model, path)
    else:
        if not model.built:  # (its layers built apart keep their weights, as Keras's)
            warnings.warn(
                "You are saving a model that has not yet been built. It might not contain any "
                "weights yet. Consider building the model first by calling it on some data.",
                stacklevel=2,
            )
        keras_file.save_model(model, path)


def load_model(
    filepath: str | os.PathLike,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """The model in a ``.keras`` archive (Keras's or autoconv's), compiled as it was saved
    (with its optimizer's state) unless ``compile=False``. ``custom_objects`` maps the names
    of a user's classes and functions the file uses to them (or register them). Files autoconv
    0.1 wrote load too, with a warning to save them again. Anything else, damaged or not a
    model, is one ModelFileError naming the file. ``safe_mode`` is accepted as Keras takes
    it; loading is always safe: no Python code in a file (a ``Lambda``'s bytecode) is run."""
    del safe_mode  # (both values load alike)
    if str(filepath).endswith(".keras") and not os.path.exists(filepath):
        raise MissingKerasFile(
            f"File not found: filepath={filepath}. Please ensure the file is an accessible "
            "`.keras` zip file."
        )
    if Path(filepath).is_dir() and (Path(filepath) / keras_file.CONFIG).is_file():
        # a model saved with zipped=False: its archive's files in a folder
        folder = keras_file.folder_as_archive(Path(filepath))
        return keras_file.load_model(folder, custom_objects, compile)  # type: ignore[arg-type]
    path = keras_file.exists(filepath)
    kind = keras_file.file_kind(path)
    if kind == "zip" and not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is damaged or truncated (not a readable zip archive)")
    if kind == "zip" and keras_file.is_archive(path):
        return keras_file.load_model(path, custom_objects, compile)
    if kind == "zip" and npz_file.is_npz_file(path):
        return npz_file.load_model(path, compile)
    if kind == "hdf5" and "model_config" in _hdf5_attributes(path):
        return legacy_h5.load_model(path, custom_objects, compile)
    if kind == "hdf5":
        raise ModelFileError(
            f"load_model: {path}: it is a weights file (.weights.h5 or .h5): build the model "
            "and use model.load_weights"
        )
    if kind == "zip":
        raise ModelFileError(f"{path} is a zip archive, but not a .keras model file")
    raise ModelFileError(f"{path} is not a model file (not a .keras zip archive)")


def model_from_json(json_string: str | bytes, custom_objects: dict[str, Any] | None = None) -> Any:
    """The model a JSON string of ``model.to_json()`` (Keras's or autoconv's) describes, built
    with new weights, and compiled where the JSON holds compile settings (as Keras's). Safe as
    :func:`load_model`: only autoconv's classes and the user's (registered, or in
    ``custom_objects``), no Lambda's code. A string that is not JSON, or JSON that does not
    describe a model, is one ValueError that says why (a ``json_string`` that is no string, a
    TypeError)."""
    try:
        config = json.loads(json_string)
    except TypeError as error:
        raise TypeError(f"model_from_json: {error}") from None
    except ValueError as error:  # (JSONDecodeError, and UnicodeDecodeError for bytes)
        raise ValueError(f"model_from_json: the string is not JSON ({error})") from None
    try:
        model = deserialize_keras_object(config, custom_objects)
    except FILE_ERRORS as error:
        raise ValueError(f"model_from_json: {reason(error)}") from None
    if not isinstance(model, Model):
        raise ValueError(
            f"model_from_json: the JSON describes {_described(model)}, not a model (it reads "
            "what model.to_json() writes)"
        )
    return model


def _described(value: Any) -> str:
    if isinstance(value, Layer):
        return f"a {type(value).__name__} layer"
    return f"a JSON {type(value).__name__}" if isinstance(value, list | dict) else repr(value)


def save_weights(
    model: Any,
    filepath: str | os.PathLike,
    overwrite: bool = True,
    max_shard_size: float | None = None,
) -> None:
    """Write ``model``'s weights (and its optimizer's state) in Keras's ``.weights.h5``; with
    ``max_shard_size`` (GB) as Keras's sharded weights, a ``.weights.json`` index and its
    ``_00000.weights.h5``, ... shards beside it (:mod:`.sharded`). ``overwrite=False``: as
    :func:`save_model`'s."""
    name = str(filepath)
    if max_shard_size is None and not name.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={name}")
    if max_shard_size is not None and not name.endswith(("weights.h5", "weights.json")):
        raise ValueError(
            "The filename must end in `.weights.json` when `max_shard_size` is specified. "
            f"Received: filepath={name}"
        )
    if not model.built:
        raise ValueError(f"save_weights: model {model.name} is not built yet")
    if not overwrite and os.path.exists(filepath):
        if not files.ask_to_proceed_with_overwrite(name):
            return
    if max_shard_size is None:
        keras_file.save_weights(model, Path(filepath))
    else:
        sharded.save_weights(model, Path(filepath), max_shard_size)


def load_weights(model: Any, filepath: str | os.PathLike, skip_mismatch: bool = False) -> None:
    """Set ``model``'s weights from a ``.weights.h5`` file, Keras's sharded weights (their
    ``.weights.json`` index) or a ``.keras`` archive (Keras's or autoconv's; autoconv 0.1's
    weights files too), every one checked first: all or none.
    ``skip_mismatch``: leave out, with Keras's warning, the layers whose weights in the file
    do not fit (none there, another count or shape), as Keras's (which ignores it for legacy
    ``.h5`` files, as autoconv does, and for autoconv 0.1's)."""
    path = keras_file.exists(filepath)
    kind = keras_file.file_kind(path)
    if path.name.endswith(".weights.json"):
        sharded.load_weights(model, path, skip_mismatch)
    elif kind == "zip" and npz_file.is_npz_file(path):
        npz_file.load_weights(model, path)
    elif kind == "hdf5" and _is_legacy(path):
        legacy_h5.load_weights(model, path)
    elif kind in ("zip", "hdf5"):
        keras_file.load_weights(model, path, skip_mismatch)
    else:
        raise ModelFileError(
            f"{path} is not a weights file (.weights.h5 or .weights.json) or a .keras archive"
        )


def _hdf5_attributes(path: Path) -> set[str]:
    try:
        with h5py.File(path, "r") as h5:
            return set(h5.attrs)
    except FILE_ERRORS as error:
        raise ModelFileError(f"{path} is a damaged HDF5 file ({error})") from None


def _is_legacy(path: Path) -> bool:
    """Whether an HDF5 file is a legacy model or weights file (else Keras 3's layout)."""
    try:
        with h5py.File(path, "r") as h5:
            return legacy_h5.is_legacy_weights(h5)
    except FILE_ERRORS as error:
        raise ModelFileError(f"{path} is a damaged HDF5 file ({error})") from None


# ---------------------------------------------------------------- Keras's object entries
_FAMILIES = {
    "keras.initializers": initializers,
    "keras.regularizers": regularizers,
    "keras.constraints": constraints,
    "keras.losses": losses,
    "keras.metrics": metrics,
    "keras.optimizers": optimizers,
}

# Keras's torch backend's optimizers are classes of their own, entered under their modules
# (keras.src.backend.torch.optimizers.torch_adam, ...), as Keras's serialize_keras_object writes.
_TORCH_OPTIMIZERS = "keras.src.backend.torch.optimizers."


def _family(module: Any) -> Any:
    """The autoconv module whose ``deserialize`` reads an entry of Keras's ``module``."""
    if isinstance(module, str) and module.startswith(_TORCH_OPTIMIZERS):
        return optimizers
    return _FAMILIES.get(module)


_BASES = (
    (losses, losses.Loss),
    (metrics, metrics.Metric),
    (optimizers, optimizers.Optimizer),
    (initializers, initializers.Initializer),
    (regularizers, regularizers.Regularizer),
    (constraints, constraints.Constraint),
)


def serialize_keras_object(obj: Any) -> Any:
    """Keras's JSON form of ``obj``: plain values as they are, lists and dicts item by item,
    a layer, model, loss, metric, optimizer, initializer, regularizer or constraint as its
    entry (module, class name, config, registered name), a function by its registered name;
    tuples stay tuples, and arrays, Tensors, NumPy numbers, bytes, slices and ``...`` are
    Keras's entries of them (``__numpy__``, ``__tensor__``, ...)."""
    if obj is None or isinstance(obj, str | bool | int | float):
        return obj
    if isinstance(obj, list | tuple):
        items = [serialize_keras_object(item) for item in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
        return obj.item()
    if isinstance(obj, np.ndarray | np.generic | Tensor | slice) or obj is Ellipsis:
        return operation._json(obj)
    if isinstance(obj, Layer):
        return layer_serialization.serialize(obj)
    for family, base in _BASES:
        if isinstance(obj, base):
            return family.serialize(obj)
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):  # (Keras's entry of every function)
        return function_entry(get_registered_name(obj))
    if hasattr(obj, "get_config"):  # a user's registered class
        return {
            "module": type(obj).__module__,
            "class_name": type(obj).__name__,
            "config": obj.get_config(),
            "registered_name": get_registered_name(type(obj)),
        }
    raise TypeError(f"Cannot serialize {obj!r}: it has no get_config()")


def _own_functions() -> dict[str, Any]:
    """autoconv's functions a Keras entry may name: the activations, losses and metrics."""
    lookups = ("deserialize", "get", "serialize")
    named = {n: getattr(activations, n) for n in activations.__all__ if n not in lookups}
    return {**metrics.functions.FUNCTIONS, **losses.functions.FUNCTIONS, **named}


def deserialize_keras_object(
    config: Any,
    custom_objects: dict[str, Any] | None = None,
    safe_mode: bool = True,
    **kwargs: Any,
) -> Any:
    """The object an entry of :func:`serialize_keras_object` describes (found among autoconv's
    own classes or a user's registered ones, never by importing a module the entry names;
    ``safe_mode`` as :func:`load_model`'s)."""
    del safe_mode  # (no code from an entry is ever run)
    if config is None or isinstance(config, str | bool | int | float):
        return config
    if isinstance(config, list | tuple):  # (a tuple: as serialize_keras_object gives it)
        return [deserialize_keras_object(item, custom_objects) for item in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config:
        return {
            key: deserialize_keras_object(value, custom_objects) for key, value in config.items()
        }
    if config["class_name"] == "__bytes__":
        return str(config["config"]["value"]).encode("utf-8")
    if config["class_name"] in ("__numpy__", "__tensor__", "__slice__", "__ellipsis__"):
        return operation.from_json(config, None)
    with custom_object_scope(custom_objects or {}):
        if config["class_name"] == "__lambda__":
            raise ValueError(
                "Requested the deserialization of a Python lambda, which a file cannot carry "
                "safely: autoconv does not load it"
            )
        if config["class_name"] == "function":
            return require_function(config, custom_objects, _own_functions())
        family = _family(config.get("module"))
        if family is not None:
            return family.deserialize(config)
        cls = get_registered_object(config.get("registered_name") or config["class_name"])
        if inspect.isclass(cls) and not issubclass(cls, Layer):
            return cls.from_config(config.get("config", {}))
        made = layer_serialization.deserialize(config, custom_objects)
        if config.get("compile_config") and hasattr(made, "compile_from_config"):
            made.compile_from_config(config["compile_config"])  # as Keras's
        return made
