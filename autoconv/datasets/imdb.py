"""IMDB movie reviews: 25,000 training and 25,000 test reviews labelled by sentiment (1 positive,
0 negative), each a list of word indices, a word's index its rank by frequency; as Keras 3's
``keras.datasets.imdb`` (keras/src/datasets/imdb.py). Downloaded on request, verified by Keras's
checksums and cached (see :mod:`autoconv.datasets.store`); read as
:mod:`autoconv.datasets.sequences` reads Keras's text datasets, without trusting the pickles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoconv.datasets.sequences import (
    Split,
    encode,
    locate,
    read_pairs,
    read_word_index,
    remove_long_seq,
    restrict,
    shuffled,
    split,
)

SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    **kwargs: Any,
) -> Split:
    """``((x_train, y_train), (x_test, y_test))`` as Keras's: x a 1-D object array of lists of
    word indices, y the labels (the file's integer dtype).

    Each part is shuffled by ``RandomState(seed)`` (train, then test, from one generator); a
    word's index is its rank plus ``index_from``, after ``start_char`` (None: none). With
    ``maxlen``, only sequences shorter than it are kept (ValueError if none is, in either
    part). Words ranked outside ``[skip_top, num_words)`` (``num_words`` None: the largest
    index, itself excluded) become ``oov_char``, or are dropped when it is None. Other keyword
    arguments are accepted and ignored, as Keras 3 does.
    """
    found = locate("imdb", path, "imdb.npz", data_dir, download, sha256=SHA256)
    (x_train, y_train), (x_test, y_test) = read_pairs(
        found, "imdb", [("x_train", "y_train"), ("x_test", "y_test")]
    )
    rng = np.random.RandomState(seed)
    x_train, y_train = shuffled(x_train, y_train, rng)
    x_test, y_test = shuffled(x_test, y_test, rng)
    train, test = encode(x_train, start_char, index_from), encode(x_test, start_char, index_from)
    if maxlen:
        train, y_train = remove_long_seq(maxlen, train, y_train)
        test, y_test = remove_long_seq(maxlen, test, y_test)
        if not train or not test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen."
            )
    xs = restrict(train + test, num_words, skip_top, oov_char)
    return split(xs, np.concatenate([y_train, y_test]), len(train))


def get_word_index(
    path: str = "imdb_word_index.json",
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> dict[str, int]:
    """Keras's word index: each word's rank by frequency (index ``rank + index_from`` in
    :func:`load_data`'s sequences)."""
    return read_word_index(
        locate("imdb", path, "imdb_word_index.json", data_dir, download, md5=WORD_INDEX_MD5)
    )
