"""TextVectorization against Keras 3.15.1 with TensorFlow 2.21 (Keras's layer needs
TensorFlow, which the project does not install): the vocabularies ``adapt`` learns and the
outputs and configs for each standardization, split, n-grams, sequence length and output mode,
as literal values Keras produced (TensorFlow's ASCII-only lowercasing and whitespace, its
punctuation class on Unicode text); errors; a Dataset pipeline as Keras's tutorials write it."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.data import Dataset
from autoconv.layers.text_vectorization import TextVectorization

TEXT = [
    "The CAT sat; on the mat!",
    "Ünïcode ÀB  tabs\there\xa0nbsp",
    "the cat, the hat... e-mail it's",
    "don't   STOP\u2003me",
]

# Produced by Keras 3.15.1 with TensorFlow 2.21: layer = TextVectorization(**kwargs);
# layer.adapt(data); layer.get_vocabulary(), layer(np.array(x)) (dtype, values) and, for
# tf_idf, its lookup's idf_weights.
# (name, kwargs, data, x, vocabulary, output dtype, output, idf weights)
ADAPTED = [
    (
        "default",
        {},
        TEXT,
        ["the cat ate the HAT", "Ünïcode nbsp", ""],
        [
            "",
            "[UNK]",
            "the",
            "cat",
            "Ünïcode",
            "Àb",
            "tabs",
            "stop\u2003me",
            "sat",
            "on",
            "mat",
            "its",
            "here\xa0nbsp",
            "hat",
            "email",
            "dont",
        ],
        "int64",
        [[2, 3, 1, 2, 13], [4, 1, 0, 0, 0], [0, 0, 0, 0, 0]],
        None,
    ),
    (
        "lower",
        {"standardize": "lower"},
        TEXT,
        ["the cat; ate", "ÀB mat!"],
        [
            "",
            "[UNK]",
            "the",
            "Ünïcode",
            "Àb",
            "tabs",
            "stop\u2003me",
            "sat;",
            "on",
            "mat!",
            "it's",
            "here\xa0nbsp",
            "hat...",
            "e-mail",
            "don't",
            "cat,",
            "cat",
        ],
        "int64",
        [[2, 1, 1], [4, 9, 0]],
        None,
    ),
    (
        "strip",
        {"standardize": "strip_punctuation"},
        TEXT,
        ["The CAT; ate", "e-mail, it's"],
        [
            "",
            "[UNK]",
            "the",
            "Ünïcode",
            "ÀB",
            "tabs",
            "sat",
            "on",
            "mat",
            "its",
            "here\xa0nbsp",
            "hat",
            "email",
            "dont",
            "cat",
            "The",
            "STOP\u2003me",
            "CAT",
        ],
        "int64",
        [[15, 17, 1], [12, 9, 0]],
        None,
    ),
    (
        "none_char",
        {"standardize": None, "split": "character"},
        ["abcab", "ÀbÀ a"],
        ["aÀ b", "zb"],
        ["", "[UNK]", "b", "a", "À", "c", " "],
        "int64",
        [[3, 4, 6, 2], [1, 2, 0, 0]],
        None,
    ),
    (
        "ngrams2_len",
        {"ngrams": 2, "output_sequence_length": 6},
        TEXT,
        ["the cat sat on the mat", "cat"],
        [
            "",
            "[UNK]",
            "the",
            "the cat",
            "cat",
            "Ünïcode Àb",
            "Ünïcode",
            "Àb tabs",
            "Àb",
            "the mat",
            "the hat",
            "tabs here\xa0nbsp",
            "tabs",
            "stop\u2003me",
            "sat on",
            "sat",
            "on the",
            "on",
            "mat",
            "its",
            "here\xa0nbsp",
            "hat email",
            "hat",
            "email its",
            "email",
            "dont stop\u2003me",
            "dont",
            "cat the",
            "cat sat",
        ],
        "int64",
        [[2, 4, 15, 17, 2, 18], [4, 0, 0, 0, 0, 0]],
        None,
    ),
    (
        "ngrams_tuple",
        {"ngrams": (1, 3), "max_tokens": 12},
        TEXT,
        ["the cat sat on the mat"],
        [
            "",
            "[UNK]",
            "the",
            "cat",
            "Ünïcode Àb tabs",
            "Ünïcode",
            "Àb tabs here\xa0nbsp",
            "Àb",
            "the hat email",
            "the cat the",
            "the cat sat",
            "tabs",
        ],
        "int64",
        [[2, 3, 1, 1, 2, 1, 10, 1, 1, 1]],
        None,
    ),
    (
        "len_trunc",
        {"output_sequence_length": 3, "max_tokens": 6},
        TEXT,
        ["the cat sat on the mat", "cat"],
        ["", "[UNK]", "the", "cat", "Ünïcode", "Àb"],
        "int64",
        [[2, 3, 1], [3, 0, 0]],
        None,
    ),
    (
        "multi",
        {"output_mode": "multi_hot", "max_tokens": 8},
        TEXT,
        ["the cat sat on the mat", "zebra"],
        ["[UNK]", "the", "cat", "Ünïcode", "Àb", "tabs", "stop\u2003me", "sat"],
        "int64",
        [[1, 1, 1, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0]],
        None,
    ),
    (
        "count_pad",
        {"output_mode": "count", "max_tokens": 20, "pad_to_max_tokens": True},
        TEXT,
        ["the cat the", "zebra"],
        [
            "[UNK]",
            "the",
            "cat",
            "Ünïcode",
            "Àb",
            "tabs",
            "stop\u2003me",
            "sat",
            "on",
            "mat",
            "its",
            "here\xa0nbsp",
            "hat",
            "email",
            "dont",
        ],
        "int64",
        [
            [0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
        None,
    ),
    (
        "tfidf",
        {"output_mode": "tf_idf"},
        TEXT,
        ["the cat the", "zebra hat"],
        [
            "[UNK]",
            "the",
            "cat",
            "Ünïcode",
            "Àb",
            "tabs",
            "stop\u2003me",
            "sat",
            "on",
            "mat",
            "its",
            "here\xa0nbsp",
            "hat",
            "email",
            "dont",
        ],
        "float32",
        [
            [0.0, 1.6945957, 0.8472978, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [1.0627103, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0986123, 0.0, 0.0],
        ],
        [
            1.0627103,
            0.8472978,
            0.8472978,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
            1.0986123,
        ],
    ),
    (
        "split_none",
        {"split": None, "output_mode": "int"},
        ["a b", "c", "a b"],
        [["a b"], ["c"], ["q"]],
        ["", "[UNK]", "a b", "c"],
        "int64",
        [[2], [3], [1]],
        None,
    ),
    (
        "onehot_nosplit",
        {"split": None, "output_mode": "one_hot"},
        ["a b", "c", "a b"],
        ["a b", "c", "q"],
        ["[UNK]", "a b", "c"],
        "int64",
        [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
        None,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "data", "x", "vocabulary", "dtype", "expected", "idf"),
    [case[1:] for case in ADAPTED],
    ids=[case[0] for case in ADAPTED],
)
def test_adapt_and_call_give_kerass_values(kwargs, data, x, vocabulary, dtype, expected, idf):
    layer = TextVectorization(**kwargs)
    layer.adapt(data)
    assert layer.get_vocabulary() == vocabulary
    assert layer.vocabulary_size() == len(vocabulary)
    out = layer(np.array(x))
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    if idf is not None:
        np.testing.assert_allclose(layer._lookup_layer.idf_weights, idf, rtol=1e-6)
    np.testing.assert_array_equal(layer(x), out)  # a list as the array


# Keras 3.15.1 with TensorFlow 2.21: get_config() (without name, trainable, dtype) after the
# adapt above.
CONFIGS = {
    "default": {
        "max_tokens": None,
        "standardize": "lower_and_strip_punctuation",
        "split": "whitespace",
        "ngrams": None,
        "output_mode": "int",
        "output_sequence_length": None,
        "pad_to_max_tokens": False,
        "sparse": False,
        "ragged": False,
        "vocabulary": None,
        "idf_weights": None,
        "encoding": "utf-8",
        "vocabulary_size": 16,
    },
    "ngrams_tuple": {
        "max_tokens": 12,
        "standardize": "lower_and_strip_punctuation",
        "split": "whitespace",
        "ngrams": (1, 3),
        "output_mode": "int",
        "output_sequence_length": None,
        "pad_to_max_tokens": False,
        "sparse": False,
        "ragged": False,
        "vocabulary": None,
        "idf_weights": None,
        "encoding": "utf-8",
        "vocabulary_size": 12,
    },
    "tfidf": {
        "max_tokens": None,
        "standardize": "lower_and_strip_punctuation",
        "split": "whitespace",
        "ngrams": None,
        "output_mode": "tf_idf",
        "output_sequence_length": None,
        "pad_to_max_tokens": False,
        "sparse": False,
        "ragged": False,
        "vocabulary": None,
        "idf_weights": None,
        "encoding": "utf-8",
        "vocabulary_size": 15,
    },
}
DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
         "registered_name": None}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_configs_are_kerass_and_read_back_with_the_assets(name, tmp_path):
    _, kwargs, data, *_ = next(case for case in ADAPTED if case[0] == name)
    layer = TextVectorization(**kwargs)
    layer.adapt(data)
    config = layer.get_config()
    assert config == {"name": layer.name, "trainable": True, "dtype": DTYPE, **CONFIGS[name]}
    as_json = {**config, "ngrams": list(config["ngrams"]) if config["ngrams"] else None}
    clone = TextVectorization.from_config(as_json)
    store: dict = {}  # what Keras's saving gives save_own_variables (tf_idf's weights)
    layer.save_own_variables(store)
    clone.load_own_variables(store)
    layer.save_assets(str(tmp_path))
    assert (tmp_path / "vocabulary.txt").read_text("utf-8").split("\n") == layer.get_vocabulary()
    clone.load_assets(str(tmp_path))
    assert clone.get_config() == config
    assert clone.get_vocabulary() == layer.get_vocabulary()
    x = np.array(TEXT)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_given_vocabularies_are_kerass():
    """Keras 3.15.1 with TensorFlow 2.21, given vocabularies."""
    layer = TextVectorization(vocabulary=["cat", "the"], output_sequence_length=4)
    assert layer.get_vocabulary() == ["", "[UNK]", "cat", "the"]
    assert layer(np.array(["the cat is here", "x"])).tolist() == [[3, 2, 1, 1], [1, 0, 0, 0]]
    config = layer.get_config()
    assert config["vocabulary"] == ["cat", "the"] and config["vocabulary_size"] == 4
    layer = TextVectorization(vocabulary=["[UNK]", "cat", "the"], output_mode="tf_idf",
                              idf_weights=[0.1, 1.0, 2.0])  # fmt: skip
    assert layer.get_vocabulary() == ["[UNK]", "cat", "the"]
    np.testing.assert_allclose(layer(np.array(["the cat the x"])), [[0.1, 1.0, 4.0]])
    layer.set_vocabulary(["dog", "cow"], idf_weights=[3.0, 4.0])  # of the same size, as Keras
    assert layer.get_vocabulary() == ["[UNK]", "dog", "cow"]


def test_callables_and_a_model_input():
    layer = TextVectorization(
        standardize=lambda strings: np.char.upper(strings),
        split=lambda text: text.split("-"),
        vocabulary=["A", "B C"],
    )
    assert layer(["a-b c-d", "b c"]).tolist() == [[2, 3, 1], [3, 0, 0]]
    with pytest.raises(TypeError, match=r"use it in a `Dataset\.map`"):
        layer(ac.Input((1,)))
    with pytest.raises(ValueError, match=r"InputLayer: dtype 'string'.*in a `Dataset\.map`"):
        ac.Input(shape=(1,), dtype="string")  # the end of keras.io's text classification
    assert TextVectorization(output_sequence_length=5).compute_output_shape((None,)) == (None, 5)
    assert TextVectorization(
        output_mode="count", max_tokens=7, pad_to_max_tokens=True
    ).compute_output_shape((None,)) == (None, 7)


def test_a_dataset_pipeline_as_kerass_tutorials():
    texts = np.array(["The cat sat.", "A dog!", "the DOG, the cat", "cat"])
    data = Dataset.from_tensor_slices((texts, np.arange(4))).batch(3)
    layer = TextVectorization(max_tokens=6, output_sequence_length=3)
    layer.adapt(data.map(lambda x, y: x))
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "cat", "dog", "sat"]
    batches = list(data.map(lambda x, y: (layer(x), y)))
    assert [b[0].tolist() for b in batches] == [[[2, 3, 5], [1, 4, 0], [2, 4, 2]], [[3, 0, 0]]]


def test_one_string_gives_one_row_without_the_batch_axis_as_keras():
    """keras.io's active learning example maps the vectorizer over a dataset's unbatched
    elements (one string each), then batches: Keras gives each string's row alone, (length,)
    (values Keras 3.15.1 with TensorFlow 2.21 gave)."""
    layer = TextVectorization(max_tokens=10, output_sequence_length=4)
    layer.adapt(["a b c", "b c d e"])
    assert layer("a b").tolist() == [6, 3, 0, 0]
    assert layer(np.array("a b")).shape == (4,)
    assert layer(["a b"]).tolist() == [[6, 3, 0, 0]]
    assert TextVectorization(vocabulary=["a", "b"], split="character")("ab").tolist() == [2, 3]
    counts = TextVectorization(vocabulary=["a", "b"], output_mode="count")("a b b")
    assert counts.tolist() == [0, 1, 2]
    pairs = Dataset.from_tensor_slices((np.array(["a b", "c d e f g"]), np.arange(2)))
    (batch,) = pairs.map(lambda x, y: (layer(x), y)).batch(2)
    assert batch[0].tolist() == [[6, 3, 0, 0], [2, 5, 4, 1]]


def test_an_eager_call_gives_an_array_with_a_tensors_numpy():
    """keras.io's pretrained word embeddings example: ``vectorizer([["the cat sat on the
    mat"]]).numpy()[0, :6]`` and ``vectorizer(np.array(...)).numpy()``, as Keras's layer
    gives a backend tensor outside a tf.data pipeline."""
    layer = TextVectorization(vocabulary=["the", "cat"], output_sequence_length=8)
    output = layer([["the cat sat on the mat"]])
    assert isinstance(output, np.ndarray)
    plain = output.numpy()
    assert type(plain) is np.ndarray and plain.dtype == np.int64
    assert plain[0, :6].tolist() == [2, 3, 1, 1, 2, 1]
    counts = TextVectorization(vocabulary=["the"], output_mode="count")(["the the x"])
    assert counts.numpy().tolist() == [[1, 2]]


ERRORS = [
    ({"standardize": "upper"}, "`standardize` argument"),
    ({"split": "comma"}, "`split` argument"),
    ({"output_mode": "bag"}, "`output_mode` argument"),
    ({"ngrams": 1.5}, "`ngrams` must be None, an integer, or a tuple of integers"),
    ({"output_sequence_length": 2.5}, "`output_sequence_length` must be either None or an"),
    ({"output_mode": "count", "output_sequence_length": 3}, "must not be set if `output_mode`"),
    ({"ragged": True}, "no ragged tensors"),
    ({"sparse": True, "output_mode": "count"}, "no sparse tensors"),
    ({"split": None, "ngrams": 2}, "`ngrams` needs a `split`"),
    ({"max_tokens": 1}, "`max_tokens` must be greater than 1"),
]


@pytest.mark.parametrize(("kwargs", "message"), ERRORS)
def test_bad_arguments_raise_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextVectorization(**kwargs)


def test_a_batch_of_the_wrong_rank_is_refused():
    with pytest.raises(ValueError, match="the last shape dimension must be 1"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    assert TextVectorization(vocabulary=["a"])(np.array([["a b"], ["b"]])).tolist() == [
        [2, 1],
        [1, 0],
    ]


# ------------------------------------------------------------------ tf_idf in Keras's files
# Keras 3.15.1 with TensorFlow 2.21: TextVectorization(output_mode="tf_idf", max_tokens=6)
# adapted on TF_IDF_TEXT gives TF_IDF_OUTPUT for TF_IDF_X; in a saved model its state file
# holds the idf weights (KERAS_IDF) twice, as Keras's saving walks the layer and its lookup:
# layers/text_vectorization/vars/idf_weights and .../_lookup_layer/vars/idf_weights (their
# groups' "name" attributes "text_vectorization" and "string_lookup"), and its assets the
# vocabulary beside each.
TF_IDF_TEXT = ["the cat sat", "the dog", "a cat and the dog"]
TF_IDF_X = ["the cat the x", "dog and dog"]
TF_IDF_OUTPUT = [[0.7556983232498169, 1.1192315816879272, 0.0, 0.6931471824645996, 0.0, 0.0],
                 [0.0, 0.0, 1.3862943649291992, 0.0, 0.0, 0.9162907600402832]]  # fmt: skip
KERAS_IDF = [0.7556983232498169, 0.5596157908439636, 0.6931471824645996, 0.6931471824645996,
             0.9162907600402832, 0.9162907600402832]  # fmt: skip


def test_a_tf_idf_vectorizers_state_travels_in_kerass_layout(tmp_path):
    import h5py

    from autoconv.saving import h5_state

    layer = TextVectorization(output_mode="tf_idf", max_tokens=6)
    layer.adapt(np.array(TF_IDF_TEXT))
    np.testing.assert_allclose(layer(np.array(TF_IDF_X)), TF_IDF_OUTPUT, rtol=1e-6)
    assert layer.own_state_shapes() == {"idf_weights": (6,)}
    with h5py.File(tmp_path / "state.h5", "w") as h5:  # the layer's groups, as in a model's
        h5_state.write(h5, layer, include_optimizer=False)
    groups = {"vars": "text_vectorization", "_lookup_layer/vars": "string_lookup"}
    with h5py.File(tmp_path / "state.h5", "r") as h5:
        for group, name in groups.items():
            assert list(h5[group]) == ["idf_weights"] and h5[group].attrs["name"] == name
            np.testing.assert_allclose(h5[group]["idf_weights"][()], KERAS_IDF, rtol=1e-6)
    clone = TextVectorization.from_config(layer.get_config())
    with h5py.File(tmp_path / "state.h5", "r") as h5:
        pairs = h5_state.read(h5, clone)
    layer.save_assets(str(tmp_path))
    clone.load_assets(str(tmp_path))  # before the weights, as autoconv's loader
    h5_state.assign(clone, pairs, None)
    np.testing.assert_allclose(clone(np.array(TF_IDF_X)), TF_IDF_OUTPUT, rtol=1e-6)
