"""The registers, spills and shared memory of every float32 CUDA kernel on an H100 (sm_90), and
how many blocks of 256 threads a multiprocessor can hold at once: no GPU needed.

Each kernel of ``tests/backends/ptx_float64.py``'s list is compiled to PTX by NVVM and assembled
by ptxas (both from numba-cuda's cu12 wheels), which reports what the GPU would allocate. A
kernel whose registers hold few blocks a multiprocessor has few warps to hide memory latency
with; spills go to local memory. (Figures of the compiler, not timings.)

``--loops`` also disassembles each kernel (cuobjdump and nvdisasm, from NVIDIA's wheels: ``pip
install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm``) and reports its busiest loop, the one with the
most fused multiply-adds (FFMA) or tensor-core multiplications (HMMA): its instructions, those
and its shared-memory loads (LDS, and how wide), and the instructions of the loops around it.
In a product kernel that loop is the multiply-add of a k tile, the loop around it the loads of
the next.

``--blocks`` lists each kernel's basic blocks (its instructions, multiply-adds, global and local
loads and stores): the instructions of a path through the kernel, a strip inside the image say,
are the sums of the blocks it runs through.

    python bench/cuda_resources.py [--filter TEXT] [--loops] [--blocks]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"  # before numba is imported
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "backends")]

import nvidia  # noqa: E402
import nvidia.cuda_nvcc  # noqa: E402  (the cu12 wheel that carries ptxas)
from numba import cuda  # noqa: E402
from ptx_float64 import KERNELS  # noqa: E402

PTXAS = Path(next(iter(nvidia.cuda_nvcc.__path__))) / "bin" / "ptxas"
# Where NVIDIA's cuobjdump and nvdisasm wheels put their programs (else they are looked for on
# PATH).
WHEEL_BIN = Path(nvidia.__path__[0]) / "cu13" / "bin"
# An H100's multiprocessor: 64K 32-bit registers (allocated 8 a thread at a time), 2,048
# threads, 228 KB of shared memory (1 KB of it the system's per block).
REGISTERS, THREADS, SHARED = 65536, 2048, 228 * 1024
BLOCK_THREADS = 256


def resources(kernel, signature, folder: Path) -> dict[str, int]:
    """ptxas's report on the kernel compiled for sm_90: registers, spill bytes, shared bytes;
    the cubin left in ``folder`` (kernel.cubin)."""
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
    (folder / "kernel.ptx").write_text(ptx)
    most = getattr(kernel, "targetoptions", {}).get("max_registers")  # its cap, as it is built
    capped = [f"-maxrregcount={most}"] if most else []
    report = subprocess.run(
        [str(PTXAS), "-arch=sm_90", "-v", *capped, str(folder / "kernel.ptx"), "-o",
         str(folder / "kernel.cubin")],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip

    def number(pattern: str) -> int:
        found = re.search(pattern, report)
        return int(found.group(1)) if found else 0

    return {
        "registers": number(r"Used (\d+) registers"),
        "spills": number(r"(\d+) bytes spill stores"),
        "shared": number(r"(\d+) bytes smem"),
    }


def disassembly(cubin: Path) -> tuple[list[int], list[str]]:
    """The cubin's SASS (cuobjdump): each instruction's address and text."""
    path = f"{WHEEL_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    sass = subprocess.run(
        [shutil.which("cuobjdump", path=path) or "cuobjdump", "-sass", str(cubin)],
        capture_output=True, text=True, check=True, env={**os.environ, "PATH": path},
    ).stdout  # fmt: skip
    lines = re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", sass)
    return [int(address, 16) for address, _ in lines], [text.strip() for _, text in lines]


def basic_blocks(cubin: Path) -> list[str]:
    """The cubin's basic blocks of 8 or more instructions (NOPs left out), a line each: where
    it starts, its instructions, multiply-adds (FFMA), loads and stores of global (LDG, STG)
    and local memory (LDL, STL), and its last instruction. A path through a kernel (a strip
    inside the image, say) is the sum of the blocks it runs through."""
    where, code = disassembly(cubin)
    starts = {int(t, 16) for t in re.findall(r"BRA (0x[0-9a-f]+)", "\n".join(code))}
    blocks: list[list[tuple[int, str]]] = [[]]
    for address, instruction in zip(where, code, strict=True):
        if address in starts and blocks[-1]:
            blocks.append([])
        blocks[-1].append((address, instruction))
        if re.search(r"\bBRA\b|\bEXIT\b", instruction):
            blocks.append([])
    lines = []
    for block in blocks:
        texts = [text for _, text in block if text != "NOP"]
        if len(texts) >= 8:
            found = {op: sum(bool(re.search(rf"(^|\s){op}(\.|\s|$)", t)) for t in texts)
                     for op in ("FFMA", "LDG", "STG", "LDL", "STL")}  # fmt: skip
            counts = " ".join(f"{op} {n:3d}" for op, n in found.items())
            lines.append(f"    {block[0][0]:#07x} {len(texts):4d} instructions  {counts}  "
                         f"ends {texts[-1][:44]}")  # fmt: skip
    return lines


def busiest_loop(cubin: Path) -> str:
    """The loop of the cubin's code with the most FFMAs (a backward branch and the code from
    its target to it), and the loops around it, in words."""
    where, code = disassembly(cubin)
    loops = []  # (first, last) instruction of each loop
    for last, instruction in enumerate(code):
        target = re.search(r"BRA (0x[0-9a-f]+)", instruction)
        if target and int(target.group(1), 16) < where[last]:
            loops.append((where.index(int(target.group(1), 16)), last))
    if not loops:
        return "no loop"

    def count(first: int, last: int, opcode: str) -> list[str]:
        return [i for i in code[first : last + 1] if re.search(rf"(^|\s){opcode}(\.|\s|$)", i)]

    def work(loop: tuple[int, int]) -> int:
        return len(count(*loop, "FFMA")) + len(count(*loop, "HMMA"))

    inner = max(loops, key=lambda loop: (work(loop), -(loop[1] - loop[0])))
    loads = count(*inner, "LDS")
    widths = sorted({re.match(r"(?:@\S+\s+)?(LDS\S*)", i).group(1) for i in loads})
    matrix = len(count(*inner, "HMMA"))
    multiplies = f"{matrix} HMMA" if matrix else f"{len(count(*inner, 'FFMA'))} FFMA"
    words = (f"busiest loop {inner[1] - inner[0] + 1} instructions: {multiplies}, "
             f"{len(loads)} {'/'.join(widths) or 'LDS'}")  # fmt: skip
    around = [loop for loop in loops if loop[0] <= inner[0] and inner[1] <= loop[1]]
    around = sorted(set(around) - {inner}, key=lambda loop: loop[1] - loop[0])
    if around:
        first, last = around[0]
        words += f"; the loop around it {last - first + 1} instructions (the busiest once)"
    return words


def blocks_per_multiprocessor(registers: int, shared: int) -> int:
    """Blocks of BLOCK_THREADS threads one multiprocessor holds at once."""
    by_registers = REGISTERS // (-(-registers // 8) * 8 * BLOCK_THREADS)
    by_shared = SHARED // (shared + 1024)
    return min(by_registers, by_shared, THREADS // BLOCK_THREADS)


def main(text: str, loops: bool, blocks: bool) -> None:
    version = subprocess.run([str(PTXAS), "--version"], capture_output=True, text=True).stdout
    print(f"ptxas {version.split()[-1]}, sm_90; blocks: of {BLOCK_THREADS} threads, held at once")
    print(f"{'kernel':48s} {'registers':>9s} {'spills':>7s} {'shared':>7s} {'blocks':>6s}")
    with tempfile.TemporaryDirectory() as folder:
        for name, (kernel, signature) in KERNELS.items():
            if text in name:
                used = resources(kernel, signature, Path(folder))
                blocks = blocks_per_multiprocessor(used["registers"], used["shared"])
                print(f"{name:48s} {used['registers']:9d} {used['spills']:7d} "
                      f"{used['shared']:7d} {blocks:6d}")  # fmt: skip
                if loops:
                    print(f"    {busiest_loop(Path(folder) / 'kernel.cubin')}")
                if blocks:
                    print("\n".join(basic_blocks(Path(folder) / "kernel.cubin")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="only the kernels whose name has this")
    parser.add_argument("--loops", action="store_true", help="each kernel's busiest loop too")
    parser.add_argument("--blocks", action="store_true", help="each kernel's basic blocks too")
    arguments = parser.parse_args()
    main(arguments.filter, arguments.loops, arguments.blocks)
