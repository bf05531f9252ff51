"""StringLookup and IntegerLookup, Keras 3's vocabulary layers, and :class:`IndexLookup`, their
shared base (Keras 3's keras/src/layers/preprocessing/index_lookup.py, string_lookup.py and
integer_lookup.py: arguments, defaults, order, configs, vocabulary order and numbers are theirs).

They run on the host, as Keras runs them in a ``tf.data`` pipeline: they take NumPy arrays,
lists (of strings or ints) or Tensors, and give NumPy arrays (IntegerLookup a Tensor for a
Tensor, as autoconv's numeric layers, and it runs in a model too): int64 indices for
``output_mode="int"``, int64 vectors for "one_hot", "multi_hot" and "count" (the dtype Keras's
lookups give, whatever their output spec says), float32 ones for "tf_idf", the tokens for
``invert=True``. Use StringLookup in ``Dataset.map`` or on arrays; a model's Input holds
numbers only, so a model cannot take strings.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from autoconv import config
from autoconv.host_array import host_array
from autoconv.layers.encoding import (
    ENCODINGS,
    adapt_batches,
    check_mode,
    encode_categorical,
    encoded_shape,
    rectangular,
    refuse_sparse,
)
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.symbolic import is_symbolic
from autoconv.tensor import Tensor

VOCABULARY_FILE = "vocabulary.txt"  # in the layer's assets folder, as Keras writes it


class IndexLookup(Layer):
    """Maps tokens to indices in a vocabulary, set by ``vocabulary`` (a list, or a file of a
    token a line), :meth:`set_vocabulary` or :meth:`adapt` (by descending frequency, ties by
    descending token, as Keras). Indices: the mask token's 0 (in "int" mode, when there is
    one), then ``num_oov_indices`` out-of-vocabulary indices, then the vocabulary's."""

    keeps_integer_inputs = True  # (a model's integer tokens looked up as they are)
    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    def __init__(
        self,
        max_tokens: int | None,
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        vocabulary_dtype: str,
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        name: str | None = None,
        salt: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}"
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                "If pad_to_max_tokens is True, must set `max_tokens`. Received: "
                f"max_tokens={max_tokens}"
            )
        if num_oov_indices < 0:
            raise ValueError(
                "`num_oov_indices` must be greater than or equal to 0. Received: "
                f"num_oov_indices={num_oov_indices}"
            )
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(
                f"The `oov_method` argument value of {owner} must be one of 'floormod', "
                f"'farmhash'. Received: {oov_method}"
            )
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        check_mode(output_mode, ENCODINGS, owner)
        if invert and output_mode != "int":
            raise ValueError(
                "`output_mode` must be `'int'` when `invert` is true. Received: "
                f"output_mode={output_mode}"
            )
        if sparse and output_mode == "int":
            raise ValueError(
                "`sparse` may only be true if `output_mode` is `'one_hot'`, `'multi_hot'`, "
                f"`'count'` or `'tf_idf'`. Received: sparse={sparse} and output_mode={output_mode}"
            )
        refuse_sparse(sparse, owner)
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                "`idf_weights` should only be set if `output_mode` is `'tf_idf'`. Received: "
                f"idf_weights={idf_weights} and output_mode={output_mode}"
            )
        hashed = num_oov_indices > 1 and (vocabulary_dtype == "string" or oov_method == "farmhash")
        if hashed or salt is not None:
            raise ValueError(
                f"{owner}: hashing out-of-vocabulary tokens into several OOV indices (TensorFlow's "
                "FarmHash; `salt`) is not supported: use num_oov_indices=1 (or integer tokens "
                "with oov_method='floormod')"
            )
        frozen_size = kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword argument(s): {kwargs}")
        super().__init__(name=name)
        self.invert = invert
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = sparse
        self.pad_to_max_tokens = pad_to_max_tokens
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = salt
        self.input_vocabulary = None if isinstance(vocabulary, str | os.PathLike) else vocabulary
        self.input_idf_weights = idf_weights
        self._frozen_vocab_size = frozen_size
        self._has_input_vocabulary = has_input_vocabulary
        self._tokens: list[Any] = []
        self._table: dict[Any, int] = {}
        self.idf_weights: np.ndarray | None = None
        if output_mode == "tf_idf":
            if has_input_vocabulary and idf_weights is None:
                raise ValueError(
                    "When specifying the `vocabulary` argument, in TF-IDF output mode, the "
                    "`idf_weights` argument must also be provided."
                )
            if idf_weights is not None:
                self.idf_weights = np.asarray(idf_weights, "float32")
        self.reset_state()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------------ vocabulary
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The vocabulary's size, its mask and OOV indices included."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        """The tokens in index order (with the mask and OOV tokens, or without)."""
        special = [self.oov_token] * self._token_start_index()
        if self.mask_token is not None and self.output_mode == "int":
            special[0] = self.mask_token
        vocabulary = [*special, *self._tokens]
        return vocabulary if include_special_tokens else vocabulary[self._token_start_index() :]

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the vocabulary (a list, array or Tensor of tokens, or the path of a file of a
        token a line), and for "tf_idf" its ``idf_weights``, replacing any before. It may start
        with the mask and OOV tokens, in index order."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(
                "`idf_weights` should only be set if output_mode is `'tf_idf'`. Received: "
                f"output_mode={self.output_mode} and idf_weights={idf_weights}"
            )
        if isinstance(vocabulary, str | os.PathLike):
            if not os.path.exists(vocabulary):
                raise ValueError(f"Vocabulary file {vocabulary} does not exist.")
            if self.output_mode == "tf_idf":
                raise ValueError(
                    "output_mode `'tf_idf'` does not support loading a vocabulary from file."
                )
            with open(vocabulary, encoding="utf-8") as file:
                vocabulary = file.read().split("\n")
            if vocabulary and vocabulary[-1] == "":
                vocabulary.pop()
        vocabulary, found_special = self._set_tokens_of(vocabulary)
        if idf_weights is not None:
            weights = np.asarray(idf_weights)
            if len(vocabulary) != len(weights):
                raise ValueError(
                    "`idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                    f"{len(weights)}; len(vocabulary) is {len(vocabulary)}"
                )
            if weights.ndim != 1:
                raise ValueError(
                    "TF-IDF data must be a 1-index array. Received: "
                    f"type(idf_weights)={type(idf_weights)}"
                )
            token_start = self._token_start_index()
            front, front_value = (0, 0) if found_special else (token_start, np.average(weights))
            back = self.max_tokens - front - len(weights) if self.pad_to_max_tokens else 0
            self.idf_weights = np.pad(
                weights, (front, back), constant_values=(front_value, 0)
            ).astype("float32")

    def _set_tokens_of(self, vocabulary: Any) -> tuple[list[Any], bool]:
        """Check ``vocabulary`` (tokens, maybe led by the mask and OOV tokens in index order)
        and make its tokens the layer's; returns it as a list, and whether it was so led."""
        vocabulary = self._tokens_of(vocabulary).reshape(-1).tolist()
        if not vocabulary:
            raise ValueError(f"Cannot set an empty vocabulary. Received: vocabulary={vocabulary}")
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + [self.oov_token] * (
            self.num_oov_indices
        )
        found_special = vocabulary[:token_start] == special
        tokens = vocabulary[token_start:] if found_special else vocabulary
        repeated = [token for token, n in Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(
                "The passed vocabulary has at least one repeated term. Please uniquify your "
                f"dataset. The repeated terms are: {repeated}"
            )
        for kind, token in (("mask", self.mask_token), ("OOV", self.oov_token)):
            if token is not None and token in tokens:
                raise ValueError(
                    f"Found reserved {kind} token at unexpected location in `vocabulary`. Note "
                    "that passed `vocabulary` does not need to include the OOV and mask tokens. "
                    "Either remove all mask and OOV tokens, or include them only at the start of "
                    f"the vocabulary in precisely this order: {special}. Received: "
                    f"{kind.lower()}_token={token} at vocabulary index "
                    f"{len(vocabulary) - 1 - vocabulary[::-1].index(token)}"
                )
        if self.max_tokens is not None and token_start + len(tokens) > self.max_tokens:
            raise ValueError(
                "Attempted to set a vocabulary larger than the maximum vocab size. Received "
                f"vocabulary size is {token_start + len(tokens)}; `max_tokens` is "
                f"{self.max_tokens}."
            )
        self._set_tokens(tokens)
        return vocabulary, found_special

    def _set_tokens(self, tokens: list[Any]) -> None:
        self._tokens = list(tokens)
        start = self._token_start_index()
        self._table = {token: start + i for i, token in enumerate(self._tokens)}
        size = self.vocabulary_size()
        if self.output_mode != "int" and not self.pad_to_max_tokens:
            if self._frozen_vocab_size is not None and size != self._frozen_vocab_size:
                raise RuntimeError(
                    f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, "
                    "the vocabulary size cannot be changed after the layer is called. Old vocab "
                    f"size is {self._frozen_vocab_size}, new vocab size is {size}"
                )
        self._frozen_vocab_size = size

    def _tokens_of(self, values: Any) -> np.ndarray:
        """``values`` as an array of the vocabulary's type: Python strings (bytes decoded) or
        int64."""
        array = rectangular(values, object if self.vocabulary_dtype == "string" else None)
        if self.vocabulary_dtype == "string":
            flat = [_text(v, getattr(self, "encoding", "utf-8")) for v in array.reshape(-1)]
            return np.array(flat, dtype=object).reshape(array.shape)
        if (
            array.size
            and array.dtype.kind not in "iub"
            and not (array.dtype.kind == "f" and np.array_equal(array, np.round(array)))
        ):
            raise ValueError(f"{type(self).__name__} takes integers, got dtype {array.dtype}")
        return array.astype(np.int64)

    # ----------------------------------------------------------------------- adapt
    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn the vocabulary (and "tf_idf"'s document frequencies) from ``data``: an array
        or list (each element, or row, a document), or an iterable of batches (a
        ``Dataset``, a generator; ``steps`` of them at most)."""
        self.reset_state()
        if isinstance(data, list | tuple | np.ndarray | Tensor):
            data = self._tokens_of(data)
            self.update_state(data[:, None] if data.ndim == 1 else data)
        else:
            for batch in adapt_batches(data, steps, arrays=()):
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        """Count the tokens of one batch (a rank 0 or 1 batch is one document)."""
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' after setting a static vocabulary via "
                "`vocabulary` argument or `set_vocabulary()` method."
            )
        data = self._tokens_of(data)
        if data.ndim < 2:
            data = data.reshape(1, -1)
        self._counts.update(data.reshape(-1).tolist())
        if self.output_mode == "tf_idf":
            for document in data.reshape(len(data), -1):
                self._document_counts.update(set(document.tolist()))
            self._num_documents += len(data)

    def finalize_state(self) -> None:
        """Set the vocabulary from the counts: by descending count, ties by descending token."""
        if self._has_input_vocabulary or not self._counts:
            return
        for special in (self.mask_token, self.oov_token):
            self._counts.pop(special, None)
        ranked = sorted(self._counts.items(), key=lambda kv: (kv[1], _order(kv[0])), reverse=True)
        if self.max_tokens:
            ranked = ranked[: self.max_tokens - self._token_start_index()]
        tokens = [token for token, _ in ranked]
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            documents = np.array([self._document_counts[t] for t in tokens], dtype=np.float64)
            idf = np.log(1 + self._num_documents / (1 + documents)).astype("float32")
            back = self.max_tokens - self.vocabulary_size() if self.pad_to_max_tokens else 0
            front = np.full(self._token_start_index(), idf.mean(dtype="float32"), "float32")
            self.idf_weights = np.concatenate([front, idf, np.zeros(back, "float32")])
        self.reset_state()

    def reset_state(self) -> None:
        """Forget the counts of an :meth:`adapt` under way."""
        self._counts: Counter = Counter()
        self._document_counts: Counter = Counter()
        self._num_documents = 0

    # ------------------------------------------------------------------------ call
    @property
    def output_dtypes(self) -> list[str]:
        """The dtype of a model's tensor of the lookup (Keras's output spec): int64 indices
        for "int", else the float dtype."""
        return ["int64" if self.output_mode == "int" else config.floatx()]

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Arrays and lists give a NumPy array (with a tensor's ``numpy()``); integer tokens
        may also be a Tensor (giving a Tensor on its device) or a model's symbolic tensor
        (recording the layer)."""
        numeric = self.vocabulary_dtype != "string"
        if is_symbolic(inputs) and not numeric:
            raise TypeError(
                f"{type(self).__name__} runs on the host, on strings a model's Input cannot hold: "
                "use it in a `Dataset.map` (or on arrays) before the model, as Keras does in a "
                "tf.data pipeline"
            )
        if is_symbolic(inputs):
            return super().__call__(inputs, **kwargs)
        kwargs.pop("training", None)  # (a model's call passes it; the lookup has no mode)
        outputs = self.call(inputs, **kwargs)
        if isinstance(inputs, Tensor) and numeric:
            return Tensor(outputs, dtype=self.dtype, device=inputs.device)
        return host_array(outputs)  # with Keras's tensors' .numpy()

    def call(self, inputs: Any) -> np.ndarray:
        """int64 indices (the inputs' shape), the tokens (``invert``), or the encodings."""
        if self.output_mode != "int" and not self.pad_to_max_tokens and not self._table:
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, you "
                "must set the layer's vocabulary before calling it. Either pass a `vocabulary` "
                "argument to the layer, or call `adapt` with some sample data."
            )
        if self.invert:
            return self._tokens_for(rectangular(inputs))
        tokens = self._tokens_of(inputs)
        indices = self._indices(tokens)
        if self.output_mode == "int":
            return indices
        depth = self._depth()
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        if self.output_mode != "tf_idf":  # int64, as Keras's (its output spec says floatx)
            return encode_categorical(indices, mode, depth, "int64", skip_negative=True)
        return (
            encode_categorical(indices, mode, depth, "float32", skip_negative=True)
            * self.idf_weights
        )

    def _depth(self) -> int | None:
        """The encodings' size: ``max_tokens`` when padded to it, else the vocabulary's."""
        return self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size

    def _indices(self, tokens: np.ndarray) -> np.ndarray:
        flat = tokens.reshape(-1).tolist()
        indices = np.array([self._table.get(t, -1) for t in flat], np.int64).reshape(tokens.shape)
        unknown = indices == -1
        if self.mask_token is not None:
            masked = np.array([t == self.mask_token for t in flat], bool).reshape(tokens.shape)
            unknown &= ~masked
            indices[masked] = 0 if self.output_mode == "int" else -1  # no column: dropped
        if unknown.any() and self.num_oov_indices == 0:
            raise ValueError(
                "When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
                f"{tokens[unknown].tolist()}, consider setting `num_oov_indices=1`."
            )
        if self.num_oov_indices > 1:  # integers: their value modulo the OOV indices (floormod)
            indices[unknown] = np.mod(tokens[unknown], self.num_oov_indices)
        else:
            indices[unknown] = 0
        indices[unknown] += self._oov_start_index()
        return indices

    def _tokens_for(self, indices: np.ndarray) -> np.ndarray:
        vocabulary = {i: t for t, i in self._table.items()}
        if self.mask_token is not None:
            vocabulary[0] = self.mask_token
        flat = [vocabulary.get(int(i), self.oov_token) for i in indices.reshape(-1)]
        dtype = object if self.vocabulary_dtype == "string" else np.int64
        return np.array(flat, dtype=dtype).reshape(indices.shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        depth = self._depth()
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        return encoded_shape(input_shape, mode, depth)

    # ---------------------------------------------------------------- saving
    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary_dtype": self.vocabulary_dtype,
            "idf_weights": _listed(self.input_idf_weights),
            "vocabulary": _listed(self.input_vocabulary),
            "vocabulary_size": self._frozen_vocab_size,
            "oov_method": self.oov_method,
            "salt": self.salt,
        }

    def get_build_config(self) -> dict[str, Any]:
        return {}

    def build_from_config(self, config: dict[str, Any]) -> None:
        self.built = True

    def own_state_shapes(self) -> dict[str, tuple[int, ...]]:
        """What :meth:`save_own_variables` stores, by name, with its shape (for a file's reader
        to check before it loads anything): "tf_idf"'s ``idf_weights``, one an output column."""
        if self.output_mode != "tf_idf":
            return {}
        return {"idf_weights": (self._depth(),)}

    def save_own_variables(self, store: dict[str, Any]) -> None:
        """The "tf_idf" weights, as Keras stores them (the dataset ``idf_weights`` of the
        layer's ``vars`` in the state file)."""
        if self.output_mode != "tf_idf":
            return
        if self.idf_weights is None:
            raise ValueError(
                f"{type(self).__name__} {self.name}: output_mode='tf_idf' has no idf weights to "
                "save before its vocabulary is set (adapt it, or pass `vocabulary` and "
                "`idf_weights`)"
            )
        store["idf_weights"] = self.idf_weights

    def load_own_variables(self, store: dict[str, Any]) -> None:
        """Keras's stored "tf_idf" weights: their vocabulary comes with the assets, in either
        order."""
        if self.output_mode != "tf_idf":
            return
        weights = np.asarray(store["idf_weights"], "float32")
        expected = self.own_state_shapes()["idf_weights"]
        if weights.shape != expected:
            raise ValueError(
                f"{type(self).__name__} {self.name}: idf_weights of shape {weights.shape}, "
                f"expected {expected}"
            )
        self.idf_weights = weights

    def save_assets(self, dir_path: str) -> None:
        """The adapted vocabulary as ``vocabulary.txt`` (one given as an argument is in the
        config instead)."""
        if self.input_vocabulary is not None:
            return
        with open(os.path.join(dir_path, VOCABULARY_FILE), "w", encoding="utf-8") as file:
            file.write("\n".join(str(w) for w in self.get_vocabulary()))

    def load_assets(self, dir_path: str) -> None:
        if self.input_vocabulary is not None:
            return
        with open(os.path.join(dir_path, VOCABULARY_FILE), encoding="utf-8") as file:
            lines = file.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = lines if self.vocabulary_dtype == "string" else [int(line) for line in lines]
        if self.output_mode == "tf_idf":  # its idf weights: load_own_variables's, whole
            self._set_tokens_of(values)
        else:
            self.set_vocabulary(values)


class StringLookup(IndexLookup):
    """Strings (``encoding``'s bytes decoded) to int64 indices in a vocabulary, or to
    encodings; with ``invert=True`` indices back to strings. The OOV token is "[UNK]"; give a
    ``mask_token`` (such as "") to reserve index 0 for it."""

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        salt: Any = None,
        **kwargs: Any,
    ) -> None:
        self.encoding = encoding
        super().__init__(
            max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
            oov_token=oov_token, vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
            output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens, sparse=sparse,
            name=name, salt=salt, vocabulary_dtype="string", **kwargs,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["vocabulary_dtype"]
        return config | {"encoding": self.encoding}


class IntegerLookup(IndexLookup):
    """Integers to int64 indices in a vocabulary, or to encodings; with ``invert=True``
    indices back to the integers. The OOV token is -1; out-of-vocabulary integers share
    ``num_oov_indices`` indices by their value modulo that number."""

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: int | None = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                "If `max_tokens` is set for `IntegerLookup`, it must be greater than 1. "
                f"Received: max_tokens={max_tokens}"
            )
        if num_oov_indices < 0:
            raise ValueError(
                "The value of `num_oov_indices` argument for `IntegerLookup` must >= 0. "
                f"Received: num_oov_indices={num_oov_indices}"
            )
        if vocabulary_dtype != "int64":
            raise ValueError(
                "Only `vocabulary_dtype='int64'` is supported at this time. Received: "
                f"vocabulary_dtype={vocabulary_dtype}"
            )
        super().__init__(
            max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
            oov_token=oov_token, vocabulary=vocabulary, vocabulary_dtype=vocabulary_dtype,
            idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method, salt=salt, name=name,
            **kwargs,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("oov_token", "mask_token"):
            if config[key] is not None:
                config[key] = int(config[key])
        if config["vocabulary"] is not None:
            config["vocabulary"] = [int(v) for v in config["vocabulary"]]
        return config


def _text(value: Any, encoding: str) -> str:
    """A token as a Python string (bytes decoded; numbers as TensorFlow converts them)."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode(encoding)
    if not isinstance(value, str):
        raise ValueError(
            f"StringLookup takes strings, got {value!r} of type {type(value).__name__}"
        )
    return str(value)


def _order(token: Any) -> Any:
    """A token's sort key among equal counts: strings by their UTF-8 bytes (TensorFlow's)."""
    return token.encode("utf-8") if isinstance(token, str) else token


def _listed(value: Any) -> Any:
    """A vocabulary or weights argument as JSON lists (Keras's ``listify_tensors``)."""
    if isinstance(value, Tensor):
        value = value.numpy()
    return value.tolist() if isinstance(value, np.ndarray) else value
