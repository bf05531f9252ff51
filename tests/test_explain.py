"""`autoconv explain`: the SPEC's worked examples, exactly, through the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from autoconv.cli import main

SHARPEN_IMAGE = (
    "[[105,102,100,97,96],[103,99,103,101,102],[101,98,104,102,100],"
    "[99,101,106,104,99],[104,104,104,100,98]]"
)


def explain(*args):
    result = CliRunner().invoke(main, ["explain", *args])
    return result.exit_code, result.output


def test_worked_example_1_valid():
    code, out = explain("conv")  # the defaults are the course's example 1
    assert code == 0
    assert "  12 12 17\n  10 17 19\n   9  6 14" in out
    assert "rows:    floor((5 + 0 + 0 - 1*(3-1) - 1) / 1) + 1 = 3" in out
    assert out.rstrip().endswith(
        "At (0, 0): 3*0 + 3*1 + 2*2 + 0*2 + 0*2 + 1*0 + 3*0 + 1*1 + 2*2 = 12"
    )


def test_worked_example_2_sharpen_same():
    code, out = explain(
        "conv", "--image", SHARPEN_IMAGE, "--kernel", "sharpen", "--padding", "same"
    )
    assert code == 0
    assert "Padded input (7x7):" in out and "(top 1, bottom 1, left 1, right 1)" in out
    assert "At (0, 0): 0*0 + 0*-1 + 0*0 + 0*-1 + 105*5 + 102*-1 + 0*0 + 103*-1 + 99*0 = 320" in out


def test_worked_example_3_max_pool():
    code, out = explain("pool", "--at", "1,1")
    assert code == 0
    assert "  5 4\n  4 6" in out and "At (1, 1): max(2, 3, 6, 1) = 6" in out


@pytest.mark.parametrize(("stride", "size"), [(1, 5), (2, 3)])
def test_worked_example_4_output_size(stride, size):
    image = "[" + ",".join(["[1,2,3,4,5,6,7]"] * 7) + "]"
    code, out = explain("conv", "--image", image, "--kernel", "blur", "--stride", str(stride))
    assert code == 0
    assert f"rows:    floor((7 + 0 + 0 - 1*(3-1) - 1) / {stride}) + 1 = {size}" in out
    assert f"Output ({size}x{size}):" in out


def test_same_padding_is_asymmetric_and_average_counts_valid_cells():
    code, out = explain(
        "pool", "--image", "[[2,3,4],[1,5,3],[0,4,2]]", "--mode", "avg", "--padding", "same",
        "--at", "0,1",
    )  # fmt: skip
    assert code == 0
    assert "(top 0, bottom 1, left 0, right 1)" in out
    assert "At (0, 1): (4 + 3) / 2 = 3.5" in out


def test_dilation_reaches_further():
    code, out = explain("conv", "--kernel", "[[1,1],[1,1]]", "--dilation", "2", "--at", "0,0")
    assert code == 0 and "At (0, 0): 3*1 + 2*1 + 3*1 + 2*1 = 10" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conv", "--kernel", "foo"], "or one of sharpen"),
        (["conv", "--image", "[1,2,3]"], "non-empty 2-D matrix"),
        (["conv", "--at", "9,9"], "outside the 3x3 output"),
        (["conv", "--padding", "full"], "padding must be"),
        (["conv", "--kernel", "[[1]*9]"], "must be a matrix"),
    ],
)
def test_bad_input_is_a_usage_error(args, message):
    code, out = explain(*args)
    assert code == 2 and message in out and "Traceback" not in out
