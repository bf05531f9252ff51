"""Compile some of autoconv's CUDA kernels as a GPU's cold start does, by this process and its
compile workers together (autoconv/backends/cuda/compiling.py), without a GPU (sm90.py), and
print as JSON what happened: per kernel, whether a worker compiled it ("worker"), this process
("here") or the disk cache gave it ("cache"), and whether its PTX is that of the same kernel
compiled here. This process takes its first kernel once a worker has taken one (or every
worker has ended), so that a worker compiles at least one however slowly it starts.

    python compile_together.py WORKERS [WORKER_COMMAND ...]   (NUMBA_CACHE_DIR: the cache)
    python compile_together.py worker                         (a worker, answered as sm90.py)

Run by tests/backends/test_cuda_compiling.py. Exit code 3: no NVVM or linker here.
"""

import json
import re
import sys
import time

import sm90  # noqa: F401  (first: a compile's questions about the GPU answered without one)
from numba.cuda.dispatcher import _Kernel
from ptx_float64 import KERNELS  # (a script's folder)

from autoconv.backends.cuda import compile_worker, compiling

NAMES = ["col2im 3x3", "im2col 3x3", "bias_relu", "softmax", "fill", "copy_into"]


def ptx(compiled) -> list[str]:
    """A compiled kernel's PTX as its sorted lines, the version number that its process gave
    it left out: each process numbers the functions it compiles in turn ("B2v1", "B2v2", ...)
    and declares its device functions' globals in the order it first compiled them."""
    return sorted(re.sub(r"B\d+v\d+", "Bv", compiled._codelibrary.get_asm_str()).splitlines())


def main() -> None:
    if sys.argv[1] == "worker":
        return compile_worker.main()
    compiling.WORKERS = int(sys.argv[1])
    compiling.WORKER_COMMAND = sys.argv[2:] or [sys.executable, __file__, "worker"]
    compiling._device = lambda: 0
    kernels = [(KERNELS[name][0], tuple(KERNELS[name][1])) for name in NAMES]
    sources: dict[int, str] = {}
    cached, add = compiling._cached, compiling._add

    def noting(source, function):
        def noted(kernel, *args):
            done = function(kernel, *args)
            if done:
                sources[id(kernel)] = source
            return done

        return noted

    compiling._cached, compiling._add = noting("cache", cached), noting("worker", add)
    take = compiling._Workers._take

    def after_a_worker(self, count, worker=None):
        while worker is None and not self.working and any(p.poll() is None for p in self.processes):
            time.sleep(0.01)
        return take(self, count, worker)

    compiling._Workers._take = after_a_worker
    try:
        workers = compiling.compile_together(kernels)
    except Exception as error:  # no NVVM or nvJitLink here
        print(f"cannot compile: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(3)
    report = {"workers": workers, "kernels": {}}
    for name, (kernel, types) in zip(NAMES, kernels, strict=True):
        if kernel.stats.cache_misses[types]:
            sources[id(kernel)] = "here"
        mine = _Kernel(kernel.py_func, types, **kernel.targetoptions)
        same = types in kernel.overloads and ptx(mine) == ptx(kernel.overloads[types])
        report["kernels"][name] = {"source": sources.get(id(kernel), ""), "same_ptx": same}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
