"""``autoconv.wrappers``, as ``keras.wrappers``: scikit-learn estimators around a compiled
model, :class:`SKLearnClassifier`, :class:`SKLearnRegressor` and :class:`SKLearnTransformer`
(:mod:`.sklearn_wrapper`).

scikit-learn is not a dependency of autoconv (``pip install "autoconv[sklearn]"``): it is
imported when one of these names is first used, so ``import autoconv`` stays fast without it.
"""

from typing import Any

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from autoconv.wrappers import sklearn_wrapper

        return getattr(sklearn_wrapper, name)
    raise AttributeError(f"module 'autoconv.wrappers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
