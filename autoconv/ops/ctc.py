"""Connectionist temporal classification, as Keras 3's ``keras.ops.ctc_loss`` and
``keras.ops.ctc_decode`` (keras/src/ops/nn.py; the values of its PyTorch and JAX backends).

``ctc_loss`` is an op of the engine: the backends' CTC kernels (``ctc_loss``, ``ctc_loss_grad``:
the forward variables in the forward pass, the backward ones and the gradient with respect to the
logits in the backward pass) on the logits' device, so a model trained with it keeps its step
on the GPU. ``ctc_decode`` reads the logits on the host, as a decoder's caller does with its
strings: greedy, or Keras's beam search (the JAX backend's algorithm, ported to NumPy: its
candidate paths, score merging and tie order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.convert import INDEX_DTYPE, tensor
from autoconv.tensor import Tensor, record

PAD = -1  # Keras's entry for "no label" in a decoded path


def _per_sample(value: Any, name: str, batch: int) -> Any:
    """A length array (N,) or the targets (N, L): a device Tensor's array as it is (its values
    are the kernels' to check), host values as a NumPy array of integers checked here."""
    if getattr(value, "device", "cpu") != "cpu":  # a GPU Tensor or array
        return value.data if isinstance(value, Tensor) else value
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and not np.all(array % 1 == 0)):
        raise ValueError(f"ctc_loss: {name} must hold integers, got {array.dtype} {array.shape}")
    if array.ndim == 0 or len(array) != batch:
        raise ValueError(
            f"ctc_loss: {name} needs one entry per sample ({batch}), got shape {array.shape}"
        )
    return array.astype(np.int64)


def ctc_loss(
    target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0
) -> Tensor:
    """The CTC loss of each sample (N,): -log of the probability that ``output``'s logits
    (N, T, C), softmaxed over the classes, spell the labels ``target`` (N, L) (the first
    ``target_length[n]`` of row n) in their first ``output_length[n]`` steps, with
    ``mask_index`` the blank. Differentiable in ``output``; a sample whose labels cannot fit
    its steps has an infinite loss (and NaN gradients), as Keras's PyTorch backend gives."""
    output = tensor(output)
    if output.ndim != 3:
        raise ValueError(
            f"ctc_loss: output must be logits (batch_size, max_length, num_classes), got shape "
            f"{output.shape}"
        )
    batch, steps, classes = output.shape
    if not isinstance(mask_index, int | np.integer) or not 0 <= mask_index < classes:
        raise ValueError(f"ctc_loss: mask_index {mask_index!r} is not one of {classes} classes")
    targets = _per_sample(target, "target", batch)
    target_lengths = _per_sample(target_length, "target_length", batch)
    output_lengths = _per_sample(output_length, "output_length", batch)
    if len(targets.shape) != 2:
        raise ValueError(f"ctc_loss: target must be (batch_size, max_length), got {targets.shape}")
    if isinstance(targets, np.ndarray):
        _check_host_values(targets, target_lengths, output_lengths, steps, classes)
    xp = backend(output)
    log_probs = xp.log_softmax(output.data)
    blank = int(mask_index)
    alpha, loss = xp.ctc_loss(log_probs, targets, target_lengths, output_lengths, blank)

    def backward(g: Any) -> tuple[Any]:
        return (
            xp.ctc_loss_grad(
                log_probs, targets, target_lengths, output_lengths, blank, alpha, loss, g
            ),
        )

    return record(loss, (output,), backward, "ctc_loss")


def _check_host_values(
    targets: np.ndarray, target_lengths: Any, output_lengths: Any, steps: int, classes: int
) -> None:
    """Lengths within the arrays and labels among the classes, as PyTorch's checks demand."""
    for name, lengths, most in (
        ("target_length", target_lengths, targets.shape[1]),
        ("output_length", output_lengths, steps),
    ):
        if isinstance(lengths, np.ndarray) and (
            lengths.min(initial=0) < 0 or lengths.max(initial=0) > most
        ):
            raise ValueError(f"ctc_loss: {name} must lie in [0, {most}], got {lengths.tolist()}")
    if isinstance(target_lengths, np.ndarray):
        used = np.arange(targets.shape[1]) < target_lengths[:, None]
        labels = targets[used]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(
                f"ctc_loss: target labels must be classes in [0, {classes}), got "
                f"{sorted(set(labels[(labels < 0) | (labels >= classes)].tolist()))}"
            )


# ---------------------------------------------------------------------------------- decoding
def ctc_decode(
    inputs: Any,
    sequence_lengths: Any,
    strategy: str = "greedy",
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = True,
    mask_index: int | None = 0,
) -> tuple[np.ndarray, Tensor]:
    """Decoded label paths of logits ``inputs`` (N, T, C) over each sample's first
    ``sequence_lengths[n]`` steps, as Keras's: (paths, scores). Greedy: paths (1, N, T) int32,
    each step's most likely class with repeats merged (``merge_repeated``) and blanks
    (``mask_index``; None: the last class) left out, then -1 to the end; scores (N, 1), minus the
    sum of the chosen logits. ``"beam_search"``: the ``top_paths`` best paths
    (top_paths, N, T) of a beam of ``beam_width`` over the log-softmax, and their log
    probabilities (N, top_paths)."""
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            f"Invalid strategy {strategy}. Supported values are 'greedy' and 'beam_search'."
        )
    scores_like = tensor(inputs)
    logits = scores_like.numpy()
    if logits.ndim != 3:
        raise ValueError(
            f"ctc_decode: inputs must be (batch_size, max_length, num_classes), got {logits.shape}"
        )
    batch, _, classes = logits.shape
    lengths = np.asarray(
        sequence_lengths.numpy() if isinstance(sequence_lengths, Tensor) else sequence_lengths
    ).astype(np.int64)
    if lengths.shape != (batch,):
        raise ValueError(
            f"ctc_decode: sequence_lengths must be ({batch},), got shape {lengths.shape}"
        )
    mask = classes - 1 if mask_index is None else int(mask_index)
    if not 0 <= mask < classes:
        raise ValueError(f"ctc_decode: mask_index {mask_index} is not one of {classes} classes")
    if strategy == "greedy":
        paths, scores = _greedy(logits, lengths, merge_repeated, mask)
    else:
        for name, value in (("beam_width", beam_width), ("top_paths", top_paths)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"ctc_decode: {name} must be a positive integer, got {value!r}")
        paths, scores = _beam_search(logits, lengths, int(beam_width), int(top_paths), mask)
    return paths, Tensor(scores, dtype=scores_like.dtype)


def _greedy(
    logits: np.ndarray, lengths: np.ndarray, merge_repeated: bool, mask: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keras's greedy decoder (keras/src/backend/torch/nn.py, ``_ctc_greedy_decode``)."""
    steps = logits.shape[1]
    indices = logits.argmax(axis=-1).astype(INDEX_DTYPE)
    scores = logits.max(axis=-1)
    beyond = np.arange(steps)[None, :] >= lengths[:, None]
    indices[beyond] = mask
    scores = np.where(beyond, 0, scores)
    if merge_repeated:
        repeat = np.zeros_like(indices, dtype=bool)
        repeat[:, 1:] = indices[:, 1:] == indices[:, :-1]
        indices[repeat] = mask
    blank = indices == mask
    order = np.argsort(np.where(blank, steps, np.arange(steps)), axis=-1, kind="stable")
    indices = np.take_along_axis(np.where(blank, PAD, indices), order, axis=-1)
    return indices[None], -scores.sum(axis=1, keepdims=True)


def _beam_search(
    logits: np.ndarray, lengths: np.ndarray, beam_width: int, top_paths: int, mask: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keras's beam search (keras/src/backend/jax/nn.py, ``_ctc_beam_search_decode``), a sample
    at a time: each beam entry a path and whether its last step was the blank; each step extends
    every entry by every class, merges equal paths (their probabilities added in log space,
    ending in a label and ending in the blank kept apart) and keeps the ``beam_width`` best.
    The classes are reversed throughout, as Keras's, so ties break as its do."""
    batch, steps, classes = logits.shape
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    log_probs = log_probs[:, :, ::-1]
    mask = classes - mask - 1
    all_paths, all_scores = [], []
    for n in range(batch):
        x = log_probs[n]
        paths = np.full((2 * beam_width, steps), PAD, INDEX_DTYPE)
        first = np.argsort(x[0], kind="stable")[-min(classes, beam_width) :]
        paths[: len(first), 0] = np.where(first == mask, PAD, first)
        scores = np.full(2 * beam_width, -np.inf, x.dtype)
        scores[: len(first)] = x[0, first]
        masked = paths[:, 0] == PAD
        for t in range(1, int(lengths[n])):
            paths, scores, masked = _extend(paths, scores, masked, x[t], mask)
            paths, scores, masked = _prune(paths, scores, masked, beam_width)
        paths, inverse = _unique_rows(paths, len(scores))
        scores = _merge_scores(inverse, scores)
        best = np.argsort(scores, kind="stable")[-top_paths:][::-1]
        all_paths.append(paths[best])
        all_scores.append(scores[best])
    paths = np.stack(all_paths)
    paths = np.where(paths == PAD, PAD, classes - paths - 1).astype(INDEX_DTYPE)
    return paths.transpose(1, 0, 2), np.stack(all_scores)


def _extend(
    paths: np.ndarray, scores: np.ndarray, masked: np.ndarray, x: np.ndarray, mask: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every beam entry followed by every class: a label after itself (not after a blank) or
    the blank adds nothing to the path; the step's log probability adds to the score."""
    classes = len(x)
    paths, scores = np.repeat(paths, classes, axis=0), np.repeat(scores, classes)
    previous_masked = np.repeat(masked, classes)
    rows = np.arange(len(paths))
    tail = (paths == PAD).argmax(axis=1)
    last = np.where(tail == 0, PAD, paths[rows, tail - 1])
    labels = np.arange(classes, dtype=INDEX_DTYPE)
    labels[mask] = PAD
    labels = np.tile(labels, len(paths) // classes)
    masked = labels == PAD
    labels = np.where(~previous_masked & (last == labels), PAD, labels)
    paths[rows, tail] = labels
    return paths, scores + np.tile(x, len(paths) // classes), masked


def _prune(
    paths: np.ndarray, scores: np.ndarray, masked: np.ndarray, beam_width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal paths merged, the ``beam_width`` best kept twice: once ending in a label, once in
    the blank."""
    paths, inverse = _unique_rows(paths, len(scores))
    emit = _merge_scores(inverse, np.where(masked, -np.inf, scores))
    blank = _merge_scores(inverse, np.where(masked, scores, -np.inf))
    best = np.argsort(np.logaddexp(emit, blank), kind="stable")[-beam_width:]
    paths = np.tile(paths[best], (2, 1))
    masked = np.repeat([False, True], len(best))
    return paths, np.concatenate([emit[best], blank[best]]), masked


def _unique_rows(paths: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows, sorted, then rows of PAD up to ``size`` rows (``jnp.unique``'s
    ``size`` and ``fill_value``), and each row's index among them."""
    unique, inverse = np.unique(paths, axis=0, return_inverse=True)
    filler = np.full((size - len(unique), paths.shape[1]), PAD, paths.dtype)
    return np.concatenate([unique, filler]), inverse.reshape(-1)


def _merge_scores(inverse: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """log of the sum of exp(scores) of the rows of each unique path (len(scores) slots)."""
    top = scores.max()
    merged = np.zeros_like(scores)
    np.add.at(merged, inverse, np.exp(scores - top))
    with np.errstate(divide="ignore"):
        return np.log(merged) + top
