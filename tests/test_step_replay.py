"""fit's replayed steps (autoconv/step_replay.py, autoconv/backends/cuda/capture.py): on the GPU
(the simulator here) a fit whose steps are replayed ends with the weights, optimizer state,
metrics and history of a fit whose steps all ran eagerly, to the bit; steps that cannot be
replayed say why and run eagerly.

(Over ~600 lines on purpose: one mechanism, every test comparing a replayed fit with an eager
one through the same helpers.)"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import kept as kept_module
from autoconv import layers, step_replay

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends.cuda import capture  # noqa: E402 - needs numba-cuda


def data(samples: int = 30, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((samples, 6, 6, 1), dtype=np.float32)
    return x, np.eye(classes, dtype=np.float32)[rng.integers(0, classes, samples)]


def convnet(optimizer, extra=()) -> ac.Model:
    ac.utils.set_random_seed(0)
    model = ac.Sequential(
        [
            layers.Input((6, 6, 1)),
            layers.Conv2D(2, 3, activation="relu"),
            *extra,
            layers.Flatten(),
            layers.Dense(4, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    ).to("cuda")
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    return model


def state_of(model: ac.Model) -> list[np.ndarray]:
    slots = [np.asarray(ac.backends.namespace("cuda").to_numpy(s)) for own in
             model.optimizer.slots for s in own.values()]  # fmt: skip
    return [w.numpy() for w in model.weights] + slots


def assert_same_state(replayed: ac.Model, eager: ac.Model) -> None:
    """The two models' weights and optimizer slots, to the bit."""
    for got, want in zip(state_of(replayed), state_of(eager), strict=True):
        np.testing.assert_array_equal(got, want)


def fit_both(make, monkeypatch, **fit):
    x, y = data()
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = make()
        eager_history = eager.fit(x, y, verbose=0, **fit).history
    replayed = make()
    history = replayed.fit(x, y, verbose=0, **fit).history
    return eager, eager_history, replayed, history


OPTIMIZERS = {
    "rmsprop": lambda: "rmsprop",
    "adam with a schedule": lambda: ac.optimizers.Adam(
        ac.optimizers.schedules.ExponentialDecay(1e-2, 3, 0.5)
    ),
    "sgd with momentum": lambda: ac.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "lamb with a schedule": lambda: ac.optimizers.Lamb(
        ac.optimizers.schedules.ExponentialDecay(1e-2, 3, 0.5)
    ),
    "adafactor": lambda: ac.optimizers.Adafactor(0.05, clip_threshold=0.5, weight_decay=0.01),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS), ids=list(OPTIMIZERS))
def test_replayed_steps_train_as_the_eager_ones(optimizer, monkeypatch):
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet(OPTIMIZERS[optimizer]()), monkeypatch, epochs=2, batch_size=4
    )
    runner = replayed._step_replay
    assert runner.why is None, runner.why
    # 7 full batches an epoch: the first epoch's first three are recorded (the first differs:
    # it makes the optimizer's slots), every later one replayed, the second epoch's too (the
    # shuffled order is refilled in place); the last batch of 2 is a kind of its own
    assert runner.replayed == 4 + 7
    assert replayed.optimizer.iterations == eager.optimizer.iterations == 16
    assert history == eager_history
    assert_same_state(replayed, eager)


def test_dropout_and_batch_norm_replay_with_a_new_mask_each_step(monkeypatch):
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet("adam", (layers.BatchNormalization(), layers.Dropout(0.5))),
        monkeypatch, epochs=1, batch_size=4,
    )  # fmt: skip
    assert replayed._step_replay.replayed >= 3, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)


AUGMENTATIONS = {
    "flip": lambda: layers.RandomFlip(),
    "rotation": lambda: layers.RandomRotation(0.1),
    "rotation, crop mode": lambda: layers.RandomRotation(0.2, fill_mode="crop"),
    "zoom": lambda: layers.RandomZoom(0.2, 0.1),
    "translation": lambda: layers.RandomTranslation(0.2, 0.2),
    "contrast": lambda: layers.RandomContrast(0.3, value_range=(0, 1)),
    "brightness": lambda: layers.RandomBrightness(0.2, value_range=(0, 1)),
    "crop": lambda: layers.RandomCrop(5, 4),
}


def augmented(front: list, steps_per_execution: int = 1):
    """A maker of a small convnet on the GPU with the layers ``front`` makes in front of it."""

    def make() -> ac.Model:
        ac.utils.set_random_seed(0)
        model = ac.Sequential(
            [layers.Input((6, 6, 1)), *(layer() for layer in front),
             layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
             layers.Dense(3, activation="softmax")]
        ).to("cuda")  # fmt: skip
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=steps_per_execution)  # fmt: skip
        return model

    return make


@pytest.mark.parametrize("augmentation", list(AUGMENTATIONS), ids=list(AUGMENTATIONS))
def test_augmentation_layers_replay_with_new_draws_each_step(augmentation, monkeypatch):
    """A layer's draws (an affine transform per image, a factor, a crop's place) reach the
    device as step inputs: a replayed step draws anew, as the eager one does, so the fits agree
    to the bit (a replay that kept the recorded draws would not)."""
    make = augmented([AUGMENTATIONS[augmentation]])
    eager, eager_history, replayed, history = fit_both(make, monkeypatch, epochs=1, batch_size=4)
    assert replayed._step_replay.replayed >= 3, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)


def test_augmented_steps_replay_several_to_a_launch_each_with_its_own_draws(monkeypatch):
    """With steps_per_execution, each replayed step of a launch reads its draws from its own
    slot of the step inputs."""
    make = augmented([AUGMENTATIONS[name] for name in ("flip", "rotation", "contrast")], 4)
    eager, eager_history, replayed, history = fit_both(make, monkeypatch, epochs=2, batch_size=4)
    assert replayed._step_replay.replayed >= 8, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)


def test_any_metric_replays_as_its_state_is_updated_in_place(monkeypatch):
    """A binary classifier (Xception's and the cats-vs-dogs tutorial's kind) with metrics that
    keep several state arrays: every metric writes into the arrays the replay recorded."""

    def make() -> ac.Model:
        ac.utils.clear_session()  # its metrics' names as the first's (not precision_1)
        ac.utils.set_random_seed(0)
        model = ac.Sequential(
            [layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(1, activation="sigmoid")]
        ).to("cuda")
        metrics = ["accuracy", ac.metrics.Precision(), ac.metrics.AUC(num_thresholds=5)]
        model.compile("adam", "binary_crossentropy", metrics=metrics)
        return model

    x, y = data()
    labels = y[:, :1]
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager_history = make().fit(x, labels, epochs=1, batch_size=4, verbose=0).history
    replayed = make()
    history = replayed.fit(x, labels, epochs=1, batch_size=4, verbose=0).history
    assert replayed._step_replay.replayed >= 4, replayed._step_replay.why
    assert history == eager_history


class _Penalty(layers.Layer):
    def call(self, x):
        self.add_loss(0.01 * ac.ops.mean(ac.ops.square(x)))
        return x


def test_a_layers_added_loss_replays_and_stays_in_the_models_losses(monkeypatch):
    """A layer's add_loss (keras.io's Switch Transformer's router adds one): its steps replay
    as the eager ones train, and the model's ``losses`` keep the last step's value, as Keras's,
    without holding the step's graph or stopping the replay."""
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet("adam", (layers.Flatten(), _Penalty())),
        monkeypatch,
        epochs=2,
        batch_size=4,
    )
    assert replayed._step_replay.replayed == 4 + 7, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)
    assert len(replayed.losses) == 1 and not replayed.losses[0].requires_grad


def test_steps_per_execution_replays_an_execution_in_one_launch(monkeypatch):
    """compile(steps_per_execution=3), each execution a launch of its own (LAUNCH_KERNELS 0):
    the replayed steps of an execution are staged and launched together, each reading its own
    step inputs (the batch's place, the step number, Adam's bias corrections, a dropout seed),
    and train as the eager steps do, to the bit."""
    monkeypatch.setattr(step_replay, "LAUNCH_KERNELS", 0)
    launched: list[int] = []
    replays: list[capture.Replay] = []
    real_launch = capture.Replay.launch

    def counted(replay: capture.Replay, **whole) -> None:
        launched.append(replay.staged)
        replays.append(replay)
        real_launch(replay, **whole)

    monkeypatch.setattr(capture.Replay, "launch", counted)

    def make() -> ac.Model:
        model = convnet("adam", (layers.Dropout(0.5),))
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=3)  # fmt: skip
        return model

    eager, eager_history, replayed, history = fit_both(make, monkeypatch, epochs=2, batch_size=4)
    runner = replayed._step_replay
    assert runner.replayed >= 9, runner.why
    assert max(launched) == 3 and sum(launched) == runner.replayed
    assert {len(replay._replicas) for replay in replays} == {3}  # 3 slots of step inputs
    assert replayed.optimizer.iterations == eager.optimizer.iterations == 16
    assert history == eager_history
    assert_same_state(replayed, eager)


def counted_launches(monkeypatch) -> list[int]:
    """The steps of each launch of replayed steps, from now on."""
    launched: list[int] = []
    real_launch = capture.Replay.launch

    def counted(replay: capture.Replay, **whole) -> None:
        if replay.staged:
            launched.append(replay.staged)
        real_launch(replay, **whole)

    monkeypatch.setattr(capture.Replay, "launch", counted)
    return launched


class EveryBatch(ac.callbacks.Callback):
    """A callback with a batch hook (so every batch's step is launched before it runs)."""

    def __init__(self, hook: str) -> None:
        super().__init__()
        self.calls = 0
        setattr(self, hook, self.called)

    def called(self, batch, logs=None):
        self.calls += 1


@pytest.mark.parametrize(
    ("hook", "launches"),
    [
        (None, [4, 7]),  # each epoch's replayed steps in one launch (its 7 full batches)
        ("on_train_batch_end", [1] * 11),
        ("on_train_batch_begin", [1] * 11),
    ],
)
def test_replayed_steps_wait_to_be_launched_together_unless_a_batch_hook_runs(
    hook, launches, monkeypatch
):
    """Where no batch callback runs between them, replayed steps are staged and launched
    together (as many as hold LAUNCH_KERNELS kernels: all of an epoch's here), and train as
    the eager steps do, to the bit; a batch hook has each step launched before it runs."""
    monkeypatch.setattr(step_replay, "LAUNCH_KERNELS", 10**6)
    callbacks = [] if hook is None else [EveryBatch(hook)]
    launched = counted_launches(monkeypatch)  # (the eager fit launches no replayed step)
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet("adam", (layers.Dropout(0.5),)), monkeypatch, epochs=2, batch_size=4,
        callbacks=callbacks,
    )  # fmt: skip
    assert launched == launches, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)


def test_steps_staged_when_a_pass_is_interrupted_are_launched(monkeypatch):
    """An interrupt mid-epoch (here from the batches' iterator) launches the replayed steps
    staged so far: the model ends as one trained eagerly up to the same batch."""
    from autoconv import array_batches as batches

    real_batches = batches.ArrayBatches.batches

    def interrupted(self, *args, **kwargs):
        for number, batch in enumerate(real_batches(self, *args, **kwargs)):
            if number == 6:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(step_replay, "LAUNCH_KERNELS", 10**6)
    monkeypatch.setattr(batches.ArrayBatches, "batches", interrupted)
    models = []
    for attempts in (0, step_replay.ATTEMPTS):
        monkeypatch.setattr(step_replay, "ATTEMPTS", attempts)
        models.append(convnet("rmsprop"))
        with pytest.raises(KeyboardInterrupt):
            models[-1].fit(*data(), epochs=1, batch_size=4, verbose=0)
    eager, replayed = models
    assert replayed._step_replay.replayed == 3 and replayed._step_replay.pending is None
    assert replayed.optimizer.iterations == eager.optimizer.iterations == 6
    assert_same_state(replayed, eager)


def test_unshuffled_batches_and_validation_steps_replay_as_well(monkeypatch):
    """shuffle=False: batches in order, gathered at a step input so they replay; the
    validation data's test steps replay too (one runner over the fit: the same arrays every
    epoch), with the logs of eager steps."""
    x, y = data()
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet("rmsprop", (layers.BatchNormalization(),)), monkeypatch, epochs=2,
        batch_size=4, shuffle=False, validation_data=(x[:13], y[:13]),
    )  # fmt: skip
    assert replayed._step_replay.replayed >= 10, replayed._step_replay.why
    assert replayed._test_replay.replayed >= 4, replayed._test_replay.why  # of 6 full batches
    assert history == eager_history
    assert_same_state(replayed, eager)


@pytest.mark.parametrize("every", [1, 2])
def test_evaluate_replays_its_test_steps(every, monkeypatch):
    x, y = data()
    model = convnet("adam", (layers.BatchNormalization(), layers.Dropout(0.5)))
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=every)  # fmt: skip
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert model._test_replay.replayed == 0
    replayed = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert model._test_replay.replayed >= 4, model._test_replay.why
    assert replayed == eager


@pytest.mark.parametrize("every", [1, 3])
def test_predict_replays_and_writes_each_batch_at_its_rows(every, monkeypatch):
    """predict on arrays: each batch gathered at a step input, its outputs written on the
    device at its rows (put_rows), replayed; the same outputs as eager batches."""
    x, _ = data()
    model = convnet("rmsprop", (layers.BatchNormalization(),))
    model.compile("rmsprop", "categorical_crossentropy", steps_per_execution=every)
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = model.predict(x, batch_size=4, verbose=0)
    assert model._predict_replay.replayed == 0
    replayed = model.predict(x, batch_size=4, verbose=0)
    assert model._predict_replay.replayed >= 4, model._predict_replay.why
    assert replayed.shape == (30, 3)
    np.testing.assert_array_equal(replayed, eager)
    np.testing.assert_array_equal(model.predict(x[:7], batch_size=4, verbose=0), eager[:7])


def test_predict_calls_replay_the_steps_an_earlier_call_recorded(monkeypatch):
    """A GPU model keeps predict's batches, outputs and runner for inputs of one shape: a later
    call (other values copied into the same device arrays) replays every batch the earlier
    calls recorded; new weights set in place are read; inputs of another shape, the model
    moved, or another thread predicting at the same time get batches and a runner of their
    own. Every output as an eager model's, to the bit."""
    x, _ = data()
    other = np.random.default_rng(1).random(x.shape, dtype=np.float32)
    model, reference = convnet("rmsprop"), convnet("rmsprop")

    def eager(inputs):
        with monkeypatch.context() as eager_only:
            eager_only.setattr(step_replay, "ATTEMPTS", 0)
            return reference.predict(inputs, batch_size=4, verbose=0)

    def check(inputs, want):
        np.testing.assert_array_equal(model.predict(inputs, batch_size=4, verbose=0), eager(want))
        return model._predict_replay

    # 7 batches of 4 and 1 of 2: the first three of 4 recorded (the first makes the outputs'
    # arrays, so its tape differs), the one of 2 once; then every batch replays
    runner = check(x, x)
    assert runner.replayed == 4
    assert check(other, other) is runner and runner.replayed == 4 + 7  # the batch of 2 again
    assert check(x, x) is runner and runner.replayed == 4 + 7 + 8
    weights = [w * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    reference.set_weights(weights)
    assert check(x, x) is runner and runner.replayed == 4 + 7 + 8 + 8
    on_device = ac.Tensor(other).to("cuda")  # read where it is: the array itself is the key
    assert check(on_device, other) is not runner
    assert check(on_device, other).replayed == 4 + 7
    kept = model._predict_replay
    model.__dict__["_kept_calls"]["predict"].busy = True  # another thread's call under way
    assert check(on_device, other) is not kept and kept.replayed == 4 + 7
    model.__dict__["_kept_calls"]["predict"].busy = False
    assert check(on_device, other) is kept and kept.replayed == 4 + 7 + 8
    model.to("cpu").to("cuda")  # new weight arrays: recorded anew
    assert check(on_device, other) is not kept
    kept = model._predict_replay
    monkeypatch.setattr(kept_module, "KEPT_INPUT_BYTES", x.nbytes - 1)  # too big to keep
    first = check(x, x)
    assert first is not kept and check(x, x) is not first  # a runner of its own each call


def test_evaluate_calls_replay_the_steps_an_earlier_call_recorded(monkeypatch):
    """As predict's: a GPU model keeps evaluate's batches (inputs, targets, sample weights on
    the device) and runner for arrays of one shape; a later call replays every batch; sample
    weights where there were none, or the model compiled again with other metrics, record anew.
    The loss and metrics as an eager model's, to the bit."""
    x, y = data()
    rng = np.random.default_rng(1)
    other_x = rng.random(x.shape, dtype=np.float32)
    other_y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, len(x))]
    weights = rng.random(len(x)).astype(np.float32)
    model, reference = convnet("rmsprop"), convnet("rmsprop")

    def check(*given, **options):
        logs = model.evaluate(*given, batch_size=4, verbose=0, return_dict=True, **options)
        with monkeypatch.context() as eager_only:
            eager_only.setattr(step_replay, "ATTEMPTS", 0)
            want = reference.evaluate(*given, batch_size=4, verbose=0, return_dict=True, **options)
        assert logs == want
        return model._test_replay

    runner = check(x, y)
    first = runner.replayed
    assert check(other_x, other_y) is runner and runner.replayed == first + 7  # (the 2: again)
    assert check(x, y) is runner and runner.replayed == first + 7 + 8
    weighted = check(x, y, sample_weight=weights)
    assert weighted is not runner and check(x, y, sample_weight=weights) is weighted
    for compiled in (model, reference):
        compiled.compile("rmsprop", "categorical_crossentropy", metrics=["mae"])
    assert check(x, y) is not weighted


@pytest.mark.parametrize("every", [1, 2])
@pytest.mark.parametrize("pixels", [False, True], ids=["float32", "uint8"])
def test_predict_on_a_dataset_replays_its_batches_at_their_rows(pixels, every, monkeypatch):
    """predict on a Dataset: each batch loaded into the arrays of its shapes, its outputs written
    at its rows on the device (room made for the dataset's batches), replayed; an element's y is
    ignored (here of a shape the model does not give), as in Keras."""
    x, _ = data()
    inputs = (x * 255).astype(np.uint8) if pixels else x
    wrong_targets = np.zeros((30, 7), np.float32)
    dataset = ac.data.Dataset.from_tensor_slices((inputs, wrong_targets)).batch(4)
    model = convnet("rmsprop", (layers.Rescaling(0.5), layers.BatchNormalization()))
    model.compile("rmsprop", "categorical_crossentropy", steps_per_execution=every)
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = model.predict(inputs, batch_size=4, verbose=0)
    assert model._predict_replay.replayed == 0
    replayed = model.predict(dataset, verbose=0)
    # 7 full batches: three recorded (the first makes the outputs' arrays), four replayed; the
    # last, of 2 rows, recorded
    assert model._predict_replay.replayed == 4, model._predict_replay.why
    assert replayed.shape == (30, 3)
    np.testing.assert_array_equal(replayed, eager)
    np.testing.assert_array_equal(model.predict(dataset, steps=2, verbose=0), eager[:8])


def test_predict_on_a_dataset_of_unknown_length_makes_room_as_batches_come(monkeypatch):
    """A dataset whose length is unknown: the outputs' arrays start at one batch's rows and
    double when full (the rows done copied, the recorded steps dropped); the outputs are the
    eager ones."""
    x, _ = data()
    dataset = ac.data.Dataset.from_tensor_slices(x).batch(5).unbatch().batch(4)
    assert dataset.cardinality() == ac.data.UNKNOWN_CARDINALITY
    model = convnet("rmsprop")
    grown = []
    real_grow = ac.training.Predictions.grow
    monkeypatch.setattr(ac.training.Predictions, "grow", lambda p, count: grown.append(
                        len(p.results[0])) or real_grow(p, count))  # fmt: skip
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = model.predict(x, batch_size=4, verbose=0)
    replayed = model.predict(dataset, verbose=0)
    assert grown == [4, 8, 16]  # 4 rows made at the first batch, room for 8, 16, 32
    assert model._predict_replay.replayed == 1  # batches 5, 6 recorded, 7 replayed; 8 is short
    np.testing.assert_array_equal(replayed, eager)


@pytest.mark.parametrize("unknown_length", [False, True])
def test_predict_replays_outputs_whose_rows_are_not_the_samples(unknown_length, monkeypatch):
    """An output of other rows than samples (pairs of rows, a sum over the batch) beside one of
    a row per sample: each output's batches written after its own rows done, replayed (room
    made as batches come for a dataset of unknown length); the outputs are the CPU's."""
    x = np.random.default_rng(0).random((30, 4), dtype=np.float32)
    inputs = ac.Input((4,))
    model = ac.Model(inputs, [ac.ops.square(inputs), ac.ops.reshape(inputs, (-1, 2, 4)),
                              ac.ops.sum(inputs, axis=0, keepdims=True)])  # fmt: skip
    want = model.predict(x, batch_size=4, verbose=0)
    data = ac.data.Dataset.from_tensor_slices(x).batch(4)
    if unknown_length:
        data = data.unbatch().batch(4)
    got = model.to("cuda").predict(data, verbose=0)
    assert model._predict_replay.replayed >= 1, model._predict_replay.why
    assert [g.shape for g in got] == [(30, 4), (15, 2, 4), (8, 4)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_uint8_inputs_stay_uint8_on_the_gpu_and_replay(monkeypatch):
    """uint8 pixels gathered as they are and made float32 inside the step: replayed steps
    train as eager ones and as float32 inputs of the same values."""
    x, y = data()
    pixels = (x * 255).astype(np.uint8)
    histories = []
    for inputs, attempts in ((pixels, 0), (pixels, step_replay.ATTEMPTS), (pixels * 1.0, 3)):
        with monkeypatch.context() as patched:
            patched.setattr(step_replay, "ATTEMPTS", attempts)
            model = convnet("rmsprop", (layers.Rescaling(1 / 255),))
            histories.append(model.fit(inputs, y, batch_size=4, verbose=0).history)
            assert model._step_replay.replayed == (4 if attempts else 0)
    assert histories[0] == histories[1] == histories[2]


@pytest.mark.parametrize("pixels", [False, True], ids=["float32", "uint8"])
def test_a_datasets_batches_are_loaded_into_their_place_and_replay(pixels, monkeypatch):
    """fit and evaluate on a Dataset (shuffled each epoch, validation data as a dataset too):
    each batch is copied into the arrays of its shapes before its step, so the steps replay,
    each launched as it comes even with steps_per_execution; the same training as eager
    steps, to the bit."""
    x, y = data()
    inputs = (x * 255).astype(np.uint8) if pixels else x

    def batches(count: int) -> ac.data.Dataset:
        dataset = ac.data.Dataset.from_tensor_slices((inputs[:count], y[:count]))
        return dataset.shuffle(count, seed=1).batch(4)

    def make() -> ac.Model:
        model = convnet("adam", (layers.Rescaling(0.5), layers.BatchNormalization()))
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=2)  # fmt: skip
        return model

    staged: list[int] = []
    real_launch = capture.Replay.launch
    monkeypatch.setattr(capture.Replay, "launch", lambda r, whole=0: staged.append(r.staged) or
                        real_launch(r, whole))  # fmt: skip
    runs = []
    for attempts in (0, step_replay.ATTEMPTS):
        with monkeypatch.context() as patched:
            patched.setattr(step_replay, "ATTEMPTS", attempts)
            model = make()
            history = model.fit(batches(30), epochs=2, validation_data=batches(13), verbose=0)
            scores = model.evaluate(batches(30), verbose=0, return_dict=True)
            runs.append((model, history.history, scores))
    (eager, eager_history, eager_scores), (replayed, history, scores) = runs
    # 7 full batches an epoch: the first three recorded (the first makes Adam's slots), every
    # later one replayed, the second epoch's too (its batches loaded into the same place)
    assert replayed._step_replay.replayed == 4 + 7, replayed._step_replay.why
    assert replayed._test_replay.replayed >= 4, replayed._test_replay.why
    assert set(staged) == {1}  # each loaded batch's step launched before the next is loaded
    assert history == eager_history and scores == eager_scores
    assert_same_state(replayed, eager)


def test_a_datasets_batches_of_more_shapes_than_places_run_as_they_come(monkeypatch):
    """Batches of a shape beyond the PLACES a dataset gets (here 1: the batches of 4 take it)
    are uploaded as they come and run eagerly; the others still replay."""
    x, y = data()
    monkeypatch.setattr(ac.array_batches, "PLACES", 1)
    dataset = ac.data.Dataset.from_tensor_slices((x[:13], y[:13])).batch(4).repeat(2)
    model = convnet("rmsprop")
    model.fit(dataset, epochs=1, verbose=0)  # batches of 4, 4, 4, 1, 4, 4, 4, 1
    assert model.optimizer.iterations == 8
    assert model._step_replay.replayed == 3  # three batches of 4 recorded, then replayed


class HostScale(layers.Layer):
    """Scales by a value it reads back to the host each step: a step no replay can repeat."""

    def call(self, x):
        return x * float(np.abs(x.numpy()).max() + 1.0)


def test_a_step_that_cannot_be_replayed_says_why_and_trains_eagerly(monkeypatch):
    make = lambda: convnet("sgd", (HostScale(),))  # noqa: E731
    _, eager_history, replayed, history = fit_both(make, monkeypatch, epochs=1, batch_size=4)
    runner = replayed._step_replay
    assert runner.replayed == 0 and "read back to the host" in runner.why
    assert history == eager_history


@pytest.mark.parametrize(
    "settings",
    [{"gradient_accumulation_steps": 2}, {"gradient_accumulation_steps": 3, "momentum": 0.9},
     {"use_ema": True, "ema_overwrite_frequency": 2},
     {"use_ema": True, "ema_momentum": 0.5, "gradient_accumulation_steps": 2}],
    ids=["accumulate 2", "accumulate 3, momentum", "ema overwrite", "ema and accumulate"],
)  # fmt: skip
def test_each_kind_of_optimizer_step_is_recorded_and_replayed_apart(settings, monkeypatch):
    """Steps that add gradients up and steps that update (or that overwrite the weights with
    their averages) launch different kernels: each kind is recorded and replayed on its own,
    and the fit ends as the eager one, to the bit."""
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet(ac.optimizers.SGD(0.1, **settings)), monkeypatch, epochs=2, batch_size=4
    )
    runner = replayed._step_replay
    assert runner.why is None and runner.replayed >= 5, (runner.replayed, runner.why)
    assert history == eager_history
    assert_same_state(replayed, eager)


class SetsWeights(ac.callbacks.Callback):
    """Sets the model's weights, and one batch normalization statistic, between two steps (a
    weight-averaging callback's kind)."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 5:
            self.model.set_weights([w * 0.5 for w in self.model.get_weights()])
            variance = self.model.layers[1].moving_variance
            variance.assign(variance.numpy() + 1.0)


def test_weights_set_by_a_callback_are_the_ones_replayed_steps_train(monkeypatch):
    """assign changes a variable's array in place, so the steps replayed after it read the
    new values (were a new array made, they would go on training the old one, unseen)."""
    make = lambda: convnet("adam", (layers.BatchNormalization(),))  # noqa: E731
    eager, eager_history, replayed, history = fit_both(
        make, monkeypatch, epochs=2, batch_size=4, callbacks=[SetsWeights()]
    )
    assert replayed._step_replay.replayed >= 10, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)


class Freezes(ac.callbacks.Callback):
    """Freezes a layer after a few steps (a fine-tuning schedule's kind)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def on_train_batch_end(self, batch, logs=None):
        if batch == 4:
            self.model.layers[self.index].trainable = False


@pytest.mark.parametrize("index", [0, 1], ids=["convolution", "batch normalization"])
def test_a_layer_frozen_mid_fit_has_its_steps_recorded_anew(index, monkeypatch):
    """A frozen weight gets no update (and a frozen batch normalization runs in inference
    mode): steps replayed after the change launch what the eager ones do."""
    make = lambda: convnet("adam", (layers.BatchNormalization(),))  # noqa: E731
    eager, eager_history, replayed, history = fit_both(
        make, monkeypatch, epochs=2, batch_size=4, callbacks=[Freezes(index)]
    )
    assert replayed._step_replay.replayed >= 9, replayed._step_replay.why
    assert history == eager_history
    assert_same_state(replayed, eager)


def one_batch_calls(model: ac.Model, tmp_path) -> list[dict]:
    """A custom training loop's calls: train_on_batch over batches of two sizes, a GPU Tensor
    batch, test_on_batch now and then, the optimizer state saved and loaded back, compiled
    again (the same optimizer, other metrics)."""
    x, y = data()
    logs = []
    for i in range(9):
        size = 4 if i % 4 else 3
        logs.append(model.train_on_batch(x[i : i + size], y[i : i + size], return_dict=True))
        if i % 3 == 2:
            logs.append(model.test_on_batch(x[:5], y[:5], return_dict=True))
    logs.append(model.train_on_batch(ac.Tensor(x[:4]).to("cuda"), y[:4], return_dict=True))
    model.save_weights(tmp_path / "loop.weights.h5")
    model.train_on_batch(x[4:8], y[4:8])
    model.load_weights(tmp_path / "loop.weights.h5")  # (new optimizer slot arrays)
    for i in range(4):
        logs.append(model.train_on_batch(x[i : i + 4], y[i : i + 4], return_dict=True))
    model.compile(model.optimizer, "categorical_crossentropy", metrics=["accuracy", "mae"])
    for i in range(4):
        logs.append(model.train_on_batch(x[i : i + 4], y[i : i + 4], return_dict=True))
    return logs


def test_train_on_batch_calls_replay_their_steps_as_fit_does(tmp_path, monkeypatch):
    """A model keeps its one-batch steps' runner from call to call (each batch loaded into the
    place of its shape): a loop of calls replays, and is recorded anew when the arrays it used
    are replaced (the optimizer state loaded, the model compiled again); the loop ends as the
    eager one, to the bit."""
    make = lambda: convnet("adam", (layers.BatchNormalization(), layers.Dropout(0.3)))  # noqa: E731
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = make()
        eager_logs = one_batch_calls(eager, tmp_path)
    replayed = make()
    runners = []
    made = step_replay.StepReplay.__init__
    monkeypatch.setattr(
        step_replay.StepReplay, "__init__",
        lambda self, *args: (runners.append(self), made(self, *args))[1],
    )  # fmt: skip
    logs = one_batch_calls(replayed, tmp_path)
    assert sum(r.replayed for r in runners) >= 9, [r.why for r in runners]
    assert logs == eager_logs
    assert_same_state(replayed, eager)


def test_the_cpu_runs_every_step_as_it_comes():
    x, y = data()
    ac.utils.set_random_seed(0)
    model = ac.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(3)]).to("cpu")
    model.compile("sgd", ac.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert model._step_replay.replayed == 0 and "CPU" in model._step_replay.why


class Graph:
    """A stand-in CUDA graph on the simulator (which has none): its kernels one by one."""

    def __init__(self, launches: list) -> None:
        self.launches = list(launches)

    def launch(self, stream: None) -> None:  # (under the backend's launch lock)
        for kernel, grid, block, args in self.launches:
            kernel[grid, block](*args)


class Graphs:
    """Replays made into stand-in graphs: ``made`` lists (phase, kernels) of each graph made,
    ``phase`` set by the test."""

    def __init__(self, monkeypatch) -> None:
        self.made: list[tuple[int, int]] = []
        self.phase = 0
        monkeypatch.setattr(capture, "GRAPHS", True)
        monkeypatch.setattr(capture, "_build_graph", self.build)

    def build(self, launches: list) -> tuple[Graph, None]:
        self.made.append((self.phase, len(launches)))
        return Graph(launches), None


@pytest.mark.parametrize(
    ("samples", "launches", "graphs_made"),
    [
        (32, [2, 3, 5, 3, 5, 3], [(0, 1), (0, 2), (0, 5), (0, 3)]),  # 8 batches of 4 an epoch
        # 7 and a last batch of 2, a kind of its own: recorded in two epochs, then replayed
        (30, [2, 2, 5, 2, 5, 2, 1], [(0, 1), (0, 2), (0, 5), (1, 1)]),
    ],
)
def test_a_whole_launchs_graph_is_made_in_the_first_epoch(
    samples, launches, graphs_made, monkeypatch
):
    """The first epoch's first launch is short by the steps recorded (here 2 of the 5 a launch
    holds): the graph of a whole launch is made with it, so no later epoch makes a graph of
    the full batches (one made mid-epoch took an H200 host ~85 ms, the flowers classifier's 13
    steps); the steps train as the eager ones do, to the bit."""
    x, y = data(samples=samples)
    probe = convnet("rmsprop")
    probe.fit(x, y, epochs=1, batch_size=4, verbose=0)
    kernels = probe._step_replay.replay.launches
    monkeypatch.setattr(step_replay, "LAUNCH_KERNELS", 5 * kernels)
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = convnet("rmsprop")
        eager.fit(x, y, epochs=3, batch_size=4, verbose=0)
    graphs = Graphs(monkeypatch)
    epochs = ac.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: setattr(graphs, "phase", epoch)
    )
    launched = counted_launches(monkeypatch)
    replayed = convnet("rmsprop")
    replayed.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[epochs])
    assert launched == launches, replayed._step_replay.why
    assert [(epoch, count // kernels) for epoch, count in graphs.made] == graphs_made
    assert_same_state(replayed, eager)


@pytest.mark.parametrize(
    ("batches", "launches"), [(4, [[1], [4], [4]]), (13, [[2, 5, 3], [5, 5, 3], [5, 5, 3]])]
)
def test_predict_makes_its_graphs_in_its_first_call(batches, launches, monkeypatch):
    """A predict call's steps in one launch (or in launches of up to 5 steps): the first call's
    first is short by the 3 steps recorded, and makes the whole one's graph too, so a second
    call (a benchmark's timed one, say) makes none (one made mid-call took an H200 host ~25
    ms, MNIST's 16 steps); the outputs are the eager ones, to the bit."""
    rng = np.random.default_rng(1)
    x = ac.Tensor(rng.random((4 * batches, 6, 6, 1), dtype=np.float32)).to("cuda")
    probe = convnet("rmsprop")
    probe.predict(x, batch_size=4, verbose=0)
    kernels = probe._predict_replay.replay.launches
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        want = convnet("rmsprop").predict(x, batch_size=4, verbose=0)
    model = convnet("rmsprop")
    monkeypatch.setattr(step_replay, "LAUNCH_KERNELS", 5 * kernels)
    graphs = Graphs(monkeypatch)
    launched = counted_launches(monkeypatch)
    for call, expected in enumerate(launches):
        graphs.phase = call
        np.testing.assert_array_equal(model.predict(x, batch_size=4, verbose=0), want)
        assert launched[-len(expected) :] == expected
    assert {call for call, _ in graphs.made} == {0}
