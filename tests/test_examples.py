"""The ported Keras scripts in examples/ run end to end (on a few hundred images, so the test
is quick; the README shows their output on the full data)."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import autoconv as ac

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def small_mnist(monkeypatch):
    (x_train, y_train), (x_test, y_test) = ac.datasets.mnist.load_data()
    small = ((x_train[:300], y_train[:300]), (x_test[:100], y_test[:100]))
    monkeypatch.setattr(ac.datasets.mnist, "load_data", lambda: small)


@pytest.mark.parametrize("script", ["mnist_convnet.py", "toy_resnet.py"])
def test_a_ported_keras_script_trains(script, small_mnist, capsys):
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    history = names["model"].history.history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert "Total params" in capsys.readouterr().out


def test_the_image_folder_tutorial_trains_and_classifies_a_new_image(tmp_path, monkeypatch, capsys):
    ac.datasets.export("mnist", tmp_path / "digits", split="train", limit=200)
    monkeypatch.setattr(sys, "argv", ["image_folder.py", str(tmp_path / "digits"), "28"])
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "image_folder.py"), run_name="__main__")
    assert names["class_names"] == [str(d) for d in range(10)]
    assert len(names["history"].history["val_accuracy"]) == 3
    assert "This image most likely belongs to" in capsys.readouterr().out


def test_the_transfer_learning_guide_freezes_then_fine_tunes(tmp_path, monkeypatch, capsys):
    """keras-io's transfer learning example on a folder of photos (two classes of random
    colours; Xception at its smallest size, random weights) runs both fits; the base's batch
    norm keeps its statistics through both, the unfrozen one too (it was called with
    training=False), and only the head is trainable in the first."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in (("cats", (200, 80, 40)), ("dogs", (40, 90, 200))):
        (tmp_path / name).mkdir()
        for i in range(10):
            pixels = np.clip(rng.normal(colour, 40, (80, 80, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    argv = ["transfer_learning.py", str(tmp_path), "--weights", "none", "--size", "71"]
    monkeypatch.setattr(sys, "argv", [*argv, "--epochs", "1"])
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "transfer_learning.py"), run_name="__main__")
    base, model = names["base_model"], names["model"]
    norms = [layer for layer in base.layers if isinstance(layer, ac.layers.BatchNormalization)]
    assert norms
    for layer in norms:
        np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)
        np.testing.assert_array_equal(layer.moving_variance.numpy(), 1.0)
    assert np.isfinite(model.history.history["loss"]).all()
    out = capsys.readouterr().out
    assert "Fitting the end-to-end model" in out and "Trainable params: 2,049" in out


def test_the_mobilenet_tutorial_fine_tunes_only_the_top_layers(tmp_path, monkeypatch, capsys):
    """TensorFlow's transfer learning tutorial on a folder of photos, from weights the test
    wrote: the first fit trains only the head; in fine-tuning, the base's first 100 layers keep
    their weights, later ones move, and every batch norm keeps its statistics (the base was
    called with training=False); the tutorial's counts (154 layers, 2 then 56 trainable
    variables) are Keras's."""
    from PIL import Image

    rng = np.random.default_rng(1)
    photos = tmp_path / "photos"
    for name, colour in (("cats", (200, 80, 40)), ("dogs", (40, 90, 200))):
        (photos / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(rng.normal(colour, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(photos / name / f"{i}.png")
    start = ac.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3))
    for layer in start.layers:  # statistics away from 0 and 1, so that a change would show
        if isinstance(layer, ac.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape) * 0.1)
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    start.save_weights(tmp_path / "start.weights.h5")
    initial = [[w.numpy().copy() for w in layer.weights] for layer in start.layers]
    argv = [str(photos), "--weights", str(tmp_path / "start.weights.h5"), "--size", "32"]
    monkeypatch.setattr(
        sys,
        "argv",
        ["tutorial", *argv, "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "4"],
    )
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "transfer_learning_mobilenet.py"), run_name="__main__")
    base = names["base_model"]
    assert len(base.layers) == 154
    moved = []
    for i, (layer, before) in enumerate(zip(base.layers, initial, strict=True)):
        after = [w.numpy() for w in layer.weights]
        if isinstance(layer, ac.layers.BatchNormalization):
            np.testing.assert_array_equal(after[2], before[2])  # moving mean
            np.testing.assert_array_equal(after[3], before[3])  # moving variance
        changed = any(not np.array_equal(a, b) for a, b in zip(after, before, strict=True))
        if i < 100:
            assert not changed, layer.name
        moved.append(changed)
    assert any(moved[100:])
    out = capsys.readouterr().out
    assert "Number of layers in the base model:  154" in out and "Predictions:" in out
    assert "\n2\n" in out and "\n56\n" in out  # the trainable variables, frozen and fine-tuned


def test_the_vision_transformer_tutorial_checkpoints_and_reloads(tmp_path, monkeypatch, capsys):
    """keras-io's ViT on a stand-in for CIFAR-100 (64 random 32x32x3 images of 100 classes) at
    small sizes: the fit's losses are finite, ModelCheckpoint wrote the weights file, the model
    reloaded it (its weights are the file's) before evaluating, and the accuracy is printed."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, (64, 1)).astype(np.uint8)
    stand_in = ((images[:48], labels[:48]), (images[48:], labels[48:]))
    monkeypatch.setattr(ac.datasets.cifar100, "load_data", lambda: stand_in)
    loaded, load_weights = [], ac.Model.load_weights

    def recorded_load_weights(model, path):
        loaded.append(path)
        return load_weights(model, path)

    monkeypatch.setattr(ac.Model, "load_weights", recorded_load_weights)
    checkpoint = tmp_path / "checkpoint.weights.h5"
    sizes = ["--epochs", "2", "--image-size", "16", "--patch-size", "4", "--projection-dim", "8"]
    sizes += ["--num-heads", "2", "--transformer-layers", "2", "--mlp-head-units", "32", "16"]
    argv = ["vision_transformer.py", *sizes, "--batch-size", "16", "--checkpoint", str(checkpoint)]
    monkeypatch.setattr(sys, "argv", argv)
    ac.utils.set_random_seed(0)
    try:
        names = runpy.run_path(str(EXAMPLES / "vision_transformer.py"), run_name="__main__")
    finally:
        matplotlib.pyplot.close("all")
    history = names["history"].history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert len(history["top-5-accuracy"]) == 2
    assert checkpoint.is_file() and loaded == [str(checkpoint)]
    fresh = names["create_vit_classifier"]()
    fresh.load_weights(checkpoint)
    trained = names["vit_classifier"].get_weights()
    for a, b in zip(fresh.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)
    out = capsys.readouterr().out
    assert "Patches per image: 16" in out and "Elements per patch: 48" in out
    assert re.search(r"^Test accuracy: \d+(\.\d+)?%$", out, re.MULTILINE)
    assert re.search(r"^Test top 5 accuracy: \d+(\.\d+)?%$", out, re.MULTILINE)


def test_the_variational_autoencoder_trains_with_its_own_train_step(monkeypatch, capsys):
    """keras-io's VAE: its train_step (in Keras's PyTorch-backend form) runs for each batch,
    and the epoch lines show the three trackers it returns."""
    monkeypatch.setattr(sys, "argv", ["vae.py", "--epochs", "2", "--samples", "256"])
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "variational_autoencoder.py"), run_name="__main__")
    history = names["history"].history
    assert sorted(history) == ["kl_loss", "loss", "reconstruction_loss"]
    assert history["loss"][1] < history["loss"][0]
    np.testing.assert_allclose(
        np.add(history["kl_loss"], history["reconstruction_loss"]), history["loss"], rtol=1e-4
    )
    assert "mean z of the first 1000 test digits" in capsys.readouterr().out


def test_the_text_classification_tutorial_runs_on_a_folder_of_texts(tmp_path, monkeypatch, capsys):
    """keras-io's text classification from scratch on a small aclImdb-like folder: the
    vectorization adapted and mapped, the convnet trained, evaluated and asked of a new text."""
    rng = np.random.default_rng(0)
    words = {"neg": ["awful", "boring", "dull"], "pos": ["great", "superb", "moving"]}
    for split, count in (("train", 20), ("test", 6)):
        for label, own in words.items():
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(count):
                text = " ".join(rng.choice([*own, "the", "film", "a", "was"], 12))
                (tmp_path / split / label / f"{i}.txt").write_text(f"{text}. <br /> The End!")
    argv = ["text_classification.py", str(tmp_path), "--epochs", "1", "--sequence-length", "30"]
    monkeypatch.setattr(sys, "argv", argv)
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "text_classification.py"), run_name="__main__")
    vocabulary = names["vectorize_layer"].get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and "end" in vocabulary and "<br" not in vocabulary
    assert np.isfinite(names["model"].history.history["val_loss"]).all()
    out = capsys.readouterr().out
    assert "Number of batches in raw_train_ds: 1" in out and "'a truly wonderful" in out


def test_the_captcha_ocr_tutorial_trains_and_reads_captchas(tmp_path, monkeypatch, capsys):
    """keras-io's captcha OCR on a few drawn captchas (PNG files named by their text): the
    endpoint layer's CTC loss trained for an epoch, the prediction model decoded to strings."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    for _ in range(24):
        text = "".join(rng.choice(list("2345bcdefg"), 5))
        image = Image.new("RGB", (200, 50), (240, 240, 240))
        ImageDraw.Draw(image).text((20, 15), text, fill=(30, 30, 30))
        image.save(tmp_path / f"{text}.png")
    monkeypatch.setattr(sys, "argv", ["captcha_ocr.py", str(tmp_path), "--epochs", "1"])
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "captcha_ocr.py"), run_name="__main__")
    history = names["history"].history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert names["prediction_model"].output_shape == (None, 50, len(names["characters"]) + 2)
    out = capsys.readouterr().out
    assert "Number of unique characters:  " in out and " -> " in out


def _switch_classifier(lib, sublayers_first):
    """keras.io's Switch Transformer in small (a mixture of 4 experts, its load-balancing loss
    added by a layer inside a layer), in ``lib``. Its Router and Switch make their sublayers
    before calling super().__init__() as keras.io's do, or first (Keras on PyTorch needs it:
    a torch Module takes no sublayer before its __init__). Two deviations that Keras on
    PyTorch needs too: the Input's batch size is fixed (Switch reshapes to the batch's token
    count), and the positions past an expert's capacity are one-hot encoded as -1 (zeros),
    which TensorFlow's one_hot gives for them and PyTorch's refuses."""
    layers, ops = lib.layers, lib.ops
    batch, tokens, embed, experts = 4, 8, 8, 4

    def init(layer):
        if sublayers_first:
            layers.Layer.__init__(layer)

    def finish(layer):
        if not sublayers_first:
            layers.Layer.__init__(layer)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            positions = self.pos_emb(ops.arange(start=0, stop=ops.shape(x)[-1], step=1))
            return self.token_emb(x) + positions

    class Router(layers.Layer):
        def __init__(self, num_experts, expert_capacity):
            init(self)
            self.num_experts = num_experts
            self.route = layers.Dense(units=num_experts)
            self.expert_capacity = expert_capacity
            finish(self)

        def call(self, inputs, training=False):
            router_probs = lib.activations.softmax(self.route(inputs), axis=-1)
            expert_gate, expert_index = ops.top_k(router_probs, k=1)
            expert_mask = ops.one_hot(expert_index, self.num_experts)
            density = ops.mean(expert_mask, axis=0)
            density_proxy = ops.mean(router_probs, axis=0)
            self.add_loss(ops.mean(density_proxy * density) * ops.cast(experts**2, "float32"))
            position = ops.cast(ops.cumsum(expert_mask, axis=0) * expert_mask, "int32")
            expert_mask *= ops.cast(ops.less(position, self.expert_capacity), "float32")
            expert_mask_flat = ops.sum(expert_mask, axis=-1)
            expert_gate *= expert_mask_flat
            position = ops.where(position < self.expert_capacity, position, -1)
            combined = ops.expand_dims(
                expert_gate
                * expert_mask_flat
                * ops.squeeze(ops.one_hot(expert_index, self.num_experts), 1),
                -1,
            ) * ops.squeeze(ops.one_hot(position, self.expert_capacity), 1)
            return ops.cast(combined, "float32"), combined

    class Switch(layers.Layer):
        def __init__(self, num_experts, embed_dim, ff_dim, num_tokens_per_batch):
            init(self)
            self.num_tokens_per_batch = num_tokens_per_batch
            self.embed_dim = embed_dim
            self.experts = [
                lib.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
                for _ in range(num_experts)
            ]
            self.expert_capacity = num_tokens_per_batch // num_experts
            self.router = Router(num_experts, self.expert_capacity)
            finish(self)

        def call(self, inputs):
            batch_size, num_tokens = ops.shape(inputs)[0], ops.shape(inputs)[1]
            inputs = ops.reshape(inputs, [self.num_tokens_per_batch, self.embed_dim])
            dispatch, combine = self.router(inputs)
            expert_inputs = ops.einsum("ab,acd->cdb", inputs, dispatch)
            pairs = zip(self.experts, ops.unstack(expert_inputs, axis=0), strict=True)
            outputs = [expert(x) for expert, x in pairs]
            combined = ops.einsum("abc,xba->xc", ops.stack(outputs, axis=1), combine)
            return ops.reshape(combined, [batch_size, num_tokens, self.embed_dim])

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ffn):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = ffn
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)

        def call(self, inputs, training=False):
            out1 = self.layernorm1(inputs + self.att(inputs, inputs))
            return self.layernorm2(out1 + self.ffn(out1))

    inputs = layers.Input(shape=(tokens,), batch_size=batch)
    x = TokenAndPositionEmbedding(tokens, 50, embed)(inputs)
    x = TransformerBlock(embed, 2, Switch(experts, embed, 8, batch * tokens))(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(2, activation="softmax")(layers.Dense(8, activation="relu")(x))
    return lib.Model(inputs=inputs, outputs=outputs)


def test_the_switch_transformer_tutorial_trains_as_kerass(keras):
    """keras.io's Switch Transformer: the experts a layer makes before its __init__ are its
    weights, fit takes data longer than the Input's fixed batch size, and the same weights
    give Keras's losses (the router's added loss included), metrics and predictions."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, (16, 8))
    y = rng.integers(0, 2, 16)
    ours, theirs = _switch_classifier(ac, False), _switch_classifier(keras, True)
    assert ours.count_params() == theirs.count_params() == 1766
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    results = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(
            optimizer=lib.optimizers.Adam(0.01),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        predictions = model.predict(x, batch_size=4, verbose=0)
        results.append((history, predictions, float(lib.ops.convert_to_numpy(model.losses[0]))))
    (history, predictions, added), (k_history, k_predictions, k_added) = results
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history[key], k_history[key], rtol=1e-5)
    np.testing.assert_allclose(predictions, k_predictions, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(added, k_added, rtol=1e-5)


def _tabtransformer(lib, vocabularies, numeric, use_column_embedding=False):
    """keras-io's TabTransformer (structured_data/tabtransformer.py) at a small size: the
    categorical features' embeddings through a transformer block, with the numeric ones."""
    layers, ops = lib.layers, lib.ops
    inputs = {name: layers.Input(name=name, shape=(), dtype="float32") for name in numeric}
    inputs |= {name: layers.Input(name=name, shape=(), dtype="float32") for name in vocabularies}
    embedded = [layers.Embedding(len(v), 8)(inputs[name]) for name, v in vocabularies.items()]
    numerical = layers.concatenate([ops.expand_dims(inputs[name], -1) for name in numeric])
    features = ops.stack(embedded, axis=1)
    if use_column_embedding:
        columns = layers.Embedding(input_dim=len(vocabularies), output_dim=8)
        features = features + columns(ops.arange(start=0, stop=len(vocabularies), step=1))
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.0)(features, features)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([attention, features]))
    mlp = lib.Sequential(
        [layers.LayerNormalization(epsilon=1e-6), layers.Dense(8, activation=lib.activations.gelu),
         layers.Dropout(0.0)], name="feedforward_0",
    )  # fmt: skip
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([mlp(x), x]))
    features = layers.concatenate(
        [layers.Flatten()(x), layers.LayerNormalization(epsilon=1e-6)(numerical)]
    )
    head = lib.Sequential(
        [layers.BatchNormalization(), layers.Dense(16, activation=lib.activations.selu)],
        name="MLP",
    )
    outputs = layers.Dense(units=1, activation="sigmoid", name="sigmoid")(head(features))
    model = lib.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=lib.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
        loss=lib.losses.BinaryCrossentropy(),
        metrics=[lib.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def test_the_tabtransformer_example_trains_and_saves_as_keras(keras, tmp_path):
    """keras-io's TabTransformer on a small table: the categories looked up by StringLookup
    before the model (its tf.data map, here on a Dataset), the rows weighted by a column; the
    same fit, evaluation and predictions as Keras's from the same weights, and each reads the
    other's .keras file. With its column embedding (a tensor computed while the model is
    defined) it trains too, where Keras on PyTorch fails at the second step."""
    rng = np.random.default_rng(0)
    vocabularies = {"workclass": [" Private", " State-gov", " ?"], "race": [" Black", " White"]}
    numeric = ["age", "hours_per_week"]
    table = {name: rng.normal(size=64).astype("float32") for name in numeric}
    for name, vocabulary in vocabularies.items():
        table[name] = np.array(vocabulary, dtype=object)[rng.integers(0, len(vocabulary), 64)]
    table["fnlwgt"] = rng.uniform(0.5, 2.0, 64).astype("float32")
    labels = np.where(table["age"] > 0, " >50K", " <=50K").astype(object)
    target_lookup = ac.layers.StringLookup(vocabulary=[" <=50K", " >50K"], num_oov_indices=0)
    lookups = {
        name: ac.layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)
        for name, vocabulary in vocabularies.items()
    }

    def prepare(features, target):
        weights = features.pop("fnlwgt")
        features |= {name: lookup(features[name]) for name, lookup in lookups.items()}
        return features, target_lookup(target), weights

    dataset = ac.data.Dataset.from_tensor_slices((table, labels)).batch(16).map(prepare).cache()
    x, y, w = prepare(dict(table), labels)

    ac.utils.set_random_seed(0)
    ours = _tabtransformer(ac, vocabularies, numeric)
    theirs = _tabtransformer(keras, vocabularies, numeric)
    ours.set_weights(theirs.get_weights())
    history = ours.fit(dataset, epochs=2, validation_data=dataset, verbose=0).history
    expected = theirs.fit(
        x, y, sample_weight=w, batch_size=16, epochs=2, shuffle=False,
        validation_data=(x, y, w), verbose=0,
    ).history  # fmt: skip
    assert sorted(history) == sorted(expected) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for name in expected:
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-4, atol=1e-6)
    predictions = ours.predict(x, verbose=0)
    np.testing.assert_allclose(predictions, theirs.predict(x, verbose=0), atol=1e-4)
    scores = [model.evaluate(x, y, sample_weight=w, verbose=0) for model in (ours, theirs)]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-4)

    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "ours.keras").predict(x, verbose=0), predictions,
        atol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        ac.saving.load_model(tmp_path / "theirs.keras").predict(x, verbose=0),
        theirs.predict(x, verbose=0), atol=1e-6,
    )  # fmt: skip

    with_columns = _tabtransformer(ac, vocabularies, numeric, use_column_embedding=True)
    losses = with_columns.fit(dataset, epochs=2, verbose=0).history["loss"]
    assert len(losses) == 2 and np.isfinite(losses).all()
