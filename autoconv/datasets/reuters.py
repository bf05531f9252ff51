"""Reuters newswires: 11,228 newswires labelled with one of 46 topics, each a list of word
indices, a word's index its rank by frequency; as Keras 3's ``keras.datasets.reuters``
(keras/src/datasets/reuters.py). Downloaded on request, verified by Keras's checksums and cached
(see :mod:`autoconv.datasets.store`); read as :mod:`autoconv.datasets.sequences` reads Keras's
text datasets, without trusting the pickles.
"""

from __future__ import annotations

from pathlib import Path

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
from autoconv.datasets.tables import check_test_split

SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)  # fmt: skip


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Split:
    """``((x_train, y_train), (x_test, y_test))`` as Keras's: x a 1-D object array of lists of
    word indices, y the topics (indices into :func:`get_label_names`).

    The newswires are shuffled by ``RandomState(seed)``; a word's index is its rank plus
    ``index_from``, after ``start_char`` (None: none). With ``maxlen``, only sequences shorter
    than it are kept. Words ranked outside ``[skip_top, num_words)`` (``num_words`` None: the
    largest index, itself excluded) become ``oov_char``, or are dropped when it is None. The
    last ``test_split`` of the newswires are the test part.
    """
    check_test_split(test_split)
    found = locate("reuters", path, "reuters.npz", data_dir, download, sha256=SHA256)
    [(xs, labels)] = read_pairs(found, "reuters", [("x", "y")])
    xs, labels = shuffled(xs, labels, np.random.RandomState(seed))
    sequences = encode(xs, start_char, index_from)
    if maxlen:
        sequences, labels = remove_long_seq(maxlen, sequences, labels)
    sequences = restrict(sequences, num_words, skip_top, oov_char)
    return split(sequences, labels, int(len(sequences) * (1 - test_split)))


def get_word_index(
    path: str = "reuters_word_index.json",
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> dict[str, int]:
    """Keras's word index: each word's rank by frequency (index ``rank + index_from`` in
    :func:`load_data`'s sequences)."""
    return read_word_index(
        locate("reuters", path, "reuters_word_index.json", data_dir, download, md5=WORD_INDEX_MD5)
    )


def get_label_names() -> tuple[str, ...]:
    """The 46 topics' names, by label."""
    return LABEL_NAMES
