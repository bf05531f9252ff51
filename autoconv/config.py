"""Settings for the whole process, as ``keras.config``: the device models are made on, the
precision of float32 matrix products on the GPU (:func:`set_float32_matmul_precision`), and
Keras's numeric defaults (:func:`floatx`, :func:`epsilon`, :func:`image_data_format`), which
Keras's settings file ``keras.json`` in :func:`keras_home` sets when autoconv is imported.

The device is "auto" unless chosen: the GPU where a real one is usable
(:func:`autoconv.backends.gpu_usable`; the CUDA simulator never counts), else the CPU.
:func:`set_device` chooses it; without a call, the environment variable ``AUTOCONV_DEVICE``
does (read once, on the first :func:`get_device`). A model takes :func:`get_device` when it is
made, and its layers make their weights there (as Keras makes variables on its default
device); ``model.to(device)`` moves a model, and wins.

>>> from autoconv import config
>>> config.get_device() in ("cpu", "cuda")
True
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoconv.backends import DEVICES, check_device, gpu_usable
from autoconv.backends.precision import DEFAULT as DEFAULT_FLOAT32_MATMUL_PRECISION
from autoconv.backends.precision import PRECISIONS as FLOAT32_MATMUL_PRECISIONS
from autoconv.backends.precision import (
    get_float32_matmul_precision,
    set_float32_matmul_precision,
)

DEVICE_VARIABLE = "AUTOCONV_DEVICE"
DEVICE_CHOICES = ("auto", *DEVICES)

# (the choice: "auto", "cpu" or "cuda"; the device it resolved to), once chosen.
_setting: tuple[str, str] | None = None


def set_device(device: str) -> None:
    """Make models on ``device`` from now on: "cpu", "cuda", or "auto" (the GPU where a real
    one is usable, else the CPU); Keras's names for them too, any case: "gpu", "gpu:0",
    "cuda:0", "cpu:0". It wins over ``AUTOCONV_DEVICE``. Models made before stay where they
    are. ValueError for another name, DeviceUnavailableError for "cuda" where it cannot run."""
    global _setting
    _setting = _resolve(device, "set_device")


@contextlib.contextmanager
def device_scope(device: str) -> Iterator[None]:
    """:func:`set_device` for the block; the setting before comes back after it (for the
    whole process, as set_device's). ``autoconv.device``, as ``keras.device``:
    ``with autoconv.device("gpu:0"): model = ...`` makes the model on the GPU."""
    global _setting
    previous = _setting
    set_device(device)
    try:
        yield
    finally:
        _setting = previous


def get_device() -> str:
    """The device models are made on, "cpu" or "cuda" (see the module's rule)."""
    return _chosen()[1]


def device_choice() -> str:
    """What chose :func:`get_device`: "auto", "cpu" or "cuda"."""
    return _chosen()[0]


def _resolve(device: str, source: str) -> tuple[str, str]:
    """(the choice, the device it stands for here) for ``device`` from ``source``, which errors
    name: the choice "auto", "cpu" or "cuda" (Keras's "gpu" is "cuda"; its index ":0", the
    one autoconv uses, may follow "cpu", "gpu" or "cuda"; any case), the device "cpu" or
    "cuda". ValueError for another name, DeviceUnavailableError for "cuda" where it cannot run
    (it can on the CUDA simulator, when that is on)."""
    if not isinstance(device, str):
        raise ValueError(f"{source}: a device is a string such as 'cpu' or 'gpu:0', not {device!r}")
    kind, colon, index = device.lower().partition(":")
    choice = "cuda" if kind == "gpu" else kind
    if choice not in DEVICE_CHOICES or (colon and choice == "auto"):
        raise ValueError(
            f"{source}: unknown device {device!r}; expected one of {', '.join(DEVICE_CHOICES)} "
            "(or Keras's 'gpu', 'gpu:0', 'cpu:0')"
        )
    if colon and index != "0":
        gpu = "; CUDA_VISIBLE_DEVICES chooses which GPU that is" if choice == "cuda" else ""
        raise ValueError(f"{source}: device {device!r}: autoconv uses index 0 only{gpu}")
    if choice == "auto":
        return choice, "cuda" if gpu_usable() else "cpu"
    return choice, check_device(choice)


# ----------------------------------------------------------------- Keras's numeric defaults
FLOATX_CHOICES = ("bfloat16", "float16", "float32", "float64")  # what Keras accepts
_floatx = "float32"
_epsilon = 1e-7
_image_data_format = "channels_last"


def backend() -> str:
    """The engine running Keras's API: ``"autoconv"`` (``keras.config.backend()`` names
    Keras's own, "jax", "tensorflow", "torch", ...)."""
    return "autoconv"


def floatx() -> str:
    """The float dtype layers make their weights in and compute in when given none."""
    return _floatx


def set_floatx(value: str) -> None:
    """Make layers made from now on "float32" or "float64" when given no dtype (as
    ``keras.config.set_floatx``). Keras's half precisions are a ValueError here: autoconv
    computes in float32 or float64."""
    global _floatx
    if value not in FLOATX_CHOICES:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of {set(FLOATX_CHOICES)}")
    if value not in ("float32", "float64"):
        raise ValueError(
            f"set_floatx({value!r}): autoconv computes in float32 or float64 (no half precision)"
        )
    _floatx = str(value)


def epsilon() -> float:
    """Keras's fuzz factor (1e-7 by default): probabilities are clipped to [epsilon, 1 -
    epsilon] before a log in the losses, and divisions are kept off 0 with it."""
    return _epsilon


def set_epsilon(value: float) -> None:
    """Set :func:`epsilon` for the ops run from now on (a training step replayed on the GPU
    keeps the value it was recorded with, as Keras's compiled functions keep theirs)."""
    global _epsilon
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 0.5:
        raise ValueError(f"set_epsilon: a number in [0, 0.5) is expected, got {value!r}")
    _epsilon = float(value)


def image_data_format() -> str:
    """The image layout layers take when given no ``data_format`` ("channels_last" unless
    :func:`set_image_data_format` changed it)."""
    return _image_data_format


def set_image_data_format(data_format: str) -> None:
    """Set :func:`image_data_format`, "channels_last" or "channels_first" (any case), as
    ``keras.config.set_image_data_format``: the layout of the image layers made without a
    ``data_format`` (and of the image ops given none)."""
    global _image_data_format
    value = str(data_format).lower()
    if value not in {"channels_first", "channels_last"}:
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    _image_data_format = value


# ------------------------------------------------------------- Keras's settings file
KERAS_JSON_LIMIT = 64 * 1024  # bytes read of keras.json at most (Keras's holds four entries)
# what Keras writes where there is no keras.json (its backend the default, TensorFlow, as
# Keras writes it before $KERAS_BACKEND is read: Keras reads the file autoconv writes)
KERAS_JSON_DEFAULTS = {
    "floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow",
    "image_data_format": "channels_last",
}  # fmt: skip


def keras_home() -> Path:
    """Keras's folder for its settings and caches: ``$KERAS_HOME``, else ``~/.keras``
    (``/tmp/.keras`` when the home folder cannot be written), as Keras's."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def _read_keras_json(path: Path) -> dict[str, Any]:
    """The settings in ``path``: none from a file that is not JSON (Keras ignores it), nor,
    with a warning, from one that is no regular file, cannot be read, is larger than
    ``KERAS_JSON_LIMIT`` or holds no JSON object (where Keras's import fails)."""
    try:
        if not path.is_file():
            raise OSError("it is not a regular file")
        with path.open("rb") as file:
            text = file.read(KERAS_JSON_LIMIT + 1)
        if len(text) > KERAS_JSON_LIMIT:
            raise OSError(f"it is larger than {KERAS_JSON_LIMIT} bytes")
    except OSError as error:
        warnings.warn(f"{path} is ignored: {error}", stacklevel=3)
        return {}
    try:
        settings = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(settings, dict):
        warnings.warn(f"{path} is ignored: it holds no JSON object", stacklevel=3)
        return {}
    return settings


def _apply_keras_json() -> None:
    """Read ``keras.json`` in :func:`keras_home` as Keras does when it is imported: its
    ``floatx``, ``epsilon`` and ``image_data_format`` (its ``backend`` names Keras's own), or
    write Keras's defaults there, and its folder, where it has none and can. A value Keras
    refuses (its import fails), or one autoconv cannot use (``"float16"``), is a warning that
    names it, and the default stays."""
    path = keras_home() / "keras.json"
    if not os.path.lexists(path):
        with contextlib.suppress(OSError):  # (Keras's: a folder it cannot write is left as it is)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x") as file:  # (not over one another process just wrote)
                file.write(json.dumps(KERAS_JSON_DEFAULTS, indent=4))
        return
    settings = _read_keras_json(path)
    problems = []
    value = settings.get("floatx", _floatx)
    if value in ("float32", "float64"):
        set_floatx(value)
    elif value == "float16":
        problems.append("floatx=float16: autoconv computes in float32 or float64")
    else:
        problems.append(f"floatx={value}: expected one of {{'float16', 'float32', 'float64'}}")
    value = settings.get("epsilon", _epsilon)
    if isinstance(value, float) and 0 <= value < 0.5:
        set_epsilon(value)
    else:
        problems.append(f"epsilon={value}: expected a float in [0, 0.5)")
    value = settings.get("image_data_format", _image_data_format)
    if value in ("channels_last", "channels_first"):
        set_image_data_format(value)
    else:
        problems.append(
            f"image_data_format={value}: expected one of {{'channels_last', 'channels_first'}}"
        )
    for problem in problems:
        warnings.warn(f"{path}: invalid {problem}; the default is kept", stacklevel=2)


_apply_keras_json()


# ------------------------------------------------------------------ where the logs go
_interactive_logging = True


def enable_interactive_logging() -> None:
    """Print the progress bar and callbacks' messages on standard output (the default)."""
    global _interactive_logging
    _interactive_logging = True


def disable_interactive_logging() -> None:
    """Send the progress lines and callbacks' messages to Python's ``logging`` (the
    "autoconv" logger, at INFO) instead of standard output, as Keras sends them to its log:
    for jobs on a server. A progress bar is then logged once an epoch ends, not redrawn."""
    global _interactive_logging
    _interactive_logging = False


def is_interactive_logging_enabled() -> bool:
    """Whether logs go to standard output (see :func:`disable_interactive_logging`)."""
    return _interactive_logging


# ---------------------------------------------------------------- debugging limits
def _limit(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def _limit_from_environment(variable: str) -> int | None:
    value = os.environ.get(variable)
    if not value:
        return None
    if not value.strip().isdigit():
        raise ValueError(f"${variable} must be a positive integer, got {value!r}")
    return _limit(int(value), f"${variable}")


# Keras's caps for quick debugging runs, set by its environment variables too
_max_epochs = _limit_from_environment("KERAS_MAX_EPOCHS")
_max_steps_per_epoch = _limit_from_environment("KERAS_MAX_STEPS_PER_EPOCH")


def set_max_epochs(max_epochs: int | None) -> None:
    """Cap the epochs of every ``fit`` (None: no cap), as Keras's (``$KERAS_MAX_EPOCHS``
    sets it too): a debugging aid to run a script quickly without changing it."""
    global _max_epochs
    _max_epochs = _limit(max_epochs, "max_epochs")


def max_epochs() -> int | None:
    """The cap on ``fit``'s epochs, or None (see :func:`set_max_epochs`)."""
    return _max_epochs


def set_max_steps_per_epoch(max_steps_per_epoch: int | None) -> None:
    """Cap the steps of an epoch of ``fit``, ``evaluate`` and ``predict`` (None: no cap), as
    Keras's (``$KERAS_MAX_STEPS_PER_EPOCH`` sets it too)."""
    global _max_steps_per_epoch
    _max_steps_per_epoch = _limit(max_steps_per_epoch, "max_steps_per_epoch")


def max_steps_per_epoch() -> int | None:
    """The cap on an epoch's steps, or None (see :func:`set_max_steps_per_epoch`)."""
    return _max_steps_per_epoch


def set_dtype_policy(policy: object) -> None:
    """Keras's global dtype policy ("float32" or "float64"; see
    :mod:`autoconv.dtype_policies`): the default dtype of the layers made from now on, leaving
    :func:`floatx` as it is; ``clear_session`` forgets it."""
    from autoconv.dtype_policies import set_dtype_policy as set_policy

    set_policy(policy)


def dtype_policy() -> object:
    """The global dtype policy (a :class:`autoconv.dtype_policies.DTypePolicy`: the one
    :func:`set_dtype_policy` set, else :func:`floatx`'s)."""
    from autoconv.dtype_policies import dtype_policy as policy

    return policy()


# ------------------------------------------- Keras's switches of machinery autoconv lacks
# Keras scripts call these; each says what autoconv does. The "disable" and "is ... enabled"
# calls answer truthfully (autoconv never uses the machinery), the "enable" calls say why not.
def is_flash_attention_enabled() -> bool:
    """False: autoconv's attention layers compute their scores in full, never by flash
    attention (Keras's default, None, lets its backend choose)."""
    return False


def disable_flash_attention() -> None:
    """Keras's switch; autoconv never uses flash attention, so there is nothing to turn off."""


def enable_flash_attention() -> None:
    """An error: autoconv has no flash attention."""
    raise NotImplementedError(
        "autoconv.config.enable_flash_attention: autoconv has no flash attention; its "
        "attention layers compute the scores in full"
    )


def is_traceback_filtering_enabled() -> bool:
    """False: autoconv shows every frame of a traceback (Keras hides its own by default)."""
    return False


def disable_traceback_filtering() -> None:
    """Keras's switch; autoconv never filters tracebacks, so there is nothing to turn off."""


def enable_traceback_filtering() -> None:
    """An error: autoconv does not filter tracebacks."""
    raise NotImplementedError(
        "autoconv.config.enable_traceback_filtering: autoconv does not filter tracebacks; "
        "every frame is shown"
    )


def enable_unsafe_deserialization() -> None:
    """Keras's switch for loading a ``Lambda``'s code from files; accepted and without effect,
    as scripts call it before any ``load_model``: autoconv never runs code from a file, so a
    file holding a Python lambda is still an error naming that ``Lambda`` when it loads."""


def set_backend(backend: str) -> None:
    """An error: autoconv is its own backend (Keras's ``set_backend`` switches to JAX,
    TensorFlow or PyTorch)."""
    raise NotImplementedError(
        f"autoconv.config.set_backend({backend!r}): autoconv computes with its own engine, "
        "on the CPU or the GPU (choose with set_device); it runs no other backend"
    )


def is_nnx_enabled() -> bool:
    """False: Keras's Flax NNX integration belongs to its JAX backend."""
    return False


def _chosen() -> tuple[str, str]:
    global _setting
    if _setting is None:
        _setting = _resolve(os.environ.get(DEVICE_VARIABLE) or "auto", DEVICE_VARIABLE)
    return _setting


__all__ = [
    "DEFAULT_FLOAT32_MATMUL_PRECISION",
    "DEVICE_VARIABLE",
    "FLOAT32_MATMUL_PRECISIONS",
    "FLOATX_CHOICES",
    "backend",
    "device_choice",
    "device_scope",
    "disable_flash_attention",
    "disable_interactive_logging",
    "disable_traceback_filtering",
    "dtype_policy",
    "enable_flash_attention",
    "enable_interactive_logging",
    "enable_traceback_filtering",
    "enable_unsafe_deserialization",
    "epsilon",
    "floatx",
    "get_device",
    "get_float32_matmul_precision",
    "image_data_format",
    "is_flash_attention_enabled",
    "is_interactive_logging_enabled",
    "is_nnx_enabled",
    "is_traceback_filtering_enabled",
    "max_epochs",
    "max_steps_per_epoch",
    "set_backend",
    "set_device",
    "set_dtype_policy",
    "set_epsilon",
    "set_float32_matmul_precision",
    "set_floatx",
    "set_image_data_format",
    "set_max_epochs",
    "set_max_steps_per_epoch",
]
