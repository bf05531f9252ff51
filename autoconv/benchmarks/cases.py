"""The benchmark cases: every hot op of the reference model at its real shapes (batch 64), a
whole training step, and inference at batch 1000; then the flowers tutorial's data
augmentation (RandomFlip, RandomRotation, RandomZoom) of a batch of 32 180x180x3 images next
to its classifier's training step at batch 32. Each for autoconv, plain NumPy and (when it is
importable, for the training steps) PyTorch CPU.

A case holds one zero-argument callable per engine; each returns its result as a NumPy array
in autoconv's layout, so the runner can check every engine against autoconv before timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

import autoconv as ac
from autoconv.benchmarks import reference as ref

BATCH = 64
STEP_FLOPS = 16.376e6  # one training step of the reference model, per sample
FORWARD_FLOPS = 5.588e6  # its forward pass, per sample
CONVS = {  # name: (input NHWC, kernel HWIO)
    "conv1": ((BATCH, 28, 28, 1), (3, 3, 1, 32)),
    "conv2": ((BATCH, 13, 13, 32), (3, 3, 32, 64)),
    "conv3": ((BATCH, 5, 5, 64), (3, 3, 64, 64)),
}
POOLS = {"pool1": (BATCH, 26, 26, 32), "pool2": (BATCH, 11, 11, 64)}


@dataclass
class Case:
    """One thing to time: ``engines`` maps 'autoconv', 'numpy', 'torch' to callables."""

    op: str
    shape: str
    flops: float | None  # None for memory-bound ops, where GFLOP/s says nothing
    engines: dict[str, Callable[[], np.ndarray]] = field(default_factory=dict)
    rtol: float = 1e-3
    atol: float = 1e-3


def _torch_training_step(torch: ModuleType, model: Any, x: Any, labels: Any) -> Callable:
    """One RMSprop step (Keras's defaults) of ``model`` on a fixed batch, returning the loss.
    RMSprop's eps: torch adds it outside the sqrt, Keras inside; one step barely differs."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

    def step() -> np.ndarray:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        return np.array([loss.item()])

    return step


def _nchw(torch: ModuleType, x: np.ndarray, grad: bool = False) -> Any:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(grad)


def _nhwc(t: Any) -> np.ndarray:
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _conv_cases(name: str, rng: np.random.Generator, torch: ModuleType | None) -> list[Case]:
    x_shape, w_shape = CONVS[name]
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    b = (rng.standard_normal(w_shape[-1]) * 0.1).astype(np.float32)
    out_shape = (BATCH, x_shape[1] - 2, x_shape[2] - 2, w_shape[-1])
    g = rng.standard_normal(out_shape).astype(np.float32)
    flops = 2.0 * np.prod(out_shape) * np.prod(w_shape[:3])
    shape = f"{'x'.join(map(str, x_shape))} * {'x'.join(map(str, w_shape))}"

    def autoconv_forward() -> np.ndarray:
        with ac.no_grad():
            return ac.conv2d(x, w, b).data

    def autoconv_grad(wrt: str) -> Callable[[], np.ndarray]:
        xt = ac.Tensor(x, requires_grad=wrt == "x")
        wt = ac.Tensor(w, requires_grad=wrt == "w")
        out = ac.conv2d(xt, wt, b)
        leaf = xt if wrt == "x" else wt

        def run() -> np.ndarray:
            leaf.grad = None
            out.backward(g, retain_graph=True)
            return leaf.grad

        return run

    forward = Case("conv forward", shape, flops, {"autoconv": autoconv_forward})
    forward.engines["numpy"] = lambda: ref.conv_forward(x, w, b)
    grad_w = Case("conv grad weights", shape, flops, {"autoconv": autoconv_grad("w")})
    grad_w.engines["numpy"] = lambda: ref.conv_grad_weights(x, g, w_shape[:2])
    grad_w.atol = 0.05  # sums over 40k products in float32
    grad_x = Case("conv grad input", shape, flops, {"autoconv": autoconv_grad("x")})
    grad_x.engines["numpy"] = lambda: ref.conv_grad_input(g, w, x_shape)
    cases = [forward, grad_w] + ([grad_x] if x_shape[-1] > 1 else [])  # a first layer needs none
    if torch is not None:
        tx, tg = _nchw(torch, x, grad=True), _nchw(torch, g)
        tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_()
        tb = torch.from_numpy(b)
        tout = torch.nn.functional.conv2d(tx, tw, tb)

        def torch_forward() -> np.ndarray:
            with torch.no_grad():
                return _nhwc(torch.nn.functional.conv2d(tx, tw, tb))

        def torch_grad(leaf: Any) -> np.ndarray:
            (grad,) = torch.autograd.grad(tout, leaf, tg, retain_graph=True)
            return grad.numpy()

        forward.engines["torch"] = torch_forward
        grad_w.engines["torch"] = lambda: torch_grad(tw).transpose(2, 3, 1, 0)
        grad_x.engines["torch"] = lambda: torch_grad(tx).transpose(0, 2, 3, 1)
    return cases


def _pool_cases(name: str, rng: np.random.Generator, torch: ModuleType | None) -> list[Case]:
    x_shape = POOLS[name]
    x = rng.standard_normal(x_shape).astype(np.float32)
    out_shape = (BATCH, x_shape[1] // 2, x_shape[2] // 2, x_shape[3])
    g = rng.standard_normal(out_shape).astype(np.float32)
    shape = "x".join(map(str, x_shape))
    cases = []
    for kind, op, forward_ref in (
        ("max", ac.max_pool2d, ref.max_pool_forward),
        ("avg", ac.avg_pool2d, ref.avg_pool_forward),
    ):
        xt = ac.Tensor(x, requires_grad=True)
        out = op(xt, 2)

        def backward(xt: ac.Tensor = xt, out: ac.Tensor = out) -> np.ndarray:
            xt.grad = None
            out.backward(g, retain_graph=True)
            return xt.grad

        def forward(op: Callable = op) -> np.ndarray:
            with ac.no_grad():
                return op(x, 2).data

        fwd = Case(f"{kind} pool forward", shape, None, {"autoconv": forward})
        fwd.engines["numpy"] = lambda forward_ref=forward_ref: forward_ref(x)
        bwd = Case(f"{kind} pool backward", shape, None, {"autoconv": backward})
        if kind == "max":
            bwd.engines["numpy"] = lambda: ref.max_pool_backward(x, g)
        else:
            bwd.engines["numpy"] = lambda: ref.avg_pool_backward(x_shape, g)
        if torch is not None:
            torch_op = getattr(torch.nn.functional, f"{kind}_pool2d")
            tx, tg = _nchw(torch, x, grad=True), _nchw(torch, g)
            tout = torch_op(tx, 2)

            def torch_forward(torch_op: Callable = torch_op, tx: Any = tx) -> np.ndarray:
                with torch.no_grad():
                    return _nhwc(torch_op(tx, 2))

            def torch_backward(tx: Any = tx, tout: Any = tout, tg: Any = tg) -> np.ndarray:
                (grad,) = torch.autograd.grad(tout, tx, tg, retain_graph=True)
                return grad.numpy().transpose(0, 2, 3, 1)

            fwd.engines["torch"] = torch_forward
            bwd.engines["torch"] = torch_backward
        cases += [fwd, bwd]
    return cases


def _dense_case(rng: np.random.Generator, torch: ModuleType | None) -> Case:
    x = rng.standard_normal((BATCH, 576)).astype(np.float32)
    w = (rng.standard_normal((576, 64)) * 0.05).astype(np.float32)
    g = rng.standard_normal((BATCH, 64)).astype(np.float32)
    wt = ac.Tensor(w, requires_grad=True)
    xt = ac.Tensor(x, requires_grad=True)

    def autoconv_run() -> np.ndarray:
        xt.grad = wt.grad = None
        out = xt @ wt
        out.backward(g)
        return np.concatenate([out.data.ravel(), xt.grad.ravel(), wt.grad.ravel()])

    case = Case("dense matmul fwd+bwd", "64x576 @ 576x64", 3 * 2.0 * BATCH * 576 * 64)
    case.engines["autoconv"] = autoconv_run
    case.engines["numpy"] = lambda: np.concatenate(
        [(x @ w).ravel(), (g @ w.T).ravel(), (x.T @ g).ravel()]
    )
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_()
        tw = torch.from_numpy(w).requires_grad_()

        def torch_run() -> np.ndarray:
            tx.grad = tw.grad = None
            out = tx @ tw
            out.backward(torch.from_numpy(g))
            parts = [out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()]
            return np.concatenate([p.ravel() for p in parts])

        case.engines["torch"] = torch_run
    return case


def load_torch_weights(
    torch: ModuleType,
    model: Any,
    weights: list[np.ndarray],
    flat_hwc: tuple[int, int, int] | None = None,
) -> Any:
    """Copy autoconv's weights into the modules of a PyTorch model that hold any, in the order
    they were registered: each takes its kernel, its bias if it has one, and (BatchNorm) its
    running mean and variance, as Keras lists gamma, beta, moving mean and variance. Torch
    keeps conv kernels OIHW, depthwise kernels (C, 1, H, W) (a SeparableConv2D is a depthwise
    conv without bias, then a 1x1 conv) and dense kernels (out, in), and flattens C-first: the
    first dense kernel after a conv, the flatten of (H, W, C) = ``flat_hwc``, is reordered."""
    modules = [m for m in model.modules() if getattr(m, "weight", None) is not None]
    arrays = iter(weights)
    with torch.no_grad():
        for index, module in enumerate(modules):
            kernel = next(arrays)
            if kernel.ndim == 4 and module.groups > 1:  # depthwise (H, W, C, 1)
                kernel = kernel.transpose(2, 3, 0, 1)
            elif kernel.ndim == 4:
                kernel = kernel.transpose(3, 2, 0, 1)
            elif flat_hwc is not None and modules[index - 1].weight.ndim == 4:
                units = kernel.shape[1]
                kernel = kernel.reshape(*flat_hwc, units).transpose(3, 2, 0, 1).reshape(units, -1)
            elif kernel.ndim == 2:
                kernel = kernel.T
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            for name in ("bias", "running_mean", "running_var"):
                if getattr(module, name, None) is not None:
                    getattr(module, name).copy_(torch.from_numpy(next(arrays)))
        if next(arrays, None) is not None:
            raise ValueError("more autoconv weights than the PyTorch model holds")
    return model


def torch_weight_count(model: Any) -> int:
    """How many numbers a PyTorch model holds that Keras's ``count_params`` counts: its
    parameters and BatchNorm's running mean and variance."""
    stats = [
        b for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var"))
    ]
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in stats)


def torch_reference_model(torch: ModuleType, weights: list[np.ndarray]) -> Any:
    """The course's model in PyTorch, NCHW as users write it, with autoconv's weights."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    ).to(torch.float32)  # fmt: skip
    return load_torch_weights(torch, model, weights, (3, 3, 64))


def torch_rgb_classifier(torch: ModuleType, weights: list[np.ndarray], size: int) -> Any:
    """The flowers tutorial's classifier in PyTorch (Rescaling left to the caller)."""
    nn = torch.nn
    side = size // 2 // 2 // 2
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(side * side * 64, 128), nn.ReLU(), nn.Linear(128, 5),
    ).to(torch.float32)  # fmt: skip
    return load_torch_weights(torch, model, weights, (side, side, 64))


def torch_large_model(torch: ModuleType, weights: list[np.ndarray], size: int = 150) -> Any:
    """The course's 150x150x1 stack in PyTorch (10 classes, logits: the softmax is left to the
    loss or the caller), with autoconv's weights."""
    nn = torch.nn
    side = (((size - 2) // 2 - 2) // 2 - 4) // 2
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(side * side * 64, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10),
    ).to(torch.float32)  # fmt: skip
    return load_torch_weights(torch, model, weights, (side, side, 64))


def torch_xception(torch: ModuleType, weights: list[np.ndarray], classes: int = 2) -> Any:
    """keras-io's small Xception (:func:`autoconv.course.xception`) in PyTorch, its
    Rescaling(1/255) included, with autoconv's weights. BatchNorm as Keras's (epsilon 1e-3,
    momentum 0.99: torch's 0.01); Keras's 'same' padding of the strided 3x3 conv and max pool
    puts the odd extra row and column at the bottom and right, so those pad explicitly (the
    pool with -inf)."""
    nn, functional = torch.nn, torch.nn.functional

    class SamePad(nn.Module):
        """Keras's 'same' padding of a ``size`` window at ``stride``."""

        def __init__(self, size: int, stride: int, value: float = 0.0) -> None:
            super().__init__()
            self.size, self.stride, self.value = size, stride, value

        def forward(self, x: Any) -> Any:
            pads = []
            for n in (x.shape[3], x.shape[2]):  # F.pad takes the last axis first
                total = max((-(-n // self.stride) - 1) * self.stride + self.size - n, 0)
                pads += [total // 2, total - total // 2]
            return functional.pad(x, pads, value=self.value)

    def norm(channels: int) -> Any:
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    def separable(cin: int, cout: int) -> Any:
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1)
        )

    class Block(nn.Module):
        def __init__(self, cin: int, size: int) -> None:
            super().__init__()
            self.main = nn.Sequential(
                nn.ReLU(), separable(cin, size), norm(size),
                nn.ReLU(), separable(size, size), norm(size),
                SamePad(3, 2, float("-inf")), nn.MaxPool2d(3, 2),
            )  # fmt: skip
            self.residual = nn.Conv2d(cin, size, 1, stride=2)

        def forward(self, x: Any) -> Any:
            return self.main(x) + self.residual(x)

    class Xception(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(SamePad(3, 2), nn.Conv2d(3, 128, 3, 2), norm(128), nn.ReLU())
            self.blocks = nn.Sequential(Block(128, 256), Block(256, 512), Block(512, 728))
            self.head = nn.Sequential(
                separable(728, 1024), norm(1024), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.25),
                nn.Linear(1024, 1 if classes == 2 else classes),
            )  # fmt: skip

        def forward(self, x: Any) -> Any:
            return self.head(self.blocks(self.stem(x * (1 / 255))))

    return load_torch_weights(torch, Xception().to(torch.float32), weights)


def _model_cases(rng: np.random.Generator, torch: ModuleType | None) -> list[Case]:
    from autoconv.course import reference_model

    ac.utils.set_random_seed(0)
    x = rng.random((1000, 28, 28, 1)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 10, 1000), 10)
    xb, yb = x[:BATCH], y[:BATCH]

    def fresh() -> ac.Sequential:
        model = reference_model()
        model.compile("rmsprop", "categorical_crossentropy")
        model.set_weights(weights)
        return model

    weights = reference_model().get_weights()
    trained, inferring = fresh(), fresh()
    numpy_model = ref.ReferenceModel(weights)

    def autoconv_step() -> np.ndarray:  # the step fit runs, finiteness checks included
        return np.array([trained.train_on_batch(xb, yb)])

    step = Case("train step (fwd+bwd+rmsprop)", "reference model, batch 64", STEP_FLOPS * BATCH)
    step.engines["autoconv"] = autoconv_step
    step.engines["numpy"] = lambda: np.array([numpy_model.step(xb, yb)])
    step.rtol, step.atol = 1e-4, 1e-5  # the first call of each starts from the same weights
    infer = Case("inference", "reference model, batch 1000", FORWARD_FLOPS * len(x))
    infer.engines["autoconv"] = lambda: inferring.predict(x, batch_size=1000, verbose=0)
    infer.engines["numpy"] = lambda: ref.ReferenceModel(weights).predict(x)
    infer.atol = 1e-5
    if torch is not None:
        torch_model = torch_reference_model(torch, weights)  # trained by the step case
        torch_inferring = torch_reference_model(torch, weights)
        tx, ty = _nchw(torch, xb), torch.from_numpy(yb.argmax(axis=1))
        t_all = _nchw(torch, x)
        torch_step = _torch_training_step(torch, torch_model, tx, ty)

        def torch_infer() -> np.ndarray:
            with torch.no_grad():
                return torch.softmax(torch_inferring(t_all), dim=1).numpy()

        step.engines["torch"] = torch_step
        infer.engines["torch"] = torch_infer
    return [step, infer]


AUGMENT_BATCH, FLOWERS_SIZE = 32, 180
AUGMENT_SEEDS = (1, 2, 3)  # RandomFlip, RandomRotation, RandomZoom


def _augmentation_case(rng: np.random.Generator) -> Case:
    """The flowers tutorial's data_augmentation in training: RandomFlip('horizontal'),
    RandomRotation(0.1), RandomZoom(0.1), seeded so every call draws the same."""
    from autoconv import layers

    x = rng.uniform(0, 255, (AUGMENT_BATCH, FLOWERS_SIZE, FLOWERS_SIZE, 3)).astype(np.float32)
    flip_seed, rotation_seed, zoom_seed = AUGMENT_SEEDS

    def autoconv_run() -> np.ndarray:
        out = x
        with ac.no_grad():
            for layer in (
                layers.RandomFlip("horizontal", seed=flip_seed),
                layers.RandomRotation(0.1, seed=rotation_seed),
                layers.RandomZoom(0.1, seed=zoom_seed),
            ):
                out = layer(out, training=True)
        return out.data

    def numpy_run() -> np.ndarray:  # the layers' draws, then the same maths in NumPy
        n = len(x)
        flips = np.random.default_rng(flip_seed).uniform(size=n).astype(np.float32) <= 0.5
        degrees = np.random.default_rng(rotation_seed).uniform(-36.0, 36.0, n)
        zooms = np.random.default_rng(zoom_seed).uniform(0.9, 1.1, n)
        return ref.augment(x, flips, degrees.astype(np.float32), zooms.astype(np.float32))

    shape = f"{AUGMENT_BATCH}x{FLOWERS_SIZE}x{FLOWERS_SIZE}x3"
    case = Case("augment flip+rotate+zoom", shape, None, {"autoconv": autoconv_run})
    case.engines["numpy"] = numpy_run
    case.rtol, case.atol = 1e-4, 2e-2  # 0..255 pixels through two float32 warps
    return case


def _flowers_step_case(rng: np.random.Generator, torch: ModuleType | None) -> Case:
    """One training step of the flowers tutorial's classifier at batch 32 (RMSprop, softmax
    cross-entropy from its logits), the step its augmentation feeds."""
    from autoconv.course import rgb_classifier

    ac.utils.set_random_seed(0)
    shape = (AUGMENT_BATCH, FLOWERS_SIZE, FLOWERS_SIZE, 3)
    x = rng.uniform(0, 255, shape).astype(np.float32)
    labels = rng.integers(0, 5, AUGMENT_BATCH)
    y = ac.utils.to_categorical(labels, 5)
    model = rgb_classifier((FLOWERS_SIZE, FLOWERS_SIZE, 3))
    model.compile("rmsprop", ac.losses.CategoricalCrossentropy(from_logits=True))
    weights = model.get_weights()
    numpy_model = ref.ReferenceRGBClassifier(weights)
    case = Case(
        "flowers train step",
        f"rgb classifier, batch {AUGMENT_BATCH}",  # of 180x180x3 images
        None,
        {"autoconv": lambda: np.array([model.train_on_batch(x, y)])},
    )
    case.engines["numpy"] = lambda: np.array([numpy_model.step(x, y)])
    case.rtol, case.atol = 1e-4, 1e-5  # the first call of each starts from the same weights
    if torch is not None:
        torch_model = torch_rgb_classifier(torch, weights, FLOWERS_SIZE)
        tx, ty = _nchw(torch, x) * (1 / 255), torch.from_numpy(labels)
        case.engines["torch"] = _torch_training_step(torch, torch_model, tx, ty)
    return case


def cpu_cases(torch: ModuleType | None = None, seed: int = 0) -> list[Case]:
    """Every case, with PyTorch engines when ``torch`` is given."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    for name in CONVS:
        cases += _conv_cases(name, rng, torch)
    for name in POOLS:
        cases += _pool_cases(name, rng, torch)
    cases.append(_dense_case(rng, torch))
    cases += _model_cases(rng, torch)
    cases.append(_augmentation_case(rng))
    cases.append(_flowers_step_case(rng, torch))
    return cases
