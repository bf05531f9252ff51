"""CTC: ``ops.ctc_loss`` (the backends' kernels) against PyTorch's ``ctc_loss`` and Keras 3.15,
values and gradients, on both devices, with a float64 gradient check; ``ops.ctc_decode``
against Keras's greedy and beam-search decoders; ``losses.CTC`` against Keras's, and a model
trained with it alike on the CPU and the CUDA simulator. Bad arguments: one clear error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import losses, ops
from autoconv.backends import cpu, cuda
from autoconv.testing import gradcheck

DEVICES = ["cpu", "cuda"]
# (batch, steps, classes, label slots), lengths drawn per sample
SHAPES = [(3, 6, 4, 2), (4, 9, 6, 4), (2, 3, 3, 1)]


def draw(
    rng: np.random.Generator, shape: tuple[int, int, int, int], blank: int = 0
) -> tuple[np.ndarray, ...]:
    """(logits, targets, target lengths, input lengths): labels avoid the blank, one sample
    repeats a label, one has no labels, and every sample's labels fit its steps."""
    batch, steps, classes, slots = shape
    logits = rng.standard_normal((batch, steps, classes)) * 2
    labels = np.array([c for c in range(classes) if c != blank])
    targets = rng.choice(labels, (batch, slots))
    if slots > 1:
        targets[0, 1] = targets[0, 0]
    target_lengths = rng.integers(0, slots + 1, batch)
    target_lengths[-1] = 0
    target_lengths[0] = slots
    input_lengths = (
        rng.integers(2 * slots + 1, steps + 1, batch)
        if steps > 2 * slots
        else np.full(batch, steps)
    )
    return logits, targets, target_lengths, input_lengths


def host(array: Any) -> np.ndarray:
    """A gradient's values, from either device."""
    return array if isinstance(array, np.ndarray) else cuda.to_numpy(array)


def torch_ctc(torch: Any, logits: np.ndarray, targets, target_lengths, input_lengths, blank=0):
    """PyTorch's losses (N,) and the gradient of their sum weighted by ``weights``."""
    x = torch.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        torch.log_softmax(x, -1).transpose(0, 1), torch.tensor(targets),
        torch.tensor(input_lengths), torch.tensor(target_lengths), blank=blank, reduction="none",
    )  # fmt: skip
    return x, loss


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("blank", [0, 2])
def test_loss_and_gradient_match_pytorch(torch, rng, device, shape, blank):
    logits, targets, target_lengths, input_lengths = draw(rng, shape, blank)
    weights = rng.random(shape[0])
    x, want = torch_ctc(torch, logits, targets, target_lengths, input_lengths, blank)
    (want * torch.tensor(weights)).sum().backward()
    output = ac.Tensor(logits, dtype="float64", requires_grad=True, device=device)
    got = ops.ctc_loss(targets, output, target_lengths, input_lengths, mask_index=blank)
    (got * ac.Tensor(weights, dtype="float64", device=device)).sum().backward()
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(output.grad), x.grad.numpy(), atol=1e-12)


def test_float64_gradient_check(rng):
    # (the CUDA kernels' float64 gradients equal PyTorch's above)
    logits, targets, target_lengths, input_lengths = draw(rng, (3, 7, 4, 3))
    assert gradcheck(lambda x: ops.ctc_loss(targets, x, target_lengths, input_lengths), [logits])


@pytest.mark.parametrize("device", DEVICES)
def test_float32_matches_keras(keras, rng, device):
    logits, targets, target_lengths, input_lengths = draw(rng, (4, 9, 6, 4))
    logits = logits.astype(np.float32)
    want = keras.ops.ctc_loss(targets, logits, target_lengths, input_lengths)
    got = ops.nn.ctc_loss(targets, ac.Tensor(logits, device=device), target_lengths, input_lengths)
    assert got.dtype == np.float32 and got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(want), rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_labels_that_cannot_fit_have_an_infinite_loss_and_nan_gradients(torch, device):
    # [1, 1] needs three steps (a blank between the repeats); two steps are too few
    logits = np.zeros((2, 3, 3))
    targets, target_lengths, input_lengths = np.array([[1, 1], [1, 2]]), [2, 2], [2, 2]
    x, want = torch_ctc(torch, logits, targets, target_lengths, input_lengths)
    want.sum().backward()
    output = ac.Tensor(logits, requires_grad=True, device=device)
    got = ops.ctc_loss(targets, output, target_lengths, input_lengths)
    got.sum().backward()
    np.testing.assert_allclose(got.numpy(), want.detach().numpy())
    assert got.numpy()[0] == np.inf
    np.testing.assert_array_equal(np.isnan(host(output.grad)), np.isnan(x.grad.numpy()))


def test_targets_and_lengths_left_on_the_gpu_are_checked_there(rng):
    logits, targets, _, input_lengths = draw(rng, (3, 6, 4, 2))
    log_probs = cuda.log_softmax(cuda.asarray(logits))
    bad_lengths = cuda.asarray(np.array([2, 3, 1], np.float64))  # 3 labels in 2 slots
    bad_targets = targets.astype(np.float64)
    bad_targets[2, 0] = 9  # not a class
    _, loss = cuda.ctc_loss(log_probs, cuda.asarray(bad_targets), bad_lengths, input_lengths, 0)
    loss = cuda.to_numpy(loss)
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(loss[2])
    _, cpu_loss = cpu.ctc_loss(cpu.log_softmax(logits), bad_targets, [2, 3, 1], input_lengths, 0)
    np.testing.assert_allclose(cpu_loss, loss)


X = np.zeros((2, 4, 3))
T = np.array([[1, 2], [2, 0]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ops.ctc_loss(T, X[0], [2, 1], [4, 4]), "output must be logits"),
        (lambda: ops.ctc_loss(T, X, [2, 1], [4, 4], mask_index=3), "mask_index 3"),
        (lambda: ops.ctc_loss(T, X, [3, 1], [4, 4]), "target_length must lie in \\[0, 2\\]"),
        (lambda: ops.ctc_loss(T, X, [2, 1], [5, 4]), "output_length must lie in \\[0, 4\\]"),
        (lambda: ops.ctc_loss(T + 2, X, [2, 1], [4, 4]), "classes in \\[0, 3\\), got \\[3, 4\\]"),
        (lambda: ops.ctc_loss(T + 0.5, X, [2, 1], [4, 4]), "target must hold integers"),
        (lambda: ops.ctc_loss(T[:1], X, [2, 1], [4, 4]), "target needs one entry per sample"),
        (lambda: ops.ctc_loss(T[:, 0], X, [2, 1], [4, 4]), "target must be \\(batch_size"),
        (lambda: ops.ctc_decode(X, [4, 4], strategy="best"), "Invalid strategy best"),
        (lambda: ops.ctc_decode(X, [4], strategy="greedy"), "sequence_lengths must be \\(2,\\)"),
        (lambda: ops.ctc_decode(X, [4, 4], "beam_search", beam_width=0), "beam_width"),
        (lambda: ops.ctc_decode(X, [4, 4], mask_index=5), "mask_index 5"),
        (lambda: losses.ctc(T[0], X), "y_true.shape=\\(2,\\)"),
        (lambda: losses.ctc(T, X[0]), "y_pred.shape=\\(4, 3\\)"),
        (lambda: cpu.ctc_loss(X, T, np.zeros(3), np.zeros(2), 0), "each per-sample array"),
        (lambda: cpu.ctc_loss(X, T, np.zeros(2), np.zeros(2), 3), "blank 3 is not one of"),
    ],
)  # fmt: skip
def test_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("strategy", ["greedy", "beam_search"])
@pytest.mark.parametrize("merge_repeated", [True, False])
@pytest.mark.parametrize("mask_index", [0, 3, None])
def test_decoding_matches_keras(keras, rng, strategy, merge_repeated, mask_index):
    logits = (rng.standard_normal((4, 8, 5)) * 2).astype(np.float32)
    lengths = np.array([8, 5, 1, 7], np.int32)
    options = dict(
        strategy=strategy, merge_repeated=merge_repeated, mask_index=mask_index, beam_width=6,
        top_paths=3,
    )  # fmt: skip
    paths, scores = ops.ctc_decode(ac.Tensor(logits), lengths, **options)
    want_paths, want_scores = map(
        keras.ops.convert_to_numpy, keras.ops.ctc_decode(logits, lengths, **options)
    )
    assert paths.dtype == np.int32 and paths.shape == want_paths.shape
    np.testing.assert_array_equal(paths, want_paths)
    assert isinstance(scores, ac.Tensor) and scores.shape == want_scores.shape
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
def test_the_loss_object_matches_kerass(keras, rng, reduction):
    logits = (rng.standard_normal((4, 7, 5)) * 2).astype(np.float32)
    labels = rng.integers(1, 5, (4, 3))
    labels[1, 2] = labels[3, 1:] = 0  # Keras's padding: label lengths 3, 2, 3, 1
    weights = rng.random(4).astype(np.float32)
    got = losses.CTC(reduction=reduction)(labels, ac.Tensor(logits), sample_weight=weights)
    want = keras.losses.CTC(reduction=reduction)(labels, logits, sample_weight=weights)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(want), rtol=1e-5)
    assert losses.CTC().get_config() == keras.losses.CTC().get_config()
    assert losses.get("ctc") is losses.ctc and type(losses.get("CTC")) is losses.CTC
    assert type(losses.loss_object("ctc")) is losses.CTC and losses.get("CTC").name == "ctc"


def test_a_model_trains_alike_on_both_devices(rng):
    x = rng.standard_normal((8, 6, 3)).astype(np.float32)
    y = rng.integers(1, 4, (8, 2))
    y[:3, 1] = 0
    histories = []
    for device in DEVICES:
        ac.utils.set_random_seed(0)
        model = ac.Sequential([ac.layers.Input((6, 3)), ac.layers.Dense(4)])
        model.compile(optimizer="adam", loss=losses.CTC())
        model.to(device)
        histories.append(model.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    assert histories[0][1] < histories[0][0]
