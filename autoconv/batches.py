"""The data ``fit``, ``evaluate`` and ``predict`` take: arrays (one, a list, or a dict by input
name), checked against the model's inputs, outputs and loss before any work (then cut into
batches on the model's device by :mod:`autoconv.array_batches`), and a validation split cut
off the end, as Keras's. Data that comes in batches (a Dataset, a PyDataset, a
generator) is :mod:`autoconv.dataset_batches`'s, each batch checked as it comes."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from autoconv import tree
from autoconv.layers.calls import stateless
from autoconv.losses import check_probability_targets
from autoconv.ops.loss import checked_labels
from autoconv.tensor import Tensor

DEFAULT_BATCH_SIZE = 32


def input_arrays(model: Any, x: Any, what: str, batched: bool = False) -> list[Any]:
    """``x`` (an array, a list of arrays or a dict by input name) as a list of numeric arrays
    in the model's input order, checked against its input shapes and brought to their ranks as
    Keras's functional models bring them (see :func:`at_input_rank`): NumPy arrays, or the
    arrays of Tensors already on the model's device (see :func:`_numeric`). Data for a step of
    the user's (``train_step``, ``test_step``, ``predict_step`` overridden) is taken as it
    comes, unchecked: Keras hands it to the step as the data gives it. Arrays must hold as
    many samples each, as Keras checks them, but a batch that data gives (``batched``) may
    hold inputs of other row counts, as Keras takes it (a graph's nodes and edges)."""
    if x is None:
        raise ValueError(f"{what}: no input data (x is None)")
    graph = model._graph()
    as_given = graph is None or _users_step(model, what)
    # a subclassed model's call (or a step of the user's) takes x's structure: a dict stays one
    model._input_keys = tuple(x) if as_given and isinstance(x, dict) else None
    # ... and nested lists and tuples (keras.io's AdaMatch's ((images, labels), (images,
    # labels))) reach it so nested: their arrays are taken flat, and packed back for the call
    model._input_nesting = _nesting(x) if as_given and _nests(x) else None
    if not as_given:  # (the *_on_batch calls call the model on x as given, as Keras's)
        x = standardized(model, x)
        warn_if_restructured(model, x, called=what.endswith("_on_batch"))
    paths = input_paths(model)
    if as_given and isinstance(x, dict):
        names = list(x)
    else:  # a dict's keys: those the model's inputs were given in, or the Input layers' names
        names = paths if _dict_inputs(model) else model.input_names
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"{what}: x has no entry for the model's inputs {missing}")
        arrays = [x[n] for n in names]
    elif model._input_nesting is not None:
        arrays = tree.flatten(x)
    elif isinstance(x, list | tuple):
        arrays = list(x)
    else:
        arrays = [x]
    arrays = [_numeric(a, f"{what}: x", model.device) for a in arrays]
    if not as_given:
        if len(arrays) != len(graph.inputs):
            raise ValueError(
                f"{what}: the model has {len(graph.inputs)} input(s) but x gives {len(arrays)}"
            )
        arrays = [
            _fitted(array, tensor, path, what)
            for array, tensor, path in zip(arrays, graph.inputs, paths, strict=True)
        ]
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1 and not batched:
        raise ValueError(f"{what}: the input arrays have different numbers of samples {sizes}")
    if sizes == {0}:
        raise ValueError(f"{what}: x has no samples")
    return arrays


def standardized(model: Any, inputs: Any) -> Any:
    """Keras's ``Functional._standardize_inputs``: a lone Tensor given to a model made from
    a list of one input goes into that list, without the structure warning
    (``keras.Model(model.inputs, ...)`` called on ``ops.ones(...)``, keras.io's sequential
    model guide); an array, or a model made from a tuple, is left to warn."""
    if isinstance(inputs, Tensor) and getattr(model, "_input_structure", None) == "list":
        graph = model._graph()
        if graph is not None and len(graph.inputs) == 1:
            return [inputs]
    return inputs


def warn_if_restructured(model: Any, inputs: Any, called: bool) -> None:
    """Keras's warning where a model of one input is given it in another structure than the
    model was made with: inside a list or tuple (``model([x])``, ``predict([x])``), or, in a
    call (a direct one, or ``*_on_batch``'s), bare where the model was made from a list of one
    input. The model takes it all the same, as Keras's
    (``Functional._maybe_warn_inputs_struct_mismatch``)."""
    graph = model._graph()
    structure = getattr(model, "_input_structure", "single")  # (a Sequential's: "single")
    if graph is not None and isinstance(structure, tuple) and not isinstance(inputs, dict):
        _warn_if_unnested(graph, structure[1], inputs)
        return
    if graph is None or len(graph.inputs) != 1 or isinstance(inputs, dict):
        return
    in_container = isinstance(inputs, list | tuple)
    if structure == "single" and in_container and len(inputs) == 1:
        expected = graph.inputs[0].name
        received = type(inputs)(_described(v) for v in inputs)
    elif structure in ("list", "tuple") and called and not in_container:
        name = graph.inputs[0].name
        expected = [name] if structure == "list" else (name,)
        received = _described(inputs)
    else:
        return
    warnings.warn(
        "The structure of `inputs` doesn't match the expected structure.\n"
        f"Expected: {expected}\nReceived: inputs={received}",
        stacklevel=4,
    )


def _warn_if_unnested(graph: Any, nesting: Any, inputs: Any) -> None:
    """Keras's warning where a model made from nested lists of inputs (keras.io's RetinaNet's
    ``Model(inputs=[backbone.inputs], ...)``) is given them in another structure; a bare
    tensor stands for a list of one, as Keras's ``_standardize_inputs`` takes it."""
    if isinstance(nesting, list) and len(nesting) == 1 and not isinstance(inputs, list | tuple):
        inputs = [inputs]
    try:
        tree.assert_same_structure(tree.lists_to_tuples(inputs), tree.lists_to_tuples(nesting))
        return
    except (TypeError, ValueError):
        pass
    expected = tree.pack_sequence_as(nesting, [t.name for t in graph.inputs])
    warnings.warn(
        "The structure of `inputs` doesn't match the expected structure.\n"
        f"Expected: {expected}\nReceived: inputs={tree.map_structure(_described, inputs)}",
        stacklevel=5,
    )


def _described(value: Any) -> str:
    """An input as Keras's structure warning shows it."""
    shape = value.shape if hasattr(value, "shape") else np.shape(value)
    return f"Tensor(shape={tuple(shape)})"


def _fitted(array: Any, tensor: Any, path: str, what: str) -> Any:
    try:
        fitted = at_input_rank(array, tensor, path)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None
    if fitted is None:
        raise ValueError(
            f"{what}: x has samples of shape {array.shape[1:]} but the model's input "
            f"{tensor.node.layer.name} expects {tensor.shape[1:]}"
        )
    return fitted


def at_input_rank(value: Any, tensor: Any, path: str) -> Any:
    """``value`` (an array or a Tensor) at the rank of the model input ``tensor``, as Keras's
    functional models take their inputs (``Functional._adjust_input_rank``): with one axis
    more, of size 1, it is dropped; with one axis fewer where the input's last axis is 1, one
    is added. Keras's error where the ranks differ otherwise (``path``: the input's place in
    the model's inputs, '' for a single one); None where the sizes are not the input's as
    Keras's input spec of a functional model compares them, and only so: the batch size is not
    compared (an Input's ``batch_size`` fixes the graph's shapes, not the data's), nor a last
    axis where either has size 1 (keras.io's MelGAN's generator, made on waves of shape
    (None, 1), predicts from spectrograms of 80 channels its first layer passes through)."""
    expected, shape = tuple(tensor.shape), tuple(value.shape)
    expected = (None, *expected[1:]) if expected else expected
    if not _sizes_fit(shape, expected):  # Keras's input spec, checked first
        return None
    if len(shape) == len(expected) + 1 and shape[-1] == 1:
        value = value.reshape(shape[:-1])
    elif len(shape) == len(expected) - 1 and expected[-1] == 1:
        value = value.reshape((*shape, 1))
    elif len(shape) != len(expected):
        raise ValueError(
            f"Invalid input shape for input Tensor(shape={shape}) with name '{tensor.name}' and "
            f"path '{path}'. Expected shape {tensor.shape}, but input has incompatible shape "
            f"{shape}"
        )
    return value


def _sizes_fit(shape: tuple, expected: tuple) -> bool:
    """Whether the sizes ``expected`` gives (None: any) are ``shape``'s, as Keras's input spec
    of a functional model compares them: a trailing axis of size 1 of either left out, and only
    the axes both have."""
    shape = shape[:-1] if shape and shape[-1] == 1 else shape
    expected = expected[:-1] if expected and expected[-1] == 1 else expected
    return all(e is None or s == e for e, s in zip(expected, shape, strict=False))


def _dict_inputs(model: Any) -> bool:
    """Whether the model was made from a dict of inputs (a functional model can be)."""
    return isinstance(getattr(model, "_input_structure", None), list)


def input_paths(model: Any) -> list[str]:
    """Where each of a model's inputs is in the inputs it was made with, as Keras's errors
    name it: '' for a single input, its index in a list, its key in a dict."""
    structure = getattr(model, "_input_structure", "single")  # (a functional model's)
    if _dict_inputs(model):
        return list(structure[1])
    graph = model._graph()
    count = 0 if graph is None else len(graph.inputs)
    return [""] if structure == "single" and count == 1 else [str(i) for i in range(count)]


def _nests(data: Any) -> bool:
    """Whether ``data`` is a list or tuple holding a list, tuple or dict."""
    return isinstance(data, list | tuple) and any(tree.is_nested(item) for item in data)


def _nesting(data: Any) -> Any:
    """``data``'s structure, its arrays replaced by None (to pack a batch's arrays in)."""
    return tree.map_structure(lambda _: None, data)


def _users_step(model: Any, what: str) -> bool:
    """Whether the step that runs the data ``what`` names ("fit", "fit: validation_data",
    "evaluate: batch 3", "predict_on_batch", ...) is the user's: overridden by a class of
    theirs."""
    if "validation" in what or what.startswith(("evaluate", "test_on_batch")):
        step = "test_step"
    elif what.startswith("predict"):
        step = "predict_step"
    else:
        step = "train_step"
    return not getattr(type(model), step).__module__.startswith("autoconv.")


def target_arrays(model: Any, y: Any, samples: int | None, what: str) -> list[np.ndarray | None]:
    """``y`` as one array per model output (None for an output without a loss), checked (as
    many samples as the inputs', unless ``samples`` is None); on the first data the model
    sees, its losses and metrics are made for these shapes (as Keras's compile does on its
    first batch)."""
    names = model._per_output_names
    model._target_nesting = None
    if _nests(y) and _users_step(model, what):
        # a user's step gets nested targets as the data nests them (keras.io's AdaMatch's
        # ((target images, labels), (augmented images, labels)), of another batch size)
        model._target_nesting = _nesting(y)
        if not model.compiled_ready:
            model._resolve_compile([None] * len(names), _output_shapes(model))
        return [None if a is None else _numeric(a, f"{what}: y") for a in tree.flatten(y)]
    own_loss = model.overrides_compute_loss or model.own_steps  # they take y as given, or None
    # compiled without a loss: the layers' add_loss is the loss (or the step says there is none)
    no_loss = all(spec is None for spec in model._loss_specs)
    if y is None and (own_loss or no_loss):
        if not model.compiled_ready:
            model._resolve_compile([None] * len(names), _output_shapes(model))
        return [None] * len(model._losses_per_output)
    if y is None:
        raise ValueError(f"{what}: no targets (y is None) for a model compiled with a loss")
    if isinstance(y, dict):
        unknown = set(y) - set(names)
        if unknown:
            raise ValueError(f"{what}: y names outputs {sorted(unknown)}; the outputs are {names}")
        missing = [
            n
            for n, spec in zip(names, model._loss_specs, strict=False)
            if spec is not None and n not in y
        ]
        if missing:
            raise ValueError(
                f"{what}: y has no targets for the outputs {missing}, which have a loss"
            )
        arrays = [y.get(n) for n in names]
    elif isinstance(y, list | tuple) and (len(names) > 1 or _holds_arrays(y)):
        arrays = list(y)  # (one output's [y]: Keras's structure of one target)
    else:
        arrays = [y]
    with_loss = [i for i, spec in enumerate(model._loss_specs) if spec is not None]
    if len(arrays) != len(names) and len(arrays) == len(with_loss):
        given = iter(arrays)  # Keras's loss "partially defined over y_pred": ([fn, None], y)
        arrays = [next(given) if i in with_loss else None for i in range(len(names))]
    if len(arrays) != len(names) and (_users_step(model, what) or model.overrides_compute_loss):
        # Keras hands a step or a compute_loss of the user's its y as the data gives it
        # (NNCLR's (images, labels) pair beside the unlabelled images' own pair; BASNet's one
        # mask for its eight outputs): that reads it, not a compiled loss
        if not model.compiled_ready:
            y_shapes = [None] * min(len(arrays), len(names))
            model._resolve_compile(y_shapes, _output_shapes(model))
        return [None if a is None else _numeric(a, f"{what}: y") for a in arrays]
    if len(arrays) != len(names):
        raise ValueError(f"{what}: the model has {len(names)} outputs but y gives {len(arrays)}")
    arrays = [None if a is None else _numeric(a, f"{what}: y") for a in arrays]
    for array in arrays:
        if array is not None and samples is not None and len(array) != samples:
            raise ValueError(f"{what}: x has {samples} samples but y has {len(array)}")
    output_shapes = _output_shapes(model)
    if not model.compiled_ready:
        y_shapes = [None if a is None else (None, *a.shape[1:]) for a in arrays]
        model._resolve_compile(y_shapes, output_shapes)
    users_step = _users_step(model, what)
    checked: list[np.ndarray | None] = []
    for index, (array, loss, shape) in enumerate(
        zip(arrays, model._losses_per_output, output_shapes, strict=True)
    ):
        # an output without a loss keeps its targets for its own loss's use or its metrics
        # (compiled with metrics and no loss: the layers' losses the loss, as Keras's)
        measured = model._compiled_metrics[index] or model._compiled_weighted_metrics[index]
        if array is not None and loss is None and (own_loss or measured):
            checked.append(array.astype(np.float32, copy=False))
        elif loss is None or array is None:
            checked.append(None)
        elif loss.sparse and users_step and array.dtype.kind == "f":
            # a step of the user's reads y as the data gives it, and Keras checks no labels
            # there (a depth map beside a compiled sparse loss that the step does not call)
            checked.append(array.astype(np.float32, copy=False))
        elif loss.sparse and users_step and shape is None:
            # nor where the model has no output to count its classes (keras.io's image
            # captioning: a step that runs its decoder on the tokens itself)
            checked.append(array.astype(np.int32, copy=False))
        elif loss.sparse:  # checked here: the one-hot kernels index with these labels
            column = array.ndim > 1 and array.shape[-1] == 1  # (N, 1): Keras's labels too
            labels = array.reshape(array.shape[:-1]) if column else array
            checked.append(checked_labels(labels, shape[-1]).astype(np.int32).reshape(array.shape))
        else:
            if loss.probability_targets:
                check_probability_targets(array, f"{what}: {loss.name}")
            checked.append(array.astype(np.float32, copy=False))
    return checked


def _holds_arrays(values: list | tuple) -> bool:
    """Whether a list or tuple of targets is a structure of arrays (``[y]``), not the targets
    of one output written as a Python list of numbers or lists."""
    return all(getattr(value, "ndim", 0) > 0 for value in values)


def _output_shapes(model: Any) -> list[tuple]:
    graph = model._graph()
    if graph is not None:
        return [t.shape for t in graph.outputs]
    return model._traced_outputs  # a subclassed model, run once by build_for


def sample_weights(
    model: Any, sample_weight: Any, class_weight: Any, ys: list[Any], samples: int | None,
    what: str,
) -> np.ndarray | None:  # fmt: skip
    """The weights of the samples (float32), from ``sample_weight`` or ``class_weight`` (a
    dict class -> weight, looked up by each sample's class, as Keras), or None for neither;
    both at once is Keras's error; ``samples`` None: the targets' samples. ``sample_weight``
    holds one weight per sample, or, as Keras takes it, an array of them per sample
    ((samples, timesteps): a weight per timestep of a sequence's per-timestep losses), which
    the losses and metrics broadcast against their values as Keras's do."""
    weights = None
    if sample_weight is not None and class_weight is not None:
        raise ValueError(  # (Keras's words: it refuses both, it does not multiply them)
            f"{what}: You cannot `class_weight` and `sample_weight` at the same time."
        )
    if samples is None:
        samples = next((len(y) for y in ys if y is not None), None)
    if sample_weight is not None:
        weights = _numeric(sample_weight, f"{what}: sample_weight").astype(np.float32)
        if weights.ndim == 2 and weights.shape[1] == 1:
            weights = weights[:, 0]
        if weights.ndim == 0 or len(weights) != samples:
            raise ValueError(
                f"{what}: sample_weight must hold the weights of {samples} samples, shape "
                f"({samples},) or ({samples}, ...), got {weights.shape}"
            )
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise ValueError(f"{what}: class_weight must be a dict class -> weight")
        if len(ys) != 1:
            raise ValueError(f"{what}: class_weight is only supported for a single output")
        y = ys[0]
        labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
        labels = labels.astype(np.int64)
        table = np.ones(int(max(labels.max(), max(class_weight))) + 1, np.float32)
        for cls, weight in class_weight.items():
            table[int(cls)] = float(weight)
        weights = table[labels]
    return weights


def build_for(model: Any, xs: list[np.ndarray], batch_size: int | None = None) -> None:
    """Build a model that does not know its input shape yet from the data it is given, for
    its first batch (the first ``batch_size`` samples; all of them where None), as Keras
    builds it from the first batch: its build shapes and summary show that batch's size. A
    subclassed model is run once on that batch, as Keras does, to learn its output shapes."""
    first = [a[:batch_size] for a in xs]
    if not model.built:
        shapes = [tuple(a.shape) for a in first]
        model._maybe_build(model._as_given(shapes, outputs=False), model.device)
    if model._graph() is None and getattr(model, "_traced_outputs", None) is None:
        if not model.has_call or _nothing_to_build(model):
            # (a model whose own train_step is all it runs, as Keras's VAE; or one Keras's
            # _symbolic_build leaves uncalled: it calls a model only to build what is not)
            model._traced_outputs = [None]
        else:
            # Keras learns them in a stateless scope: what the call assigns (a step counter's
            # assign_add) is dropped
            with stateless():
                outputs = model._predict_batch(first, own_step=False)
            model._traced_outputs = [(None, *o.shape[1:]) for o in outputs]
    model._spread_losses_once_known()


def _nothing_to_build(model: Any) -> bool:
    """Whether a subclassed model has nothing Keras would build by calling it on the first
    batch: it and every layer under it built, compiled with no loss and no metrics, and its
    own ``train_step`` and ``test_step`` (a GAN's model whose steps call its parts in turn;
    autoconv's default steps need the outputs known). Keras then leaves its ``call`` alone
    until the steps run it."""
    arguments = getattr(model, "_compile_arguments", None) or {}
    return (
        _all_built(model)
        and getattr(model, "compiled", False)
        and _users_step(model, "fit")
        and _users_step(model, "evaluate")
        and all(arguments.get(name) is None for name in ("loss", "metrics", "weighted_metrics"))
    )


def _all_built(layer: Any) -> bool:
    return layer.built and all(_all_built(sub) for sub in layer._layers)


def _numeric(value: Any, what: str, device: str = "cpu") -> Any:
    """``value`` as a numeric array: a NumPy array, or the array of a Tensor that is already on
    ``device``, a GPU (inputs there stay there: no copy through the host)."""
    if isinstance(value, Tensor) and value.device == device != "cpu":
        array = value.data
    else:
        array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {array.dtype}")
    return array


def batch_size_of(value: Any, what: str) -> int:
    """A batch size argument checked (None: Keras's default, 32)."""
    if value is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what}: batch_size must be a positive int or None, got {value!r}")
    return int(value)


def validation_split_of(
    x: list[np.ndarray], y: list[Any], w: Any, split: float
) -> tuple[tuple[list, list, Any], tuple[list, list, Any]]:
    """Keras's split: the last ``split`` fraction of the samples, before any shuffling."""
    samples = len(x[0])
    at = math.floor(samples * (1.0 - split))
    if at == 0 or at == samples:
        raise ValueError(
            f"Training data contains {samples} samples, which is not sufficient to split it "
            f"into a validation and training set as specified by `validation_split={split}`. "
            "Either provide more data, or a different value for the `validation_split` argument."
        )

    def part(cut: slice) -> tuple[list, list, Any]:
        return (
            [a[cut] for a in x],
            [None if a is None else a[cut] for a in y],
            None if w is None else w[cut],
        )

    return part(slice(None, at)), part(slice(at, None))
