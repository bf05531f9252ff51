"""autoconv.config: the device models are made on (set_device, AUTOCONV_DEVICE, "auto"), and
the checks behind it in autoconv.backends (a real GPU, numba-cuda against NumPy)."""

from __future__ import annotations

import runpy
import sys
import warnings
from importlib import metadata
from pathlib import Path

import numba
import numpy as np
import pytest

import autoconv as ac
from autoconv import backends, config, layers
from autoconv.backends import DeviceUnavailableError

SIMULATED = bool(numba.config.ENABLE_CUDASIM)


@pytest.fixture(autouse=True)
def fresh_config(monkeypatch):
    """No device chosen and no AUTOCONV_DEVICE; the setting before comes back afterwards."""
    monkeypatch.setattr(config, "_setting", None)
    monkeypatch.delenv("AUTOCONV_DEVICE", raising=False)


@pytest.fixture
def cuda():
    """The CUDA backend: the simulator here (an explicit "cuda" may use it), or a GPU."""
    pytest.importorskip("numba_cuda")
    from autoconv.backends import cuda

    return cuda


def tiny_model():
    return ac.Sequential(
        [ac.Input((4, 4, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)]
    )


def test_set_device_and_get_device():
    config.set_device("cpu")
    assert config.get_device() == "cpu" and config.device_choice() == "cpu"
    config.set_device("auto")
    assert config.device_choice() == "auto"
    assert config.get_device() == ("cuda" if backends.gpu_usable() else "cpu")


def test_auto_picks_the_gpu_where_one_is_usable(monkeypatch):
    monkeypatch.setattr(config, "gpu_usable", lambda: True)
    assert config._resolve("auto", "test") == ("auto", "cuda")
    monkeypatch.setattr(config, "gpu_usable", lambda: False)
    assert config._resolve("auto", "test") == ("auto", "cpu")


@pytest.mark.skipif(not SIMULATED, reason="the CUDA simulator is off (a GPU is here)")
def test_auto_never_picks_the_simulator(cuda):
    assert cuda.available()  # the simulator runs CUDA code...
    assert not backends.gpu_usable()  # ...but it is no GPU
    assert config.get_device() == "cpu" and config.device_choice() == "auto"


def test_gpu_usable_without_numba_cuda_is_false(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba_cuda", None)  # as if not installed
    assert backends.gpu_usable() is False


def test_the_environment_variable_is_read_once(monkeypatch):
    monkeypatch.setenv("AUTOCONV_DEVICE", "cpu")
    assert config.get_device() == "cpu" and config.device_choice() == "cpu"
    monkeypatch.setenv("AUTOCONV_DEVICE", "auto")  # too late: it was read
    assert config.get_device() == "cpu" and config.device_choice() == "cpu"


def test_set_device_wins_over_the_environment_variable(monkeypatch):
    monkeypatch.setenv("AUTOCONV_DEVICE", "tpu")
    config.set_device("cpu")
    assert config.get_device() == "cpu"


def test_device_scope_puts_the_setting_back(monkeypatch):
    monkeypatch.setenv("AUTOCONV_DEVICE", "cpu")
    with config.device_scope("auto"):
        assert config.device_choice() == "auto"
    assert config.device_choice() == "cpu"  # AUTOCONV_DEVICE's, read now
    with pytest.raises(ValueError, match="unknown device 'tpu'"), config.device_scope("tpu"):
        pass
    assert config.device_choice() == "cpu"


@pytest.mark.parametrize(
    "name, choice",
    [("cpu:0", "cpu"), ("CPU", "cpu"), ("Auto", "auto"), ("gpu", "cuda"), ("gpu:0", "cuda"),
     ("GPU:0", "cuda"), ("cuda:0", "cuda")],
)  # fmt: skip
def test_keras_device_names_are_autoconvs(monkeypatch, name, choice):
    monkeypatch.setattr(config, "check_device", lambda device: device)  # "cuda" without a GPU
    monkeypatch.setattr(config, "gpu_usable", lambda: False)
    assert config._resolve(name, "test") == (choice, "cpu" if choice == "auto" else choice)
    monkeypatch.setenv("AUTOCONV_DEVICE", name)
    assert config.device_choice() == choice


@pytest.mark.parametrize(
    "name, message",
    [("gpu:1", r"device 'gpu:1': autoconv uses index 0 only; CUDA_VISIBLE_DEVICES chooses"),
     ("cuda:2", r"device 'cuda:2': autoconv uses index 0 only; CUDA_VISIBLE_DEVICES"),
     ("cpu:1", r"device 'cpu:1': autoconv uses index 0 only$"),
     ("gpu:", r"device 'gpu:': autoconv uses index 0 only"),
     ("auto:0", r"unknown device 'auto:0'"), ("gpu0", r"unknown device 'gpu0'"),
     (None, r"a device is a string such as 'cpu' or 'gpu:0', not None"),
     (0, r"a device is a string such as 'cpu' or 'gpu:0', not 0")],
)  # fmt: skip
def test_other_device_names_are_one_clear_error(name, message):
    config.set_device("cpu")
    with pytest.raises(ValueError, match="set_device: " + message):
        config.set_device(name)
    assert config.get_device() == "cpu"  # unchanged


def test_autoconv_device_is_keras_device_scope():
    config.set_device("auto")
    with ac.device("CPU:0"):
        assert config.device_choice() == "cpu"
        model = tiny_model()
    assert model.device == "cpu" and config.device_choice() == "auto"
    assert ac.device is config.device_scope


def test_an_empty_environment_variable_is_auto(monkeypatch):
    monkeypatch.setenv("AUTOCONV_DEVICE", "")
    assert config.device_choice() == "auto"


def test_bad_values_name_the_value_and_the_choices(monkeypatch):
    with pytest.raises(ValueError, match=r"set_device: unknown device 'tpu'; expected one of "
                       r"auto, cpu, cuda \(or Keras's 'gpu', 'gpu:0', 'cpu:0'\)"):  # fmt: skip
        config.set_device("tpu")
    monkeypatch.setenv("AUTOCONV_DEVICE", "TPU:0")
    with pytest.raises(ValueError, match=r"AUTOCONV_DEVICE: unknown device 'TPU:0'"):
        config.get_device()
    with pytest.raises(ValueError, match="AUTOCONV_DEVICE"):
        tiny_model()
    monkeypatch.setenv("AUTOCONV_DEVICE", "cpu")  # a bad value was not kept
    assert config.get_device() == "cpu"


def test_set_device_cuda_without_a_gpu_is_device_unavailable(monkeypatch, cuda):
    monkeypatch.setattr(backends, "_modules", {})
    monkeypatch.setattr(cuda, "available", lambda: False)
    config.set_device("cpu")
    with pytest.raises(DeviceUnavailableError, match="no usable NVIDIA GPU"):
        config.set_device("cuda")
    assert config.get_device() == "cpu"  # unchanged


def test_a_model_is_made_on_the_default_device():
    model = tiny_model()
    assert model.device == config.get_device()
    assert {w.device for w in model.weights} == {config.get_device()}
    if SIMULATED:
        assert model.device == "cpu"


def test_set_device_cuda_makes_new_models_there(cuda):
    before = tiny_model()
    config.set_device("cuda")
    sequential = tiny_model()
    inputs = ac.Input((5,))
    functional = ac.Model(inputs, layers.Dense(2)(inputs))
    for model in (sequential, functional):
        assert model.device == "cuda" and {w.device for w in model.weights} == {"cuda"}
    assert before.device == "cpu" and {w.device for w in before.weights} == {"cpu"}
    moved = tiny_model().to("cpu")  # model.to wins
    assert moved.device == "cpu" and {w.device for w in moved.weights} == {"cpu"}
    config.set_device("cpu")
    with ac.device("gpu:0"):  # a Keras script's device scope
        scoped = tiny_model()
    assert scoped.device == "cuda" and {w.device for w in scoped.weights} == {"cuda"}


def test_numpy_inputs_go_to_a_cuda_models_device(cuda, rng):
    on_cpu = tiny_model()
    config.set_device("cuda")
    on_gpu = tiny_model()
    on_gpu.set_weights(on_cpu.get_weights())
    x = rng.standard_normal((2, 4, 4, 1)).astype(np.float32)
    out = on_gpu(x)
    assert out.device == "cuda"
    np.testing.assert_allclose(out.numpy(), on_cpu(x).numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------- numba-cuda against NumPy
@pytest.fixture
def versions(monkeypatch):
    """Pretend these distributions are installed (None: not installed)."""

    def pretend(numpy, numba_cuda):
        installed = {"numpy": numpy, "numba-cuda": numba_cuda}

        def version(name):
            if installed.get(name) is None:
                raise metadata.PackageNotFoundError(name)
            return installed[name]

        monkeypatch.setattr(metadata, "version", version)

    return pretend


def test_numba_cuda_0_30_with_numpy_2_5_says_which_and_the_fix(monkeypatch, versions):
    monkeypatch.setattr(backends, "_modules", {})
    versions("2.5.2", "0.30.4")
    with pytest.raises(
        DeviceUnavailableError,
        match=r"numba-cuda 0\.30\.4 does not work with NumPy 2\.5\.2.*pip install \"numpy<2\.5\"",
    ):
        backends.namespace("cuda")
    assert backends.gpu_usable() is False


@pytest.mark.parametrize(
    ("numpy", "numba_cuda"),
    [("2.4.6", "0.30.4"), ("2.5.2", "0.31.0"), ("2.5.0rc1", None), ("1.26.4", "0.20.0")],
)
def test_numpy_and_numba_cuda_that_work_together(versions, numpy, numba_cuda):
    versions(numpy, numba_cuda)
    assert backends.numpy_conflict() is None


def test_a_numpy_release_candidate_counts_as_its_release(versions):
    versions("2.5.0rc1", "0.30.0")
    assert backends.numpy_conflict() is not None


# ------------------------------------------------------------------ Keras's debugging caps
@pytest.fixture
def caps(monkeypatch):
    """No caps; the ones before come back afterwards."""
    monkeypatch.setattr(config, "_max_epochs", None)
    monkeypatch.setattr(config, "_max_steps_per_epoch", None)


def _counting_model() -> tuple[ac.Model, list[int]]:
    model = ac.Sequential([ac.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    batches: list[int] = []
    model.count = ac.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    return model, batches


def test_max_epochs_caps_fit_with_keras_warning(caps):
    model, _ = _counting_model()
    config.set_max_epochs(2)
    assert config.max_epochs() == 2
    with pytest.warns(UserWarning, match="Limiting epochs to 2"):
        history = model.fit(np.ones((4, 2)), np.ones(4), epochs=5, verbose=0)
    assert len(history.history["loss"]) == 2
    config.set_max_epochs(None)
    assert len(model.fit(np.ones((4, 2)), np.ones(4), epochs=3, verbose=0).epoch) == 3


@pytest.mark.parametrize("given", [None, 3])
def test_max_steps_per_epoch_caps_fit_evaluate_and_predict(caps, given):
    model, batches = _counting_model()
    x, y = np.ones((20, 2)), np.ones(20)
    config.set_max_steps_per_epoch(2)
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 2"):
        model.fit(x, y, batch_size=4, epochs=1, steps_per_epoch=given, verbose=0,
                  callbacks=[model.count])  # fmt: skip
    assert batches == [0, 1]
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 2"):
        assert len(model.predict(x, batch_size=4, steps=given, verbose=0)) == 8


def test_a_larger_cap_changes_nothing(caps):
    model, batches = _counting_model()
    config.set_max_steps_per_epoch(10)
    model.fit(np.ones((8, 2)), np.ones(8), batch_size=4, steps_per_epoch=1, verbose=0,
              callbacks=[model.count])  # fmt: skip
    assert batches == [0]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_caps_are_positive_ints_or_none(caps, bad):
    with pytest.raises(ValueError, match="must be a positive int or None"):
        config.set_max_epochs(bad)
    with pytest.raises(ValueError, match="must be a positive int or None"):
        config.set_max_steps_per_epoch(bad)


def test_kerass_environment_variables_and_keras_json_are_read_at_import(tmp_path):
    import subprocess

    (tmp_path / "keras.json").write_text('{"floatx": "float64", "backend": "jax"}')
    code = (
        "from autoconv import config; "
        "print(config.max_epochs(), config.max_steps_per_epoch(), config.floatx())"
    )
    env = {"KERAS_MAX_EPOCHS": "3", "KERAS_MAX_STEPS_PER_EPOCH": "7", "PATH": "/usr/bin:/bin",
           "KERAS_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[1])}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["3", "7", "float64"]
    env["KERAS_MAX_EPOCHS"] = "many"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "$KERAS_MAX_EPOCHS must be a positive integer, got 'many'" in out.stderr


# ------------------------------------------------------------------ keras.json
@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """$KERAS_HOME in a temporary folder; the numeric defaults come back afterwards."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)  # (Keras's import sets it)
    for name in ("_floatx", "_epsilon", "_image_data_format"):
        monkeypatch.setattr(config, name, getattr(config, name))
    return tmp_path / "home"


def _kerass_import(keras):
    """What Keras's import makes of $KERAS_HOME/keras.json (its config module run afresh):
    its defaults, or the name of its error."""
    try:
        module = runpy.run_path(str(Path(keras.__file__).parent / "src" / "backend" / "config.py"))
    except (ValueError, AttributeError) as error:
        return type(error).__name__
    return module["floatx"](), module["epsilon"](), module["image_data_format"]()


def _our_import():
    """autoconv's defaults after reading $KERAS_HOME/keras.json as its import does, and the
    warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config._apply_keras_json()
    defaults = config.floatx(), config.epsilon(), config.image_data_format()
    return defaults, [str(warning.message) for warning in caught]


@pytest.mark.parametrize(
    "text",
    [
        '{"floatx": "float64", "epsilon": 0.001, "image_data_format": "channels_first",'
        ' "backend": "jax"}',
        '{"epsilon": 1e-05}',
        "{not json",
        "",
    ],
)
def test_keras_json_sets_the_defaults_as_kerass(keras, keras_home, text):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(text)
    assert _our_import() == (_kerass_import(keras), [])


@pytest.mark.parametrize(
    "text, kerass, message",
    [
        ('{"floatx": "float8"}', "ValueError", "invalid floatx=float8: expected one of"),
        ('{"epsilon": 1}', "ValueError", "invalid epsilon=1: expected a float"),
        ('{"image_data_format": "CHANNELS_FIRST"}', "ValueError", "invalid image_data_format"),
        ("[1, 2]", "AttributeError", "is ignored: it holds no JSON object"),
        ('{"floatx": "float16"}', ("float16", 1e-7, "channels_last"), "float32 or float64"),
        (" " * 70_000 + "{}", ("float32", 1e-7, "channels_last"), "larger than 65536 bytes"),
    ],
)
def test_keras_json_autoconv_cannot_use_is_a_warning(keras, keras_home, text, kerass, message):
    """A file Keras's import fails on, or whose values autoconv cannot use, leaves autoconv's
    defaults as they are, with a warning naming the file and the value."""
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(text)
    defaults, warned = _our_import()
    assert defaults == ("float32", 1e-7, "channels_last")
    assert len(warned) == 1 and message in warned[0] and str(keras_home) in warned[0]
    assert _kerass_import(keras) == kerass


def test_keras_json_that_is_no_file_is_a_warning(keras_home):
    (keras_home / "keras.json").mkdir(parents=True)  # (Keras's import: IsADirectoryError)
    assert _our_import()[1] == [f"{keras_home / 'keras.json'} is ignored: it is not a regular file"]


def test_a_missing_keras_json_is_written_as_kerass(keras, keras_home, tmp_path, monkeypatch):
    assert _our_import() == (("float32", 1e-7, "channels_last"), [])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "theirs" / "home"))
    _kerass_import(keras)
    ours = (keras_home / "keras.json").read_bytes()
    assert ours == (tmp_path / "theirs" / "home" / "keras.json").read_bytes()
    (keras_home / "keras.json").write_text('{"floatx": "float64"}')
    config._apply_keras_json()  # (a file there is read, never written over)
    assert (keras_home / "keras.json").read_text() == '{"floatx": "float64"}'


SWITCHES = ["enable_flash_attention", "disable_flash_attention", "is_flash_attention_enabled",
            "enable_traceback_filtering", "disable_traceback_filtering",
            "is_traceback_filtering_enabled", "enable_unsafe_deserialization", "set_backend",
            "is_nnx_enabled"]  # fmt: skip


@pytest.mark.parametrize("name", SWITCHES)
def test_kerass_switches_have_its_signatures(keras, name):
    import inspect

    ours, theirs = getattr(config, name), getattr(keras.config, name)
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)


def test_kerass_switches_say_what_autoconv_does():
    """The machinery autoconv lacks is off, turning it off does nothing, and turning it on is
    an error naming the switch."""
    assert not config.is_flash_attention_enabled() and not config.is_traceback_filtering_enabled()
    assert not config.is_nnx_enabled()
    assert config.disable_flash_attention() is None and config.disable_traceback_filtering() is None
    assert config.enable_unsafe_deserialization() is None  # (scripts call it before loading)
    for call, message in [
        (config.enable_flash_attention, "enable_flash_attention: autoconv has no flash"),
        (config.enable_traceback_filtering, "enable_traceback_filtering: autoconv does not"),
        (lambda: config.set_backend("jax"), r"set_backend\('jax'\): autoconv computes"),
    ]:
        with pytest.raises(NotImplementedError, match=message):
            call()
