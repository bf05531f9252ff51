"""The program tests/test_threads.py starts in a child process, so that an abort (Numba's
workqueue layer kills the process when two threads launch parallel regions at once) fails a
test instead of killing pytest:

    python tests/threads_worker.py cpu THREADS ROUNDS
    python tests/threads_worker.py cuda THREADS ROUNDS     (with NUMBA_ENABLE_CUDASIM=1)

One small convnet, served from THREADS threads at once: every thread makes ROUNDS passes over
the calls in :func:`calls` (``predict`` at batch sizes from 1 to one that runs the CPU's
parallel kernels, ``model(x)``, ``predict_on_batch``, ``evaluate``, and the op functions), each
answer compared with the one the same call gave before, in one thread. Meanwhile another
thread trains a second model with ``fit``, whose weights must end as those of the same fit run
alone. The first calls reach a model that is not built yet (its weights are made by whichever
thread comes first). Prints what it checked, one line a kind, then ``ok``; exits 1 on the first
answer that differs.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import autoconv as ac
from autoconv import layers

# Per device: the image side, the batch sizes (the CPU's largest makes the first convolution
# touch more than PARALLEL_MIN_WORK elements, so its kernels run their parallel builds), and the
# samples and epochs of the background fit. The simulator runs each GPU thread as a Python thread.
SIZES = {"cpu": (28, (1, 8, 64, 300), 512, 2), "cuda": (8, (1, 3, 5), 16, 1)}


def served_model(side: int) -> ac.Model:
    """Conv, pool, batch norm (folded in inference), dropout, softmax; built on first use."""
    model = ac.Sequential(
        [
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(4, activation="softmax", activity_regularizer="l2"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def trained_weights(side: int, samples: int, epochs: int, device: str) -> list[np.ndarray]:
    """A seeded fit of another small model (dropout and batch norm in training) on ``device``."""
    generator = np.random.default_rng(5)
    x = generator.random((samples, side, side, 1), dtype=np.float32)
    y = generator.integers(0, 3, samples)
    ac.utils.set_random_seed(11)
    model = ac.Sequential(
        [
            layers.Input((side, side, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.to(device)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0)
    return model.get_weights()


def calls(model: ac.Model, device: str, side: int, batches: tuple[int, ...]) -> list[tuple]:
    """(kind, function) for every call the threads make; each returns NumPy arrays."""
    generator = np.random.default_rng(3)
    images = {n: generator.random((n, side, side, 1), dtype=np.float32) for n in batches}
    labels = {n: generator.integers(0, 4, n) for n in batches}
    kernel = ac.Tensor(generator.standard_normal((3, 3, 1, 32)).astype(np.float32), device=device)
    made: list[tuple] = []
    for n, x in images.items():
        on_device = ac.Tensor(x, device=device)
        rows, columns = on_device.reshape((n, -1)), on_device.reshape((-1, n))
        made += [
            ("predict", lambda x=x, n=n: model.predict(x, batch_size=n, verbose=0)),
            ("model(x)", lambda t=on_device: model(t).numpy()),
            ("predict_on_batch", lambda x=x: model.predict_on_batch(x)),
            ("evaluate", lambda x=x, n=n: np.array(model.evaluate(x, labels[n], verbose=0))),
            ("conv2d", lambda t=on_device: ac.conv2d(t, kernel, padding="same").numpy()),
            ("matmul", lambda a=rows, b=columns: (a @ b).numpy()),
        ]
    return made


def main(device: str, threads: int, rounds: int) -> int:
    side, batches, samples, epochs = SIZES[device]
    # Float32 products, as tests/conftest.py gives every test (the simulator's emulation of
    # TF32 tensor cores runs a block of 256 Python threads through two barriers a multiply).
    ac.config.set_float32_matmul_precision("highest")
    expected_weights = trained_weights(side, samples, epochs, device)
    ac.utils.set_random_seed(2)
    model = served_model(side)
    model.to(device)
    work = calls(model, device, side, batches)
    first = work[0][1]  # the first calls build the model, in whichever thread comes first
    with ThreadPoolExecutor(threads) as pool:
        built = list(pool.map(lambda _: first(), range(threads)))
    expected = [call() for _, call in work]
    if any(not np.array_equal(answer, expected[0]) for answer in built):
        print("the first calls, building the model from several threads, differ")
        return 1

    trained: list[Any] = []
    trainer = threading.Thread(
        target=lambda: trained.append(trained_weights(side, samples, epochs, device)),
        name="trainer",
    )
    trainer.start()
    jobs = [i for _ in range(rounds) for i in range(len(work))]
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(lambda i: (i, work[i][1]()), jobs))
    trainer.join()
    for i, answer in answers:
        if not np.array_equal(answer, expected[i]):
            print(f"{work[i][0]} differs from its single-threaded answer")
            return 1
    if not trained or any(
        not np.array_equal(a, b) for a, b in zip(trained[0], expected_weights, strict=True)
    ):
        print("the fit in a thread of its own ended with other weights than alone")
        return 1
    for kind in dict.fromkeys(kind for kind, _ in work):
        count = sum(work[i][0] == kind for i, _ in answers)
        print(f"{kind}: {count} answers from {threads} threads, each as single-threaded")
    print(f"fit in a thread beside them: the weights of the fit alone ({len(expected_weights)})")
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
