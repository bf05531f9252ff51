"""keras-io's "Text classification from scratch" (IMDB sentiment with a 1-D convnet over word
embeddings), ported by its imports: ``text_dataset_from_directory``, a ``TextVectorization``
adapted on the training texts and mapped over the datasets, ``Conv1D`` and
``GlobalMaxPooling1D``, then an end-to-end model that reads raw strings.

Original: https://keras.io/examples/nlp/text_classification_from_scratch/ (Mark Omernick,
François Chollet). keras-io's custom standardization uses ``tf.strings``; here it is the same
steps on the NumPy array of Python strings the layer gives it. Run:
``python examples/text_classification.py FOLDER [--epochs 3]`` where FOLDER holds ``train`` and
``test`` sub-folders of one folder per class of ``.txt`` files (aclImdb's layout; two classes).
"""

import argparse
import re
import string

import numpy as np

import autoconv as keras
from autoconv import layers

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("folder", help="holds train/ and test/, each a folder per class")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--max-features", type=int, default=20000)
parser.add_argument("--sequence-length", type=int, default=500)
args = parser.parse_args()

batch_size = 32
raw_train_ds = keras.utils.text_dataset_from_directory(
    f"{args.folder}/train",
    batch_size=batch_size,
    validation_split=0.2,
    subset="training",
    seed=1337,
)
raw_val_ds = keras.utils.text_dataset_from_directory(
    f"{args.folder}/train",
    batch_size=batch_size,
    validation_split=0.2,
    subset="validation",
    seed=1337,
)
raw_test_ds = keras.utils.text_dataset_from_directory(f"{args.folder}/test", batch_size=batch_size)

print(f"Number of batches in raw_train_ds: {raw_train_ds.cardinality()}")
print(f"Number of batches in raw_val_ds: {raw_val_ds.cardinality()}")
print(f"Number of batches in raw_test_ds: {raw_test_ds.cardinality()}")

for text_batch, label_batch in raw_train_ds.take(1):
    for i in range(2):
        print(text_batch[i][:200])
        print(label_batch[i])

punctuation = re.compile(f"[{re.escape(string.punctuation)}]")


@np.vectorize
def standardize_one(text):
    # keras-io: lowercase, strip the HTML line breaks, remove punctuation
    return punctuation.sub("", text.lower().replace("<br />", " "))


def custom_standardization(input_data):
    return standardize_one(input_data).astype(object)


max_features = args.max_features
embedding_dim = 128
sequence_length = args.sequence_length

vectorize_layer = keras.layers.TextVectorization(
    standardize=custom_standardization,
    max_tokens=max_features,
    output_mode="int",
    output_sequence_length=sequence_length,
)

# A text-only dataset (no labels), to adapt the vocabulary on
text_ds = raw_train_ds.map(lambda x, y: x)
vectorize_layer.adapt(text_ds)


def vectorize_text(text, label):
    text = np.expand_dims(text, -1)
    return vectorize_layer(text), label


train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=10)
val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=10)
test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=10)

inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(0.5)(x)
x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)
x = layers.Dense(128, activation="relu")(x)
x = layers.Dropout(0.5)(x)
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)

model = keras.Model(inputs, predictions)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(train_ds, validation_data=val_ds, epochs=args.epochs)
model.evaluate(test_ds)

# The end-to-end model: raw strings in, probabilities out (keras-io builds it with a string
# Input; the vectorization runs on the host, so here it is called before the model)
probabilities = model.predict(vectorize_layer(np.array([["a truly wonderful, moving film"]])))
print(f"'a truly wonderful, moving film': {float(probabilities[0, 0]):.3f}")
