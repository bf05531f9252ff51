"""The fused LSTM and GRU steps and sequences (``ops.recurrent``, the backends' ``lstm_step``
and ``gru_step`` functions): their states and gradients equal the steps composed of the engine's
ops (a sequence's, the fused steps looped), on both devices, whichever outputs get a gradient;
float64 gradient checks; mismatched arrays are one clear error."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import cpu, cuda
from autoconv.ops import engine as ops
from autoconv.ops.recurrent import (
    gru_sequence,
    gru_step,
    lstm_sequence,
    lstm_step,
    simple_rnn_sequence,
    stacked_steps,
    time_steps,
)
from autoconv.testing import gradcheck

DEVICES = ["cpu", "cuda"]


def composed(z: ac.Tensor, c_prev: ac.Tensor) -> tuple[ac.Tensor, ac.Tensor]:
    """The step as LSTMCell composes it for other activations."""
    units = c_prev.shape[1]
    i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
    c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c), c


def host(array):
    return array if isinstance(array, np.ndarray) else cuda.to_numpy(array)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("rows", "units"), [(1, 1), (3, 5), (4, 16)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_states_and_gradients_equal_the_composed_step(device, rows, units, dtype, rng):
    z_values = rng.standard_normal((rows, 4 * units)) * 3
    c_values = rng.standard_normal((rows, units))
    weights = [rng.standard_normal((rows, units)) for _ in range(2)]
    results = []
    for step in (lstm_step, composed):
        z = ac.Tensor(z_values, dtype=dtype, requires_grad=True, device=device)
        c_prev = ac.Tensor(c_values, dtype=dtype, requires_grad=True, device=device)
        h, c = step(z, c_prev)
        w_h, w_c = (ac.Tensor(w, dtype=dtype, device=device) for w in weights)
        ((h * w_h).sum() + (c * w_c).sum()).backward()
        results.append([h.numpy(), c.numpy(), host(z.grad), host(c_prev.grad)])
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12}
    tolerance["atol"] = tolerance.get("atol", 1e-14)
    for fused, reference in zip(*results, strict=True):
        assert fused.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fused, reference, **tolerance)


def test_float64_gradient_check(rng):
    z, c_prev = rng.standard_normal((3, 12)), rng.standard_normal((3, 3))
    assert gradcheck(lambda z, c: lstm_step(z, c)[0], [z, c_prev])
    assert gradcheck(lambda z, c: lstm_step(z, c)[1], [z, c_prev])
    assert gradcheck(lambda z, c: ops.concatenate(lstm_step(z, c), 1), [z, c_prev])


def looped(kind, projected, kernel, bias, h, c, reverse, keep, zero_output, masks=None):
    """The sequence as the fused steps in a loop, masked as the RNN layer masks them, with
    recurrent dropout ``masks`` as the cells' ``implementation=1``: [every step's output (time,
    batch, units), the last output, h, c (None for a GRU)]."""
    steps, units = range(projected.shape[0]), h.shape[1]

    def recurrent(h):
        if masks is None:
            return ops.matmul(h, kernel, bias)
        parts = [ops.matmul(h * masks[g], kernel[:, g * units : (g + 1) * units])
                 for g in range(masks.shape[0])]  # fmt: skip
        joined = ops.concatenate(parts, 1)
        return joined if bias is None else joined + bias

    outputs, carried = [], None
    for t in reversed(steps) if reverse else steps:
        if kind == "lstm":
            new_h, new_c = lstm_step(projected[t] + recurrent(h), c)
        elif kind == "gru":
            new_h, new_c = gru_step(projected[t], recurrent(h), h), c
        else:
            new_h, new_c = ops.tanh(projected[t] + recurrent(h)), c
        output = new_h
        if keep is not None:
            on = ops.reshape(keep[:, t], (-1, 1))
            old = carried if carried is not None else new_h * 0
            fill = new_h * 0 if zero_output else old
            h, c = new_h * on + h * (1 - on), new_c * on + c * (1 - on)
            carried, output = new_h * on + old * (1 - on), new_h * on + fill * (1 - on)
        else:
            h, c = new_h, new_c
        outputs.append(ops.reshape(output, (1, *output.shape)))
    return [ops.concatenate(outputs, 0), outputs[-1][0], h, c if kind == "lstm" else None]


def sequence_of(kind, projected, kernel, bias, h, c, reverse, keep, zero_output, masks=None):
    if kind == "lstm":
        return lstm_sequence(projected, kernel, h, c, reverse, keep, zero_output, masks)
    if kind == "simple":
        return [*simple_rnn_sequence(projected, kernel, h, reverse, keep, zero_output, masks),
                None]  # fmt: skip
    return [*gru_sequence(projected, kernel, bias, h, reverse, keep, zero_output, masks), None]


# (the layer, the outputs that get a gradient: only an LSTM has a cell state)
GRADED = [(kind, graded) for kind in ("lstm", "gru", "gru-no-bias", "simple")
          for graded in ("all", "sequence", "last", "h", "c")
          if kind == "lstm" or graded != "c"]  # fmt: skip
# keep (batch 3, time 4) by its rows: none masked, leading, inner and trailing steps masked
KEEP = np.array([[1, 1, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0]], np.float64)


def sequence_values(rng, kind, steps, units, batch=3):
    """Random float64 values of the projected inputs (time, batch, gates * units), the
    recurrent kernel, a GRU's recurrent bias, h0 and c0."""
    gates = {"lstm": 4, "simple": 1}.get(kind, 3)
    return [rng.standard_normal((steps, batch, gates * units)),
            rng.standard_normal((units, gates * units)) * 0.5,
            rng.standard_normal(gates * units), rng.standard_normal((batch, units)),
            rng.standard_normal((batch, units))]  # fmt: skip


def assert_sequence_is_its_steps(device, kind, values, reverse, masking, graded="all", masks=None):
    """The sequence op's outputs and its inputs' gradients (from a loss of the ``graded``
    outputs) equal the fused steps looped (:func:`looped`)."""
    results = []
    for run in (sequence_of, looped):
        inputs = [ac.Tensor(v, dtype="float64", requires_grad=True, device=device) for v in values]
        bias = inputs[2] if kind == "gru" else None
        keep = None if masking is None else ac.Tensor(KEEP[:, : len(values[0])], device=device)
        outputs = run(kind.split("-")[0], inputs[0], inputs[1], bias, *inputs[3:], reverse, keep,
                      masking == "zero-output", masks)  # fmt: skip
        graded_outputs = {"all": outputs, "sequence": outputs[:1], "last": outputs[1:2],
                          "h": outputs[2:3], "c": outputs[3:]}[graded]  # fmt: skip
        loss = sum((o * o * (1 + k)).sum() for k, o in enumerate(graded_outputs) if o is not None)
        loss.backward()
        results.append(
            [o.numpy() for o in outputs if o is not None]
            + [host(t.grad) if t.grad is not None else None for t in inputs]
        )
    for fused, reference in zip(*results, strict=True):
        if reference is None:
            assert fused is None
        else:
            np.testing.assert_allclose(fused, reference, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("kind", "graded"), GRADED)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masking", [None, "mask", "zero-output"])
@pytest.mark.parametrize(("steps", "units"), [(1, 2), (4, 5)])
def test_sequences_equal_their_steps_looped(device, kind, graded, reverse, masking, steps, units,
                                           rng):  # fmt: skip
    values = sequence_values(rng, kind, steps, units)
    assert_sequence_is_its_steps(device, kind, values, reverse, masking, graded)


def dropout_masks(rng, gates, batch, units):
    """Recurrent dropout masks (gates, batch, units): 0 or 1 / (1 - 0.4)."""
    return (rng.random((gates, batch, units)) > 0.4) / 0.6


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru-no-bias", "simple"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masking", [None, "mask"])
def test_sequences_with_recurrent_dropout_equal_their_steps_looped(device, kind, reverse, masking,
                                                                   rng):  # fmt: skip
    values = sequence_values(rng, kind, steps=4, units=5)
    gates = values[1].shape[1] // 5
    masks = ac.Tensor(dropout_masks(rng, gates, 3, 5), device=device)
    assert_sequence_is_its_steps(device, kind, values, reverse, masking, masks=masks)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_sequences_float64_gradient_check(reverse, zero_output, rng):
    projected, kernel = rng.standard_normal((4, 3, 8)), rng.standard_normal((2, 8)) * 0.5
    h0, c0 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    keep = ac.Tensor(KEEP)

    def flat(outputs):
        return ops.concatenate([o.reshape(-1) for o in outputs], 0)

    assert gradcheck(lambda *a: flat(lstm_sequence(*a, reverse)), [projected, kernel, h0, c0])
    assert gradcheck(
        lambda *a: flat(lstm_sequence(*a, reverse, keep, zero_output)), [projected, kernel, h0, c0]
    )
    masks = ac.Tensor(dropout_masks(rng, 4, 3, 2))
    assert gradcheck(
        lambda *a: flat(lstm_sequence(*a, reverse, keep, zero_output, masks)),
        [projected, kernel, h0, c0],
    )
    projected, kernel, bias = projected[..., :6], kernel[:, :6], rng.standard_normal(6)
    assert gradcheck(lambda *a: flat(gru_sequence(*a, reverse)), [projected, kernel, bias, h0])
    assert gradcheck(
        lambda *a: flat(gru_sequence(*a, reverse, keep, zero_output, masks[:3])),
        [projected, kernel, bias, h0],
    )
    assert gradcheck(
        lambda *a: flat(gru_sequence(*a, reverse, keep, zero_output)), [projected, kernel, bias, h0]
    )
    projected, kernel = projected[..., :2], kernel[:, :2]
    for recurrent_masks in (None, masks[:1]):
        assert gradcheck(
            lambda *a, m=recurrent_masks: flat(simple_rnn_sequence(*a, reverse, keep,
                                                                   zero_output, m)),
            [projected, kernel, h0],
        )  # fmt: skip


def test_mismatched_sequences_are_one_clear_error():
    projected, kernel = ac.Tensor(np.zeros((3, 2, 8))), ac.Tensor(np.zeros((2, 8)))
    state = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"lstm_sequence: projected inputs must be \(time"):
        lstm_sequence(projected[0], kernel, state, state)
    with pytest.raises(ValueError, match=r"recurrent kernel must be \(units, 4 \* units\)"):
        lstm_sequence(projected, ac.Tensor(np.zeros((2, 6))), state, state)
    with pytest.raises(ValueError, match=r"lstm_sequence: states must be \(batch, units\)"):
        lstm_sequence(projected, kernel, state, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"gru_sequence: the recurrent bias must be \(6,\)"):
        gru_sequence(projected[..., :6], kernel[:, :6], ac.Tensor(np.zeros(8)), state)
    with pytest.raises(ValueError, match=r"lstm_sequence: keep must be \(batch, time\)"):
        lstm_sequence(projected, kernel, state, state, keep=ac.Tensor(np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"lstm_sequence: recurrent_masks must be \(gates, batch"):
        lstm_sequence(projected, kernel, state, state, recurrent_masks=ac.Tensor(np.ones((3, 2))))


@pytest.mark.parametrize("backend", [cpu, cuda])
def test_mismatched_arrays_are_one_clear_error(backend):
    z, c = backend.asarray(np.zeros((2, 8))), backend.asarray(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"lstm_step: z must be \(batch, 4 units\)"):
        backend.lstm_step(z, c)
    c = backend.asarray(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="lstm_step_grad: each state and gradient"):
        backend.lstm_step_grad(z, c, c, backend.asarray(np.zeros((2, 3))), c)
    with pytest.raises(ValueError, match="lstm_step_grad: each state and gradient"):
        backend.lstm_step_grad(z, c, c, c, backend.asarray(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="share z's dtype"):
        backend.lstm_step(z, backend.asarray(np.zeros((2, 2), np.float32)))


def composed_gru(x: ac.Tensor, recurrent: ac.Tensor, h_prev: ac.Tensor) -> ac.Tensor:
    """The step as GRUCell composes it for other activations (reset_after)."""
    units = h_prev.shape[1]
    x_z, x_r, x_h = (x[:, k * units : (k + 1) * units] for k in range(3))
    r_z, r_r, r_h = (recurrent[:, k * units : (k + 1) * units] for k in range(3))
    z, r = ops.sigmoid(x_z + r_z), ops.sigmoid(x_r + r_r)
    candidate = ops.tanh(x_h + r * r_h)
    return z * h_prev + (1 - z) * candidate


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("rows", "units"), [(1, 1), (3, 5), (4, 16)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gru_step_and_gradients_equal_the_composed_step(device, rows, units, dtype, rng):
    values = [rng.standard_normal((rows, 3 * units)) * 2 for _ in range(2)]
    values.append(rng.standard_normal((rows, units)))
    weight = rng.standard_normal((rows, units))
    results = []
    for step in (gru_step, composed_gru):
        tensors = [ac.Tensor(v, dtype=dtype, requires_grad=True, device=device) for v in values]
        h = step(*tensors)
        (h * ac.Tensor(weight, dtype=dtype, device=device)).sum().backward()
        results.append([h.numpy(), *(host(t.grad) for t in tensors)])
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12}
    tolerance["atol"] = tolerance.get("atol", 1e-14)
    for fused, reference in zip(*results, strict=True):
        assert fused.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fused, reference, **tolerance)


def test_gru_float64_gradient_check(rng):
    x, recurrent, h_prev = (
        rng.standard_normal((3, 9)),
        rng.standard_normal((3, 9)),
        rng.standard_normal((3, 3)),
    )
    assert gradcheck(gru_step, [x, recurrent, h_prev])


@pytest.mark.parametrize("backend", [cpu, cuda])
def test_mismatched_gru_arrays_are_one_clear_error(backend):
    x, h = backend.asarray(np.zeros((2, 6))), backend.asarray(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"gru_step: x must be \(batch, 3 units\)"):
        backend.gru_step(x, x, backend.asarray(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="recurrent must have shape"):
        backend.gru_step(x, backend.asarray(np.zeros((2, 3))), h)
    with pytest.raises(ValueError, match="each state and gradient"):
        backend.gru_step_grad(x, x, h, backend.asarray(np.zeros((3, 2))))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(2, 1, 3), (3, 4, 2), (2, 3, 2, 2)])
def test_time_steps_and_stacked_steps_are_slices_and_a_stack(device, shape, rng):
    values = rng.standard_normal(shape)
    x = ac.Tensor(values, requires_grad=True, device=device)
    steps = time_steps(x)
    assert len(steps) == shape[1]
    for t, step in enumerate(steps):
        np.testing.assert_array_equal(step.numpy(), values[:, t])
    used = steps[::2]  # some steps get no gradient
    order = [*used, used[0]]  # one step twice: its gradients add up
    weights = rng.standard_normal((shape[0], len(order), *shape[2:]))
    stacked = stacked_steps(order)
    expected = np.stack([values[:, t] for t in range(0, shape[1], 2)] + [values[:, 0]], 1)
    np.testing.assert_array_equal(stacked.numpy(), expected)
    (stacked * ac.Tensor(weights, device=device)).sum().backward()
    grad = np.zeros(shape)
    for k, t in enumerate([*range(0, shape[1], 2), 0]):
        grad[:, t] += weights[:, k]
    np.testing.assert_allclose(host(x.grad), grad, rtol=1e-15)


def test_time_steps_float64_gradient_check(rng):
    def round_trip(x):
        steps = time_steps(x)
        return stacked_steps([s * (t + 1) for t, s in enumerate(reversed(steps))])

    assert gradcheck(round_trip, [rng.standard_normal((2, 3, 2))])


def test_mismatched_steps_are_one_clear_error():
    with pytest.raises(ValueError, match=r"time_steps: sequences must be \(batch, time"):
        time_steps(ac.Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="stacked_steps: the steps must share one shape"):
        stacked_steps([ac.Tensor(np.zeros((2, 3))), ac.Tensor(np.zeros((2, 2)))])
