"""Boston housing (StatLib, 1978): 506 samples of 13 features of Boston suburbs, the median
house value in k$ as the target, as Keras's ``keras.datasets.boston_housing`` (downloaded on
request, verified by Keras's sha256, cached; see :mod:`autoconv.datasets.store`).

Keras warns, and so do we: the data has an ethical problem (its feature "B" assumes that
racial self-segregation influences house prices); use it only to illustrate such issues.
"""

from __future__ import annotations

from pathlib import Path

from autoconv.datasets.tables import Split, check_test_split, load_arrays, shuffled_split

SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(
    path: str = "boston_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Split:
    """``((x_train, y_train), (x_test, y_test))``: features (N, 13) and targets (N,), float64,
    shuffled with ``seed`` and split at ``1 - test_split``, as Keras's."""
    check_test_split(test_split)
    x, y = load_arrays("boston_housing", path, SHA256, data_dir, download)
    return shuffled_split(x, y, test_split, seed)
