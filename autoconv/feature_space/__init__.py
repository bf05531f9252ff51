"""``FeatureSpace``, Keras 3's one-stop preprocessing of structured data (``keras.utils``; its
keras/src/layers/preprocessing/feature_space.py: arguments, defaults, configs, the features'
order and encodings, and the ``.keras`` file's layout are theirs), with ``Feature`` and
``Cross``, the specifications it is made of.

Each feature is preprocessed by one of autoconv's layers (Normalization, Rescaling,
Discretization, StringLookup, IntegerLookup, Hashing, or a user's), crosses are hashed by
HashedCrossing, and features with ``output_mode="one_hot"`` are multi-hot encoded by
CategoryEncoding. It runs on the host as Keras runs it (in TensorFlow, whatever the backend):
a dict of NumPy arrays (or lists, or numbers) in, float32 NumPy arrays out, which a model takes
on either device; in a ``Dataset.map`` it preprocesses a pipeline.

A package so that each module stays short: the ``.keras`` archive is in :mod:`.files`.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.data.dataset import Dataset
from autoconv.feature_space import files
from autoconv.layers import (
    CategoryEncoding,
    Discretization,
    HashedCrossing,
    Hashing,
    Input,
    IntegerLookup,
    Layer,
    Normalization,
    Rescaling,
    StringLookup,
    TextVectorization,
)
from autoconv.layers.serialization import deserialize, serialize
from autoconv.naming import unique_name
from autoconv.tensor import Tensor

__all__ = ["Cross", "Feature", "FeatureSpace"]

KERAS_MODULE = "keras.src.layers.preprocessing.feature_space"  # Feature's, Cross's module
FEATURE_TYPES = (
    "float", "float_normalized", "float_rescaled", "float_discretized", "integer_categorical",
    "string_categorical", "integer_hashed", "string_hashed",
)  # fmt: skip


# ---------------------------------------------------------------------- specifications
class Cross:
    """Features crossed by hashing their preprocessed values together into ``crossing_dim``
    bins; "one_hot" (the bins multi-hot encoded) or "int" (the bin, int64)."""

    def __init__(self, feature_names: Any, crossing_dim: int, output_mode: str = "one_hot") -> None:
        if output_mode not in {"int", "one_hot"}:
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot'}. "
                f"Received: output_mode={output_mode}"
            )
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        """``"a_X_b"`` for the cross of features a and b."""
        return "_X_".join(self.feature_names)

    def get_config(self) -> dict[str, Any]:
        return {
            "feature_names": self.feature_names,
            "crossing_dim": self.crossing_dim,
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Cross:
        return cls(**config)


class Feature:
    """One feature: its input ``dtype`` ("float32", "int32" or "string"), the layer that
    preprocesses it (or its Keras entry) and its ``output_mode``: "float" (as the layer gives
    it), "one_hot" (integer indices multi-hot encoded) or "int" (the indices)."""

    def __init__(self, dtype: str, preprocessor: Any, output_mode: str) -> None:
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot', "
                f"'float'}}. Received: output_mode={output_mode}"
            )
        self.dtype = dtype
        self.preprocessor = (
            deserialize(preprocessor) if isinstance(preprocessor, dict) else (preprocessor)
        )
        self.output_mode = output_mode

    def get_config(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "preprocessor": serialize(self.preprocessor),
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Feature:
        return cls(**config)


def _entry(spec: Feature | Cross) -> dict[str, Any]:
    """A Feature's or a Cross's Keras object entry (registered under its class name)."""
    name = type(spec).__name__
    return {"module": KERAS_MODULE, "class_name": name, "config": spec.get_config(),
            "registered_name": name}  # fmt: skip


def _from_entry(value: Any, cls: type) -> Any:
    """``value``, or the ``cls`` its Keras entry describes."""
    if isinstance(value, dict) and value.get("class_name") == cls.__name__:
        config = value.get("config")
        if not isinstance(config, dict):
            raise ValueError(f"The config of a {cls.__name__} entry must be a dict: {value}")
        return cls.from_config(config)
    return value


class TFDIdentity(Layer):
    """The "float" features' preprocessor: its float32 inputs unchanged (Keras's class of the
    same name, saved under its module)."""

    KERAS_MODULE = KERAS_MODULE
    KERAS_REGISTERED_NAME = "TFDIdentity"

    def call(self, inputs: Tensor) -> Tensor:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


# ---------------------------------------------------------------------- FeatureSpace
class FeatureSpace(Layer):
    """Preprocessing and encoding of structured data: ``features`` maps each input's name to
    its type (a name of :data:`FEATURE_TYPES`, or a :class:`Feature` from the constructors
    below), ``crosses`` lists features to hash together (tuples of names, or :meth:`cross`).

    :meth:`adapt` learns the preprocessors' state (vocabularies, means, bins) from a
    ``Dataset`` of dicts or a dict of arrays; a call maps a dict of arrays (N,) or (N, 1) (or
    one sample's scalars) to the encoded features: ``output_mode="concat"`` one float32 array
    (N, D), the features sorted by name then the crosses sorted by name; "dict" a dict of them.
    """

    KERAS_MODULE = "keras.utils"

    # ------------------------------------------------------------ the feature types
    @classmethod
    def cross(cls, feature_names: Any, crossing_dim: int, output_mode: str = "one_hot") -> Cross:
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype: str, preprocessor: Any, output_mode: str) -> Feature:
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name: str | None = None) -> Feature:
        name = name or unique_name("float")
        preprocessor = TFDIdentity(dtype="float32", name=f"{name}_preprocessor")
        return Feature("float32", preprocessor, "float")

    @classmethod
    def float_rescaled(
        cls, scale: builtins.float = 1.0, offset: builtins.float = 0.0, name: str | None = None
    ) -> Feature:
        name = name or unique_name("float_rescaled")
        preprocessor = Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor")
        return Feature("float32", preprocessor, "float")

    @classmethod
    def float_normalized(cls, name: str | None = None) -> Feature:
        name = name or unique_name("float_normalized")
        return Feature("float32", Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(
        cls,
        num_bins: int,
        bin_boundaries: list[builtins.float] | None = None,
        output_mode: str = "one_hot",
        name: str | None = None,
    ) -> Feature:
        name = name or unique_name("float_discretized")
        preprocessor = Discretization(
            num_bins=num_bins, bin_boundaries=bin_boundaries, name=f"{name}_preprocessor"
        )
        return Feature("float32", preprocessor, output_mode)

    @classmethod
    def integer_categorical(
        cls,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        output_mode: str = "one_hot",
        name: str | None = None,
    ) -> Feature:
        name = name or unique_name("integer_categorical")
        preprocessor = IntegerLookup(
            name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices
        )
        return Feature("int32", preprocessor, output_mode)

    @classmethod
    def string_categorical(
        cls,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        output_mode: str = "one_hot",
        name: str | None = None,
    ) -> Feature:
        name = name or unique_name("string_categorical")
        preprocessor = StringLookup(
            name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices
        )
        return Feature("string", preprocessor, output_mode)

    @classmethod
    def string_hashed(
        cls, num_bins: int, output_mode: str = "one_hot", name: str | None = None
    ) -> Feature:
        name = name or unique_name("string_hashed")
        return Feature("string", Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode)  # fmt: skip

    @classmethod
    def integer_hashed(
        cls, num_bins: int, output_mode: str = "one_hot", name: str | None = None
    ) -> Feature:
        name = name or unique_name("integer_hashed")
        return Feature("int32", Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode)  # fmt: skip

    # ------------------------------------------------------------ construction
    def __init__(
        self,
        features: dict[str, Any],
        output_mode: str = "concat",
        crosses: list[Any] | None = None,
        crossing_dim: int = 32,
        hashing_dim: int = 32,
        num_discretization_bins: int = 32,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {key: self._standardize_feature(key, v) for key, v in features.items()}
        self.crosses = [self._standardize_cross(cross) for cross in crosses or []]
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        if output_mode not in {"dict", "concat"}:
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of {'dict', 'concat'}. "
                f"Received: output_mode={output_mode}"
            )
        self.output_mode = output_mode
        self.preprocessors = {key: f.preprocessor for key, f in self.features.items()}
        self.crossers = {
            cross.name: HashedCrossing(cross.crossing_dim, name=cross.name)
            for cross in self.crosses
        }
        self.one_hot_encoders: dict[str, CategoryEncoding] = {}
        self.concat: TFDConcat | None = None
        self.encoded_features: Any = None
        self._names: list[str] = []  # the encoded features' order
        self._is_adapted = False
        self._sublayers_built = False

    def _standardize_feature(self, name: str, feature: Any) -> Feature:
        feature = _from_entry(feature, Feature)
        if isinstance(feature, Feature):
            return feature
        makers: dict[str, Callable[[], Feature]] = {
            "float": lambda: self.float(name=name),
            "float_normalized": lambda: self.float_normalized(name=name),
            "float_rescaled": lambda: self.float_rescaled(name=name),
            "float_discretized": lambda: self.float_discretized(
                name=name, num_bins=self.num_discretization_bins
            ),
            "integer_categorical": lambda: self.integer_categorical(name=name),
            "string_categorical": lambda: self.string_categorical(name=name),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name),
        }
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(f"Invalid feature type: {feature}")
        return makers[feature]()

    def _standardize_cross(self, cross: Any) -> Cross:
        cross = _from_entry(cross, Cross)
        if isinstance(cross, Cross):
            return cross
        if not self.crossing_dim:
            raise ValueError(
                "When specifying `crosses`, the argument `crossing_dim` (dimensionality of the "
                "crossing space) should be specified as well."
            )
        if any(key not in self.features for key in cross):
            raise ValueError(
                "All features referenced in the `crosses` argument should be present in the "
                f"`features` dict. Received unknown features: {cross}"
            )
        return Cross(cross, crossing_dim=self.crossing_dim)

    # ------------------------------------------------------------ adapting
    def _list_adaptable_preprocessors(self) -> list[str]:
        """The features whose preprocessor learns from data (not a Normalization or a
        TextVectorization given its statistics or vocabulary)."""
        names = []
        for name, layer in self.preprocessors.items():
            if isinstance(layer, Normalization) and layer.input_mean is not None:
                continue
            if isinstance(layer, TextVectorization) and layer._has_input_vocabulary:
                continue
            if hasattr(layer, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset: Any) -> None:
        """Adapt each adaptable preprocessor to its feature in ``dataset``: a ``Dataset`` of
        dicts (of scalars, batched by 32 here as Keras does, or of batches) or a dict of
        arrays (one row a sample)."""
        if not isinstance(dataset, Dataset):
            if not isinstance(dataset, dict):
                raise ValueError(
                    "`adapt()` can only be called on a tf.data.Dataset or a dict of "
                    f"arrays/lists. Received instead: {dataset} (of type {type(dataset)})"
                )
            dataset = Dataset.from_tensor_slices(dataset)
        for name in self._list_adaptable_preprocessors():
            feature_dataset = dataset.map(lambda x, name=name: x[name])
            rank = np.ndim(next(iter(feature_dataset)))
            if rank == 0:
                feature_dataset = feature_dataset.batch(32)
            if rank in (0, 1):
                feature_dataset = feature_dataset.map(lambda x: np.expand_dims(x, -1))
            self.preprocessors[name].adapt(feature_dataset)
        self._is_adapted = True
        self._build_sublayers()

    def _check_if_adapted(self) -> None:
        if not self._is_adapted:
            if self._list_adaptable_preprocessors():
                raise ValueError(
                    "You need to call `.adapt(dataset)` on the FeatureSpace before you can start "
                    "using it."
                )
            self._is_adapted = True

    def _build_sublayers(self) -> None:
        """Make the one-hot encoders and the concatenation once the preprocessors know their
        output spaces, checking each feature's ``output_mode`` against what it gives."""
        for layer in self.preprocessors.values():
            _build_for_inputs(layer)
        self._names = sorted(self.features) + sorted(self.crosses_by_name)
        self.one_hot_encoders = {}
        for name in self._names:
            spec = self.features.get(name) or self.crosses_by_name[name]
            layer = self.preprocessors.get(name) or self.crossers[name]
            integer = getattr(layer, "output_mode", None) == "int"
            if spec.output_mode == "one_hot":
                if not integer:
                    raise ValueError(
                        f"Feature '{name}' has `output_mode='one_hot'`. Thus its preprocessor "
                        "should return an integer dtype. Instead it returns a float32 dtype."
                    )
                cardinality = _cardinality(name, layer)
                if cardinality is not None:
                    self.one_hot_encoders[name] = CategoryEncoding(
                        num_tokens=cardinality, output_mode="multi_hot"
                    )
                    integer = False
            if self.output_mode == "concat" and integer:
                raise ValueError(
                    f"Cannot concatenate features because feature '{name}' has not been encoded "
                    "(it has dtype int64). Consider using `output_mode='dict'`."
                )
        self.concat = TFDConcat(axis=-1) if self.output_mode == "concat" else None
        self.built = self._sublayers_built = True

    def _check_if_built(self) -> None:
        if not self._sublayers_built:
            self._check_if_adapted()
            self._build_sublayers()

    # ------------------------------------------------------------ the model's side
    def get_inputs(self) -> dict[str, Any]:
        """An ``Input`` (N, 1) per numeric feature, Keras's ``get_inputs``; autoconv's
        models take numbers only, so a string feature is refused by name."""
        self._check_if_built()
        strings = [name for name, f in self.features.items() if f.dtype == "string"]
        if strings:
            raise ValueError(
                f"FeatureSpace.get_inputs: features {strings} hold strings, which an autoconv "
                "model cannot take: preprocess the data with the FeatureSpace (a call, or "
                "Dataset.map) and give the model get_encoded_features() as its input"
            )
        return {name: Input(shape=(1,), dtype=f.dtype, name=name)
                for name, f in self.features.items()}  # fmt: skip

    def get_encoded_features(self) -> Any:
        """Symbolic inputs of the encoded features' shapes, for the model that takes them:
        one float32 ``Input`` (N, D) in "concat" mode, a dict of them in "dict" mode."""
        self._check_if_built()
        if self.encoded_features is None:
            widths = {name: self._width(name) for name in self._names}
            if self.output_mode == "concat":
                self.encoded_features = Input(shape=(sum(widths.values()),))
            else:
                self.encoded_features = {
                    name: Input(shape=(width,), dtype=self._encoded_dtype(name), name=name)
                    for name, width in widths.items()
                }
        return self.encoded_features

    def _width(self, name: str) -> int:
        if name in self.one_hot_encoders:
            return self.one_hot_encoders[name].num_tokens
        if name in self.crossers:
            return 1
        return self.preprocessors[name].compute_output_shape((None, 1))[-1]

    def _encoded_dtype(self, name: str) -> str:
        layer = self.preprocessors.get(name) or self.crossers[name]
        integer = getattr(layer, "output_mode", None) == "int"
        return "int64" if integer and name not in self.one_hot_encoders else "float32"

    # ------------------------------------------------------------ calling
    def __call__(self, data: Any) -> Any:
        """The encoded features of ``data``, a dict of arrays (N,) or (N, 1), or of one
        sample's scalars (the output then has no batch axis)."""
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(
                "A FeatureSpace can only be called with a dict. "
                f"Received: data={data} (of type {type(data)}"
            )
        arrays = {key: _host_array(value) for key, value in data.items()}
        rebatched = False
        for key, x in arrays.items():
            if x.ndim == 0:
                arrays[key], rebatched = x.reshape(1, 1), True
            elif x.ndim == 1:
                arrays[key] = x[:, None]
        missing = [name for name in self.features if name not in arrays]
        unknown = [key for key in arrays if key not in self.features]
        if missing or unknown:
            raise ValueError(
                f"FeatureSpace: the data's keys must be its features {list(self.features)}; "
                f"missing {missing}, unknown {unknown}"
            )
        preprocessed = {name: _host_array(self.preprocessors[name](arrays[name]))
                        for name in self.features}  # fmt: skip
        for cross in self.crosses:
            inputs = [preprocessed[name] for name in cross.feature_names]
            preprocessed[cross.name] = self.crossers[cross.name](inputs)
        encoded = {}
        for name in self._names:
            value = preprocessed[name]
            if name in self.one_hot_encoders:
                value = self.one_hot_encoders[name](value)
            encoded[name] = value
        if self.concat is not None:
            merged = self.concat(list(encoded.values()))
            return merged[0] if rebatched else merged
        if rebatched:
            encoded = {k: v[0] if v.ndim == 2 and v.shape[0] == 1 else v
                       for k, v in encoded.items()}  # fmt: skip
        return encoded

    # ------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        return {
            "features": {name: _entry(f) for name, f in self.features.items()},
            "output_mode": self.output_mode,
            "crosses": [_entry(cross) for cross in self.crosses],
            "crossing_dim": self.crossing_dim,
            "hashing_dim": self.hashing_dim,
            "num_discretization_bins": self.num_discretization_bins,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureSpace:
        return cls(**config)

    def get_build_config(self) -> dict[str, Any]:
        return {name: f.preprocessor.get_build_config() for name, f in self.features.items()}

    def build_from_config(self, config: dict[str, Any]) -> None:
        for name, build in config.items():
            layer = self.features[name].preprocessor
            if not layer.built and isinstance(build, dict):
                layer.build_from_config(build)
            _build_for_inputs(layer)
        self._is_adapted = True

    def save(self, filepath: str | os.PathLike) -> None:
        """Write the FeatureSpace as Keras's ``.keras`` archive (its config, the adapted
        statistics in ``model.weights.h5``, the vocabularies in ``assets/``), which
        ``autoconv.saving.load_model`` and Keras's ``keras.models.load_model`` read."""
        files.save(self, filepath)


class TFDConcat(Layer):
    """The encoded features concatenated along ``axis`` as float32 NumPy arrays (Keras's
    class of the same name, saved under its module)."""

    KERAS_MODULE = KERAS_MODULE
    KERAS_REGISTERED_NAME = "TFDConcat"

    def __init__(self, axis: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def __call__(self, inputs: list[np.ndarray]) -> np.ndarray:  # type: ignore[override]
        return np.concatenate([np.asarray(x, "float32") for x in inputs], axis=self.axis)


def _cardinality(name: str, layer: Layer) -> int | None:
    """How many values a one-hot feature's indices take (Keras's; None for a Discretization
    given its bin boundaries, which Keras leaves unencoded)."""
    if isinstance(layer, IntegerLookup | StringLookup):
        return layer.vocabulary_size()
    if isinstance(layer, CategoryEncoding):
        return layer.num_tokens
    if isinstance(layer, Discretization | HashedCrossing | Hashing):
        return layer.num_bins
    raise ValueError(
        f"Feature '{name}' has `output_mode='one_hot'`. However it isn't a standard feature and "
        "the dimensionality of its output space is not known, thus it cannot be one-hot "
        "encoded. Try using `output_mode='int'`."
    )


def _build_for_inputs(layer: Layer) -> None:
    """Build a preprocessor, as Keras's are on the symbolic inputs (N, 1), recording that
    shape in its build config (which autoconv's base Layer records only for the classes that
    define ``build``)."""
    if layer.get_build_config() is None:
        layer._build_shape = (None, 1)
        layer.build_from_config({"input_shape": (None, 1)})


def _host_array(value: Any) -> np.ndarray:
    """A feature's values as a NumPy array (a Tensor brought to the host)."""
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)
