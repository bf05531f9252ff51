"""A model's state in Keras 3's HDF5 layout: the ``model.weights.h5`` of a ``.keras`` archive,
and the files ``save_weights`` writes (``.weights.h5``).

Keras walks a model as an object tree and gives each object a group whose ``vars`` subgroup
holds its own variables as datasets ``0``, ``1``, ... (a layer's trainable variables, then its
non-trainable ones, in the order it made them; a "tf_idf" lookup's ``idf_weights`` by name, as
Keras's ``save_own_variables`` writes them; what a user's layer that overrides
``save_own_variables`` stores, given back whole to its ``load_own_variables``): the model at
the root, each of its layers under ``layers/<class name in snake case>[_<n>]`` (``dense``,
``dense_1``, ...: numbered in the model's layer order, never by the layers' own names), a
nested model's layers below its group, a custom layer's sublayers under
``<group>/<attribute>``, and the optimizer under ``optimizer``: its step count and learning
rate, then its slots in the order Keras's optimizer of that class makes them
(:mod:`autoconv.optimizers.variables`).

Reading checks everything before it assigns anything: every group and dataset the model needs
is there, each a float array of the variable's shape (a user's ``load_own_variables`` gets
every array of its layer's group, of any shape, each storing all the values it declares),
stored plainly (no compression filter: so no dataset makes autoconv allocate more than the
file holds) in the file itself (reached by no soft or external link, neither external storage
nor a virtual dataset: so no file makes autoconv read another), finite; the optimizer's state
fits the model's trainable weights.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import h5py
import numpy as np

from autoconv.backends import array_device, namespace
from autoconv.layers import InputLayer, Layer, Pipeline
from autoconv.metrics import Metric
from autoconv.models import Model
from autoconv.optimizers import MultiOptimizer, Optimizer
from autoconv.optimizers.variables import keeps_slot, keras_class, slot_groups


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` of a class name: ``Conv2D`` -> ``conv2d``, ``ReLU`` ->
    ``re_lu``, ``BatchNormalization`` -> ``batch_normalization``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def saveables(model: Layer) -> list[tuple[str, Layer]]:
    """``(group path, layer)`` for the model (path ``""``) and every layer below it, in
    Keras's walk (a layer met twice is saved once, under its first path)."""
    found: list[tuple[str, Layer]] = []
    seen: set[int] = set()
    stack: list[tuple[str, Layer]] = [("", model)]
    while stack:
        path, layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append((path, layer))
        children: list[tuple[str, Layer]] = []
        for attribute, value in _children(layer):
            prefix = f"{path}/{attribute}" if path else attribute
            if isinstance(value, list):
                used: dict[str, int] = {}
                for item in value:
                    children.append((f"{prefix}/{_unique(snake_case(_class_name(item)), used)}",
                                     item))  # fmt: skip
            else:
                children.append((prefix, value))
        stack.extend(reversed(children))
    return found


def _class_name(layer: Layer) -> str:
    """The class name Keras's groups are named after: the layer's, or the real class of a
    layer Keras saves under another name (``KERAS_GROUP_CLASS``: GroupQueryAttention's)."""
    return getattr(type(layer), "KERAS_GROUP_CLASS", type(layer).__name__)


def _children(layer: Layer) -> list[tuple[str, Any]]:
    """What Keras walks below a layer: a model's ``layers`` (a Sequential's without its Input,
    a functional model's with them) and a Pipeline's; a custom layer's attributes that hold a
    layer or a list of layers, public ones first, each set by name. A subclassed model's
    ``layers`` is one of its attributes to Keras, walked in its alphabetical place: the
    layers of attributes named before it are saved under those names, every other one under
    ``layers/<class name>`` (and met again under its own attribute, it is skipped)."""
    if isinstance(layer, Pipeline) or (isinstance(layer, Model) and layer._graph() is not None):
        return [("layers", list(layer.layers))]
    held = [
        (_walk_key(name), name, _listed(value))
        for name, value in vars(layer).items()
        if name not in _BASE_ATTRIBUTES and _holds_layers(value)
    ]
    held += _metric_layers(layer)
    if isinstance(layer, Model):
        held.append((_walk_key("layers"), "layers", list(layer.layers)))
    return [(name, value) for _, name, value in sorted(held, key=lambda item: item[0])]


def _metric_layers(owner: Any, prefix: str = "") -> list[tuple[str, str, Any]]:
    """The layers a metric held by ``owner`` holds (keras.io's KID metric's InceptionV3
    ``encoder``), as Keras walks them: under ``<metric attribute>/<attribute>``, where a metric
    saves no group of its own (nor do its variables: Keras saves no metric's state)."""
    found = []
    for name, value in vars(owner).items():
        if isinstance(value, Metric) and not isinstance(value, Layer):
            path = f"{prefix}{name}"
            found += [
                (_walk_key(path), f"{path}/{inner}", _listed(v))
                for inner, v in vars(value).items()
                if _holds_layers(v)
            ]
            found += _metric_layers(value, f"{path}/")
    return found


def _walk_key(name: str) -> str:
    """Keras's order of the attributes it walks: alphabetical, private ones last."""
    return f"~{name}" if name.startswith("_") else name


_BASE_ATTRIBUTES = frozenset({"_layers", "_inbound_nodes"})


def _holds_layers(value: Any) -> bool:
    if isinstance(value, Layer):
        return True
    items = _listed(value)
    return isinstance(items, list) and bool(items) and all(isinstance(v, Layer) for v in items)


def _listed(value: Any) -> Any:
    """A tuple's items, or a dict's values in order (keras.io's ``self.embeddings = {feature:
    Embedding(...)}``), as the list Keras saves them from; anything else as it is."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    return value


def _unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def own_variables(layer: Layer) -> list[Any]:
    """A layer's own variables in Keras's order: those made trainable, then the others."""
    if isinstance(layer, InputLayer):
        return []
    return [*layer._trainable_variables, *layer._non_trainable_variables]


def own_state_shapes(layer: Layer) -> dict[str, tuple[int, ...]]:
    """What a layer keeps beside its weights, as the named datasets Keras's
    ``save_own_variables`` writes in its ``vars`` (a "tf_idf" lookup's ``idf_weights``), with
    their shapes; {} for most layers."""
    return layer.own_state_shapes() if hasattr(layer, "own_state_shapes") else {}


def custom_store(layer: Layer, hook: str) -> bool:
    """Whether ``layer``'s class overrides Keras's ``hook`` (``"save_own_variables"`` or
    ``"load_own_variables"``): a user's layer, whose ``vars`` are what its hook stores or
    reads (autoconv's own layers declare what they keep in ``own_state_shapes`` instead)."""
    overridden = getattr(type(layer), hook) is not getattr(Layer, hook)
    return overridden and not hasattr(layer, "own_state_shapes")


def held_optimizers(model: Model) -> list[tuple[str, Any]]:
    """``(group path, optimizer)`` for each optimizer the model or a layer below it holds as
    an attribute, besides ``model.optimizer`` (a GAN's ``d_optimizer`` and ``g_optimizer``):
    Keras walks them as it walks layers, each under its attribute's name."""
    found: list[tuple[str, Any]] = []
    seen = {id(getattr(model, "optimizer", None))}  # (a layer saved alone has none)
    for path, layer in saveables(model):
        for name, value in sorted(vars(layer).items(), key=lambda item: _walk_key(item[0])):
            if isinstance(value, Optimizer) and id(value) not in seen:
                seen.add(id(value))
                found.append((f"{path}/{name}" if path else name, value))
    return found


class _HeldOptimizer:
    """An optimizer a model holds as an attribute, as :func:`assign` sets its state (that of
    :func:`_read_state`): the step count and learning rate, and the slots where it is built."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer

    def assign(self, state: tuple[int, float | None, list]) -> None:
        optimizer = self.optimizer
        if optimizer.built:
            _assign_state(optimizer, state, optimizer._variables)
            return
        iterations, rate, _ = state
        optimizer.iterations = iterations
        if rate is not None and np.float32(rate) != np.float32(optimizer.learning_rate):
            optimizer.learning_rate = rate


def _held_optimizer_pairs(h5: Any, model: Model) -> list[tuple[Any, Any]]:
    """:func:`read`'s pairs for the optimizers of :func:`held_optimizers`: where the file holds
    as many variables as the optimizer has (its step count and learning rate, then its
    slots once built), their values; else none, with Keras's warning (an optimizer not yet
    built skips a state saved after its first step)."""
    pairs: list[tuple[Any, Any]] = []
    for path, optimizer in held_optimizers(model):
        _check_layout(optimizer)
        params = optimizer._variables if optimizer.built else []
        expected = _state_count(optimizer, params)
        group = member(h5, f"{path}/vars")
        saved = 0 if group is None or _is_dataset(group) else len(group)
        if saved != expected:
            warnings.warn(
                f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
                f"{expected} variables whereas the saved optimizer has {saved} variables.",
                stacklevel=5,
            )
            continue
        pairs.append((_HeldOptimizer(optimizer), _read_state(group, 0, optimizer, params)[0]))
    return pairs


class _OwnStore:
    """Arrays a layer keeps, as :func:`assign` sets them: through the layer's
    ``load_own_variables``, given them as a store of their dataset names."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer

    def assign(self, store: dict[str, np.ndarray]) -> None:
        self.layer.load_own_variables(store)


def optimizer_values(model: Model) -> list[np.ndarray] | None:
    """The optimizer's state as Keras's ``optimizer/vars``: the step count, the learning rate
    (unless it is a schedule), then the slots: ``optimizer.variables``, only the first two
    while the optimizer is not built (as Keras writes a compiled model's before training);
    None where its slots are of other weights than those the model trains now. A
    MultiOptimizer's is its step count and Keras's learning rate of 0, then each inner
    optimizer's state (of the inner optimizer's own weights)."""
    optimizer = model.optimizer
    params = model.trainable_weights
    if optimizer is None or (optimizer.built and len(optimizer.slots) != len(params)):
        return None
    return _state_values(optimizer)


def _state_values(optimizer: Any) -> list[np.ndarray]:
    _check_layout(optimizer)
    return [variable.numpy() for variable in optimizer.variables]


def _check_layout(optimizer: Any) -> None:
    """Refuse an optimizer of a class whose variables Keras lays out in no known order."""
    for inner in (optimizer, *getattr(optimizer, "optimizers", ())):
        if keras_class(inner) is None:
            raise NotImplementedError(
                f"the state of a {type(inner).__name__} optimizer has no Keras layout"
            )


def _host(array: Any) -> np.ndarray:
    return namespace(array_device(array)).to_numpy(array)


# ------------------------------------------------------------------------- writing
def write(h5: Any, model: Model, include_optimizer: bool = True) -> None:
    """Write ``model``'s state (and its optimizer's, where it has one) into the open h5py
    file ``h5``."""
    for path, layer in saveables(model):
        group = h5.create_group(f"{path}/vars" if path else "vars")
        group.attrs["name"] = layer.name
        custom = custom_store(layer, "save_own_variables")
        if not custom:
            for i, variable in enumerate(own_variables(layer)):
                group.create_dataset(str(i), data=_host(variable.data))
        if custom or own_state_shapes(layer):
            state: dict[str, Any] = {}
            layer.save_own_variables(state)
            for key, value in state.items():
                if not isinstance(key, str) or not key or "/" in key:
                    raise ValueError(
                        f"layer {layer.name}: save_own_variables stored the key {key!r}; a "
                        "key is a dataset's name (a string without '/')"
                    )
                group.create_dataset(key, data=np.asarray(value))
    values = optimizer_values(model) if include_optimizer else None
    if values is not None:
        group = h5.create_group("optimizer/vars")
        group.attrs["name"] = model.optimizer.name
        for i, value in enumerate(values):
            group.create_dataset(str(i), data=value)
        if isinstance(model.optimizer, MultiOptimizer):  # each inner one's state again
            used: dict[str, int] = {}
            for inner in model.optimizer.optimizers:
                name = _unique(snake_case(type(inner).__name__), used)
                group = h5.create_group(f"optimizer/optimizers/{name}/vars")
                group.attrs["name"] = inner.name
                for i, value in enumerate(_state_values(inner)):
                    group.create_dataset(str(i), data=value)
    for path, optimizer in held_optimizers(model) if include_optimizer else []:
        group = h5.create_group(f"{path}/vars")
        group.attrs["name"] = optimizer.name
        for i, value in enumerate(_state_values(optimizer)):
            group.create_dataset(str(i), data=value)


# ------------------------------------------------------------------------- reading
def dataset_sizes(h5: Any) -> list[int]:
    """The elements every dataset of the file holds in its storage (for the weight budget: a
    dataset that declares more than it stores counts for what it stores)."""
    sizes: list[int] = []

    def add(name: str, item: Any) -> None:
        if _is_dataset(item):
            stored = item.id.get_storage_size() // max(item.dtype.itemsize, 1)
            sizes.append(min(int(item.size), int(stored)))

    h5.visititems(add)
    return sizes


class Mismatch(ValueError):
    """The file's weights for a layer do not fit it: none there, another count or another
    shape (what ``load_weights(..., skip_mismatch=True)`` skips, as Keras's)."""


def read(h5: Any, model: Model, skip_mismatch: bool = False) -> list[tuple[Any, Any]]:
    """``(variable, value)`` for every variable of ``model`` from the open file ``h5``, and
    ``(store, arrays)`` for the arrays a layer keeps beside its weights (by name,
    :func:`own_state_shapes`) and for every array of a layer that loads its own
    (:func:`custom_store`), each set through the layer's ``load_own_variables``; all checked
    (a ValueError naming the layer otherwise); nothing is assigned. With ``skip_mismatch`` a
    layer whose weights do not fit (:class:`Mismatch`) is left out, with Keras's warning."""
    pairs: list[tuple[Any, Any]] = []
    skipped: list[tuple[Layer, Mismatch]] = []
    for path, layer in saveables(model):
        try:
            pairs += _layer_pairs(h5, path, layer)
        except Mismatch as error:
            if not skip_mismatch:
                raise
            skipped.append((layer, error))
    pairs += _held_optimizer_pairs(h5, model)
    if skipped:
        warnings.warn(
            f"A total of {len(skipped)} objects could not be loaded. Example error message for "
            f"object {skipped[0][0]}:\n\n{skipped[0][1]}\n\nList of objects that could not be "
            f"loaded:\n{[layer for layer, _ in skipped]}",
            stacklevel=5,  # (the caller of model.load_weights)
        )
    return pairs


def _layer_pairs(h5: Any, path: str, layer: Layer) -> list[tuple[Any, Any]]:
    """:func:`read`'s pairs for one layer, whose group is at ``path``."""
    variables = own_variables(layer)
    state = own_state_shapes(layer)
    where = f"{path}/vars" if path else "vars"
    group = member(h5, where)
    if custom_store(layer, "load_own_variables"):  # (no group: an empty store, as Keras's)
        keys = [] if group is None or _is_dataset(group) else list(group.keys())
        what = f"of layer {layer.name} at {where}"
        store = {key: checked_value(member(group, key), f"{key} {what}", None) for key in keys}
        return [(_OwnStore(layer), store)]
    if group is None or _is_dataset(group):
        if variables or state:
            raise Mismatch(
                f"it holds no weights for layer {layer.name} ({type(layer).__name__}, at "
                f"{where}): it is not this model's file"
            )
        return []
    keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if keys != [*sorted(state), *(str(i) for i in range(len(variables)))]:
        named = [key for key in keys if not key.isdigit()]
        if named != sorted(state):
            raise Mismatch(
                f"layer {layer.name} ({type(layer).__name__}) keeps {sorted(state)} beside "
                f"its weights, the file holds {named} at {where}"
            )
        raise Mismatch(
            f"layer {layer.name} ({type(layer).__name__}) has {len(variables)} weights, "
            f"the file holds {len(keys) - len(named)} at {where}"
        )
    pairs: list[tuple[Any, Any]] = []
    for i, variable in enumerate(variables):
        value = checked_value(member(group, str(i)), f"weight {variable.path}", variable.shape)
        pairs.append((variable, value.astype(variable.dtype, copy=False)))
    for key, shape in state.items():
        value = checked_value(member(group, key), f"{key} of layer {layer.name}", shape)
        pairs.append((_OwnStore(layer), {key: value}))
    return pairs


def read_weights_file(h5: Any, model: Model, skip_mismatch: bool) -> tuple[list, Any]:
    """What ``load_weights`` reads from a weights file (or sharded view): the weights' checked
    pairs, and the optimizer state where the model is compiled (see :func:`read_optimizer`)."""
    pairs = read(h5, model, skip_mismatch)
    optimizer_state = read_optimizer(h5, model, as_built=False) if model.compiled else None
    return pairs, optimizer_state


def read_optimizer(
    h5: Any, model: Model, as_built: bool = True, skip_mismatch: bool = True
) -> tuple[int, float | None, list] | None:
    """The optimizer state in the file, checked against the model's trainable weights and its
    optimizer's kind: (iterations, learning rate or None, slots), a MultiOptimizer's
    (iterations, None, [each inner optimizer's state]); None where the file has none. Nothing
    is assigned. A file saved before the first step (a step count and learning rate only) is
    skipped with Keras's warning where the optimizer is built, or counts as built
    (``as_built``: Keras's load_model builds it first); else it gives those two, no slots,
    as Keras's load_weights loads them. A state of another count (the optimizer's slots of
    weights the model no longer trains, frozen after training) is skipped with that warning
    too, as Keras's ``load_own_variables`` skips it; with ``skip_mismatch=False`` it is a
    ValueError (a legacy file's Keras 2 state, which its loader names)."""
    group = member(h5, "optimizer/vars")
    optimizer = model.optimizer
    if group is None or _is_dataset(group) or optimizer is None or not len(group):
        return None
    _check_layout(optimizer)
    params = model.trainable_weights
    expected = _state_count(optimizer, params)
    before_first_step = len(group) == _state_count(optimizer, []) != expected
    if before_first_step and not (
        as_built or optimizer.built or isinstance(optimizer, MultiOptimizer)
    ):
        return _read_state(group, 0, optimizer, [])[0]
    if len(group) != expected and (before_first_step or skip_mismatch):
        warnings.warn(
            f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
            f"{expected} variables whereas the saved optimizer has {len(group)} variables.",
            stacklevel=2,
        )
        return None
    if sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1) != [
        str(i) for i in range(expected)
    ]:
        raise ValueError(
            f"its optimizer state holds {len(group)} variables; a {type(optimizer).__name__} "
            f"of this model's {len(params)} trainable weights has {expected}"
        )
    return _read_state(group, 0, optimizer, params)[0]


def _state_count(optimizer: Any, params: list[Any]) -> int:
    """How many variables Keras's ``optimizer`` of ``params`` has (see :func:`_state_values`)."""
    if isinstance(optimizer, MultiOptimizer):
        return 2 + sum(_state_count(inner, own) for inner, own in optimizer.partition(params))
    has_rate = not callable(optimizer._learning_rate)
    nadam = type(optimizer).__name__ == "Nadam" and bool(params)
    slots = sum(
        keeps_slot(optimizer, name, param)
        for group in slot_groups(optimizer)
        for name in group
        for param in params
    )
    return 1 + has_rate + slots + nadam


def _read_state(group: Any, index: int, optimizer: Any, params: list[Any]) -> tuple[tuple, int]:
    """The state of ``optimizer`` of ``params`` read from dataset ``index`` on (as
    :func:`read_optimizer` gives it), and the index after it."""
    iterations = checked_value(
        member(group, str(index)), "the optimizer's step count", (), integer=True
    )
    if not 0 <= iterations < 2**53:  # Adam's bias correction takes powers of it
        raise ValueError(f"the optimizer's step count {int(iterations)} is out of range")
    if isinstance(optimizer, MultiOptimizer):
        index += 2  # (its learning rate, Keras's 0, is not kept)
        inner_states = []
        for inner, own in optimizer.partition(params):
            state, index = _read_state(group, index, inner, own)
            inner_states.append(state)
        return (int(iterations), None, inner_states), index
    has_rate = not callable(optimizer._learning_rate)
    rate = (
        float(checked_value(member(group, str(index + 1)), "the learning rate", ()))
        if has_rate
        else None
    )
    index += 1 + has_rate
    slots: list[dict[str, Any]] = [{} for _ in params]
    for names in slot_groups(optimizer):
        for param, entry in zip(params, slots, strict=True):
            for name in names:
                if not keeps_slot(optimizer, name, param):  # (zeros, never read: see Muon)
                    entry[name] = np.zeros(param.shape, param.dtype)
                    continue
                what = f"optimizer slot {name!r} of {param.path}"
                shape = optimizer.slot_shape(name, param.shape)
                value = checked_value(member(group, str(index)), what, shape or ())
                if shape is not None:  # (else Keras's placeholder, a scalar)
                    entry[name] = value.astype(param.dtype, copy=False)
                index += 1
    nadam = type(optimizer).__name__ == "Nadam" and bool(params)  # (its product: recomputed)
    return (int(iterations), rate, slots), index + nadam


def assign(model: Model, pairs: list[tuple[Any, Any]], optimizer_state: Any) -> None:
    """Set the weights of :func:`read` (``pairs``), then the optimizer's state of
    :func:`read_optimizer` where there is one: once everything is read and checked."""
    for variable, value in pairs:
        variable.assign(value)
    if optimizer_state is not None:
        assign_optimizer(model, optimizer_state)


def assign_optimizer(model: Model, state: tuple[int, float | None, list]) -> None:
    """Put a :func:`read_optimizer` state into the model's optimizer."""
    _assign_state(model.optimizer, state, model.trainable_weights)


def _assign_state(optimizer: Any, state: tuple[int, float | None, list], params: list) -> None:
    iterations, rate, slots = state
    if isinstance(optimizer, MultiOptimizer):
        optimizer.build(params)
        optimizer.iterations = iterations
        for (inner, own), inner_state in zip(optimizer.partition(params), slots, strict=True):
            _assign_state(inner, inner_state, own)
        return
    optimizer.iterations = iterations
    if rate is not None and np.float32(rate) != np.float32(optimizer.learning_rate):
        optimizer.learning_rate = rate  # else the rate the file holds in float32 is kept exact
    if params and not slots:  # saved before its first step: it builds on its first step
        return
    optimizer.slots = [
        {name: namespace(param.device).asarray(value) for name, value in entry.items()}
        for param, entry in zip(params, slots, strict=True)
    ]
    optimizer.build(params)  # (as Keras's, which builds an optimizer to load its state)


def member(group: Any, path: str) -> Any:
    """The group or dataset at ``path`` below ``group`` (None where there is none), reached
    through hard links only: a soft or external link is refused, so that a crafted file cannot
    make autoconv read another file of the host (Keras's CVE-2026-1669). (``group`` may also
    be a dict of datasets, as legacy_h5 gives read_optimizer.)"""
    if not isinstance(group, h5py.Group):
        return group.get(path)
    item = group
    for part in path.split("/"):
        link = item.get(part, getlink=True) if isinstance(item, h5py.Group) else None
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"its {path} is a {type(link).__name__}; Keras's files hold none")
        item = item[part]
    return item


def _is_dataset(item: Any) -> bool:
    return hasattr(item, "shape") and hasattr(item, "dtype")


def checked_value(
    item: Any, what: str, shape: tuple | None, integer: bool = False, finite: bool = True
) -> np.ndarray:
    """A dataset's array, after checking it is one, of ``shape`` (None: of any shape, but
    holding every value it declares), of a float or integer dtype (``integer``: an integer
    one; Keras stores a few weights, like Normalization's count, as integers), stored without
    filters in no more bytes than the file holds, and finite (unless not ``finite``: a file
    being inspected may hold NaNs)."""
    if not _is_dataset(item):
        raise ValueError(f"{what} is not an array in the file")
    if shape is not None and tuple(item.shape) != tuple(shape):
        raise Mismatch(f"{what} has shape {tuple(item.shape)} in the file, the model's is {shape}")
    kinds = "iu" if integer else "fiu"
    if item.dtype.kind not in kinds or item.dtype.itemsize > 8:
        raise ValueError(f"{what} has dtype {item.dtype} in the file")
    if item.compression is not None or item.id.get_create_plist().get_nfilters():
        raise ValueError(f"{what} is stored compressed; Keras's files are not")
    if item.external or item.is_virtual:  # its values would be read from other files
        raise ValueError(f"{what} is stored in another file; Keras's files hold their own")
    if shape is None and item.id.get_storage_size() < item.size * item.dtype.itemsize:
        raise ValueError(f"{what} declares more values than the file stores")
    value = np.asarray(item[()])
    if finite and not integer and not np.isfinite(value).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return value
