"""The program tests/test_distributed.py starts under ``mpiexec -n 2``, and the runs it is
compared with in one process (the same functions, without MPI).

    mpiexec -n 2 python tests/mpi_worker.py train OUT
    mpiexec -n 2 python tests/mpi_worker.py gpu OUT    (with NUMBA_ENABLE_CUDASIM=1)
    mpiexec -n 2 python tests/mpi_worker.py fail OUT

``train``: two small fits (a short last batch split 11/11; a last batch of one sample, which
leaves process 1 without any, reduced in rank order), each writing every process's final
weights, history and evaluation, and process 0's checkpoint and CSV log into OUT/rankN/.
``gpu``: a tiny fit on the CUDA device (the simulator's is slow), with the gradients through
host memory, then summed on the device as with a CUDA-aware MPI (the library's own sum of
device memory stubbed). ``fail``: process 1 raises in a callback at its second batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from autoconv import Sequential, callbacks, config, layers, optimizers, utils
from autoconv.layers import Layer

SEED = 7
RUNS = {"uneven": (150, False), "idle": (129, True)}  # training samples, deterministic


class MovingMean(Layer):
    """Passes its input on; in training keeps a moving mean of it in a non-trainable weight,
    as BatchNormalization keeps its moving statistics."""

    def build(self, input_shape):
        self.moving_mean = self.add_weight(
            shape=(input_shape[-1],), initializer="zeros", trainable=False, name="moving_mean"
        )

    def call(self, inputs, training=False):
        if training:
            batch_mean = inputs.data.sum(axis=0) * (1.0 / len(inputs.data))
            self.moving_mean.data = self.moving_mean.data * 0.9 + batch_mean * 0.1
        return inputs


def data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(samples + 40, 6, 6, 1)).astype(np.float32)
    y = utils.to_categorical(rng.integers(0, 3, samples + 40), 3)
    return x, y


def model(device: str, seed: int, conv: bool = True) -> Sequential:
    utils.set_random_seed(seed)
    first = [layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1)), layers.Flatten()]
    if not conv:
        first = [layers.Flatten(input_shape=(6, 6, 1))]
    net = Sequential([*first, MovingMean(), layers.Dense(3, activation="softmax")]).to(device)
    net.compile(optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    return net


def train_gpu(device: str, seed: int = SEED) -> dict:
    """3 steps of a dense model at a global batch of 8 (the last one of 4 samples), the GPU's
    products in float32 (compared with the CPU's at float32's tolerance)."""
    config.set_float32_matmul_precision("highest")
    x, y = data(0)
    net = model(device, seed, conv=False)
    history = net.fit(x[:20], y[:20], batch_size=8, epochs=1, verbose=0)
    return {"weights": [w.numpy() for w in net.weights], "history": history.history}


def summed_through_host(world, array) -> None:
    """What a CUDA-aware MPI's Allreduce does to a GPU array, through host memory."""
    host = array.flat.copy_to_host()
    world._sum(host)
    array.flat.copy_to_device(host)


def train(samples: int, seed: int = SEED, extra_callbacks=()) -> dict:
    """Fit ``samples`` for 3 epochs at a global batch of 64 (40 more samples validate)."""
    x, y = data(samples)
    net = model("cpu", seed)
    history = net.fit(
        x[:samples], y[:samples], batch_size=64, epochs=3, verbose=2,
        validation_data=(x[samples:], y[samples:]), callbacks=list(extra_callbacks),
    )  # fmt: skip
    return {
        "weights": [w.numpy() for w in net.weights],
        "history": history.history,
        "evaluate": net.evaluate(x, y, batch_size=64, verbose=0),
    }


def main() -> None:
    from autoconv import distributed, training

    task, out = sys.argv[1], Path(sys.argv[2])
    if task == "train-polled":  # the logs read over the processes every step, not every 0.2 s
        training.SYNC_SECONDS, task = 0.0, "train"
    world = distributed.initialize()
    mine = out / f"rank{world.rank}"
    mine.mkdir(parents=True, exist_ok=True)
    if task == "fail":

        def fail(batch, logs):  # fmt: skip
            if world.rank == 1 and batch == 1:
                raise RuntimeError("a failure on process 1 only")

        train(150, extra_callbacks=[callbacks.LambdaCallback(on_train_batch_end=fail)])
        return
    if task == "gpu":
        for path in ("host", "direct"):
            if path == "direct":  # as with a CUDA-aware MPI (this one reads host memory only)
                world.cuda_aware = True
                world._sum_device = lambda array: summed_through_host(world, array)
            result = train_gpu("cuda", SEED + 1000 * world.rank)
            np.savez(out / f"gpu-{path}-weights-{world.rank}.npz", *result["weights"])
            (out / f"gpu-{path}-{world.rank}.json").write_text(json.dumps(result["history"]))
        return
    for name, (samples, deterministic) in RUNS.items():
        world.deterministic = deterministic
        writers = [
            callbacks.ModelCheckpoint(str(mine / f"{name}.weights.h5"), save_weights_only=True),
            callbacks.CSVLogger(str(mine / f"{name}.csv")),
        ]
        # Each process starts from different weights: fit gives them process 0's.
        result = train(samples, SEED + 1000 * world.rank, writers)
        np.savez(out / f"{name}-weights-{world.rank}.npz", *result["weights"])
        result.pop("weights")
        (out / f"{name}-{world.rank}.json").write_text(json.dumps(result))
    try:
        model("cpu", SEED).fit(*data(10), batch_size=1, verbose=0)
    except ValueError as error:
        (out / f"batch-error-{world.rank}.txt").write_text(str(error))


if __name__ == "__main__":
    main()
