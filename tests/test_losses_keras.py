"""The losses Keras 3.15 added (Dice, Tversky, Circle, CategoricalGeneralizedCrossEntropy and
their functions) against Keras's own on its PyTorch backend (skipped without Keras or torch):
values and gradients in float64 for every reduction, sample weights and options, configs and
entries both ways, float64 gradchecks, errors, and by name and by object in compile + fit on
the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autoconv as ac
from autoconv import losses
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def segmentation_pair(shape, rng):
    """0/1 masks and probabilities of ``shape``."""
    return (rng.random(shape) > 0.5).astype(np.float64), rng.uniform(0.05, 0.95, shape)


def embeddings_pair(shape, rng):
    """Integer labels (a few of each) and unit embeddings of ``shape`` (N, D), scaled by 0.95
    so that no cosine distance sits on max(., 0)'s kink."""
    labels = rng.integers(0, 3, shape[0]).astype(np.float64)
    x = rng.standard_normal(shape)
    return labels, 0.95 * x / np.linalg.norm(x, axis=1, keepdims=True)


def labels_pair(shape, rng):
    """Integer labels (N,) and softmax probabilities of ``shape`` (N, C)."""
    logits = rng.standard_normal(shape)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return rng.integers(0, shape[-1], shape[0]), probabilities


# (class, options, shape of y_pred, how the pair is made)
CASES = [
    ("Dice", {}, (3, 4, 4, 1), segmentation_pair),
    ("Dice", {"axis": (1, 2, 3)}, (3, 4, 4, 1), segmentation_pair),
    ("Dice", {"axis": -1}, (2, 5, 3), segmentation_pair),
    ("Tversky", {}, (3, 6), segmentation_pair),
    ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": (1, 2)}, (3, 4, 2), segmentation_pair),
    ("Tversky", {"alpha": 0.8, "beta": 0.1, "axis": 1}, (4, 5), segmentation_pair),
    ("Circle", {}, (6, 3), embeddings_pair),
    ("Circle", {"gamma": 2.0, "margin": 0.25}, (8, 4), embeddings_pair),
    ("Circle", {"gamma": 4.0, "remove_diagonal": False}, (5, 3), embeddings_pair),
    ("CategoricalGeneralizedCrossEntropy", {}, (5, 3), labels_pair),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}, (4, 6), labels_pair),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.9}, (3, 2), labels_pair),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]
FUNCTIONS = {
    "Dice": "dice",
    "Tversky": "tversky",
    "Circle": "circle",
    "CategoricalGeneralizedCrossEntropy": "categorical_generalized_cross_entropy",
}


# Keras's PyTorch backend narrows float64 to float32 in maximum(x, 0.0) (circle's distances)
# and power(p, q) (the generalized cross-entropy), so those two compare at float32's precision
FLOAT32_STEPS = {"Circle": 1e-5, "CategoricalGeneralizedCrossEntropy": 2e-6}


def assert_close(ours, expected, rtol):
    for got, want in zip(ours, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


def both_with_gradients(loss, keras_loss, y_true, y_pred, **weights):
    """(value, gradient of y_pred) of autoconv's ``loss`` and of Keras's ``keras_loss``."""
    mine = ac.Tensor(y_pred, requires_grad=True)
    ours = loss(y_true, mine, **weights)
    (ours * np.ones(ours.shape)).sum().backward()
    reference = torch.tensor(y_pred, requires_grad=True)
    theirs = keras_loss(y_true, reference, **weights)
    theirs.sum().backward()
    return (ours.numpy(), mine.grad), (theirs.detach().numpy(), reference.grad.numpy())


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "kwargs", "shape", "pair"), CASES, ids=IDS)
def test_values_and_gradients_are_kerass(name, kwargs, shape, pair, reduction, weighted, rng):
    y_true, y_pred = pair(shape, rng)
    options = {**kwargs, "reduction": reduction}
    theirs = getattr(keras.losses, name)(dtype="float64", **options)
    values = getattr(losses, name)(**kwargs, reduction=None)(y_true, y_pred)
    weights = {"sample_weight": rng.uniform(0.2, 2.0, values.shape)} if weighted else {}
    ours, expected = both_with_gradients(
        getattr(losses, name)(**options), theirs, y_true, y_pred, **weights
    )
    # Keras's PyTorch backend divides the mean reductions in float32 (its value and gradient)
    assert_close(ours, expected, rtol=FLOAT32_STEPS.get(name, 3e-7))


@pytest.mark.parametrize(("name", "kwargs", "shape", "pair"), CASES, ids=IDS)
def test_the_functions_values_and_gradients_are_kerass(name, kwargs, shape, pair, rng):
    y_true, y_pred = pair(shape, rng)
    kwargs = {"q": 0.5, **kwargs} if name == "CategoricalGeneralizedCrossEntropy" else kwargs
    fn = FUNCTIONS[name]
    ours, expected = both_with_gradients(
        lambda t, p: getattr(losses, fn)(t, p, **kwargs),
        lambda t, p: getattr(keras.losses, fn)(torch.tensor(t), p, **kwargs),
        y_true,
        y_pred,
    )
    assert_close(ours, expected, rtol=FLOAT32_STEPS.get(name, 1e-10))


def test_circle_takes_reference_embeddings_and_labels_as_keras(rng):
    labels, embeddings = embeddings_pair((5, 3), rng)
    ref_labels, ref_embeddings = embeddings_pair((7, 3), rng)
    kwargs = {"gamma": 3.0, "remove_diagonal": False}
    ours = losses.circle(labels, embeddings, ref_labels, ref_embeddings, **kwargs)
    theirs = keras.losses.circle(
        torch.tensor(labels), torch.tensor(embeddings), torch.tensor(ref_labels),
        torch.tensor(ref_embeddings), **kwargs,
    )  # fmt: skip
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=FLOAT32_STEPS["Circle"])
    assert gradcheck(
        lambda x, r: losses.circle(labels, x, ref_labels, r, **kwargs),
        [embeddings, ref_embeddings],
    )


@pytest.mark.parametrize(("name", "kwargs", "shape", "pair"), CASES, ids=IDS)
def test_gradcheck(name, kwargs, shape, pair, rng):
    y_true, y_pred = pair(shape, rng)
    if name == "Circle":
        kwargs = {**kwargs, "gamma": 2.0}  # finite differences of e**(80 d) are too coarse
    loss = getattr(losses, name)(**kwargs, reduction="sum")
    assert gradcheck(lambda p: loss(y_true, p), [y_pred])


@pytest.mark.parametrize(("name", "kwargs", "shape", "pair"), CASES, ids=IDS)
def test_configs_and_entries_are_kerass_both_ways(name, kwargs, shape, pair):
    ours = getattr(losses, name)(**kwargs)
    theirs = getattr(keras.losses, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert losses.serialize(ours) == keras.saving.serialize_keras_object(theirs)
    back = losses.get(keras.saving.serialize_keras_object(theirs))
    assert type(back) is type(ours) and back.get_config() == ours.get_config()
    again = keras.saving.deserialize_keras_object(losses.serialize(ours))
    assert type(again).__name__ == name and again.get_config() == theirs.get_config()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_names_give_the_loss_as_kerass_compile_does(name):
    loss = losses.loss_object(FUNCTIONS[name])
    assert type(loss) is getattr(losses, name) and loss.name == FUNCTIONS[name]
    assert type(losses.loss_object(name)) is getattr(losses, name)
    assert losses.LossFunctionWrapper.from_config(
        losses.LossFunctionWrapper(getattr(losses, FUNCTIONS[name])).get_config()
    ).fn is getattr(losses, FUNCTIONS[name])


def test_errors():
    with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\)"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        losses.Dice(reduction="average")
    with pytest.raises(ValueError, match=r"circle: y_pred and ref_embeddings must be \(N, D\)"):
        losses.circle([0, 1], np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match="circle: one label per embedding"):
        losses.circle([0, 1, 1], np.ones((2, 3)))
    with pytest.raises(ValueError, match="categorical_generalized_cross_entropy: labels shape"):
        losses.categorical_generalized_cross_entropy([0, 1, 1], np.full((2, 3), 1 / 3), q=0.5)
    with pytest.raises(ValueError, match="dice: y_true shape"):
        losses.dice(np.ones((2, 3)), np.ones((2, 4)))


def segmenter():
    ac.utils.set_random_seed(3)
    return ac.Sequential([ac.layers.Input(shape=(4,)), ac.layers.Dense(3, activation="sigmoid")])


def embedder():
    ac.utils.set_random_seed(3)
    return ac.Sequential(
        [ac.layers.Input(shape=(4,)), ac.layers.Dense(3), ac.layers.UnitNormalization()]
    )


def classifier():
    ac.utils.set_random_seed(3)
    return ac.Sequential([ac.layers.Input(shape=(4,)), ac.layers.Dense(3, activation="softmax")])


FITS = [
    ("dice", segmenter, "masks"),
    (lambda: losses.Tversky(alpha=0.3, beta=0.7, axis=-1), segmenter, "masks"),
    ("circle", embedder, "labels"),
    (lambda: losses.Circle(gamma=8.0), embedder, "labels"),
    ("categorical_generalized_cross_entropy", classifier, "labels"),
    (lambda: losses.CategoricalGeneralizedCrossEntropy(q=0.3), classifier, "labels"),
]


@pytest.mark.parametrize(("loss", "make_model", "targets"), FITS)
def test_a_short_fit_by_name_or_object_on_both_devices(loss, make_model, targets, rng):
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = (rng.random((8, 3)) > 0.5) * 1.0 if targets == "masks" else rng.integers(0, 3, 8)
    losses_per_device = fit_on_both_devices(
        make_model, x, y, loss=loss if isinstance(loss, str) else loss(), optimizer="sgd"
    )
    assert np.isfinite(losses_per_device[0]).all()
    assert losses_per_device[0][-1] < losses_per_device[0][0]


KERAS_GET_NAMES = sorted(
    name
    for name in keras.src.losses.ALL_OBJECTS_DICT
    if name not in ("Loss", "LossFunctionWrapper")
)


@pytest.mark.parametrize("name", KERAS_GET_NAMES)
def test_get_gives_what_kerass_get_gives(name, rng):
    """Keras's ``losses.get``: a function for a function's name or alias, an instance for a
    class name; the two give the same values."""
    theirs, ours = keras.losses.get(name), losses.get(name)
    assert callable(ours) and type(ours).__name__ == type(theirs).__name__
    assert getattr(ours, "__name__", None) == getattr(theirs, "__name__", None)
    if name.lower() == "ctc":
        return  # (its targets are label sequences: tests/ops/test_ctc.py)
    y_true = rng.random((3, 4)).astype(np.float32)
    y_pred = rng.random((3, 4)).astype(np.float32) * 0.8 + 0.1
    if name.lower().startswith(("sparse", "circle")):  # labels: classes, or groups to pull
        y_true = np.array([0, 3, 0])
    want = keras.ops.convert_to_numpy(theirs(y_true, y_pred))
    np.testing.assert_allclose(ac.ops.convert_to_numpy(ours(y_true, y_pred)), want, rtol=2e-5)
