"""The registers, spills and shared memory of every float32 CUDA kernel on an H100 (sm_90), and
how many blocks of 256 threads a multiprocessor can hold at once: no GPU needed.

Each kernel of ``tests/backends/ptx_float64.py``'s list is compiled to PTX by NVVM and assembled
by ptxas (both from numba-cuda's cu12 wheels), which reports what the GPU would allocate. A
kernel whose registers hold few blocks a multiprocessor has few warps to hide memory latency
with; spills go to local memory. (Figures of the compiler, not timings.)

    python bench/cuda_resources.py [--filter TEXT]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"  # before numba is imported
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "backends")]

import nvidia.cuda_nvcc  # noqa: E402  (the cu12 wheel that carries ptxas)
from numba import cuda  # noqa: E402
from ptx_float64 import KERNELS  # noqa: E402

PTXAS = Path(next(iter(nvidia.cuda_nvcc.__path__))) / "bin" / "ptxas"
# An H100's multiprocessor: 64K 32-bit registers (allocated 8 a thread at a time), 2,048
# threads, 228 KB of shared memory (1 KB of it the system's per block).
REGISTERS, THREADS, SHARED = 65536, 2048, 228 * 1024
BLOCK_THREADS = 256


def resources(kernel, signature) -> dict[str, int]:
    """ptxas's report on the kernel compiled for sm_90: registers, spill bytes, shared bytes."""
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
    with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as file:
        file.write(ptx)
    try:
        report = subprocess.run(
            [str(PTXAS), "-arch=sm_90", "-v", file.name, "-o", os.devnull],
            capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
    finally:
        os.unlink(file.name)

    def number(pattern: str) -> int:
        found = re.search(pattern, report)
        return int(found.group(1)) if found else 0

    return {
        "registers": number(r"Used (\d+) registers"),
        "spills": number(r"(\d+) bytes spill stores"),
        "shared": number(r"(\d+) bytes smem"),
    }


def blocks_per_multiprocessor(registers: int, shared: int) -> int:
    """Blocks of BLOCK_THREADS threads one multiprocessor holds at once."""
    by_registers = REGISTERS // (-(-registers // 8) * 8 * BLOCK_THREADS)
    by_shared = SHARED // (shared + 1024)
    return min(by_registers, by_shared, THREADS // BLOCK_THREADS)


def main(text: str) -> None:
    version = subprocess.run([str(PTXAS), "--version"], capture_output=True, text=True).stdout
    print(f"ptxas {version.split()[-1]}, sm_90; blocks: of {BLOCK_THREADS} threads, held at once")
    print(f"{'kernel':48s} {'registers':>9s} {'spills':>7s} {'shared':>7s} {'blocks':>6s}")
    for name, (kernel, signature) in KERNELS.items():
        if text in name:
            used = resources(kernel, signature)
            blocks = blocks_per_multiprocessor(used["registers"], used["shared"])
            print(f"{name:48s} {used['registers']:9d} {used['spills']:7d} {used['shared']:7d} "
                  f"{blocks:6d}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="only the kernels whose name has this")
    main(parser.parse_args().filter)
