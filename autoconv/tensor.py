"""The Tensor and the reverse-mode autograd engine.

A Tensor wraps an array (``.data``) and, when it was produced by an op while gradients are
being recorded, the op's parents and a backward closure. ``backward()`` walks the graph in
reverse topological order (iteratively: deep graphs never hit Python's recursion limit),
calls each closure with the gradient of its output, reduces broadcast gradients back to each
parent's shape (in :func:`unbroadcast`, the one place that does it for every op) and
accumulates them. Only leaf tensors that require a gradient keep ``.grad`` (and those that
called :meth:`Tensor.retain_grad`).

Ops live in :mod:`autoconv.ops`; each one builds its output with :func:`record`, passing a
closure that maps the output gradient to one gradient per parent.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from autoconv.backends import DEVICES, array_device, check_device, namespace

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
__all__ = ["DEVICES", "Tensor", "check_device", "no_grad", "record", "unbroadcast"]


class _GradMode(threading.local):  # per thread, as PyTorch's: one thread's predict leaves
    enabled = True  # another thread's training step recorded


_grad_mode = _GradMode()


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager that stops recording ops (in this thread), as for inference."""
    previous, _grad_mode.enabled = _grad_mode.enabled, False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def is_grad_enabled() -> bool:
    """True unless this thread is inside :func:`no_grad`."""
    return _grad_mode.enabled


def as_array(value: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``value`` to a float32 or float64 ndarray.

    NumPy float32/float64 arrays keep their precision; everything else numeric (Python lists
    and scalars, integer, bool and float16 arrays) becomes float32 unless ``dtype`` says
    otherwise. Anything else is a TypeError.
    """
    keeps_precision = isinstance(value, np.ndarray | np.generic)
    array = np.asarray(value)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"Tensor dtype must be float32 or float64, got {dtype}")
        return np.asarray(array, dtype=dtype, order="C")
    if keeps_precision and array.dtype in FLOAT_DTYPES:
        return array
    if array.dtype.kind in "biuf":
        return array.astype(np.float32)
    raise TypeError(
        f"cannot make a Tensor from an array of dtype {array.dtype}; "
        "expected a real number type (float32, float64, int, uint or bool)"
    )


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autograd.

    ``Tensor(data)`` makes a float32 tensor from a list, scalar or integer array and keeps
    float32/float64 arrays as they are. ``requires_grad=True`` marks a leaf whose gradient
    ``backward()`` fills in (an array of the same shape on the tensor's device, in ``.grad``).
    ``device='cuda'`` (or ``.to('cuda')``) keeps the values in GPU memory; ``.numpy()`` copies
    them back. Every op's inputs must be on one device.

    >>> x = Tensor([[1.0, -2.0]], requires_grad=True)
    >>> (x.relu() * 3).sum().backward()
    >>> x.grad
    array([[3., 0.]], dtype=float32)
    """

    __array_priority__ = 1000  # so `ndarray + Tensor` defers to Tensor.__radd__
    # (_keras_mask: a Keras mask a layer attached, read with getattr; see autoconv.ops.masks)
    __slots__ = ("_backward", "_keras_mask", "_op", "_parents", "_retains_grad", "data", "device",
                 "grad", "requires_grad")  # fmt: skip

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        here = array_device(data)
        device = here if device is None else device
        xp = namespace(device)  # an unknown or unusable device fails here, clearly
        if here == "cpu":
            data = as_array(data, dtype)
        elif dtype is not None:
            if np.dtype(dtype) not in FLOAT_DTYPES:
                raise TypeError(f"Tensor dtype must be float32 or float64, got {dtype}")
            data = data.astype(dtype, copy=False)
        if here != device:
            data = xp.asarray(namespace(here).to_numpy(data))
        self.data: Any = data  # a NumPy array on the CPU, a CudaArray on the GPU
        self.device: str = device
        self.requires_grad: bool = bool(requires_grad)
        self.grad: Any = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable[[Any], Sequence[Any]] | None = None
        self._op: str = ""
        self._retains_grad = False

    # ----------------------------------------------------------------- array facts
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op}" if self._op else ""
        return f"Tensor({self.data!r}{grad}{op})"

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy, so the tensor cannot be changed through it)."""
        return np.array(namespace(self.device).to_numpy(self.data))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(tensor)``, ``np.argmax(tensor)``: NumPy functions read the values, as
        they read Keras's backend tensors (a copy; arithmetic with arrays stays a Tensor op)."""
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self.data.reshape(()))

    __float__ = item

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats the values as NumPy formats them."""
        return format(self.numpy(), spec) if spec else str(self)

    def detach(self) -> Tensor:
        """A tensor sharing this one's values but cut from the graph."""
        return Tensor(self.data)

    def to(self, device: str) -> Tensor:
        """This tensor on ``device``: itself if it is already there, else a copy there (a new
        leaf, with the same ``requires_grad``)."""
        if device == self.device:
            check_device(device)
            return self
        return Tensor(self.data, requires_grad=self.requires_grad, device=device)

    def zero_grad(self) -> None:
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place, returning this tensor (PyTorch's ``tape.watch``)."""
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Let ``backward()`` fill ``.grad`` of this tensor although an op made it (PyTorch's)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True

    # ------------------------------------------------------------------- autograd
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires a gradient (and
        of each tensor that called ``retain_grad()``).

        ``grad`` is the gradient of some scalar with respect to this tensor; it defaults to
        1 for a one-element tensor and is required otherwise. The graph is freed afterwards
        unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input had "
                "requires_grad=True, or it was computed under no_grad()"
            )
        xp = namespace(self.device)
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs an explicit "
                    "gradient of the same shape"
                )
            grad = xp.ones_constant(self.data)  # read only
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            grad = xp.asarray(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): gradient shape {grad.shape} does not match the tensor's "
                    f"shape {self.shape}"
                )

        order = self._topological_order()
        grads: dict[int, Any] = {id(self): grad}
        for node in order:
            node_grad = grads.pop(id(node), None)
            if node_grad is None:
                continue
            if not node._parents or node._retains_grad:  # a copy of a gradient held elsewhere
                if node.grad is not None:
                    node.grad = node.grad + node_grad
                elif xp.owned(node_grad):
                    node.grad = node_grad.astype(node.dtype, copy=False)
                else:
                    node.grad = xp.copy(node_grad).astype(node.dtype, copy=False)
                if not node._parents:  # a leaf
                    continue
            if node._backward is None:
                raise RuntimeError(
                    "backward() through a graph that was already freed; "
                    "pass retain_graph=True to the first backward() to go through it twice"
                )
            for parent, parent_grad in zip(node._parents, node._backward(node_grad), strict=True):
                if parent_grad is None or not parent.requires_grad:
                    continue
                parent_grad = unbroadcast(parent_grad, parent.shape)
                key = id(parent)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
            del parent_grad  # (it would hold a leaf's gradient: owned() needs it held once)
            if not retain_graph:
                node._backward = None

    def _topological_order(self) -> list[Tensor]:
        """Nodes that need a gradient, each after every node that uses it (outputs first)."""
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent in node._parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
        order.reverse()
        return order

    # --------------------------------------------------- operators and op methods
    # Bound here so that `x + 1`, `x.relu()` and `autoconv.relu(x)` are one implementation.
    # (==, <, %, //, abs() and bool() are keras.ops's: autoconv/ops/operators.py binds them.)
    def __add__(self, other: Any) -> Tensor:
        return _ops().add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops().add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops().sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops().sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops().mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops().mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops().div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops().div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops().pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops().pow(other, self)

    def __neg__(self) -> Tensor:
        return _ops().neg(self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops().matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops().matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops().getitem(self, index)

    def sum(
        self, axis: Any = None, keepdims: bool = False, dtype: None = None, out: None = None
    ) -> Tensor:
        _numpy_arguments(self, "sum", dtype, out)
        return _ops().sum(self, axis=axis, keepdims=keepdims)

    def mean(
        self, axis: Any = None, keepdims: bool = False, dtype: None = None, out: None = None
    ) -> Tensor:
        _numpy_arguments(self, "mean", dtype, out)
        return _ops().mean(self, axis=axis, keepdims=keepdims)

    def max(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, out: None = None
    ) -> Tensor:
        _numpy_arguments(self, "max", None, out)
        return _ops().max(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return _ops().transpose(self, axes or None)

    @property
    def T(self) -> Tensor:
        return _ops().transpose(self, None)

    def flatten(self) -> Tensor:
        return _ops().flatten(self)

    def relu(self) -> Tensor:
        return _ops().relu(self)

    def exp(self) -> Tensor:
        return _ops().exp(self)

    def log(self) -> Tensor:
        return _ops().log(self)

    def tanh(self) -> Tensor:
        return _ops().tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops().sigmoid(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops().softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops().log_softmax(self, axis=axis)


def _ops():  # the ops module imports this one, so it is looked up lazily
    from autoconv.ops import engine as ops

    return ops


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def record(
    data: Any, parents: tuple[Tensor, ...], backward: Callable[[Any], Sequence[Any]], op: str
) -> Tensor:
    """Wrap an op's output; link it into the graph if any parent needs a gradient.

    ``backward(grad_out)`` returns one gradient per parent (``None`` for a parent that needs
    none); gradients may have the broadcast shape, the engine reduces them.
    """
    out = Tensor.__new__(Tensor)
    out.data = data
    out.device = parents[0].device
    out.grad = None
    out._op, out._retains_grad = op, False
    out.requires_grad = _grad_mode.enabled and any(p.requires_grad for p in parents)
    out._parents, out._backward = (parents, backward) if out.requires_grad else ((), None)
    return out


def _numpy_arguments(tensor: Tensor, method: str, dtype: Any, out: Any) -> None:
    """``np.max(tensor)``, ``np.mean(tensor)`` call the tensor's method with ``out=None`` (and
    ``dtype``): accepted, as array libraries accept them, when they ask for nothing else."""
    if out is not None:
        raise ValueError(f"Tensor.{method}: out= is not supported (got {type(out).__name__})")
    if dtype is not None and np.dtype(dtype) != tensor.dtype:
        raise ValueError(f"Tensor.{method}: dtype={dtype} differs from the tensor's {tensor.dtype}")
