"""California housing (1990 census): 20,640 block groups of 8 features, the median house
value as the target, as Keras's ``keras.datasets.california_housing`` (downloaded on request,
verified by Keras's sha256, cached; see :mod:`autoconv.datasets.store`)."""

from __future__ import annotations

from pathlib import Path

from autoconv.datasets.tables import Split, check_test_split, load_arrays, shuffled_split

SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
SMALL = 600  # the samples of version="small"


def load_data(
    version: str = "large",
    path: str = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Split:
    """``((x_train, y_train), (x_test, y_test))``: features (N, 8) and targets (N,), all 20,640
    samples (``version="large"``) or the first 600 (``"small"``), shuffled with ``seed`` and
    split at ``1 - test_split``, as Keras's."""
    check_test_split(test_split)
    if version not in ("small", "large"):
        raise ValueError(
            f"Argument `version` must be one of 'small', 'large'. Received: version={version}"
        )
    x, y = load_arrays("california_housing", path, SHA256, data_dir, download)
    if version == "small":
        x, y = x[:SMALL], y[:SMALL]
    return shuffled_split(x, y, test_split, seed)
