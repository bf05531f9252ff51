"""Hashing and HashedCrossing, Keras 3's hashing preprocessing layers (its
keras/src/layers/preprocessing/hashing.py and hashed_crossing.py: arguments, defaults, order,
configs and bins are theirs), and the hashes TensorFlow computes for them, in Python:
FarmHash's ``Fingerprint64`` (``tf.strings.to_hash_bucket_fast``), keyed SipHash-2-4
(``to_hash_bucket_strong``) and ``FingerprintCat64`` (``tf.sparse.cross_hashed``).

They run on the host, as Keras runs them in a ``tf.data`` pipeline: NumPy arrays and lists (of
strings or numbers) give NumPy arrays; numbers may also come as Tensors (giving a Tensor on
their device) or as a model's symbolic tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.host_array import host_array
from autoconv.layers import serialization
from autoconv.layers.encoding import check_mode, encode_categorical, refuse_sparse
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.symbolic import is_symbolic
from autoconv.tensor import Tensor

MASK64 = 2**64 - 1
K0, K1, K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F  # FarmHash's primes
CAT_MUL = 0xC6A4A7935BD1E995  # FingerprintCat64's
CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key


# ------------------------------------------------------------------------------ hashes
def _word(data: bytes, at: int, size: int = 8) -> int:
    return int.from_bytes(data[at : at + size], "little")


def _rotate(value: int, shift: int) -> int:
    return value if shift == 0 else ((value >> shift) | (value << (64 - shift))) & MASK64


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def _mul(a: int, b: int) -> int:
    return (a * b) & MASK64


def _hash_16(u: int, v: int, mul: int) -> int:
    a = _shift_mix(_mul(u ^ v, mul))
    b = _shift_mix(_mul(v ^ a, mul))
    return _mul(b, mul)


def _hash_0_to_16(s: bytes, n: int) -> int:
    if n >= 8:
        mul = K2 + n * 2
        a, b = (_word(s, 0) + K2) & MASK64, _word(s, n - 8)
        c = (_mul(_rotate(b, 37), mul) + a) & MASK64
        return _hash_16(c, _mul(_rotate(a, 25) + b, mul), mul)
    if n >= 4:
        return _hash_16(n + (_word(s, 0, 4) << 3), _word(s, n - 4, 4), K2 + n * 2)
    if n > 0:
        y, z = s[0] + (s[n >> 1] << 8), n + (s[n - 1] << 2)
        return _mul(_shift_mix(_mul(y, K2) ^ _mul(z, K0)), K2)
    return K2


def _hash_17_to_32(s: bytes, n: int) -> int:
    mul = K2 + n * 2
    a, b = _mul(_word(s, 0), K1), _word(s, 8)
    c, d = _mul(_word(s, n - 8), mul), _mul(_word(s, n - 16), K2)
    return _hash_16(
        (_rotate((a + b) & MASK64, 43) + _rotate(c, 30) + d) & MASK64,
        (a + _rotate((b + K2) & MASK64, 18) + c) & MASK64,
        mul,
    )


def _hash_33_to_64(s: bytes, n: int) -> int:
    mul = K2 + n * 2
    a, b = _mul(_word(s, 0), K2), _word(s, 8)
    c, d = _mul(_word(s, n - 8), mul), _mul(_word(s, n - 16), K2)
    y = (_rotate((a + b) & MASK64, 43) + _rotate(c, 30) + d) & MASK64
    z = _hash_16(y, (a + _rotate((b + K2) & MASK64, 18) + c) & MASK64, mul)
    e, f = _mul(_word(s, 16), mul), _word(s, 24)
    g, h = _mul(y + _word(s, n - 32), mul), _mul(z + _word(s, n - 24), mul)
    return _hash_16(
        (_rotate((e + f) & MASK64, 43) + _rotate(g, 30) + h) & MASK64,
        (e + _rotate((f + a) & MASK64, 18) + g) & MASK64,
        mul,
    )


def _weak_32(s: bytes, at: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = (_word(s, at + 8 * i) for i in range(4))
    a = (a + w) & MASK64
    b = _rotate((b + a + z) & MASK64, 21)
    c = a
    a = (a + x + y) & MASK64
    b = (b + _rotate(a, 44)) & MASK64
    return (a + z) & MASK64, (b + c) & MASK64


def fingerprint64(data: bytes) -> int:
    """FarmHash's ``Fingerprint64`` (its ``farmhashna::Hash64``), TensorFlow's string hash."""
    n = len(data)
    if n <= 16:
        return _hash_0_to_16(data, n)
    if n <= 32:
        return _hash_17_to_32(data, n)
    if n <= 64:
        return _hash_33_to_64(data, n)
    x, y = 81, (81 * K1 + 113) & MASK64
    z = _mul(_shift_mix((y * K2 + 113) & MASK64), K2)
    v, w = (0, 0), (0, 0)
    x = (x * K2 + _word(data, 0)) & MASK64
    end, at = ((n - 1) // 64) * 64, 0
    last64 = end + ((n - 1) & 63) - 63
    mul, tail = K1, False
    while True:  # the 64-byte blocks, then the last 64 bytes with the tail's multiplier
        x = _mul(_rotate((x + y + v[0] + _word(data, at + 8)) & MASK64, 37), mul)
        y = _mul(_rotate((y + v[1] + _word(data, at + 48)) & MASK64, 42), mul)
        x ^= _mul(w[1], 9) if tail else w[1]
        y = (y + (v[0] * 9 if tail else v[0]) + _word(data, at + 40)) & MASK64
        z = _mul(_rotate((z + w[0]) & MASK64, 33), mul)
        v = _weak_32(data, at, _mul(v[1], mul), (x + w[0]) & MASK64)
        w = _weak_32(data, at + 32, (z + w[1]) & MASK64, (y + _word(data, at + 16)) & MASK64)
        z, x = x, z
        if tail:
            break
        at += 64
        if at == end:
            mul, tail, at = K1 + ((z & 0xFF) << 1), True, last64
            w0 = (w[0] + ((n - 1) & 63)) & MASK64
            v = ((v[0] + w0) & MASK64, v[1])
            w = ((w0 + v[0]) & MASK64, w[1])
    return _hash_16(
        (_hash_16(v[0], w[0], mul) + _mul(_shift_mix(y), K0) + z) & MASK64,
        (_hash_16(v[1], w[1], mul) + x) & MASK64,
        mul,
    )


def siphash(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the 128-bit ``key`` (two 64-bit halves), TensorFlow's
    keyed string hash."""
    k0, k1 = key[0] & MASK64, key[1] & MASK64
    state = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
             k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]  # fmt: skip

    def rounds(count: int) -> None:
        v0, v1, v2, v3 = state
        for _ in range(count):
            v0 = (v0 + v1) & MASK64
            v1 = _rotate(v1, 51) ^ v0
            v0 = _rotate(v0, 32)
            v2 = (v2 + v3) & MASK64
            v3 = _rotate(v3, 48) ^ v2
            v0 = (v0 + v3) & MASK64
            v3 = _rotate(v3, 43) ^ v0
            v2 = (v2 + v1) & MASK64
            v1 = _rotate(v1, 47) ^ v2
            v2 = _rotate(v2, 32)
        state[:] = [v0, v1, v2, v3]

    n = len(data)
    full = n - n % 8
    words = [_word(data, i) for i in range(0, full, 8)]
    words.append(int.from_bytes(data[full:], "little") | ((n & 0xFF) << 56))
    for m in words:
        state[3] ^= m
        rounds(2)
        state[0] ^= m
    state[2] ^= 0xFF
    rounds(4)
    return state[0] ^ state[1] ^ state[2] ^ state[3]


def fingerprint_cat64(first: int, second: int) -> int:
    """TensorFlow's ``FingerprintCat64``: two fingerprints combined into one."""
    result = first ^ CAT_MUL
    result ^= _mul(_shift_mix(_mul(second, CAT_MUL)), CAT_MUL)
    result = _mul(_shift_mix(_mul(result, CAT_MUL)), CAT_MUL)
    return _shift_mix(result)


# ------------------------------------------------------------------------------ layers
def _values(inputs: Any) -> tuple[np.ndarray, bool]:
    """The inputs as an array, and whether they hold strings (else numbers)."""
    if isinstance(inputs, Tensor):
        return inputs.numpy(), False
    array = np.asarray(inputs)
    if array.dtype.kind == "O":
        array = np.array(array.tolist())
    if array.dtype.kind not in "USbiuf":
        raise TypeError(f"hashing takes strings or numbers, got dtype {array.dtype}")
    return array, array.dtype.kind in "US"


def _as_bytes(value: Any) -> bytes:
    """A value as TensorFlow hashes it: a string's UTF-8 bytes, a number's decimal digits (a
    float's integer part, as Keras casts it), a bool "true"/"false"."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool | np.bool_):
        return b"true" if value else b"false"
    return str(int(value)).encode()


def _output(layer: Layer, inputs: Any, outputs: np.ndarray) -> Any:
    """``outputs`` as the call gives them: a Tensor on the device of a Tensor input."""
    inputs = inputs[0] if isinstance(inputs, list | tuple) else inputs
    if isinstance(inputs, Tensor):
        return Tensor(outputs, dtype=layer.dtype, device=inputs.device)
    return host_array(outputs)  # with Keras's tensors' .numpy()


class _HostHashing(Layer):
    """The call both layers share: symbolic tensors are recorded, anything else hashed on the
    host by :meth:`hashed` (a Tensor given back as a Tensor on its device)."""

    keeps_integer_inputs = True  # (a model's integer data hashed as they are)
    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            return super().__call__(inputs, **kwargs)
        kwargs.pop("training", None)  # (a model's call passes it; hashing has no mode)
        return _output(self, inputs, self.hashed(inputs, **kwargs))

    def hashed(self, inputs: Any) -> np.ndarray:
        raise NotImplementedError  # each layer's own

    @property
    def output_dtypes(self) -> list[str]:
        """The dtype of a model's tensor of the bins or their encoding (Keras's output spec)."""
        return [self.output_dtype]

    def _int_dtype(self, output_mode: str, dtype: Any) -> str | None:
        """The integer dtype of the "int" output (Keras's layer dtype there), or None."""
        name = serialization.dtype_name(dtype)
        name = getattr(name, "name", name)
        return name if output_mode == "int" else None


class Hashing(_HostHashing):
    """Strings or numbers hashed into ``num_bins`` bins with TensorFlow's hashes (FarmHash,
    or SipHash keyed by ``salt``: an int or two), as Keras: int64 bins of the input's shape
    ("int"; ``dtype`` "int32" or "int64"), or float32 "one_hot", "multi_hot" or "count"
    encodings. With ``mask_value``, that value gets bin 0 and the others bins 1..num_bins-1."""

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: int | tuple[int, int] | list[int] | None = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        dtype = kwargs.pop("dtype", None)
        if dtype is None:
            dtype = "int64" if output_mode == "int" else None
        int_dtype = self._int_dtype(output_mode, dtype)
        super().__init__(dtype=None if int_dtype else dtype, **kwargs)
        if num_bins is None or num_bins <= 0:
            raise ValueError(
                "The `num_bins` for `Hashing` cannot be `None` or non-positive values. "
                f"Received: num_bins={num_bins}."
            )
        if output_mode == "int" and int_dtype not in ("int32", "int64"):
            raise ValueError(
                "When `output_mode=\"int\"`, `dtype` should be an integer type, 'int32' or "
                f"'in64'. Received: dtype={dtype}"
            )
        modes = ("int", "one_hot", "multi_hot", "count")
        if output_mode not in modes:
            raise ValueError(
                f"Invalid value for argument `output_mode`. Expected one of {modes}. Received: "
                f"output_mode={output_mode}"
            )
        if sparse and output_mode == "int":
            raise ValueError(
                '`sparse` may only be true if `output_mode` is `"one_hot"`, `"multi_hot"`, or '
                f'`"count"`. Received: sparse={sparse} and output_mode={output_mode}'
            )
        refuse_sparse(sparse, "Hashing")
        if salt is not None and not (
            isinstance(salt, int) or (isinstance(salt, tuple | list) and len(salt) == 2)
        ):
            raise ValueError(
                "The `salt` argument for `Hashing` can only be a tuple of size 2 integers, or a "
                f"single integer. Received: salt={salt}."
            )
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.salt = None if salt is None else [salt, salt] if isinstance(salt, int) else list(salt)
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = sparse
        self.output_dtype = int_dtype or self.dtype

    def hashed(self, inputs: Any) -> np.ndarray:
        values, _ = _values(inputs)
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        if masked:
            bins -= 1
        flat = values.reshape(-1).tolist()
        if self.strong_hash:
            hashes = [siphash(self.salt, _as_bytes(v)) % bins for v in flat]
        else:
            hashes = [fingerprint64(_as_bytes(v)) % bins for v in flat]
        indices = np.array(hashes, dtype=np.int64).reshape(values.shape)
        if masked:
            indices = np.where(values == self.mask_value, 0, indices + 1)
        return encode_categorical(indices, self.output_mode, self.num_bins, self.output_dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        if self.output_mode == "one_hot" and input_shape[-1] != 1:
            return (*input_shape, self.num_bins)
        return (*input_shape[:-1], self.num_bins)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "dtype": serialization.dtype_policy(self.output_dtype),
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }


class HashedCrossing(_HostHashing):
    """The crosses of two or more features (strings or integers; each of shape (), (N,) or
    (N, 1)) hashed into ``num_bins`` bins as TensorFlow's ``tf.sparse.cross_hashed``: int64
    bins of the features' shape ("int"), or float32 "one_hot" encodings."""

    def __init__(
        self,
        num_bins: int,
        output_mode: str = "int",
        sparse: bool = False,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        int_dtype = self._int_dtype(output_mode, dtype)
        super().__init__(name=name, dtype=None if int_dtype else dtype, **kwargs)
        refuse_sparse(sparse, "HashedCrossing")
        check_mode(output_mode, ("int", "one_hot"), "HashedCrossing")
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = sparse
        self.output_dtype = int_dtype or self.dtype

    def hashed(self, inputs: Any) -> np.ndarray:
        if not isinstance(inputs, list | tuple):
            raise ValueError(
                "`HashedCrossing` should be called on a list or tuple of inputs. Received: "
                f"inputs={inputs}"
            )
        if len(inputs) < 2:
            raise ValueError(
                "`HashedCrossing` should be called on at least two inputs. Received: "
                f"inputs={inputs}"
            )
        features = [_values(x) for x in inputs]
        shape = features[0][0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(
                "All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                f"`(batch_size, 1)`. Received: inputs={inputs}"
            )
        if any(values.shape != shape for values, _ in features[1:]):
            raise ValueError(
                f"All `HashedCrossing` inputs should have equal shape. Received: inputs={inputs}"
            )
        columns = [
            [fingerprint64(_as_bytes(v)) if strings else int(v) & MASK64
             for v in values.reshape(-1).tolist()]
            for values, strings in features
        ]  # fmt: skip
        crossed = []
        for row in zip(*columns, strict=True):
            hashed = CROSS_KEY
            for feature in row:
                hashed = fingerprint_cat64(hashed, feature)
            crossed.append(hashed % self.num_bins)
        indices = np.array(crossed, dtype=np.int64).reshape(shape)
        return encode_categorical(indices, self.output_mode, self.num_bins, self.output_dtype)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        if len(input_shape) != 2 or input_shape[0][-1:] != input_shape[1][-1:]:
            raise ValueError(
                "Expected as input a list/tuple of 2 tensors with identical shapes. Received "
                f"input_shape={input_shape}"
            )
        first = tuple(input_shape[0])
        if self.output_mode == "int":
            return first
        if first and first[-1] != 1:
            return (*first, self.num_bins)
        return (*first[:-1], self.num_bins)

    def get_config(self) -> dict[str, Any]:
        return {
            "num_bins": self.num_bins,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": self.output_dtype,
        }
