"""Models on the GPU against the same models on the CPU: a training step, ``fit``, every layer
type, conv variants, separable and residual blocks, normalization, random and embedding layers,
a warm step's allocations, a NaN's stop, saving, and the course model's step. On the simulator
or a GPU, as test_cuda.py says."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, models, step_replay
from autoconv import training as training_module
from autoconv.backends import namespace

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from tests.backends.cuda_checks import (  # noqa: E402
    SIMULATED,
    assert_same_on_both,
    tiny_data,
    tiny_model,
)


def twin_models() -> tuple[ac.Sequential, ac.Sequential]:
    """The same freshly initialized model twice: on the CPU and on the GPU."""
    ac.utils.set_random_seed(0)
    cpu_model, gpu_model = tiny_model(), tiny_model()
    gpu_model.set_weights(cpu_model.get_weights())
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    return cpu_model, gpu_model.to("cuda")


def loss_and_gradients(model, x, y, training):
    """The model's loss on (x, y) and the gradient of each trainable weight (NumPy)."""
    xp = namespace(model.device)
    (target,) = training_module.target_arrays(model, y, len(x), "test")  # makes the loss
    state = training_module.StepState(model)
    loss = model._loss([xp.asarray(x)], [xp.asarray(target)], None, training, state)[0]
    for weight in model.trainable_weights:
        weight.grad = None
    loss.backward()
    return loss.item(), [xp.to_numpy(w.grad) for w in model.trainable_weights]


def test_one_training_step_matches_cpu(rng):
    x, y = tiny_data(8, rng)
    results = []
    for model in twin_models():
        loss, grads = loss_and_gradients(model, x, y, training=True)
        step_loss, step_accuracy = model.train_on_batch(x, y)  # the step fit runs
        results.append((loss, step_loss, step_accuracy, grads, model.get_weights()))
    cpu, gpu = results
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-5)
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-5)
    assert gpu[2] == cpu[2]
    for a, b in zip(gpu[3] + gpu[4], cpu[3] + cpu[4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fit_on_the_gpu_matches_cpu_and_reads_back_only_to_report(monkeypatch, rng):
    x, y = tiny_data(40, rng)
    cpu_model, gpu_model = twin_models()
    cpu_history = cpu_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    reads = []
    to_numpy = cuda_backend.to_numpy
    monkeypatch.setattr(cuda_backend, "to_numpy", lambda a: reads.append(a.shape) or to_numpy(a))
    monkeypatch.setattr(cuda_backend.CudaArray, "__float__", lambda a: pytest.fail("read back"))
    monkeypatch.setattr(training_module, "SYNC_SECONDS", 1e9)  # report only at the end of an epoch
    gpu_history = gpu_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    # once per epoch (3 batches each): each metric's total and count, then the status
    assert reads == [(), (), (), (), (2,)] * 2
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(gpu_history.history[key], cpu_history.history[key], rtol=1e-4)
    np.testing.assert_allclose(
        gpu_model.evaluate(x, y, verbose=0), cpu_model.evaluate(x, y, verbose=0), rtol=1e-4
    )
    np.testing.assert_allclose(gpu_model.predict(x), cpu_model.predict(x), rtol=1e-4, atol=1e-6)


def test_weighted_metrics_with_sample_and_class_weights_on_the_gpu_as_on_the_cpu(rng):
    """compile's ``weighted_metrics`` weighed by fit's ``sample_weight`` (then by its
    ``class_weight``) on the GPU's step as on the CPU's, the plain metric unweighted."""
    x, y = tiny_data(24, rng)
    labels = y.argmax(axis=1)
    weights = rng.random(24).astype(np.float32)
    for fit_weights in ({"sample_weight": weights}, {"class_weight": {0: 0.5, 1: 2.0, 2: 1.0}}):
        histories = []
        for model in twin_models():
            weighted = ["accuracy", "sparse_categorical_crossentropy"]
            model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                          weighted_metrics=weighted)  # fmt: skip
            history = model.fit(x, labels, epochs=2, batch_size=8, shuffle=False, verbose=0,
                                **fit_weights).history  # fmt: skip
            histories.append(history)
        cpu, gpu = histories
        assert list(gpu) == list(cpu)
        assert "weighted_accuracy" in gpu
        for key, values in cpu.items():
            np.testing.assert_allclose(gpu[key], values, rtol=1e-4, err_msg=key)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mean_squared_error"])
def test_every_layer_type_runs_on_the_gpu_as_on_the_cpu(loss, rng):
    """Rescaling, same-padded strided conv, average pooling, dropout (inactive: training=False),
    activations, global pooling, sigmoid/tanh Dense, a softmax layer, from probabilities."""

    def model() -> ac.Sequential:
        return ac.Sequential(
            [
                layers.Rescaling(0.5, input_shape=(7, 7, 2)),
                layers.Conv2D(3, (2, 3), strides=2, padding="same", activation="tanh"),
                layers.AveragePooling2D(2, padding="same"),
                layers.Dropout(0.5),
                layers.ReLU(),
                layers.GlobalAveragePooling2D(),
                layers.Dense(4, activation="sigmoid"),
                layers.Dense(3),
                layers.Softmax(),
            ]
        )

    ac.utils.set_random_seed(1)
    cpu_model, gpu_model = model(), model()
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x = rng.standard_normal((5, 7, 7, 2)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 5), 3)
    results = []
    for m in (cpu_model, gpu_model):
        m.compile("sgd", loss)
        results.append(loss_and_gradients(m, x, y, training=False))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for gpu_grad, cpu_grad in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-4, atol=1e-6)
    history = gpu_model.fit(x, y, epochs=2, batch_size=2, validation_split=0.4, verbose=0)
    assert np.isfinite(history.history["val_loss"]).all()


def conv_variants_model(kind: str) -> ac.Model:
    """A tiny model of the convolution variants on images, or of the 1-D layers."""
    if kind == "images":
        inputs = ac.Input(shape=(5, 5, 4))
        x = layers.Conv2D(4, 3, padding="same", groups=2, activation="relu")(inputs)
        x = layers.SeparableConv2D(4, 2, depth_multiplier=2, activation="relu")(x)
        x = layers.DepthwiseConv2D(2, padding="same", activation="tanh")(x)
        x = layers.Conv2DTranspose(2, 3, strides=2, output_padding=1)(x)
        x = layers.GlobalMaxPooling2D()(x)
    else:
        inputs = ac.Input(shape=(8, 3))
        x = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(inputs)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(4, 2, padding="same", groups=2, activation="tanh")(x)
        x = layers.AveragePooling1D(3, strides=1, padding="same")(x)
        pooled = [layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
        x = layers.concatenate(pooled)
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("kind", ["images", "sequences"])
def test_conv_variants_and_1d_layers_run_on_the_gpu_as_on_the_cpu(kind, rng):
    """Grouped Conv2D, SeparableConv2D, DepthwiseConv2D, Conv2DTranspose; causal and grouped
    Conv1D, MaxPooling1D, AveragePooling1D and the 1-D global poolings: the same loss,
    gradients and training step on both devices."""
    ac.utils.set_random_seed(2)
    cpu_model, gpu_model = conv_variants_model(kind), conv_variants_model(kind)
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x = rng.standard_normal((3, *cpu_model.inputs[0].shape[1:])).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 3), 3)
    results = []
    for m in (cpu_model, gpu_model):
        m.compile("sgd", "categorical_crossentropy")
        loss, grads = loss_and_gradients(m, x, y, training=True)
        m.train_on_batch(x, y)
        results.append((loss, grads, m.get_weights()))
    (cpu_loss, cpu_grads, cpu_weights), (gpu_loss, gpu_grads, gpu_weights) = results
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-5)
    for gpu, cpu in zip(gpu_grads + gpu_weights, cpu_grads + cpu_weights, strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


def test_a_separable_block_with_its_batch_norm_folded_predicts_on_the_gpu_as_on_the_cpu(rng):
    """keras-io's Xception block at inference: the SeparableConv2D's batch norm folded into
    its pointwise kernel, the ReLU and a strided 3x3 'same' pooling in that product's pass."""

    def model() -> ac.Sequential:
        return ac.Sequential(
            [
                layers.Input(shape=(7, 7, 2)),
                layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.MaxPooling2D(3, strides=2, padding="same"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(3),
            ]
        )

    ac.utils.set_random_seed(4)
    cpu_model, gpu_model = model(), model()
    assert cpu_model.plan.steps[0].rule == "fold_batch_norm"
    weights = cpu_model.get_weights()
    gamma, beta, mean = rng.random(4) + 0.5, rng.standard_normal(4), rng.standard_normal(4)
    weights[3:7] = [gamma, beta, mean, rng.random(4) + 0.5]  # the last: moving variance
    cpu_model.set_weights(weights)
    gpu_model.set_weights(weights)
    gpu_model.to("cuda")
    x = rng.standard_normal((3, 7, 7, 2)).astype(np.float32)
    expected = cpu_model.predict(x, verbose=0)
    np.testing.assert_allclose(gpu_model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_residual_separable_block_trains_on_the_gpu_as_on_the_cpu(rng):
    """keras-io's Xception block in training, as the plan runs it: a ReLU in the first
    SeparableConv2D's depthwise pass, each SeparableConv2D without its bias, its batch norm
    adding the bias as it reads (then the ReLU in its passes, or the pooling after), a batch
    norm read by a ReLU alone after an add: three steps of fit on the GPU track the CPU's
    weights, biases and moving statistics included."""

    def model() -> ac.Model:
        ac.utils.set_random_seed(6)
        inputs = ac.Input(shape=(7, 7, 2))
        x = layers.SeparableConv2D(4, 3, padding="same")(layers.ReLU()(inputs))
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.BatchNormalization()(layers.SeparableConv2D(4, 3, padding="same")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.add([x, layers.Conv2D(4, 1, strides=2, padding="same")(inputs)])
        x = layers.ReLU()(layers.BatchNormalization()(x))
        outputs = layers.Dense(3)(layers.GlobalAveragePooling2D()(x))
        return ac.Model(inputs, outputs)

    cpu_model, gpu_model = model(), model()
    rules = [step.rule for step in cpu_model.plan.steps]
    assert rules.count("fold_batch_norm") == 2 and "batch_norm_relu" in rules
    assert cpu_model.plan.steps[0].before is not None
    for k, layer in enumerate(cpu_model.layers):  # biases not 0: the batch norms add them
        if isinstance(layer, layers.SeparableConv2D):
            depthwise, pointwise, bias = layer.get_weights()
            moved = [depthwise, pointwise, bias + rng.standard_normal(bias.shape) * 3]
            layer.set_weights(moved)
            gpu_model.layers[k].set_weights(moved)
    gpu_model.to("cuda")
    x = rng.standard_normal((8, 7, 7, 2)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    for fitted in (cpu_model, gpu_model):
        fitted.compile(ac.optimizers.SGD(0.1), "mse")
        fitted.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        fitted.fit(x[:4], y[:4], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for gpu, cpu in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


def normalization_model(adapt_on: np.ndarray) -> ac.Sequential:
    """Every normalization and activation layer with weights or state (no random ones)."""
    adapted = layers.Normalization()
    adapted.adapt(adapt_on)
    return ac.Sequential(
        [
            layers.Input(shape=(6, 6, 2)),
            adapted,
            layers.Normalization(mean=[0.5, -0.5], variance=[4.0, 1.0]),
            layers.Conv2D(3, 3, use_bias=False),
            layers.BatchNormalization(momentum=0.5),
            layers.ReLU(),
            layers.MaxPooling2D(2),  # inference: conv, batch norm, ReLU, pool as one op
            layers.PReLU(alpha_initializer="random_normal", shared_axes=[1, 2]),
            layers.LayerNormalization(),
            layers.LeakyReLU(),
            layers.ELU(0.5),
            layers.Flatten(),
            layers.Dense(4),
            layers.BatchNormalization(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def test_normalization_layers_train_on_the_gpu_as_on_the_cpu(rng):
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32) * 2 + 1
    y = ac.utils.to_categorical(np.arange(8) % 3, 3)
    ac.utils.set_random_seed(2)
    cpu_model, gpu_model = normalization_model(x), normalization_model(x)
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    results = []
    for model in (cpu_model, gpu_model):
        # SGD, not Adam: Dense(4)'s bias, right before a BatchNormalization, has a gradient of zero
        # but for rounding, which Adam's step (m / (sqrt(v) + eps)) blows up to ~1e-5 with the
        # sign of each device's rounding (seen on an H100; the simulator rounds as the CPU).
        model.compile("sgd", "categorical_crossentropy")
        results.append(loss_and_gradients(model, x, y, training=True))  # batch statistics
        model.train_on_batch(x, y)  # moving statistics updated on the device
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for gpu_grad, cpu_grad in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-4, atol=1e-5)
    for gpu_weight, cpu_weight in zip(
        gpu_model.get_weights(), cpu_model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(gpu_weight, cpu_weight, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        gpu_model.predict(x, verbose=0), cpu_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )


def test_random_layers_on_the_gpu_draw_there():
    ac.utils.set_random_seed(3)
    x = ac.Tensor(np.ones((40, 100), np.float32), requires_grad=True, device="cuda")
    noisy = layers.GaussianNoise(0.5)(x, training=True)
    noise = noisy.numpy() - 1
    assert noisy.device == "cuda" and noisy.dtype == np.float32
    assert abs(noise.mean()) < 0.03 and abs(noise.std() - 0.5) < 0.03
    assert abs((abs(noise) < 0.5).mean() - 0.6827) < 0.03  # normal: 68% within 1 sigma
    noisy.sum().backward()
    np.testing.assert_array_equal(namespace("cuda").to_numpy(x.grad), np.ones((40, 100)))
    seeded = [layers.GaussianDropout(0.3, seed=4)(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    assert abs(seeded[0].std() - np.sqrt(0.3 / 0.7)) < 0.03
    maps = ac.Tensor(np.ones((6, 3, 3, 8), np.float32), device="cuda")
    out = layers.SpatialDropout2D(0.5)(maps, training=True).numpy()
    assert ((out == 0).all(axis=(1, 2)) | (out == 2).all(axis=(1, 2))).all() and (out == 0).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_lookup_and_its_scatter_add_match_cpu(dtype, rng):
    from autoconv.layers.embedding import embedding_lookup

    indices = np.array([[0, 3, 3], [5, 0, 3]])  # repeats: atomic adds into one row
    assert_same_on_both(
        lambda table: embedding_lookup(table, indices), [rng.standard_normal((6, 4))], rng, dtype
    )


def test_embedding_layer_trains_on_the_gpu_as_on_the_cpu(rng):
    x = rng.integers(0, 12, (16, 5))
    y = rng.integers(0, 2, 16)

    def model(device):
        ac.utils.set_random_seed(3)
        built = models.Sequential([layers.Input((5,)), layers.Embedding(12, 3), layers.Flatten(),
                                   layers.Dense(2, activation="softmax")])  # fmt: skip
        built.compile("adam", "sparse_categorical_crossentropy")
        return built.to(device)

    cpu_model, gpu_model = model("cpu"), model("cuda")
    for built in (cpu_model, gpu_model):
        built.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for gpu, cpu in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


def test_alpha_dropout_on_the_gpu_is_keras_affine_map():
    x = ac.Tensor(np.linspace(-2, 2, 400).reshape(4, 100), requires_grad=True, device="cuda")
    out = layers.AlphaDropout(0.5, noise_shape=(None, 1), seed=1, dtype="float64")(x, training=True)
    assert out.device == "cuda"
    out.sum().backward()
    grad = namespace("cuda").to_numpy(x.grad)
    kept = grad[:, :1] != 0  # one draw per row (noise_shape)
    a, b, dropped = 0.8864048946659319, 0.7791939305180311, -0.779193930518  # Keras's, rate 0.5
    want = np.where(kept, a * x.numpy() + b, dropped)
    np.testing.assert_allclose(out.numpy(), want, atol=1e-10)
    np.testing.assert_allclose(grad, np.broadcast_to(np.where(kept, a, 0.0), grad.shape))


def test_sparse_labels_and_shuffling_on_the_gpu(rng):
    x, y = tiny_data(24, rng)
    _, gpu_model = twin_models()
    gpu_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = gpu_model.fit(x, y.argmax(axis=1), epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        gpu_model.fit(x, np.full(24, 3), epochs=1, verbose=0)


@pytest.mark.parametrize("replayed", [False, True], ids=["eager", "replayed"])
def test_a_step_allocates_nothing_new_once_warm(replayed, monkeypatch, rng):
    """The buffer pool hands a step back the buffers of the last one; a replayed step (from
    the fourth call: the slots made, then two recordings) launches on the recorded ones."""
    if not replayed:
        monkeypatch.setattr(step_replay, "ATTEMPTS", 0)
    x, y = tiny_data(8, rng)
    _, model = twin_models()

    def step():
        model.train_on_batch(x, y)

    for _ in range(4 if replayed else 2):
        step()
    allocations = []
    device_array = cuda_backend.runtime.device_array  # the name the buffer pool allocates by
    monkeypatch.setattr(
        cuda_backend.runtime,
        "device_array",
        lambda *a: allocations.append(a) or device_array(*a),
    )
    step()
    assert allocations == []


def test_nan_on_the_gpu_stops_training_and_keeps_the_weights(rng):
    x, y = tiny_data(32, rng)
    x[20] = np.nan  # in the second batch of 16
    _, model = twin_models()
    model.fit(x[:16], y[:16], epochs=1, batch_size=16, shuffle=False, verbose=0)
    before = model.get_weights()
    with pytest.raises(models.TrainingDivergedError, match="epoch 1, batch 2"):
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    after = model.get_weights()
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_save_a_gpu_model_and_load_it_on_the_cpu(tmp_path, rng):
    x, y = tiny_data(16, rng)
    _, model = twin_models()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = ac.models.load_model(tmp_path / "m.keras")
    for mine, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(SIMULATED, reason="needs a real GPU (this run uses the CUDA simulator)")
def test_reference_model_step_at_batch_64_matches_cpu(rng):
    from autoconv.course import reference_model

    ac.utils.set_random_seed(0)
    cpu_model = reference_model((28, 28, 1))
    gpu_model = reference_model((28, 28, 1))
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 10, 64), 10)
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy")
        model.train_on_batch(x, y)
    for mine, theirs in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)
