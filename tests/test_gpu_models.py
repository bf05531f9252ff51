"""The course's four models train on a real GPU as on the CPU: 20 steps of fit (replayed as CUDA
graphs after the first two) give the CPU's losses within float32's tolerance. Needs a GPU: the
simulator would take hours at these sizes (tests/test_step_replay.py covers the replay there)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import course, layers

pytest.importorskip("numba_cuda")
from autoconv.backends import cuda as cuda_backend

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cuda_backend.SIMULATED, reason="needs a real GPU (this run simulates)"),
]

MODELS = {
    "mnist": (course.reference_model, (28, 28, 1), 10, 64, "rmsprop", "categorical_crossentropy"),
    "flowers": (
        course.rgb_classifier, (180, 180, 3), 5, 32, "rmsprop",
        ac.losses.SparseCategoricalCrossentropy(from_logits=True),
    ),
    "stack": (
        course.large_model, (150, 150, 1), 10, 32, "rmsprop", "sparse_categorical_crossentropy"
    ),
    "xception": (
        course.xception, (180, 180, 3), 2, 32, lambda: ac.optimizers.Adam(3e-4),
        ac.losses.BinaryCrossentropy(from_logits=True),  # its one logit for two classes
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "precision"),
    [(name, precision) for name in MODELS for precision in ("high", "highest")],
)
def test_twenty_steps_on_the_gpu_track_the_cpu(name, precision):
    """With TF32 products ("high", the default: 10 bits of mantissa in each product's operands)
    within 2%; in float32 ("highest") within float32's tolerance."""
    build, shape, classes, batch, optimizer, loss = MODELS[name]
    rng = np.random.default_rng(0)
    x = rng.random((20 * batch, *shape), dtype=np.float32) * (255 if shape[-1] == 3 else 1)
    labels = rng.integers(0, classes, len(x))
    y = ac.utils.to_categorical(labels, classes) if name == "mnist" else labels
    histories = []
    ac.config.set_float32_matmul_precision(precision)  # the GPU's products; the CPU's stay float32
    try:
        for device in ("cpu", "cuda"):
            ac.utils.set_random_seed(0)
            model = build(shape)
            for layer in model.layers:  # the devices draw other dropout masks: none here
                if isinstance(layer, layers.Dropout):
                    layer.rate = 0.0
            model.to(device)
            model.compile(optimizer() if callable(optimizer) else optimizer, loss)
            histories.append(model.fit(x, y, batch_size=batch, epochs=2, verbose=0).history)
            if device == "cuda":
                assert model._step_replay.replayed >= 16, model._step_replay.why
                assert model._step_replay.replay.mode == "graph", model._step_replay.replay.why
    finally:
        ac.config.set_float32_matmul_precision("highest")
    rtol = 2e-3 if precision == "highest" else 2e-2
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=rtol)
