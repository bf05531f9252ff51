"""The recurrent layers' ops. The fused steps of a long short-term memory and of a gated
recurrent unit (Keras's default activations), each one op whose forward and backward are one
backend call each (see ``lstm_step`` and ``gru_step`` in :mod:`autoconv.backends.contract`),
where the same step composed of the engine's ops takes about twenty of them.

``lstm_sequence``, ``gru_sequence`` and ``simple_rnn_sequence`` run every step of a sequence as
one op, as cuDNN's recurrent layers do: the inputs' projections come in computed for the whole
sequence (one matrix product, outside), each step is the previous state's product with the
recurrent kernel and the step, and the backward pass goes back through the steps once, the
recurrent kernel's gradient one product over the whole sequence at the end. Arrays are
time-major, so a step's rows are one contiguous block on either device. The cells
(:mod:`autoconv.layers.rnn_cells`) call them where their step is Keras's default one; other
steps compose, looped by the RNN layer over ``time_steps`` and ``stacked_steps`` (each one op,
where a slice a step would widen each step's gradient to the whole sequence's shape)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensor
from autoconv.tensor import Tensor, record


def _record_outputs(
    outputs: list[Any], parents: tuple[Tensor, ...], backward: Any, op: str
) -> list[Tensor]:
    """Several outputs of one op, each a tensor: ``backward(grads)`` gets each output's
    gradient (None for one that got none) and returns one for each parent. (The engine's nodes
    have one output: here each output is a node on one joint node of the parents, whose
    backward runs after every output's, the engine's order, with the gradients they left it.
    So no output's gradient is widened to the others' shape.)"""
    grads: list[Any] = [None] * len(outputs)
    nothing = np.zeros(())

    def leave(i: int, grad: Any) -> tuple[Any]:
        grads[i] = grad
        return (nothing,)

    def joint_backward(_: Any) -> Any:
        taken = list(grads)
        grads[:] = [None] * len(outputs)
        return backward(taken)

    joint = record(nothing, parents, joint_backward, op)
    return [record(out, (joint,), functools.partial(leave, i), op) for i, out in enumerate(outputs)]


def lstm_step(z: Tensor, c_prev: Any) -> tuple[Tensor, Tensor]:
    """(h, c), each (batch, units): ``z`` (batch, 4 units) the pre-activations of the gates
    i, f, g, o in Keras's order; c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g) and
    h = sigmoid(o) * tanh(c). Differentiable in z and c_prev; one backend call each way."""
    c_prev = as_tensor(c_prev, like=z)
    xp = backend(z)
    h, c, gates, tanh_c = xp.lstm_step(z.data, c_prev.data)

    def backward(grads: list[Any]) -> Any:
        grad_h, grad_c = (xp.zeros_like(c) if g is None else g for g in grads)
        return xp.lstm_step_grad(gates, c_prev.data, tanh_c, grad_h, grad_c)

    hidden, cell = _record_outputs([h, c], (z, c_prev), backward, "lstm_step")
    return hidden, cell


def gru_step(x: Tensor, recurrent: Tensor, h_prev: Any) -> Tensor:
    """h (batch, units) of a GRU step (Keras's ``reset_after``): ``x`` and ``recurrent``
    (batch, 3 units) the input's and the previous state's projections with their biases, in
    Keras's gate order z, r, h; z = sigmoid(x_z + recurrent_z), r = sigmoid(x_r +
    recurrent_r), hh = tanh(x_h + r * recurrent_h), h = z * h_prev + (1 - z) * hh.
    Differentiable in all three."""
    h_prev = as_tensor(h_prev, like=x)
    xp = backend(x)
    h, gates = xp.gru_step(x.data, recurrent.data, h_prev.data)
    return record(
        h, (x, recurrent, h_prev),
        lambda g: xp.gru_step_grad(gates, recurrent.data, h_prev.data, g), "gru_step",
    )  # fmt: skip


def _row(array: Any, k: int) -> Any:
    """``array[k]`` as a view (a run of rows is a view on both devices; an index a copy)."""
    return array[k : k + 1].reshape(array.shape[1:])


def _time(k: int, steps: int, reverse: bool) -> int:
    """The time step the k-th step runs: k, or time - 1 - k with ``reverse``."""
    return steps - 1 - k if reverse else k


def _into_row(by_time: Any, t: int, value: Any) -> None:
    """by_time[t] = value (a kernel on the GPU, so a recorded step replays it)."""
    backend(by_time).copy_into(_row(by_time, t), value)


def _swap_time(xp: Any, array: Any) -> Any:
    """``array`` with its first two axes swapped, contiguous: (batch, time, ...) <-> (time,
    batch, ...)."""
    return xp.copy(xp.swapaxes(array, 0, 1))


def time_steps(sequences: Tensor) -> list[Tensor]:
    """Each time step of (batch, time, ...) ``sequences``, a (batch, ...) tensor, as one op:
    its backward puts the steps' gradients into one array (a slice a step would widen each
    step's gradient to the whole sequence's shape)."""
    if sequences.ndim < 2:
        raise ValueError(f"time_steps: sequences must be (batch, time, ...), got {sequences.shape}")
    xp = backend(sequences)
    by_time = _swap_time(xp, sequences.data)

    def backward(grads: list[Any]) -> tuple[Any]:
        total = xp.zeros(by_time.shape, by_time.dtype)
        for t, grad in enumerate(grads):
            if grad is not None:
                _into_row(total, t, grad)
        return (_swap_time(xp, total),)

    steps = [_row(by_time, t) for t in range(by_time.shape[0])]
    return _record_outputs(steps, (sequences,), backward, "time_steps")


def stacked_steps(steps: list[Tensor]) -> Tensor:
    """(batch, time, ...) from each time step's (batch, ...) tensor, as one op (the inverse of
    :func:`time_steps`)."""
    first = steps[0]
    if any(s.shape != first.shape or s.dtype != first.dtype or s.device != first.device
           for s in steps):  # fmt: skip
        raise ValueError(
            f"stacked_steps: the steps must share one shape, dtype and device, got "
            f"{sorted({(s.shape, str(s.dtype), s.device) for s in steps})}"
        )
    xp = backend(first)
    by_time = xp.empty((len(steps), *first.shape), first.dtype)
    for t, step in enumerate(steps):
        _into_row(by_time, t, step.data)

    def backward(grad: Any) -> tuple[Any, ...]:
        grad_by_time = _swap_time(xp, grad)
        return tuple(_row(grad_by_time, t) for t in range(len(steps)))

    return record(_swap_time(xp, by_time), tuple(steps), backward, "stacked_steps")


def _check_sequence(
    op: str, projected: Tensor, kernel: Tensor, gates: int, states: list, keep: Tensor | None
) -> None:
    """A ValueError naming ``op`` and what is wrong where the arrays do not fit each other."""
    if projected.ndim != 3 or kernel.ndim != 2 or projected.shape[0] < 1:
        raise ValueError(
            f"{op}: projected inputs must be (time >= 1, batch, width) and the recurrent kernel "
            f"2-D, got {projected.shape} and {kernel.shape}"
        )
    steps, batch, width = projected.shape
    units = kernel.shape[0]
    if kernel.shape[1] != gates * units or width != gates * units:
        raise ValueError(
            f"{op}: the recurrent kernel must be (units, {gates} * units) and the projected "
            f"inputs {gates} * units wide, got {kernel.shape} and {projected.shape}"
        )
    for state in states:
        if state.shape != (batch, units):
            raise ValueError(f"{op}: states must be (batch, units) = {(batch, units)}, "
                             f"got {state.shape}")  # fmt: skip
    if keep is not None and keep.shape != (batch, steps):
        raise ValueError(f"{op}: keep must be (batch, time) = {(batch, steps)}, got {keep.shape}")


@dataclass
class _Run:
    """A sequence's steps run forward: the states each step started from, what each step kept
    for its backward pass, every step's output (what the layer returns for it; time, batch,
    units, in the order the steps ran), the last one, each step's starting h by time step,
    the final states, and the mask as (time, batch, 1) arrays of keep and 1 - keep (None
    without one)."""

    starts: list[tuple[Any, ...]]
    kept: list[Any]
    outputs: Any
    last: Any
    start_h_by_time: Any
    final: tuple[Any, ...]
    mask: tuple[Any, Any] | None


def _run_steps(
    projected: Tensor, states: tuple[Any, ...], reverse: bool, keep: Tensor | None,
    zero_output: bool, step: Callable[[int, tuple[Any, ...]], tuple[tuple[Any, ...], Any]],
) -> _Run:  # fmt: skip
    """Run ``step(t, states) -> (new states, kept)`` (the first new state is the step's output)
    at k = 0, 1, ... on time step t = :func:`_time`. Where ``keep`` (batch, time) is 0 a step
    keeps the previous states and repeats the previous output (zeros with ``zero_output``;
    zeros before any), as :class:`autoconv.layers.RNN`'s loop does."""
    xp = backend(projected)
    steps, batch = projected.shape[:2]
    h0 = states[0]
    mask = None
    if keep is not None:
        keep_by_time = keep.data.astype(projected.dtype).transpose(1, 0).reshape(steps, batch, 1)
        mask = (keep_by_time, 1 - keep_by_time)
    by_time = [xp.empty((steps, *h0.shape), h0.dtype) for _ in range(2)]
    run = _Run([], [], by_time[0], None, by_time[1], states, mask)
    carried = None  # the output repeated through masked steps
    for k in range(steps):
        t = _time(k, steps, reverse)
        run.starts.append(run.final)
        _into_row(run.start_h_by_time, t, run.final[0])
        new, kept = step(t, run.final)
        run.kept.append(kept)
        output = new[0]
        if mask is not None:
            on, off = _row(mask[0], t), _row(mask[1], t)
            old = carried if carried is not None else output * 0
            fill = output * 0 if zero_output else old
            new = tuple(n * on + s * off for n, s in zip(new, run.final, strict=True))
            carried, output = output * on + old * off, output * on + fill * off
        _into_row(run.outputs, k, output)
        run.last, run.final = output, new
    return run


def _back_through_steps(
    run: _Run, reverse: bool, zero_output: bool, grads: list[Any],
    step_grad: Callable[[int, tuple[Any, ...]], tuple[Any, ...]],
) -> tuple[Any, ...]:  # fmt: skip
    """The gradients of the initial states, from ``grads`` [of every step's output (time,
    batch, units), of the last output, of each final state] (None where there is none), each
    step's going back through the cell by ``step_grad(k, grads of its new states) -> grads of
    the states it started from``, last step first."""
    sequence_grad, last_grad, *state_grads = grads
    steps = len(run.kept)
    like = run.final[0]
    xp = backend(like)
    carried = [xp.zeros_like(like) if g is None else g for g in state_grads]
    carried_output = None  # the gradient of the output repeated through masked steps
    for k in reversed(range(steps)):
        output_grad = None if sequence_grad is None else _row(sequence_grad, k)
        if k == steps - 1 and last_grad is not None:
            output_grad = last_grad if output_grad is None else output_grad + last_grad
        if run.mask is None:
            into_new = list(carried)
            if output_grad is not None:
                into_new[0] = into_new[0] + output_grad
            carried = list(step_grad(k, tuple(into_new)))
            continue
        t = _time(k, steps, reverse)
        on, off = _row(run.mask[0], t), _row(run.mask[1], t)
        into_output = carried[0] * on
        old = None  # the gradient of the previous repeated output
        if carried_output is not None:
            into_output, old = into_output + carried_output * on, carried_output * off
        if output_grad is not None:
            into_output = into_output + output_grad * on
            if not zero_output:
                old = output_grad * off if old is None else old + output_grad * off
        carried_output = old
        into_new = (into_output, *(g * on for g in carried[1:]))
        through_cell = step_grad(k, into_new)
        carried = [g + kept * off for g, kept in zip(through_cell, carried, strict=True)]
    return tuple(carried)


class _Recurrence:
    """A step's recurrent projection of the state h (batch, units): h @ kernel (units, gates *
    units) + ``bias``, or with recurrent dropout (``masks``, (gates, batch, units), the same
    every step) Keras's ``implementation=1``: each gate's block of the kernel multiplies h times
    that gate's mask. Its gradients: of h, and of the kernel over the whole sequence."""

    def __init__(self, xp: Any, kernel: Any, bias: Any = None, masks: Any = None) -> None:
        self.xp, self.kernel, self.bias, self.masks = xp, kernel, bias, masks
        self.units = kernel.shape[0]
        self.gates = kernel.shape[1] // self.units
        if masks is not None:  # each gate's block, (gates, units, units)
            self.by_gate = _swap_time(xp, kernel.reshape(self.units, self.gates, self.units))

    @functools.cached_property
    def kernel_t(self) -> Any:
        """The kernel transposed, contiguous (an operand so: 43 -> 31 us a product, CPU)."""
        return self.kernel.T.copy()

    def _joined(self, by_gate: Any) -> Any:
        """(batch, gates * units) from each gate's (gates, batch, units)."""
        return _swap_time(self.xp, by_gate).reshape(by_gate.shape[1], -1)

    def _split(self, joined: Any) -> Any:
        """(gates, batch, units) from (batch, gates * units)."""
        return _swap_time(self.xp, joined.reshape(joined.shape[0], self.gates, self.units))

    def __call__(self, h: Any) -> Any:
        xp = self.xp
        if self.masks is None:
            return xp.matmul(h, self.kernel, bias=self.bias)
        projected = self._joined(xp.matmul(h * self.masks, self.by_gate))
        return projected if self.bias is None else projected + self.bias

    def input_grad(self, grad: Any) -> Any:
        """The gradient of h from that of its projection, (batch, gates * units)."""
        xp = self.xp
        if self.masks is None:
            return xp.matmul(grad, self.kernel_t)
        through = xp.matmul(self._split(grad), self.by_gate, transpose_b=True)
        return (through * self.masks).sum(axis=0)

    def kernel_grad(self, starts: Any, grad_by_time: Any) -> Any:
        """The kernel's gradient, the sum over the steps of (each step's starting h, ``starts``
        (time, batch, units), masked)^T @ its projection's gradient, ``grad_by_time`` (time,
        batch, gates * units)."""
        xp = self.xp
        h, grad = starts.reshape(-1, self.units), grad_by_time.reshape(-1, grad_by_time.shape[-1])
        if self.masks is None:
            return xp.matmul(h, grad, transpose_a=True)
        masks = self.masks.reshape(self.gates, 1, -1, self.units)  # the same every step
        masked = (starts.reshape(1, *starts.shape) * masks).reshape(self.gates, -1, self.units)
        return self._joined(xp.matmul(masked, self._split(grad), transpose_a=True))


def _data(tensor: Tensor | None) -> Any:
    """A tensor's array (None for None)."""
    return None if tensor is None else tensor.data


def _outputs(run: _Run) -> list[Any]:
    """[every step's output (time, batch, units), the last output, each final state]."""
    return [run.outputs, run.last, *run.final]


def _check_masks(op: str, masks: Tensor | None, gates: int, state: Tensor) -> None:
    """A ValueError naming ``op`` unless ``masks`` is None or (gates, batch, units)."""
    if masks is not None and masks.shape != (gates, *state.shape):
        raise ValueError(f"{op}: recurrent_masks must be (gates, batch, units) = "
                         f"{(gates, *state.shape)}, got {masks.shape}")  # fmt: skip


def lstm_sequence(
    projected: Tensor,
    recurrent_kernel: Tensor,
    h0: Any,
    c0: Any,
    reverse: bool = False,
    keep: Tensor | None = None,
    zero_output: bool = False,
    recurrent_masks: Tensor | None = None,
) -> list[Tensor]:
    """Every step of an LSTM (Keras's default activations, as :func:`lstm_step`) as one op:
    ``projected`` (time, batch, 4 units) each step's input projection with the bias, the
    recurrent kernel (units, 4 units), the initial states ``h0`` and ``c0`` (batch, units);
    step k's z = projected[t] + h @ recurrent_kernel, t = k (t = time - 1 - k with
    ``reverse``). ``keep`` (batch, time), 0/1: a masked step keeps the states and repeats the
    previous output (zeros with ``zero_output``), as :class:`autoconv.layers.RNN` does.
    ``recurrent_masks`` (4, batch, units), recurrent dropout: gate g's part of z is (h times
    mask g) @ its block of the kernel (Keras's ``implementation=1``).

    Returns [every step's output (time, batch, units) in the order the steps ran, the last
    output, the final h, the final c]. Differentiable in the first four inputs."""
    h0, c0 = as_tensor(h0, like=projected), as_tensor(c0, like=projected)
    _check_sequence("lstm_sequence", projected, recurrent_kernel, 4, [h0, c0], keep)
    _check_masks("lstm_sequence", recurrent_masks, 4, h0)
    xp = backend(projected)
    recurrence = _Recurrence(xp, recurrent_kernel.data, None, _data(recurrent_masks))

    def step(t: int, states: tuple[Any, ...]) -> tuple[tuple[Any, Any], Any]:
        h, c = states
        h, c, gates, tanh_c = xp.lstm_step(recurrence(h) + _row(projected.data, t), c)
        return (h, c), (gates, tanh_c)

    run = _run_steps(projected, (h0.data, c0.data), reverse, keep, zero_output, step)

    def backward(grads: list[Any]) -> tuple[Any, Any, Any, Any]:
        grad_z = xp.empty(projected.shape, projected.dtype)  # by time step

        def step_grad(k: int, into_new: tuple[Any, ...]) -> tuple[Any, Any]:
            gates, tanh_c = run.kept[k]
            z, grad_c = xp.lstm_step_grad(gates, run.starts[k][1], tanh_c, *into_new)
            _into_row(grad_z, _time(k, len(run.kept), reverse), z)
            return recurrence.input_grad(z), grad_c

        grad_h, grad_c = _back_through_steps(run, reverse, zero_output, grads, step_grad)
        kernel_grad = recurrence.kernel_grad(run.start_h_by_time, grad_z)
        return grad_z, kernel_grad, grad_h, grad_c

    parents = (projected, recurrent_kernel, h0, c0)
    return _record_outputs(_outputs(run), parents, backward, "lstm_sequence")


def gru_sequence(
    projected: Tensor,
    recurrent_kernel: Tensor,
    recurrent_bias: Tensor | None,
    h0: Any,
    reverse: bool = False,
    keep: Tensor | None = None,
    zero_output: bool = False,
    recurrent_masks: Tensor | None = None,
) -> list[Tensor]:
    """Every step of a GRU (Keras's default activations and ``reset_after``, as
    :func:`gru_step`) as one op: ``projected`` (time, batch, 3 units) each step's input
    projection with the input bias, the recurrent kernel (units, 3 units) and its bias (3 units,
    or None), the initial state ``h0`` (batch, units); step k's recurrent projection is h @
    recurrent_kernel + recurrent_bias and its input projected[t], t = k (t = time - 1 - k with
    ``reverse``). ``keep``, ``zero_output`` and ``recurrent_masks`` (3, batch, units) as
    :func:`lstm_sequence`'s.

    Returns [every step's output (time, batch, units) in the order the steps ran, the last
    output, the final h]. Differentiable in the first four inputs."""
    h0 = as_tensor(h0, like=projected)
    _check_sequence("gru_sequence", projected, recurrent_kernel, 3, [h0], keep)
    _check_masks("gru_sequence", recurrent_masks, 3, h0)
    if recurrent_bias is not None and recurrent_bias.shape != (projected.shape[2],):
        raise ValueError(f"gru_sequence: the recurrent bias must be ({projected.shape[2]},), "
                         f"got {recurrent_bias.shape}")  # fmt: skip
    xp = backend(projected)
    recurrence = _Recurrence(
        xp, recurrent_kernel.data, _data(recurrent_bias), _data(recurrent_masks)
    )

    def step(t: int, states: tuple[Any, ...]) -> tuple[tuple[Any], Any]:
        recurrent = recurrence(states[0])
        h, gates = xp.gru_step(_row(projected.data, t), recurrent, states[0])
        return (h,), (gates, recurrent)

    run = _run_steps(projected, (h0.data,), reverse, keep, zero_output, step)

    def backward(grads: list[Any]) -> tuple[Any, ...]:
        grad_x, grad_recurrent = (xp.empty(projected.shape, projected.dtype) for _ in range(2))

        def step_grad(k: int, into_new: tuple[Any, ...]) -> tuple[Any]:
            gates, recurrent = run.kept[k]
            x, r, direct = xp.gru_step_grad(gates, recurrent, run.starts[k][0], into_new[0])
            t = _time(k, len(run.kept), reverse)
            _into_row(grad_x, t, x)
            _into_row(grad_recurrent, t, r)
            return (direct + recurrence.input_grad(r),)

        (grad_h,) = _back_through_steps(run, reverse, zero_output, grads, step_grad)
        result = [grad_x, recurrence.kernel_grad(run.start_h_by_time, grad_recurrent)]
        if recurrent_bias is not None:
            result.append(grad_recurrent.reshape(-1, grad_recurrent.shape[-1]).sum(axis=0))
        return (*result, grad_h)

    parents = (projected, recurrent_kernel, h0)
    if recurrent_bias is not None:
        parents = (projected, recurrent_kernel, recurrent_bias, h0)
    return _record_outputs(_outputs(run), parents, backward, "gru_sequence")


def simple_rnn_sequence(
    projected: Tensor,
    recurrent_kernel: Tensor,
    h0: Any,
    reverse: bool = False,
    keep: Tensor | None = None,
    zero_output: bool = False,
    recurrent_masks: Tensor | None = None,
) -> list[Tensor]:
    """Every step of a fully-connected RNN with Keras's default tanh as one op: ``projected``
    (time, batch, units) each step's input projection with the bias, the recurrent kernel
    (units, units), the initial state ``h0`` (batch, units); step k's h = tanh(projected[t] +
    h @ recurrent_kernel), t = k (t = time - 1 - k with ``reverse``). ``keep``, ``zero_output``
    and ``recurrent_masks`` (1, batch, units) as :func:`lstm_sequence`'s.

    Returns [every step's output (time, batch, units) in the order the steps ran, the last
    output, the final h]. Differentiable in the first three inputs."""
    h0 = as_tensor(h0, like=projected)
    _check_sequence("simple_rnn_sequence", projected, recurrent_kernel, 1, [h0], keep)
    _check_masks("simple_rnn_sequence", recurrent_masks, 1, h0)
    xp = backend(projected)
    recurrence = _Recurrence(xp, recurrent_kernel.data, None, _data(recurrent_masks))

    def step(t: int, states: tuple[Any, ...]) -> tuple[tuple[Any], Any]:
        h = xp.tanh(_row(projected.data, t) + recurrence(states[0]))
        return (h,), h

    run = _run_steps(projected, (h0.data,), reverse, keep, zero_output, step)

    def backward(grads: list[Any]) -> tuple[Any, Any, Any]:
        grad_pre = xp.empty(projected.shape, projected.dtype)  # by time step

        def step_grad(k: int, into_new: tuple[Any, ...]) -> tuple[Any]:
            h = run.kept[k]
            pre = into_new[0] * (1 - h * h)
            _into_row(grad_pre, _time(k, len(run.kept), reverse), pre)
            return (recurrence.input_grad(pre),)

        (grad_h,) = _back_through_steps(run, reverse, zero_output, grads, step_grad)
        return grad_pre, recurrence.kernel_grad(run.start_h_by_time, grad_pre), grad_h

    parents = (projected, recurrent_kernel, h0)
    return _record_outputs(_outputs(run), parents, backward, "simple_rnn_sequence")
