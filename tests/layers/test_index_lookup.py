"""StringLookup and IntegerLookup against Keras 3.15.1 with TensorFlow 2.21 (Keras's lookup
layers need TensorFlow, which the project does not install): the vocabularies ``adapt`` learns,
the outputs (indices, encodings, tf_idf weights, inverted tokens) and configs, as literal values
Keras produced; their errors; a Dataset pipeline; an IntegerLookup in a model on the CPU and
on the CUDA device (the simulator), and its vocabulary through a ``.keras`` file.

(Over ~600 lines on purpose: both layers share one lookup machinery and one table of Keras's
recorded values.)
"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.data import Dataset
from autoconv.layers.index_lookup import IntegerLookup, StringLookup

DATA = [["b", "a", "c", "a"], ["d", "b", "a", "e"], ["é", "c", "B", "zz"]]

# Produced by Keras 3.15.1 with TensorFlow 2.21: layer = cls(**kwargs); layer.adapt(data);
# layer.get_vocabulary(), layer(x) (its dtype and values) and layer.idf_weights.
# (name, cls, kwargs, data, x, vocabulary, output dtype, output, idf weights)
ADAPTED = [
    (
        "str_default",
        StringLookup,
        {},
        DATA,
        [["a", "b", "q"], ["zz", "é", "x"]],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "int64",
        [[1, 3, 0], [5, 4, 0]],
        None,
    ),
    (
        "str_mask",
        StringLookup,
        {"mask_token": ""},
        [["b", "a", ""], ["a", "c", ""]],
        [["a", "", "q"]],
        ["", "[UNK]", "a", "c", "b"],
        "int64",
        [[2, 0, 1]],
        None,
    ),
    (
        "str_max",
        StringLookup,
        {"max_tokens": 4, "num_oov_indices": 1},
        DATA,
        [["a", "b", "c", "d"]],
        ["[UNK]", "a", "c", "b"],
        "int64",
        [[1, 3, 2, 0]],
        None,
    ),
    (
        "str_oov0",
        StringLookup,
        {"num_oov_indices": 0},
        DATA,
        [["a", "b"]],
        ["a", "c", "b", "é", "zz", "e", "d", "B"],
        "int64",
        [[0, 2]],
        None,
    ),
    (
        "str_onehot",
        StringLookup,
        {"output_mode": "one_hot"},
        DATA,
        ["a", "b", "zz", "x"],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "int64",
        [
            [0, 1, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 1, 0, 0, 0],
            [1, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
        None,
    ),
    (
        "str_multi",
        StringLookup,
        {"output_mode": "multi_hot"},
        DATA,
        [["a", "b", "a"], ["x", "c", "c"]],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "int64",
        [[0, 1, 0, 1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0, 0]],
        None,
    ),
    (
        "str_count_mask",
        StringLookup,
        {"output_mode": "count", "mask_token": ""},
        DATA,
        [["a", "", "a"], ["x", "c", ""]],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "int64",
        [[0, 2, 0, 0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0, 0]],
        None,
    ),
    (
        "str_count_pad",
        StringLookup,
        {"output_mode": "count", "max_tokens": 9, "pad_to_max_tokens": True},
        DATA,
        [["a", "b", "a"], ["x", "c", "c"]],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "int64",
        [[0, 2, 0, 1, 0, 0, 0, 0, 0], [1, 0, 2, 0, 0, 0, 0, 0, 0]],
        None,
    ),
    (
        "str_tfidf",
        StringLookup,
        {"output_mode": "tf_idf"},
        DATA,
        [["a", "b", "a"], ["x", "c", "zz"]],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "float32",
        [
            [0.0, 1.3862944, 0.0, 0.6931472, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.8326119, 0.0, 0.6931472, 0.0, 0.0, 0.9162908, 0.0, 0.0, 0.0],
        ],
        [
            0.8326119,
            0.6931472,
            0.6931472,
            0.6931472,
            0.9162908,
            0.9162908,
            0.9162908,
            0.9162908,
            0.9162908,
        ],
    ),
    (
        "str_tfidf_pad",
        StringLookup,
        {"output_mode": "tf_idf", "max_tokens": 10, "pad_to_max_tokens": True},
        DATA,
        [["a", "b", "a"], ["x", "c", "zz"]],
        ["[UNK]", "a", "c", "b", "é", "zz", "e", "d", "B"],
        "float32",
        [
            [0.0, 1.3862944, 0.0, 0.6931472, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.8326119, 0.0, 0.6931472, 0.0, 0.0, 0.9162908, 0.0, 0.0, 0.0, 0.0],
        ],
        [
            0.8326119,
            0.6931472,
            0.6931472,
            0.6931472,
            0.9162908,
            0.9162908,
            0.9162908,
            0.9162908,
            0.9162908,
            0.0,
        ],
    ),
    (
        "str_flat",
        StringLookup,
        {"output_mode": "tf_idf"},
        ["a", "b", "a", "c", "a", "b"],
        [["a", "b", "x"]],
        ["[UNK]", "a", "b", "c"],
        "float32",
        [[1.1337324, 0.9162908, 1.0986123, 0.0]],
        [1.1337324, 0.9162908, 1.0986123, 1.3862944],
    ),
    (
        "int_default",
        IntegerLookup,
        {},
        [[3, 1, 1, 7], [9, 3, 1, 42]],
        [[1, 3, 5], [42, 0, 7]],
        [-1, 1, 3, 42, 9, 7],
        "int64",
        [[1, 2, 0], [3, 0, 5]],
        None,
    ),
    (
        "int_mask_oov",
        IntegerLookup,
        {"mask_token": 0, "num_oov_indices": 3},
        [[3, 1, 1, 7], [9, 3, 1, 0]],
        [[1, 0, 5, 6], [8, 10, 7, 3]],
        [0, -1, -1, -1, 1, 3, 9, 7],
        "int64",
        [[4, 0, 3, 1], [3, 2, 7, 5]],
        None,
    ),
    (
        "int_multi",
        IntegerLookup,
        {"output_mode": "multi_hot", "mask_token": 0},
        [[3, 1, 1, 7], [9, 3, 1, 0]],
        [[1, 0, 5], [9, 9, 3]],
        [-1, 1, 3, 9, 7],
        "int64",
        [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0]],
        None,
    ),
    (
        "int_count_max",
        IntegerLookup,
        {"output_mode": "count", "max_tokens": 3},
        [[3, 1, 1, 7], [9, 3, 1, 5]],
        [[1, 3, 5, 1], [9, 9, 3, 7]],
        [-1, 1, 3],
        "int64",
        [[1, 2, 1], [3, 0, 1]],
        None,
    ),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "data", "x", "vocabulary", "dtype", "expected", "idf"),
    [case[1:] for case in ADAPTED],
    ids=[case[0] for case in ADAPTED],
)
def test_adapt_and_call_give_kerass_values(cls, kwargs, data, x, vocabulary, dtype, expected, idf):
    layer = cls(**kwargs)
    layer.adapt(data)
    assert layer.get_vocabulary() == vocabulary
    assert layer.vocabulary_size() == len(vocabulary)
    special = layer._token_start_index()
    assert layer.get_vocabulary(include_special_tokens=False) == vocabulary[special:]
    out = layer(x)
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    if idf is not None:
        np.testing.assert_allclose(layer.idf_weights, idf, rtol=1e-6)
    np.testing.assert_array_equal(layer(np.array(x)), out)  # arrays as lists


# Keras 3.15.1 with TensorFlow 2.21: get_config() (without name, trainable, dtype) after the
# adapt above, and of layers given their vocabulary.
CONFIGS = {
    "str_default": {
        "invert": False,
        "max_tokens": None,
        "num_oov_indices": 1,
        "oov_token": "[UNK]",
        "mask_token": None,
        "output_mode": "int",
        "sparse": False,
        "pad_to_max_tokens": False,
        "idf_weights": None,
        "vocabulary": None,
        "vocabulary_size": 9,
        "oov_method": "floormod",
        "salt": None,
        "encoding": "utf-8",
    },
    "int_mask_oov": {
        "invert": False,
        "max_tokens": None,
        "num_oov_indices": 3,
        "oov_token": -1,
        "mask_token": 0,
        "output_mode": "int",
        "sparse": False,
        "pad_to_max_tokens": False,
        "vocabulary_dtype": "int64",
        "idf_weights": None,
        "vocabulary": None,
        "vocabulary_size": 8,
        "oov_method": "floormod",
        "salt": None,
    },
    "str_tfidf_pad": {
        "invert": False,
        "max_tokens": 10,
        "num_oov_indices": 1,
        "oov_token": "[UNK]",
        "mask_token": None,
        "output_mode": "tf_idf",
        "sparse": False,
        "pad_to_max_tokens": True,
        "idf_weights": None,
        "vocabulary": None,
        "vocabulary_size": 9,
        "oov_method": "floormod",
        "salt": None,
        "encoding": "utf-8",
    },
}
DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
         "registered_name": None}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_configs_are_kerass(name):
    _, cls, kwargs, data, *_ = next(case for case in ADAPTED if case[0] == name)
    layer = cls(**kwargs)
    layer.adapt(data)
    config = layer.get_config()
    assert config == {"name": layer.name, "trainable": True, "dtype": DTYPE, **CONFIGS[name]}
    clone = cls.from_config(config)
    assert clone.get_config() == config


# Keras 3.15.1 with TensorFlow 2.21: layers given their vocabulary (and idf weights).
def test_given_vocabularies_and_invert_are_kerass(tmp_path):
    inverse = StringLookup(vocabulary=["x", "y", "z"], invert=True, mask_token="[M]")
    assert inverse.get_vocabulary() == ["[M]", "[UNK]", "x", "y", "z"]
    assert inverse(np.array([[0, 1, 2, 3, 4, 7]])).tolist() == [
        ["[M]", "[UNK]", "x", "y", "z", "[UNK]"]
    ]
    inverse = IntegerLookup(vocabulary=[12, 5, 7], invert=True)
    out = inverse(np.array([[0, 1, 2, 3, 4]]))
    assert out.dtype == np.int64 and out.tolist() == [[-1, 12, 5, 7, -1]]
    assert inverse.get_config()["vocabulary"] == [12, 5, 7]
    given = StringLookup(vocabulary=["[UNK]", "x", "y"], output_mode="tf_idf",
                         idf_weights=[0.5, 1.0, 2.0])  # fmt: skip
    assert given.get_vocabulary() == ["[UNK]", "x", "y"]
    np.testing.assert_allclose(given([["x", "y", "y", "q"]]), [[0.5, 1.0, 4.0]])
    padded = StringLookup(vocabulary=["x", "y"], output_mode="tf_idf", idf_weights=[1.0, 2.0],
                          max_tokens=5, pad_to_max_tokens=True)  # fmt: skip
    np.testing.assert_allclose(padded.idf_weights, [1.5, 1.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(padded([["x", "y", "y", "q"]]), [[1.5, 1.0, 4.0, 0.0, 0.0]])
    assert padded.get_config()["vocabulary"] == ["x", "y"]
    assert padded.get_config()["idf_weights"] == [1.0, 2.0]
    hot = IntegerLookup(vocabulary=np.array([4, 8, 15]), mask_token=0, output_mode="one_hot")
    assert hot.get_vocabulary() == [-1, 4, 8, 15]
    assert hot(np.array([4, 0, 15, 99])).tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1],
                                                      [1, 0, 0, 0]]  # fmt: skip
    path = tmp_path / "vocabulary.txt"
    path.write_text("cat\ndög\nthe\n", encoding="utf-8")
    from_file = StringLookup(vocabulary=str(path))
    assert from_file.get_vocabulary() == ["[UNK]", "cat", "dög", "the"]
    assert from_file(np.array([b"d\xc3\xb6g", b"x"])).tolist() == [2, 0]  # bytes decoded
    assert from_file.get_config()["vocabulary"] is None
    assert StringLookup().get_vocabulary() == ["[UNK]"]


@pytest.mark.parametrize("steps", [None, 2])
def test_adapt_on_a_dataset_makes_each_batch_a_document(steps):
    """Keras 3.15.1 with TensorFlow 2.21: adapt on tf.data's
    ``from_tensor_slices(["a b", "c", "a", "c", "a", "b"]).batch(2)`` with steps=2, and on
    ``from_tensor_slices([[1, 2], [2, 3], [3, 3]]).batch(2)``."""
    strings = Dataset.from_tensor_slices(np.array(["a b", "c", "a", "c", "a", "b"]))
    layer = StringLookup(output_mode="tf_idf")
    layer.adapt(strings.batch(2) if steps else strings.batch(2).take(2), steps=steps)
    assert layer.get_vocabulary() == ["[UNK]", "c", "a b", "a"]
    np.testing.assert_allclose(
        layer.idf_weights,
        [0.6323733329772949, 0.5108256340026855, 0.6931471824645996, 0.6931471824645996],
    )
    ints = IntegerLookup(output_mode="tf_idf")
    ints.adapt(Dataset.from_tensor_slices(np.array([[1, 2], [2, 3], [3, 3]])).batch(2))
    assert ints.get_vocabulary() == [-1, 3, 2, 1]
    np.testing.assert_allclose(
        ints.idf_weights,
        [0.7675283551216125, 0.6931471824645996, 0.6931471824645996, 0.9162907600402832],
    )


def test_a_dataset_map_looks_strings_up():
    layer = StringLookup(vocabulary=["cat", "dog"], output_mode="multi_hot")
    data = Dataset.from_tensor_slices((np.array([["cat", "x"], ["dog", "dog"]]), np.arange(2)))
    batches = list(data.batch(2).map(lambda x, y: (layer(x), y)))
    assert len(batches) == 1 and batches[0][0].tolist() == [[1, 1, 0], [0, 0, 1]]


ERRORS = [
    (StringLookup, {"max_tokens": 1}, ValueError, "`max_tokens` must be greater than 1"),
    (StringLookup, {"max_tokens": None, "pad_to_max_tokens": True}, ValueError,
     "If pad_to_max_tokens is True, must set `max_tokens`"),
    (StringLookup, {"num_oov_indices": -1}, ValueError, "greater than or equal to 0"),
    (StringLookup, {"output_mode": "bag"}, ValueError, "`output_mode` argument"),
    (StringLookup, {"invert": True, "output_mode": "count"}, ValueError,
     "`output_mode` must be `'int'` when `invert` is true"),
    (StringLookup, {"output_mode": "count", "sparse": True}, ValueError, "no sparse tensors"),
    (StringLookup, {"output_mode": "int", "sparse": True}, ValueError, "`sparse` may only be"),
    (StringLookup, {"idf_weights": [1.0], "vocabulary": ["a"]}, ValueError,
     "`idf_weights` should only be set if `output_mode` is `'tf_idf'`"),
    (StringLookup, {"output_mode": "tf_idf", "vocabulary": ["a"]}, ValueError,
     "the `idf_weights` argument must also be provided"),
    (StringLookup, {"num_oov_indices": 2}, ValueError, "FarmHash"),
    (StringLookup, {"vocabulary": ["a", "b", "a"]}, ValueError, "repeated term"),
    (StringLookup, {"vocabulary": ["a", "[UNK]"]}, ValueError, "reserved OOV token"),
    (StringLookup, {"vocabulary": ["a", ""], "mask_token": ""}, ValueError, "reserved mask token"),
    (StringLookup, {"vocabulary": ["a", "b"], "max_tokens": 2}, ValueError,
     "larger than the maximum vocab size"),
    (StringLookup, {"vocabulary": []}, ValueError, "Cannot set an empty vocabulary"),
    (StringLookup, {"vocabulary": "/no/such/vocabulary.txt"}, ValueError, "does not exist"),
    (StringLookup, {"oov_method": "md5"}, ValueError, "`oov_method` argument"),
    (IntegerLookup, {"vocabulary_dtype": "int32"}, ValueError, "Only `vocabulary_dtype='int64'`"),
    (IntegerLookup, {"max_tokens": 0}, ValueError, "it must be greater than 1"),
    (IntegerLookup, {"num_oov_indices": 2, "oov_method": "farmhash"}, ValueError, "FarmHash"),
    (IntegerLookup, {"salt": 3}, ValueError, "FarmHash"),
    (IntegerLookup, {"foo": 1}, ValueError, "Unrecognized keyword argument"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "kwargs", "error", "message"), ERRORS)
def test_bad_arguments_raise_one_clear_error(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(**kwargs)


def test_errors_of_calls_and_adapts():
    with pytest.raises(RuntimeError, match="you must set the layer's vocabulary"):
        StringLookup(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match=r"found OOV values \['q'\]"):
        StringLookup(vocabulary=["a"], num_oov_indices=0)([["a", "q"]])
    with pytest.raises(ValueError, match="Cannot adapt layer"):
        StringLookup(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(ValueError, match="StringLookup takes strings"):
        StringLookup().adapt([1, 2])
    with pytest.raises(ValueError, match="IntegerLookup takes integers"):
        IntegerLookup().adapt(np.array([1.5]))
    layer = StringLookup(output_mode="count")
    layer.adapt(["a", "b"])
    with pytest.raises(RuntimeError, match="the vocabulary size cannot be changed"):
        layer.adapt(["a", "b", "c"])
    with pytest.raises(TypeError, match=r"use it in a `Dataset\.map`"):
        StringLookup(vocabulary=["a"])(ac.Input((2,)))


# Keras 3.15.1 with TensorFlow 2.21 on the torch backend refuses ragged documents in adapt and
# in calls (its lookups convert them with tf.convert_to_tensor), with these errors; a ragged
# NumPy array of objects gets the second (IntegerLookup's call a TypeError from int()).
LISTS = "Can't convert non-rectangular Python sequence to Tensor."
OBJECTS = r"Failed to convert a NumPy array to a Tensor \(Unsupported object type list\)."
RAGGED = [
    (StringLookup, [["a", "b"], ["c"]], LISTS),
    (StringLookup, (("a", "b"), ("c",)), LISTS),
    (StringLookup, [["a", "b"], "c"], LISTS),
    (StringLookup, [np.array(["a", "b"]), np.array(["c"])], LISTS),
    (StringLookup, np.array([["a", "b"], ["c"]], dtype=object), OBJECTS),
    (IntegerLookup, [[1, 2], [3]], LISTS),
    (IntegerLookup, [[1, 2], 3], LISTS),
    (IntegerLookup, np.array([[1, 2], [3]], dtype=object), OBJECTS),
]


@pytest.mark.parametrize("how", ["adapt", "update_state", "call"])
@pytest.mark.parametrize(("cls", "documents", "message"), RAGGED)
def test_ragged_documents_are_refused_with_kerass_error(cls, documents, message, how):
    vocabulary = ["a", "b", "c"] if cls is StringLookup else [1, 2, 3]
    layer = cls(vocabulary=vocabulary) if how == "call" else cls()
    with pytest.raises(ValueError, match=message) as error:
        layer(documents) if how == "call" else getattr(layer, how)(documents)
    assert str(error.value).endswith(
        "Pad the documents to one length: lookups take no ragged lists."
    )


@pytest.mark.parametrize("cls", [StringLookup, IntegerLookup])
def test_inverting_ragged_indices_is_refused_with_kerass_error(cls):
    layer = cls(vocabulary=["a", "b"] if cls is StringLookup else [1, 2], invert=True)
    with pytest.raises(ValueError, match=LISTS):
        layer([[1, 2], [3]])


@pytest.mark.parametrize("cls", [StringLookup, IntegerLookup])
def test_rectangular_lists_of_documents_adapt_and_call(cls):
    """Keras 3.15.1 with TensorFlow 2.21 (torch backend): adapt([[a, b], [c, a]]), then a call
    on [[a, c], [b, q]], q not in the vocabulary."""
    a, b, c, q = ("a", "b", "c", "q") if cls is StringLookup else (1, 2, 3, 9)
    layer = cls()
    layer.adapt([[a, b], [c, a]])
    assert layer.get_vocabulary() == [layer.oov_token, a, c, b]
    assert layer([[a, c], [b, q]]).tolist() == [[1, 2], [3, 0]]


def lookup_model():
    lookup = IntegerLookup(vocabulary=[3, 9, 4, 2], mask_token=0, output_mode="multi_hot")
    model = ac.Sequential([ac.Input((2,)), lookup, ac.layers.Dense(3, activation="softmax")])
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape)
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def test_an_integer_lookup_runs_in_a_model_and_on_tensors():
    model = lookup_model()
    assert model.layers[0].compute_output_shape((None, 2)) == (None, 5)
    x = np.array([[3, 9], [0, 7]])
    expected = model.layers[1](model.layers[0](x).astype(np.float32)).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
    out = model.layers[0](ac.Tensor(x.astype(np.float32)))
    assert isinstance(out, ac.Tensor) and out.numpy().tolist() == [[0, 1, 1, 0, 0],
                                                                   [1, 0, 0, 0, 0]]  # fmt: skip


def test_an_eager_call_on_arrays_gives_an_array_with_a_tensors_numpy():
    """As Keras's lookups give a backend tensor outside a tf.data pipeline, ``.numpy()`` of
    their output runs (the indices, the inverted tokens, the encodings)."""
    lookup = StringLookup(vocabulary=["a", "b"], mask_token=None, num_oov_indices=0)
    assert lookup([["a", "b"], ["b", "a"]]).numpy().tolist() == [[0, 1], [1, 0]]
    inverse = StringLookup(vocabulary=["a", "b"], invert=True)
    assert inverse(np.array([2, 1])).numpy().tolist() == ["b", "a"]
    counts = IntegerLookup(vocabulary=[4, 5], output_mode="count")([[4, 4, 7]])
    assert type(counts.numpy()) is np.ndarray and counts.numpy().tolist() == [[1, 2, 0]]


@pytest.mark.cudasim
def test_fit_of_a_lookup_model_on_the_gpu_gives_the_cpus_losses():
    from tests.layers.devices import fit_on_both_devices

    rng = np.random.default_rng(5)
    x = rng.choice([0, 2, 3, 4, 9, 11], (8, 2)).astype(np.float32)
    fit_on_both_devices(lookup_model, x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)])


# ------------------------------------------------------------------ tf_idf in Keras's files
# Keras 3.15.1 with TensorFlow 2.21 adapted IntegerLookup(output_mode="tf_idf", mask_token=0,
# **kwargs) on [[3, 2], [2, 9], [0, 4]], in Sequential([Input((2,), dtype="int64"), lookup,
# Dense(2, kernel_initializer="ones", bias_initializer="zeros")]), predicted TF_IDF_PREDICTIONS
# for TF_IDF_X and saved it: its state file (model.weights.h5, and the .weights.h5) holds the
# idf weights as the dataset layers/integer_lookup/vars/idf_weights (:func:`write_kerass_state`
# writes that layout), its .keras archive the vocabulary as TF_IDF_ASSET. Keras loaded
# autoconv's files of these models with the same predictions, but not its own padded .keras
# (its load_assets gives set_vocabulary 8 weights for 5 tokens); autoconv loads that one.
TF_IDF_X = np.array([[3, 9], [0, 7], [2, 2]])
TF_IDF_PREDICTIONS = [[1.8325815200805664] * 2, [0.8605048656463623] * 2,
                      [1.3862943649291992] * 2]  # fmt: skip
TF_IDF_ASSET = ("assets/layers/integer_lookup/vocabulary.txt", b"-1\n2\n9\n4\n3")
IDF = [0.8605048656463623, 0.6931471824645996, 0.9162907600402832, 0.9162907600402832,
       0.9162907600402832]  # fmt: skip
TF_IDF_CASES = {
    "plain": ({}, IDF),
    "padded": ({"max_tokens": 8, "pad_to_max_tokens": True}, [*IDF, 0.0, 0.0, 0.0]),
}


def tf_idf_model(kwargs: dict) -> ac.Model:
    lookup = IntegerLookup(output_mode="tf_idf", mask_token=0, **kwargs)
    lookup.adapt(np.array([[3, 2], [2, 9], [0, 4]]))
    dense = ac.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    return ac.Sequential([ac.Input((2,)), lookup, dense])


def write_kerass_state(path, idf: list[float] | None) -> None:
    """The state file Keras writes for :func:`tf_idf_model` (``idf=None``: without the idf
    weights)."""
    import h5py

    with h5py.File(path, "w") as h5:
        h5.create_group("vars").attrs["name"] = "sequential"
        lookup = h5.create_group("layers/integer_lookup/vars")
        lookup.attrs["name"] = "integer_lookup"
        if idf is not None:
            lookup.create_dataset("idf_weights", data=np.array(idf, np.float32))
        dense = h5.create_group("layers/dense/vars")
        dense.attrs["name"] = "dense"
        dense.create_dataset("0", data=np.ones((len(IDF if idf is None else idf), 2), np.float32))
        dense.create_dataset("1", data=np.zeros(2, np.float32))


def h5_layout(path) -> dict:
    """Every group's attributes and every dataset's dtype, shape and values, by path."""
    import h5py

    found: dict = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            found[name] = (str(item.dtype), item.shape, np.asarray(item[()]).round(6).tolist())
        else:
            found[name] = {key: str(value) for key, value in item.attrs.items()}

    with h5py.File(path, "r") as h5:
        h5.visititems(visit)
    return found


@pytest.mark.parametrize("case", sorted(TF_IDF_CASES))
def test_a_tf_idf_lookups_state_is_written_as_keras_writes_it(case, tmp_path):
    kwargs, idf = TF_IDF_CASES[case]
    model = tf_idf_model(kwargs)
    np.testing.assert_allclose(model.predict(TF_IDF_X, verbose=0), TF_IDF_PREDICTIONS, 1e-6)
    model.save_weights(tmp_path / "ours.weights.h5")
    write_kerass_state(tmp_path / "keras.weights.h5", idf)
    assert h5_layout(tmp_path / "ours.weights.h5") == h5_layout(tmp_path / "keras.weights.h5")


@pytest.mark.parametrize("case", sorted(TF_IDF_CASES))
def test_kerass_tf_idf_files_load_with_its_predictions(case, tmp_path):
    import json
    import zipfile

    from autoconv.layers.serialization import serialize

    kwargs, idf = TF_IDF_CASES[case]
    write_kerass_state(tmp_path / "model.weights.h5", idf)
    model = tf_idf_model(kwargs)
    model.layers[0].idf_weights = np.zeros(len(idf), np.float32)  # the file's replace them
    model.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_allclose(model.predict(TF_IDF_X, verbose=0), TF_IDF_PREDICTIONS, 1e-6)
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:  # Keras's .keras archive
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(serialize(tf_idf_model(kwargs))))
        archive.write(tmp_path / "model.weights.h5", "model.weights.h5")
        archive.writestr(*TF_IDF_ASSET)
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_vocabulary() == [-1, 2, 9, 4, 3]
    np.testing.assert_allclose(loaded.layers[0].idf_weights, idf, rtol=1e-7)
    np.testing.assert_allclose(loaded.predict(TF_IDF_X, verbose=0), TF_IDF_PREDICTIONS, 1e-6)


@pytest.mark.parametrize(
    ("idf", "message"),
    [(None, r"keeps \['idf_weights'\] beside its weights, the file holds \[\]"),
     (IDF[:4], r"idf_weights of layer integer_lookup has shape \(4,\) in the file"),
     ([np.nan, *IDF[1:]], "idf_weights of layer integer_lookup holds NaN")],
)  # fmt: skip
def test_a_tf_idf_state_file_of_the_wrong_idf_weights_is_refused_whole(idf, message, tmp_path):
    write_kerass_state(tmp_path / "m.weights.h5", idf)
    model = tf_idf_model({})
    model.layers[1].kernel.assign(np.full((5, 2), 3.0, np.float32))
    with pytest.raises(ValueError, match=message):
        model.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), 3.0)  # nothing assigned
    np.testing.assert_allclose(model.layers[0].idf_weights, IDF, rtol=1e-6)


@pytest.mark.parametrize("assets_first", [False, True])
def test_a_tf_idf_lookup_loads_its_state_and_assets_in_either_order(assets_first, tmp_path):
    layer = StringLookup(output_mode="tf_idf", max_tokens=7, pad_to_max_tokens=True)
    layer.adapt(DATA)
    clone = StringLookup.from_config(layer.get_config())
    assert clone.own_state_shapes() == {"idf_weights": (7,)}
    store: dict = {}
    layer.save_own_variables(store)
    layer.save_assets(str(tmp_path))
    if assets_first:
        clone.load_assets(str(tmp_path))
    clone.load_own_variables(store)
    if not assets_first:
        clone.load_assets(str(tmp_path))
    x = [["a", "c", "q"], ["zz", "a", "a"]]
    np.testing.assert_array_equal(clone(x), layer(x))
    with pytest.raises(ValueError, match=r"idf_weights of shape \(3,\), expected \(7,\)"):
        clone.load_own_variables({"idf_weights": np.ones(3)})
    with pytest.raises(ValueError, match="has no idf weights to save before its vocabulary"):
        IntegerLookup(output_mode="tf_idf").save_own_variables({})
    assert StringLookup(output_mode="count").own_state_shapes() == {}
