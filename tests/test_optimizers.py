"""The optimizers against Keras 3's update rules, transcribed here in NumPy from Keras's source
(keras/src/optimizers/base_optimizer.py: ``apply``, ``_clip_gradients``, ``_clip_by_norm``,
``clip_by_global_norm``, ``_apply_weight_decay``; keras/src/optimizers/<name>.py:
``update_step``), computed in the variables' dtype as Keras does; PyTorch where its rule is the
same; the schedules against keras/src/optimizers/schedules/learning_rate_schedule.py; and the
public API (apply_gradients, get, serialize, argument errors, skipped steps).

(Over ~600 lines on purpose: each optimizer's Keras rule, transcribed, lies beside the tests
that compare against it, as autoconv/optimizers/ is one namespace.)"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

import autoconv as ac
from autoconv import optimizers
from autoconv.backends import namespace
from autoconv.optimizers import schedules
from autoconv.tensor import Tensor

SHAPES = [(3, 4), (5,)]  # two parameters: global_clipnorm sees both
STEPS = 4
TOLERANCE = {np.float64: {"rtol": 1e-11, "atol": 1e-13}, np.float32: {"rtol": 3e-5, "atol": 1e-6}}


# ------------------------------------------------------------- Keras, transcribed in NumPy
def keras_slots(name: str, config: dict, w: np.ndarray) -> dict[str, np.ndarray]:
    """Each optimizer's ``build``: its variables (by autoconv's slot names), zeros unless
    Keras initializes them otherwise. Optional ones are made whether or not they are used."""
    names = {
        "sgd": ["momentum"],
        "rmsprop": ["velocity", "momentum", "average_gradient"],
        "adam": ["m", "v", "v_hat"],
        "adamw": ["m", "v", "v_hat"],
        "nadam": ["momentum", "velocity"],
        "adamax": ["momentum", "norm"],
        "lamb": ["momentum", "velocity"],
        "adafactor": ["velocity"],
        "adagrad": ["accumulator"],
        "adadelta": ["accumulated_grad", "accumulated_delta_var"],
        "lion": ["momentum"],
        "ftrl": ["accumulator", "linear"],
    }[name]
    slots = {slot: np.zeros_like(w) for slot in names}
    if name in ("adagrad", "ftrl"):
        slots["accumulator"] += config.get("initial_accumulator_value", 0.1)
    if name == "adafactor" and w.ndim >= 2:  # factored over the last two dimensions
        slots["r"] = np.zeros(w.shape[:-1], w.dtype)
        slots["c"] = np.zeros(w.shape[:-2] + w.shape[-1:], w.dtype)
    return slots


def keras_update_step(name, config, w, g, s, iterations, lr, dt, u_product):
    """``update_step(gradient, variable, learning_rate)`` of keras/src/optimizers/<name>.py,
    in place on ``w`` and the slots ``s``; scalars cast to the variable's dtype ``dt``."""
    c = config.get
    local_step = dt(iterations + 1)
    if name == "sgd":  # sgd.py
        momentum = c("momentum", 0.0)
        if momentum != 0:
            m = s["momentum"]
            m[...] = m * dt(momentum) - g * lr
            w += m * dt(momentum) - g * lr if c("nesterov", False) else m
        else:
            w -= g * lr
    elif name == "rmsprop":  # rmsprop.py
        rho, momentum, eps = c("rho", 0.9), c("momentum", 0.0), c("epsilon", 1e-7)
        v, a = s["velocity"], s["average_gradient"]
        v[...] = dt(rho) * v + dt(1 - rho) * np.square(g)
        if c("centered", False):
            a[...] = dt(rho) * a + dt(1 - rho) * g
            denominator = v - np.square(a) + dt(eps)
        else:
            denominator = v + dt(eps)
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            s["momentum"][...] = dt(momentum) * s["momentum"] + increment
            w -= s["momentum"]
        else:
            w -= increment
    elif name in ("adam", "adamw"):  # adam.py (adamw.py is Adam with weight_decay)
        b1, b2, eps = c("beta_1", 0.9), c("beta_2", 0.999), c("epsilon", 1e-7)
        alpha = lr * np.sqrt(1 - dt(b2) ** local_step) / (1 - dt(b1) ** local_step)
        m, v = s["m"], s["v"]
        m += (g - m) * dt(1 - b1)
        v += (np.square(g) - v) * dt(1 - b2)
        if c("amsgrad", False):
            s["v_hat"][...] = np.maximum(s["v_hat"], v)
            v = s["v_hat"]
        w -= m * alpha / (np.sqrt(v) + dt(eps))
    elif name == "nadam":  # nadam.py (u_product advanced once per step, before)
        b1, b2, eps = dt(c("beta_1", 0.9)), dt(c("beta_2", 0.999)), c("epsilon", 1e-7)
        u_t = b1 * (dt(1.0) - dt(0.5) * dt(0.96) ** local_step)
        u_t_1 = b1 * (dt(1.0) - dt(0.5) * dt(0.96) ** dt(iterations + 2))
        u_product_t_1 = u_product * u_t_1
        m, v = s["momentum"], s["velocity"]
        m += (g - m) * (1 - b1)
        v += (np.square(g) - v) * (1 - b2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - b2**local_step)
        w -= m_hat * lr / (np.sqrt(v_hat) + dt(eps))
    elif name == "adamax":  # adamax.py
        b1, b2, eps = c("beta_1", 0.9), c("beta_2", 0.999), c("epsilon", 1e-7)
        m, u = s["momentum"], s["norm"]
        m += (g - m) * dt(1 - b1)
        u[...] = np.maximum(dt(b2) * u, np.abs(g))
        w -= lr * m / ((1 - dt(b1) ** local_step) * (u + dt(eps)))
    elif name == "lamb":  # lamb.py
        b1, b2, eps = c("beta_1", 0.9), c("beta_2", 0.999), c("epsilon", 1e-7)
        m, v = s["momentum"], s["velocity"]
        m += (g - m) * dt(1 - b1)
        v += (np.square(g) - v) * dt(1 - b2)
        m_t_hat = m / (dt(1.0) - dt(b1) ** local_step)
        v_sqrt = np.sqrt(v / (dt(1.0) - dt(b2) ** local_step)) + dt(eps)
        update = m_t_hat / v_sqrt
        w_norm, g_norm = np.sqrt(np.sum(w**2)), np.sqrt(np.sum(update**2))
        ratio = (w_norm / g_norm if g_norm > 0 else dt(1.0)) if w_norm > 0 else dt(1.0)
        w -= ratio * lr * update
    elif name == "adafactor":  # adafactor.py
        rms = lambda x: np.sqrt(np.mean(np.square(x)))  # noqa: E731
        if c("relative_step", True):  # (the rate here is never a callable's)
            lr = np.minimum(lr, dt(1) / np.sqrt(local_step))
        rho_t = np.minimum(lr, dt(1) / np.sqrt(local_step))
        alpha_t = np.maximum(dt(c("epsilon_2", 1e-3)), rms(w)) * rho_t
        regulated = np.square(g) + dt(c("epsilon_1", 1e-30))
        beta_2_t = dt(1) - np.power(local_step, dt(c("beta_2_decay", -0.8)))
        v = s["velocity"]
        if w.ndim >= 2:
            r, col = s["r"], s["c"]
            r[...] = beta_2_t * r + (1 - beta_2_t) * np.mean(regulated, axis=-1)
            col[...] = beta_2_t * col + (1 - beta_2_t) * np.mean(regulated, axis=-2)
            v[...] = (r / np.mean(r, axis=-1, keepdims=True))[..., None] * col[..., None, :]
        else:
            v[...] = beta_2_t * v + (1 - beta_2_t) * regulated
        u = g / np.sqrt(v)
        w -= alpha_t * (u / np.maximum(dt(1), rms(u) / dt(c("clip_threshold", 1.0))))
    elif name == "adagrad":  # adagrad.py
        accumulator = s["accumulator"]
        accumulator += np.square(g)
        w -= lr * g / np.sqrt(accumulator + dt(c("epsilon", 1e-7)))
    elif name == "adadelta":  # adadelta.py
        rho, eps = c("rho", 0.95), dt(c("epsilon", 1e-7))
        grads, deltas = s["accumulated_grad"], s["accumulated_delta_var"]
        grads[...] = dt(rho) * grads + dt(1 - rho) * np.square(g)
        delta = -(np.sqrt(deltas + eps) * g / np.sqrt(grads + eps))
        deltas[...] = dt(rho) * deltas + dt(1 - rho) * np.square(delta)
        w += lr * delta
    elif name == "lion":  # lion.py
        b1, b2 = dt(c("beta_1", 0.9)), dt(c("beta_2", 0.99))
        m = s["momentum"]
        w -= lr * np.sign(m * b1 + g * (dt(1.0) - b1))
        m[...] = m * b2 + g * (dt(1.0) - b2)
    elif name == "ftrl":  # ftrl.py
        p = dt(c("learning_rate_power", -0.5))
        l2 = dt(c("l2_regularization_strength", 0.0)) + dt(c("beta", 0.0)) / (dt(2.0) * lr)
        l1 = dt(c("l1_regularization_strength", 0.0))
        shrinkage = dt(c("l2_shrinkage_regularization_strength", 0.0))
        accumulator, linear = s["accumulator"], s["linear"]
        grad_to_use = g + dt(2) * shrinkage * w
        new_accumulator = accumulator + np.square(g)
        linear += grad_to_use - (new_accumulator**-p - accumulator**-p) / lr * w
        quadratic = new_accumulator**-p / lr + dt(2) * l2
        w[...] = (np.clip(linear, -l1, l1) - linear) / quadratic
        accumulator[...] = new_accumulator
    else:
        raise AssertionError(name)


def keras_run(name, config, weights, grad_steps, dt):
    """``apply`` and ``_backend_apply_gradients`` of base_optimizer.py over ``grad_steps``:
    with gradient accumulation, steps between updates add into the accumulators; an update
    clips, decays and runs update_step; then the moving averages (use_ema) and their
    overwrites; iterations += 1. Returns the weights and slots."""
    config = dict(config)
    rate = config.pop("learning_rate", 0.01 if name == "sgd" else 0.001)
    accumulation, use_ema = config.get("gradient_accumulation_steps"), config.get("use_ema")
    ws = [w.astype(dt) for w in weights]
    slots = [keras_slots(name, config, w) for w in ws]
    for w, s in zip(ws, slots, strict=True):  # base_optimizer.build's, before the class's
        s.update({"average": np.zeros_like(w)} if use_ema else {})
        s.update({"gradient_accumulator": np.zeros_like(w)} if accumulation else {})
    u_product = dt(1.0)
    for steps_done, grads in enumerate(grad_steps):
        lr = dt(rate(steps_done) if callable(rate) else rate)  # schedules see every step
        iterations = steps_done // (accumulation or 1)  # the `iterations` property
        grads = [g.astype(dt) for g in grads]
        if accumulation and (steps_done + 1) % accumulation:
            for g, s in zip(grads, slots, strict=True):
                s["gradient_accumulator"] += g
        else:
            if accumulation:
                grads = [(g + s["gradient_accumulator"]) / dt(accumulation)
                         for g, s in zip(grads, slots, strict=True)]  # fmt: skip
                for s in slots:
                    s["gradient_accumulator"][...] = 0
            u_product = keras_update(name, config, ws, grads, slots, iterations, lr, dt, u_product)
        if use_ema:  # _update_model_variables_moving_average
            momentum = dt(config.get("ema_momentum", 0.99)) * dt(iterations != 0)
            for w, s in zip(ws, slots, strict=True):
                s["average"][...] = momentum * s["average"] + (dt(1) - momentum) * w
            frequency = config.get("ema_overwrite_frequency")
            if frequency and (iterations + 1) % frequency == 0:
                for w, s in zip(ws, slots, strict=True):
                    w[...] = s["average"]
    return ws, slots


def keras_update(name, config, ws, grads, slots, iterations, lr, dt, u_product):
    """One update: clip, decay, update_step (Nadam's running product first); returns the
    product."""
    wd = config.get("weight_decay", 0.004 if name == "adamw" else None)
    clipnorm, global_clipnorm = config.get("clipnorm"), config.get("global_clipnorm")
    clipvalue = config.get("clipvalue")
    if clipnorm:  # _clip_by_norm
        clipped = []
        for g in grads:
            l2sum = np.sum(np.square(g))
            l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
            clipped.append(g * dt(clipnorm) / np.maximum(l2norm, dt(clipnorm)))
        grads = clipped
    elif global_clipnorm:  # clip_by_global_norm
        norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in grads])))
        c = dt(global_clipnorm)
        with np.errstate(divide="ignore"):
            scale = c * np.minimum(dt(1.0) / norm, dt(1.0) / c) + (norm - norm)
        grads = [g * scale for g in grads]
    elif clipvalue:
        grads = [np.clip(g, -dt(clipvalue), dt(clipvalue)) for g in grads]
    if wd is not None:  # _apply_weight_decay
        for w in ws:
            w[...] = w - w * dt(wd) * lr
    if name == "nadam":  # Nadam._backend_update_step
        b1 = dt(config.get("beta_1", 0.9))
        u_product = u_product * b1 * (dt(1.0) - dt(0.5) * dt(0.96) ** dt(iterations + 1))
    for w, g, s in zip(ws, grads, slots, strict=True):
        keras_update_step(name, config, w, g, s, iterations, lr, dt, u_product)
    return u_product


# --------------------------------------------------------------------- the comparisons
def draw(rng: np.random.Generator) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    weights = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) * 0.7 for shape in SHAPES] for _ in range(STEPS)]
    return weights, grads


def autoconv_run(name, config, weights, grad_steps, dt):
    opt = optimizers.get(name, **config)
    params = [Tensor(w.astype(dt), requires_grad=True) for w in weights]
    for grads in grad_steps:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.astype(dt)
        opt.step(params)
    assert opt.iterations == len(grad_steps)
    return [p.data for p in params], opt


# The options of each optimizer itself (run alone), then the base options (run with every one).
OWN = [
    ("sgd", {}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"centered": True, "rho": 0.8}),
    ("rmsprop", {"centered": True, "momentum": 0.5, "epsilon": 1e-3}),
    ("adam", {}),
    ("adam", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-4}),
    ("adam", {"amsgrad": True}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True, "learning_rate": 0.01}),
    ("nadam", {}),
    ("nadam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99}),
    ("adamax", {}),
    ("adamax", {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    ("lamb", {}),
    ("lamb", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-4}),
    ("adafactor", {}),
    ("adafactor", {"relative_step": False, "learning_rate": 0.05, "beta_2_decay": -0.5}),
    ("adafactor", {"learning_rate": schedules.ExponentialDecay(0.5, 2, 0.5)}),  # not clipped
    ("adafactor", {"clip_threshold": 0.2, "epsilon_2": 0.1, "epsilon_1": 1e-3}),
    ("adagrad", {}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.0, "epsilon": 1e-3}),
    ("adadelta", {}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
    ("lion", {}),
    ("lion", {"beta_1": 0.5, "beta_2": 0.9}),
    ("ftrl", {}),
    (
        "ftrl",
        {
            "learning_rate": 0.1,
            "learning_rate_power": -0.3,
            "initial_accumulator_value": 0.5,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.05,
            "beta": 0.5,
        },
    ),
]
BASE = {
    "ema": {"use_ema": True, "ema_momentum": 0.9},
    "ema_overwrite": {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
    "accumulation": {"gradient_accumulation_steps": 2, "clipnorm": 0.9, "learning_rate": 0.05},
    "accumulation_ema": {
        "gradient_accumulation_steps": 3,
        "use_ema": True,
        "weight_decay": 0.05,
        "ema_overwrite_frequency": 1,
        "learning_rate": schedules.ExponentialDecay(0.01, 2, 0.5),
    },
    "weight_decay": {"weight_decay": 0.05},
    "clipnorm": {"clipnorm": 0.9},  # the per-parameter norms here are ~1.5 and ~2.5
    "global_clipnorm": {"global_clipnorm": 2.0},
    "clipvalue": {"clipvalue": 0.3},
    "schedule": {"learning_rate": schedules.ExponentialDecay(0.01, 2, 0.5)},
}
# (Muon and ScheduleFreeAdamW have files of their own: test_optimizers_muon.py, ...schedule_free.py)
TRANSCRIBED = [name for name in optimizers.OPTIMIZERS if name not in ("muon", "schedulefreeadamw")]
CASES = OWN + [(name, base) for name in TRANSCRIBED for base in BASE.values()]
IDS = [f"{name}-{'-'.join(map(str, config)) or 'defaults'}" for name, config in CASES]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "config"), CASES, ids=IDS)
def test_matches_keras_update_rules(name, config, dtype, rng):
    weights, grads = draw(rng)
    got, opt = autoconv_run(name, config, weights, grads, dtype)
    want, want_slots = keras_run(name, config, weights, grads, dtype)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w, **TOLERANCE[dtype])
    assert not np.allclose(got[0], weights[0]), "nothing moved: the case tests nothing"
    for slots, reference in zip(opt.slots, want_slots, strict=True):
        for slot, value in slots.items():
            assert value.dtype == dtype
            np.testing.assert_allclose(value, reference[slot], **TOLERANCE[dtype])


def test_the_comparison_can_fail(rng):
    weights, grads = draw(rng)
    got, _ = autoconv_run("adam", {}, weights, grads, np.float64)
    want, _ = keras_run("adam", {"epsilon": 1e-6}, weights, grads, np.float64)
    assert not np.allclose(got[0], want[0], **TOLERANCE[np.float64])


# ------------------------------------------------------------------------- PyTorch parity
# PyTorch's rule equals Keras's for these, with these arguments. Where the epsilon sits
# elsewhere (Keras: Adam and AdamW add it to sqrt(v) before the bias correction of v, so it acts
# as eps/sqrt(1 - beta_2^t) in PyTorch's terms; Adagrad and RMSprop put it inside the square
# root, PyTorch outside; Adamax adds it to u after the max, PyTorch to |g| inside it), epsilon
# is 0, where the two agree. PyTorch's weight_decay is an L2 term in the gradient except in
# AdamW, so only AdamW decays. Nadam is PyTorch's NAdam with momentum_decay=1 (Keras's
# schedule is 0.96^t, PyTorch's 0.96^(t*momentum_decay)). Lion and Ftrl are not in PyTorch.
TORCH = [
    ("sgd", {"learning_rate": 0.1}, "SGD", {"lr": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, "SGD", {"lr": 0.1, "momentum": 0.9}),
    (
        "sgd",
        {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
        "SGD",
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    ("rmsprop", {"epsilon": 0.0}, "RMSprop", {"lr": 1e-3, "alpha": 0.9, "eps": 0.0}),
    (
        "rmsprop",
        {"epsilon": 0.0, "momentum": 0.5, "centered": True},
        "RMSprop",
        {"lr": 1e-3, "alpha": 0.9, "eps": 0.0, "momentum": 0.5, "centered": True},
    ),
    ("adam", {"epsilon": 0.0}, "Adam", {"lr": 1e-3, "eps": 0.0}),
    ("adam", {"epsilon": 0.0, "amsgrad": True}, "Adam", {"lr": 1e-3, "eps": 0.0, "amsgrad": True}),
    (
        "adamw",
        {"epsilon": 0.0, "weight_decay": 0.1, "learning_rate": 0.01},
        "AdamW",
        {"lr": 0.01, "eps": 0.0, "weight_decay": 0.1},
    ),
    ("adamax", {"epsilon": 0.0}, "Adamax", {"lr": 1e-3, "eps": 0.0}),
    (
        "adagrad",
        {"epsilon": 0.0, "learning_rate": 0.1},
        "Adagrad",
        {"lr": 0.1, "eps": 0.0, "initial_accumulator_value": 0.1},
    ),
    (
        "adadelta",
        {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6},
        "Adadelta",
        {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
    ),
    ("nadam", {}, "NAdam", {"lr": 1e-3, "eps": 1e-7, "momentum_decay": 1.0}),
]


@pytest.mark.parametrize(("name", "config", "torch_name", "torch_config"), TORCH)
def test_matches_pytorch_where_the_rules_agree(name, config, torch_name, torch_config, torch, rng):
    weights, grads = draw(rng)
    got, _ = autoconv_run(name, config, weights, grads, np.float64)
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    opt = getattr(torch.optim, torch_name)(params, **torch_config)
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    for g, p in zip(got, params, strict=True):
        np.testing.assert_allclose(g, p.detach().numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- schedules
def keras_schedule(kind: str, config: dict, step: int) -> float:
    """learning_rate_schedule.py's ``__call__``, transcribed with NumPy."""
    step = np.float64(step)
    c = config.get
    if kind == "ExponentialDecay":
        p = step / c("decay_steps")
        p = np.floor(p) if c("staircase", False) else p
        return c("initial_learning_rate") * np.power(c("decay_rate"), p)
    if kind == "PiecewiseConstantDecay":
        b, v = c("boundaries"), c("values")
        result = (step <= b[0]) * v[0] + (step > b[-1]) * v[-1]
        for low, high, value in zip(b[:-1], b[1:], v[1:-1], strict=True):
            result += ((step > low) & (step <= high)) * value
        return result
    if kind == "PolynomialDecay":
        decay_steps = np.float64(c("decay_steps"))
        if c("cycle", False):
            decay_steps *= np.where(step == 0, 1.0, np.ceil(step / c("decay_steps")))
        else:
            step = np.minimum(step, decay_steps)
        p = step / decay_steps
        initial, end = c("initial_learning_rate"), c("end_learning_rate", 0.0001)
        return (initial - end) * np.power(1 - p, c("power", 1.0)) + end
    if kind == "InverseTimeDecay":
        p = step / c("decay_steps")
        p = np.floor(p) if c("staircase", False) else p
        return c("initial_learning_rate") / (1 + c("decay_rate") * p)
    if kind == "CosineDecay":

        def decay(step, decay_from):
            cosine_decayed = 0.5 * (1.0 + np.cos(np.pi * step / c("decay_steps")))
            return decay_from * ((1 - c("alpha", 0.0)) * cosine_decayed + c("alpha", 0.0))

        if c("warmup_target") is None:
            return decay(np.minimum(step, c("decay_steps")), c("initial_learning_rate"))
        warmup_steps = c("warmup_steps", 0)
        step = np.minimum(step, c("decay_steps") + warmup_steps)
        if step < warmup_steps:
            delta = c("warmup_target") - c("initial_learning_rate")
            return delta * (step / warmup_steps) + c("initial_learning_rate")
        return decay(step - warmup_steps, c("warmup_target"))
    if kind == "CosineDecayRestarts":
        fraction = step / c("first_decay_steps")
        t_mul, m_mul, alpha = c("t_mul", 2.0), c("m_mul", 1.0), c("alpha", 0.0)
        if t_mul == 1.0:
            i_restart = np.floor(fraction)
            fraction -= i_restart
        else:
            i_restart = np.floor(np.log(1.0 - fraction * (1.0 - t_mul)) / np.log(t_mul))
            sum_r = (1.0 - t_mul**i_restart) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / t_mul**i_restart
        cosine = 0.5 * m_mul**i_restart * (1.0 + np.cos(np.pi * fraction))
        return c("initial_learning_rate") * ((1 - alpha) * cosine + alpha)
    raise AssertionError(kind)


SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.9}),
    (
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5, "staircase": True},
    ),
    ("PiecewiseConstantDecay", {"boundaries": [5, 20], "values": [1.0, 0.5, 0.1]}),
    ("PiecewiseConstantDecay", {"boundaries": [3], "values": [0.3, 0.03]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 30}),
    (
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 30,
            "end_learning_rate": 0.01,
            "power": 0.5,
            "cycle": True,
        },
    ),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5}),
    (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5, "staircase": True},
    ),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "alpha": 0.2}),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.0, "decay_steps": 30, "warmup_target": 0.1, "warmup_steps": 10},
    ),
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.01,
            "decay_steps": 30,
            "warmup_target": 0.1,
            "warmup_steps": 0,
            "alpha": 0.1,
        },
    ),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10}),
    (
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 10,
            "t_mul": 1.0,
            "m_mul": 0.5,
            "alpha": 0.1,
        },
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 8, "t_mul": 1.5, "m_mul": 0.8},
    ),
]
STEPS_TO_CHECK = [0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 19, 20, 21, 29, 30, 31, 45, 60, 100, 1000]


@pytest.mark.parametrize(("kind", "config"), SCHEDULES, ids=[k for k, _ in SCHEDULES])
def test_schedules_match_keras(kind, config):
    schedule = getattr(schedules, kind)(**config)
    for step in STEPS_TO_CHECK:
        got = schedule(step)
        assert got.shape == () and got.dtype == np.float32  # as Keras's tensor
        want = np.float32(keras_schedule(kind, config, step))
        assert float(got) == pytest.approx(float(want), rel=1e-7, abs=1e-15)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()


@pytest.mark.parametrize(("kind", "config"), SCHEDULES[::3], ids=[k for k, _ in SCHEDULES[::3]])
def test_a_schedules_rate_reads_as_kerass_0d_float32_tensor(kind, config, keras):
    """keras.io reads a schedule's rate with ``float()``, ``numpy()``,
    ``ops.convert_to_numpy`` and arithmetic; an optimizer's rate under it, too."""
    ours = getattr(schedules, kind)(**config)
    theirs = getattr(keras.optimizers.schedules, kind)(**config)
    for rate, their_rate in [
        (ours(7), theirs(7)),
        (optimizers.SGD(ours).learning_rate, keras.optimizers.SGD(theirs).learning_rate),
    ]:
        want = keras.ops.convert_to_numpy(their_rate)
        got = ac.ops.convert_to_numpy(rate)
        assert (got.shape, got.dtype, rate.numpy().dtype) == ((), want.dtype, want.dtype)
        read = [float(rate), rate.numpy(), got, rate * 2, 1 / rate]
        want = [
            float(their_rate),
            their_rate.numpy(),
            want,
            *map(float, (their_rate * 2, 1 / their_rate)),
        ]
        np.testing.assert_allclose(read, want, rtol=1e-6)


@pytest.mark.parametrize("values", [[5, 6, 7], [0.5, 0.2, 0.1]])
def test_piecewise_constant_values_keep_their_first_values_dtype_as_kerass(values, keras):
    ours = schedules.PiecewiseConstantDecay([1, 3], values)
    theirs = keras.optimizers.schedules.PiecewiseConstantDecay([1, 3], values)
    for step in (0, 2, 4):
        want = keras.ops.convert_to_numpy(theirs(step))
        got = ac.ops.convert_to_numpy(ours(step))
        assert (got.dtype, got) == (want.dtype, want)


def test_schedules_by_hand():
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(20) == pytest.approx(0.025)
    assert schedules.PiecewiseConstantDecay([10], [1.0, 0.5])(10) == 1.0
    assert schedules.PiecewiseConstantDecay([10], [1.0, 0.5])(11) == 0.5
    assert schedules.PolynomialDecay(0.1, 10, 0.0)(5) == pytest.approx(0.05)
    assert schedules.PolynomialDecay(0.1, 10, 0.0)(50) == 0.0
    assert schedules.InverseTimeDecay(0.1, 1, 1.0)(1) == pytest.approx(0.05)
    assert schedules.CosineDecay(0.1, 10)(5) == pytest.approx(0.05)
    warm = schedules.CosineDecay(0.0, 10, warmup_target=0.2, warmup_steps=4)
    assert [warm(s) for s in (0, 2, 4)] == pytest.approx([0.0, 0.1, 0.2])
    restarts = schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5)
    assert restarts(10) == pytest.approx(0.05)  # the first restart: m_mul * the initial rate
    assert restarts(30) == pytest.approx(0.025)  # the second, after 10 + 20 steps


def test_schedule_errors():
    with pytest.raises(ValueError, match="decay_steps` must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="first_decay_steps` must be > 0"):
        schedules.CosineDecayRestarts(0.1, -1)
    with pytest.raises(ValueError, match="boundaries should be 1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="unknown learning rate schedule 'Foo'"):
        schedules.deserialize({"class_name": "Foo", "config": {}})
    with pytest.raises(NotImplementedError, match="must override"):
        schedules.LearningRateSchedule()(1)


def _warmup_schedule(lib):
    """A user's schedule (keras-io's ShiftViT's warmup), registered in ``lib``."""

    @lib.saving.register_keras_serializable(package="ScheduleTest")
    class Warmup(lib.optimizers.schedules.LearningRateSchedule):
        def __init__(self, lr_max, warmup_steps):
            super().__init__()
            self.lr_max, self.warmup_steps = lr_max, warmup_steps

        def __call__(self, step):
            return self.lr_max * lib.ops.minimum(1.0, (step + 1) / self.warmup_steps)

        def get_config(self):
            return {"lr_max": self.lr_max, "warmup_steps": self.warmup_steps}

    return Warmup


def test_a_users_registered_schedule_is_written_and_read_as_kerass(keras):
    """Under its Python module and registered name, not as one of Keras's own; read back by
    that name, from autoconv's entry and from Keras's."""
    ours, theirs = _warmup_schedule(ac)(1e-3, 4), _warmup_schedule(keras)(1e-3, 4)
    entry = schedules.serialize(ours)
    assert entry == keras.optimizers.schedules.serialize(theirs)
    assert entry["registered_name"] == "ScheduleTest>Warmup"
    for written in (entry, keras.optimizers.schedules.serialize(theirs)):
        again = schedules.deserialize(written)
        assert type(again) is type(ours) and again.get_config() == ours.get_config()
    optimizer = ac.optimizers.deserialize(ac.optimizers.serialize(ac.optimizers.AdamW(ours)))
    assert type(optimizer._learning_rate) is type(ours)


def test_an_optimizer_follows_its_schedule():
    schedule = schedules.PiecewiseConstantDecay([1], [0.5, 0.25])
    opt = optimizers.SGD(learning_rate=schedule)
    w = Tensor(np.zeros(2), requires_grad=True)
    assert opt.learning_rate == 0.5
    for _ in range(3):
        opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_allclose(w.data, -(0.5 + 0.5 + 0.25))  # steps 0 and 1: 0.5; step 2: 0.25
    assert opt.learning_rate == 0.25
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1
    opt.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)
    assert opt.learning_rate == 0.125  # evaluated at iterations = 3
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    again = optimizers.SGD.from_config(config)
    assert isinstance(again._learning_rate, schedules.ExponentialDecay)


def test_learning_rate_as_a_function_and_settable():
    opt = optimizers.Adam(learning_rate=lambda: 0.02)
    assert opt.learning_rate == 0.02
    opt = optimizers.Adam()
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0


# ------------------------------------------------------------------------- clipping
def test_clipnorm_and_global_clipnorm_by_hand():
    g = np.array([3.0, 4.0])  # norm 5
    w = Tensor(np.zeros(2), requires_grad=True)
    optimizers.SGD(1.0, clipnorm=1.0).apply([g], [w])
    np.testing.assert_allclose(w.data, -g / 5)
    w = Tensor(np.zeros(2), requires_grad=True)
    optimizers.SGD(1.0, clipnorm=10.0).apply([g], [w])
    np.testing.assert_allclose(w.data, -g)  # under the norm: unchanged
    a, b = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(1), requires_grad=True)
    optimizers.SGD(1.0, global_clipnorm=6.5).apply([g, np.array([12.0])], [a, b])  # norm 13
    np.testing.assert_allclose(np.r_[a.data, b.data], -np.r_[g, 12.0] / 2)
    w = Tensor(np.zeros(3), requires_grad=True)
    optimizers.SGD(1.0, clipvalue=0.5).apply([np.array([-2.0, 0.25, 9.0])], [w])
    np.testing.assert_allclose(w.data, [0.5, -0.25, -0.5])


def test_zero_gradient_with_clipping_stays_finite():
    for option in ({"clipnorm": 1.0}, {"global_clipnorm": 1.0}):
        w = Tensor(np.ones(3), requires_grad=True)
        optimizers.Adam(**option).apply([np.zeros(3)], [w])
        np.testing.assert_array_equal(w.data, np.ones(3))


def test_weight_decay_skips_excluded_variables():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    opt = optimizers.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[b])
    opt.apply([np.zeros(2), np.zeros(2)], [a, b])
    np.testing.assert_allclose(a.data, 1 - 0.5 * 0.1)
    np.testing.assert_array_equal(b.data, 1.0)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_list=[a])
    opt = optimizers.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises(ValueError, match="needs named variables"):
        opt.apply([np.zeros(2)], [a])


# ------------------------------------------------------------------ a skipped step
@pytest.mark.parametrize(
    "base",
    [{}, {"use_ema": True, "ema_overwrite_frequency": 1}, {"gradient_accumulation_steps": 2}],
    ids=["plain", "ema", "accumulation"],
)
@pytest.mark.parametrize("name", list(optimizers.OPTIMIZERS))
def test_a_set_status_changes_nothing_and_the_steps_can_be_discarded(name, base, rng):
    weights, grads = draw(rng)
    opt = optimizers.get(name, weight_decay=0.1, clipnorm=1.0, **base)
    params = [Tensor(w.copy(), requires_grad=True) for w in weights]
    for p, g in zip(params, grads[0], strict=True):
        p.grad = g
    opt.step(params)
    before = (
        [p.data.copy() for p in params],
        [{k: v.copy() for k, v in s.items()} for s in opt.slots],
    )
    status = np.array([2, 1])  # a gradient went non-finite at step 1
    for _ in range(2):
        opt.step(params, status)
    for p, w in zip(params, before[0], strict=True):
        np.testing.assert_array_equal(p.data, w)
    for slots, saved in zip(opt.slots, before[1], strict=True):
        for slot, value in slots.items():
            np.testing.assert_array_equal(value, saved[slot])
    assert opt.iterations == 3
    opt.discard_steps(2)
    assert opt.iterations == 1
    with pytest.raises(ValueError, match="discard_steps"):
        opt.discard_steps(2)
    opt.step(params)  # the next good step is step 2, as if nothing had been skipped
    again = optimizers.get(name, weight_decay=0.1, clipnorm=1.0, **base)
    fresh = [Tensor(w.copy(), requires_grad=True) for w in weights]
    for _ in range(2):
        for p, g in zip(fresh, grads[0], strict=True):
            p.grad = g
        again.step(fresh)
    for p, q in zip(params, fresh, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


# ------------------------------------------------- moving averages and accumulated gradients
def test_finalize_sets_the_weights_to_their_moving_averages(rng):
    """Keras's finalize_variable_values: with use_ema, each weight becomes its average (what
    fit does when it ends); without, nothing changes."""
    weights, grads = draw(rng)
    for use_ema in (True, False):
        opt = optimizers.SGD(0.1, use_ema=use_ema, ema_momentum=0.5)
        params = [Tensor(w.copy(), requires_grad=True) for w in weights]
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g
            opt.step(params)
        last = [p.data.copy() for p in params]
        opt.finalize_variable_values(params)
        for p, w, slots in zip(params, last, opt.slots, strict=True):
            np.testing.assert_array_equal(p.data, slots["average"] if use_ema else w)
            assert not use_ema or not np.allclose(p.data, w)
    untouched = Tensor(weights[0].copy())  # no step yet: no averages to take
    optimizers.SGD(use_ema=True).finalize_variable_values([untouched])
    np.testing.assert_array_equal(untouched.data, weights[0])


def test_accumulated_gradients_update_every_nth_step_with_their_mean(rng):
    """gradient_accumulation_steps=3 over 6 steps is plain SGD over the means of each 3."""
    weights, grads = draw(rng)
    grads = grads + grads[:2]
    accumulating = optimizers.SGD(0.1, momentum=0.5, gradient_accumulation_steps=3)
    plain = optimizers.SGD(0.1, momentum=0.5)
    params = [Tensor(w.copy(), requires_grad=True) for w in weights]
    reference = [Tensor(w.copy(), requires_grad=True) for w in weights]
    for step, current in enumerate(grads):
        before = [p.data.copy() for p in params]
        for p, g in zip(params, current, strict=True):
            p.grad = g
        accumulating.step(params)
        moved = not all(np.array_equal(p.data, b) for p, b in zip(params, before, strict=True))
        assert moved == (step % 3 == 2)
        if step % 3 == 2:
            for i, r in enumerate(reference):
                r.grad = np.mean([grads[step - k][i] for k in range(3)], axis=0)
            plain.step(reference)
            for p, r in zip(params, reference, strict=True):
                np.testing.assert_allclose(p.data, r.data, rtol=1e-12)
    assert (accumulating.iterations, accumulating.update_iterations) == (6, 2)
    assert all(not slots["gradient_accumulator"].any() for slots in accumulating.slots)


def test_slots_of_the_base_options_come_first_as_keras_makes_them():
    assert optimizers.Adam(use_ema=True, gradient_accumulation_steps=2).all_slot_names == (
        "average", "gradient_accumulator", "m", "v")  # fmt: skip
    assert optimizers.SGD(gradient_accumulation_steps=4).all_slot_names == (
        "gradient_accumulator",)  # fmt: skip
    lion = optimizers.Lion(use_ema=True, ema_overwrite_frequency=5)
    clone = optimizers.deserialize(optimizers.serialize(lion))
    assert clone.get_config() == lion.get_config()
    assert clone.get_config()["ema_overwrite_frequency"] == 5
    assert clone.all_slot_names == ("average", "momentum")


# ---------------------------------------------------------------------- the public API
def test_keras_defaults():
    assert optimizers.SGD().learning_rate == 0.01
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (
        1e-3,
        0.9,
        0.0,
        1e-7,
        False,
    )
    a = optimizers.Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == (
        1e-3, 0.9, 0.999, 1e-7, False,
    )  # fmt: skip
    assert optimizers.AdamW().weight_decay == 0.004
    assert optimizers.AdamW(0.1, 0.02).weight_decay == 0.02  # Keras's positional order
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    assert optimizers.Adadelta().rho == 0.95
    assert (optimizers.Lion().beta_1, optimizers.Lion().beta_2) == (0.9, 0.99)
    assert optimizers.Ftrl().learning_rate_power == -0.5
    ac.backend.clear_session()  # Keras's automatic names: the class's, snake case, unique
    made = [optimizers.SGD(), optimizers.RMSprop(), optimizers.AdamW(), optimizers.SGD()]
    assert [opt.name for opt in made] == ["sgd", "rm_sprop", "adam_w", "sgd_1"]
    assert optimizers.Adam(name="mine").name == "mine"
    config = optimizers.Adam().get_config()
    assert set(config) >= {
        "name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
        "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
        "gradient_accumulation_steps", "beta_1", "beta_2", "epsilon", "amsgrad",
    }  # fmt: skip


@pytest.mark.parametrize(("name", "config"), OWN, ids=IDS[: len(OWN)])
def test_config_round_trips(name, config):
    opt = optimizers.get(name, **config)
    for again in (
        type(opt).from_config(opt.get_config()),
        optimizers.deserialize(optimizers.serialize(opt)),
        optimizers.get(optimizers.serialize(opt)),
        optimizers.get(type(opt).__name__, **opt.get_config()),
    ):
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
        assert again.slot_names == opt.slot_names


def test_get_by_any_name_and_errors():
    for name in ("adam", "Adam", "ADAM"):
        assert isinstance(optimizers.get(name), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("adamw"), optimizers.AdamW)
    opt = optimizers.Nadam()
    assert optimizers.get(opt) is opt and optimizers.get(None) is None
    assert optimizers.get("sgd", learning_rate=0.5).learning_rate == 0.5
    with pytest.raises(ValueError, match="unknown optimizer 'adamwr'"):
        optimizers.get("adamwr")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        optimizers.get(3)
    assert set(optimizers.OPTIMIZERS) == {
        "sgd", "rmsprop", "adam", "adamw", "nadam", "adamax", "lamb", "adafactor", "adagrad",
        "adadelta", "lion", "ftrl", "muon", "schedulefreeadamw",
    }  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lamb_takes_an_unscaled_step_where_a_norm_is_zero(dtype):
    """A parameter of zeros (a bias as it starts) has a trust ratio of 1, as in Keras, and so
    does one whose step is zero; the others are scaled by theirs."""
    weights = [np.zeros(3), np.full(4, 2.0), np.ones((2, 3))]
    grads = [[np.array([1.0, -2.0, 0.5]), np.zeros(4), np.arange(6.0).reshape(2, 3) - 2]]
    got, _ = autoconv_run("lamb", {"learning_rate": 0.1}, weights, grads, dtype)
    want, _ = keras_run("lamb", {"learning_rate": 0.1}, weights, grads, dtype)
    np.testing.assert_allclose(got[0], -0.1 * np.sign(grads[0][0]), rtol=1e-5)  # (epsilon)
    np.testing.assert_array_equal(got[1], weights[1])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adafactor_factors_rank_3_and_keeps_no_factors_below_rank_2(dtype, rng):
    """A kernel of rank 3 (a conv's, say) is factored over its last two dimensions; a scalar
    and a vector have a velocity only, as Keras saves."""
    weights = [rng.standard_normal(shape) for shape in [(2, 3, 4), (), (4,)]]
    grads = [[rng.standard_normal(w.shape) for w in weights] for _ in range(STEPS)]
    config = {"learning_rate": 0.1, "clip_threshold": 0.5, "weight_decay": 0.1}
    got, opt = autoconv_run("adafactor", config, weights, grads, dtype)
    want, want_slots = keras_run("adafactor", config, weights, grads, dtype)
    assert [{n: v.shape for n, v in slots.items()} for slots in opt.slots] == [
        {"r": (2, 3), "c": (2, 4), "velocity": (2, 3, 4)}, {"velocity": ()}, {"velocity": (4,)},
    ]  # fmt: skip
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **TOLERANCE[dtype])
    for slots, reference in zip(opt.slots, want_slots, strict=True):
        for slot, value in slots.items():
            np.testing.assert_allclose(value, reference[slot], **TOLERANCE[dtype])
    assert not np.allclose(got[0], weights[0])
    with pytest.raises(ValueError, match=r"slot 'r' of .* must have shape \(2, 3\)"):
        opt.slots[0]["r"] = np.zeros((3, 2), dtype)
        opt.build(opt._variables)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_adafactor_takes_no_step_where_its_second_moment_underflows(device):
    """A gradient row and column all zero (an input no sample has, a unit dead for the batch:
    a ReLU convnet's Dense kernel at its first step) make v = (1e-30 / mean(r)) * 1e-30, 0 in
    float32: Keras 3.15 divides 0 by 0 and the whole kernel becomes NaN; autoconv takes no step
    there and the rest of the layer's as Keras."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    grad = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0]], np.float32)
    weights = np.ones((3, 2), np.float32)
    param = Tensor(weights.copy(), requires_grad=True, device=device)
    param.grad = namespace(device).asarray(grad)
    optimizers.Adafactor().step([param])
    got = param.numpy()
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got[:, 0], weights[:, 0])  # (its gradient is 0: no step)
    with np.errstate(all="ignore"):
        want, _ = keras_run("adafactor", {}, [weights], [[grad]], np.float32)
    assert np.isnan(want[0]).all()  # Keras's, transcribed
    assert (got[1:, 1] < 1).all()


def test_apply_names_the_variables_without_a_gradient_as_keras(keras):
    """keras.io's DeiT applies its gradients itself (``optimizer.apply(grads, vars)``), one of
    them None: Keras's warning names the variables by their paths."""

    def warned(lib):
        variables = [lib.Variable(np.ones(2, np.float32), name=n) for n in ("a", "b", "c")]
        optimizer = lib.optimizers.SGD(0.1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            optimizer.apply([None, lib.ops.ones(2), None], variables)
        return [str(w.message) for w in caught if "Gradients" in str(w.message)]

    assert (
        warned(ac)
        == warned(keras)
        == [
            "Gradients do not exist for variables ['a', 'c'] when minimizing the loss. If using "
            "`model.compile()`, did you forget to provide a `loss` argument?"
        ]
    )


def test_kerass_pytorch_training_step_runs_as_written(keras):
    """keras.io's custom training step on PyTorch: ``loss.backward()``, each weight's
    ``value.grad`` given to ``optimizer.apply`` under ``torch.no_grad()``; the gradients (read
    with ``ops.convert_to_numpy``) and the weights after the step are Keras's."""
    import torch

    x, y = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), np.ones((4, 2), np.float32)
    start = [np.full((3, 2), 0.5, np.float32), np.array([0.1, -0.1], np.float32)]

    def step(lib):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        model.set_weights(start)
        optimizer = lib.optimizers.SGD(0.1)
        loss = lib.losses.MeanSquaredError()(y, model(x))
        loss.backward()
        gradients = [v.value.grad for v in model.trainable_weights]
        with torch.no_grad():
            optimizer.apply(gradients, model.trainable_weights)
        return [*(lib.ops.convert_to_numpy(g) for g in gradients), *model.get_weights()]

    for ours, theirs in zip(step(ac), step(keras), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_apply_gradients_with_arrays_and_tensors():
    w = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    b = Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = optimizers.SGD(0.5)
    assert opt.apply_gradients(zip([np.ones((2, 2)), Tensor([2.0, 4.0])], [w, b], strict=True)) == 1
    np.testing.assert_array_equal(w.data, 0.5)
    np.testing.assert_array_equal(b.data, [0.0, -1.0])
    assert w.data.dtype == np.float32 and b.data.dtype == np.float32
    opt.apply([np.ones((2, 2)), np.ones(2)])  # built: the variables may be left out
    np.testing.assert_array_equal(w.data, 0.0)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        opt.apply([None, np.ones(2)], [w, b])
    np.testing.assert_array_equal(w.data, 0.0)
    assert opt.iterations == 3
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply([None, None], [w, b])
    with pytest.raises(ValueError, match="unknown variable"):
        opt.apply([np.ones(2)], [Tensor(np.ones(2))])
    with pytest.raises(ValueError, match="gradient of shape"):
        opt.apply([np.ones(3), np.ones(2)], [w, b])
    with pytest.raises(ValueError, match="must already be built"):
        optimizers.Adam().apply([np.ones(2)])
    opt.apply([])  # nothing to do, as Keras
    assert opt.iterations == 3


def test_step_skips_params_without_grad_and_zero_grad():
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float32), requires_grad=True)
    a.grad = np.full(3, 0.1, np.float32)
    opt = optimizers.Adam()
    opt.step([a, b])
    assert a.data.dtype == np.float32 and not np.array_equal(a.data, np.ones(3))
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert len(opt.slots) == 2
    opt.zero_grad([a, b])
    assert a.grad is None


def test_slots_start_where_keras_starts_them():
    w = Tensor(np.ones(2), requires_grad=True)
    for name, slot, value in [("adagrad", "accumulator", 0.1), ("ftrl", "accumulator", 0.1)]:
        opt = optimizers.get(name)
        opt.build([w])
        np.testing.assert_array_equal(opt.slots[0][slot], value)
    opt = optimizers.Adagrad(initial_accumulator_value=0.3)
    opt.build([w])
    np.testing.assert_array_equal(opt.slots[0]["accumulator"], 0.3)
    assert optimizers.RMSprop(momentum=0.5, centered=True).slot_names == (
        "velocity", "momentum", "average_gradient",
    )  # fmt: skip
    assert optimizers.Adam(amsgrad=True).slot_names == ("m", "v", "v_hat")
    assert optimizers.SGD().slot_names == ()


BAD_ARGUMENTS = [
    (optimizers.SGD, {"learning_rate": -0.1}, "learning_rate"),
    (optimizers.SGD, {"learning_rate": math.nan}, "learning_rate"),
    (optimizers.SGD, {"learning_rate": "fast"}, "learning_rate"),
    (optimizers.SGD, {"momentum": 1.5}, "momentum"),
    (optimizers.Adam, {"beta_1": 1.0}, "beta_1"),
    (optimizers.Adam, {"beta_1": -0.1}, "beta_1"),
    (optimizers.Nadam, {"beta_2": 1.0}, "beta_2"),
    (optimizers.Adamax, {"beta_1": math.nan}, "beta_1"),
    (optimizers.AdamW, {"weight_decay": None}, "weight_decay"),
    (optimizers.AdamW, {"weight_decay": -0.1}, "weight_decay"),
    (optimizers.RMSprop, {"rho": math.nan}, "rho"),
    (optimizers.RMSprop, {"epsilon": -1e-7}, "epsilon"),
    (optimizers.Adadelta, {"rho": 1.5}, "rho"),
    (optimizers.Adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    (optimizers.Lion, {"beta_1": 0.0}, "beta_1"),
    (optimizers.Ftrl, {"learning_rate_power": 0.5}, "learning_rate_power"),
    (optimizers.Ftrl, {"l1_regularization_strength": -1.0}, "l1_regularization_strength"),
    (optimizers.Adam, {"clipnorm": 1.0, "global_clipnorm": 1.0}, "only one of"),
    (optimizers.Adam, {"clipnorm": 1.0, "clipvalue": 1.0}, "only one of"),
    (optimizers.Adam, {"clipnorm": -1.0}, "clipnorm"),
    (optimizers.Adam, {"clipvalue": math.nan}, "clipvalue"),
    (optimizers.Adam, {"loss_scale_factor": 128.0}, "loss_scale_factor"),
    (optimizers.Adam, {"gradient_accumulation_steps": 1}, "must be an integer >= 2"),
    (optimizers.SGD, {"gradient_accumulation_steps": 2.5}, "must be an integer >= 2"),
    (optimizers.Adam, {"use_ema": True, "ema_momentum": 1.5}, "ema_momentum"),
    (optimizers.Lion, {"use_ema": True, "ema_overwrite_frequency": 0.5}, "integer >= 1 or None"),
    (optimizers.Adam, {"beta_3": 0.5}, "not recognized"),
]


@pytest.mark.parametrize(("cls", "kwargs", "match"), BAD_ARGUMENTS)
def test_bad_arguments_are_clear_errors(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_keras_decay_argument_is_ignored_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizers.SGD(decay=0.1)
    assert "no longer supported" in str(caught[0].message)


def test_a_numbers_learning_rate_is_kerass_float32_variable(keras):
    ours, theirs = optimizers.Adam(name="opt"), keras.optimizers.Adam(name="opt")
    rate, their_rate = ours.learning_rate, theirs.learning_rate
    assert repr(rate) == repr(their_rate)
    assert rate.path == their_rate.path and rate.shape == () and rate.dtype == "float32"
    assert float(rate) == float(keras.ops.convert_to_numpy(their_rate))
    assert rate.numpy() == their_rate.numpy() and rate.numpy().dtype == np.float32
    assert f"{rate:.4f}" == "0.0010" and rate * 10 == np.float32(1e-3) * 10 and 2 / rate > 1999
    rate.assign(1e-4)
    their_rate.assign(1e-4)
    assert float(rate) == float(ours.learning_rate) == float(their_rate.numpy())  # a live view
    ours.learning_rate = 0.5
    assert rate == 0.5 and ours.learning_rate_value() == 0.5
    scheduled = optimizers.SGD(schedules.ExponentialDecay(0.1, 2, 0.5))
    assert scheduled.learning_rate == np.float32(0.1)
    assert not hasattr(scheduled.learning_rate, "assign")


def test_iterations_is_kerass_int32_variable(keras):
    """``optimizer.iterations``: Keras's repr, path, dtype, ``numpy()``, ``int()``, f-string,
    comparisons and ``assign``, counting the steps taken live; arithmetic gives ints."""
    ours, theirs = optimizers.SGD(0.1, name="opt"), keras.optimizers.SGD(0.1, name="opt")
    steps, their_steps = ours.iterations, theirs.iterations
    assert repr(steps) == repr(their_steps) == f"{steps}"
    assert (steps.path, steps.name, steps.dtype) == (their_steps.path, "iteration", "int32")
    assert steps.numpy() == their_steps.numpy() == 0 and steps.numpy().dtype == np.int32
    weights = [ac.Variable(np.ones(2, np.float32)), keras.Variable(np.ones(2, np.float32))]
    ours.apply([np.ones(2, np.float32)], weights[:1])
    theirs.apply([keras.ops.ones(2)], weights[1:])
    assert int(steps) == int(their_steps) == 1 and steps == 1 and steps > 0
    assert steps + 1 == 2 and 7 // (steps + 1) == 3 and isinstance(steps * 2, int)
    steps.assign(5)
    their_steps.assign(5)
    assert int(ours.iterations) == int(their_steps.numpy()) == 5
    ours.iterations = 0
    assert steps == 0 and repr(ours.variables[0]) == repr(
        keras.optimizers.SGD(name="opt").iterations
    )
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="iterations"):
            ours.iterations = bad


def test_round_of_the_scalar_variables_as_kerass(keras):
    # keras.callbacks.LearningRateScheduler's docstring prints round(optimizer.learning_rate, 5)
    for opt in (optimizers.SGD(0.0123456), keras.optimizers.SGD(0.0123456)):
        rate, steps = round(opt.learning_rate, 3), round(opt.iterations)
        rate, steps = keras.ops.convert_to_numpy(rate), keras.ops.convert_to_numpy(steps)
        assert (rate, rate.dtype, steps, steps.dtype) == (np.float32(0.012), "float32", 0, "int32")


def test_the_steps_take_the_rate_as_given_and_the_logs_as_keras_shows_it(capsys):
    from autoconv import layers

    model = ac.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizers.SGD(1e-3), "mse")
    x = np.ones((4, 2), np.float32)
    same = ac.callbacks.LearningRateScheduler(lambda epoch, lr: lr)
    history = model.fit(x, x[:, :1], epochs=1, verbose=2, callbacks=[same])
    assert history.history["learning_rate"] == [float(np.float32(1e-3))]
    assert " - learning_rate: 0.0010 - " in capsys.readouterr().out  # Keras's, not 1.0000e-03
    assert model.optimizer.learning_rate_value() == float(np.float32(1e-3))


@pytest.mark.parametrize(
    "given",
    ["its own variable", "a 0-d tensor", "a 0-d array", "a NumPy scalar"],
)
def test_the_learning_rate_takes_a_variable_tensor_or_array_of_one_value(given):
    """keras.io's CustomLearningRateScheduler reads the rate and assigns it back."""
    optimizer = optimizers.RMSprop(0.25)
    value = {
        "its own variable": optimizer.learning_rate,
        "a 0-d tensor": ac.Tensor(0.25),
        "a 0-d array": np.array(0.25),
        "a NumPy scalar": np.float32(0.25),
    }[given]
    optimizer.learning_rate = value
    assert float(optimizer.learning_rate) == 0.25
    with pytest.raises(ValueError, match="must be a number"):
        optimizer.learning_rate = np.array([0.25, 0.5])


VARIABLE_CASES = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adam", {}), ("Adam", {"amsgrad": True}),
    ("AdamW", {}), ("RMSprop", {}), ("RMSprop", {"centered": True, "momentum": 0.5}),
    ("Nadam", {}), ("Adafactor", {}), ("Muon", {}), ("Adagrad", {}), ("Ftrl", {}),
    ("SGD", {"momentum": 0.9, "use_ema": True, "gradient_accumulation_steps": 2}),
    ("Adam", {"learning_rate": "schedule"}),
]  # fmt: skip


def two_dense(lib):
    dense = [lib.layers.Dense(3, name="a"), lib.layers.Dense(2, name="b")]
    return lib.Sequential([lib.Input((4,)), *dense], name="net")  # (Keras's names go on counting)


def unnumbered(name: str) -> str:
    """Nadam's unnamed variable as Keras names it first, "variable" (Keras numbers the unnamed
    variables of a session: "variable_3" once other tests made some)."""
    return re.sub(r"^variable_\d+$", "variable", name)


@pytest.mark.parametrize(("name", "kwargs"), VARIABLE_CASES)
def test_variables_are_kerass_in_order_names_shapes_and_dtypes(keras, name, kwargs):
    """Keras's ``optimizer.variables`` before and after ``build`` on a model's weights."""

    def described(lib):
        if kwargs.get("learning_rate") == "schedule":
            config = {"learning_rate": lib.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)}
        else:
            config = kwargs
        optimizer = getattr(lib.optimizers, name)(name="opt", **config)
        before = [v.path for v in optimizer.variables]
        optimizer.build(two_dense(lib).trainable_weights)
        after = [
            (unnumbered(v.path), unnumbered(v.name), tuple(v.shape), str(v.dtype), v.trainable)
            for v in optimizer.variables
        ]
        scalars = [v.numpy().tolist() for v in optimizer.variables if not tuple(v.shape)]
        views = [optimizer.learning_rate, *optimizer.variables]  # (iteration the first)
        return before, after, scalars, [isinstance(v, lib.Variable) for v in views]

    ours, theirs = described(ac), described(keras)
    assert ours[0] == theirs[0] and ours[1] == theirs[1] and ours[3] == theirs[3]
    np.testing.assert_allclose(ours[2], theirs[2])


def test_variables_of_a_multi_optimizer_are_its_own_then_its_inner_ones(keras):
    def paths(lib):
        kinds = lib.optimizers.OptimizerMap(lib.optimizers.SGD(momentum=0.9, name="s"))
        kinds["net/b/.*"] = lib.optimizers.Adam(name="adam")
        optimizer = lib.optimizers.MultiOptimizer(kinds, name="multi")
        before = [v.path for v in optimizer.variables]
        optimizer.build(two_dense(lib).trainable_weights)
        return before, [(v.path, tuple(v.shape)) for v in optimizer.variables]

    assert paths(ac) == paths(keras)


def test_variables_read_the_optimizers_state_as_it_is_now():
    optimizer = optimizers.SGD(0.5, momentum=0.9)
    weights = [Tensor(np.ones((2, 3), np.float32))]
    optimizer.build(weights)
    iteration, _, momentum = optimizer.variables
    assert repr(momentum) == (
        "<Variable path=sgd/variable_momentum, shape=(2, 3), dtype=float32, value=[[0. 0. 0.]\n"
        " [0. 0. 0.]]>"
    )
    optimizer.apply([np.full((2, 3), 2.0, np.float32)], weights)
    assert iteration.numpy() == 1 and iteration.numpy().dtype == np.int32
    np.testing.assert_array_equal(momentum.numpy(), np.full((2, 3), -1.0, np.float32))
    # NumPy reads them as it reads Keras's variables (np.asarray(v), float(np.asarray(v)[0, 0]))
    assert np.asarray(momentum).dtype == np.float32 and np.asarray(iteration).dtype == np.int32
    np.testing.assert_array_equal(np.asarray(momentum, np.float64), np.full((2, 3), -1.0))


@pytest.mark.parametrize("rate", [0.1, 0.01, 3e-4])
def test_a_configs_learning_rate_is_kerass_float32(keras, rate):
    """Keras holds a number as a float32 variable: SGD(0.1)'s config gives 0.10000000149011612
    (in a .keras file's compile config too)."""
    ours = optimizers.Adam(rate).get_config()["learning_rate"]
    assert ours == keras.optimizers.Adam(rate).get_config()["learning_rate"]
    assert type(ours) is float
