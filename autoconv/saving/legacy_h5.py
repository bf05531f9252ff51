"""Keras 2's (and tf.keras's) legacy HDF5 models and weights, ``.h5``: read, and written as
Keras 3 still writes them (``model.save("name.h5")``).

A legacy model file keeps the model's config as JSON in the root attribute ``model_config``,
its compile settings in ``training_config`` (the optimizer as ``optimizer_config``), the
weights under ``model_weights``: an attribute ``layer_names`` and, for each layer, a group with
an attribute ``weight_names`` naming its datasets (a layer's trainable weights, then the
others). Weights are matched by order, as Keras does: the layers of the model that have
weights, in the model's layer order, against the layers of the file that have some. A legacy
weights file (Keras 2's ``save_weights("name.h5")``) is that ``model_weights`` group at the
root. The optimizer's state, under ``optimizer_weights``, is restored when it has Keras 3's
order and shapes (files Keras 3 wrote); Keras 2's optimizers kept theirs otherwise, and then
training starts with a fresh optimizer, with a warning, as Keras 3 does.

Keras 2's configs differ from Keras 3's in places, translated here before the model is made:
an input's ``batch_input_shape``, a functional model's calls as lists ``[layer, node, tensor,
kwargs]`` (and a nested functional model's calls numbered from 1), ``Model`` for
``Functional``, an ``axis`` given as a list, an optimizer's ``decay`` (0: the only value
autoconv has) and ``is_legacy_optimizer``. Every check of :mod:`.keras_file` applies.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autoconv import losses, optimizers
from autoconv import metrics as metrics_module
from autoconv.atomic import write_atomically
from autoconv.layers.serialization import deserialize
from autoconv.saving import h5_state
from autoconv.saving.files import (
    FILE_ERRORS,
    ModelFileError,
    checked_dict,
    checked_list,
    reason,
    weight_budget,
)

KERAS_VERSION = "3.15.1"
MAX_CONFIG_BYTES = 64 * 2**20


def is_legacy_model(h5: Any) -> bool:
    return "model_config" in h5.attrs


def is_legacy_weights(h5: Any) -> bool:
    return "layer_names" in h5.attrs or "model_weights" in h5


# ------------------------------------------------------------------------------ reading
def load_model(path: Path, custom_objects: dict | None, compile: bool) -> Any:
    """The model of a legacy ``.h5`` file, compiled as it was (where ``compile``)."""
    try:
        with h5py.File(path, "r") as h5:
            config = _json_attribute(h5, "model_config")
            weights = h5.get("model_weights")
            if not isinstance(weights, h5py.Group):
                raise ValueError("it has no model_weights")
            with weight_budget(h5_state.dataset_sizes(weights)):
                model = deserialize(keras3_config(config), custom_objects)
            from autoconv.models import Model

            if not isinstance(model, Model) or not model.built:
                raise ValueError("its config does not describe a built model")
            pairs = read_weights(weights, model)
            state = None
            if compile and "training_config" in h5.attrs:
                model.compile(**compile_arguments(_json_attribute(h5, "training_config")))
                state = _optimizer_state(h5, model, path)
        h5_state.assign(model, pairs, state)
    except ModelFileError:
        raise
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_model: {path}: {reason(error)}") from None
    return model


def load_weights(model: Any, path: Path) -> None:
    """Set ``model``'s weights from a legacy model or weights file: all or nothing."""
    if not model.built:
        raise ValueError(f"load_weights: model {model.name} is not built yet; build it first")
    try:
        with h5py.File(path, "r") as h5:
            group = h5["model_weights"] if "model_weights" in h5 else h5
            pairs = read_weights(group, model)
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_weights: {path}: {reason(error)}") from None
    h5_state.assign(model, pairs, None)


def _json_attribute(h5: Any, name: str) -> dict[str, Any]:
    text = h5.attrs[name]
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str) or len(text) > MAX_CONFIG_BYTES:
        raise ValueError(f"its {name} is not JSON text of at most {MAX_CONFIG_BYTES} bytes")
    return checked_dict(json.loads(text), name)


def _names(group: Any, name: str) -> list[str]:
    """A list-of-names attribute (``layer_names``, ``weight_names``), whole or in the chunks
    ``name0``, ``name1``, ... Keras splits a long one into."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
    names = [n.decode("utf-8") if isinstance(n, bytes) else n for c in chunks for n in c]
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"its {name} are not names")
    return names


def legacy_weights(layer: Any) -> list[Any]:
    """A layer's weights in the legacy files' order: trainable, then the others."""
    return [*layer.trainable_weights, *layer.non_trainable_weights]


def read_weights(group: Any, model: Any) -> list[tuple[Any, np.ndarray]]:
    """``(variable, value)`` for every weight of ``model`` from a ``model_weights`` group,
    matched by order (layers with weights, in turn), each checked; nothing is assigned."""
    layers = [layer for layer in model.layers if legacy_weights(layer)]
    saved = []
    for name in _names(group, "layer_names"):
        if not isinstance(group.get(name), h5py.Group):
            raise ValueError(f"its layer {name!r} has no group of weights")
        if _names(group[name], "weight_names"):
            saved.append(name)
    if len(saved) != len(layers):
        raise ValueError(
            f"it holds the weights of {len(saved)} layers; the model has {len(layers)} layers "
            "with weights"
        )
    pairs = []
    for layer, name in zip(layers, saved, strict=True):
        variables = legacy_weights(layer)
        weight_names = _names(group[name], "weight_names")
        if len(weight_names) != len(variables):
            raise ValueError(
                f"layer {layer.name} has {len(variables)} weights, the file's layer {name!r} "
                f"holds {len(weight_names)}"
            )
        for variable, weight_name in zip(variables, weight_names, strict=True):
            item = group[name].get(weight_name)
            value = h5_state.checked_value(item, f"weight {weight_name!r}", variable.shape)
            pairs.append((variable, value.astype(variable.dtype, copy=False)))
    return pairs


def _optimizer_state(h5: Any, model: Any, path: Path) -> tuple | None:
    """The optimizer state of a file Keras 3 wrote (its order and shapes), else None with a
    warning (Keras 2's optimizers kept their state in another order)."""
    group = h5.get("optimizer_weights")
    if not isinstance(group, h5py.Group):
        return None
    names = _names(group, "weight_names")
    store = {str(i): group.get(name) for i, name in enumerate(names)}
    if all(isinstance(item, h5py.Dataset) for item in store.values()):
        try:
            return h5_state.read_optimizer({"optimizer/vars": store}, model, skip_mismatch=False)
        except ValueError:
            pass
    warnings.warn(
        f"{path}: its optimizer state is not in Keras 3's order (a Keras 2 optimizer's): "
        "training starts with a fresh optimizer, as in Keras 3",
        stacklevel=4,
    )
    return None


# ----------------------------------------------------------- Keras 2's configs as Keras 3's
def keras3_config(entry: Any) -> dict[str, Any]:
    """A legacy layer or model entry as the Keras 3 entry autoconv reads (see the module's
    docstring for what changes)."""
    entry = dict(checked_dict(entry, "a layer entry"))
    config = dict(checked_dict(entry.get("config", {}), "a layer's config"))
    if entry.get("class_name") == "Model":
        entry["class_name"] = "Functional"
    shape = config.pop("batch_input_shape", None)
    if shape is not None:
        config["batch_shape" if entry["class_name"] == "InputLayer" else "batch_input_shape"] = (
            shape
        )
    if isinstance(config.get("axis"), list) and len(config["axis"]) == 1:
        config["axis"] = config["axis"][0]
    if isinstance(config.get("layers"), list):
        config["layers"] = [keras3_config(layer) for layer in config["layers"]]
        if entry["class_name"] == "Functional":
            nested = {
                layer["name"] for layer in config["layers"] if layer["class_name"] == "Functional"
            }
            for layer in config["layers"]:
                layer["inbound_nodes"] = [
                    _keras3_call(call, nested) for call in checked_list(
                        layer.get("inbound_nodes", []), "inbound_nodes")
                ]  # fmt: skip
    entry["config"] = config
    return entry


def _keras3_call(call: Any, nested: set[str]) -> Any:
    """A call in Keras 2's form, ``[[layer, node, tensor, kwargs], ...]``, as Keras 3's
    ``{"args": ..., "kwargs": ...}`` (a nested functional model's calls numbered from 0)."""
    if isinstance(call, dict):
        return call
    tensors, kwargs = [], {}
    for item in checked_list(call, "a call"):
        item = checked_list(item, "a call's input")
        if len(item) not in (3, 4):
            raise ValueError(f"a call's input must be [layer, node, tensor(, kwargs)], got {item}")
        name, node, index = item[:3]
        if name in nested and isinstance(node, int):
            node -= 1
        kwargs = item[3] if len(item) == 4 else kwargs
        tensors.append(
            {"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, index]}}
        )
    args = [tensors] if len(tensors) > 1 else tensors
    return {"args": args, "kwargs": checked_dict(kwargs, "a call's kwargs")}


def compile_arguments(training: dict[str, Any]) -> dict[str, Any]:
    """``compile``'s arguments from a legacy ``training_config``."""
    entry = dict(checked_dict(training.get("optimizer_config"), "optimizer_config"))
    config = dict(checked_dict(entry.get("config", {}), "the optimizer's config"))
    for key in ("is_legacy_optimizer", "jit_compile"):
        config.pop(key, None)
    if config.pop("decay", 0) not in (0, 0.0, None):
        raise ValueError("its optimizer decays its learning rate (decay), which autoconv lacks")
    entry["config"] = config
    metrics, weighted = (
        _objects(_named(training.get(k)), metrics_module.deserialize)
        for k in ("metrics", "weighted_metrics")
    )
    return {
        "optimizer": optimizers.deserialize(entry),
        "loss": _objects(_named(training.get("loss")), losses.deserialize),
        "metrics": metrics,
        "weighted_metrics": weighted,
        "loss_weights": training.get("loss_weights"),
    }


def _named(value: Any) -> Any:
    """Losses and metrics from a legacy training config: names, Keras 3 entries as they are;
    Keras 2's ``MeanMetricWrapper`` of a function and its loss entries with ``reduction: auto``
    as what they stand for."""
    if isinstance(value, list):
        return [_named(v) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _named(v) for k, v in value.items()}
    if isinstance(value, dict):
        config = dict(value.get("config") or {})
        if value["class_name"] == "MeanMetricWrapper":
            return config.get("fn") or config.get("name")
        if config.get("reduction") == "auto":
            config["reduction"] = "sum_over_batch_size"
        return {**value, "config": config}
    return value


def _objects(value: Any, deserialize: Any) -> Any:
    """The losses or metrics a training config's entries (``{"class_name": ...}``, in lists and
    dicts by output) stand for, made by ``deserialize`` before ``compile`` sees them, as Keras's
    loader makes them (compile takes a dict as one per output); names stay names."""
    if isinstance(value, list):
        return [_objects(v, deserialize) for v in value]
    if isinstance(value, dict) and "class_name" in value:
        return deserialize(value)
    if isinstance(value, dict):
        return {k: _objects(v, deserialize) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------ writing
def save_model(model: Any, path: Path) -> None:
    """Write ``model`` as a legacy ``.h5`` file, as Keras 3 writes it (atomically)."""
    config = {"class_name": type(model).__name__, "config": _legacy_entries(model.get_config())}
    attributes = {
        "keras_version": KERAS_VERSION,
        "backend": "autoconv",
        "model_config": json.dumps(config),
    }
    compile_config = model.get_compile_config()
    if compile_config:  # ({} before compile)
        optimizer = compile_config.pop("optimizer")
        compile_config["optimizer_config"] = {
            "class_name": optimizer["class_name"],
            "config": optimizer["config"],
        }
        attributes["training_config"] = json.dumps(compile_config)

    def write(f: Any) -> None:
        with h5py.File(f, "w") as h5:
            for key, value in attributes.items():
                h5.attrs[key] = value
            _write_weights(h5.create_group("model_weights"), model)
            values = h5_state.optimizer_values(model)
            if values is not None:
                group = h5.create_group("optimizer_weights")
                # Keras names each dataset by its variable's path (adam/dense_kernel_momentum)
                names = [variable.path for variable in model.optimizer.variables]
                group.attrs["weight_names"] = names
                for name, value in zip(names, values, strict=True):
                    group.create_dataset(name, data=value)

    write_atomically(path, write)


def _write_weights(group: Any, model: Any) -> None:
    group.attrs["layer_names"] = [layer.name for layer in model.layers]
    group.attrs["backend"] = "autoconv"
    group.attrs["keras_version"] = KERAS_VERSION
    for layer in sorted(model.layers, key=lambda layer: layer.name):
        layer_group = group.create_group(layer.name)
        variables = legacy_weights(layer)
        layer_group.attrs["weight_names"] = [v.path for v in variables]
        for variable in variables:
            layer_group.create_dataset(variable.path, data=variable.numpy())
    group.create_group("top_level_model_weights").attrs["weight_names"] = []


def _legacy_entries(config: Any) -> Any:
    """A model config with its layer entries as Keras 3's legacy writer makes them (class name
    and config, without module, registered name and build config; a user's layer in a model's
    ``layers`` by its registered name, ``package>Name``)."""
    if isinstance(config, list):
        return [_legacy_entries(item) for item in config]
    if not isinstance(config, dict):
        return config
    if "class_name" in config and "config" in config and "module" in config:
        if (config["module"] or "").startswith("keras.layers") or config["class_name"] in (
            "Sequential", "Functional",
        ):  # fmt: skip
            config = {k: v for k, v in config.items()
                      if k not in ("module", "registered_name", "build_config")}  # fmt: skip
    return {
        key: [_legacy_entries(_users_layer(item)) for item in value]
        if key == "layers" and isinstance(value, list)
        else _legacy_entries(value)
        for key, value in config.items()
    }


def _users_layer(entry: Any) -> Any:
    """A user's layer's entry (its module not Keras's) as Keras's legacy writer names it: by
    its registered name, with its config alone."""
    if not (isinstance(entry, dict) and "registered_name" in entry and "module" in entry):
        return entry
    if (entry["module"] or "").startswith("keras"):
        return entry
    dropped = ("module", "class_name", "registered_name", "build_config")
    named = {"class_name": entry["registered_name"] or entry["class_name"]}
    return named | {k: v for k, v in entry.items() if k not in dropped}
