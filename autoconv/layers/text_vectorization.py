"""TextVectorization, Keras 3's text layer (its
keras/src/layers/preprocessing/text_vectorization.py: arguments, defaults, order, configs and
numbers are theirs): strings standardized, split into tokens, made n-grams, and looked up in a
:class:`~autoconv.layers.index_lookup.StringLookup` vocabulary.

It runs on the host, as Keras runs it in a ``tf.data`` pipeline: it takes a NumPy array or list
of strings (N,) or (N, 1) and gives a NumPy array (int64 indices (N, output_sequence_length),
or encodings (N, vocabulary size)). Use it in ``Dataset.map`` or on arrays; a model's Input holds
numbers only, so a model cannot take strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.host_array import host_array
from autoconv.layers.encoding import ENCODINGS, check_mode, refuse_sparse
from autoconv.layers.index_lookup import StringLookup, _text
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.symbolic import is_symbolic
from autoconv.tensor import Tensor

# TensorFlow's: `tf.strings.regex_replace` of Keras's punctuation class, `tf.strings.lower` (ASCII
# letters only) and `tf.strings.split` (ASCII whitespace only).
PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
ASCII_WHITESPACE = re.compile("[ \t\n\v\f\r]+")
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")


class TextVectorization(Layer):
    """Strings to token indices or encodings. ``standardize``: "lower_and_strip_punctuation"
    (default), "lower", "strip_punctuation", None, or a callable on a NumPy array of strings
    (as Keras outside TensorFlow) returning one. ``split``: "whitespace", "character", None
    (the whole string one token), or a callable from a string to its tokens. ``ngrams``: an
    int n (1- to n-grams) or a tuple of widths. The vocabulary, of ``max_tokens`` at most,
    starts with "" (padding, index 0) and "[UNK]" (1) in "int" mode."""

    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: str | Callable | None = "lower_and_strip_punctuation",
        split: str | Callable | None = "whitespace",
        ngrams: int | tuple[int, ...] | None = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_sparse(sparse, "TextVectorization")
        if ragged:
            raise ValueError(
                "TextVectorization: `ragged=True` is not supported: autoconv has no ragged tensors "
                "(as Keras outside its TensorFlow backend); use `output_sequence_length`"
            )
        for value, allowed, arg in ((standardize, STANDARDIZE, "standardize"),
                                    (split, SPLIT, "split")):  # fmt: skip
            if not (value is None or callable(value) or value in allowed):
                raise ValueError(
                    f"The `{arg}` argument value of TextVectorization must be one of "
                    f"{', '.join(repr(a) for a in allowed)}, None or a callable. Received: {value}"
                )
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        check_mode(output_mode, ENCODINGS, "TextVectorization")
        if not (
            ngrams is None
            or isinstance(ngrams, int)
            or (isinstance(ngrams, tuple) and all(isinstance(n, int) for n in ngrams))
        ):
            raise ValueError(
                "`ngrams` must be None, an integer, or a tuple of integers. Received: "
                f"ngrams={ngrams}"
            )
        if output_mode == "int" and not (
            output_sequence_length is None or isinstance(output_sequence_length, int)
        ):
            raise ValueError(
                "`output_sequence_length` must be either None or an integer when `output_mode` "
                f"is 'int'. Received: output_sequence_length={output_sequence_length}"
            )
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(
                "`output_sequence_length` must not be set if `output_mode` is not 'int'. "
                f"Received output_sequence_length={output_sequence_length}."
            )
        if ngrams is not None and split is None:
            raise ValueError(
                "TextVectorization: `ngrams` needs a `split`: with split=None each string is one "
                "token"
            )
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self._has_input_vocabulary = has_input_vocabulary
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            has_input_vocabulary=has_input_vocabulary, encoding=encoding,
            vocabulary_size=vocabulary_size,
        )  # fmt: skip

    # ------------------------------------------------------------------ vocabulary
    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the vocabulary from ``data``: an array or list of strings (each a document),
        or an iterable of batches (a ``Dataset``, a generator; ``steps`` of them at most)."""
        self.reset_state()
        if isinstance(data, list | tuple | np.ndarray | Tensor):
            self.update_state(data)
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        self._lookup_layer.update_state(self._preprocess(data))

    def finalize_state(self) -> None:
        self._lookup_layer.finalize_state()

    def reset_state(self) -> None:
        self._lookup_layer.reset_state()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The tokens in index order (with the padding and OOV tokens, or without)."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """As :meth:`StringLookup.set_vocabulary`."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    # ------------------------------------------------------------------------ call
    def _preprocess(self, inputs: Any) -> np.ndarray:
        """The strings standardized, split and made n-grams: an (N, L) array of tokens, short
        rows padded with "" (the mask token: index 0, and no count)."""
        strings = self._lookup_layer._tokens_of(inputs)
        if callable(self._standardize):
            strings = np.asarray(self._standardize(strings.astype(str)), dtype=object)
            strings = np.vectorize(lambda s: _text(s, self._encoding), otypes=[object])(strings)
        else:
            strings = np.vectorize(self._standardized, otypes=[object])(strings)
        if self._split is None:
            rows = strings
        else:
            if strings.ndim > 2 or (strings.ndim == 2 and strings.shape[-1] != 1):
                raise ValueError(
                    "When using `TextVectorization` to tokenize strings, the input rank must be "
                    f"1 or the last shape dimension must be 1. Received: inputs.shape="
                    f"{strings.shape} with rank={strings.ndim}"
                )
            rows = [self._tokens(s) for s in strings.reshape(-1)]
        if self._ngrams is not None:
            rows = [_ngrams(list(row), self._ngrams) for row in rows]
        if self._split is None:
            return rows
        width = max((len(row) for row in rows), default=0)
        padded = np.full((len(rows), width), "", dtype=object)
        for i, row in enumerate(rows):
            padded[i, : len(row)] = row
        return padded

    def _standardized(self, text: str) -> str:
        if self._standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(ASCII_LOWER)
        if self._standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = PUNCTUATION.sub("", text)
        return text

    def _tokens(self, text: str) -> list[str]:
        if self._split == "whitespace":
            return [t for t in ASCII_WHITESPACE.split(text) if t]
        if self._split == "character":
            return list(text)
        return [_text(t, self._encoding) for t in self._split(text)]

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            raise TypeError(
                "TextVectorization runs on the host, on strings a model's Input cannot hold: use "
                "it in a `Dataset.map` (or on arrays) before the model, as Keras does in a "
                "tf.data pipeline"
            )
        return host_array(self.call(inputs, **kwargs))  # with Keras's tensors' .numpy()

    def call(self, inputs: Any) -> np.ndarray:
        """int64 indices (N, output_sequence_length, or the longest row's length: padded with
        0, truncated), or the encodings (N, vocabulary size). One string that is split (not in
        a batch: a ``Dataset.map`` over unbatched elements) gives one row, without the batch
        axis, as Keras's."""
        indices = self._lookup_layer(self._preprocess(inputs))
        length = self._output_sequence_length
        if self._output_mode == "int" and length is not None:
            indices = indices[..., :length]
            padding = [(0, 0)] * (indices.ndim - 1) + [(0, length - indices.shape[-1])]
            indices = np.pad(indices, padding)
        return indices[0] if self._split is not None and np.ndim(inputs) == 0 else indices

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            input_shape = (*input_shape, 1) if len(input_shape) <= 1 else tuple(input_shape)
        else:
            input_shape = (*input_shape, None)
        return self._lookup_layer.compute_output_shape(input_shape)

    # ---------------------------------------------------------------------- saving
    def get_config(self) -> dict[str, Any]:
        lookup = self._lookup_layer
        return super().get_config() | {
            "max_tokens": lookup.max_tokens,
            "standardize": self._standardize,
            "split": self._split,
            "ngrams": self._ngrams_arg,
            "output_mode": self._output_mode,
            "output_sequence_length": self._output_sequence_length,
            "pad_to_max_tokens": lookup.pad_to_max_tokens,
            "sparse": lookup.sparse,
            "ragged": False,
            "vocabulary": lookup.get_config()["vocabulary"],
            "idf_weights": lookup.get_config()["idf_weights"],
            "encoding": self._encoding,
            "vocabulary_size": self.vocabulary_size(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextVectorization:
        config = dict(config)
        for key in ("standardize", "split"):
            if not (config.get(key) is None or isinstance(config[key], str)):
                raise ValueError(
                    f"TextVectorization: a saved callable `{key}` cannot be loaded (autoconv runs "
                    "no code from a file): make the layer in code"
                )
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return super().from_config(config)

    def get_build_config(self) -> dict[str, Any]:
        return {}

    def build_from_config(self, config: dict[str, Any]) -> None:
        self.built = True

    def own_state_shapes(self) -> dict[str, tuple[int, ...]]:
        return self._lookup_layer.own_state_shapes()

    def save_own_variables(self, store: dict[str, Any]) -> None:
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store: dict[str, Any]) -> None:
        self._lookup_layer.load_own_variables(store)

    def save_assets(self, dir_path: str) -> None:
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path: str) -> None:
        self._lookup_layer.load_assets(dir_path)


def _ngrams(tokens: list[str], widths: tuple[int, ...]) -> list[str]:
    """``tf.strings.ngrams(tokens, widths, separator=" ")``: each width's n-grams in turn."""
    return [" ".join(tokens[i : i + n]) for n in widths for i in range(len(tokens) - n + 1)]
