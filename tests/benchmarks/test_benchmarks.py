"""The benchmark harness: references agree with autoconv, wrong results fail, CI comparison."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from autoconv import course
from autoconv.benchmarks.cases import (
    Case,
    cpu_cases,
    torch_large_model,
    torch_reference_model,
    torch_rgb_classifier,
    torch_weight_count,
    torch_xception,
)
from autoconv.benchmarks.runner import WrongResultError, check, run_case, table

ROOT = Path(__file__).resolve().parents[2]


def load_compare():
    spec = importlib.util.spec_from_file_location("compare", ROOT / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_reference_agrees_with_autoconv():
    try:
        import torch
    except ImportError:
        torch = None
    for case in cpu_cases(torch):
        expected = case.engines["autoconv"]()
        for engine, fn in case.engines.items():
            if engine != "autoconv":
                check(case, engine, fn(), expected)


def test_a_wrong_result_fails_the_benchmark():
    case = Case("op", "shape", None, {"autoconv": lambda: np.ones(3)})
    case.engines["numpy"] = lambda: np.ones(3) * 1.01
    with pytest.raises(WrongResultError, match="op \\(shape\\): numpy differs from autoconv"):
        run_case(case, quick=True, peak=None)


def test_table_has_ratios_and_peak():
    case = Case("matmul", "4x4", 128.0, {"autoconv": lambda: np.eye(4), "numpy": lambda: np.eye(4)})
    row = run_case(case, quick=True, peak=100.0)
    text = table([row], 100.0)
    assert "matmul" in text and "peak measured in this run: 100" in text
    assert row.ratio("numpy") > 0 and row.ratio("torch") is None


def report(ratios):
    return {"rows": [{"op": op, "shape": "s", "best_ratio_numpy": r} for op, r in ratios.items()]}


BASE = {f"op{i}": 0.5 for i in range(10)}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({}, 0),  # same as the baseline
        ({"op0": 2.5}, 0),  # one op 2.5x slower: tolerated, the geometric mean barely moves
        ({"op0": 6.0}, 1),  # one op 6x slower: a cliff
        ({f"op{i}": 1.8 for i in range(10)}, 1),  # everything 1.8x slower
        ({"op0": None}, 1),  # an op disappeared
    ],
)
def test_ci_comparison(tmp_path, changes, code, capsys):
    compare = load_compare()
    factors = {op: changes.get(op, 1.0) for op in BASE}
    run = {op: r * factors[op] for op, r in BASE.items() if factors[op] is not None}
    (tmp_path / "base.json").write_text(json.dumps(report(BASE)))
    (tmp_path / "run.json").write_text(json.dumps(report(run)))
    assert compare.main(str(tmp_path / "base.json"), str(tmp_path / "run.json")) == code
    assert "geometric mean change" in capsys.readouterr().out


def test_committed_baseline_covers_every_case():
    baseline = json.loads((ROOT / "bench" / "baseline.json").read_text())
    names = {(row["op"], row["shape"]) for row in baseline["rows"]}
    assert names == {(case.op, case.shape) for case in cpu_cases(None)}


MIRRORS = {  # model: (autoconv builder, PyTorch mirror, pixels' maximum, input scale it leaves out)
    "reference": (course.reference_model, torch_reference_model, 1.0, 1.0),
    "large": (course.large_model, torch_large_model, 1.0, 1.0),
    "rgb": (course.rgb_classifier, lambda t, w: torch_rgb_classifier(t, w, 180), 255.0, 1 / 255),
    "xception": (lambda: course.xception((36, 36, 3)), torch_xception, 255.0, 1.0),
}


@pytest.mark.parametrize("name", MIRRORS)
def test_torch_mirrors_compute_the_course_models(torch, name):
    build, mirror, high, scale = MIRRORS[name]
    model = build()
    rng = np.random.default_rng(0)
    # biases and BatchNorm's statistics away from their initial zeros and ones
    model.set_weights(
        [w + rng.random(w.shape, dtype=np.float32) * (w.ndim == 1) for w in model.get_weights()]
    )
    torch_model = mirror(torch, model.get_weights()).eval()
    assert torch_weight_count(torch_model) == model.count_params()
    x = rng.random((2, *model.input_shape[1:]), dtype=np.float32) * np.float32(high)
    expected = model.predict(x, verbose=0)
    with torch.no_grad():
        nchw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        out = torch_model(nchw * scale)
    if model.layers[-1].activation.__name__ == "softmax":
        out = torch.softmax(out, dim=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-6)
