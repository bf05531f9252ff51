"""Files of autoconv's own format before Keras's (autoconv 0.1's ``model.save``, under any
name, ``.keras`` included): read only, so that models saved then keep loading; a note says to
save them again (as a Keras ``.keras`` archive).

Such a file is an ``.npz`` archive: a JSON config (the architecture, the compile settings, the
optimizer's configuration and step count) and one array per weight and per optimizer slot.
Everything read is checked before anything is built or changed: the archive's entries (stored
uncompressed, each holding exactly the bytes its header's shape needs), the JSON's types, known
layer, loss and optimizer names, each weight's and slot's shape against the architecture,
float32/float64 only, finite values, and no weight larger than the arrays the file holds (so a
config asking for 10**13 units fails before any allocation). Any problem is one
``ModelFileError`` naming the file.
"""

from __future__ import annotations

import json
import math
import tokenize
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from autoconv import losses as losses_module
from autoconv import metrics as metrics_module
from autoconv import optimizers as optimizers_module
from autoconv.backends import namespace
from autoconv.layers import InputLayer, Layer
from autoconv.layers.serialization import deserialize
from autoconv.models import Functional, Sequential
from autoconv.saving.files import (
    FILE_ERRORS,
    ModelFileError,
    checked_dict,
    checked_int,
    checked_list,
    checked_str,
    reason,
    weight_budget,
)

MODEL_FORMAT, WEIGHTS_FORMAT, VERSION = "autoconv.model", "autoconv.weights", 2
RESAVE = (
    "it is in autoconv's format before Keras's; save it again (model.save('name.keras')) to "
    "have a Keras 3 .keras archive that Keras reads too"
)


def is_npz_file(path: Path) -> bool:
    """Whether ``path`` is a zip archive with autoconv's ``config.npy``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "config.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# ------------------------------------------------------------------------------ configs
def layer_from_config(entry: Any) -> Layer:
    """A layer (or nested model) from an old config's ``{"class_name", "config"}``."""
    entry = checked_dict(entry, "layer entry")
    class_name = checked_str(entry.get("class_name"), "class_name")
    config = checked_dict(entry.get("config"), f"config of {class_name}")
    if class_name == "Sequential":
        return sequential_from_config(config)
    if class_name in ("Functional", "Model"):
        return functional_from_config(config)
    if class_name == "InputLayer":
        return InputLayer(**config)
    return deserialize({"class_name": class_name, "config": config})


def sequential_from_config(config: dict[str, Any]) -> Any:
    entries = checked_list(config.get("layers"), "Sequential layers")
    model = Sequential(name=checked_str(config.get("name"), "name"))
    if "input" in config:
        model.add(layer_from_config(config["input"]), rebuild=False)
    for entry in entries:
        model.add(layer_from_config(entry), rebuild=False)
    model._maybe_rebuild()
    if not config.get("trainable", True):  # (setting True would unfreeze the frozen layers)
        model.trainable = False
    return model


def functional_from_config(config: dict[str, Any]) -> Any:
    """Rebuild a functional model by replaying each layer's calls on the symbolic tensors."""
    from autoconv.models.functional import _restructure

    entries = checked_list(config.get("layers"), "layers")
    made: dict[tuple[str, int], Any] = {}  # (layer name, node index in the file) -> tensor
    pending: list[tuple[Layer, int, list, bool | None]] = []
    for entry in entries:
        layer = layer_from_config(entry)
        calls = checked_list(entry.get("inbound_nodes", []), "inbound_nodes")
        indices = checked_list(entry.get("node_indices", list(range(len(calls)))), "node_indices")
        modes = checked_list(entry.get("call_training", [None] * len(calls)), "call_training")
        if not len(indices) == len(modes) == len(calls):
            raise ValueError(
                f"layer {layer.name} has {len(calls)} calls but {len(indices)} indices and "
                f"{len(modes)} training modes"
            )
        if any(mode not in (None, True, False) for mode in modes):
            raise ValueError(f"layer {layer.name}: call_training must hold null, true or false")
        if isinstance(layer, InputLayer):
            made[(layer.name, checked_int(indices[0], "node index") if indices else 0)] = (
                layer.output
            )
            continue
        for index, call, mode in zip(indices, calls, modes, strict=True):
            pending.append(
                (layer, checked_int(index, "node index"), checked_list(call, "inbound node"), mode)
            )
    while pending:
        ready = [p for p in pending if all(_key(ref) in made for ref in p[2])]
        if not ready:
            names = sorted({p[0].name for p in pending})
            raise ValueError(f"the graph cannot be rebuilt: layers {names} read missing tensors")
        for layer, index, refs, mode in ready:
            inputs = [made[_key(ref)] for ref in refs]
            made[(layer.name, index)] = layer(
                inputs if len(inputs) > 1 else inputs[0], training=mode
            )
        pending = [p for p in pending if p not in ready]
    inputs = [_made(made, ref) for ref in checked_list(config.get("input_layers"), "input_layers")]
    outputs = [
        _made(made, ref) for ref in checked_list(config.get("output_layers"), "output_layers")
    ]
    model = Functional(
        _restructure(inputs, _structure(config.get("input_structure", "list"), len(inputs))),
        _restructure(outputs, _structure(config.get("output_structure", "list"), len(outputs))),
        name=checked_str(config.get("name"), "name"),
    )
    if not config.get("trainable", True):  # (setting True would unfreeze the frozen layers)
        model.trainable = False
    return model


def _structure(value: Any, count: int) -> Any:
    """A functional model's input or output structure: "single" (one tensor), "list", or
    ["dict", names] with one distinct name per tensor."""
    if value == "list" or (value == "single" and count == 1):
        return value
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] == "dict"
        and isinstance(value[1], list)
        and all(isinstance(k, str) for k in value[1])
        and len(set(value[1])) == len(value[1]) == count
    ):
        return value
    raise ValueError(f"the structure {value!r} does not fit {count} tensor(s)")


def _made(made: dict[tuple[str, int], Any], ref: Any) -> Any:
    key = _key(ref)
    if key not in made:
        raise ValueError(f"the model's inputs or outputs name a tensor no layer makes: {ref!r}")
    return made[key]


def _key(ref: Any) -> tuple[str, int]:
    ref = checked_list(ref, "tensor reference")
    if len(ref) != 3:
        raise ValueError(f"a tensor reference must be [layer, node, tensor], got {ref!r}")
    return checked_str(ref[0], "layer name"), checked_int(ref[1], "node index")


# ------------------------------------------------------------------------------ reading
# What reading may raise is files.FILE_ERRORS.


def load_model(path: Path, compile: bool = True) -> Any:
    """Read a model autoconv 0.1 wrote (any kind: Sequential, functional, nested), with its
    compile settings and optimizer state, and say (a warning) to save it again. Damaged or
    foreign files raise ``ModelFileError`` naming the file; nothing is half-loaded."""
    config, arrays = read_npz(path)
    try:
        if config.get("format") != MODEL_FORMAT:
            kind = (
                "a weights file (use model.load_weights)"
                if config.get("format") == (WEIGHTS_FORMAT)
                else "not an autoconv model"
            )
            raise ValueError(f"it is {kind}")
        _check_entries(config, arrays)
        weights = _weight_arrays(config, arrays)
        with weight_budget([a.size for a in arrays.values()]):
            model = layer_from_config(config.get("model"))
        _check_weights(model, weights)
        if "class_names" in config:
            names = [
                checked_str(n, "class name")
                for n in checked_list(config["class_names"], "class_names")
            ]
            model.class_names = names
        setup = config.get("compile") if compile else None
        optimizer = None
        if setup is not None:
            optimizer, losses, loss_weights, metrics = _compile_parts(
                checked_dict(setup, "compile")
            )
            slots = _slot_arrays(config, arrays, model, optimizer)
        for variable, value in zip(model.weights, weights, strict=True):
            variable.assign(value)
        if setup is not None:
            per_output = metrics if len(metrics) > 1 else (metrics[0] if metrics else None)
            model.compile(optimizer, losses, loss_weights, per_output or None)
            optimizer.slots = slots
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_model: {path}: {reason(error)}") from None
    warnings.warn(f"{path}: {RESAVE}", stacklevel=3)
    return model


def load_weights(model: Any, path: Path) -> None:
    """Set ``model``'s weights from an autoconv 0.1 weights (or model) file, after checking
    every one of them as :func:`load_model` does: all or nothing."""
    config, arrays = read_npz(path)
    try:
        if config.get("format") not in (MODEL_FORMAT, WEIGHTS_FORMAT):
            raise ValueError("it is not an autoconv weights or model file")
        _check_entries(config, arrays)
        weights = _weight_arrays(config, arrays)
        if not model.built:
            raise ValueError(f"model {model.name} is not built yet; build it before loading")
        _check_weights(model, weights)
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_weights: {path}: {reason(error)}") from None
    for variable, value in zip(model.weights, weights, strict=True):
        variable.assign(value)
    warnings.warn(f"{path}: {RESAVE}", stacklevel=3)


def read_npz(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON config and the arrays of an autoconv 0.1 file (:func:`is_npz_file`).

    The archive is read entry by entry without NumPy's loader: an entry must be stored
    uncompressed and hold exactly the bytes its header's shape needs, so no file makes autoconv
    allocate more memory than the file's own size."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            names = [entry.filename for entry in entries]
            if "config.npy" not in names:
                raise ModelFileError(f"{path} is a zip archive, but not an autoconv file")
            if len(set(names)) != len(names):
                raise ValueError("it names an entry twice")
            size = path.stat().st_size
            arrays = {}
            for entry in entries:
                _check_entry(entry, size)
                arrays[entry.filename[: -len(".npy")]] = _read_entry(archive, entry)
    except ModelFileError:
        raise
    except (
        zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, RuntimeError,
        NotImplementedError, OverflowError,
    ) as error:  # fmt: skip
        raise ModelFileError(f"{path} is damaged or truncated ({reason(error)})") from None
    raw = arrays.pop("config")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: its config is not JSON text")
    try:
        config = json.loads(raw.tobytes().decode())
    except RecursionError:
        raise ModelFileError(f"{path}: its config is nested too deeply") from None
    except ValueError as error:  # also UnicodeDecodeError and json.JSONDecodeError
        raise ModelFileError(f"{path}: its config is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: its config is not a JSON object")
    version = config.get("version")
    if config.get("format") in (MODEL_FORMAT, WEIGHTS_FORMAT) and version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise ModelFileError(
            f"{path}: format version {version!r} is "
            + ("newer than this autoconv reads; upgrade autoconv" if newer else "not supported")
        )
    return config, arrays


def _check_entry(entry: zipfile.ZipInfo, file_size: int) -> None:
    """An entry as autoconv writes them: a ``.npy`` array, stored (not compressed, so it
    cannot expand), not encrypted, lying inside the file."""
    name = entry.filename
    if not name.endswith(".npy") or "/" in name:
        raise ValueError(f"it holds an entry {name!r} that is not an array")
    if entry.flag_bits & 0x1:
        raise ValueError(f"its entry {name!r} is encrypted")
    if entry.compress_type != zipfile.ZIP_STORED:
        raise ValueError(
            f"its entry {name!r} is compressed; autoconv writes (and reads) uncompressed "
            "archives only"
        )
    if entry.file_size != entry.compress_size or entry.header_offset + entry.file_size > file_size:
        raise ValueError(f"its entry {name!r} claims more bytes than the file holds")


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> np.ndarray:
    """The array of one ``.npy`` entry, after checking that its header's shape and dtype need
    exactly the bytes the entry holds (never allocating what a header merely claims)."""
    name = entry.filename
    with archive.open(entry) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"its entry {name!r} has an unknown array format {version}")
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }[version]
        try:
            shape, fortran_order, dtype = read_header(f)
        except (SyntaxError, tokenize.TokenError, RecursionError, TypeError) as error:
            # NumPy parses the header as a Python literal; a damaged one can fail this way
            raise ValueError(f"its entry {name!r} has a damaged header ({error})") from None
        if dtype.hasobject or dtype.itemsize == 0:
            raise ValueError(f"its entry {name!r} holds Python objects, not numbers")
        if any(n < 0 for n in shape):
            raise ValueError(f"its entry {name!r} has a negative size in its shape {shape}")
        needed = math.prod(shape) * dtype.itemsize
        held = entry.file_size - f.tell()
        if needed != held:
            raise ValueError(
                f"its entry {name!r} claims shape {shape} of {dtype} ({needed} bytes) but holds "
                f"{held} bytes"
            )
        data = f.read(needed)
        if len(data) != needed or f.read(1):
            raise ValueError(f"its entry {name!r} is cut short")
    order = "F" if fortran_order else "C"
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order)


def _check_entries(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The file's arrays are exactly those its config names: one per weight and one per
    optimizer slot (``slot_<i>_<name>``)."""
    expected = {f"weight_{i}" for i in range(len(checked_list(config.get("weights"), "weights")))}
    index = config.get("slots")
    if index is not None:
        index = checked_dict(index, "slots")
        names = [
            checked_str(n, "slot name") for n in checked_list(index.get("names", []), "slot names")
        ]
        count = checked_int(index.get("count", 0), "slot count")
        if count > len(expected):
            raise ValueError(f"the optimizer state covers {count} weights, the file holds fewer")
        expected |= {f"slot_{i}_{name}" for i in range(count) for name in names}
    unknown = sorted(set(arrays) - expected)
    if unknown:
        raise ValueError(f"it holds arrays its config does not name: {unknown}")


def _weight_arrays(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    paths = checked_list(config.get("weights"), "weights")
    weights = []
    for i, weight_path in enumerate(paths):
        weight_path = checked_str(weight_path, "weight path")
        value = arrays.get(f"weight_{i}")
        if value is None:
            raise ValueError(f"weight {weight_path!r} is missing from the file")
        weights.append(_float_array(value, f"weight {weight_path!r}"))
    return weights


def _float_array(value: np.ndarray, what: str) -> np.ndarray:
    if value.dtype not in (np.float32, np.float64):
        raise ValueError(f"{what} has dtype {value.dtype}; expected float32 or float64")
    if not np.isfinite(value).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return value


def _check_weights(model: Any, weights: list[np.ndarray]) -> None:
    own = model.weights
    if len(own) != len(weights):
        raise ValueError(f"the file holds {len(weights)} weights, the model has {len(own)}")
    for variable, value in zip(own, weights, strict=True):
        if value.shape != variable.shape:
            raise ValueError(
                f"weight {variable.path} has shape {value.shape} in the file, the model's is "
                f"{variable.shape}"
            )


def _spec(module: Any, spec: Any) -> Any:
    """A loss or metric as compile was given it: a name stays a name, an object is saved as
    its config (a custom function cannot be saved)."""
    if isinstance(spec, str):
        return spec
    try:
        return module.serialize(spec)
    except (AttributeError, ValueError, TypeError):
        raise NotImplementedError(
            f"{spec!r} is a custom function, which cannot be saved in a model file: save the "
            "weights with save_weights() and compile again after loading"
        ) from None


def _checked_spec(module: Any, spec: Any, what: str) -> Any:
    """A saved loss or metric: a name, or a config of one of autoconv's classes."""
    if isinstance(spec, str):
        if spec.lower() not in ("accuracy", "acc", "crossentropy", "ce"):
            module.get(spec)
        return spec
    entry = checked_dict(spec, what)
    checked_str(entry.get("class_name"), f"{what} class_name")
    checked_dict(entry.get("config", {}), f"{what} config")
    return module.get(entry)


def _compile_parts(setup: dict[str, Any]) -> tuple[Any, list[Any], list[float], list[Any]]:
    entry = checked_dict(setup.get("optimizer"), "optimizer")
    checked_str(entry.get("class_name"), "optimizer class_name")
    _json_numbers(checked_dict(entry.get("config"), "optimizer config"), "optimizer setting")
    optimizer = optimizers_module.deserialize(entry)
    optimizer.iterations = checked_int(setup.get("iterations", 0), "iterations", 2**63 - 1)
    losses = [
        None if entry is None else _checked_spec(losses_module, entry, "loss")
        for entry in checked_list(setup.get("losses"), "losses")
    ]
    loss_weights = [
        _number(w, "loss weight") for w in checked_list(setup.get("loss_weights"), "loss_weights")
    ]
    metrics = [
        [_checked_spec(metrics_module, m, "metric") for m in checked_list(specs, "metrics")]
        for specs in checked_list(setup.get("metrics", []), "metrics")
    ]
    return optimizer, losses, loss_weights, metrics


def _slot_arrays(
    config: dict[str, Any], arrays: dict[str, np.ndarray], model: Any, optimizer: Any
) -> list[dict[str, np.ndarray]]:
    index = config.get("slots")
    if index is None or checked_dict(index, "slots").get("count", 0) == 0:
        return []
    params = model.trainable_weights
    count = checked_int(index.get("count"), "slot count")
    if count != len(params):
        raise ValueError(
            f"the optimizer state covers {count} weights, the model trains {len(params)}"
        )
    wanted = set(optimizer.slot_names)
    names = {checked_str(n, "slot name") for n in checked_list(index.get("names"), "slot names")}
    if names != wanted:
        raise ValueError(
            f"the optimizer state has slots {sorted(names)}, expected {sorted(wanted)}"
        )
    slots = []
    for i, param in enumerate(params):
        entry = {}
        for name in optimizer.slot_names:
            value = arrays.get(f"slot_{i}_{name}")
            if value is None:
                raise ValueError(f"optimizer slot {name!r} of {param.path} is missing")
            value = _float_array(value, f"optimizer slot {name!r} of {param.path}")
            if value.shape != param.shape:
                raise ValueError(
                    f"optimizer slot {name!r} of {param.path} has shape {value.shape}, the "
                    f"weight's is {param.shape}"
                )
            entry[name] = namespace(param.device).asarray(value.astype(param.dtype))
        slots.append(entry)
    return slots


# --------------------------------------------------------------------- JSON checks
NAME_KEYS = ("name", "module", "class_name", "registered_name")


def _json_numbers(config: dict[str, Any], what: str) -> None:
    """Settings are numbers, flags, nulls, or nested configs (a schedule) of those; strings
    only where a config names something."""
    for key, value in config.items():
        if isinstance(value, dict):
            _json_numbers(value, what)
        elif isinstance(value, str) and key in NAME_KEYS:
            continue
        elif not isinstance(value, int | float | type(None)):
            raise ValueError(f"{what} {key!r} is not a number: {value!r}")


def _number(value: Any, what: str) -> float:
    number = float(value) if isinstance(value, float) or _small_int(value) else math.nan
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _small_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _host(array: Any) -> np.ndarray:
    from autoconv.backends import array_device

    return namespace(array_device(array)).to_numpy(array)
