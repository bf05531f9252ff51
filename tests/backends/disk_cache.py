"""Compile every float32 CUDA kernel of autoconv as a GPU run does, through its own dispatcher
with numba-cuda's on-disk cache, and print, as JSON, per kernel whether it came from the cache
("hit") or was compiled and saved ("miss") under "sources", and under "float64" the float64
instructions in the PTX of each kernel it compiled (and of a float64 control kernel); on
stderr, the seconds all of them took.

Run twice by tests/backends/test_cuda_ptx.py with one NUMBA_CACHE_DIR: the first process compiles
and saves every kernel, the second must load every one. Needs NVVM and nvJitLink (numba-cuda's
cu12 extra) but no GPU (sm90.py). Exit code 3: no NVVM or linker here.
"""

import json
import sys
import time

import sm90  # noqa: F401  (first: a compile's questions about the GPU answered without one)
from numba import cuda
from ptx_float64 import A1, KERNELS, control, f32, float64_count


def source(kernel, signature) -> str:
    kernel.compile(signature)
    return "hit" if kernel.stats.cache_hits[signature] else "miss"


def ptx(kernel, signature) -> str:
    """The PTX a compiled kernel's cubin was made from (kept by its code library)."""
    return kernel.overloads[tuple(signature)]._codelibrary.get_asm_str()


if __name__ == "__main__":
    start = time.perf_counter()
    name, (kernel, signature) = next(iter(KERNELS.items()))
    try:
        first = {name: source(kernel, signature)}
    except Exception as error:  # no NVVM or nvJitLink here
        print(f"cannot compile a cubin: {error}", file=sys.stderr)
        sys.exit(3)
    sources = first | {name: source(k, sig) for name, (k, sig) in KERNELS.items()}
    print(f"{len(sources)} kernels in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    compiled = [(name, k, sig) for name, (k, sig) in KERNELS.items() if sources[name] == "miss"]
    float64 = {name: float64_count(ptx(k, sig)) for name, k, sig in compiled}
    checked = cuda.jit(control)  # numba computes it in float64: the count must see it
    checked.compile((A1, f32))
    float64["control"] = float64_count(ptx(checked, (A1, f32)))
    print(json.dumps({"sources": sources, "float64": float64}))
