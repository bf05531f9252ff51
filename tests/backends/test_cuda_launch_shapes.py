"""How the CUDA backend shapes its launches for a real GPU (host arithmetic, checked on the
simulator or a GPU): line kernels spread over the GPU's resident threads, and products launched
together given exactly their own blocks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim


from autoconv.backends import namespace  # noqa: E402
from autoconv.backends.cuda import gemm, reduce, runtime  # noqa: E402 - needs numba-cuda

H200_RESIDENT = 132 * 2048  # an H100's or H200's multiprocessors x threads each


def resident(blocks: int | None = None) -> int:
    """runtime.resident_threads on an H100 or H200 (132 multiprocessors)."""
    return H200_RESIDENT if blocks is None else 132 * blocks * 256


@pytest.fixture
def gpu_constants(monkeypatch):
    """A GPU's launch constants (the simulator's are smaller)."""
    monkeypatch.setattr(runtime, "THREADS", 256)
    monkeypatch.setattr(runtime, "RUN_LINES", 32)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 65535)
    monkeypatch.setattr(runtime, "resident_threads", resident)


@pytest.mark.parametrize(
    ("width", "length", "lines_a_thread"),
    [
        (32, 64 * 13 * 13, 1),  # MNIST conv1 + pool: 346,112 entries, fewer than twice resident
        (32, 64 * 5 * 5, 1),  # a small layer: one line a thread, still fewer threads than resident
        (16, 32 * 89 * 89, 15),  # the flowers classifier's first conv + pool: 4 M entries
        (448, 32 * 178 * 178, 32),  # 454 M entries: RUN_LINES, the most
    ],
)
def test_line_kernels_take_no_more_lines_a_thread_than_fill_the_gpu(
    width, length, lines_a_thread, gpu_constants
):
    span, across, along, run, lanes = runtime.line_layout(width, length)
    assert (span, lanes) == (min(width, 256), 256 // min(width, 256))
    assert across == -(-width // span)
    assert along == -(-length // (lines_a_thread * lanes))
    assert run * along >= length > (run - 1) * along  # every line in one block's run
    assert -(-run // lanes) <= lines_a_thread  # the lines each thread takes


def test_an_explicit_most_lines_a_thread_is_kept_where_the_gpu_is_full(gpu_constants):
    assert runtime.line_layout(128, 32 * 180 * 180, 128)[2] == -(-32 * 180 * 180 // (128 * 2))
    assert runtime.line_layout(128, 32 * 9 * 9, 128)[2] == -(-32 * 9 * 9 // 2)  # one a thread


@pytest.mark.parametrize(
    ("width", "length", "blocks"),
    [
        (256, 32 * 90 * 23, 4),  # the small Xception's largest depthwise kernel gradient
        (256, 32 * 90 * 23, 3),
        (728, 32 * 23 * 6, 3),  # its 728 channels: three blocks across
        (16, 32 * 89 * 89, 8),
    ],
)
def test_runs_of_parts_stay_within_one_wave_of_blocks(width, length, blocks, gpu_constants):
    """A kernel of long runs (each a row of parts to sum after) whose multiprocessor holds
    ``blocks`` of its blocks: as many lines a thread as keep its threads within one wave of
    what the GPU holds at once, not a sliver over (a last wave of a few blocks)."""
    _, across, along, run, lanes = runtime.line_layout(width, length, 256, blocks)
    wave = resident(blocks) // 256  # blocks the GPU holds at once
    assert run * along >= length > (run - 1) * along  # every line in one block's run
    assert wave // 2 < across * along <= wave
    assert -(-run // lanes) <= 256


def test_the_simulator_keeps_its_runs_of_many_lines():
    assert runtime.resident_threads() == 1
    *_, along, _, lanes = runtime.line_layout(3, 100)
    assert along == -(-100 // (runtime.RUN_LINES * lanes))


@pytest.mark.parametrize("transpose_a", [False, True])
def test_products_launched_together_get_exactly_their_blocks(
    transpose_a, rng, monkeypatch, matmul_kernel
):
    """A backward's input gradient (many row tiles) and kernel gradient (one tile, its long
    contracted axis split) in one launch: as many blocks as the two have, not a grid as wide as
    one and as tall as the other; each product right to float64's rounding."""
    monkeypatch.setattr(gemm, "SPLIT_BLOCKS", 4)
    monkeypatch.setattr(gemm, "SPLIT_MIN_CHUNK", 16)
    rows, taps, filters = 300, 6, 5
    windows = rng.standard_normal((taps, rows) if transpose_a else (rows, taps))
    grad, kernel = rng.standard_normal((rows, filters)), rng.standard_normal((taps, filters))
    xp = namespace("cuda")
    launched = []
    real_configure = gemm.configure
    monkeypatch.setattr(
        gemm,
        "configure",
        lambda k, grid, block: launched.append(grid) or real_configure(k, grid, block),
    )
    kernel_grad, input_grad = xp.matmuls(
        (xp.asarray(windows), xp.asarray(grad), not transpose_a, False),
        (xp.asarray(grad), xp.asarray(kernel), False, True),
    )
    tile_rows = gemm._tile([gemm._Product(xp.asarray(grad), xp.asarray(kernel), False, True)])[0]
    assert launched == [4 + -(-rows // tile_rows)]  # 4 parts of one tile; the row tiles
    np.testing.assert_allclose(
        xp.to_numpy(kernel_grad), (windows if transpose_a else windows.T) @ grad, rtol=1e-12
    )
    np.testing.assert_allclose(xp.to_numpy(input_grad), grad @ kernel.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("rows", "tiles", "chunks"),
    [
        (1_600, 2, 200),  # MNIST's Winograd bias gradient: chunks of 8 rows, a row a thread
        (10_816, 10, 169),  # MNIST's first kernel gradient: CHUNK_ROWS already fills the GPU
        (1_000_003, 1, 1024),  # a million rows: MAX_ROW_CHUNKS
        (5, 1, 1),
    ],
)
def test_column_sums_cut_rows_into_chunks_that_fill_the_gpu(rows, tiles, chunks, monkeypatch):
    for name, value in {"COLUMN_TILE": 32, "ROW_THREADS": 8, "CHUNK_ROWS": 64}.items():
        monkeypatch.setattr(reduce, name, value)
    monkeypatch.setattr(reduce, "MAX_ROW_CHUNKS", 1024)
    monkeypatch.setattr(runtime, "resident_threads", resident)
    assert reduce._chunks(rows, tiles) == chunks


@pytest.mark.parametrize(("rows", "most_chunks"), [(37, 16), (200, 16), (203, 1)])
@pytest.mark.parametrize("gathers", [False, True])
def test_the_last_block_adds_many_chunks_in_four_running_sums(rows, most_chunks, gathers, rng,
                                                             monkeypatch):  # fmt: skip
    """More chunks than the last block's threads of a column take in one pass each (here 16 at
    most, 4 rows each, 2 threads a column on the simulator), or one chunk whose threads take
    many rows (with ``gathers``, four at a time, then the rest): NumPy's sums, the same bits
    every run, the counters back at 0."""
    monkeypatch.setattr(reduce, "MAX_ROW_CHUNKS", most_chunks)
    a = rng.standard_normal((rows, 5))
    xp = namespace("cuda")
    device = xp.asarray(a)

    def sums() -> np.ndarray:
        return xp.to_numpy(
            reduce.sum_columns(reduce._entry, (device.nd,), rows, 5, a.dtype, gathers=gathers)
        )

    runs = [sums() for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_allclose(runs[0], a.sum(axis=0), rtol=1e-12)
    assert not reduce.arrival_counters().copy_to_host().any()


def test_the_resident_threads_are_read_by_the_drivers_attribute_names(monkeypatch):
    """On a GPU, numba-cuda's Device reads attribute NAME as the driver's
    CU_DEVICE_ATTRIBUTE_NAME: a device standing in for it the same way (the simulator's has no
    such attributes) gives 132 multiprocessors x 2048 threads."""
    driver = pytest.importorskip("cuda.bindings.driver")
    values = {"MULTIPROCESSOR_COUNT": 132, "MAX_THREADS_PER_MULTIPROCESSOR": 2048}

    class Device:
        def __getattr__(self, name):
            getattr(driver.CUdevice_attribute, f"CU_DEVICE_ATTRIBUTE_{name}")  # or AttributeError
            return values[name]

    monkeypatch.setattr(runtime, "SIMULATED", False)
    monkeypatch.setattr(runtime.cuda, "get_current_device", Device)
    assert runtime.resident_threads.__wrapped__() == H200_RESIDENT
